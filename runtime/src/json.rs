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

/// A generated validator: checks `value` (found at `at`) and records what fails.
pub type Validate = fn(&Value, &mut Pointer, &mut BodyErrors);

/// Longest pointer reported; longer ones (client-chosen keys) are cut, marked with `…`.
const POINTER_MAX: usize = 256;

/// The JSON pointer (RFC 6901) of the value being checked, as a stack of segments.
#[derive(Debug, Default, Clone)]
pub struct Pointer {
    text: String,
    ends: Vec<usize>,
}

impl Pointer {
    pub fn new() -> Pointer {
        Pointer::default()
    }

    /// Enters an object member.
    pub fn push_key(&mut self, key: &str) {
        self.ends.push(self.text.len());
        self.text.push('/');
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
        self.text.push_str(&index.to_string());
    }

    /// Leaves what the last push entered.
    pub fn pop(&mut self) {
        if let Some(end) = self.ends.pop() {
            self.text.truncate(end);
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pointer as reported: bounded in length.
    fn reported(&self) -> String {
        if self.text.len() <= POINTER_MAX {
            return self.text.clone();
        }
        let mut end = POINTER_MAX;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &self.text[..end])
    }
}

/// The JSON Schema types (`integer`: a number with no fractional part, `1.0` included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    Integer,
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
            Type::Integer => "an integer",
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

    /// `multipleOf` with a positive integer factor: exact for every JSON number (an
    /// integral `f64` remainder is exact in IEEE 754).
    pub fn multiple_of(&mut self, at: &Pointer, n: &Number, factor: u64) {
        let ok = if factor == 0 {
            true
        } else if let Some(v) = n.as_u64() {
            v % factor == 0
        } else if let Some(v) = n.as_i64() {
            v.unsigned_abs() % factor == 0
        } else {
            n.as_f64()
                .is_some_and(|v| v.fract() == 0.0 && v % (factor as f64) == 0.0)
        };
        if !ok {
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
    pub fn pattern(&mut self, at: &Pointer, s: &str, pattern: &crate::params::Pattern) {
        if let Err(message) = pattern.check(s) {
            self.fail(at, message);
        }
    }

    /// `format`.
    pub fn format(&mut self, at: &Pointer, s: &str, format: Format) {
        let (ok, what) = match format {
            Format::Uuid => (is_uuid(s), "a UUID (8-4-4-4-12 hex digits)"),
            Format::Date => (is_date(s), "an RFC 3339 date (YYYY-MM-DD)"),
            Format::DateTime => (is_date_time(s), "an RFC 3339 date-time"),
        };
        if !ok {
            self.fail(at, format!("must be {what}"));
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
        if unique {
            // Quadratic, on at most `max_body` bytes of items; JSON equality has no hash.
            'outer: for (i, a) in items.iter().enumerate() {
                for (j, b) in items[..i].iter().enumerate() {
                    if equal(a, b) {
                        self.fail(
                            at,
                            format!("items {j} and {i} are equal; items must be unique"),
                        );
                        break 'outer;
                    }
                }
            }
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

    /// `not`.
    pub fn not(&mut self, at: &mut Pointer, value: &Value, schema: Validate) {
        if passes(schema, value, at) {
            self.fail(at, "must not match the schema of `not`");
        }
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

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 3339 `full-date`: `YYYY-MM-DD`, the day existing in its month.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(&s[..4]), digits(&s[5..7]), digits(&s[8..]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `date-time`: `full-date "T" partial-time time-offset` (`T` and `Z` in
/// either case; seconds up to 60 for a leap second).
fn is_date_time(s: &str) -> bool {
    if s.len() < 20 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    let Some(time) = rest.strip_prefix(['T', 't']) else {
        return false;
    };
    let hms = |t: &str| -> bool {
        let b = t.as_bytes();
        b.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && digits(&t[..2]).is_some_and(|h| h < 24)
            && digits(&t[3..5]).is_some_and(|m| m < 60)
            && digits(&t[6..]).is_some_and(|s| s <= 60)
    };
    if time.len() < 9 || !time.is_char_boundary(8) || !hms(&time[..8]) {
        return false;
    }
    let mut rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    if rest == "Z" || rest == "z" {
        return true;
    }
    let b = rest.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && digits(&rest[1..3]).is_some_and(|h| h < 24)
        && digits(&rest[4..]).is_some_and(|m| m < 60)
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

    fn check(f: impl Fn(&mut BodyErrors, &mut Pointer)) -> Vec<(String, String)> {
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
        assert_eq!(at.as_str(), "/a~1b/3/c~0d");
        at.pop();
        at.pop();
        assert_eq!(at.as_str(), "/a~1b");
        at.pop();
        at.pop();
        assert_eq!(at.as_str(), "");
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
                check(|e, at| e.multiple_of(at, &n(ok.clone()), 5)).is_empty(),
                "{ok}"
            );
        }
        for bad in [json!(11), json!(10.5), json!(-3)] {
            assert_eq!(
                check(|e, at| e.multiple_of(at, &n(bad.clone()), 5)).len(),
                1,
                "{bad}"
            );
        }
    }

    #[test]
    fn formats() {
        for ok in [
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-426614174000",
        ] {
            assert!(is_uuid(ok), "{ok}");
        }
        for bad in [
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "123e4567-e89b-12d3-a456-42661417400g",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
        for ok in ["2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-00",
            "２024-01-01",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        for ok in [
            "2024-01-01T12:00:00Z",
            "2024-01-01t12:00:00.123456z",
            "2024-01-01T23:59:60+01:00",
            "2024-01-01T00:00:00-05:30",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2024-01-01 12:00:00Z",
            "2024-01-01T12:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:00:00.Z",
            "2024-01-01T12:00:00+0100",
            "2024-01-01T12:00Z",
            "2024-01-01T12:00:00é",
        ] {
            assert!(!is_date_time(bad), "{bad}");
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
