//! Parameters that are more than one scalar: objects in any place (`deepObject`, `form`
//! with and without `explode`, `simple` in paths and headers), cookies, and arrays in the
//! `pipeDelimited`/`spaceDelimited` styles.
//!
//! An object parameter is turned into a JSON object, each property's text typed by the
//! [`Shape`] the compiler derived from its schema (`"7"` becomes `7` where the property is
//! an integer), and then checked by the same generated validator a JSON body of that
//! schema would be: types, `required`, `additionalProperties`, bounds, formats. A text that
//! is not of its property's type stays a string, so the validator refuses it with its
//! usual message, at the property's pointer (`{"in":"query","name":"filter",
//! "pointer":"/size","message":"must be an integer"}`).

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::check::fields::{Grouped, group, grouped, too_many};
use crate::check::json::Validate;
use crate::check::params::{Errors, Parse, Request};
use crate::check::steps::step;

/// The JSON type a parameter's text is read as, from its schema.
#[derive(Debug)]
pub enum Shape {
    String,
    Integer,
    Number,
    Boolean,
    Array(&'static Shape),
    /// Properties the schema names (others are read as strings).
    Object(&'static [(&'static str, Shape)]),
    /// No single type (`anyOf`, no `type`): kept as the text.
    Any,
}

impl Shape {
    /// The shape of property `name` of an object shape.
    pub fn property(&self, name: &str) -> &Shape {
        match self {
            Shape::Object(properties) => properties
                .iter()
                .find(|(n, _)| {
                    step();
                    *n == name
                })
                .map(|(_, s)| s)
                .unwrap_or(&Shape::Any),
            _ => &Shape::Any,
        }
    }

    /// One text as a JSON value of this shape; a text that is not one stays a string.
    pub fn scalar(&self, raw: &str) -> Value {
        let typed = match self {
            Shape::Integer if is_json_integer(raw) => number(raw),
            Shape::Number if is_json_number(raw) => number(raw),
            Shape::Boolean => match raw {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Shape::Array(item) => return Value::Array(vec![item.scalar(raw)]),
            _ => None,
        };
        typed.unwrap_or_else(|| Value::String(raw.to_owned()))
    }

    /// Several texts (a repeated key, or a delimited list) as a value of this shape: an
    /// array shape gets them as items; any other keeps the first (the caller reports the
    /// repetition).
    pub fn values(&self, raw: &[&str]) -> Value {
        match self {
            Shape::Array(item) => Value::Array(raw.iter().map(|r| item.scalar(r)).collect()),
            _ => self.scalar(raw.first().copied().unwrap_or_default()),
        }
    }
}

/// `-?(0|[1-9][0-9]*)`: what JSON spells as an integer (no `+`, no leading zeros).
fn is_json_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// A JSON number literal.
fn is_json_number(raw: &str) -> bool {
    let rest = raw.strip_prefix('-').unwrap_or(raw);
    let (int, rest) = rest
        .find(['.', 'e', 'E'])
        .map_or((rest, ""), |i| rest.split_at(i));
    if !is_json_integer(int) {
        return false;
    }
    let (frac, exp) = match rest.strip_prefix('.') {
        Some(after) => after
            .find(['e', 'E'])
            .map_or((Some(after), ""), |i| (Some(&after[..i]), &after[i..])),
        None => (None, rest),
    };
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    let exp_ok = exp.is_empty()
        || exp[1..]
            .strip_prefix(['+', '-'])
            .unwrap_or(&exp[1..])
            .bytes()
            .all(|b| b.is_ascii_digit())
            && exp.len() > 1
            && !matches!(&exp[1..], "+" | "-");
    frac_ok && exp_ok
}

/// A JSON number from its literal, exact for integers that fit `i64` or `u64`; larger ones
/// are kept as `f64` (compared to bounds as such, never wrapped). `None` if it overflows.
fn number(raw: &str) -> Option<Value> {
    if let Ok(i) = raw.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = raw.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    raw.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Where a structured parameter is, and how it is written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Query: `?filter[size]=3&filter[color]=red`.
    DeepObject,
    /// Query: `?size=3&color=red` (explode) or `?filter=size,3,color,red`.
    Form { explode: bool },
    /// Query: `?filter=size|3|color|red`.
    PipeDelimited,
    /// Query: `?filter=size%203%20color%20red`.
    SpaceDelimited,
    /// Header or path: `size=3,color=red` (explode) or `size,3,color,red`.
    Simple { explode: bool },
    /// Cookie: `Cookie: size=3; color=red` (explode) or `Cookie: filter=size,3,color,red`.
    Cookie { explode: bool },
}

/// The place of a structured parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// The path parameter at this index (template order).
    Path(usize),
    Query,
    Header,
    Cookie,
}

impl In {
    fn as_str(self) -> &'static str {
        match self {
            In::Path(_) => "path",
            In::Query => "query",
            In::Header => "header",
            In::Cookie => "cookie",
        }
    }
}

/// The values of cookie `name` in the request's `Cookie` header(s), percent-decoded; the
/// message for the client when a header is not visible ASCII, a value is not UTF-8 once
/// decoded, or the headers hold more pairs than the request's `max_fields`.
pub fn cookie_values<'r>(req: &'r Request<'_>, name: &str) -> Result<Vec<Cow<'r, str>>, String> {
    let unreadable = || "the Cookie header is not readable".to_owned();
    let mut found = Vec::new();
    let mut pairs = 0;
    for header in req.header_values("cookie") {
        let header = header.map_err(|()| unreadable())?;
        for pair in header.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            step();
            pairs += 1;
            if pairs > req.max_fields() {
                return Err(format!(
                    "the Cookie header {}",
                    too_many(req.max_fields(), "pairs")
                ));
            }
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            if key.trim() == name {
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                let decoded = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| unreadable())?;
                found.push(decoded);
            }
        }
    }
    Ok(found)
}

fn split_pairs<'v>(list: &[&'v str], explode: bool) -> Result<Vec<(&'v str, &'v str)>, String> {
    if explode {
        return list
            .iter()
            .map(|item| {
                item.split_once('=')
                    .ok_or_else(|| format!("`{item}` is not a name=value pair"))
            })
            .collect();
    }
    if !list.len().is_multiple_of(2) {
        return Err("must be a list of name,value pairs".to_owned());
    }
    Ok(list.chunks(2).map(|pair| (pair[0], pair[1])).collect())
}

/// Properties in the order read, a repeated one with all its values.
type Properties<'v> = Grouped<'v, Cow<'v, str>>;

impl Errors {
    /// An array query parameter in the `pipeDelimited` (`|`) or `spaceDelimited` style: one
    /// value split at `separator` (a repeated key is an error).
    pub fn query_delimited<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        separator: char,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        let raw: Vec<&str> = req.query_values(name).collect();
        match raw.as_slice() {
            [] => Some(None),
            [one] => self.parse_items("query", name, one.split(separator).collect(), parse),
            _ => {
                self.push("query", name, "must appear at most once".to_owned());
                None
            }
        }
    }

    /// A scalar cookie parameter (`form` style): `Some(None)` when absent, `None` on error.
    pub fn cookie<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<T>> {
        let values = match cookie_values(req, name) {
            Ok(values) => values,
            Err(message) => {
                self.push("cookie", name, message);
                return None;
            }
        };
        match values.as_slice() {
            [] => Some(None),
            [one] => self.parse_one("cookie", name, one, parse).map(Some),
            _ => {
                self.push("cookie", name, "must appear at most once".to_owned());
                None
            }
        }
    }

    /// An array cookie parameter: `ids=1,2,3`, or with `explode` one cookie per item.
    pub fn cookie_array<T>(
        &mut self,
        req: &Request<'_>,
        name: &str,
        explode: bool,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        let values = match cookie_values(req, name) {
            Ok(values) => values,
            Err(message) => {
                self.push("cookie", name, message);
                return None;
            }
        };
        if values.is_empty() {
            return Some(None);
        }
        if !explode && values.len() > 1 {
            self.push("cookie", name, "must appear at most once".to_owned());
            return None;
        }
        let items: Vec<&str> = if explode {
            values.iter().map(|v| v.as_ref()).collect()
        } else {
            values[0].split(',').collect()
        };
        self.parse_items("cookie", name, items, parse)
    }

    /// A path parameter that is an array (`simple` style: `1,2,3`).
    pub fn path_array<T>(
        &mut self,
        req: &Request<'_>,
        index: usize,
        name: &str,
        parse: Parse<T>,
    ) -> Option<Option<Vec<T>>> {
        let raw = self.path_value(req, index, name)?;
        self.parse_items("path", name, raw.split(',').collect(), parse)
    }

    /// An object parameter: read in its `style`, typed by `shape`, checked by `validate`
    /// (the generated validator of its schema). `Some(None)` when absent, `None` on error.
    pub fn object(
        &mut self,
        req: &Request<'_>,
        at: In,
        name: &str,
        style: Style,
        shape: &'static Shape,
        validate: Validate,
    ) -> Option<Option<Value>> {
        let location = at.as_str();
        let max = req.max_fields();
        let too_many_members =
            |this: &mut Errors| this.push(location, name, too_many(max, "members"));
        let mut properties: Properties<'_> = grouped();
        // A list of items in one value: `size,3,color,red` or `size=3,color=red`.
        // Header lists may have spaces around their commas (RFC 9110 `#rule`).
        let trim = at == In::Header;
        let mut list = |this: &mut Errors, raw: &str, separator: char, explode: bool| {
            let items: Vec<&str> = raw
                .split(separator)
                .map(|item| {
                    step();
                    if trim { item.trim() } else { item }
                })
                .collect();
            let members = if explode {
                items.len()
            } else {
                items.len() / 2
            };
            if members > max {
                too_many_members(this);
                return false;
            }
            match split_pairs(&items, explode) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        group(
                            &mut properties,
                            Cow::Owned(k.trim().to_owned()),
                            Cow::Owned(v.to_owned()),
                        );
                    }
                    true
                }
                Err(message) => {
                    this.push(location, name, message);
                    false
                }
            }
        };
        let present = match (at, style) {
            (In::Query, Style::DeepObject) => {
                let prefix = format!("{name}[");
                let mut members = 0;
                for (key, value) in req.query_pairs() {
                    if let Some(property) = key
                        .strip_prefix(prefix.as_str())
                        .and_then(|rest| rest.strip_suffix(']'))
                    {
                        members += 1;
                        if members > max {
                            too_many_members(self);
                            return None;
                        }
                        group(
                            &mut properties,
                            Cow::Owned(property.to_owned()),
                            Cow::Owned(value.to_owned()),
                        );
                    }
                }
                members > 0
            }
            (In::Query, Style::Form { explode: true }) => {
                // Each property is a query parameter of its own; only those the schema
                // names can be told apart from the operation's other parameters.
                if let Shape::Object(known) = shape {
                    for (property, _) in *known {
                        for value in req.query_values(property) {
                            group(
                                &mut properties,
                                Cow::Borrowed(property),
                                Cow::Owned(value.to_owned()),
                            );
                        }
                    }
                }
                !properties.is_empty()
            }
            (In::Query, _) => {
                let raw: Vec<&str> = req.query_values(name).collect();
                let separator = match style {
                    Style::PipeDelimited => '|',
                    Style::SpaceDelimited => ' ',
                    _ => ',',
                };
                match raw.as_slice() {
                    [] => false,
                    [one] => {
                        if !list(self, one, separator, false) {
                            return None;
                        }
                        true
                    }
                    _ => {
                        self.push(location, name, "must appear at most once".to_owned());
                        return None;
                    }
                }
            }
            (In::Header, _) => {
                let mut joined = String::new();
                for value in req.header_values(name) {
                    let Ok(value) = value else {
                        self.push(location, name, "must be visible ASCII".to_owned());
                        return None;
                    };
                    if !joined.is_empty() {
                        joined.push(',');
                    }
                    joined.push_str(value);
                }
                if joined.is_empty() {
                    false
                } else {
                    let explode = matches!(style, Style::Simple { explode: true });
                    if !list(self, &joined, ',', explode) {
                        return None;
                    }
                    true
                }
            }
            (In::Path(index), _) => {
                let raw = req.path_param(index).unwrap_or_default().to_owned();
                let explode = matches!(style, Style::Simple { explode: true });
                if !list(self, &raw, ',', explode) {
                    return None;
                }
                true
            }
            (In::Cookie, _) => {
                let explode = matches!(style, Style::Cookie { explode: true });
                let mut found = Vec::new();
                if explode {
                    if let Shape::Object(known) = shape {
                        for (property, _) in *known {
                            match cookie_values(req, property) {
                                Ok(values) => {
                                    for value in values {
                                        found.push((*property, value.into_owned()));
                                    }
                                }
                                Err(message) => {
                                    self.push(location, name, message);
                                    return None;
                                }
                            }
                        }
                    }
                    for (property, value) in found {
                        group(&mut properties, Cow::Borrowed(property), Cow::Owned(value));
                    }
                    !properties.is_empty()
                } else {
                    let values = match cookie_values(req, name) {
                        Ok(values) => values,
                        Err(message) => {
                            self.push(location, name, message);
                            return None;
                        }
                    };
                    match values.as_slice() {
                        [] => false,
                        [one] => {
                            let one = one.clone().into_owned();
                            if !list(self, &one, ',', false) {
                                return None;
                            }
                            true
                        }
                        _ => {
                            self.push(location, name, "must appear at most once".to_owned());
                            return None;
                        }
                    }
                }
            }
        };
        if !present {
            return Some(None);
        }
        // Exploded members are query pairs or cookies of their own, counted as such; the
        // object is held to the limit too.
        if properties.values().map(Vec::len).sum::<usize>() > max {
            too_many_members(self);
            return None;
        }
        let mut object = Map::new();
        let mut ok = true;
        for (key, values) in &properties {
            step();
            let property = shape.property(key);
            if values.len() > 1 && !matches!(property, Shape::Array(_)) {
                self.push(
                    location,
                    name,
                    format!("property `{key}` must appear at most once"),
                );
                ok = false;
                continue;
            }
            let raw: Vec<&str> = values.iter().map(|v| v.as_ref()).collect();
            object.insert(key.clone().into_owned(), property.values(&raw));
        }
        if !ok {
            return None;
        }
        let value = Value::Object(object);
        self.check(location, name, &value, validate)
            .then_some(Some(value))
    }

    /// Runs a generated validator on a parameter's value; its failures are the
    /// parameter's, with their pointers inside the value.
    pub fn check(
        &mut self,
        location: &'static str,
        name: &str,
        value: &Value,
        validate: Validate,
    ) -> bool {
        let errors = crate::check::json::check_owned(value, validate);
        if errors.is_empty() {
            return true;
        }
        for mut error in errors.into_errors() {
            error.location = location;
            error.name = Some(name.to_owned());
            self.push_error(error);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::json::Type;
    use crate::check::json::{BodyErrors, Pointer};

    static FILTER: Shape = Shape::Object(&[
        ("size", Shape::Integer),
        ("color", Shape::String),
        ("tags", Shape::Array(&Shape::String)),
        ("big", Shape::Integer),
        ("on", Shape::Boolean),
    ]);

    /// `{type: object, required: [size], additionalProperties: false, properties: {size:
    /// {type: integer, maximum: 18446744073709551615}, color: string, tags: array, big:
    /// integer <= i64::MAX, on: boolean}}`, as the compiler would generate it.
    fn validate_filter<'t>(
        value: crate::check::json::Value<'t>,
        at: &mut Pointer<'t>,
        errors: &mut BodyErrors,
    ) {
        if !errors.types(at, value, &[Type::Object]) {
            return;
        }
        let Some(object) = value.as_object() else {
            return;
        };
        errors.required(at, &[("size", object.contains_key("size"))]);
        for (key, _) in object.iter() {
            if !["size", "color", "tags", "big", "on"].contains(&key) {
                errors.not_allowed(at, key);
            }
        }
        for (key, ty) in [
            ("size", Type::Integer),
            ("color", Type::String),
            ("tags", Type::Array),
            ("big", Type::Integer),
            ("on", Type::Boolean),
        ] {
            if let Some(v) = object.get(key) {
                at.push_key(key);
                if errors.types(at, v, &[ty])
                    && key == "big"
                    && let Some(n) = v.as_number()
                {
                    errors.range(
                        at,
                        &n,
                        None,
                        Some((crate::check::json::Bound::Int(i64::MAX), false)),
                    );
                }
                at.pop();
            }
        }
    }

    /// `(in, pointer, message)` of one failure.
    type Failure = (String, Option<String>, String);

    fn with_request<R>(
        path: &[&str],
        query: &str,
        headers: &[(&str, &str)],
        f: impl FnOnce(&Request<'_>) -> R,
    ) -> R {
        let path: Vec<Cow<str>> = path.iter().map(|s| Cow::Borrowed(*s)).collect();
        let query = crate::check::params::parse_query(query);
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        f(&Request::new(&path, &query, &map, 1000))
    }

    fn read(
        at: In,
        style: Style,
        path: &[&str],
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<Value>, Vec<Failure>> {
        with_request(path, query, headers, |req| {
            let mut errors = Errors::default();
            match errors.object(req, at, "filter", style, &FILTER, validate_filter) {
                Some(value) if errors.is_empty() => Ok(value),
                _ => Err(errors
                    .into_problem()
                    .errors
                    .into_iter()
                    .map(|e| (e.location.to_owned(), e.pointer, e.message))
                    .collect()),
            }
        })
    }

    #[test]
    fn deep_objects_are_typed_and_validated() {
        let value = read(
            In::Query,
            Style::DeepObject,
            &[],
            "filter[size]=3&filter[color]=dark%20red&filter[tags]=a&filter[tags]=b&other=1",
            &[],
        )
        .unwrap();
        assert_eq!(
            value,
            Some(serde_json::json!({"size": 3, "color": "dark red", "tags": ["a", "b"]}))
        );
        assert_eq!(
            read(In::Query, Style::DeepObject, &[], "other=1", &[]),
            Ok(None)
        );
        let errors = read(
            In::Query,
            Style::DeepObject,
            &[],
            "filter[size]=x&filter[on]=True&filter[extra]=1",
            &[],
        )
        .unwrap_err();
        let pointers: Vec<_> = errors.iter().map(|e| e.1.clone().unwrap()).collect();
        assert_eq!(pointers, ["/extra", "/size", "/on"], "{errors:?}");
        assert!(errors.iter().all(|e| e.0 == "query"));
        assert_eq!(errors[1].2, "must be an integer");
        assert_eq!(errors[2].2, "must be a boolean");
        // Missing a required property.
        let errors = read(In::Query, Style::DeepObject, &[], "filter[color]=x", &[]).unwrap_err();
        assert_eq!(errors[0].1.as_deref(), Some(""));
        assert!(errors[0].2.contains("`size`"));
        // A scalar property twice.
        let errors = read(
            In::Query,
            Style::DeepObject,
            &[],
            "filter[size]=1&filter[size]=2",
            &[],
        )
        .unwrap_err();
        assert!(errors[0].2.contains("at most once"), "{errors:?}");
    }

    #[test]
    fn big_integers_are_compared_never_wrapped() {
        let big = |n: &str| {
            read(
                In::Query,
                Style::DeepObject,
                &[],
                &format!("filter[size]=1&filter[big]={n}"),
                &[],
            )
        };
        assert!(big("9223372036854775807").is_ok());
        for too_big in [
            "9223372036854775808",
            "18446744073709551616",
            "1000000000000000000000000",
        ] {
            let errors = big(too_big).unwrap_err();
            assert_eq!(errors[0].1.as_deref(), Some("/big"), "{too_big}");
            assert!(errors[0].2.contains("<= 9223372036854775807"), "{errors:?}");
        }
        // Not JSON integers: left as strings, refused by type.
        for odd in ["+1", "01", "1e3", "0x10", ""] {
            let errors = big(odd).unwrap_err();
            assert_eq!(errors[0].2, "must be an integer", "{odd}");
        }
    }

    #[test]
    fn form_styles() {
        // explode: the properties are parameters of their own.
        assert_eq!(
            read(
                In::Query,
                Style::Form { explode: true },
                &[],
                "size=2&color=red&page=1",
                &[]
            ),
            Ok(Some(serde_json::json!({"size": 2, "color": "red"})))
        );
        assert_eq!(
            read(
                In::Query,
                Style::Form { explode: false },
                &[],
                "filter=size,2,color,red",
                &[]
            ),
            Ok(Some(serde_json::json!({"size": 2, "color": "red"})))
        );
        assert!(
            read(
                In::Query,
                Style::Form { explode: false },
                &[],
                "filter=size,2,color",
                &[]
            )
            .is_err()
        );
        assert!(
            read(
                In::Query,
                Style::Form { explode: false },
                &[],
                "filter=size,2&filter=size,3",
                &[]
            )
            .is_err()
        );
        assert_eq!(
            read(In::Query, Style::PipeDelimited, &[], "filter=size|2", &[]),
            Ok(Some(serde_json::json!({"size": 2})))
        );
        assert_eq!(
            read(In::Query, Style::SpaceDelimited, &[], "filter=size+2", &[]),
            Ok(Some(serde_json::json!({"size": 2})))
        );
    }

    #[test]
    fn simple_objects_in_headers_paths_and_cookies() {
        assert_eq!(
            read(
                In::Header,
                Style::Simple { explode: true },
                &[],
                "",
                &[("filter", "size=2, color=red")]
            ),
            Ok(Some(serde_json::json!({"size": 2, "color": "red"})))
        );
        assert_eq!(
            read(
                In::Header,
                Style::Simple { explode: false },
                &[],
                "",
                &[("filter", "size, 2 ,color,red")]
            ),
            Ok(Some(serde_json::json!({"size": 2, "color": "red"})))
        );
        assert_eq!(
            read(
                In::Header,
                Style::Simple { explode: false },
                &[],
                "",
                &[("filter", "size,2"), ("filter", "on,true")]
            ),
            Ok(Some(serde_json::json!({"size": 2, "on": true})))
        );
        assert_eq!(
            read(
                In::Path(0),
                Style::Simple { explode: false },
                &["size,2"],
                "",
                &[]
            ),
            Ok(Some(serde_json::json!({"size": 2})))
        );
        assert_eq!(
            read(
                In::Cookie,
                Style::Cookie { explode: false },
                &[],
                "",
                &[("cookie", "a=1; filter=size,2%2C; b=2")]
            ),
            Err(vec![(
                "cookie".to_owned(),
                None,
                "must be a list of name,value pairs".to_owned()
            )])
        );
        assert_eq!(
            read(
                In::Cookie,
                Style::Cookie { explode: false },
                &[],
                "",
                &[("cookie", "a=1; filter=size,2,color,r%C3%A9d")]
            ),
            Ok(Some(serde_json::json!({"size": 2, "color": "réd"})))
        );
        assert_eq!(
            read(
                In::Cookie,
                Style::Cookie { explode: true },
                &[],
                "",
                &[("cookie", "size=4"), ("cookie", "on=false")]
            ),
            Ok(Some(serde_json::json!({"size": 4, "on": false})))
        );
    }

    #[test]
    fn cookies_and_delimited_arrays() {
        with_request(
            &["1,2,x"],
            "ids=1|2|3&s=a%20b+c&twice=1&twice=2",
            &[("cookie", "lang=de; ids=4,5; lang2=%FF")],
            |req| {
                let mut errors = Errors::default();
                assert_eq!(
                    errors.query_delimited(req, "ids", '|', crate::check::params::int32),
                    Some(Some(vec![1, 2, 3]))
                );
                assert_eq!(
                    errors.query_delimited(req, "s", ' ', crate::check::params::string),
                    Some(Some(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]))
                );
                assert_eq!(
                    errors.query_delimited(req, "none", ' ', crate::check::params::string),
                    Some(None)
                );
                assert_eq!(
                    errors.cookie(req, "lang", crate::check::params::string),
                    Some(Some("de".to_owned()))
                );
                assert_eq!(
                    errors.cookie(req, "missing", crate::check::params::string),
                    Some(None)
                );
                assert_eq!(
                    errors.cookie_array(req, "ids", false, crate::check::params::int32),
                    Some(Some(vec![4, 5]))
                );
                assert!(errors.is_empty());
                assert_eq!(
                    errors.query_delimited(req, "twice", '|', crate::check::params::int32),
                    None
                );
                assert_eq!(
                    errors.path_array(req, 0, "p", crate::check::params::int32),
                    None
                );
                let problem = errors.into_problem();
                assert_eq!(problem.errors.len(), 2);
                assert_eq!(problem.errors[1].location, "path");
                assert!(problem.errors[1].message.starts_with("item 2:"));
            },
        );
    }

    /// `gateway.limits.max_fields` (2 here): members of an object in any style, pairs of
    /// the `Cookie` header.
    #[test]
    fn members_and_cookie_pairs_past_max_fields() {
        let path: Vec<Cow<str>> = vec![Cow::Borrowed("size,1,color,red,on,true")];
        let query = crate::check::params::parse_query(
            "filter[size]=1&filter[color]=red&filter[color]=blue&other=1",
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "filter",
            http::HeaderValue::from_static("size=1, color=red"),
        );
        headers.insert("cookie", http::HeaderValue::from_static("a=1; b=2;; c=3"));
        let req = Request::new(&path, &query, &headers, 2);
        let mut errors = Errors::default();
        let too_many = "has more than 2 members, the most `gateway.limits.max_fields` allows";
        for (at, style) in [
            (In::Query, Style::DeepObject),
            (In::Path(0), Style::Simple { explode: false }),
        ] {
            assert_eq!(
                errors.object(&req, at, "filter", style, &FILTER, validate_filter),
                None
            );
        }
        // Two members are within the limit.
        let header = Style::Simple { explode: true };
        let value = errors.object(&req, In::Header, "filter", header, &FILTER, validate_filter);
        assert_eq!(
            value,
            Some(Some(serde_json::json!({"size": 1, "color": "red"})))
        );
        assert_eq!(errors.cookie(&req, "a", crate::check::params::string), None);
        let messages: Vec<(String, String)> = errors
            .into_problem()
            .errors
            .into_iter()
            .map(|e| (e.location.to_owned(), e.message))
            .collect();
        assert_eq!(
            messages,
            [
                ("query".to_owned(), too_many.to_owned()),
                ("path".to_owned(), too_many.to_owned()),
                (
                    "cookie".to_owned(),
                    "the Cookie header has more than 2 pairs, the most `gateway.limits.max_fields` allows"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn number_literals() {
        for ok in ["0", "-0", "1.5", "-1.5e-3", "2E+10", "10"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "1.", ".5", "01", "1e", "1e+", "+1", "1.5.2", "NaN", "inf", "0x1",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
        assert_eq!(
            Shape::Number.scalar("1e400"),
            Value::String("1e400".to_owned())
        );
        assert_eq!(
            Shape::Integer.scalar("18446744073709551615"),
            serde_json::json!(18446744073709551615u64)
        );
    }
}
