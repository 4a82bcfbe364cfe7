//! The shape of an OpenAPI document: which members hold which OpenAPI objects, and the
//! helpers every pass uses to step through them.
//!
//! Bundling, ref checking, normalization, the keyword report and the parse-failure search all
//! walk the same document. They share these rules so that they agree on what is structure
//! and what is data, and one depth bound so that none of them runs off the stack.

use serde_json::{Map, Value};

use crate::diag::pointer_push;

/// Deeper than any real spec; keeps the recursive walks (and openapiv3's) off the stack's end
/// even when inlining stacks files on top of each other.
pub(super) const MAX_DEPTH: usize = 160;

// ---------------------------------------------------------------------------------------
// Document structure: which members hold which OpenAPI objects

/// The OpenAPI object a JSON value is in a given position. Walks follow these so that data
/// (examples, defaults, extensions) is never mistaken for structure: an example payload
/// with a `$ref` key is not a reference, a property named `if` is not a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
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
    pub(super) fn section(self) -> Option<&'static str> {
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
    pub(super) fn always_inline(self) -> bool {
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
pub(super) struct Child {
    /// One token (a member), or two (a member of a map, an item of a list).
    pub(super) tokens: Vec<String>,
    pub(super) kind: Kind,
    /// `additionalProperties`, where `true`/`false` are not boolean schemas to rewrite.
    pub(super) additional: bool,
}

pub(super) fn children(map: &Map<String, Value>, kind: Kind) -> Vec<Child> {
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

pub(super) fn descend<'v>(value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |v, t| step(v, t))
}

pub(super) fn descend_mut<'v>(value: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    tokens.iter().try_fold(value, |v, t| step_mut(v, t))
}

pub(super) fn push_all(pointer: &str, tokens: &[String]) -> String {
    tokens
        .iter()
        .fold(pointer.to_owned(), |p, t| pointer_push(&p, t))
}

/// The `$ref` string of a Reference Object in a position where one may stand.
pub(super) fn ref_of(map: &Map<String, Value>, kind: Kind) -> Option<&str> {
    if !kind.may_be_ref() {
        return None;
    }
    map.get("$ref").and_then(Value::as_str)
}

/// What [`visit`] calls on each object: its members, its kind, its pointer.
type Visitor<'f> = dyn FnMut(&Map<String, Value>, Kind, &str) + 'f;

/// Calls `f` on every OpenAPI object in the document (not descending into refs).
pub(super) fn visit(value: &Value, kind: Kind, pointer: &str, depth: usize, f: &mut Visitor<'_>) {
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
