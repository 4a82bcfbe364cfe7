//! The report's four forms: text for a terminal, JSON for tools (a stable shape, version 1,
//! docs/diff.md), Markdown for a pull-request comment, and GitHub Actions annotations.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{Change, Level, Report, Scope};

/// The version of the JSON shape; a field removed or changed in meaning bumps it.
pub const JSON_VERSION: u32 = 1;

const LEVELS: [Level; 3] = [Level::Err, Level::Warn, Level::Info];

fn counts(report: &Report) -> String {
    LEVELS
        .iter()
        .map(|l| format!("{} {}", report.count(*l), l.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `path:line:col`, or the path alone when the line is unknown.
fn place(change: &Change) -> Option<String> {
    let location = change.location.as_ref()?;
    let file = location.file.display();
    Some(match (location.line, location.column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        _ => format!("{file}"),
    })
}

/// Changes by scope, in report order.
fn groups(report: &Report) -> Vec<(&Scope, Vec<&Change>)> {
    let mut groups: Vec<(&Scope, Vec<&Change>)> = Vec::new();
    for change in &report.changes {
        match groups.last_mut() {
            Some((scope, list)) if **scope == change.scope => list.push(change),
            _ => groups.push((&change.scope, vec![change])),
        }
    }
    groups
}

pub fn text(report: &Report) -> String {
    if report.changes.is_empty() {
        return "no changes\n".into();
    }
    let width = report
        .changes
        .iter()
        .map(|c| c.rule.id.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (scope, changes) in groups(report) {
        let _ = writeln!(out, "{}", scope.title());
        for change in changes {
            let _ = writeln!(
                out,
                "  {:<4}  {:<width$}  {}",
                change.rule.level.as_str(),
                change.rule.id,
                change.message
            );
            if let Some(at) = place(change) {
                let _ = writeln!(out, "        {:<width$}  at {at}", "");
            }
        }
    }
    let _ = writeln!(
        out,
        "{} {}: {}",
        report.changes.len(),
        if report.changes.len() == 1 {
            "change"
        } else {
            "changes"
        },
        counts(report)
    );
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    base: String,
    manifest: String,
    summary: JsonSummary,
    changes: Vec<JsonChange<'a>>,
}

#[derive(Serialize)]
struct JsonSummary {
    #[serde(rename = "ERR")]
    err: usize,
    #[serde(rename = "WARN")]
    warn: usize,
    #[serde(rename = "INFO")]
    info: usize,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    id: &'a str,
    level: Level,
    family: super::Family,
    scope: &'static str,
    /// `null` unless the scope is a route.
    method: Option<&'a str>,
    path: Option<&'a str>,
    /// The route's or the service's.
    service: Option<&'a str>,
    message: &'a str,
    location: Option<JsonLocation>,
}

#[derive(Serialize)]
struct JsonLocation {
    file: String,
    pointer: String,
    line: Option<usize>,
    column: Option<usize>,
}

pub fn json(report: &Report, base: &str, manifest: &Path) -> String {
    let changes = report
        .changes
        .iter()
        .map(|c| {
            let (scope, method, path, service) = match &c.scope {
                Scope::Gateway => ("gateway", None, None, None),
                Scope::Service(key) => ("service", None, None, Some(key.as_str())),
                Scope::Route {
                    path,
                    method,
                    service,
                } => (
                    "route",
                    Some(method.as_str()),
                    Some(path.as_str()),
                    Some(service.as_str()),
                ),
            };
            JsonChange {
                id: c.rule.id,
                level: c.rule.level,
                family: c.rule.family,
                scope,
                method,
                path,
                service,
                message: &c.message,
                location: c.location.as_ref().map(|l| JsonLocation {
                    file: l.file.display().to_string(),
                    pointer: l.pointer.clone(),
                    line: l.line,
                    column: l.column,
                }),
            }
        })
        .collect();
    let shape = JsonReport {
        version: JSON_VERSION,
        base: base.to_owned(),
        manifest: manifest.display().to_string(),
        summary: JsonSummary {
            err: report.count(Level::Err),
            warn: report.count(Level::Warn),
            info: report.count(Level::Info),
        },
        changes,
    };
    let mut text = serde_json::to_string_pretty(&shape).unwrap_or_default();
    text.push('\n');
    text
}

/// A cell of a Markdown table: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(report: &Report, base: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### gateway diff against `{}`\n", cell(base));
    if report.changes.is_empty() {
        out.push_str("No changes at the edge.\n");
        return out;
    }
    let _ = writeln!(out, "| ERR | WARN | INFO |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} |",
        report.count(Level::Err),
        report.count(Level::Warn),
        report.count(Level::Info)
    );
    let all = groups(report);
    let mut shown = 0;
    for (scope, changes) in &all {
        let mut section = format!("\n#### `{}`\n\n", scope.title());
        section.push_str("| level | rule | change | where |\n|---|---|---|---|\n");
        for change in changes {
            let _ = writeln!(
                section,
                "| {} | `{}` | {} | {} |",
                change.rule.level.as_str(),
                change.rule.id,
                cell(&change.message),
                place(change).map_or(String::new(), |p| format!("`{}`", cell(&p)))
            );
        }
        if out.len() + section.len() > MARKDOWN_BUDGET {
            break;
        }
        out.push_str(&section);
        shown += 1;
    }
    if shown < all.len() {
        let left: usize = all[shown..].iter().map(|(_, c)| c.len()).sum();
        let _ = writeln!(
            out,
            "\n{left} more changes, under {} more routes or scopes, do not fit in one \
             comment; `gateway diff` prints them all.",
            all.len() - shown
        );
    }
    out
}

/// What a GitHub comment holds (65,536 characters), less room for the closing line.
const MARKDOWN_BUDGET: usize = 64_000;

/// Escapes for a workflow command's message and its properties (GitHub's toolkit rules).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn github_actions(report: &Report) -> String {
    let mut out = String::new();
    for change in &report.changes {
        let command = match change.rule.level {
            Level::Err => "error",
            Level::Warn => "warning",
            Level::Info => "notice",
        };
        let mut properties = Vec::new();
        if let Some(location) = &change.location {
            properties.push(format!(
                "file={}",
                escape_property(&location.file.display().to_string())
            ));
            if let Some(line) = location.line {
                properties.push(format!("line={line}"));
            }
            if let Some(column) = location.column {
                properties.push(format!("col={column}"));
            }
        }
        properties.push(format!("title={}", escape_property(change.rule.id)));
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&format!("{}: {}", change.scope.title(), change.message))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Method;

    /// A report too long for one GitHub comment keeps whole sections and says what is left.
    #[test]
    fn markdown_fits_a_github_comment() {
        let rule = &super::super::RULES[0];
        let changes = (0..2000)
            .map(|i| Change {
                rule,
                scope: Scope::Route {
                    path: format!("/items/{i:04}"),
                    method: Method::Get,
                    service: "api".into(),
                },
                message: "x".repeat(60),
                location: None,
            })
            .collect();
        let report = Report { changes };
        let text = markdown(&report, "HEAD~1:gateway.yaml");
        assert!(text.chars().count() <= 65_536, "{}", text.len());
        assert!(
            text.contains("| 0 | 0 | 2000 |"),
            "the counts are of all changes"
        );
        let shown = text.matches("| INFO | `").count();
        let (_, last) = text.trim_end().rsplit_once('\n').unwrap();
        assert_eq!(
            last,
            format!(
                "{} more changes, under {} more routes or scopes, do not fit in one comment; \
                 `gateway diff` prints them all.",
                2000 - shown,
                2000 - shown
            )
        );
        assert!(shown > 100, "{shown}");
    }
}
