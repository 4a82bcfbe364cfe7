//! OpenAPI 3.1 rewritten into 3.0 shape.
//!
//! `openapiv3` models 3.0 only and weakens what it does not understand (a dropped `const`
//! accepts anything), so every 3.1 construct with a 3.0 equivalent is rewritten to it before
//! parsing: type lists, exclusive bounds, `const`, `examples`, boolean schemas. The author's
//! key order is kept so that the bundled document still reads like the spec.

use serde_json::{Map, Value};

use super::SpecVersion;
use super::walk::{Kind, MAX_DEPTH, children, descend_mut, ref_of};

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

// ---------------------------------------------------------------------------------------
// Normalizing to OpenAPI 3.0 shape

pub(super) fn normalize(doc: &mut Value, version: SpecVersion) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::tests::{fixture, load};

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
}
