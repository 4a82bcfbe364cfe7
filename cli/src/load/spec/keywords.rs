//! Schema keywords the gateway cannot enforce.
//!
//! `openapiv3` drops the JSON Schema keywords it does not model without a word, and a
//! dropped keyword is a constraint the gateway would silently not check. So each one met in a
//! schema position is an error here, before parsing; the bundler uses the same list to decide
//! which siblings of a `$ref` constrained the value.

use serde_json::Value;

use super::walk::{Kind, ref_of, visit};
use super::{Origins, UNSUPPORTED_KEYWORD};
use crate::diag::{Diagnostic, pointer_push};

/// JSON Schema keywords `openapiv3` does not model (it would drop them silently).
pub(super) const UNSUPPORTED_KEYWORDS: &[&str] = &[
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

// ---------------------------------------------------------------------------------------
// Keywords openapiv3 would drop

pub(super) fn report_unsupported_keywords(
    doc: &Value,
    origins: &Origins,
    diags: &mut Vec<Diagnostic>,
) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::tests::{fixture, load};

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
}
