//! From a file's text to a JSON document that declares an OpenAPI version the gateway reads.
//!
//! Every later pass works on one `serde_json::Value`, whatever the author wrote, so the
//! differences between YAML and JSON (non-string keys, tags, merge keys, numbers beyond 64
//! bits, duplicate keys) are settled here, once, with diagnostics at the author's line. The
//! version is checked next, before anything looks inside: a Swagger 2.0 document would
//! otherwise fail in ways that do not say what is wrong.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};

use super::{INVALID, SYNTAX, SpecVersion, UNSUPPORTED_VERSION};
use crate::diag::{Diagnostic, Location, pointer_push};

// ---------------------------------------------------------------------------------------
// Parsing text

/// YAML or JSON text -> JSON value; `None` (with a diagnostic) when it is not a document.
/// A `serde_yaml::Value` that also takes integers beyond 64 bits (as the nearest float, as
/// JSON parsers do): real specs write `minimum: -9223372036854776000`, which
/// `serde_yaml::Value` refuses. Duplicate keys are still refused.
struct LenientYaml(serde_yaml::Value);

impl<'de> serde::Deserialize<'de> for LenientYaml {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(LenientVisitor)
            .map(LenientYaml)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = serde_yaml::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Number(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Number((v as f64).into()))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Number((v as f64).into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Number(v.into()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LenientVisitor)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(LenientYaml(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_yaml::Value::Sequence(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut mapping = serde_yaml::Mapping::new();
        while let Some(LenientYaml(key)) = map.next_key()? {
            let LenientYaml(value) = map.next_value()?;
            if mapping.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate entry with key {key:?}"
                )));
            }
            mapping.insert(key, value);
        }
        Ok(serde_yaml::Value::Mapping(mapping))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        use serde::de::VariantAccess;
        let (tag, contents) = data.variant::<String>()?;
        let LenientYaml(value) = contents.newtype_variant()?;
        Ok(serde_yaml::Value::Tagged(Box::new(
            serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new(tag),
                value,
            },
        )))
    }
}

pub(super) fn parse_text(path: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        return match serde_json::from_str::<Value>(text) {
            Ok(value) => Some(value),
            Err(error) => {
                let location = if error.line() > 0 {
                    Location::at(path, error.line(), error.column().max(1))
                } else {
                    Location::new(path, "")
                };
                diags.push(
                    Diagnostic::error(SYNTAX, format!("the spec is not valid JSON: {error}"))
                        .at(location)
                        .help("fix the JSON syntax at the marked position"),
                );
                None
            }
        };
    }
    // Through serde_yaml's own Value: it rejects duplicate keys (a JSON map would silently
    // keep the last) and lets us turn non-string keys into strings deliberately.
    let yaml = serde_yaml::from_str::<LenientYaml>(text).and_then(|LenientYaml(mut v)| {
        v.apply_merge()?;
        Ok(v)
    });
    let yaml = match yaml {
        Ok(yaml) => yaml,
        Err(error) => {
            // serde_yaml places a duplicate key at its mapping's start; find the key itself.
            if let Some((key, line, column)) = first_duplicate_key(text) {
                diags.push(
                    Diagnostic::error(SYNTAX, format!("duplicate key `{key}`"))
                        .at(Location::at(path, line, column))
                        .help("a mapping may hold each key once; remove or rename one of them"),
                );
                return None;
            }
            let location = match error.location() {
                Some(at) => Location::at(path, at.line(), at.column()),
                None => Location::new(path, ""),
            };
            diags.push(
                Diagnostic::error(SYNTAX, format!("the spec is not valid YAML: {error}"))
                    .at(location)
                    .help("fix the YAML syntax at the marked position"),
            );
            return None;
        }
    };
    let before = diags.len();
    let value = yaml_to_json(yaml, path, "", diags);
    (diags.len() == before).then_some(value)
}

/// The first key that repeats within one YAML mapping: (key, line, column).
fn first_duplicate_key(text: &str) -> Option<(String, usize, usize)> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;

    enum Frame {
        Mapping {
            keys: BTreeSet<String>,
            want_key: bool,
        },
        Sequence,
        /// A collection used as a key: nothing inside is a member.
        ComplexKey(usize),
    }
    struct Finder {
        stack: Vec<Frame>,
        found: Option<(String, usize, usize)>,
    }
    impl Finder {
        /// A node starts in value position: its mapping now waits for the next key.
        fn value_started(&mut self) {
            if let Some(Frame::Mapping { want_key, .. }) = self.stack.last_mut() {
                *want_key = true;
            }
        }
        fn open(&mut self, frame: Frame) {
            match self.stack.last_mut() {
                Some(Frame::ComplexKey(depth)) => *depth += 1,
                Some(Frame::Mapping { want_key: true, .. }) => {
                    self.stack.push(Frame::ComplexKey(1))
                }
                _ => {
                    self.value_started();
                    self.stack.push(frame);
                }
            }
        }
        fn close(&mut self) {
            if let Some(Frame::ComplexKey(depth)) = self.stack.last_mut()
                && *depth > 1
            {
                *depth -= 1;
                return;
            }
            if let Some(Frame::ComplexKey(_)) = self.stack.pop()
                && let Some(Frame::Mapping { want_key, .. }) = self.stack.last_mut()
            {
                *want_key = false;
            }
        }
    }
    impl MarkedEventReceiver for Finder {
        fn on_event(&mut self, event: Event, mark: Marker) {
            if self.found.is_some() {
                return;
            }
            match event {
                Event::Scalar(text, ..) => match self.stack.last_mut() {
                    Some(Frame::Mapping { keys, want_key }) if *want_key => {
                        *want_key = false;
                        if !keys.insert(text.clone()) {
                            self.found = Some((text, mark.line(), mark.col() + 1));
                        }
                    }
                    Some(Frame::ComplexKey(_)) => {}
                    _ => self.value_started(),
                },
                Event::Alias(_) => {
                    if let Some(Frame::Mapping { want_key, .. }) = self.stack.last_mut() {
                        *want_key = !*want_key;
                    }
                }
                Event::MappingStart(..) => self.open(Frame::Mapping {
                    keys: BTreeSet::new(),
                    want_key: true,
                }),
                Event::SequenceStart(..) => self.open(Frame::Sequence),
                Event::MappingEnd | Event::SequenceEnd => self.close(),
                _ => {}
            }
        }
    }
    let mut finder = Finder {
        stack: Vec::new(),
        found: None,
    };
    let _ = Parser::new_from_str(text).load(&mut finder, false);
    finder.found
}

fn yaml_to_json(
    value: serde_yaml::Value,
    path: &Path,
    pointer: &str,
    diags: &mut Vec<Diagnostic>,
) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(number) => Value::Number(number),
                    None => {
                        diags.push(
                            Diagnostic::error(
                                SYNTAX,
                                format!("`{n}` is not a number JSON can represent"),
                            )
                            .at(Location::new(path, pointer))
                            .help("quote it if it is meant as a string"),
                        );
                        Value::Null
                    }
                }
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    yaml_to_json(item, path, &pointer_push(pointer, &i.to_string()), diags)
                })
                .collect(),
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    // `200:` and `true:` are keys the author meant as text.
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_owned(),
                    Y::Tagged(tagged) => match tagged.value {
                        Y::String(s) => s,
                        _ => {
                            push_complex_key(path, pointer, diags);
                            continue;
                        }
                    },
                    Y::Sequence(_) | Y::Mapping(_) => {
                        push_complex_key(path, pointer, diags);
                        continue;
                    }
                };
                let child = pointer_push(pointer, &key);
                let item = yaml_to_json(item, path, &child, diags);
                if map.insert(key.clone(), item).is_some() {
                    diags.push(
                        Diagnostic::error(SYNTAX, format!("duplicate key `{key}`"))
                            .at(Location::key(path, child))
                            .help("`200` and `\"200\"` are the same key once read; keep one"),
                    );
                }
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value, path, pointer, diags),
    }
}

fn push_complex_key(path: &Path, pointer: &str, diags: &mut Vec<Diagnostic>) {
    diags.push(
        Diagnostic::error(SYNTAX, "a mapping key must be a scalar")
            .at(Location::new(path, pointer))
            .help("OpenAPI documents are JSON: use string keys"),
    );
}

// ---------------------------------------------------------------------------------------
// Version

pub(super) fn detect_version(
    path: &Path,
    doc: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<(SpecVersion, String)> {
    let Value::Object(map) = doc else {
        diags.push(
            Diagnostic::error(
                INVALID,
                format!(
                    "the spec is not an OpenAPI document: its top level is {}",
                    kind_of(doc)
                ),
            )
            .at(Location::new(path, ""))
            .help("an OpenAPI document is a mapping starting with `openapi: 3.0.3` (or 3.1.0)"),
        );
        return None;
    };
    if let Some(swagger) = map.get("swagger") {
        diags.push(
            Diagnostic::error(
                UNSUPPORTED_VERSION,
                format!(
                    "Swagger {} documents are not supported; the gateway reads OpenAPI 3.0 and 3.1",
                    scalar_text(swagger)
                ),
            )
            .at(Location::key(path, "/swagger"))
            .help("convert it to OpenAPI 3 (e.g. with swagger2openapi)"),
        );
        return None;
    }
    let Some(declared) = map.get("openapi") else {
        diags.push(
            Diagnostic::error(UNSUPPORTED_VERSION, "the spec has no `openapi` version field")
                .at(Location::new(path, ""))
                .help("start the spec with `openapi: 3.0.3` (or 3.1.0); the gateway reads OpenAPI 3.0 and 3.1"),
        );
        return None;
    };
    let text = match declared {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => scalar_text(other),
    };
    let version = match text.trim().split('.').collect::<Vec<_>>().as_slice() {
        ["3", "0"] | ["3", "0", _] => Some(SpecVersion::V30),
        ["3", "1"] | ["3", "1", _] => Some(SpecVersion::V31),
        _ => None,
    };
    match version {
        Some(version) => Some((version, text)),
        None => {
            let help = if text.starts_with('2') {
                "convert it to OpenAPI 3 (e.g. with swagger2openapi)"
            } else {
                "the gateway reads OpenAPI 3.0.x and 3.1.x; set `openapi` to one of them"
            };
            diags.push(
                Diagnostic::error(
                    UNSUPPORTED_VERSION,
                    format!("OpenAPI version `{text}` is not supported"),
                )
                .at(Location::new(path, "/openapi"))
                .help(help),
            );
            None
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod lenient_tests {
    use super::*;

    #[test]
    fn integers_beyond_64_bits_are_numbers() {
        let mut diags = Vec::new();
        let value = parse_text(
            Path::new("big.yaml"),
            "a: -9223372036854776000\nb: 18446744073709551616\nc: 7\n",
            &mut diags,
        )
        .unwrap();
        assert!(diags.is_empty());
        assert_eq!(value["a"].as_f64(), Some(-9223372036854776000.0));
        assert_eq!(value["b"].as_f64(), Some(18446744073709551616.0));
        assert_eq!(value["c"].as_i64(), Some(7));
        assert!(parse_text(Path::new("dup.yaml"), "a: 1\na: 2\n", &mut diags).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::tests::{INFO, codes, fixture, load};

    #[test]
    fn yaml_integer_keys_become_strings() {
        let spec = format!(
            "openapi: 3.0.3\n{INFO}paths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n        404: {{description: no}}\n"
        );
        let dir = fixture(&[("api.yaml", &spec)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        let responses = &loaded.document["paths"]["/a"]["get"]["responses"];
        assert_eq!(responses["200"]["description"], "ok");
        assert_eq!(responses["404"]["description"], "no");
        assert_eq!(loaded.version, SpecVersion::V30);
        assert_eq!(loaded.declared_version, "3.0.3");
        let op = loaded.openapi.paths.paths["/a"]
            .as_item()
            .unwrap()
            .get
            .as_ref()
            .unwrap();
        assert_eq!(op.responses.responses.len(), 2);
    }

    #[test]
    fn json_specs_and_syntax_errors() {
        let dir = fixture(&[
            (
                "ok.json",
                r#"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}"#,
            ),
            ("bad.json", "{\n  \"openapi\": \"3.0.0\",\n  oops\n}"),
            ("bad.yaml", "openapi: 3.0.0\ninfo: [\n"),
            ("dup.yaml", "openapi: 3.0.0\npaths: {}\npaths: {}\n"),
        ]);
        let (loaded, diags) = load(&dir, "ok.json");
        assert!(loaded.is_some() && diags.is_empty(), "{diags:?}");
        for (file, line) in [("bad.json", 3), ("bad.yaml", 3), ("dup.yaml", 3)] {
            let (loaded, diags) = load(&dir, file);
            assert!(loaded.is_none());
            assert_eq!(codes(&diags), [SYNTAX], "{file}");
            assert_eq!(
                diags.list[0].location.as_ref().unwrap().line,
                Some(line),
                "{file}: {diags:?}"
            );
        }
    }

    #[test]
    fn swagger_and_unknown_versions_are_rejected() {
        let dir = fixture(&[
            (
                "swagger.yaml",
                "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
            ),
            ("four.yaml", "openapi: 4.0.0\npaths: {}\n"),
            ("none.yaml", "info: {title: t}\n"),
            ("list.yaml", "- a\n"),
        ]);
        let (loaded, diags) = load(&dir, "swagger.yaml");
        assert!(loaded.is_none());
        assert_eq!(codes(&diags), [UNSUPPORTED_VERSION]);
        assert_eq!(
            diags.list[0].help.as_deref(),
            Some("convert it to OpenAPI 3 (e.g. with swagger2openapi)")
        );
        for (file, code) in [
            ("four.yaml", UNSUPPORTED_VERSION),
            ("none.yaml", UNSUPPORTED_VERSION),
            ("list.yaml", INVALID),
        ] {
            let (loaded, diags) = load(&dir, file);
            assert!(loaded.is_none());
            assert_eq!(codes(&diags), [code], "{file}");
        }
        let (_, diags) = load(&dir, "four.yaml");
        assert!(diags.list[0].message.contains("4.0.0"));
    }

    #[test]
    fn yaml_tags_and_merge_keys_are_read() {
        let spec = "openapi: !!str 3.0.3\ninfo: !x {title: t, version: '1'}\npaths: {}\nx-base: &base {type: string}\ncomponents:\n  schemas:\n    A: {<<: *base, maxLength: 3}\n";
        let dir = fixture(&[("api.yaml", spec)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            loaded.unwrap().document["components"]["schemas"]["A"],
            serde_json::json!({"type": "string", "maxLength": 3})
        );
    }
}
