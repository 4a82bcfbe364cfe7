//! The bundled, normalized document parsed into `openapiv3::OpenAPI`.
//!
//! The parser's own errors lose their place inside flattened members and it can panic, so
//! it runs on its own thread, and on failure the document is re-parsed part by part to find
//! the innermost object that fails: that is where the diagnostic points.

use serde_json::Value;

use super::walk::{Kind, MAX_DEPTH, children, descend, push_all, ref_of};
use super::{INVALID, Origins};
use crate::diag::{Diagnostic, pointer_push};

// ---------------------------------------------------------------------------------------
// Parsing into openapiv3

/// openapiv3 deserializes recursively with large frames (its untagged enums buffer their
/// input), so it runs on a thread with a stack sized for the deepest document we let
/// through; and a panic inside it (it has an `expect`) ends that thread, not the compiler.
const PARSER_STACK: usize = 64 * 1024 * 1024;

pub(super) fn parse_openapi(
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
mod tests {
    use super::*;
    use crate::load::spec::tests::{INFO, at, codes, fixture, load};

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
}
