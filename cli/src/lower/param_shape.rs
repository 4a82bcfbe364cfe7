//! What an object parameter's text is read as: the [`ParamShape`] of its schema, taken from
//! the bundled document (each property's `type`, through `$ref`s and `allOf`), so that the
//! runtime can turn `?filter[size]=3` into `{"size": 3}` before the generated validator of
//! the schema checks it.

use serde_json::Value;

use crate::ir::ParamShape;

/// How deep nested objects and arrays are typed; deeper values are read as text.
const MAX_DEPTH: usize = 4;

/// The pointer of what `pointer` refers to, following local `$ref`s (bounded).
pub fn resolve(document: &Value, pointer: &str) -> String {
    let mut pointer = pointer.to_owned();
    for _ in 0..32 {
        let Some(reference) = document
            .pointer(&pointer)
            .and_then(|v| v.get("$ref"))
            .and_then(Value::as_str)
        else {
            break;
        };
        let Some(next) = reference.strip_prefix('#') else {
            break;
        };
        pointer = next.to_owned();
    }
    pointer
}

/// The shape of the schema at `pointer`.
pub fn shape(document: &Value, pointer: &str) -> ParamShape {
    shape_at(document, pointer, 0)
}

fn shape_at(document: &Value, pointer: &str, depth: usize) -> ParamShape {
    if depth > MAX_DEPTH {
        return ParamShape::Any;
    }
    let pointer = resolve(document, pointer);
    let Some(schema) = document.pointer(&pointer).and_then(Value::as_object) else {
        return ParamShape::Any;
    };
    let ty = match schema.get("type") {
        Some(Value::String(ty)) => Some(ty.as_str()),
        // 3.1 `type: [x, "null"]` was normalized to `nullable`; anything else is mixed.
        _ => None,
    };
    match ty {
        Some("string") => ParamShape::String,
        Some("integer") => ParamShape::Integer,
        Some("number") => ParamShape::Number,
        Some("boolean") => ParamShape::Boolean,
        Some("array") => ParamShape::Array(Box::new(shape_at(
            document,
            &format!("{pointer}/items"),
            depth + 1,
        ))),
        Some("object") => ParamShape::Object(properties(document, &pointer, depth)),
        None if schema.contains_key("properties") || schema.contains_key("allOf") => {
            let properties = properties(document, &pointer, depth);
            if properties.is_empty() && !schema.contains_key("properties") {
                ParamShape::Any
            } else {
                ParamShape::Object(properties)
            }
        }
        _ => ParamShape::Any,
    }
}

/// The properties of an object schema and of the members of its `allOf`, first one wins.
fn properties(document: &Value, pointer: &str, depth: usize) -> Vec<(String, ParamShape)> {
    let mut found: Vec<(String, ParamShape)> = Vec::new();
    let schema = document.pointer(pointer);
    if let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for name in properties.keys() {
            let at = format!("{pointer}/properties/{}", escape(name));
            found.push((name.clone(), shape_at(document, &at, depth + 1)));
        }
    }
    if let Some(members) = schema
        .and_then(|s| s.get("allOf"))
        .and_then(Value::as_array)
    {
        for index in 0..members.len() {
            let member = resolve(document, &format!("{pointer}/allOf/{index}"));
            if depth < MAX_DEPTH {
                for (name, shape) in properties(document, &member, depth + 1) {
                    if !found.iter().any(|(n, _)| *n == name) {
                        found.push((name, shape));
                    }
                }
            }
        }
    }
    found
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_refs_and_all_of() {
        let document = serde_json::json!({
            "components": {"schemas": {
                "Base": {"type": "object", "properties": {"id": {"type": "integer"}}},
                "Filter": {"allOf": [{"$ref": "#/components/schemas/Base"},
                    {"properties": {"tags": {"type": "array", "items": {"type": "string"}},
                                    "a/b": {"type": "boolean"}}}]}
            }},
            "p": {"schema": {"$ref": "#/components/schemas/Filter"}}
        });
        assert_eq!(
            shape(&document, "/p/schema"),
            ParamShape::Object(vec![
                ("id".to_owned(), ParamShape::Integer),
                (
                    "tags".to_owned(),
                    ParamShape::Array(Box::new(ParamShape::String))
                ),
                ("a/b".to_owned(), ParamShape::Boolean),
            ])
        );
        assert_eq!(shape(&document, "/nothing"), ParamShape::Any);
    }
}
