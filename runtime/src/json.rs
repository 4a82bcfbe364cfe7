//! What generated body validators call: the JSON value type, the JSON pointer of the value
//! being checked, a collector of body failures, and one helper per schema keyword that is
//! the same for every schema (types, bounds, lengths, formats, JSON equality, the
//! combinators).
//!
//! A generated validator is straight-line code over these (DESIGN.md, "Generated code is
//! data and straight-line checks"); nothing here reads a schema at run time:
//!
//! ```text
//! fn validate_order(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
//!     if !errors.types(at, value, &[Type::Object]) { return; }
//!     if let Some(object) = value.as_object() {
//!         errors.required(at, object, &["items"]);
//!         if let Some(v) = object.get("items") {
//!             at.push_key("items"); validate_order_items(v, at, errors); at.pop();
//!         }
//!     }
//! }
//! ```

use std::cmp::Ordering;

pub use serde_json::{Map, Number, Value};

use crate::problem::{FieldError, MAX_FIELD_ERRORS};

mod format;
mod pattern;

pub use pattern::Pattern;

/// A generated validator: checks `value` (found at `at`) and records what fails.
pub type Validate = fn(&Value, &mut Pointer, &mut BodyErrors);

/// Longest pointer reported; longer ones (client-chosen keys) are cut, marked with `…`.
const POINTER_MAX: usize = 256;

/// The JSON pointer (RFC 6901) of the value being checked, as a stack of segments. Keys
/// are kept as escaped text; array indices as numbers, written out only when a failure
/// is reported (most values pass: descending costs no formatting).
#[derive(Debug, Default, Clone)]
pub struct Pointer {
    /// The keys, escaped, each after a `/`; an index segment is a bare `/`.
    text: String,
    /// Where each segment starts in `text`.
    ends: Vec<usize>,
    /// The index segments: their place in `text` (after the `/`) and the index.
    indices: Vec<(usize, usize)>,
}

impl Pointer {
    pub fn new() -> Pointer {
        Pointer::default()
    }

    /// Enters an object member.
    pub fn push_key(&mut self, key: &str) {
        self.ends.push(self.text.len());
        self.text.push('/');
        if !key.contains(['~', '/']) {
            self.text.push_str(key);
            return;
        }
        for c in key.chars() {
            match c {
                '~' => self.text.push_str("~0"),
                '/' => self.text.push_str("~1"),
                c => self.text.push(c),
            }
        }
    }

    /// Enters an array item.
    pub fn push_index(&mut self, index: usize) {
        self.ends.push(self.text.len());
        self.text.push('/');
        self.indices.push((self.text.len(), index));
    }

    /// Leaves what the last push entered.
    pub fn pop(&mut self) {
        if let Some(end) = self.ends.pop() {
            self.text.truncate(end);
            while self.indices.last().is_some_and(|(at, _)| *at > end) {
                self.indices.pop();
            }
        }
    }

    /// The pointer as text.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.text.len() + 4 * self.indices.len());
        let mut from = 0;
        for (at, index) in &self.indices {
            text.push_str(&self.text[from..*at]);
            text.push_str(&index.to_string());
            from = *at;
        }
        text.push_str(&self.text[from..]);
        text
    }

    /// The pointer as reported: bounded in length.
    fn reported(&self) -> String {
        let text = self.text();
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

    fn matches(self, value: &Value) -> bool {
        match self {
            Type::Null => value.is_null(),
            Type::Boolean => value.is_boolean(),
            Type::Object => value.is_object(),
            Type::Array => value.is_array(),
            Type::Number => value.is_number(),
            Type::Integer => value.as_number().is_some_and(is_integer),
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
    values: std::sync::OnceLock<Vec<Value>>,
}

impl Enum {
    /// `source`: a JSON array (checked by the compiler; anything else allows nothing).
    pub const fn new(source: &'static str) -> Enum {
        Enum {
            source,
            values: std::sync::OnceLock::new(),
        }
    }

    fn values(&self) -> &[Value] {
        self.values
            .get_or_init(|| serde_json::from_str(self.source).unwrap_or_default())
    }
}

/// Every body failure of one request (the first [`MAX_FIELD_ERRORS`] are kept).
#[derive(Debug, Default)]
pub struct BodyErrors {
    errors: Vec<FieldError>,
    failed: usize,
}

impl BodyErrors {
    pub fn new() -> BodyErrors {
        BodyErrors::default()
    }

    /// Records one failure of the value at `at`.
    pub fn fail(&mut self, at: &Pointer, message: impl Into<String>) {
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
    pub fn types(&mut self, at: &Pointer, value: &Value, types: &[Type]) -> bool {
        if types.iter().any(|t| t.matches(value)) {
            return true;
        }
        let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
        self.fail(at, format!("must be {}", names.join(" or ")));
        false
    }

    /// `enum`, by JSON equality (`1` equals `1.0`).
    pub fn enumeration(&mut self, at: &Pointer, value: &Value, allowed: &Enum) {
        if !allowed.values().iter().any(|a| equal(a, value)) {
            let mut list = String::new();
            for (i, a) in allowed.values().iter().enumerate() {
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
    pub fn range(
        &mut self,
        at: &Pointer,
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
    pub fn multiple_of(&mut self, at: &Pointer, n: &Number, mantissa: u64, exponent: i32) {
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
    pub fn length(&mut self, at: &Pointer, s: &str, min: Option<usize>, max: Option<usize>) {
        if let Err(message) = crate::params::length(s, min, max) {
            self.fail(at, message);
        }
    }

    /// `pattern` (ECMA-262, unanchored).
    pub fn pattern(&mut self, at: &Pointer, s: &str, pattern: &Pattern) {
        if !pattern.is_match(s) {
            self.fail(at, format!("must match the pattern `{}`", pattern.source()));
        }
    }

    /// `format`.
    pub fn format(&mut self, at: &Pointer, s: &str, format: Format) {
        if let Err(message) = format.check(s) {
            self.fail(at, message);
        }
    }

    /// `minItems`, `maxItems` and `uniqueItems` (by JSON equality).
    pub fn items(
        &mut self,
        at: &Pointer,
        items: &[Value],
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

    /// `required`.
    pub fn required(&mut self, at: &Pointer, object: &Map<String, Value>, names: &[&str]) {
        for name in names {
            if !object.contains_key(*name) {
                self.fail(at, format!("must have the property `{name}`"));
            }
        }
    }

    /// `minProperties`/`maxProperties`.
    pub fn property_count(
        &mut self,
        at: &Pointer,
        object: &Map<String, Value>,
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

    /// `additionalProperties: false`: every property not in `known` is a failure.
    pub fn no_additional(&mut self, at: &mut Pointer, object: &Map<String, Value>, known: &[&str]) {
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                at.push_key(key);
                self.fail(at, "is not a property this object may have");
                at.pop();
            }
        }
    }

    /// `additionalProperties` with a schema: checks every property not in `known`.
    pub fn additional(
        &mut self,
        at: &mut Pointer,
        object: &Map<String, Value>,
        known: &[&str],
        validate: Validate,
    ) {
        for (key, value) in object {
            if !known.contains(&key.as_str()) {
                at.push_key(key);
                validate(value, at, self);
                at.pop();
            }
        }
    }

    /// `items`: checks every item.
    pub fn each_item(&mut self, at: &mut Pointer, items: &[Value], validate: Validate) {
        for (index, item) in items.iter().enumerate() {
            at.push_index(index);
            validate(item, at, self);
            at.pop();
        }
    }

    /// `anyOf`: at least one alternative holds.
    pub fn any_of(&mut self, at: &mut Pointer, value: &Value, alternatives: &[Validate]) {
        let holds = alternatives.iter().any(|v| passes(*v, value, at));
        if !holds {
            self.fail(at, "must match at least one of the schemas of `anyOf`");
        }
    }

    /// `oneOf`: exactly one alternative holds.
    pub fn one_of(&mut self, at: &mut Pointer, value: &Value, alternatives: &[Validate]) {
        let mut holding = Vec::new();
        for (i, v) in alternatives.iter().enumerate() {
            if passes(*v, value, at) {
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
    pub fn discriminator(
        &mut self,
        at: &mut Pointer,
        value: &Value,
        property: &str,
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
    pub fn not(&mut self, at: &mut Pointer, value: &Value, schema: Validate) {
        if passes(schema, value, at) {
            self.fail(at, "must not match the schema of `not`");
        }
    }
}

/// A client's text as quoted in a message: at most 64 characters.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Whether `value` passes `validate` (its failures are not kept).
fn passes(validate: Validate, value: &Value, at: &mut Pointer) -> bool {
    let mut scratch = BodyErrors::new();
    validate(value, at, &mut scratch);
    scratch.is_empty()
}

/// JSON equality as JSON Schema defines it: numbers by mathematical value (`1 == 1.0`),
/// objects regardless of key order.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// The first pair of equal items (by [`equal`]): pairwise for short arrays, by a hash
/// consistent with JSON equality for longer ones (linear on a client's 16 MiB array).
fn first_duplicate(items: &[Value]) -> Option<(usize, usize)> {
    if items.len() <= 16 {
        for (i, a) in items.iter().enumerate() {
            if let Some(j) = items[..i].iter().position(|b| equal(a, b)) {
                return Some((j, i));
            }
        }
        return None;
    }
    // Keys drawn per process: a client cannot choose values that all collide.
    let state = std::collections::hash_map::RandomState::new();
    let mut seen: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::with_capacity(items.len());
    for (i, a) in items.iter().enumerate() {
        match seen.entry(json_hash(&state, a)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(first) => {
                let j = *first.get();
                if equal(&items[j], a) {
                    return Some((j, i));
                }
                // A collision of unequal values (rare): compare with every earlier item.
                if let Some(j) = items[..i].iter().position(|b| equal(a, b)) {
                    return Some((j, i));
                }
            }
        }
    }
    None
}

/// A hash under which JSON-equal values collide: numbers by their `f64` value, objects
/// regardless of key order.
fn json_hash(state: &std::collections::hash_map::RandomState, value: &Value) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = state.build_hasher();
    match value {
        Value::Null => 0u8.hash(&mut h),
        Value::Bool(b) => (1u8, b).hash(&mut h),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            // 0.0 and -0.0 are equal.
            (2u8, if f == 0.0 { 0 } else { f.to_bits() }).hash(&mut h);
        }
        Value::String(s) => (3u8, s).hash(&mut h),
        Value::Array(items) => {
            4u8.hash(&mut h);
            for item in items {
                json_hash(state, item).hash(&mut h);
            }
        }
        Value::Object(map) => {
            let mut sum = 0u64;
            for (k, v) in map {
                sum = sum.wrapping_add(state.hash_one((k, json_hash(state, v))));
            }
            (5u8, map.len(), sum).hash(&mut h);
        }
    }
    h.finish()
}

fn number_equal(x: &Number, y: &Number) -> bool {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (exact(x), exact(y)) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// Parses a JSON body: the message for the client when it is not JSON (serde_json's own
/// nesting limit of 128 turns a deeply nested body into an error, not a stack overflow).
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|error| {
        let what = match error.classify() {
            serde_json::error::Category::Eof => "the JSON body ends too early",
            _ if error.to_string().contains("recursion limit") => {
                "the JSON body is nested too deeply"
            }
            _ => "the body is not valid JSON",
        };
        format!("{what} (line {}, column {})", error.line(), error.column())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(mut f: impl FnMut(&mut BodyErrors, &mut Pointer)) -> Vec<(String, String)> {
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
        at.push_key(&"k".repeat(1000));
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
            assert!(Type::Integer.matches(&v), "{v}");
        }
        for v in [json!(1.5), json!("1"), json!(null)] {
            assert!(!Type::Integer.matches(&v), "{v}");
        }
        let failures = check(|e, at| {
            assert!(!e.types(at, &json!("x"), &[Type::Integer, Type::Null]));
        });
        assert_eq!(failures, [("".into(), "must be an integer or null".into())]);
    }

    #[test]
    fn json_equality() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(
            &json!({"a": [1, {"b": 2.0}], "c": null}),
            &json!({"c": null, "a": [1.0, {"b": 2}]})
        ));
        assert!(!equal(&json!(1), &json!("1")));
        assert!(!equal(&json!([1]), &json!([1, 1])));
        assert!(!equal(&json!(i64::MAX), &json!(i64::MAX - 1)));
        static E: Enum = Enum::new(r#"["a", 1, {"k": [true]}]"#);
        for ok in [json!("a"), json!(1.0), json!({"k": [true]})] {
            assert!(check(|e, at| e.enumeration(at, &ok, &E)).is_empty(), "{ok}");
        }
        let failures = check(|e, at| e.enumeration(at, &json!("b"), &E));
        assert_eq!(failures[0].1, r#"must be one of "a", 1, {"k":[true]}"#);
    }

    #[test]
    fn ranges_and_multiples() {
        let n = |v: Value| v.as_number().cloned().unwrap();
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
        let n = |v: Value| v.as_number().cloned().unwrap();
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
            assert!(Type::IntegerLiteral.matches(&v), "{v}");
        }
        for v in [json!(1.0), json!(1.5), json!("1")] {
            assert!(!Type::IntegerLiteral.matches(&v), "{v}");
        }
    }

    #[test]
    fn objects_and_arrays_report_pointers() {
        fn positive(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
            if errors.types(at, value, &[Type::Integer])
                && let Some(n) = value.as_number()
            {
                errors.range(at, n, Some((Bound::Int(1), false)), None);
            }
        }
        let failures = check(|e, at| {
            let body = json!({"items": [1, 0, "x"], "extra": 1});
            let object = body.as_object().unwrap();
            e.required(at, object, &["items", "customer"]);
            e.no_additional(at, object, &["items", "customer"]);
            at.push_key("items");
            let items = object["items"].as_array().unwrap();
            e.items(at, items, Some(4), None, true);
            e.each_item(at, items, positive);
            at.pop();
        });
        assert_eq!(
            failures,
            [
                ("".into(), "must have the property `customer`".into()),
                (
                    "/extra".into(),
                    "is not a property this object may have".into()
                ),
                ("/items".into(), "must have at least 4 items".into()),
                ("/items/1".into(), "must be >= 1".into()),
                ("/items/2".into(), "must be an integer".into()),
            ]
        );
        let dup = check(|e, at| e.items(at, &[json!(1), json!(1.0)], None, None, true));
        assert_eq!(dup.len(), 1);
        // Long arrays go through the hash: still JSON equality.
        let mut long: Vec<Value> = (0..100).map(|i| json!({"k": i, "s": "x"})).collect();
        assert!(first_duplicate(&long).is_none());
        long.push(json!({"s": "x", "k": 42.0}));
        assert_eq!(first_duplicate(&long), Some((42, 100)));
        let mut zeros: Vec<Value> = (1..40).map(|i| json!(i)).collect();
        zeros.extend([json!(0.0), json!(-0.0)]);
        assert_eq!(first_duplicate(&zeros), Some((39, 40)));
    }

    #[test]
    fn combinators() {
        fn string(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
            errors.types(at, value, &[Type::String]);
        }
        fn short(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
            if let Some(s) = value.as_str() {
                errors.length(at, s, None, Some(3));
            }
        }
        let alternatives: &[Validate] = &[string, short];
        assert!(check(|e, at| e.any_of(at, &json!(5), alternatives)).is_empty());
        assert_eq!(
            check(|e, at| e.one_of(at, &json!("ab"), alternatives)).len(),
            1
        );
        assert!(check(|e, at| e.one_of(at, &json!("abcd"), alternatives)).is_empty());
        assert!(check(|e, at| e.one_of(at, &json!(5), alternatives)).is_empty());
        assert_eq!(check(|e, at| e.not(at, &json!("a"), string)).len(), 1);
        assert!(check(|e, at| e.not(at, &json!(1), string)).is_empty());
    }

    #[test]
    fn discriminator_dispatches_to_the_named_schema() {
        fn cat(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
            if let Some(object) = value.as_object() {
                errors.required(at, object, &["meows"]);
            }
        }
        fn dog(value: &Value, at: &mut Pointer, errors: &mut BodyErrors) {
            if let Some(object) = value.as_object() {
                errors.required(at, object, &["barks"]);
            }
        }
        let mapping: &[(&str, Validate)] = &[("cat", cat), ("dog", dog)];
        let run = |value: Value| {
            let mut handled = false;
            let failures = check(|e, at| handled = e.discriminator(at, &value, "kind", mapping));
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
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let message = parse(deep.as_bytes()).unwrap_err();
        assert!(message.contains("nested too deeply"), "{message}");
        assert!(
            parse(b"{\"a\": 1,}")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse(b"{\"a\": ").unwrap_err().contains("ends too early"));
        assert_eq!(
            parse(b" {\"a\" : 1} ").unwrap(),
            serde_json::json!({"a": 1})
        );
    }
}
