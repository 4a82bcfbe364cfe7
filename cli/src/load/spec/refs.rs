//! What a `$ref` string says, and whether the refs left after bundling resolve.
//!
//! Refs are read in two places: the bundler follows them into other files, and the bundled
//! document's own `#/...` refs are checked at the end. Both must split, decode and suggest
//! the same way, or a ref accepted by one would be reported by the other.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::walk::{Kind, descend, ref_of, visit};
use super::{DANGLING_REF, Origins, UNSUPPORTED_KEYWORD};
use crate::diag::{Diagnostic, did_you_mean, pointer_push, pointer_tokens};

// ---------------------------------------------------------------------------------------
// Reference strings

pub(super) enum RefTarget {
    /// `#/...` or `file#/...`: a file (empty for "the file the ref is in") and a pointer.
    Local {
        file: String,
        pointer: String,
    },
    Remote,
    /// A fragment that is not a JSON pointer (an anchor).
    Anchor(String),
}

pub(super) fn parse_ref(reference: &str) -> RefTarget {
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
pub(super) fn normalize_path(path: &Path) -> PathBuf {
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

/// A discriminator mapping value naming a file rather than a schema.
pub(super) fn names_file(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// "did you mean" for the last token of a pointer that almost resolves.
pub(super) fn suggestion(doc: &Value, pointer: &str) -> Option<String> {
    let tokens = pointer_tokens(pointer);
    let (last, parent) = tokens.split_last()?;
    let Value::Object(map) = descend(doc, parent)? else {
        return None;
    };
    did_you_mean(last, map.keys().map(String::as_str))
}

// ---------------------------------------------------------------------------------------
// Checking internal refs of the bundled document

pub(super) fn check_refs(doc: &Value, origins: &Origins, diags: &mut Vec<Diagnostic>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::REMOTE_REF;
    use crate::load::spec::tests::{INFO, at, fixture, load};

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
}
