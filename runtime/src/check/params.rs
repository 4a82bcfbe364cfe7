//! What generated handlers call: the request's parameters as the router decoded them, an
//! error collector that keeps every failure (not just the first), parsers for the scalar
//! types OpenAPI parameters declare, and the builder of the upstream path.
//!
//! Generated code reads like this (one operation, `GET /users/{id}?limit=`):
//!
//! ```text
//! let mut errors = Errors::default();
//! let id = errors.path(req, 0, "id", params::int64);
//! let limit = errors.query(req, "limit", params::int32).map(|v| v.unwrap_or(20));
//! let (Some(id), Some(limit)) = (id, limit) else { return Err(errors.into_problem()) };
//! ```

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::hash::{BuildHasher, Hash, Hasher};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::base::problem::{FieldError, Problem};
use crate::check::fields::first_repeat;
use crate::check::steps::step;

/// A parser of one raw parameter value. The error is a message for the client.
pub type Parse<T> = fn(&str) -> Result<T, String>;

/// Longest slice of a client's value echoed back in an error message.
const ECHO_MAX: usize = 64;

/// The parts of a request a handler reads, already split and percent-decoded.
#[derive(Debug)]
pub struct Request<'a> {
    path_params: &'a [Cow<'a, str>],
    query: &'a [(Cow<'a, str>, Cow<'a, str>)],
    headers: &'a http::HeaderMap,
    max_fields: usize,
}

impl<'a> Request<'a> {
    /// `path_params` in template order; `query` as decoded `(name, value)` pairs in order;
    /// `max_fields`: the most members an object parameter, or pairs the `Cookie` header,
    /// may have (`gateway.limits.max_fields`).
    pub fn new(
        path_params: &'a [Cow<'a, str>],
        query: &'a [(Cow<'a, str>, Cow<'a, str>)],
        headers: &'a http::HeaderMap,
        max_fields: usize,
    ) -> Request<'a> {
        Request {
            path_params,
            query,
            headers,
            max_fields,
        }
    }

    pub fn max_fields(&self) -> usize {
        self.max_fields
    }

    pub fn path_param(&self, index: usize) -> Option<&str> {
        self.path_params.get(index).map(|v| v.as_ref())
    }

    pub fn query_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.query
            .iter()
            .filter(move |(key, _)| {
                step();
                key == name
            })
            .map(|(_, value)| value.as_ref())
    }

    /// Every decoded `(name, value)` pair of the query, in order.
    pub fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Values of a header; a value that is not visible ASCII is reported as invalid.
    pub fn header_values<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = Result<&'s str, ()>> + 's {
        self.headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().map_err(|_| ()))
    }
}

/// A query string or form as decoded `(name, value)` pairs, in order.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Splits a raw query string into decoded `(name, value)` pairs
/// (`application/x-www-form-urlencoded`: `+` is a space).
pub fn parse_query(query: &str) -> Pairs<'_> {
    parse_pairs(query, usize::MAX).unwrap_or_default()
}

/// [`parse_query`], or `None` as soon as there are more than `max` pairs (the rest of the
/// text is not read).
pub(crate) fn parse_pairs(text: &str, max: usize) -> Option<Pairs<'_>> {
    let mut pairs = Vec::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        if pairs.len() == max {
            return None;
        }
        step();
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((form_decode(key), form_decode(value)));
    }
    Some(pairs)
}

fn form_decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['+', '%']) {
        return Cow::Borrowed(raw);
    }
    let spaced = raw.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy();
    Cow::Owned(decoded.into_owned())
}

/// Collects every parameter failure of one request.
#[derive(Debug, Default)]
pub struct Errors {
    errors: Vec<FieldError>,
}

impl Errors {
    pub(crate) fn push(&mut self, location: &'static str, name: &str, message: String) {
        self.errors.push(FieldError {
            location,
            name: Some(name.to_owned()),
            pointer: None,
            message,
        });
    }

    pub(crate) fn parse_one<T>(
        &mut self,
        location: &'static str,
        name: &str,
        raw: &str,
        parse: Parse<T>,
    ) -> Option<T> {
        match parse(raw) {
            Ok(value) => Some(value),
            Err(message) => {
                self.push(location, name, format!("{message}, got `{}`", echo(raw)));
                None
            }
        }
    }

    /// The path parameter at `index` (template order).
    pub fn path<T>(
        &mut self,
        req: &Request<'_>,
        index: usize,
        name: &str,
        parse: Parse<T>,
    ) -> Option<T> {
        let raw = self.path_value(req, index, name)?;
        self.parse_one("path", name, raw, parse)
    }

    /// The raw value of the path parameter at `index`. `.` and `..` are refused whatever
    /// the type: an upstream that normalizes dot segments would leave the route.
    pub(crate) fn path_value<'r>(
        &mut self,
        req: &'r Request<'_>,
        index: usize,
        name: &str,
    ) -> Option<&'r str> {
        let raw = req.path_param(index).unwrap_or_default();
        if raw == "." || raw == ".." {
            self.push("path", name, "must not be a dot segment".to_owned());
            return None;
        }
        Some(raw)
    }

    /// A query parameter that may appear once: `Some(None)` when absent, `None` on error.
    /// An empty value (`?name=` or `?name`) is refused, as OpenAPI's `allowEmptyValue:
    /// false` (the default) says; see [`Errors::query_allowing_empty`].
    pub fn query<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<T>> {
        self.query_scalar(req, name, false, parse)
    }

    /// A query parameter with `allowEmptyValue: true`: `?name=` is parsed as the empty
    /// text (a string parameter gets `""`, an integer one an error).
    pub fn query_allowing_empty<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<T>> {
        self.query_scalar(req, name, true, parse)
    }

    fn query_scalar<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        allow_empty: bool,
        parse: Parse<T>,
    ) -> Option<Option<T>> {
        let mut values = req.query_values(name);
        let Some(first) = values.next() else {
            return Some(None);
        };
        if values.next().is_some() {
            self.push("query", name, "must appear at most once".to_owned());
            return None;
        }
        if first.is_empty() && !allow_empty {
            self.push("query", name, "must not be empty".to_owned());
            return None;
        }
        self.parse_one("query", name, first, parse).map(Some)
    }

    /// An array query parameter: `?tag=a&tag=b` when `explode`, `?tag=a,b` otherwise.
    pub fn query_array<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        explode: bool,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        if !explode {
            // One value, comma-separated: the delimited styles' rule with `,`.
            return self.query_delimited(req, name, ',', parse);
        }
        let raw: Vec<&str> = req.query_values(name).collect();
        if raw.is_empty() {
            return Some(None);
        }
        self.parse_items("query", name, raw, parse)
    }

    pub(crate) fn parse_items<T>(
        &mut self,
        location: &'static str,
        name: &str,
        items: Vec<&str>,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        let mut parsed = Vec::with_capacity(items.len());
        let mut ok = true;
        for (index, item) in items.into_iter().enumerate() {
            step();
            match parse(item) {
                Ok(value) => parsed.push(value),
                Err(message) => {
                    ok = false;
                    self.push(
                        location,
                        name,
                        format!("item {index}: {message}, got `{}`", echo(item)),
                    );
                }
            }
        }
        ok.then_some(Some(parsed))
    }

    /// A header that may appear once: `Some(None)` when absent, `None` on error.
    pub fn header<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<T>> {
        let mut values = req.header_values(name);
        let Some(first) = values.next() else {
            return Some(None);
        };
        if values.next().is_some() {
            self.push("header", name, "must appear at most once".to_owned());
            return None;
        }
        let Ok(first) = first else {
            self.push("header", name, "must be visible ASCII".to_owned());
            return None;
        };
        self.parse_one("header", name, first, parse).map(Some)
    }

    /// An array header (`simple` style: comma-separated, in one or several fields).
    pub fn header_array<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        let mut items = Vec::new();
        for value in req.header_values(name) {
            let Ok(value) = value else {
                self.push("header", name, "must be visible ASCII".to_owned());
                return None;
            };
            items.extend(value.split(',').map(str::trim));
        }
        if items.is_empty() {
            return Some(None);
        }
        self.parse_items("header", name, items, parse)
    }

    /// Turns an absent value into a "required" error.
    pub fn require<T>(
        &mut self,
        location: &'static str,
        name: &str,
        value: Option<Option<T>>,
    ) -> Option<T> {
        match value {
            Some(Some(value)) => Some(value),
            Some(None) => {
                self.push(location, name, "is required".to_owned());
                None
            }
            None => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn push_error(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// The 400 problem listing every failure.
    pub fn into_problem(self) -> Problem {
        Problem::invalid_request(self.errors)
    }
}

/// A bounded, single-line excerpt of a client's value for an error message.
fn echo(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(ECHO_MAX)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if raw.chars().nth(ECHO_MAX).is_some() {
        out.push('…');
    }
    out
}

pub fn string(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

pub fn int32(raw: &str) -> Result<i32, String> {
    raw.parse::<i32>()
        .map_err(|_| "expected an integer between -2147483648 and 2147483647".to_owned())
}

pub fn int64(raw: &str) -> Result<i64, String> {
    raw.parse::<i64>().map_err(|_| {
        "expected an integer between -9223372036854775808 and 9223372036854775807".to_owned()
    })
}

/// A JSON-style number: finite, no `inf`/`NaN` spellings, no hex.
pub fn number(raw: &str) -> Result<f64, String> {
    let well_formed = !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && raw.bytes().any(|b| b.is_ascii_digit());
    match raw.parse::<f64>() {
        Ok(value) if well_formed && value.is_finite() => Ok(value),
        _ => Err("expected a number".to_owned()),
    }
}

/// `true` or `false`, as JSON spells them.
pub fn boolean(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected `true` or `false`".to_owned()),
    }
}

pub fn uuid(raw: &str) -> Result<uuid::Uuid, String> {
    // Only the hyphenated form OpenAPI's `format: uuid` means, not braces or URNs.
    if raw.len() != 36 {
        return Err("expected a UUID".to_owned());
    }
    uuid::Uuid::try_parse(raw).map_err(|_| "expected a UUID".to_owned())
}

/// An inclusive or exclusive bound: `(value, exclusive)`.
pub type Bound<T> = Option<(T, bool)>;

fn range_message<T: Display>(min: Bound<T>, max: Bound<T>) -> String {
    let low = min.map(|(v, exclusive)| format!("{} {v}", if exclusive { ">" } else { ">=" }));
    let high = max.map(|(v, exclusive)| format!("{} {v}", if exclusive { "<" } else { "<=" }));
    match (low, high) {
        (Some(low), Some(high)) => format!("must be {low} and {high}"),
        (Some(one), None) | (None, Some(one)) => format!("must be {one}"),
        (None, None) => String::new(),
    }
}

fn range<T: PartialOrd + Display + Copy>(
    value: T,
    min: Bound<T>,
    max: Bound<T>,
) -> Result<(), String> {
    let low_ok = min.is_none_or(|(m, exclusive)| if exclusive { value > m } else { value >= m });
    let high_ok = max.is_none_or(|(m, exclusive)| if exclusive { value < m } else { value <= m });
    if low_ok && high_ok {
        Ok(())
    } else {
        Err(range_message(min, max))
    }
}

/// `minimum`/`maximum` (with their exclusive forms) of an integer.
pub fn int_range(value: i64, min: Bound<i64>, max: Bound<i64>) -> Result<(), String> {
    range(value, min, max)
}

/// `minimum`/`maximum` (with their exclusive forms) of a number.
pub fn number_range(value: f64, min: Bound<f64>, max: Bound<f64>) -> Result<(), String> {
    range(value, min, max)
}

/// `multipleOf` of an integer (exact).
pub fn int_multiple_of(value: i64, factor: i64) -> Result<(), String> {
    if factor > 0 && value % factor != 0 {
        return Err(format!("must be a multiple of {factor}"));
    }
    Ok(())
}

/// `minLength`/`maxLength`, counted in Unicode code points as JSON Schema says.
pub fn length(value: &str, min: Option<usize>, max: Option<usize>) -> Result<(), String> {
    // A character is 1 to 4 bytes: the byte length often decides without counting.
    let bytes = value.len();
    if min.is_none_or(|m| bytes / 4 >= m) && max.is_none_or(|m| bytes <= m) {
        return Ok(());
    }
    let count = value.chars().count();
    if min.is_some_and(|m| count < m) || max.is_some_and(|m| count > m) {
        return Err(match (min, max) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            (None, None) => String::new(),
        });
    }
    Ok(())
}

/// An item of an array parameter as `uniqueItems` compares it: items that are equal
/// (`==`) feed the hasher alike, so a long array is checked by hash, not pairwise. The
/// compiler implements it for the enums it generates.
pub trait Item: PartialEq {
    fn hash_item(&self, state: &mut dyn Hasher);
}

macro_rules! item_by_hash {
    ($($ty:ty),*) => {$(
        impl Item for $ty {
            fn hash_item(&self, mut state: &mut dyn Hasher) {
                self.hash(&mut state);
            }
        }
    )*};
}

item_by_hash!(i32, i64, bool, String, uuid::Uuid);

impl Item for f64 {
    fn hash_item(&self, state: &mut dyn Hasher) {
        // `-0.0 == 0.0`; no two other equal numbers differ in bits (NaN never parses).
        let value = if *self == 0.0 { 0.0 } else { *self };
        state.write_u64(value.to_bits());
    }
}

impl Errors {
    /// `minItems`, `maxItems` and `uniqueItems` of an array parameter that parsed.
    pub fn items<T: Item>(
        &mut self,
        location: &'static str,
        name: &str,
        value: Option<Option<Vec<T>>>,
        min: Option<usize>,
        max: Option<usize>,
        unique: bool,
    ) -> Option<Option<Vec<T>>> {
        let Some(Some(items)) = &value else {
            return value;
        };
        let count = items.len();
        let mut ok = true;
        if min.is_some_and(|m| count < m) || max.is_some_and(|m| count > m) {
            let bounds = match (min, max) {
                (Some(min), Some(max)) => format!("{min} to {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => String::new(),
            };
            self.push(
                location,
                name,
                format!("must have {bounds} items, got {count}"),
            );
            ok = false;
        }
        let hash = |state: &crate::check::fields::RandomState, item: &T| {
            let mut hasher = state.build_hasher();
            item.hash_item(&mut hasher);
            hasher.finish()
        };
        if unique && let Some((_, second)) = first_repeat(items, hash, |a, b| a == b) {
            self.push(
                location,
                name,
                format!("items must be unique; item {second} repeats an earlier one"),
            );
            ok = false;
        }
        if ok { value } else { None }
    }
}

/// Where the handler wants the request to go on the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The upstream path (after the instance's base path), percent-encoded.
    pub path: String,
}

/// Builds an upstream path from literal pieces (encoded at compile time) and parameter
/// values, which are percent-encoded so that no value can add a segment or a query.
#[derive(Debug, Default)]
pub struct UpstreamPath {
    path: String,
}

/// Everything but RFC 3986 unreserved characters is encoded in a parameter value.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl UpstreamPath {
    pub fn new() -> UpstreamPath {
        UpstreamPath::default()
    }

    /// A literal piece of the spec's path, already encoded.
    pub fn literal(mut self, piece: &'static str) -> UpstreamPath {
        self.path.push_str(piece);
        self
    }

    /// A parameter value, percent-encoded as one segment.
    pub fn param(mut self, value: &dyn Display) -> UpstreamPath {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = write!(text, "{value}");
        self.path
            .extend(utf8_percent_encode(&text, SEGMENT).map(|s| s.to_owned()));
        self
    }

    pub fn forward(self) -> Forward {
        Forward { path: self.path }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_request<R>(
        path: &[&str],
        query: &str,
        headers: &[(&str, &str)],
        f: impl FnOnce(&Request<'_>) -> R,
    ) -> R {
        let path: Vec<Cow<str>> = path.iter().map(|s| Cow::Borrowed(*s)).collect();
        let query = parse_query(query);
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        f(&Request::new(&path, &query, &map, 1000))
    }

    #[test]
    fn scalars_parse_strictly() {
        assert_eq!(int32("42"), Ok(42));
        assert!(int32("2147483648").is_err());
        assert!(int64("9223372036854775808").is_err());
        assert!(int64("4.0").is_err());
        assert_eq!(number("1.5e3"), Ok(1500.0));
        assert!(number("inf").is_err());
        assert!(number("NaN").is_err());
        assert!(number("1e400").is_err());
        assert!(number("").is_err());
        assert_eq!(boolean("true"), Ok(true));
        assert!(boolean("True").is_err());
        assert!(uuid("67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
        assert!(uuid("{67e55044-10b1-426f-9247-bb680e5fe0c8}").is_err());
        assert!(uuid("67e5504410b1426f9247bb680e5fe0c8").is_err());
    }

    #[test]
    fn every_failure_is_collected() {
        let problem = with_request(&["abc"], "limit=x&limit=y&tag=1&tag=z", &[], |req| {
            let mut errors = Errors::default();
            assert_eq!(errors.path(req, 0, "id", int64), None);
            assert_eq!(errors.query(req, "limit", int32), None);
            assert_eq!(errors.query_array(req, "tag", true, int32), None);
            let missing = errors.header(req, "x-version", string);
            assert_eq!(errors.require("header", "x-version", missing), None);
            errors.into_problem()
        });
        let names: Vec<_> = problem
            .errors
            .iter()
            .map(|e| (e.location, e.name.clone().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("path", "id".to_owned()),
                ("query", "limit".to_owned()),
                ("query", "tag".to_owned()),
                ("header", "x-version".to_owned())
            ]
        );
        assert!(problem.errors[0].message.contains("`abc`"));
        assert!(problem.errors[2].message.starts_with("item 1:"));
    }

    #[test]
    fn query_edge_cases() {
        with_request(
            &[],
            "a=&b&c=x+y%2Bz&d=1&d=2&e=True&f=9223372036854775808&g=",
            &[],
            |req| {
                let mut errors = Errors::default();
                assert_eq!(errors.query(req, "a", string), None, "empty");
                assert_eq!(errors.query(req, "b", string), None, "no `=`");
                assert_eq!(
                    errors.query(req, "c", string),
                    Some(Some("x y+z".to_owned()))
                );
                assert_eq!(errors.query(req, "d", int32), None, "a scalar given twice");
                assert_eq!(errors.query(req, "e", boolean), None);
                assert_eq!(
                    errors.query(req, "f", int64),
                    None,
                    "beyond i64, never wrapped"
                );
                assert_eq!(errors.query(req, "missing", int64), Some(None));
                assert_eq!(
                    errors.query_allowing_empty(req, "g", string),
                    Some(Some(String::new()))
                );
                assert_eq!(errors.query_allowing_empty(req, "g", int32), None);
                let messages: Vec<String> = errors
                    .into_problem()
                    .errors
                    .into_iter()
                    .map(|e| format!("{}: {}", e.name.unwrap(), e.message))
                    .collect();
                assert_eq!(messages[0], "a: must not be empty");
                assert_eq!(messages[1], "b: must not be empty");
                assert_eq!(messages[2], "d: must appear at most once");
                assert_eq!(messages[3], "e: expected `true` or `false`, got `True`");
                assert!(
                    messages[4].starts_with("f: expected an integer between"),
                    "{messages:?}"
                );
                assert!(
                    messages[5].starts_with("g: expected an integer"),
                    "{messages:?}"
                );
            },
        );
        with_request(&[], "", &[("x-b", "1")], |req| {
            let mut errors = Errors::default();
            let missing = errors.header(req, "x-a", string);
            assert_eq!(errors.require("header", "x-a", missing), None);
            let problem = errors.into_problem();
            assert_eq!(problem.errors[0].location, "header");
            assert_eq!(problem.errors[0].name.as_deref(), Some("x-a"));
            assert_eq!(problem.errors[0].message, "is required");
        });
    }

    #[test]
    fn arrays_explode_or_split() {
        with_request(&[], "tag=a&tag=b%2Cc", &[], |req| {
            let mut errors = Errors::default();
            assert_eq!(
                errors.query_array(req, "tag", true, string),
                Some(Some(vec!["a".into(), "b,c".into()]))
            );
        });
        with_request(&[], "tag=a,b+c", &[], |req| {
            let mut errors = Errors::default();
            assert_eq!(
                errors.query_array(req, "tag", false, string),
                Some(Some(vec!["a".into(), "b c".into()]))
            );
        });
        with_request(&[], "", &[("x-ids", "1, 2"), ("x-ids", "3")], |req| {
            let mut errors = Errors::default();
            assert_eq!(
                errors.header_array(req, "x-ids", int32),
                Some(Some(vec![1, 2, 3]))
            );
        });
    }

    #[test]
    fn dot_segments_are_refused() {
        with_request(&[".."], "", &[], |req| {
            let mut errors = Errors::default();
            assert_eq!(errors.path(req, 0, "name", string), None);
            assert!(!errors.is_empty());
        });
    }

    #[test]
    fn upstream_path_encodes_values() {
        let forward = UpstreamPath::new()
            .literal("/users/")
            .param(&"../admin?x=1#f")
            .literal("/orders/")
            .param(&42)
            .forward();
        assert_eq!(forward.path, "/users/..%2Fadmin%3Fx%3D1%23f/orders/42");
    }

    #[test]
    fn constraints() {
        assert_eq!(int_range(5, Some((1, false)), Some((5, false))), Ok(()));
        assert!(int_range(5, None, Some((5, true))).is_err());
        assert!(int_range(0, Some((0, true)), None).is_err());
        assert_eq!(number_range(0.5, Some((0.0, true)), None), Ok(()));
        assert_eq!(
            number_range(-1.0, Some((0.0, false)), Some((9.5, false))),
            Err("must be >= 0 and <= 9.5".to_owned())
        );
        assert_eq!(int_multiple_of(-15, 5), Ok(()));
        assert!(int_multiple_of(7, 5).is_err());
        assert_eq!(length("héllo", Some(5), Some(5)), Ok(()));
        assert!(length("hi", Some(3), None).is_err());
    }

    #[test]
    fn array_sizes_and_uniqueness() {
        let mut errors = Errors::default();
        assert_eq!(
            errors.items("query", "t", Some(Some(vec![1, 2])), Some(1), Some(2), true),
            Some(Some(vec![1, 2]))
        );
        assert_eq!(
            errors.items::<i32>("query", "t", Some(None), Some(1), None, false),
            Some(None)
        );
        assert!(errors.is_empty());
        assert_eq!(
            errors.items("query", "t", Some(Some(vec![1, 2, 1])), None, Some(2), true),
            None
        );
        let problem = errors.into_problem();
        assert_eq!(problem.errors.len(), 2);
        assert!(problem.errors[1].message.contains("item 2"));
        // Past 16 items, by hash: still `==`, so `-0` repeats `0`.
        let mut errors = Errors::default();
        let mut numbers: Vec<f64> = (1..40).map(f64::from).collect();
        assert!(
            errors
                .items("query", "n", Some(Some(numbers.clone())), None, None, true)
                .is_some()
        );
        numbers.extend([0.0, -0.0]);
        assert_eq!(
            errors.items("query", "n", Some(Some(numbers)), None, None, true),
            None
        );
        let mut words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        words.push("w7".to_owned());
        assert_eq!(
            errors.items("query", "w", Some(Some(words)), None, None, true),
            None
        );
        let messages: Vec<String> = errors
            .into_problem()
            .errors
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(
            messages,
            [
                "items must be unique; item 40 repeats an earlier one",
                "items must be unique; item 40 repeats an earlier one"
            ]
        );
    }

    #[test]
    fn echo_is_bounded() {
        let long = "a".repeat(1000);
        let echoed = echo(&long);
        assert_eq!(echoed.chars().count(), ECHO_MAX + 1);
        assert_eq!(echo("a\nb"), "a\u{fffd}b");
    }
}
