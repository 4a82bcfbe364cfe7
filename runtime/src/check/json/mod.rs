//! What generated body validators call: the JSON value they read (a tape of the parsed
//! body, [`Document`]/[`Value`]), the JSON pointer of the value being checked, a collector
//! of body failures, and one helper per schema keyword that is the same for every schema
//! (types, bounds, lengths, formats, JSON equality, the combinators).
//!
//! A generated validator is straight-line code over these (DESIGN.md, "Generated code is
//! data and straight-line checks"); nothing here reads a schema at run time. An object is
//! read in one pass over its members, each dispatched by name:
//!
//! ```text
//! fn validate_order<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
//!     if !errors.types(at, value, &[Type::Object]) { return; }
//!     if let Some(object) = value.as_object() {
//!         let mut seen = [false; 1];
//!         for (key, property) in object.iter() {
//!             match key {
//!                 "items" => errors.member(at, key, &mut seen[0], property, validate_order_items),
//!                 _ => errors.not_allowed(at, key),
//!             }
//!         }
//!         errors.required(at, &[("items", seen[0])]);
//!     }
//! }
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;

pub use serde_json::Value as OwnedValue;

use crate::base::problem::{FieldError, MAX_FIELD_ERRORS};
use crate::check::fields::{Prehashed, RandomState};
use crate::check::steps::step;

mod format;
mod linear;
mod pattern;
mod value;

pub use pattern::{Engine, Pattern};
pub use value::{Array, Document, Items, Members, Number, Object, Value};

/// A generated validator: checks `value` (found at `at`) and records what fails.
pub type Validate = for<'t> fn(Value<'t>, &mut Pointer<'t>, &mut BodyErrors);

/// Longest pointer reported; longer ones (client-chosen keys) are cut, marked with `…`.
const POINTER_MAX: usize = 256;

/// The JSON pointer (RFC 6901) of the value being checked, as a stack of segments that
/// borrow the document's keys: written out only when a failure is reported (most values
/// pass: descending costs no copying or formatting).
#[derive(Debug, Default, Clone)]
pub struct Pointer<'t> {
    segments: Vec<Segment<'t>>,
}

#[derive(Debug, Clone, Copy)]
enum Segment<'t> {
    Key(&'t str),
    Index(usize),
}

impl<'t> Pointer<'t> {
    pub fn new() -> Pointer<'t> {
        Pointer::default()
    }

    /// Enters an object member.
    #[inline]
    pub fn push_key(&mut self, key: &'t str) {
        self.segments.push(Segment::Key(key));
    }

    /// Enters an array item.
    #[inline]
    pub fn push_index(&mut self, index: usize) {
        self.segments.push(Segment::Index(index));
    }

    /// Leaves what the last push entered.
    #[inline]
    pub fn pop(&mut self) {
        self.segments.pop();
    }

    /// The pointer as text.
    pub fn text(&self) -> String {
        self.text_up_to(usize::MAX)
    }

    /// The pointer as text, stopping once it is longer than `limit` bytes.
    fn text_up_to(&self, limit: usize) -> String {
        let mut text = String::new();
        for segment in &self.segments {
            if text.len() > limit {
                break;
            }
            text.push('/');
            match segment {
                Segment::Index(index) => text.push_str(&index.to_string()),
                Segment::Key(key) => {
                    for c in key.chars().take(limit.saturating_add(1)) {
                        match c {
                            '~' => text.push_str("~0"),
                            '/' => text.push_str("~1"),
                            c => text.push(c),
                        }
                    }
                }
            }
        }
        text
    }

    /// The pointer as reported: bounded in length (keys are the client's).
    fn reported(&self) -> String {
        let text = self.text_up_to(POINTER_MAX);
        if text.len() <= POINTER_MAX {
            return text;
        }
        let mut end = POINTER_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

/// The JSON Schema types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    /// JSON Schema 2020-12 (OpenAPI 3.1): a number with no fractional part, `1.0` included.
    Integer,
    /// Draft 4 / Wright 00 (OpenAPI 3.0): a number written without a fraction or exponent
    /// (`1`, not `1.0`); beyond 64 bits, any whole number (the text is not kept).
    IntegerLiteral,
    String,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "a boolean",
            Type::Object => "an object",
            Type::Array => "an array",
            Type::Number => "a number",
            Type::Integer | Type::IntegerLiteral => "an integer",
            Type::String => "a string",
        }
    }

    #[inline]
    fn matches(self, value: Value<'_>) -> bool {
        match self {
            Type::Null => value.is_null(),
            Type::Boolean => value.is_boolean(),
            Type::Object => value.is_object(),
            Type::Array => value.is_array(),
            Type::Number => value.is_number(),
            Type::Integer => value.as_number().is_some_and(|n| is_integer(&n)),
            Type::IntegerLiteral => value.as_number().is_some_and(|n| {
                n.is_i64()
                    || n.is_u64()
                    || n.as_f64().is_some_and(|f| {
                        f.is_finite() && f.fract() == 0.0 && f.abs() >= 9_223_372_036_854_775_808.0
                    })
            }),
            Type::String => value.is_string(),
        }
    }
}

/// Whether a JSON number is an integer in JSON Schema's sense (`1.0` is).
pub fn is_integer(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// A `minimum`/`maximum` bound as the schema wrote it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Int(i64),
    Float(f64),
}

impl Bound {
    /// `n` compared to the bound: exact when both are integers, else as `f64`.
    fn compare(self, n: &Number) -> Option<Ordering> {
        let exact = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from));
        match (self, exact) {
            (Bound::Int(b), Some(v)) => Some(v.cmp(&i128::from(b))),
            (Bound::Int(b), None) => n.as_f64()?.partial_cmp(&(b as f64)),
            (Bound::Float(b), _) => n.as_f64()?.partial_cmp(&b),
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Int(v) => write!(f, "{v}"),
            Bound::Float(v) => write!(f, "{v}"),
        }
    }
}

/// The string formats a validator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4122 text form: 8-4-4-4-12 hex digits.
    Uuid,
    /// RFC 3339 `full-date`.
    Date,
    /// RFC 3339 `date-time`.
    DateTime,
    /// RFC 3339 `full-time` (with its offset).
    Time,
    /// RFC 5321 `Mailbox`.
    Email,
    /// RFC 1123 host name.
    Hostname,
    /// Dotted-quad IPv4 (no leading zeros).
    Ipv4,
    /// RFC 4291 IPv6 text form (no zone).
    Ipv6,
    /// RFC 3986 absolute URI.
    Uri,
    /// RFC 4648 base64 (OpenAPI `byte`).
    Byte,
}

impl Format {
    /// Whether `s` has this format; the error says what it must be. Parameters and
    /// bodies share it.
    pub fn check(self, s: &str) -> Result<(), String> {
        let (ok, what) = match self {
            Format::Uuid => (format::is_uuid(s), "a UUID (8-4-4-4-12 hex digits)"),
            Format::Date => (format::is_date(s), "an RFC 3339 date (YYYY-MM-DD)"),
            Format::DateTime => (format::is_date_time(s), "an RFC 3339 date-time"),
            Format::Time => (
                format::is_time(s),
                "an RFC 3339 time (HH:MM:SS with an offset)",
            ),
            Format::Email => (format::is_email(s), "an e-mail address"),
            Format::Hostname => (format::is_hostname(s), "a host name"),
            Format::Ipv4 => (format::is_ipv4(s), "an IPv4 address"),
            Format::Ipv6 => (format::is_ipv6(s), "an IPv6 address"),
            Format::Uri => (format::is_uri(s), "an absolute URI"),
            Format::Byte => (format::is_base64(s), "base64 (RFC 4648)"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("must be {what}"))
        }
    }
}

/// An `enum` of a schema: its values, parsed once from the JSON text the compiler wrote.
#[derive(Debug)]
pub struct Enum {
    source: &'static str,
    values: std::sync::OnceLock<Document<'static>>,
}

impl Enum {
    /// `source`: a JSON array (checked by the compiler; anything else allows nothing).
    pub const fn new(source: &'static str) -> Enum {
        Enum {
            source,
            values: std::sync::OnceLock::new(),
        }
    }

    fn values(&self) -> Items<'_> {
        let document = self.values.get_or_init(|| {
            // The parser rewrites its text: a copy, kept as long as the `static` it is for.
            let text = Box::leak(self.source.as_bytes().to_vec().into_boxed_slice());
            Document::parse(text).unwrap_or_default()
        });
        match document.root().as_array() {
            Some(values) => values.iter(),
            None => Array::EMPTY.iter(),
        }
    }
}

/// Every body failure of one request (the first [`MAX_FIELD_ERRORS`] are kept). One
/// collector serves one document: the verdicts it remembers are by node address.
#[derive(Debug, Default)]
pub struct BodyErrors {
    errors: Vec<FieldError>,
    failed: usize,
    /// Whether each (validator, value) checked for `anyOf`, `oneOf` or `not` passed, by
    /// the validator's address and the value's node: a recursive schema whose
    /// alternatives recurse into the same values would otherwise check a value nested `d`
    /// deep 2^d times.
    verdicts: Option<HashMap<(usize, usize), bool, RandomState>>,
}

impl BodyErrors {
    pub fn new() -> BodyErrors {
        BodyErrors::default()
    }

    /// Records one failure of the value at `at`.
    pub fn fail(&mut self, at: &Pointer<'_>, message: impl Into<String>) {
        self.failed += 1;
        if self.errors.len() < MAX_FIELD_ERRORS {
            self.errors.push(FieldError {
                location: "body",
                name: None,
                pointer: Some(at.reported()),
                message: message.into(),
            });
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.failed == 0
    }

    /// How many failures were found (more may have been found than are kept).
    pub fn count(&self) -> usize {
        self.failed
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    /// `type` (and `nullable`): false when the value has none of `types`, which is then
    /// recorded; the other keywords of the schema need not be checked.
    #[inline]
    pub fn types(&mut self, at: &Pointer<'_>, value: Value<'_>, types: &[Type]) -> bool {
        if types.iter().any(|t| t.matches(value)) {
            return true;
        }
        let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
        self.fail(at, format!("must be {}", names.join(" or ")));
        false
    }

    /// `enum`, by JSON equality (`1` equals `1.0`).
    #[inline]
    pub fn enumeration(&mut self, at: &Pointer<'_>, value: Value<'_>, allowed: &Enum) {
        if !allowed.values().any(|a| equal(a, value)) {
            let mut list = String::new();
            for (i, a) in allowed.values().enumerate() {
                if i == 8 {
                    list.push_str(", …");
                    break;
                }
                if i > 0 {
                    list.push_str(", ");
                }
                list.push_str(&a.to_string());
            }
            self.fail(at, format!("must be one of {list}"));
        }
    }

    /// `minimum`/`maximum` and their exclusive forms.
    #[inline]
    pub fn range(
        &mut self,
        at: &Pointer<'_>,
        n: &Number,
        min: Option<(Bound, bool)>,
        max: Option<(Bound, bool)>,
    ) {
        let low_ok = min.is_none_or(|(b, exclusive)| {
            b.compare(n)
                .is_some_and(|o| o == Ordering::Greater || (!exclusive && o == Ordering::Equal))
        });
        let high_ok = max.is_none_or(|(b, exclusive)| {
            b.compare(n)
                .is_some_and(|o| o == Ordering::Less || (!exclusive && o == Ordering::Equal))
        });
        if !(low_ok && high_ok) {
            let low = min.map(|(v, ex)| format!("{} {v}", if ex { ">" } else { ">=" }));
            let high = max.map(|(v, ex)| format!("{} {v}", if ex { "<" } else { "<=" }));
            let message = match (low, high) {
                (Some(low), Some(high)) => format!("must be {low} and {high}"),
                (Some(one), None) | (None, Some(one)) => format!("must be {one}"),
                (None, None) => return,
            };
            self.fail(at, message);
        }
    }

    /// `multipleOf` with the factor `mantissa × 10^exponent`, exact in decimal: `0.3` is
    /// a multiple of `0.1` (the number is read as the shortest decimal of its `f64`, which is
    /// what the client wrote up to 17 significant digits; integers exactly).
    #[inline]
    pub fn multiple_of(&mut self, at: &Pointer<'_>, n: &Number, mantissa: u64, exponent: i32) {
        if !format::is_multiple(n, mantissa, exponent) {
            let factor = if exponent >= 0 {
                format!("{mantissa}{}", "0".repeat(exponent as usize))
            } else {
                let digits = mantissa.to_string();
                let point = exponent.unsigned_abs() as usize;
                if digits.len() > point {
                    let (whole, fraction) = digits.split_at(digits.len() - point);
                    format!("{whole}.{fraction}")
                } else {
                    format!("0.{}{digits}", "0".repeat(point - digits.len()))
                }
            };
            self.fail(at, format!("must be a multiple of {factor}"));
        }
    }

    /// `minLength`/`maxLength`, in Unicode code points.
    #[inline]
    pub fn length(&mut self, at: &Pointer<'_>, s: &str, min: Option<usize>, max: Option<usize>) {
        if let Err(message) = crate::check::params::length(s, min, max) {
            self.fail(at, message);
        }
    }

    /// `pattern` (ECMA-262, unanchored).
    #[inline]
    pub fn pattern(&mut self, at: &Pointer<'_>, s: &str, pattern: &Pattern) {
        if let Err(message) = pattern.check(s) {
            self.fail(at, message);
        }
    }

    /// `format`.
    #[inline]
    pub fn format(&mut self, at: &Pointer<'_>, s: &str, format: Format) {
        if let Err(message) = format.check(s) {
            self.fail(at, message);
        }
    }

    /// `minItems`, `maxItems` and `uniqueItems` (by JSON equality).
    #[inline]
    pub fn items(
        &mut self,
        at: &Pointer<'_>,
        items: Array<'_>,
        min: Option<usize>,
        max: Option<usize>,
        unique: bool,
    ) {
        let n = items.len();
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            self.fail(
                at,
                match (min, max) {
                    (Some(min), Some(max)) => format!("must have {min} to {max} items"),
                    (Some(min), None) => format!("must have at least {min} items"),
                    (None, Some(max)) => format!("must have at most {max} items"),
                    (None, None) => String::new(),
                },
            );
        }
        if unique && let Some((j, i)) = first_duplicate(items) {
            self.fail(
                at,
                format!("items {j} and {i} are equal; items must be unique"),
            );
        }
    }

    /// A member whose name the schema checks: marked `seen` (for `required`), its value
    /// checked by `validate`. (A name is never given twice: [`parse`] refuses that.)
    #[inline]
    pub fn member<'t>(
        &mut self,
        at: &mut Pointer<'t>,
        key: &'t str,
        seen: &mut bool,
        value: Value<'t>,
        validate: impl FnOnce(Value<'t>, &mut Pointer<'t>, &mut BodyErrors),
    ) {
        *seen = true;
        at.push_key(key);
        validate(value, at, self);
        at.pop();
    }

    /// `required`: each name with whether the object has it.
    #[inline]
    pub fn required(&mut self, at: &Pointer<'_>, names: &[(&str, bool)]) {
        for (name, present) in names {
            if !present {
                self.fail(at, format!("must have the property `{name}`"));
            }
        }
    }

    /// `minProperties`/`maxProperties`.
    #[inline]
    pub fn property_count(
        &mut self,
        at: &Pointer<'_>,
        object: Object<'_>,
        min: Option<usize>,
        max: Option<usize>,
    ) {
        let n = object.len();
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            self.fail(
                at,
                match (min, max) {
                    (Some(min), Some(max)) => format!("must have {min} to {max} properties"),
                    (Some(min), None) => format!("must have at least {min} properties"),
                    (None, Some(max)) => format!("must have at most {max} properties"),
                    (None, None) => String::new(),
                },
            );
        }
    }

    /// `additionalProperties: false`, for a member the schema does not name.
    #[inline]
    pub fn not_allowed<'t>(&mut self, at: &mut Pointer<'t>, key: &'t str) {
        at.push_key(key);
        self.fail(at, "is not a property this object may have");
        at.pop();
    }

    /// `items`: checks every item.
    #[inline]
    pub fn each_item<'t>(
        &mut self,
        at: &mut Pointer<'t>,
        items: Array<'t>,
        validate: impl Fn(Value<'t>, &mut Pointer<'t>, &mut BodyErrors),
    ) {
        for (index, item) in items.iter().enumerate() {
            at.push_index(index);
            validate(item, at, self);
            at.pop();
        }
    }

    /// `anyOf`: at least one alternative holds.
    pub fn any_of<'t>(
        &mut self,
        at: &mut Pointer<'t>,
        value: Value<'t>,
        alternatives: &[Validate],
    ) {
        let holds = alternatives.iter().any(|v| self.passes(*v, value, at));
        if !holds {
            self.fail(at, "must match at least one of the schemas of `anyOf`");
        }
    }

    /// `oneOf`: exactly one alternative holds.
    pub fn one_of<'t>(
        &mut self,
        at: &mut Pointer<'t>,
        value: Value<'t>,
        alternatives: &[Validate],
    ) {
        let mut holding = Vec::new();
        for (i, v) in alternatives.iter().enumerate() {
            if self.passes(*v, value, at) {
                holding.push(i);
            }
        }
        match holding.len() {
            1 => {}
            0 => self.fail(at, "must match exactly one of the schemas of `oneOf`; it matches none"),
            _ => self.fail(
                at,
                format!(
                    "must match exactly one of the schemas of `oneOf`; it matches {} (alternatives {:?})",
                    holding.len(),
                    holding
                ),
            ),
        }
    }

    /// `discriminator` beside `oneOf`/`anyOf`: for an object, checks it against the one
    /// alternative the value of `property` names (`mapping`), and returns true; for any
    /// other value returns false, and the caller checks `oneOf`/`anyOf` as usual.
    pub fn discriminator<'t>(
        &mut self,
        at: &mut Pointer<'t>,
        value: Value<'t>,
        property: &'t str,
        mapping: &[(&str, Validate)],
    ) -> bool {
        let Some(object) = value.as_object() else {
            return false;
        };
        let Some(tag) = object.get(property) else {
            self.fail(
                at,
                format!("must have the property `{property}` (the discriminator)"),
            );
            return true;
        };
        let found = tag
            .as_str()
            .and_then(|tag| mapping.iter().find(|(name, _)| *name == tag));
        match found {
            Some((_, validate)) => validate(value, at, self),
            None => {
                let shown = match tag.as_str() {
                    Some(text) => bounded(text),
                    None => "not a string".to_owned(),
                };
                let names: Vec<String> = mapping
                    .iter()
                    .take(8)
                    .map(|(name, _)| format!("`{name}`"))
                    .collect();
                at.push_key(property);
                self.fail(
                    at,
                    format!(
                        "the discriminator `{property}` is `{shown}`, which names no schema; expected one of {}{}",
                        names.join(", "),
                        if mapping.len() > 8 { ", …" } else { "" }
                    ),
                );
                at.pop();
            }
        }
        true
    }

    /// `not`.
    pub fn not<'t>(&mut self, at: &mut Pointer<'t>, value: Value<'t>, schema: Validate) {
        if self.passes(schema, value, at) {
            self.fail(at, "must not match the schema of `not`");
        }
    }

    /// Whether `value` passes `validate` (its failures are not kept). A validator reads
    /// nothing but the value, so its verdict on a node is remembered for the document.
    fn passes<'t>(&mut self, validate: Validate, value: Value<'t>, at: &mut Pointer<'t>) -> bool {
        step();
        let key = (validate as usize, value.address());
        if let Some(passed) = self.verdicts.as_ref().and_then(|known| known.get(&key)) {
            return *passed;
        }
        // The table goes to the scratch collector and comes back with what it learned.
        let mut scratch = BodyErrors {
            verdicts: self.verdicts.take(),
            ..BodyErrors::default()
        };
        validate(value, at, &mut scratch);
        let passed = scratch.is_empty();
        let mut verdicts = scratch
            .verdicts
            .take()
            .unwrap_or_else(|| HashMap::with_hasher(RandomState::default()));
        verdicts.insert(key, passed);
        self.verdicts = Some(verdicts);
        passed
    }
}

/// A client's text as quoted in a message: at most 64 characters.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// JSON equality as JSON Schema defines it: numbers by mathematical value (`1 == 1.0`),
/// objects regardless of member order.
pub fn equal(a: Value<'_>, b: Value<'_>) -> bool {
    a.json_eq(b)
}

/// The first pair of equal items, `(earlier, later)`. Short arrays are compared pairwise;
/// longer ones through a hash consistent with [`equal`] (randomly seeded, so a client
/// cannot choose colliding items), so a large `uniqueItems` array is not quadratic.
fn first_duplicate(items: Array<'_>) -> Option<(usize, usize)> {
    if items.len() <= 16 {
        for (i, a) in items.iter().enumerate() {
            if let Some(j) = items.iter().take(i).position(|b| {
                step();
                equal(a, b)
            }) {
                return Some((j, i));
            }
        }
        return None;
    }
    let state = RandomState::default();
    // Keyed by the hash already computed: not hashed again. Items are visited in order and
    // not collected (a large array would be a large allocation); an equal hash sends us
    // back to compare the items themselves, which only equal items or a true collision of
    // randomly seeded 64-bit hashes cause.
    let mut seen: std::collections::HashSet<u64, Prehashed> =
        std::collections::HashSet::with_capacity_and_hasher(items.len(), Prehashed::default());
    for (i, a) in items.iter().enumerate() {
        step();
        if !seen.insert(json_hash(&state, a))
            && let Some(j) = items.iter().take(i).position(|b| {
                step();
                equal(a, b)
            })
        {
            return Some((j, i));
        }
    }
    None
}

/// A hash of `value` under which values [`equal`] hash alike: whole numbers by their exact
/// value (`1` and `1.0`; `-0.0` as `0`), other numbers by their `f64`, objects by an
/// order-independent sum of their members.
fn json_hash(state: &RandomState, value: Value<'_>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    step();
    // Strings first, and alone (the commonest items: tags, ids); a string and another
    // value hashing alike is only a collision, which equality then settles.
    if let Some(s) = value.as_str() {
        return state.hash_one(s);
    }
    let mut h = state.build_hasher();
    if let Some(n) = value.as_number() {
        match value::exact_integer(&n) {
            Some(i) => (2u8, i).hash(&mut h),
            None => (6u8, n.as_f64().map(f64::to_bits)).hash(&mut h),
        }
    } else if let Some(items) = value.as_array() {
        4u8.hash(&mut h);
        for item in items.iter() {
            json_hash(state, item).hash(&mut h);
        }
    } else if let Some(object) = value.as_object() {
        let mut sum = 0u64;
        for (k, v) in object.iter() {
            sum = sum.wrapping_add(state.hash_one((k, json_hash(state, v))));
        }
        (5u8, object.len(), sum).hash(&mut h);
    } else {
        (0u8, value.as_bool()).hash(&mut h);
    }
    h.finish()
}

/// Parses a whole JSON body and checks it with `validate`: every failure, a body that is
/// not JSON being one at the root. What request and response bodies both go through.
pub fn check(bytes: &[u8], validate: Validate) -> BodyErrors {
    let mut errors = BodyErrors::new();
    let mut copy = Vec::new();
    match parse(bytes, &mut copy) {
        Ok(document) => validate(document.root(), &mut Pointer::new(), &mut errors),
        Err(message) => errors.fail(&Pointer::new(), message),
    }
    errors
}

/// Checks an owned value (a form, a parameter object) with `validate`.
pub fn check_owned(value: &OwnedValue, validate: Validate) -> BodyErrors {
    let mut errors = BodyErrors::new();
    validate(
        Document::from_json(value).root(),
        &mut Pointer::new(),
        &mut errors,
    );
    errors
}

/// Parses a JSON body into `copy` (the parser rewrites the text it reads): the message for
/// the client when it is not JSON, with the line and column serde_json finds the fault at.
/// Nesting is limited to 128 levels (`value::MAX_DEPTH`), so a deeply nested body is an error, not a
/// stack overflow in a recursive validator.
///
/// An object that gives a member name twice is refused too: RFC 8259 leaves it to each
/// parser which value counts, so the gateway could check one value and the upstream read
/// the other (RFC 7493, I-JSON, forbids such objects).
pub fn parse<'a>(bytes: &[u8], copy: &'a mut Vec<u8>) -> Result<Document<'a>, String> {
    copy.clear();
    copy.extend_from_slice(bytes);
    let document = Document::parse(copy).map_err(|error| describe(bytes, &error))?;
    let repeats = document
        .objects()
        .any(|object| first_repeated_key(object).is_some());
    if repeats && let Some(pointer) = repeated_name(document.root()) {
        return Err(format!(
            "the body gives the member `{pointer}` twice in one object; names in an object must be unique"
        ));
    }
    Ok(document)
}

/// The pointer of the first member whose name its object gave before, if any (the path is
/// built for that member only, on the way back up).
fn repeated_name(value: Value<'_>) -> Option<String> {
    fn find<'t>(value: Value<'t>, path: &mut Vec<Segment<'t>>) -> bool {
        if let Some(object) = value.as_object() {
            if let Some(key) = first_repeated_key(object) {
                path.push(Segment::Key(key));
                return true;
            }
            for (key, member) in object.iter() {
                if find(member, path) {
                    path.push(Segment::Key(key));
                    return true;
                }
            }
        } else if let Some(items) = value.as_array() {
            for (index, item) in items.iter().enumerate() {
                if find(item, path) {
                    path.push(Segment::Index(index));
                    return true;
                }
            }
        }
        false
    }
    let mut segments = Vec::new();
    if !find(value, &mut segments) {
        return None;
    }
    segments.reverse();
    Some(Pointer { segments }.reported())
}

/// The second occurrence of a name in `object`: pairwise for small objects, hashed beyond.
fn first_repeated_key<'t>(object: Object<'t>) -> Option<&'t str> {
    if object.len() <= 16 {
        return object
            .iter()
            .enumerate()
            .find(|(i, (key, _))| {
                object.iter().take(*i).any(|(k, _)| {
                    step();
                    k == *key
                })
            })
            .map(|(_, (key, _))| key);
    }
    let mut seen =
        std::collections::HashSet::with_capacity_and_hasher(object.len(), RandomState::default());
    object.iter().map(|(key, _)| key).find(|key| {
        step();
        !seen.insert(*key)
    })
}

/// What is wrong with a body simd-json refused, as serde_json words it.
fn describe(bytes: &[u8], error: &simd_json::Error) -> String {
    let error = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(error) => error,
        Ok(_) => {
            // serde_json would accept it (skipping a value, it has no nesting limit): the
            // nesting is what is left to refuse.
            let what = match error.error() {
                simd_json::ErrorType::DepthLimitExceeded => "the JSON body is nested too deeply",
                _ => "the body is not valid JSON",
            };
            let before = &bytes[..error.index().min(bytes.len())];
            let line = 1 + before.iter().filter(|b| **b == b'\n').count();
            let column = 1 + before.iter().rev().take_while(|b| **b != b'\n').count();
            return format!("{what} (line {line}, column {column})");
        }
    };
    let what = match error.classify() {
        serde_json::error::Category::Eof => "the JSON body ends too early",
        _ => "the body is not valid JSON",
    };
    format!("{what} (line {}, column {})", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The value of a JSON document (leaked: tests only).
    fn val(json: serde_json::Value) -> Value<'static> {
        let owned: &'static serde_json::Value = Box::leak(Box::new(json));
        Box::leak(Box::new(Document::from_json(owned))).root()
    }

    fn check<'t>(mut f: impl FnMut(&mut BodyErrors, &mut Pointer<'t>)) -> Vec<(String, String)> {
        let mut errors = BodyErrors::new();
        let mut at = Pointer::new();
        f(&mut errors, &mut at);
        errors
            .into_errors()
            .into_iter()
            .map(|e| (e.pointer.unwrap_or_default(), e.message))
            .collect()
    }

    #[test]
    fn pointers_escape_and_pop() {
        let mut at = Pointer::new();
        at.push_key("a/b");
        at.push_index(3);
        at.push_key("c~d");
        assert_eq!(at.text(), "/a~1b/3/c~0d");
        at.pop();
        at.pop();
        assert_eq!(at.text(), "/a~1b");
        at.pop();
        at.pop();
        assert_eq!(at.text(), "");
        at.push_index(12);
        at.push_index(0);
        at.push_key("k");
        assert_eq!(at.text(), "/12/0/k");
        at.pop();
        at.pop();
        at.push_index(7);
        assert_eq!(at.text(), "/12/7");
        let long = "k".repeat(1000);
        at.push_key(&long);
        assert!(at.reported().chars().count() <= POINTER_MAX + 1);
    }

    #[test]
    fn types_with_integer_in_the_json_schema_sense() {
        let ints = [
            json!(1),
            json!(1.0),
            json!(-5),
            json!(1e20),
            json!(u64::MAX),
        ];
        for v in ints {
            assert!(Type::Integer.matches(val(v.clone())), "{v}");
        }
        for v in [json!(1.5), json!("1"), json!(null)] {
            assert!(!Type::Integer.matches(val(v.clone())), "{v}");
        }
        let failures = check(|e, at| {
            assert!(!e.types(at, val(json!("x")), &[Type::Integer, Type::Null]));
        });
        assert_eq!(failures, [("".into(), "must be an integer or null".into())]);
    }

    #[test]
    fn json_equality() {
        assert!(equal(val(json!(1)), val(json!(1.0))));
        assert!(equal(
            val(json!({"a": [1, {"b": 2.0}], "c": null})),
            val(json!({"c": null, "a": [1.0, {"b": 2}]}))
        ));
        assert!(!equal(val(json!(1)), val(json!("1"))));
        assert!(!equal(val(json!([1])), val(json!([1, 1]))));
        assert!(!equal(val(json!(i64::MAX)), val(json!(i64::MAX - 1))));
        // Past 16 members, looked up by name: the order still does not matter.
        let forward: serde_json::Map<String, serde_json::Value> =
            (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
        let backward: serde_json::Map<String, serde_json::Value> =
            (0..40).rev().map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(equal(
            val(serde_json::Value::Object(forward.clone())),
            val(serde_json::Value::Object(backward.clone()))
        ));
        let mut other = backward;
        other.insert("k3".to_owned(), json!(3.5));
        assert!(!equal(
            val(serde_json::Value::Object(forward)),
            val(serde_json::Value::Object(other))
        ));
        static E: Enum = Enum::new(r#"["a", 1, {"k": [true]}]"#);
        for ok in [json!("a"), json!(1.0), json!({"k": [true]})] {
            assert!(
                check(|e, at| e.enumeration(at, val(ok.clone()), &E)).is_empty(),
                "{ok}"
            );
        }
        let failures = check(|e, at| e.enumeration(at, val(json!("b")), &E));
        assert_eq!(failures[0].1, r#"must be one of "a", 1, {"k":[true]}"#);
    }

    #[test]
    fn ranges_and_multiples() {
        let n = |v: serde_json::Value| v.as_number().cloned().unwrap();
        let int = Some((Bound::Int(1), false));
        assert!(check(|e, at| e.range(at, &n(json!(1)), int, None)).is_empty());
        assert!(check(|e, at| e.range(at, &n(json!(1.0)), int, None)).is_empty());
        assert_eq!(
            check(|e, at| e.range(at, &n(json!(0.5)), int, None)).len(),
            1
        );
        let ex = Some((Bound::Float(2.5), true));
        assert_eq!(
            check(|e, at| e.range(at, &n(json!(2.5)), None, ex))[0].1,
            "must be < 2.5"
        );
        assert!(check(|e, at| e.range(at, &n(json!(2)), None, ex)).is_empty());
        // Exact near the end of i64.
        let big = Some((Bound::Int(i64::MAX), true));
        assert_eq!(
            check(|e, at| e.range(at, &n(json!(i64::MAX)), None, big)).len(),
            1
        );
        assert!(check(|e, at| e.range(at, &n(json!(i64::MAX - 1)), None, big)).is_empty());
        for ok in [json!(10), json!(-10), json!(10.0), json!(0)] {
            assert!(
                check(|e, at| e.multiple_of(at, &n(ok.clone()), 5, 0)).is_empty(),
                "{ok}"
            );
        }
        for bad in [json!(11), json!(10.5), json!(-3)] {
            assert_eq!(
                check(|e, at| e.multiple_of(at, &n(bad.clone()), 5, 0)).len(),
                1,
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_name_what_they_expect() {
        for ok in [
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-426614174000",
        ] {
            assert!(
                check(|e, at| e.format(at, ok, Format::Uuid)).is_empty(),
                "{ok}"
            );
        }
        for bad in [
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "123e4567-e89b-12d3-a456-42661417400g",
        ] {
            assert_eq!(
                check(|e, at| e.format(at, bad, Format::Uuid))[0].1,
                "must be a UUID (8-4-4-4-12 hex digits)"
            );
        }
        assert_eq!(
            check(|e, at| e.format(at, "a@", Format::Email))[0].1,
            "must be an e-mail address"
        );
        let n = |v: serde_json::Value| v.as_number().cloned().unwrap();
        assert_eq!(
            check(|e, at| e.multiple_of(at, &n(json!(0.35)), 1, -1))[0].1,
            "must be a multiple of 0.1"
        );
        assert!(check(|e, at| e.multiple_of(at, &n(json!(0.3)), 1, -1)).is_empty());
        assert_eq!(
            check(|e, at| e.multiple_of(at, &n(json!(0.5)), 1, -3))[0..0],
            []
        );
        assert_eq!(
            check(|e, at| e.multiple_of(at, &n(json!(7)), 25, 1))[0].1,
            "must be a multiple of 250"
        );
    }

    #[test]
    fn draft4_integers_are_written_without_a_point() {
        for v in [json!(1), json!(-5), json!(u64::MAX), json!(1e20)] {
            assert!(Type::IntegerLiteral.matches(val(v.clone())), "{v}");
        }
        for v in [json!(1.0), json!(1.5), json!("1")] {
            assert!(!Type::IntegerLiteral.matches(val(v.clone())), "{v}");
        }
    }

    #[test]
    fn objects_and_arrays_report_pointers() {
        fn positive<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
            if errors.types(at, value, &[Type::Integer])
                && let Some(n) = value.as_number()
            {
                errors.range(at, &n, Some((Bound::Int(1), false)), None);
            }
        }
        let body = val(json!({"items": [1, 0, "x"], "extra": 1, "a/b": 2}));
        let failures = check(|e, at| {
            let object = body.as_object().unwrap();
            let mut seen = [false; 2];
            for (key, property) in object.iter() {
                match key {
                    "items" => e.member(at, key, &mut seen[0], property, |items, at, e| {
                        let items = items.as_array().unwrap();
                        e.items(at, items, Some(4), None, true);
                        e.each_item(at, items, positive);
                    }),
                    "customer" => seen[1] = true,
                    _ => e.not_allowed(at, key),
                }
            }
            e.required(at, &[("items", seen[0]), ("customer", seen[1])]);
        });
        assert_eq!(
            failures,
            [
                ("/items".into(), "must have at least 4 items".into()),
                ("/items/1".into(), "must be >= 1".into()),
                ("/items/2".into(), "must be an integer".into()),
                (
                    "/extra".into(),
                    "is not a property this object may have".into()
                ),
                (
                    "/a~1b".into(),
                    "is not a property this object may have".into()
                ),
                ("".into(), "must have the property `customer`".into()),
            ]
        );
        let array = |j: serde_json::Value| val(j).as_array().unwrap();
        let dup = check(|e, at| e.items(at, array(json!([1, 1.0])), None, None, true));
        assert_eq!(dup.len(), 1);
        // Long arrays go through the hash: still JSON equality.
        let mut long: Vec<serde_json::Value> =
            (0..100).map(|i| json!({"k": i, "s": "x"})).collect();
        assert!(first_duplicate(array(json!(long.clone()))).is_none());
        long.push(json!({"s": "x", "k": 42.0}));
        assert_eq!(first_duplicate(array(json!(long))), Some((42, 100)));
        // Integers exactly: 2^60 + 1 and 2^60 are one `f64` but two numbers; 2^60 as a
        // float is 2^60. Many such near-collisions stay linear (they hash apart).
        let big = 1u64 << 60;
        assert!(first_duplicate(array(json!([big, big + 1]))).is_none());
        assert_eq!(
            first_duplicate(array(json!([big + 1, big, 1_152_921_504_606_846_976.0]))),
            Some((1, 2))
        );
        let near: Vec<u64> = (0..20_000).map(|i| big + i).collect();
        assert!(first_duplicate(array(json!(near))).is_none());
        assert!(!equal(val(json!(big + 1)), val(json!(big as f64))));
        assert!(equal(
            val(json!(1e20)),
            val(json!(100_000_000_000_000_000_000u128 as f64))
        ));
        let mut zeros: Vec<serde_json::Value> = (1..40).map(|i| json!(i)).collect();
        zeros.extend([json!(0.0), json!(-0.0)]);
        assert_eq!(first_duplicate(array(json!(zeros))), Some((39, 40)));
    }

    #[test]
    fn combinators() {
        fn string<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
            errors.types(at, value, &[Type::String]);
        }
        fn short<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
            if let Some(s) = value.as_str() {
                errors.length(at, s, None, Some(3));
            }
        }
        let alternatives: &[Validate] = &[string, short];
        assert!(check(|e, at| e.any_of(at, val(json!(5)), alternatives)).is_empty());
        assert_eq!(
            check(|e, at| e.one_of(at, val(json!("ab")), alternatives)).len(),
            1
        );
        assert!(check(|e, at| e.one_of(at, val(json!("abcd")), alternatives)).is_empty());
        assert!(check(|e, at| e.one_of(at, val(json!(5)), alternatives)).is_empty());
        assert_eq!(check(|e, at| e.not(at, val(json!("a")), string)).len(), 1);
        assert!(check(|e, at| e.not(at, val(json!(1)), string)).is_empty());
    }

    #[test]
    fn discriminator_dispatches_to_the_named_schema() {
        fn cat<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
            if let Some(object) = value.as_object() {
                errors.required(at, &[("meows", object.contains_key("meows"))]);
            }
        }
        fn dog<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
            if let Some(object) = value.as_object() {
                errors.required(at, &[("barks", object.contains_key("barks"))]);
            }
        }
        let mapping: &[(&str, Validate)] = &[("cat", cat), ("dog", dog)];
        let run = |value: serde_json::Value| {
            let value = val(value);
            let mut handled = false;
            let failures = check(|e, at| handled = e.discriminator(at, value, "kind", mapping));
            (handled, failures)
        };
        assert_eq!(run(json!({"kind": "cat", "meows": true})), (true, vec![]));
        assert_eq!(
            run(json!({"kind": "dog", "meows": true})),
            (
                true,
                vec![("".into(), "must have the property `barks`".into())]
            )
        );
        let (handled, failures) = run(json!({"kind": "bird"}));
        assert!(handled);
        assert_eq!(failures[0].0, "/kind");
        assert_eq!(
            failures[0].1,
            "the discriminator `kind` is `bird`, which names no schema; expected one of `cat`, `dog`"
        );
        assert_eq!(
            run(json!({})).1[0].1,
            "must have the property `kind` (the discriminator)"
        );
        assert!(!run(json!("cat")).0);
    }

    #[test]
    fn failures_are_capped_but_counted() {
        let mut errors = BodyErrors::new();
        let at = Pointer::new();
        for _ in 0..50 {
            errors.fail(&at, "x");
        }
        assert_eq!(errors.count(), 50);
        assert_eq!(errors.into_errors().len(), MAX_FIELD_ERRORS);
    }

    #[test]
    fn parsing_refuses_deep_nesting_and_bad_json_cleanly() {
        let fails = |text: &[u8]| parse(text, &mut Vec::new()).unwrap_err();
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(fails(deep.as_bytes()).contains("nested too deeply"));
        // Just beyond the gateway's limit (serde_json, which words errors, has none when it
        // skips a value): refused with simd-json's position.
        let depth = value::MAX_DEPTH + 1;
        let deeper = "[".repeat(depth) + &"]".repeat(depth);
        assert_eq!(
            fails(deeper.as_bytes()),
            format!("the JSON body is nested too deeply (line 1, column {depth})")
        );
        assert_eq!(
            fails(b"{\"a\": 1,}"),
            "the body is not valid JSON (line 1, column 9)"
        );
        assert_eq!(
            fails(b"{\n\"a\": "),
            "the JSON body ends too early (line 2, column 5)"
        );
        // A name given twice in one object, at any depth: refused, naming the member.
        assert_eq!(
            fails(br#"{"a": [1, {"b": 1, "c": 2, "b": 3}]}"#),
            "the body gives the member `/a/1/b` twice in one object; names in an object must be unique"
        );
        let many: String = (0..40).map(|i| format!("\"k{i}\": {i},")).collect();
        assert!(fails(format!("{{{many} \"k7\": 0}}").as_bytes()).contains("`/k7`"));
        assert!(parse(format!("{{{many} \"k40\": 0}}").as_bytes(), &mut Vec::new()).is_ok());
        let mut copy = Vec::new();
        assert_eq!(
            parse(b" {\"a\" : \"\\u00e9\"} ", &mut copy)
                .unwrap()
                .root()
                .to_string(),
            r#"{"a":"é"}"#
        );
    }
}
