//! Shared by the differential test and the benchmark (`bench/validators`): a schema of an
//! OpenAPI document as a `jsonschema` validator, the OpenAPI keywords spelled in JSON
//! Schema (`nullable` as `anyOf` with `null`, `int32`/`int64`/`float` as bounds, a required
//! `readOnly` property as not required in a request); OpenAPI 3.0 as draft 4, 3.1 as
//! 2020-12, formats checked. A 3.1 document may be given as written (the differential
//! test) or in the 3.0 shape `gateway` normalizes it to (the benchmark: boolean exclusive
//! bounds become 2020-12's numeric ones).

#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// A body schema of the example: its operation, the document it lives in, its pointer.
/// Follows `$ref`s within `document`.
pub fn resolve<'d>(document: &'d Value, mut schema: &'d Value) -> &'d Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => schema = document.pointer(r.trim_start_matches('#')).unwrap(),
            None => break,
        }
    }
    schema
}

/// The OpenAPI keywords of a schema (and, recursively, of every object in it), as JSON
/// Schema for the oracle.
fn to_json_schema(value: &mut Value, document: &Value, draft4: bool) {
    match value {
        Value::Array(items) => {
            for item in items {
                to_json_schema(item, document, draft4);
            }
        }
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key != "enum" && key != "example" && key != "default" {
                    to_json_schema(child, document, draft4);
                }
            }
            if !map.contains_key("$ref") {
                schema_keywords(map, document, draft4);
            }
        }
        _ => {}
    }
}

fn schema_keywords(map: &mut Map<String, Value>, document: &Value, draft4: bool) {
    let bounds = match map.get("format").and_then(Value::as_str) {
        Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
        Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
        Some("float") => Some((json!(-f64::from(f32::MAX)), json!(f64::from(f32::MAX)))),
        _ => None,
    };
    let mut all_of = Vec::new();
    if let Some((low, high)) = bounds {
        all_of.push(json!({ "minimum": low, "maximum": high }));
    }
    if !draft4 {
        for (exclusive, inclusive) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if map.get(exclusive) == Some(&json!(true)) {
                let bound = map.shift_remove(inclusive).unwrap();
                map.insert(exclusive.into(), bound);
            } else if map.get(exclusive).is_some_and(Value::is_boolean) {
                map.shift_remove(exclusive);
            }
        }
    }
    if let Some(Value::Array(required)) = map.get("required") {
        let properties = map.get("properties").cloned().unwrap_or_default();
        let kept: Vec<Value> = required
            .iter()
            .filter(|name| {
                let property = properties.get(name.as_str().unwrap_or_default());
                !property
                    .is_some_and(|p| resolve(document, p).get("readOnly") == Some(&json!(true)))
            })
            .cloned()
            .collect();
        map.insert("required".into(), Value::Array(kept));
    }
    if !all_of.is_empty() {
        match map.get_mut("allOf") {
            Some(Value::Array(list)) => list.extend(all_of),
            _ => {
                map.insert("allOf".into(), Value::Array(all_of));
            }
        }
    }
    if map.shift_remove("nullable") == Some(json!(true)) {
        let rest = Value::Object(std::mem::take(map));
        map.insert("anyOf".into(), json!([{ "type": "null" }, rest]));
    }
}

/// The schema at `pointer` of `document` as a validator; `draft4` for OpenAPI 3.0 specs.
pub fn oracle(document: &Value, pointer: &str, draft4: bool, what: &str) -> jsonschema::Validator {
    let original = document;
    let mut document = original.clone();
    to_json_schema(&mut document, original, draft4);
    // The whole document as the root (so `#/components/...` refs resolve), pointing at the
    // body schema; draft 4 ignores the siblings of `$ref`, 2020-12 the unknown keywords.
    document.as_object_mut().unwrap().insert(
        "$ref".into(),
        json!(format!(
            "#{}",
            pointer.replace('{', "%7B").replace('}', "%7D")
        )),
    );
    let draft = if draft4 {
        jsonschema::Draft::Draft4
    } else {
        jsonschema::Draft::Draft202012
    };
    jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .build(&document)
        .unwrap_or_else(|e| panic!("{what}: the oracle refuses the schema: {e}"))
}
