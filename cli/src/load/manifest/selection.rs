//! `services.<s>.include` / `exclude`: which of a spec's operations the gateway publishes.
//!
//! Selectors are checked here for their own syntax (a path glob that does not compile);
//! whether each one names something the spec has is known only when `lower` walks the
//! operations, so the selectors keep their manifest pointers for that report.

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use super::Ctx;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelection {
    #[serde(default)]
    operations: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// One `include` or `exclude` list: an operation matches when any selector does.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub selectors: Vec<Selector>,
}

#[derive(Debug, Clone)]
pub struct Selector {
    pub kind: SelectorKind,
    /// As written in the manifest.
    pub text: String,
    /// Where it is written, for "matches nothing" reports.
    pub pointer: String,
    glob: Option<GlobMatcher>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorKind {
    Operation,
    Tag,
    Path,
}

impl SelectorKind {
    /// The manifest key of the list it comes from.
    pub fn key(self) -> &'static str {
        match self {
            SelectorKind::Operation => "operations",
            SelectorKind::Tag => "tags",
            SelectorKind::Path => "paths",
        }
    }
}

/// What the selectors look at in an operation.
pub struct Candidate<'a> {
    pub operation_id: &'a str,
    pub tags: &'a [String],
    /// The path template as the spec writes it (before the service's mount).
    pub path: &'a str,
}

impl Selection {
    /// The indexes of the selectors that match.
    pub fn matching(&self, candidate: &Candidate<'_>) -> Vec<usize> {
        self.selectors
            .iter()
            .enumerate()
            .filter(|(_, s)| s.matches(candidate))
            .map(|(i, _)| i)
            .collect()
    }
}

impl Selector {
    fn matches(&self, candidate: &Candidate<'_>) -> bool {
        match self.kind {
            SelectorKind::Operation => self.text == candidate.operation_id,
            SelectorKind::Tag => candidate.tags.contains(&self.text),
            SelectorKind::Path => self
                .glob
                .as_ref()
                .is_some_and(|g| g.is_match(candidate.path)),
        }
    }
}

pub(super) fn selection(pointer: &str, raw: RawSelection, ctx: &mut Ctx<'_>) -> Selection {
    let mut selectors = Vec::new();
    for (kind, list) in [
        (SelectorKind::Operation, raw.operations),
        (SelectorKind::Tag, raw.tags),
        (SelectorKind::Path, raw.paths),
    ] {
        for (index, text) in list.into_iter().enumerate() {
            let at = format!("{pointer}/{}/{index}", kind.key());
            let glob = match kind {
                SelectorKind::Path => match path_glob(&text) {
                    Ok(glob) => Some(glob),
                    Err(message) => {
                        ctx.error(
                            "gateway::manifest::invalid_value",
                            &at,
                            message,
                            "a path glob is a spec path where `*` stands for one segment (or part of one) and `**` for any number, e.g. `/admin/**` or `/users/*/keys`",
                        );
                        continue;
                    }
                },
                _ => None,
            };
            selectors.push(Selector {
                kind,
                text,
                pointer: at,
                glob,
            });
        }
    }
    Selection { selectors }
}

fn path_glob(text: &str) -> Result<GlobMatcher, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "path glob `{text}` does not start with `/` (it is matched against the spec's paths)"
        ));
    }
    // `*` stays within a segment, as in the shells and .gitignore files people know; `{}`
    // is literal, since it delimits the spec's path parameters.
    let glob = globset::GlobBuilder::new(&text.replace('{', "\\{").replace('}', "\\}"))
        .literal_separator(true)
        .build()
        .map_err(|e| format!("path glob `{text}` is not valid: {}", e.kind()))?;
    Ok(Glob::compile_matcher(&glob))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(glob: &str, path: &str) -> bool {
        path_glob(glob).unwrap().is_match(path)
    }

    #[test]
    fn a_star_stays_within_a_segment_and_braces_are_the_specs() {
        assert!(matches("/admin/*", "/admin/users"));
        assert!(!matches("/admin/*", "/admin/users/{id}"));
        assert!(matches("/admin/**", "/admin/users/{id}"));
        assert!(matches("/users/{id}", "/users/{id}"));
        assert!(!matches("/users/{id}", "/users/id"));
        assert!(matches("/users/*/keys", "/users/{userId}/keys"));
        assert!(path_glob("admin/*").is_err());
        assert!(path_glob("/a/[").is_err());
    }
}
