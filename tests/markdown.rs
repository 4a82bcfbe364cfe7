//! The reference documentation as the tests read it: its fenced code blocks and its tables
//! (GitHub-flavoured Markdown, as far as docs/ uses it), so that tests can hold the docs to
//! what the compiler and the gateway do.

use std::fmt;

use crate::workspace;

/// The Markdown files that document the project, relative to the workspace.
pub fn documents() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(workspace().join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    files.sort();
    files.push("README.md".to_owned());
    files
}

/// One Markdown file, split into lines.
pub struct Markdown {
    /// Relative to the workspace, for messages (`docs/runtime.md`).
    pub path: String,
    lines: Vec<String>,
}

/// A fenced code block.
#[derive(Debug, Clone)]
pub struct CodeBlock {
    /// `docs/manifest.md:9`: where its opening fence is.
    pub at: At,
    /// The info string (`yaml`).
    pub info: String,
    /// The content, without the fence's indentation; ends with a newline.
    pub text: String,
}

/// A table: a header row, the delimiter row, body rows. A run of `|` lines without the
/// delimiter row is not a table to a Markdown renderer; it is kept with `delimited: false`
/// so that tests can refuse it.
#[derive(Debug, Clone)]
pub struct Table {
    pub at: At,
    pub header: Vec<String>,
    pub delimited: bool,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub at: At,
    pub cells: Vec<String>,
}

/// A line of a document, for messages: `docs/runtime.md:180`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub path: String,
    pub line: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

impl Markdown {
    /// Reads `path`, relative to the workspace.
    pub fn read(path: &str) -> Markdown {
        let text = std::fs::read_to_string(workspace().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        Markdown::parse(path, &text)
    }

    pub fn parse(path: &str, text: &str) -> Markdown {
        Markdown {
            path: path.to_owned(),
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    fn at(&self, index: usize) -> At {
        At {
            path: self.path.clone(),
            line: index + 1,
        }
    }

    /// Each line with whether it is part of a fenced code block (fences included).
    fn fenced(&self) -> Vec<bool> {
        let mut inside: Option<String> = None;
        self.lines
            .iter()
            .map(|line| {
                let trimmed = line.trim_start();
                match &inside {
                    Some(fence) => {
                        if trimmed.trim_end() == fence {
                            inside = None;
                        }
                        true
                    }
                    None => {
                        if let Some(fence) = fence_of(trimmed) {
                            inside = Some(fence);
                            true
                        } else {
                            false
                        }
                    }
                }
            })
            .collect()
    }

    /// The fenced code blocks, in order.
    pub fn code_blocks(&self) -> Vec<CodeBlock> {
        let mut blocks = Vec::new();
        let mut index = 0;
        while index < self.lines.len() {
            let line = &self.lines[index];
            let trimmed = line.trim_start();
            let Some(fence) = fence_of(trimmed) else {
                index += 1;
                continue;
            };
            let indent = line.len() - trimmed.len();
            let info = trimmed[fence.len()..].trim().to_owned();
            let start = index;
            let mut text = String::new();
            index += 1;
            while index < self.lines.len() && self.lines[index].trim() != fence {
                let content = &self.lines[index];
                // Content is indented like its fence (a block inside a list item).
                let cut = content
                    .char_indices()
                    .take_while(|(i, c)| *i < indent && *c == ' ')
                    .count();
                text.push_str(&content[cut..]);
                text.push('\n');
                index += 1;
            }
            assert!(
                index < self.lines.len(),
                "{}: a code block that never ends",
                self.at(start)
            );
            blocks.push(CodeBlock {
                at: self.at(start),
                info,
                text,
            });
            index += 1;
        }
        blocks
    }

    /// Every table, and every run of `|` lines that a renderer would not take for one.
    pub fn tables(&self) -> Vec<Table> {
        let fenced = self.fenced();
        let is_row = |i: usize| !fenced[i] && self.lines[i].trim_start().starts_with('|');
        let mut tables = Vec::new();
        let mut index = 0;
        while index < self.lines.len() {
            if !is_row(index) {
                index += 1;
                continue;
            }
            let start = index;
            while index < self.lines.len() && is_row(index) {
                index += 1;
            }
            let header = cells(&self.lines[start]);
            let delimited = start + 1 < index && is_delimiter(&self.lines[start + 1]);
            let first_row = if delimited { start + 2 } else { start };
            let rows = (first_row..index)
                .map(|i| Row {
                    at: self.at(i),
                    cells: cells(&self.lines[i]),
                })
                .collect();
            tables.push(Table {
                at: self.at(start),
                header,
                delimited,
                rows,
            });
        }
        tables
    }

    /// The one table whose header row is exactly `header`.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut found: Vec<Table> = self
            .tables()
            .into_iter()
            .filter(|t| t.header == header)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: expected one table headed {header:?}",
            self.path
        );
        found.remove(0)
    }
}

/// The fence (three or more backticks) a trimmed line opens, if it opens one.
fn fence_of(trimmed: &str) -> Option<String> {
    let ticks = trimmed.chars().take_while(|c| *c == '`').count();
    (ticks >= 3).then(|| "`".repeat(ticks))
}

/// The cells of a table row, trimmed. As GitHub splits them: at every `|` that is not
/// escaped as `\|`, code spans included (so `a|b` inside backticks splits a cell).
pub fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = if line.ends_with('|') && !line.ends_with("\\|") {
        &line[..line.len() - 1]
    } else {
        line
    };
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            c => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    cells
}

fn is_delimiter(line: &str) -> bool {
    let cells = cells(line);
    !cells.is_empty()
        && cells.iter().all(|cell| {
            let inner = cell.trim_start_matches(':').trim_end_matches(':');
            !inner.is_empty() && inner.chars().all(|c| c == '-')
        })
}

/// The code spans of a cell (`` `a`, `b`? `` is `["a", "b"]`).
pub fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, span)| span.to_owned())
        .collect()
}

/// The top-level keys of a YAML document, in order (lines that start a mapping key at
/// column 0).
pub fn yaml_top_level_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with([' ', '#', '-']) && !line.trim().is_empty())
        .filter_map(|line| line.split_once(':').map(|(key, _)| key.trim().to_owned()))
        .collect()
}

/// A row of the metric table of docs/runtime.md ("Metrics").
#[derive(Debug, Clone)]
pub struct DocumentedMetric {
    pub at: At,
    /// The family name, `gateway_requests_total`.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// Every label name, in the table's order.
    pub labels: Vec<String>,
    /// The labels written `` `instance`? ``: not on every series of the family.
    pub optional: Vec<String>,
}

/// The metric table of docs/runtime.md, one entry per row; panics on a row whose metric
/// or labels are not written as `` `name` `` code spans.
pub fn documented_metrics() -> Vec<DocumentedMetric> {
    let doc = Markdown::read("docs/runtime.md");
    let table = doc.table(&["metric", "type", "labels", "meaning"]);
    table
        .rows
        .iter()
        .map(|row| {
            let name = match code_spans(&row.cells[0])[..] {
                [ref name] if row.cells[0] == format!("`{name}`") => name.clone(),
                _ => panic!(
                    "{}: the metric is not one `name`: {:?}",
                    row.at, row.cells[0]
                ),
            };
            let (mut labels, mut optional) = (Vec::new(), Vec::new());
            for part in row.cells[2]
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (label, is_optional) = match part.strip_suffix('?') {
                    Some(label) => (label, true),
                    None => (part, false),
                };
                let label = label
                    .strip_prefix('`')
                    .and_then(|l| l.strip_suffix('`'))
                    .filter(|l| !l.is_empty() && !l.contains('`'))
                    .unwrap_or_else(|| {
                        panic!("{}: labels are `name` or `name`?, not {part:?}", row.at)
                    });
                labels.push(label.to_owned());
                if is_optional {
                    optional.push(label.to_owned());
                }
            }
            DocumentedMetric {
                at: row.at.clone(),
                name,
                kind: row.cells[1].clone(),
                labels,
                optional,
            }
        })
        .collect()
}

/// The fields of the access-log table of docs/runtime.md ("Access log"), one per row.
pub fn documented_access_log_fields() -> Vec<(String, At)> {
    let doc = Markdown::read("docs/runtime.md");
    let table = doc.table(&["field", "meaning"]);
    table
        .rows
        .iter()
        .map(|row| match code_spans(&row.cells[0])[..] {
            [ref field] if row.cells[0] == format!("`{field}`") => (field.clone(), row.at.clone()),
            _ => panic!(
                "{}: the field is not one `name`: {:?}",
                row.at, row.cells[0]
            ),
        })
        .collect()
}

/// The example line of the access log in docs/runtime.md (its one `json` code block).
pub fn documented_access_log_line() -> (serde_json::Value, At) {
    let doc = Markdown::read("docs/runtime.md");
    let blocks: Vec<CodeBlock> = doc
        .code_blocks()
        .into_iter()
        .filter(|b| b.info == "json" && b.text.contains("openapi_gateway_runtime::access"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "docs/runtime.md: one example access-log line"
    );
    let line = serde_json::from_str(&blocks[0].text)
        .unwrap_or_else(|e| panic!("{}: the example line is not JSON: {e}", blocks[0].at));
    (line, blocks[0].at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_split_like_github() {
        assert_eq!(cells("| a | `b` | c |"), ["a", "`b`", "c"]);
        assert_eq!(cells("| `x|y` |"), ["`x", "y`"]);
        assert_eq!(cells("| `x\\|y` | z |"), ["`x|y`", "z"]);
        assert_eq!(cells("| a | |"), ["a", ""]);
    }

    #[test]
    fn blocks_and_tables() {
        let doc = Markdown::parse(
            "t.md",
            "# T\n\n1. one\n\n   ```yaml\n   a: 1\n     b: 2\n   ```\n\n| k | v |\n|---|:-:|\n| `x` | 1 |\n\n```\n| not | a table |\n```\n| stray | row |\n",
        );
        let blocks = doc.code_blocks();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].info, "yaml");
        assert_eq!(blocks[0].text, "a: 1\n  b: 2\n");
        assert_eq!(blocks[0].at.to_string(), "t.md:5");
        let tables = doc.tables();
        assert_eq!(tables.len(), 2, "{tables:?}");
        assert!(tables[0].delimited);
        assert_eq!(tables[0].header, ["k", "v"]);
        assert_eq!(tables[0].rows.len(), 1);
        assert_eq!(tables[0].rows[0].at.line, 12);
        assert!(!tables[1].delimited);
        assert_eq!(tables[1].rows[0].cells, ["stray", "row"]);
    }

    #[test]
    fn spans_and_keys() {
        assert_eq!(
            code_spans("`service`, `instance`?"),
            ["service", "instance"]
        );
        assert_eq!(
            yaml_top_level_keys("# c\nversion: 1\ngateway:\n  name: x\nservices: {}\n"),
            ["version", "gateway", "services"]
        );
    }
}
