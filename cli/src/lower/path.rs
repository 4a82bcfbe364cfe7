//! Path templates (`/users/{id}/orders`): parsed once, strictly.
//!
//! A parameter must fill a whole segment: the runtime's router matches segment by segment,
//! and a value can then never leak into a neighbouring literal (`/files/{name}.json` would
//! let `{name}` decide where the literal starts). Such templates are reported, not guessed.
//! Literals are kept percent-encoded, as requests carry them.

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::ir::{PathTemplate, Segment};

pub fn parse_template(path: &str, at: &Location, diags: &mut Diagnostics) -> Option<PathTemplate> {
    let mut key = at.clone();
    key.at_key = true;
    let fail = |diags: &mut Diagnostics, message: String, help: &str| {
        diags.push(
            Diagnostic::error("gateway::spec::malformed_path", message)
                .at(key.clone())
                .help(help.to_owned()),
        );
        None
    };
    let Some(rest) = path.strip_prefix('/') else {
        return fail(
            diags,
            format!("path `{path}` does not start with `/`"),
            "paths are written like `/users/{id}`",
        );
    };
    if rest.is_empty() {
        return Some(PathTemplate {
            segments: Vec::new(),
        });
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for (i, segment) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        if segment.is_empty() && !last {
            return fail(
                diags,
                format!("path `{path}` has an empty segment"),
                "remove the doubled `/`",
            );
        }
        if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if inner.is_empty() || inner.contains(['{', '}']) {
                return fail(
                    diags,
                    format!("path `{path}` has a malformed parameter `{segment}`"),
                    "a parameter is written `{name}`",
                );
            }
            if segments.contains(&Segment::Param(inner.to_owned())) {
                return fail(
                    diags,
                    format!("path `{path}` uses parameter `{inner}` twice"),
                    "give each path parameter its own name",
                );
            }
            segments.push(Segment::Param(inner.to_owned()));
        } else if segment.contains(['{', '}']) {
            return fail(
                diags,
                format!("path `{path}`: segment `{segment}` mixes a parameter with literal text"),
                "a path parameter must be a whole segment (`/files/{name}`, not `/files/{name}.json`)",
            );
        } else if *segment == "." || *segment == ".." {
            return fail(
                diags,
                format!("path `{path}` has a dot segment"),
                "remove `.` and `..` segments",
            );
        } else {
            segments.push(Segment::Literal(encode_literal(segment)));
        }
    }
    Some(PathTemplate { segments })
}

/// A literal as it appears in a request: characters outside RFC 3986 `pchar` (non-ASCII
/// letters, spaces) percent-encoded as UTF-8, so the router compares like with like.
fn encode_literal(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Result<String, String> {
        let mut diags = Diagnostics::default();
        match parse_template(path, &Location::new("s.yaml", "/paths/x"), &mut diags) {
            Some(t) => Ok(t.to_string()),
            None => Err(diags.list[0].message.clone()),
        }
    }

    #[test]
    fn templates() {
        assert_eq!(parse("/users/{id}/orders"), Ok("/users/{id}/orders".into()));
        assert_eq!(parse("/"), Ok("/".into()));
        assert_eq!(parse("/users/"), Ok("/users/".into()));
        assert!(parse("users").is_err());
        assert!(parse("/a//b").is_err());
        assert!(parse("/files/{name}.json").unwrap_err().contains("mixes"));
        assert!(parse("/a/{}").is_err());
        assert!(parse("/a/{x}/{x}").unwrap_err().contains("twice"));
        assert!(parse("/a/../b").is_err());
        assert_eq!(parse("/a b/ユ"), Ok("/a%20b/%E3%83%A6".into()));
    }
}
