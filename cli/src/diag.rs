//! Diagnostics: every problem the compiler finds in its inputs, with a stable code, a place
//! (file, JSON pointer, line and column) and one line of help.
//!
//! Stages create diagnostics with a file and a JSON pointer only (the manifest is addressed
//! by pointer too, e.g. `/services/users/upstream/timeouts/connect`); lines and columns are
//! filled in at the end by [`crate::load::sources::Sources`], which parses a file for
//! positions only when one of its diagnostics needs them. Stages collect and keep going;
//! nothing stops at the first problem.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A place in an input file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// As the user named it (relative paths stay relative, so output is the same anywhere).
    pub file: PathBuf,
    /// JSON pointer into the file's document; empty for the whole document.
    pub pointer: String,
    /// Point at the key of the pointed-to member rather than at its value.
    pub at_key: bool,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, pointer: impl Into<String>) -> Location {
        Location {
            file: file.into(),
            pointer: pointer.into(),
            at_key: false,
            line: None,
            column: None,
        }
    }

    /// The location of a member's key (for unknown or duplicate keys).
    pub fn key(file: impl Into<PathBuf>, pointer: impl Into<String>) -> Location {
        Location {
            at_key: true,
            ..Location::new(file, pointer)
        }
    }

    /// A location whose line and column are already known (e.g. a YAML syntax error).
    pub fn at(file: impl Into<PathBuf>, line: usize, column: usize) -> Location {
        Location {
            line: Some(line),
            column: Some(column),
            ..Location::new(file, "")
        }
    }

    /// The same file, one member deeper.
    pub fn child(&self, token: &str) -> Location {
        Location::new(self.file.clone(), pointer_push(&self.pointer, token))
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn pointer_push(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Splits a JSON pointer into its unescaped reference tokens.
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable, e.g. `gateway::manifest::unknown_key`. Users and CI filter on it.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    pub help: Option<String>,
    /// Other places involved (the other side of a conflict), each with a short label.
    pub related: Vec<(String, Location)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: None,
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, location: Location) -> Diagnostic {
        self.location = Some(location);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, label: impl Into<String>, location: Location) -> Diagnostic {
        self.related.push((label.into(), location));
        self
    }
}

/// The diagnostics of one run, collected across stages.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.list.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.list);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sorted by file, then position, then code: the order users read them in.
    pub fn sort(&mut self) {
        self.list.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.location.as_ref().map(|l| {
                    (
                        l.file.clone(),
                        l.line.unwrap_or(usize::MAX),
                        l.column.unwrap_or(0),
                        l.pointer.clone(),
                    )
                })
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| a.code.cmp(b.code))
                .then_with(|| a.message.cmp(&b.message))
        });
        self.list.dedup();
    }
}

/// Source text for rendering snippets: `(file, text)` lookups.
pub trait SourceText {
    fn text(&self, file: &Path) -> Option<&str>;
}

/// Renders diagnostics for people: rustc/miette style, no colour, stable width.
pub fn render_human(diagnostics: &Diagnostics, sources: &dyn SourceText) -> String {
    let mut out = String::new();
    for d in &diagnostics.list {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{severity}[{}]: {}", d.code, d.message);
        if let Some(location) = &d.location {
            render_location(&mut out, location, None, sources);
        }
        for (label, location) in &d.related {
            render_location(&mut out, location, Some(label), sources);
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out.push('\n');
    }
    let errors = diagnostics
        .list
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.list.len() - errors;
    let _ = writeln!(
        out,
        "{errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    out
}

fn render_location(
    out: &mut String,
    location: &Location,
    label: Option<&str>,
    sources: &dyn SourceText,
) {
    let file = location.file.display().to_string().replace('\\', "/");
    let place = match (location.line, location.column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file.clone(),
    };
    let pointer = if location.pointer.is_empty() {
        String::new()
    } else {
        format!(" (at {})", location.pointer)
    };
    let _ = writeln!(out, "  --> {place}{pointer}");
    let (Some(line), Some(text)) = (location.line, sources.text(&location.file)) else {
        if let Some(label) = label {
            let _ = writeln!(out, "   = {label}");
        }
        return;
    };
    let Some(source_line) = text.lines().nth(line.saturating_sub(1)) else {
        return;
    };
    let source_line: String = source_line.chars().take(160).collect();
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let _ = writeln!(out, "  {pad} |");
    let _ = writeln!(out, "  {number} | {}", source_line.trim_end());
    let column = location.column.unwrap_or(1).max(1);
    let width = token_width(&source_line, column);
    let _ = writeln!(
        out,
        "  {pad} | {}{}{}",
        " ".repeat(column - 1),
        "^".repeat(width),
        label.map(|l| format!(" {l}")).unwrap_or_default()
    );
}

/// Width of the token starting at a 1-based column, for the caret underline.
fn token_width(line: &str, column: usize) -> usize {
    let rest: String = line.chars().skip(column - 1).collect();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let width = if let Some(quote) = quote {
        rest[1..].find(quote).map(|i| i + 2).unwrap_or(rest.len())
    } else {
        // A plain scalar ends at `: `, `,`, ` #`, or a bracket it did not open (a path
        // template like `/files/{name}{ext}` has braces of its own).
        let mut depth = 0usize;
        let mut end = rest.len();
        let mut previous = ' ';
        for (i, c) in rest.char_indices() {
            let next = rest[i + c.len_utf8()..].chars().next();
            let stop = match c {
                '{' | '[' => {
                    depth += 1;
                    false
                }
                '}' | ']' if depth == 0 => true,
                '}' | ']' => {
                    depth -= 1;
                    false
                }
                ':' => next.is_none_or(char::is_whitespace),
                ',' => depth == 0,
                '#' => previous.is_whitespace(),
                _ => false,
            };
            if stop {
                end = i;
                break;
            }
            previous = c;
        }
        end
    };
    rest[..width].trim_end().chars().count().max(1)
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<JsonRelated<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    message: &'a str,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'a str>,
}

/// `{"diagnostics": [...]}` for CI (`gateway validate --format json`).
pub fn render_json(diagnostics: &Diagnostics) -> String {
    let list: Vec<JsonDiagnostic> = diagnostics
        .list
        .iter()
        .map(|d| {
            let loc = d.location.as_ref();
            JsonDiagnostic {
                code: d.code,
                severity: d.severity,
                message: &d.message,
                file: loc.map(|l| l.file.display().to_string().replace('\\', "/")),
                line: loc.and_then(|l| l.line),
                column: loc.and_then(|l| l.column),
                pointer: loc.map(|l| l.pointer.as_str()).filter(|p| !p.is_empty()),
                help: d.help.as_deref(),
                related: d
                    .related
                    .iter()
                    .map(|(message, l)| JsonRelated {
                        message,
                        file: l.file.display().to_string().replace('\\', "/"),
                        line: l.line,
                        column: l.column,
                        pointer: Some(l.pointer.as_str()).filter(|p| !p.is_empty()),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "diagnostics": list }))
        .unwrap_or_default();
    text.push('\n');
    text
}

/// "did you mean `x`?" for a misspelt name among the candidates.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_and_split() {
        let p = pointer_push("/paths", "/users/{id}");
        assert_eq!(p, "/paths/~1users~1{id}");
        assert_eq!(pointer_tokens(&p), ["paths", "/users/{id}"]);
        assert_eq!(pointer_push("", "a~b"), "/a~0b");
        assert!(pointer_tokens("").is_empty());
    }

    #[test]
    fn carets_cover_the_token() {
        assert_eq!(token_width("  /files/{name}{ext}:", 3), 18);
        assert_eq!(token_width("  timeout: 1s", 3), 7);
        assert_eq!(token_width("{ connect: 1sec, request: 0s }", 12), 4);
        assert_eq!(token_width("x: 'http://a:1' # c", 4), 12);
        assert_eq!(token_width("urls: [http://a:1, b]", 8), 10);
    }

    #[test]
    fn suggestions_only_for_close_names() {
        assert_eq!(
            did_you_mean("timeout", ["timeouts", "urls"]).as_deref(),
            Some("did you mean `timeouts`?")
        );
        assert_eq!(did_you_mean("zzz", ["timeouts", "urls"]), None);
    }
}
