//! Loading one service's OpenAPI document: read, bundle, normalize, check, parse.
//!
//! Later stages want one self-contained OpenAPI 3.0 document per service, so this module
//! does everything that depends on the files themselves:
//!
//! - parse YAML or JSON into a `serde_json::Value` (YAML keys like `200:` become strings);
//! - reject Swagger 2.0 and unknown versions before anything else looks at the document;
//! - bundle external file `$ref`s into the root: components of other files are hoisted into
//!   the root's `components` (renamed only on a real collision), anything else is inlined,
//!   and a target that would inline itself (a cycle through files) is hoisted instead;
//! - normalize OpenAPI 3.1 into 3.0 shape, because `openapiv3` models 3.0 only and silently
//!   weakens what it does not understand (a dropped `const` accepts anything);
//! - report every schema keyword `openapiv3` would drop, so no constraint disappears
//!   without a diagnostic;
//! - parse into `openapiv3::OpenAPI`, drilling down to the innermost part that fails so the
//!   error points where the user must look.
//!
//! Bundling moves content around, so [`Origins`] remembers where each inlined or hoisted
//! subtree came from: a diagnostic found later at a pointer into the bundled document is
//! mapped back to the file and pointer the user has to edit.
//!
//! Nothing here panics on input: every lookup is checked, recursion is bounded, and the
//! third-party parser runs on its own thread, so even a panic inside it becomes a diagnostic.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::sources::Sources;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean, pointer_push, pointer_tokens};

/// The OpenAPI version a spec declared; the document is 3.0-shaped either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    V30,
    V31,
}

/// One service's spec, bundled into a single document and parsed.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The root spec file, as given.
    pub file: PathBuf,
    pub version: SpecVersion,
    /// The `openapi` field as written, e.g. "3.1.0".
    pub declared_version: String,
    /// The bundled document (every external file $ref resolved into this one), normalized
    /// to OpenAPI 3.0 shape. Internal refs stay `#/components/...` refs.
    pub document: Value,
    /// Parsed from `document`.
    pub openapi: openapiv3::OpenAPI,
    pub origins: Origins,
}

/// Where each part of the bundled document came from (for diagnostics).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    root: PathBuf,
    /// Pointer into the bundled document -> (file, pointer in that file).
    map: BTreeMap<String, (PathBuf, String)>,
}

impl Origins {
    /// The source location of a pointer into `LoadedSpec::document`: the longest recorded prefix
    /// maps to (file, pointer in that file) and the rest of the pointer is appended.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut prefix = pointer;
        loop {
            if let Some((file, source)) = self.map.get(prefix) {
                let rest = pointer.get(prefix.len()..).unwrap_or_default();
                return Location::new(file.clone(), format!("{source}{rest}"));
            }
            match prefix.rfind('/') {
                Some(cut) => prefix = prefix.get(..cut).unwrap_or_default(),
                None => return Location::new(self.root.clone(), pointer),
            }
        }
    }

    fn record(&mut self, bundled: String, file: PathBuf, pointer: String) {
        self.map.insert(bundled, (file, pointer));
    }
}

const UNREADABLE: &str = "gateway::spec::unreadable";
const SYNTAX: &str = "gateway::spec::syntax";
const UNSUPPORTED_VERSION: &str = "gateway::spec::unsupported_version";
const DANGLING_REF: &str = "gateway::spec::dangling_ref";
const REMOTE_REF: &str = "gateway::spec::remote_ref";
const REF_CYCLE: &str = "gateway::spec::ref_cycle";
const REF_SIBLINGS_IGNORED: &str = "gateway::spec::ref_siblings_ignored";
const UNSUPPORTED_KEYWORD: &str = "gateway::spec::unsupported_keyword";
const INVALID: &str = "gateway::spec::invalid";
const TOO_LARGE: &str = "gateway::spec::too_large";

/// Deeper than any real spec; keeps the recursive walks (and openapiv3's) off the stack's end
/// even when inlining stacks files on top of each other.
const MAX_DEPTH: usize = 160;
/// Nested inlines beyond this are hoisted instead: a chain this long is a cycle in disguise.
const MAX_INLINE_NESTING: usize = 32;
/// Inlining copies; a chain of files each inlining the next twice doubles per level.
const MAX_BUNDLED_NODES: usize = 1_000_000;

/// JSON Schema keywords `openapiv3` does not model (it would drop them silently).
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "patternProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "prefixItems",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "propertyNames",
    "$dynamicRef",
    "$dynamicAnchor",
    "$anchor",
    "$recursiveRef",
];

/// Siblings of a schema `$ref` that would have constrained the value.
const VALIDATION_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "format",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "nullable",
    "readOnly",
    "writeOnly",
];

/// Schema keywords that only annotate or re-scope (dropped on the way to 3.0 shape).
const DROPPED_SCHEMA_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "contentMediaType",
    "contentEncoding",
];

/// The component sections of OpenAPI 3.0 (3.1's `pathItems` has no 3.0 counterpart).
const SECTIONS: &[&str] = &[
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
];

/// Loads, bundles, normalizes and parses one spec. Every problem becomes a diagnostic in `diags`
/// (all of them, not just the first); returns None when the spec cannot be used at all.
pub fn load_spec(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<LoadedSpec> {
    let mut found = Vec::new();
    let loaded = load_inner(path, sources, &mut found);
    let mut seen = BTreeSet::new();
    for d in found {
        // The same problem can be met twice (a target inlined, then hoisted): report it once.
        if seen.insert(format!("{d:?}")) {
            diags.push(d);
        }
    }
    loaded
}

fn load_inner(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
) -> Option<LoadedSpec> {
    let text = match sources.read(path) {
        Ok(text) => text,
        Err(error) => {
            diags.push(
                Diagnostic::error(UNREADABLE, format!("cannot read the spec: {error}"))
                    .at(Location::new(path, ""))
                    .help(format!(
                        "check that `{}` exists (spec paths are relative to the manifest's folder)",
                        path.display()
                    )),
            );
            return None;
        }
    };
    let root = parse_text(path, &text, diags)?;
    let (version, declared_version) = detect_version(path, &root, diags)?;

    let mut bundler = Bundler::new(path, sources, root.clone(), version);
    let mut document = root;
    bundler.walk(&mut document, Kind::Document, path, "", "", 0);
    bundler.drain_jobs();
    bundler.insert_hoisted(&mut document);
    let Bundler {
        diags: bundle_diags,
        origins,
        too_deep,
        ..
    } = bundler;
    diags.extend(bundle_diags);

    check_refs(&document, &origins, diags);
    normalize(&mut document, version);
    if let Value::Object(map) = &mut document {
        // 3.1 now has 3.0 shape; a YAML `openapi: 3.0` is a number, openapiv3 wants a string.
        let openapi = match version {
            SpecVersion::V30 => declared_version.clone(),
            SpecVersion::V31 => "3.0.3".to_owned(),
        };
        map.insert("openapi".into(), Value::String(openapi));
    }
    report_unsupported_keywords(&document, &origins, diags);
    if too_deep {
        return None;
    }
    let openapi = parse_openapi(&document, &origins, diags)?;
    Some(LoadedSpec {
        file: path.to_path_buf(),
        version,
        declared_version,
        document,
        openapi,
        origins,
    })
}

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

fn parse_text(path: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Value> {
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

fn detect_version(
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

// ---------------------------------------------------------------------------------------
// Document structure: which members hold which OpenAPI objects

/// The OpenAPI object a JSON value is in a given position. Walks follow these so that data
/// (examples, defaults, extensions) is never mistaken for structure: an example payload
/// with a `$ref` key is not a reference, a property named `if` is not a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Document,
    Paths,
    PathItem,
    Operation,
    Parameter,
    Header,
    RequestBody,
    MediaType,
    Encoding,
    Responses,
    Response,
    Link,
    Example,
    Callback,
    SecurityScheme,
    Components,
    Schema,
}

impl Kind {
    /// Whether an object of this kind may be a Reference Object.
    fn may_be_ref(self) -> bool {
        !matches!(
            self,
            Kind::Document | Kind::Components | Kind::Paths | Kind::Responses
        )
    }

    /// The components section a hoisted object of this kind goes to.
    fn section(self) -> Option<&'static str> {
        Some(match self {
            Kind::Schema => "schemas",
            Kind::Response => "responses",
            Kind::Parameter => "parameters",
            Kind::Example => "examples",
            Kind::RequestBody => "requestBodies",
            Kind::Header => "headers",
            Kind::SecurityScheme => "securitySchemes",
            Kind::Link => "links",
            _ => return None,
        })
    }

    /// Refs to these are always inlined: openapiv3 has no `ReferenceOr` for path items in
    /// callbacks nor for callbacks in operations, and 3.0 has no `components/pathItems`.
    fn always_inline(self) -> bool {
        matches!(self, Kind::PathItem | Kind::Callback)
    }
}

#[derive(Clone, Copy)]
enum Shape {
    One(Kind),
    Map(Kind),
    List(Kind),
}

fn member_shape(kind: Kind, key: &str) -> Option<Shape> {
    use Kind::*;
    use Shape::{List, Map, One};
    if key.starts_with("x-") {
        return None;
    }
    Some(match (kind, key) {
        (Document, "paths") => One(Paths),
        (Document, "components") => One(Components),
        (Paths, _) => One(PathItem),
        (PathItem, "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace") => {
            One(Operation)
        }
        (PathItem | Operation, "parameters") => List(Parameter),
        (Operation, "requestBody") => One(RequestBody),
        (Operation, "responses") => One(Responses),
        (Operation, "callbacks") => Map(Callback),
        (Callback, _) => One(PathItem),
        (Parameter | Header | MediaType, "schema") => One(Schema),
        (Parameter | Header | RequestBody | Response, "content") => Map(MediaType),
        (Parameter | Header | MediaType, "examples") => Map(Example),
        (MediaType, "encoding") => Map(Encoding),
        (Encoding | Response, "headers") => Map(Header),
        (Responses, _) => One(Response),
        (Response, "links") => Map(Link),
        (Components, "schemas") => Map(Schema),
        (Components, "responses") => Map(Response),
        (Components, "parameters") => Map(Parameter),
        (Components, "examples") => Map(Example),
        (Components, "requestBodies") => Map(RequestBody),
        (Components, "headers") => Map(Header),
        (Components, "securitySchemes") => Map(SecurityScheme),
        (Components, "links") => Map(Link),
        (Components, "callbacks") => Map(Callback),
        (Components, "pathItems") => Map(PathItem),
        (
            Schema,
            "properties" | "patternProperties" | "dependentSchemas" | "dependencies" | "$defs"
            | "definitions",
        ) => Map(Schema),
        (
            Schema,
            "items"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "additionalItems"
            | "contentSchema",
        ) => One(Schema),
        (Schema, "allOf" | "anyOf" | "oneOf" | "prefixItems") => List(Schema),
        _ => return None,
    })
}

/// A member of an object that holds a further OpenAPI object.
struct Child {
    /// One token (a member), or two (a member of a map, an item of a list).
    tokens: Vec<String>,
    kind: Kind,
    /// `additionalProperties`, where `true`/`false` are not boolean schemas to rewrite.
    additional: bool,
}

fn children(map: &Map<String, Value>, kind: Kind) -> Vec<Child> {
    let mut out = Vec::new();
    for (key, value) in map {
        let Some(shape) = member_shape(kind, key) else {
            continue;
        };
        match (shape, value) {
            (Shape::One(kind), _) => out.push(Child {
                tokens: vec![key.clone()],
                kind,
                additional: key == "additionalProperties",
            }),
            (Shape::Map(kind), Value::Object(entries)) => {
                for name in entries.keys() {
                    out.push(Child {
                        tokens: vec![key.clone(), name.clone()],
                        kind,
                        additional: false,
                    });
                }
            }
            (Shape::List(kind), Value::Array(items)) => {
                for i in 0..items.len() {
                    out.push(Child {
                        tokens: vec![key.clone(), i.to_string()],
                        kind,
                        additional: false,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn step<'v>(value: &'v Value, token: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(token.parse::<usize>().ok()?),
        _ => None,
    }
}

fn step_mut<'v>(value: &'v mut Value, token: &str) -> Option<&'v mut Value> {
    match value {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(token.parse::<usize>().ok()?),
        _ => None,
    }
}

fn descend<'v>(value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |v, t| step(v, t))
}

fn descend_mut<'v>(value: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    tokens.iter().try_fold(value, |v, t| step_mut(v, t))
}

fn push_all(pointer: &str, tokens: &[String]) -> String {
    tokens
        .iter()
        .fold(pointer.to_owned(), |p, t| pointer_push(&p, t))
}

/// The `$ref` string of a Reference Object in a position where one may stand.
fn ref_of(map: &Map<String, Value>, kind: Kind) -> Option<&str> {
    if !kind.may_be_ref() {
        return None;
    }
    map.get("$ref").and_then(Value::as_str)
}

fn contains_ref(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("$ref").is_some_and(Value::is_string) {
                    return true;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

fn count_nodes(value: &Value) -> usize {
    let mut count = 0;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        count += 1;
        match v {
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    count
}

// ---------------------------------------------------------------------------------------
// Reference strings

enum RefTarget {
    /// `#/...` or `file#/...`: a file (empty for "the file the ref is in") and a pointer.
    Local {
        file: String,
        pointer: String,
    },
    Remote,
    /// A fragment that is not a JSON pointer (an anchor).
    Anchor(String),
}

fn parse_ref(reference: &str) -> RefTarget {
    if reference.starts_with("//") || has_scheme(reference) {
        return RefTarget::Remote;
    }
    let (file, fragment) = match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    };
    let fragment = percent_decode(fragment);
    if !fragment.is_empty() && !fragment.starts_with('/') {
        return RefTarget::Anchor(fragment);
    }
    RefTarget::Local {
        file: percent_decode(file),
        pointer: fragment,
    }
}

/// `http:`, `file:`, `urn:`... but not a Windows drive letter.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// `a/./b/../c` -> `a/c`, without touching the file system (paths stay as the user wrote them,
/// relative ones relative).
fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

fn sanitize_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.chars().all(|c| c == '_') {
        "Schema".to_owned()
    } else {
        name
    }
}

// ---------------------------------------------------------------------------------------
// Bundling

enum FileState {
    Loaded(Value),
    /// Could not be read: every ref to it is dangling.
    Missing(String),
    /// Read but not parsed; already reported once.
    Broken,
}

/// A hoisted component waiting to have its own refs processed.
struct Job {
    file: PathBuf,
    pointer: String,
    kind: Kind,
    section: &'static str,
    name: String,
}

type TargetKey = (PathBuf, String, Kind);

struct Inlined {
    value: Value,
    nodes: usize,
    /// Origins inside the inlined value, relative to where it lands.
    origins: Vec<(String, PathBuf, String)>,
}

struct Bundler<'a> {
    sources: &'a mut Sources,
    diags: Vec<Diagnostic>,
    /// The root file as given (what diagnostics name).
    root: PathBuf,
    /// The root file normalized (what refs back to it are compared with).
    root_key: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    origins: Origins,
    /// Bundled pointers recorded since the start, so an inline can find its nested origins.
    origin_log: Vec<String>,
    /// (file, pointer, section) -> the ref that now names it in the root.
    hoisted: BTreeMap<(PathBuf, String, &'static str), String>,
    /// Names taken in each section, with the raw value they hold (to spot true duplicates).
    taken: BTreeMap<&'static str, BTreeMap<String, Value>>,
    jobs: VecDeque<Job>,
    /// Finished hoisted components, in the order they were named.
    out: Vec<(&'static str, String, Value)>,
    stack: Vec<TargetKey>,
    recursive: BTreeSet<TargetKey>,
    cache: BTreeMap<TargetKey, Inlined>,
    bundled_nodes: usize,
    too_large: bool,
    too_deep: bool,
    /// In 3.1 the keywords next to a schema's `$ref` apply too; in 3.0 they are ignored.
    version: SpecVersion,
}

impl<'a> Bundler<'a> {
    fn new(root: &Path, sources: &'a mut Sources, raw: Value, version: SpecVersion) -> Bundler<'a> {
        let root_key = normalize_path(root);
        let mut taken: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
        if let Some(Value::Object(components)) = raw.get("components") {
            for section in SECTIONS {
                if let Some(Value::Object(entries)) = components.get(*section) {
                    let names = taken.entry(section).or_default();
                    for (name, value) in entries {
                        names.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        let mut origins = Origins {
            root: root.to_path_buf(),
            map: BTreeMap::new(),
        };
        origins.record(String::new(), root.to_path_buf(), String::new());
        let mut files = BTreeMap::new();
        files.insert(root_key.clone(), FileState::Loaded(raw));
        Bundler {
            sources,
            diags: Vec::new(),
            root: root.to_path_buf(),
            root_key,
            files,
            origins,
            origin_log: Vec::new(),
            hoisted: BTreeMap::new(),
            taken,
            jobs: VecDeque::new(),
            out: Vec::new(),
            stack: Vec::new(),
            recursive: BTreeSet::new(),
            cache: BTreeMap::new(),
            bundled_nodes: 0,
            too_large: false,
            too_deep: false,
            version,
        }
    }

    fn is_root(&self, file: &Path) -> bool {
        file == self.root || normalize_path(file) == self.root_key
    }

    fn record_origin(&mut self, bundled: String, file: &Path, pointer: &str) {
        self.origin_log.push(bundled.clone());
        self.origins
            .record(bundled, file.to_path_buf(), pointer.to_owned());
    }

    /// Processes every ref in `value`, which sits at `src` in `file` and lands at `out` in the
    /// bundled document.
    fn walk(
        &mut self,
        value: &mut Value,
        kind: Kind,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.diags.push(
                    Diagnostic::error(INVALID, "the spec is nested too deeply to process")
                        .at(Location::new(file, src))
                        .help("flatten it with named components under `components/schemas`"),
                );
            }
            return;
        }
        let Value::Object(map) = value else {
            return;
        };
        if kind == Kind::Schema && self.version == SpecVersion::V31 {
            ref_beside_keywords_as_all_of(map);
        }
        if let Some(reference) = ref_of(map, kind) {
            let reference = reference.to_owned();
            self.resolve(value, kind, &reference, file, src, out, depth, false);
            return;
        }
        if kind == Kind::Schema {
            self.discriminator_mapping(map, file, src, out, depth);
        }
        for child in children(map, kind) {
            let child_src = push_all(src, &child.tokens);
            let child_out = push_all(out, &child.tokens);
            if let Some(slot) = descend_mut(value, &child.tokens) {
                self.walk(
                    slot,
                    child.kind,
                    file,
                    &child_src,
                    &child_out,
                    depth + child.tokens.len(),
                );
            }
        }
    }

    /// `discriminator.mapping` values are refs in string form: rewrite them like refs.
    fn discriminator_mapping(
        &mut self,
        map: &mut Map<String, Value>,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
    ) {
        let Some(Value::Object(mapping)) = map
            .get_mut("discriminator")
            .and_then(|d| d.get_mut("mapping"))
        else {
            return;
        };
        let in_root = self.is_root(file);
        for (key, target) in mapping.iter_mut() {
            let Value::String(text) = target else {
                continue;
            };
            let reference = if text.contains('#') || names_file(text) {
                text.clone()
            } else if in_root {
                continue;
            } else {
                // A bare name means a schema of the file it is written in.
                format!(
                    "#/components/schemas/{}",
                    pointer_push("", text).trim_start_matches('/')
                )
            };
            let entry_src = pointer_push(
                &pointer_push(&pointer_push(src, "discriminator"), "mapping"),
                key,
            );
            let entry_out = pointer_push(
                &pointer_push(&pointer_push(out, "discriminator"), "mapping"),
                key,
            );
            let mut holder = Value::Object(Map::from_iter([(
                "$ref".to_owned(),
                Value::String(reference.clone()),
            )]));
            // Diagnostics name `<entry>/$ref`, which resolves to the entry itself for positions.
            self.resolve(
                &mut holder,
                Kind::Schema,
                &reference,
                file,
                &entry_src,
                &entry_out,
                depth,
                true,
            );
            if let Some(Value::String(resolved)) = holder.get("$ref") {
                *text = resolved.clone();
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        value: &mut Value,
        kind: Kind,
        reference: &str,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
        force_hoist: bool,
    ) {
        let ref_location = Location::new(file, pointer_push(src, "$ref"));
        let siblings = self.take_siblings(value, kind, file, src);
        let (target_file, pointer) = match parse_ref(reference) {
            RefTarget::Remote => {
                self.diags.push(
                    Diagnostic::error(
                        REMOTE_REF,
                        format!("`{reference}` is a remote reference; remote documents are not fetched"),
                    )
                    .at(ref_location)
                    .help("download the document next to the spec and reference it by a relative path"),
                );
                return;
            }
            RefTarget::Anchor(anchor) => {
                self.diags.push(
                    Diagnostic::error(
                        DANGLING_REF,
                        format!("`{reference}` uses the anchor `#{anchor}`; only JSON pointer fragments are supported"),
                    )
                    .at(ref_location)
                    .help("write the fragment as a JSON pointer, e.g. `#/components/schemas/Name`"),
                );
                return;
            }
            RefTarget::Local {
                file: target,
                pointer,
            } => {
                let target_file = if target.is_empty() {
                    file.to_path_buf()
                } else {
                    let joined = file.parent().unwrap_or(Path::new("")).join(&target);
                    let normalized = normalize_path(&joined);
                    if normalized == self.root_key {
                        self.root.clone()
                    } else {
                        normalized
                    }
                };
                (target_file, pointer)
            }
        };
        let to_root = self.is_root(&target_file);
        if to_root && !kind.always_inline() {
            // The root is the bundle: its own pointers stay valid (checked at the end).
            if !self.is_root(file) {
                let fragment = reference
                    .split_once('#')
                    .map(|(_, f)| f)
                    .unwrap_or_default();
                set_ref(value, format!("#{fragment}"));
            }
            return;
        }
        let Some(target) = self.target(&target_file, &pointer, reference, file, &ref_location)
        else {
            return;
        };
        let tokens = pointer_tokens(&pointer);
        let component = match tokens.as_slice() {
            [components, section, name] if components == "components" => SECTIONS
                .iter()
                .find(|s| **s == section.as_str())
                .map(|s| (*s, name.clone())),
            _ => None,
        };
        if !kind.always_inline()
            && let Some((section, name)) = component
        {
            let r = self.hoist(&target_file, &pointer, section, &name, kind, &target);
            set_ref(value, r);
            return;
        }
        if force_hoist {
            if let Some(r) = self.hoist_derived(
                &target_file,
                &pointer,
                kind,
                &target,
                reference,
                &ref_location,
            ) {
                set_ref(value, r);
            }
            return;
        }
        self.inline(
            value,
            siblings,
            kind,
            reference,
            &target_file,
            &pointer,
            target,
            &ref_location,
            out,
            depth,
        );
    }

    /// Drops the members next to a `$ref` (warning when they constrained a schema); path items
    /// keep them to merge with the target.
    fn take_siblings(
        &mut self,
        value: &mut Value,
        kind: Kind,
        file: &Path,
        src: &str,
    ) -> Map<String, Value> {
        let Value::Object(map) = value else {
            return Map::new();
        };
        let mut siblings = Map::new();
        let keys: Vec<String> = map.keys().filter(|k| *k != "$ref").cloned().collect();
        for key in keys {
            if let Some(v) = map.shift_remove(&key) {
                siblings.insert(key, v);
            }
        }
        if kind == Kind::Schema {
            let constraining: Vec<&str> = siblings
                .keys()
                .map(String::as_str)
                .filter(|k| VALIDATION_KEYWORDS.contains(k) || UNSUPPORTED_KEYWORDS.contains(k))
                .collect();
            if let Some(first) = constraining.first() {
                let list = constraining
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.diags.push(
                    Diagnostic::warning(
                        REF_SIBLINGS_IGNORED,
                        format!("keywords next to `$ref` are ignored: {list}"),
                    )
                    .at(Location::key(file, pointer_push(src, first)))
                    .help("to apply them too, write `allOf: [{$ref: ...}]` and put the keywords beside `allOf`"),
                );
            }
        }
        if kind.always_inline() {
            siblings
        } else {
            Map::new()
        }
    }

    /// The raw value a ref points to, or a diagnostic at the ref.
    fn target(
        &mut self,
        file: &Path,
        pointer: &str,
        reference: &str,
        from: &Path,
        at: &Location,
    ) -> Option<Value> {
        let key = normalize_path(file);
        if !self.files.contains_key(&key) {
            let state = match self.sources.read(file) {
                Ok(text) => match parse_text(file, &text, &mut self.diags) {
                    Some(doc) => FileState::Loaded(doc),
                    None => FileState::Broken,
                },
                Err(error) => FileState::Missing(error.to_string()),
            };
            self.files.insert(key.clone(), state);
        }
        let doc = match self.files.get(&key) {
            Some(FileState::Loaded(doc)) => doc,
            Some(FileState::Missing(error)) => {
                let error = error.clone();
                self.diags.push(
                    Diagnostic::error(
                        DANGLING_REF,
                        format!(
                            "`{reference}` points to `{}`, which cannot be read: {error}",
                            file.display()
                        ),
                    )
                    .at(at.clone())
                    .help(format!(
                        "file refs are relative to the file that contains them (`{}`)",
                        from.display()
                    )),
                );
                return None;
            }
            Some(FileState::Broken) | None => return None,
        };
        if let Some(found) = doc.pointer(pointer) {
            return Some(found.clone());
        }
        let mut diagnostic = Diagnostic::error(
            DANGLING_REF,
            format!(
                "`{reference}` does not resolve: `{}` has nothing at `{pointer}`",
                file.display()
            ),
        )
        .at(at.clone());
        let internal = reference.starts_with('#');
        diagnostic = if internal && !self.is_root(from) {
            diagnostic.help(format!(
                "a `#/...` ref points into the file it is written in (`{}`); to reach the root document put its relative path before the `#`",
                from.display()
            ))
        } else {
            match suggestion(doc, pointer) {
                Some(hint) => diagnostic.help(hint),
                None => diagnostic
                    .help("check the pointer; JSON pointers escape `/` as `~1` and `~` as `~0`"),
            }
        };
        self.diags.push(diagnostic);
        None
    }

    /// Names `(file, pointer)` in the root's `components/<section>` and returns the ref to it.
    fn hoist(
        &mut self,
        file: &Path,
        pointer: &str,
        section: &'static str,
        base: &str,
        kind: Kind,
        raw: &Value,
    ) -> String {
        let key = (normalize_path(file), pointer.to_owned(), section);
        if let Some(r) = self.hoisted.get(&key) {
            return r.clone();
        }
        // Equal values are the same component only when nothing inside depends on which
        // file's refs it holds.
        let shareable = !contains_ref(raw);
        let names = self.taken.entry(section).or_default();
        let mut n = 1usize;
        let name = loop {
            let candidate = if n == 1 {
                base.to_owned()
            } else {
                format!("{base}_{n}")
            };
            match names.get(&candidate) {
                None => {
                    names.insert(candidate.clone(), raw.clone());
                    self.jobs.push_back(Job {
                        file: file.to_path_buf(),
                        pointer: pointer.to_owned(),
                        kind,
                        section,
                        name: candidate.clone(),
                    });
                    break candidate;
                }
                Some(existing) if shareable && existing == raw => break candidate,
                Some(_) => n += 1,
            }
        };
        let r = format!(
            "#{}",
            pointer_push(&pointer_push("/components", section), &name)
        );
        self.hoisted.insert(key, r.clone());
        r
    }

    /// Hoists a target that has no component name (it must not be inlined).
    fn hoist_derived(
        &mut self,
        file: &Path,
        pointer: &str,
        kind: Kind,
        raw: &Value,
        reference: &str,
        at: &Location,
    ) -> Option<String> {
        let Some(section) = kind.section() else {
            self.diags.push(
                Diagnostic::error(
                    REF_CYCLE,
                    format!("`{reference}` refers back to itself through other files"),
                )
                .at(at.clone())
                .help("a path item or callback cannot contain itself; break the cycle"),
            );
            return None;
        };
        let base = pointer_tokens(pointer)
            .into_iter()
            .rev()
            .find(|t| !t.is_empty())
            .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Some(self.hoist(file, pointer, section, &sanitize_name(&base), kind, raw))
    }

    #[allow(clippy::too_many_arguments)]
    fn inline(
        &mut self,
        value: &mut Value,
        siblings: Map<String, Value>,
        kind: Kind,
        reference: &str,
        file: &Path,
        pointer: &str,
        target: Value,
        at: &Location,
        out: &str,
        depth: usize,
    ) {
        let key: TargetKey = (normalize_path(file), pointer.to_owned(), kind);
        // Once a target has a name (a discriminator mapping needs one), every use refers to
        // it: a oneOf branch and its mapping entry must name the same schema.
        if let Some(section) = kind.section()
            && let Some(r) = self.hoisted.get(&(key.0.clone(), key.1.clone(), section))
        {
            set_ref(value, r.clone());
            return;
        }
        let hoist_instead = self.recursive.contains(&key)
            || self.stack.contains(&key)
            || self.stack.len() >= MAX_INLINE_NESTING
            || self.too_large;
        if hoist_instead {
            if self.stack.contains(&key) {
                self.recursive.insert(key);
            }
            if let Some(r) = self.hoist_derived(file, pointer, kind, &target, reference, at) {
                set_ref(value, r);
            }
            return;
        }
        if let Some(nodes) = self.cache.get(&key).map(|c| c.nodes) {
            // Charge before copying: the copy itself is what the budget protects against.
            if !self.charge(nodes, at) {
                return;
            }
            let Some(cached) = self.cache.get(&key) else {
                return;
            };
            let copy = cached.value.clone();
            let nested: Vec<(String, PathBuf, String)> = cached
                .origins
                .iter()
                .map(|(rel, f, p)| (format!("{out}{rel}"), f.clone(), p.clone()))
                .collect();
            for (bundled, f, p) in nested {
                self.record_origin(bundled, &f, &p);
            }
            *value = merge_siblings(copy, siblings);
            return;
        }

        let start = self.origin_log.len();
        self.record_origin(out.to_owned(), file, pointer);
        let mut content = target.clone();
        self.stack.push(key.clone());
        self.walk(&mut content, kind, file, pointer, out, depth);
        self.stack.pop();

        let nested: Vec<String> = self.origin_log.split_off(start);
        if self.recursive.contains(&key) {
            // It met itself on the way down: the copy holds a ref to its hoisted self, so
            // use that ref here too rather than keep one level of copy.
            for bundled in &nested {
                self.origins.map.remove(bundled);
            }
            if let Some(r) = self.hoist_derived(file, pointer, kind, &target, reference, at) {
                set_ref(value, r);
            }
            return;
        }
        let nodes = count_nodes(&content);
        if !self.charge(nodes, at) {
            return;
        }
        let origins = nested
            .iter()
            .filter_map(|bundled| {
                let (f, p) = self.origins.map.get(bundled)?;
                let rel = bundled.strip_prefix(out)?;
                Some((rel.to_owned(), f.clone(), p.clone()))
            })
            .collect();
        self.origin_log.extend(nested);
        self.cache.insert(
            key,
            Inlined {
                value: content.clone(),
                nodes,
                origins,
            },
        );
        *value = merge_siblings(content, siblings);
    }

    /// Counts inlined nodes against the budget; false (reported once) when it is spent.
    fn charge(&mut self, nodes: usize, at: &Location) -> bool {
        self.bundled_nodes = self.bundled_nodes.saturating_add(nodes);
        if self.bundled_nodes <= MAX_BUNDLED_NODES {
            return true;
        }
        if !self.too_large {
            self.too_large = true;
            self.diags.push(
                Diagnostic::error(TOO_LARGE, "inlining external refs makes the spec too large")
                    .at(at.clone())
                    .help("reference shared parts as components (`file#/components/schemas/Name`) so they are hoisted, not copied"),
            );
        }
        false
    }

    fn drain_jobs(&mut self) {
        while let Some(job) = self.jobs.pop_front() {
            let key = normalize_path(&job.file);
            let Some(FileState::Loaded(doc)) = self.files.get(&key) else {
                continue;
            };
            let Some(mut content) = doc.pointer(&job.pointer).cloned() else {
                continue;
            };
            let out = pointer_push(&pointer_push("/components", job.section), &job.name);
            self.record_origin(out.clone(), &job.file, &job.pointer);
            self.walk(&mut content, job.kind, &job.file, &job.pointer, &out, 3);
            self.out.push((job.section, job.name, content));
        }
    }

    fn insert_hoisted(&mut self, document: &mut Value) {
        if self.out.is_empty() {
            return;
        }
        let Value::Object(root) = document else {
            return;
        };
        let components = root
            .entry("components")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(components) = components else {
            // Not a mapping: openapiv3 reports it; there is nowhere to put components.
            return;
        };
        for (section, name, value) in std::mem::take(&mut self.out) {
            let entries = components
                .entry(section)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(entries) = entries {
                entries.insert(name, value);
            }
        }
    }
}

/// A discriminator mapping value naming a file rather than a schema.
fn names_file(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn set_ref(value: &mut Value, reference: String) {
    *value = Value::Object(Map::from_iter([(
        "$ref".to_owned(),
        Value::String(reference),
    )]));
}

/// JSON Schema 2020-12 (OpenAPI 3.1) applies the keywords beside a `$ref` as well as its
/// target: `{$ref: X, maxLength: 3}` is `{allOf: [{$ref: X}], maxLength: 3}`, which is
/// what it becomes (annotations alone beside a `$ref` change nothing and are dropped).
fn ref_beside_keywords_as_all_of(map: &mut Map<String, Value>) {
    let constrained = map.keys().any(|k| {
        k != "$ref"
            && (VALIDATION_KEYWORDS.contains(&k.as_str())
                || UNSUPPORTED_KEYWORDS.contains(&k.as_str()))
    });
    if !constrained {
        return;
    }
    let Some(reference) = map.shift_remove("$ref") else {
        return;
    };
    let entry = Value::Object(Map::from_iter([("$ref".to_owned(), reference)]));
    match map.get_mut("allOf") {
        Some(Value::Array(list)) => list.push(entry),
        _ => {
            map.insert("allOf".to_owned(), Value::Array(vec![entry]));
        }
    }
}

/// A path item's own members next to its `$ref` fill in what the target lacks.
fn merge_siblings(mut value: Value, siblings: Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut value {
        for (key, sibling) in siblings {
            map.entry(key).or_insert(sibling);
        }
    }
    value
}

/// "did you mean" for the last token of a pointer that almost resolves.
fn suggestion(doc: &Value, pointer: &str) -> Option<String> {
    let tokens = pointer_tokens(pointer);
    let (last, parent) = tokens.split_last()?;
    let Value::Object(map) = descend(doc, parent)? else {
        return None;
    };
    did_you_mean(last, map.keys().map(String::as_str))
}

// ---------------------------------------------------------------------------------------
// Checking internal refs of the bundled document

fn check_refs(doc: &Value, origins: &Origins, diags: &mut Vec<Diagnostic>) {
    visit(doc, Kind::Document, "", 0, &mut |map, kind, pointer| {
        if let Some(reference) = ref_of(map, kind) {
            check_ref(
                doc,
                reference,
                &pointer_push(pointer, "$ref"),
                origins,
                diags,
            );
        }
        if kind == Kind::Schema
            && let Some(Value::Object(mapping)) =
                map.get("discriminator").and_then(|d| d.get("mapping"))
        {
            for (key, target) in mapping {
                let Some(target) = target.as_str() else {
                    continue;
                };
                let at = pointer_push(
                    &pointer_push(&pointer_push(pointer, "discriminator"), "mapping"),
                    key,
                );
                if target.starts_with('#') {
                    check_ref(doc, target, &at, origins, diags);
                } else if !target.contains('/') && !names_file(target) {
                    let as_ref = format!("#{}", pointer_push("/components/schemas", target));
                    check_ref(doc, &as_ref, &at, origins, diags);
                }
            }
        }
    });
}

fn check_ref(
    doc: &Value,
    reference: &str,
    at: &str,
    origins: &Origins,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(fragment) = reference.strip_prefix('#') else {
        // External refs left in place failed to bundle and are reported already.
        return;
    };
    let pointer = percent_decode(fragment);
    let tokens = pointer_tokens(&pointer);
    if tokens.iter().any(|t| t == "$defs" || t == "definitions") {
        diags.push(
            Diagnostic::error(
                UNSUPPORTED_KEYWORD,
                format!("`{reference}` points into `$defs`, which the gateway does not support"),
            )
            .at(origins.locate(at))
            .help("move the schema to `components/schemas` and reference it there"),
        );
        return;
    }
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return;
    }
    if doc.pointer(&pointer).is_some() {
        return;
    }
    let mut diagnostic = Diagnostic::error(
        DANGLING_REF,
        format!("`{reference}` does not resolve: the spec has nothing at `{pointer}`"),
    )
    .at(origins.locate(at));
    diagnostic = match suggestion(doc, &pointer) {
        Some(hint) => diagnostic.help(hint),
        None => {
            diagnostic.help("check the pointer; JSON pointers escape `/` as `~1` and `~` as `~0`")
        }
    };
    diags.push(diagnostic);
}

/// What [`visit`] calls on each object: its members, its kind, its pointer.
type Visitor<'f> = dyn FnMut(&Map<String, Value>, Kind, &str) + 'f;

/// Calls `f` on every OpenAPI object in the document (not descending into refs).
fn visit(value: &Value, kind: Kind, pointer: &str, depth: usize, f: &mut Visitor<'_>) {
    let Value::Object(map) = value else {
        return;
    };
    if depth > 2 * MAX_DEPTH {
        return;
    }
    f(map, kind, pointer);
    if ref_of(map, kind).is_some() {
        return;
    }
    for child in children(map, kind) {
        if let Some(v) = descend(value, &child.tokens) {
            visit(
                v,
                child.kind,
                &push_all(pointer, &child.tokens),
                depth + 1,
                f,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Normalizing to OpenAPI 3.0 shape

fn normalize(doc: &mut Value, version: SpecVersion) {
    let v31 = version == SpecVersion::V31;
    if let Value::Object(map) = doc {
        // Webhooks are not routes of the gateway; 3.0 has no place for them.
        map.shift_remove("webhooks");
        if v31 {
            map.shift_remove("jsonSchemaDialect");
            if !map.contains_key("paths") {
                map.insert("paths".into(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(components)) = map.get_mut("components") {
                // Every path item ref was inlined while bundling.
                components.shift_remove("pathItems");
            }
        }
    }
    normalize_walk(doc, Kind::Document, v31, 0);
}

fn normalize_walk(value: &mut Value, kind: Kind, v31: bool, depth: usize) {
    if depth > 2 * MAX_DEPTH {
        return;
    }
    let Value::Object(map) = value else {
        return;
    };
    if ref_of(map, kind).is_some() {
        return;
    }
    match kind {
        Kind::Schema => normalize_schema(map),
        Kind::Operation if v31 && !map.contains_key("responses") => {
            let default = serde_json::json!({ "default": { "description": "" } });
            map.insert("responses".into(), default);
        }
        _ => {}
    }
    for child in children(map, kind) {
        let Some(slot) = child
            .tokens
            .split_first()
            .and_then(|(first, rest)| descend_mut(map.get_mut(first)?, rest))
        else {
            continue;
        };
        if child.kind == Kind::Schema
            && !child.additional
            && let Value::Bool(b) = slot
        {
            // JSON Schema's boolean schemas: `true` accepts anything, `false` nothing.
            *slot = if *b {
                Value::Object(Map::new())
            } else {
                serde_json::json!({ "not": {} })
            };
        }
        normalize_walk(slot, child.kind, v31, depth + 1);
    }
}

fn position(map: &Map<String, Value>, key: &str) -> Option<usize> {
    map.keys().position(|k| k == key)
}

/// Inserts `key` right after `after` (or at the end), keeping the author's key order readable.
fn insert_after(map: &mut Map<String, Value>, after: &str, key: &str, value: Value) {
    if map.contains_key(key) {
        map.insert(key.to_owned(), value);
        return;
    }
    match position(map, after) {
        Some(i) if i < map.len() => {
            map.shift_insert(i + 1, key.to_owned(), value);
        }
        _ => {
            map.insert(key.to_owned(), value);
        }
    }
}

/// Replaces `old` by `key` at the same place.
fn replace_key(map: &mut Map<String, Value>, old: &str, key: &str, value: Value) {
    match position(map, old) {
        Some(i) if !map.contains_key(key) => {
            map.shift_insert(i, key.to_owned(), value);
            map.shift_remove(old);
        }
        _ => {
            map.shift_remove(old);
            map.insert(key.to_owned(), value);
        }
    }
}

fn normalize_schema(map: &mut Map<String, Value>) {
    normalize_type(map);
    for (exclusive, inclusive, stricter) in [
        (
            "exclusiveMinimum",
            "minimum",
            f64::gt as fn(&f64, &f64) -> bool,
        ),
        ("exclusiveMaximum", "maximum", f64::lt),
    ] {
        let Some(Value::Number(bound)) = map.get(exclusive).cloned() else {
            continue;
        };
        let inclusive_value = map.get(inclusive).and_then(Value::as_f64);
        let bound_value = bound.as_f64().unwrap_or_default();
        match inclusive_value {
            // Both apply in 3.1; the inclusive bound is the tighter one, so it alone stays.
            Some(existing) if stricter(&existing, &bound_value) => {
                map.shift_remove(exclusive);
            }
            _ => {
                map.insert(inclusive.to_owned(), Value::Number(bound));
                map.insert(exclusive.to_owned(), Value::Bool(true));
            }
        }
    }
    if let Some(constant) = map.get("const").cloned() {
        let allowed = match map.get("enum") {
            Some(Value::Array(values)) if !values.contains(&constant) => Vec::new(),
            _ => vec![constant],
        };
        if map.contains_key("enum") {
            map.shift_remove("const");
            map.insert("enum".into(), Value::Array(allowed));
        } else {
            replace_key(map, "const", "enum", Value::Array(allowed));
        }
    }
    if let Some(examples) = map.get("examples").cloned() {
        match examples {
            Value::Array(items) if !map.contains_key("example") => match items.into_iter().next() {
                Some(first) => replace_key(map, "examples", "example", first),
                None => {
                    map.shift_remove("examples");
                }
            },
            _ => {
                map.shift_remove("examples");
            }
        }
    }
    for keyword in DROPPED_SCHEMA_KEYWORDS {
        map.shift_remove(*keyword);
    }
}

fn normalize_type(map: &mut Map<String, Value>) {
    let types: Vec<String> = match map.get("type") {
        Some(Value::String(t)) if t == "null" => vec![t.clone()],
        Some(Value::Array(items)) => {
            let mut types = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(t) if !types.iter().any(|seen| seen == t) => types.push(t.to_owned()),
                    Some(_) => {}
                    // Not a list of names: leave it for the parser to report.
                    None => return,
                }
            }
            if types.is_empty() {
                return;
            }
            types
        }
        _ => return,
    };
    let nullable = types.iter().any(|t| t == "null");
    let concrete: Vec<String> = types.into_iter().filter(|t| t != "null").collect();
    match concrete.as_slice() {
        [] => {
            replace_key(map, "type", "nullable", Value::Bool(true));
            if !map.contains_key("enum") {
                insert_after(map, "nullable", "enum", serde_json::json!([null]));
            }
            return;
        }
        [single] => {
            map.insert("type".into(), Value::String(single.clone()));
        }
        several => {
            let alternatives: Vec<Value> = several
                .iter()
                .map(|t| serde_json::json!({ "type": t }))
                .collect();
            let any_of = Value::Array(alternatives);
            if let Some(Value::Array(all_of)) = map.get_mut("allOf") {
                all_of.push(serde_json::json!({ "anyOf": any_of }));
                map.shift_remove("type");
            } else if map.contains_key("anyOf") {
                replace_key(
                    map,
                    "type",
                    "allOf",
                    serde_json::json!([{ "anyOf": any_of }]),
                );
            } else {
                replace_key(map, "type", "anyOf", any_of);
            }
            if nullable {
                map.insert("nullable".into(), Value::Bool(true));
            }
            return;
        }
    }
    if nullable {
        insert_after(map, "type", "nullable", Value::Bool(true));
    }
}

// ---------------------------------------------------------------------------------------
// Keywords openapiv3 would drop

fn report_unsupported_keywords(doc: &Value, origins: &Origins, diags: &mut Vec<Diagnostic>) {
    visit(doc, Kind::Document, "", 0, &mut |map, kind, pointer| {
        if kind != Kind::Schema || ref_of(map, kind).is_some() {
            return;
        }
        for key in map.keys() {
            if UNSUPPORTED_KEYWORDS.contains(&key.as_str()) {
                let mut location = origins.locate(&pointer_push(pointer, key));
                location.at_key = true;
                diags.push(
                    Diagnostic::error(
                        UNSUPPORTED_KEYWORD,
                        format!("the schema keyword `{key}` is not supported"),
                    )
                    .at(location)
                    .help("the gateway would not enforce it; remove it or express it with supported keywords"),
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Parsing into openapiv3

/// openapiv3 deserializes recursively with large frames (its untagged enums buffer their
/// input), so it runs on a thread with a stack sized for the deepest document we let
/// through; and a panic inside it (it has an `expect`) ends that thread, not the compiler.
const PARSER_STACK: usize = 64 * 1024 * 1024;

fn parse_openapi(
    doc: &Value,
    origins: &Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<openapiv3::OpenAPI> {
    let outcome = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("openapi-parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || parse_or_locate(doc));
        match spawned {
            Ok(handle) => handle.join().ok(),
            // No thread to be had: parse here, still without letting a panic through.
            Err(_) => std::panic::catch_unwind(|| parse_or_locate(doc)).ok(),
        }
    });
    match outcome {
        Some(Ok(openapi)) => Some(openapi),
        Some(Err((pointer, message))) => {
            diags.push(
                Diagnostic::error(
                    INVALID,
                    format!("the spec does not match OpenAPI 3.0: {message}"),
                )
                .at(origins.locate(&pointer))
                .help("fix the value at the marked place to match the OpenAPI 3.0 specification"),
            );
            None
        }
        None => {
            diags.push(
                Diagnostic::error(
                    INVALID,
                    "the spec could not be parsed (the OpenAPI parser crashed)",
                )
                .at(origins.locate(""))
                .help("please report this spec to the gateway maintainers"),
            );
            None
        }
    }
}

fn parse_or_locate(doc: &Value) -> Result<openapiv3::OpenAPI, (String, String)> {
    // No path tracking on the way that usually succeeds: it is only needed to locate a
    // failure, and `innermost_failure` does that by itself.
    <openapiv3::OpenAPI as serde::Deserialize>::deserialize(doc).map_err(|_| {
        innermost_failure(doc, Kind::Document, "", 0)
            .unwrap_or_else(|| (String::new(), "invalid document".into()))
    })
}

/// Deserializes `value` as the openapiv3 type of `kind`: the failure's pointer (relative) and
/// message. Modelled members only: a child the parser never reads cannot cause a failure.
fn parse_as(kind: Kind, value: &Value) -> Result<(), (String, String)> {
    use openapiv3::*;
    fn run<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), (String, String)> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(_) => Ok(()),
            Err(error) => {
                let mut pointer = String::new();
                for segment in error.path().iter() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index } => {
                            pointer = pointer_push(&pointer, &index.to_string());
                        }
                        serde_path_to_error::Segment::Map { key } => {
                            pointer = pointer_push(&pointer, key)
                        }
                        serde_path_to_error::Segment::Enum { .. } => {}
                        serde_path_to_error::Segment::Unknown => break,
                    }
                }
                Err((pointer, error.inner().to_string()))
            }
        }
    }
    match kind {
        Kind::Document => run::<OpenAPI>(value),
        Kind::Paths => run::<Paths>(value),
        Kind::PathItem => run::<ReferenceOr<PathItem>>(value),
        Kind::Operation => run::<Operation>(value),
        Kind::Parameter => run::<ReferenceOr<Parameter>>(value),
        Kind::Header => run::<ReferenceOr<Header>>(value),
        Kind::RequestBody => run::<ReferenceOr<RequestBody>>(value),
        Kind::MediaType => run::<MediaType>(value),
        Kind::Encoding => run::<Encoding>(value),
        Kind::Responses => run::<Responses>(value),
        Kind::Response => run::<ReferenceOr<Response>>(value),
        Kind::Link => run::<ReferenceOr<Link>>(value),
        Kind::Example => run::<ReferenceOr<Example>>(value),
        Kind::Callback => run::<ReferenceOr<Callback>>(value),
        Kind::SecurityScheme => run::<ReferenceOr<SecurityScheme>>(value),
        Kind::Components => run::<Components>(value),
        Kind::Schema => run::<ReferenceOr<Schema>>(value),
    }
}

/// serde loses the path inside `#[serde(flatten)]` members, which openapiv3 uses for paths,
/// responses and schemas. So descend by hand: the first child that fails on its own is where
/// the problem is; where no child fails, the value itself is wrong.
fn innermost_failure(
    value: &Value,
    kind: Kind,
    pointer: &str,
    depth: usize,
) -> Option<(String, String)> {
    let (relative, message) = parse_as(kind, value).err()?;
    if depth <= 2 * MAX_DEPTH
        && let Value::Object(map) = value
        && ref_of(map, kind).is_none()
    {
        for child in children(map, kind) {
            if !modelled(kind, &child.tokens) {
                continue;
            }
            let Some(v) = descend(value, &child.tokens) else {
                continue;
            };
            if child.additional && v.is_boolean() {
                continue;
            }
            let child_pointer = push_all(pointer, &child.tokens);
            if let Some(found) = innermost_failure(v, child.kind, &child_pointer, depth + 1) {
                return Some(found);
            }
        }
    }
    Some((format!("{pointer}{relative}"), message))
}

/// Whether openapiv3 reads this member (the others it ignores, so they cannot fail).
fn modelled(kind: Kind, tokens: &[String]) -> bool {
    let Some(key) = tokens.first() else {
        return false;
    };
    match kind {
        Kind::Schema => matches!(
            key.as_str(),
            "properties" | "items" | "additionalProperties" | "allOf" | "anyOf" | "oneOf" | "not"
        ),
        Kind::Components => key != "pathItems",
        // openapiv3 reads only the keys that are paths.
        Kind::Paths => key.starts_with('/'),
        Kind::Document => key != "webhooks",
        _ => true,
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, with the given files written into it.
    /// A temporary folder of files, removed when the test is done with it.
    struct Fixture(PathBuf);

    impl std::ops::Deref for Fixture {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fixture(files: &[(&str, &str)]) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gateway-spec-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Fixture(dir)
    }

    fn load(dir: &Path, root: &str) -> (Option<LoadedSpec>, Diagnostics) {
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let spec = load_spec(&dir.join(root), &mut sources, &mut diags);
        (spec, diags)
    }

    fn codes(diags: &Diagnostics) -> Vec<&'static str> {
        diags.list.iter().map(|d| d.code).collect()
    }

    fn at(dir: &Path, d: &Diagnostic) -> (String, String) {
        let location = d.location.as_ref().unwrap();
        let file = location
            .file
            .strip_prefix(dir)
            .unwrap_or(&location.file)
            .display()
            .to_string();
        (file, location.pointer.clone())
    }

    const INFO: &str = "info: {title: t, version: '1'}\n";

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
    fn unreadable_root() {
        let dir = fixture(&[]);
        let (loaded, diags) = load(&dir, "nope.yaml");
        assert!(loaded.is_none());
        assert_eq!(codes(&diags), [UNREADABLE]);
        assert!(diags.list[0].help.as_ref().unwrap().contains("nope.yaml"));
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
    fn openapi_31_is_normalized() {
        let spec = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
webhooks:
  ping: {post: {responses: {'200': {description: ok}}}}
components:
  schemas:
    Pet:
      $schema: https://json-schema.org/draft/2020-12/schema
      type: object
      required: [name]
      properties:
        name: {type: [string, 'null'], examples: [Rex, Fido]}
        nothing: {type: ['null']}
        either: {type: [string, integer, 'null']}
        age: {type: integer, exclusiveMinimum: 0, exclusiveMaximum: 30, maximum: 20}
        kind: {const: dog}
        tags:
          type: array
          items: {type: [number, string]}
        anything: true
        never: false
      additionalProperties: false
"#;
        let dir = fixture(&[("api.yaml", spec)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        assert_eq!(loaded.version, SpecVersion::V31);
        assert_eq!(loaded.declared_version, "3.1.0");
        let doc = &loaded.document;
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(doc["paths"], serde_json::json!({}));
        assert!(doc.get("webhooks").is_none());
        let pet = &doc["components"]["schemas"]["Pet"];
        assert!(pet.get("$schema").is_none());
        let p = &pet["properties"];
        assert_eq!(
            p["name"],
            serde_json::json!({"type": "string", "nullable": true, "example": "Rex"})
        );
        assert_eq!(
            p["nothing"],
            serde_json::json!({"nullable": true, "enum": [null]})
        );
        assert_eq!(
            p["either"],
            serde_json::json!({"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": true})
        );
        assert_eq!(p["age"]["minimum"], 0);
        assert_eq!(p["age"]["exclusiveMinimum"], true);
        // The inclusive maximum (20) is tighter than the exclusive one (30).
        assert_eq!(p["age"]["maximum"], 20);
        assert!(p["age"].get("exclusiveMaximum").is_none());
        assert_eq!(p["kind"], serde_json::json!({"enum": ["dog"]}));
        assert_eq!(
            p["tags"]["items"],
            serde_json::json!({"anyOf": [{"type": "number"}, {"type": "string"}]})
        );
        assert_eq!(p["anything"], serde_json::json!({}));
        assert_eq!(p["never"], serde_json::json!({"not": {}}));
        assert_eq!(pet["additionalProperties"], false);
        // And openapiv3 sees the constraint rather than an open schema.
        let openapiv3::ReferenceOr::Item(pet) =
            &loaded.openapi.components.as_ref().unwrap().schemas["Pet"]
        else {
            panic!("Pet is a ref");
        };
        let openapiv3::SchemaKind::Type(openapiv3::Type::Object(object)) = &pet.schema_kind else {
            panic!("Pet is not an object: {pet:?}");
        };
        let openapiv3::ReferenceOr::Item(name) = &object.properties["name"] else {
            panic!()
        };
        assert!(name.schema_data.nullable);
    }

    #[test]
    fn openapi_31_exclusive_bounds_alone_and_missing_responses() {
        let spec = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /n:
    get:
      parameters:
        - name: n
          in: query
          schema: {type: number, exclusiveMaximum: 10.5, const: 3}
      requestBody:
        content:
          application/json:
            schema: {type: object}
            examples:
              one: {value: {a: 1}}
"#;
        let dir = fixture(&[("api.yaml", spec)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let doc = loaded.unwrap().document;
        let get = &doc["paths"]["/n"]["get"];
        assert_eq!(
            get["responses"],
            serde_json::json!({"default": {"description": ""}})
        );
        assert_eq!(
            get["parameters"][0]["schema"],
            serde_json::json!({"type": "number", "exclusiveMaximum": true, "enum": [3], "maximum": 10.5})
        );
        // Media-type examples are not schema examples.
        assert_eq!(
            get["requestBody"]["content"]["application/json"]["examples"]["one"]["value"]["a"],
            1
        );
    }

    #[test]
    fn bundles_paths_and_cyclic_schemas_across_files() {
        let root = format!(
            "openapi: 3.0.3\n{INFO}paths:\n  /users:\n    $ref: paths/users.yaml\ncomponents:\n  schemas:\n    Error: {{type: string}}\n"
        );
        let users = r#"
get:
  operationId: listUsers
  responses:
    '200':
      description: ok
      content:
        application/json:
          schema:
            type: array
            items: {$ref: '../schemas/user.yaml#/components/schemas/User'}
    default:
      description: error
      content:
        application/json:
          schema: {$ref: '../schemas/user.yaml#/components/schemas/Error'}
"#;
        let user = r#"
components:
  schemas:
    User:
      type: object
      properties:
        id: {type: string}
        team: {$ref: 'team.yaml#/components/schemas/Team'}
        friends:
          type: array
          items: {$ref: '#/components/schemas/User'}
    Error: {type: object, properties: {message: {type: string}}}
"#;
        let team = r#"
components:
  schemas:
    Team:
      type: object
      properties:
        members:
          type: array
          items: {$ref: './user.yaml#/components/schemas/User'}
"#;
        let dir = fixture(&[
            ("openapi.yaml", &root),
            ("paths/users.yaml", users),
            ("schemas/user.yaml", user),
            ("schemas/team.yaml", team),
        ]);
        let (loaded, diags) = load(&dir, "openapi.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        let doc = &loaded.document;
        let get = &doc["paths"]["/users"]["get"];
        assert_eq!(get["operationId"], "listUsers");
        let ok = &get["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(ok["items"]["$ref"], "#/components/schemas/User");
        // The root's Error differs, so the other file's Error is renamed.
        let err = &get["responses"]["default"]["content"]["application/json"]["schema"];
        assert_eq!(err["$ref"], "#/components/schemas/Error_2");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Error"], serde_json::json!({"type": "string"}));
        assert_eq!(
            schemas["Error_2"]["properties"]["message"]["type"],
            "string"
        );
        assert_eq!(
            schemas["User"]["properties"]["team"]["$ref"],
            "#/components/schemas/Team"
        );
        assert_eq!(
            schemas["User"]["properties"]["friends"]["items"]["$ref"],
            "#/components/schemas/User"
        );
        assert_eq!(
            schemas["Team"]["properties"]["members"]["items"]["$ref"],
            "#/components/schemas/User"
        );
        assert!(
            loaded
                .openapi
                .components
                .as_ref()
                .unwrap()
                .schemas
                .contains_key("Team")
        );

        // Origins: the inlined path item and the hoisted schemas map back to their files.
        let here = |pointer: &str| {
            let l = loaded.origins.locate(pointer);
            (
                l.file.strip_prefix(&*dir).unwrap().display().to_string(),
                l.pointer,
            )
        };
        assert_eq!(
            here("/paths/~1users/get/responses/200"),
            ("paths/users.yaml".into(), "/get/responses/200".into())
        );
        assert_eq!(
            here("/components/schemas/Error_2/properties"),
            (
                "schemas/user.yaml".into(),
                "/components/schemas/Error/properties".into()
            )
        );
        assert_eq!(
            here("/components/schemas/Team"),
            (
                "schemas/team.yaml".into(),
                "/components/schemas/Team".into()
            )
        );
        assert_eq!(
            here("/info/title"),
            ("openapi.yaml".into(), "/info/title".into())
        );
    }

    #[test]
    fn identical_components_are_shared_and_inline_cycles_hoisted() {
        let root = format!(
            r#"openapi: 3.0.3
{INFO}paths:
  /t:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {{$ref: 'node.json'}}
        '400':
          description: bad
          content:
            application/json:
              schema: {{$ref: 'common.yaml#/components/schemas/Error'}}
        '500':
          description: bad
          content:
            application/json:
              schema: {{$ref: 'common.yaml#/Plain'}}
components:
  schemas:
    Error: {{type: string}}
"#
        );
        let node = r##"{"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}"##;
        let common = "components:\n  schemas:\n    Error: {type: string}\nPlain: {type: integer}\n";
        let dir = fixture(&[
            ("api.yaml", &root),
            ("node.json", node),
            ("common.yaml", common),
        ]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let doc = loaded.unwrap().document;
        let responses = &doc["paths"]["/t"]["get"]["responses"];
        let schema = |code: &str| responses[code]["content"]["application/json"]["schema"].clone();
        assert_eq!(schema("400")["$ref"], "#/components/schemas/Error");
        assert_eq!(schema("500"), serde_json::json!({"type": "integer"}));
        assert_eq!(schema("200")["$ref"], "#/components/schemas/node");
        let node = &doc["components"]["schemas"]["node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/node"
        );
        assert!(doc["components"]["schemas"].get("Error_2").is_none());
    }

    #[test]
    fn discriminator_mappings_and_31_path_items_follow_their_targets() {
        let root = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /ping: {$ref: '#/components/pathItems/Ping'}
components:
  pathItems:
    Ping:
      get:
        responses:
          '200':
            description: ok
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Pet'}
  schemas:
    Pet:
      oneOf:
        - {$ref: 'pets.yaml#/components/schemas/Dog'}
        - {$ref: 'cat.yaml'}
      discriminator:
        propertyName: kind
        mapping: {dog: 'pets.yaml#/components/schemas/Dog', cat: 'cat.yaml', own: Pet}
"#;
        let pets = "components:\n  schemas:\n    Dog:\n      type: object\n      discriminator:\n        propertyName: kind\n        mapping: {dog: Dog}\n";
        let cat = "type: object\nproperties:\n  kind: {type: string}\n";
        let dir = fixture(&[("api.yaml", root), ("pets.yaml", pets), ("cat.yaml", cat)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        let doc = &loaded.document;
        assert!(doc["components"].get("pathItems").is_none());
        let get = &doc["paths"]["/ping"]["get"];
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Pet"
        );
        assert_eq!(
            loaded.origins.locate("/paths/~1ping/get").pointer,
            "/components/pathItems/Ping/get"
        );
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Pet"]["discriminator"]["mapping"],
            serde_json::json!({
                "dog": "#/components/schemas/Dog",
                "cat": "#/components/schemas/cat",
                "own": "Pet",
            })
        );
        // The one-of branch and the mapping name the same hoisted schema.
        assert_eq!(
            schemas["Pet"]["oneOf"][1]["$ref"],
            "#/components/schemas/cat"
        );
        assert_eq!(
            schemas["Dog"]["discriminator"]["mapping"]["dog"],
            "#/components/schemas/Dog"
        );
    }

    #[test]
    fn dangling_refs_are_reported_where_written() {
        let root = format!(
            r#"openapi: 3.0.3
{INFO}paths:
  /a:
    $ref: paths/a.yaml
  /b:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {{$ref: '#/components/schemas/Usr'}}
        '404':
          description: gone
          content:
            application/json:
              schema: {{$ref: 'missing.yaml#/components/schemas/X'}}
        '500':
          description: remote
          content:
            application/json:
              schema: {{$ref: 'https://example.com/s.yaml#/X'}}
components:
  schemas:
    User: {{type: object}}
"#
        );
        let a = r#"
get:
  responses:
    '200':
      description: ok
      content:
        application/json:
          schema: {$ref: '#/components/schemas/User'}
"#;
        let dir = fixture(&[("api.yaml", &root), ("paths/a.yaml", a)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(loaded.is_some());
        let found: Vec<(&str, (String, String))> =
            diags.list.iter().map(|d| (d.code, at(&dir, d))).collect();
        let schema_ref = "/content/application~1json/schema/$ref";
        assert_eq!(
            found,
            [
                (
                    DANGLING_REF,
                    (
                        "paths/a.yaml".into(),
                        format!("/get/responses/200{schema_ref}")
                    )
                ),
                (
                    DANGLING_REF,
                    (
                        "api.yaml".into(),
                        format!("/paths/~1b/get/responses/404{schema_ref}")
                    )
                ),
                (
                    REMOTE_REF,
                    (
                        "api.yaml".into(),
                        format!("/paths/~1b/get/responses/500{schema_ref}")
                    )
                ),
                (
                    DANGLING_REF,
                    (
                        "api.yaml".into(),
                        format!("/paths/~1b/get/responses/200{schema_ref}")
                    )
                ),
            ]
        );
        assert!(
            diags.list[0]
                .help
                .as_ref()
                .unwrap()
                .contains("root document")
        );
        assert!(diags.list[1].message.contains("missing.yaml"));
        assert!(diags.list[3].message.contains("#/components/schemas/Usr"));
        assert_eq!(diags.list[3].help.as_deref(), Some("did you mean `User`?"));
    }

    #[test]
    fn unsupported_keywords_are_errors_in_schema_positions_only() {
        let spec = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
components:
  schemas:
    A:
      type: object
      properties:
        if: {type: string}
        then: {type: object, patternProperties: {'^x': {type: string}}}
        contains: {type: array, prefixItems: [{type: string}]}
      if: {required: [if]}
      then: {required: [then]}
      example: {dependentRequired: 1}
      x-dependencies: {}
"#;
        let dir = fixture(&[("api.yaml", spec)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(loaded.is_some());
        let found: Vec<(&str, String, bool)> = diags
            .list
            .iter()
            .map(|d| {
                let l = d.location.as_ref().unwrap();
                (d.code, l.pointer.clone(), l.at_key)
            })
            .collect();
        let base = "/components/schemas/A";
        assert_eq!(
            found,
            [
                (UNSUPPORTED_KEYWORD, format!("{base}/if"), true),
                (UNSUPPORTED_KEYWORD, format!("{base}/then"), true),
                (
                    UNSUPPORTED_KEYWORD,
                    format!("{base}/properties/then/patternProperties"),
                    true
                ),
                (
                    UNSUPPORTED_KEYWORD,
                    format!("{base}/properties/contains/prefixItems"),
                    true
                ),
            ]
        );
        assert!(diags.list[0].message.contains("`if`"));
        assert_eq!(
            diags.list[0].help.as_deref(),
            Some(
                "the gateway would not enforce it; remove it or express it with supported keywords"
            )
        );
    }

    #[test]
    fn ref_siblings_apply_in_31_warn_in_30_and_defs_refs_are_unsupported() {
        let text = r#"
components:
  schemas:
    A: {$ref: '#/components/schemas/B', description: fine}
    B: {$ref: '#/components/schemas/C', maxLength: 3}
    C:
      type: string
      $defs:
        D: {type: integer}
    E: {$ref: '#/components/schemas/C/$defs/D'}
    F: {$ref: 'plain.yaml', minLength: 1}
    G: {$ref: '#/components/schemas/C', allOf: [{minLength: 1}], unevaluatedProperties: false}
"#;
        let found = |diags: &Diagnostics| -> Vec<(&str, String)> {
            diags
                .list
                .iter()
                .map(|d| (d.code, d.location.as_ref().unwrap().pointer.clone()))
                .collect()
        };
        // 3.1 (JSON Schema 2020-12): the keywords beside a `$ref` apply, as an `allOf`.
        let spec = format!("openapi: 3.1.0\n{INFO}{text}");
        let dir = fixture(&[("api.yaml", &spec), ("plain.yaml", "type: string\n")]);
        let (loaded, diags) = load(&dir, "api.yaml");
        let loaded = loaded.unwrap();
        assert_eq!(
            found(&diags),
            [
                (UNSUPPORTED_KEYWORD, "/components/schemas/E/$ref".to_owned()),
                (
                    UNSUPPORTED_KEYWORD,
                    "/components/schemas/G/unevaluatedProperties".to_owned()
                ),
            ]
        );
        let schemas = &loaded.document["components"]["schemas"];
        assert_eq!(
            schemas["A"],
            serde_json::json!({"$ref": "#/components/schemas/B"})
        );
        assert_eq!(
            schemas["B"],
            serde_json::json!({"maxLength": 3, "allOf": [{"$ref": "#/components/schemas/C"}]})
        );
        assert_eq!(
            schemas["F"],
            serde_json::json!({"minLength": 1, "allOf": [{"type": "string"}]})
        );
        // An `allOf` already there gets the `$ref` too; an unsupported keyword beside a
        // `$ref` is refused (above) rather than dropped with the `$ref`'s siblings.
        assert_eq!(
            schemas["G"],
            serde_json::json!({
                "allOf": [{"minLength": 1}, {"$ref": "#/components/schemas/C"}],
                "unevaluatedProperties": {"not": {}}
            })
        );
        assert!(schemas["C"].get("$defs").is_none());

        // 3.0: siblings of a `$ref` are ignored, with a warning when they constrained.
        let spec = format!("openapi: 3.0.3\n{INFO}paths: {{}}\n{text}")
            .replace("E: {$ref: '#/components/schemas/C/$defs/D'}", "")
            .replace("      $defs:\n        D: {type: integer}\n", "")
            .replace(", unevaluatedProperties: false", "");
        let dir = fixture(&[("api.yaml", &spec), ("plain.yaml", "type: string\n")]);
        let (loaded, diags) = load(&dir, "api.yaml");
        let loaded = loaded.unwrap_or_else(|| panic!("{spec}\n{:?}", found(&diags)));
        assert_eq!(
            found(&diags),
            [
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/B/maxLength".to_owned()
                ),
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/F/minLength".to_owned()
                ),
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/G/allOf".to_owned()
                ),
            ]
        );
        // Inlined or not, a ref's siblings are dropped, as the warning says.
        assert_eq!(
            loaded.document["components"]["schemas"]["F"],
            serde_json::json!({"type": "string"})
        );
    }

    #[test]
    fn shape_errors_point_at_the_innermost_failure() {
        let root = format!("openapi: 3.0.3\n{INFO}paths:\n  /a:\n    $ref: a.yaml\n");
        let a = r#"
get:
  parameters:
    - name: q
      in: query
      schema: {type: string}
    - name: r
      in: nowhere
  responses:
    '200': {description: ok}
"#;
        let dir = fixture(&[("api.yaml", &root), ("a.yaml", a)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(loaded.is_none());
        assert_eq!(codes(&diags), [INVALID]);
        assert_eq!(
            at(&dir, &diags.list[0]),
            ("a.yaml".into(), "/get/parameters/1".into())
        );

        let schema = format!(
            "openapi: 3.0.3\n{INFO}paths: {{}}\ncomponents:\n  schemas:\n    A:\n      type: object\n      properties:\n        n: {{type: string, maxLength: -1}}\n"
        );
        let dir = fixture(&[("api.yaml", &schema)]);
        let (_, diags) = load(&dir, "api.yaml");
        assert_eq!(codes(&diags), [INVALID]);
        assert_eq!(
            diags.list[0].location.as_ref().unwrap().pointer,
            "/components/schemas/A/properties/n"
        );

        let missing = "openapi: 3.0.3\npaths: {}\n";
        let dir = fixture(&[("api.yaml", missing)]);
        let (_, diags) = load(&dir, "api.yaml");
        assert_eq!(codes(&diags), [INVALID]);
        assert!(diags.list[0].message.contains("info"), "{diags:?}");
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let deep = format!(
            "openapi: 3.0.3\n{INFO}x: {}1{}\n",
            "[".repeat(500),
            "]".repeat(500)
        );
        // Each file inlines the next twice: the copies double per level.
        let mut owned: Vec<(String, String)> = (0..30)
            .map(|i| {
                let next = i + 1;
                let text = format!("type: object\nproperties:\n  a: {{$ref: 'w{next}.yaml'}}\n  b: {{$ref: 'w{next}.yaml'}}\n");
                (format!("w{i}.yaml"), text)
            })
            .collect();
        owned.push(("w30.yaml".into(), "type: string\n".into()));
        // A long chain of inlines: deeper than the inline nesting limit.
        owned.extend((0..40).map(|i| {
            let next = i + 1;
            (
                format!("l{i}.yaml"),
                format!("type: array\nitems: {{$ref: 'l{next}.yaml'}}\n"),
            )
        }));
        owned.push(("l40.yaml".into(), "type: string\n".into()));
        for (root, first) in [("wide.yaml", "w0.yaml"), ("long.yaml", "l0.yaml")] {
            let text = format!(
                "openapi: 3.0.3\n{INFO}paths: {{}}\ncomponents:\n  schemas:\n    S: {{$ref: '{first}'}}\n"
            );
            owned.push((root.into(), text));
        }
        // Files nested as deep as the YAML parser allows, inlined into each other.
        let nest = |levels: usize, inner: &str| {
            format!(
                "{}{inner}{}\n",
                "{properties: {a: ".repeat(levels),
                "}}".repeat(levels)
            )
        };
        owned.push(("n0.yaml".into(), nest(60, "{$ref: 'n1.yaml'}")));
        owned.push(("n1.yaml".into(), nest(60, "{$ref: 'n2.yaml'}")));
        owned.push(("n2.yaml".into(), nest(60, "{type: string}")));
        owned.push(("m0.yaml".into(), nest(45, "{$ref: 'm1.yaml'}")));
        owned.push(("m1.yaml".into(), nest(25, "{type: string}")));
        for (root, first) in [("nested.yaml", "n0.yaml"), ("almost.yaml", "m0.yaml")] {
            let text = format!(
                "openapi: 3.0.3\n{INFO}paths: {{}}\ncomponents:\n  schemas:\n    S: {{$ref: '{first}'}}\n"
            );
            owned.push((root.into(), text));
        }
        let cases = [
            ("deep.yaml", deep.as_str()),
            ("empty.yaml", ""),
            ("null.json", "null"),
            ("nan.yaml", "openapi: 3.0.3\nx: .nan\n"),
            ("keys.yaml", "openapi: 3.0.3\n? [a]\n: b\n"),
            (
                "self.yaml",
                "openapi: 3.0.3\npaths:\n  /a: {$ref: 'self.yaml#/paths/~1a'}\n",
            ),
            (
                "weird.yaml",
                "openapi: 3.0.3\npaths:\n  /a: {$ref: 7}\n  /b: {$ref: '#anchor'}\n  /c: {$ref: '%zz'}\ncomponents: []\n",
            ),
        ];
        let mut files: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        files.extend(cases);
        let dir = fixture(&files);
        let names: Vec<String> = cases.iter().map(|(name, _)| (*name).to_owned()).collect();
        // The default stack of a test thread, explicitly: recursion must stay well inside it.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                for file in names {
                    let (_, diags) = load(&dir, &file);
                    assert!(diags.has_errors(), "{file}");
                }
                let (loaded, diags) = load(&dir, "nested.yaml");
                assert!(loaded.is_none());
                assert_eq!(codes(&diags), [INVALID], "{diags:?}");
                let (loaded, diags) = load(&dir, "almost.yaml");
                assert!(diags.is_empty(), "{diags:?}");
                assert!(loaded.is_some());
                let (_, diags) = load(&dir, "wide.yaml");
                assert!(codes(&diags).contains(&TOO_LARGE), "{diags:?}");
                let (loaded, diags) = load(&dir, "long.yaml");
                assert!(diags.is_empty(), "{diags:?}");
                let doc = loaded.unwrap().document;
                let text = doc.to_string();
                assert!(!text.contains(".yaml"), "external refs left: {text}");
            })
            .unwrap();
        handle.join().unwrap();
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
