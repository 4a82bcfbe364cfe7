//! The reference documentation, tested so that it cannot drift from the code:
//!
//! - every ```` ```yaml ```` block of docs/*.md and README.md is a manifest, or a fragment
//!   of one, that `gateway validate` accepts without a diagnostic, against the specs of
//!   fixtures/docs (fixtures/docs/README.md), and that docs/manifest.schema.json accepts;
//! - every table lists each of its keys (metric, field, code, status...) once, and is a
//!   table to a Markdown renderer (a delimiter row, as many cells as the header);
//! - the diagnostic-code table lists exactly the codes the compiler emits;
//! - docs/diff.md's rule tables list exactly `gateway diff`'s rules at their levels, and
//!   its samples are what the command prints.
//!
//! What `/metrics` and the access log of a running gateway expose is compared with
//! docs/runtime.md in tests/e2e.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use gateway_tests::markdown::{self, CodeBlock, Markdown, code_spans};
use gateway_tests::{copy_dir, gateway, workspace};

/// The keys of a service (`services.<key>`), as docs/manifest.md and the loader know them.
const SERVICE_KEYS: &[&str] = &[
    "spec",
    "mount",
    "upstream",
    "unsecured",
    "cors",
    "rate_limit",
    "operations",
    "validate_responses",
];

/// How an example of the docs becomes a manifest file.
#[derive(Debug, PartialEq)]
enum Kind {
    /// `version` and `services` at the top: loaded as written.
    Complete,
    /// Top-level sections (`auth:`): the missing required ones are added.
    Sections,
    /// Keys of one service (`upstream:`): put under `services.users`.
    Service,
}

struct Example {
    block: CodeBlock,
    kind: Kind,
    /// The manifest to load.
    manifest: String,
}

/// Every YAML block of the docs, as the manifest it is or is a part of.
fn examples() -> Vec<Example> {
    let mut examples = Vec::new();
    for path in markdown::documents() {
        for block in Markdown::read(&path).code_blocks() {
            if block.info != "yaml" {
                continue;
            }
            let keys = markdown::yaml_top_level_keys(&block.text);
            assert!(!keys.is_empty(), "{}: a YAML block without keys", block.at);
            let has = |key: &str| keys.iter().any(|k| k == key);
            let (kind, manifest) = if has("version") && has("services") {
                (Kind::Complete, block.text.clone())
            } else if keys.iter().all(|k| SERVICE_KEYS.contains(&k.as_str())) {
                let mut manifest = String::from(
                    "version: 1\ngateway: { name: docs-example }\nservices:\n  users:\n",
                );
                if !has("spec") {
                    manifest.push_str("    spec: specs/users.yaml\n");
                }
                if !has("upstream") {
                    manifest.push_str("    upstream: { urls: [http://127.0.0.1:9001] }\n");
                }
                for line in block.text.lines() {
                    manifest.push_str("    ");
                    manifest.push_str(line);
                    manifest.push('\n');
                }
                (Kind::Service, manifest)
            } else {
                let mut manifest = String::new();
                if !has("version") {
                    manifest.push_str("version: 1\n");
                }
                if !has("gateway") {
                    manifest.push_str("gateway: { name: docs-example }\n");
                }
                if !has("services") {
                    manifest.push_str(
                        "services:\n  users:\n    spec: specs/users.yaml\n    upstream: { urls: [http://127.0.0.1:9001] }\n",
                    );
                }
                manifest.push_str(&block.text);
                (Kind::Sections, manifest)
            };
            examples.push(Example {
                block,
                kind,
                manifest,
            });
        }
    }
    examples
}

/// A fresh copy of fixtures/docs, for one example's `gateway.yaml`.
fn scratch(index: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-docs-{}-{index}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&workspace().join("fixtures/docs"), &dir);
    dir
}

/// What `gateway validate` says of one manifest text: its diagnostics (JSON), or `None`
/// when it found nothing; with the human rendering for the failure message.
fn validate(index: usize, manifest: &str) -> Option<String> {
    let dir = scratch(index);
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, manifest).unwrap();
    let file = file.display().to_string();
    let (code, out, err) = gateway(&["validate", "--manifest", &file, "--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let diagnostics = json["diagnostics"].as_array().expect("a diagnostics list");
    let verdict = if code == 0 && diagnostics.is_empty() {
        None
    } else {
        let (_, _, human) = gateway(&["validate", "--manifest", &file]);
        Some(format!("exit code {code}\n{human}"))
    };
    let _ = std::fs::remove_dir_all(&dir);
    verdict
}

#[test]
fn every_manifest_example_loads_as_gateway_validate_loads_it() {
    let examples = examples();
    let complete: Vec<String> = examples
        .iter()
        .filter(|e| e.kind == Kind::Complete)
        .map(|e| e.block.at.to_string())
        .collect();
    // The first example of docs/manifest.md and the one of README.md, at least: an
    // extraction that finds nothing must not pass.
    assert!(
        complete
            .iter()
            .any(|at| at.starts_with("docs/manifest.md:"))
            && complete.iter().any(|at| at.starts_with("README.md:")),
        "complete manifests found: {complete:?}"
    );
    assert!(
        examples.iter().any(|e| e.kind == Kind::Sections)
            && examples.iter().any(|e| e.kind == Kind::Service),
        "fragments found: {:?}",
        examples
            .iter()
            .map(|e| e.block.at.to_string())
            .collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    for (index, example) in examples.iter().enumerate() {
        if let Some(problems) = validate(index, &example.manifest) {
            failures.push(format!(
                "{} ({:?}): `gateway validate` of this manifest (next to fixtures/docs/specs) says:\n{}\n{}",
                example.block.at, example.kind, example.manifest, problems
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The manifest of each example is what editors check against docs/manifest.schema.json:
/// the schema must accept every documented example.
#[test]
fn every_manifest_example_matches_the_published_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/manifest.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let mut failures = Vec::new();
    for example in examples() {
        let instance: serde_json::Value = serde_yaml::from_str(&example.manifest)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", example.block.at));
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("  {}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{}:\n{}", example.block.at, errors.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The keys of a row: the code spans of its first cell (a span without `::` after one with
/// it shares its prefix, as in `` `gateway::spec::dangling_ref` / `remote_ref` ``), or the
/// whole cell when it has none (`400`).
fn row_keys(cell: &str) -> Vec<String> {
    let spans = code_spans(cell);
    if spans.is_empty() {
        return vec![cell.to_owned()];
    }
    let mut prefix = String::new();
    spans
        .into_iter()
        .map(|span| match span.rsplit_once("::") {
            Some((p, _)) => {
                prefix = format!("{p}::");
                span
            }
            None => format!("{prefix}{span}"),
        })
        .collect()
}

/// Every problem of the tables of one document: stray rows, rows with the wrong number of
/// cells (an unescaped `|` in a cell splits it), keys listed twice.
fn table_problems(doc: &Markdown) -> Vec<String> {
    let mut problems = Vec::new();
    for table in doc.tables() {
        if !table.delimited {
            problems.push(format!(
                "{}: table rows that are not part of a table (no header and delimiter row above them)",
                table.at
            ));
            continue;
        }
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for row in &table.rows {
            if row.cells.len() != table.header.len() {
                problems.push(format!(
                    "{}: {} cells under a header of {} (escape a `|` inside a cell as `\\|`)",
                    row.at,
                    row.cells.len(),
                    table.header.len()
                ));
            }
            for key in row_keys(&row.cells[0]) {
                if let Some(first) = seen.insert(key.clone(), row.at.to_string()) {
                    problems.push(format!(
                        "{}: `{key}` is listed twice in the table (first at {first}); one row per {}",
                        row.at, table.header[0]
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_table_lists_each_key_once() {
    let mut problems = Vec::new();
    for path in markdown::documents() {
        problems.extend(table_problems(&Markdown::read(&path)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The table checker itself: a duplicate, a stray row and a split cell are each found.
#[test]
fn the_table_check_finds_duplicates_stray_rows_and_split_cells() {
    let doc = Markdown::parse(
        "t.md",
        "| metric | type |\n|---|---|\n| `a_total` | counter |\n| `b` | gauge |\n| `a_total` | gauge |\n\ntext\n| `c` | counter |\n\n| code | meaning |\n|---|---|\n| `x::y::a` / `b` | `1|2` |\n| `x::y::b` | two |\n",
    );
    let problems = table_problems(&doc);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("t.md:5: `a_total` is listed twice"));
    assert!(problems[1].starts_with("t.md:8: table rows that are not part of a table"));
    assert!(problems[2].starts_with("t.md:12: 3 cells under a header of 2"));
    assert!(problems[3].starts_with("t.md:13: `x::y::b` is listed twice"));
}

#[test]
fn the_metric_and_access_log_tables_name_each_metric_and_field_once() {
    let metrics = markdown::documented_metrics();
    let names: BTreeSet<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert!(metrics.len() >= 20, "{} metrics documented", metrics.len());
    assert_eq!(
        names.len(),
        metrics.len(),
        "a metric with two rows: {metrics:#?}"
    );
    for metric in &metrics {
        assert!(
            ["counter", "gauge", "histogram"].contains(&metric.kind.as_str()),
            "{}: type {:?}",
            metric.at,
            metric.kind
        );
        let labels: BTreeSet<&String> = metric.labels.iter().collect();
        assert_eq!(
            labels.len(),
            metric.labels.len(),
            "{}: a label twice",
            metric.at
        );
        if metric.kind == "counter" {
            assert!(metric.name.ends_with("_total"), "{}", metric.at);
        }
    }
    let fields = markdown::documented_access_log_fields();
    let unique: BTreeSet<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    assert!(fields.len() >= 8, "{fields:?}");
    assert_eq!(
        unique.len(),
        fields.len(),
        "a field with two rows: {fields:?}"
    );
}

/// The diagnostic codes the compiler can emit: the `"gateway::<stage>::<name>"` string
/// literals of cli/src, outside `#[cfg(test)]` modules.
fn emitted_codes() -> BTreeMap<String, String> {
    let mut codes = BTreeMap::new();
    for path in gateway_tests::files_under(&workspace().join("cli/src")) {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code_part = text.split("#[cfg(test)]").next().unwrap_or("");
        for (index, piece) in code_part.split("\"gateway::").enumerate().skip(1) {
            let Some((code, _)) = piece.split_once('"') else {
                continue;
            };
            let parts: Vec<&str> = code.split("::").collect();
            let well_formed = parts.len() == 2
                && parts.iter().all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if well_formed {
                let relative = path.strip_prefix(workspace()).unwrap().display();
                codes
                    .entry(format!("gateway::{code}"))
                    .or_insert_with(|| format!("{relative} (literal {index})"));
            }
        }
    }
    codes
}

#[test]
fn the_diagnostic_code_table_lists_exactly_the_codes_the_compiler_emits() {
    let doc = Markdown::read("docs/manifest.md");
    let table = doc.table(&["code", "meaning"]);
    let documented: BTreeSet<String> = table
        .rows
        .iter()
        .flat_map(|row| row_keys(&row.cells[0]))
        .collect();
    let emitted = emitted_codes();
    assert!(emitted.len() >= 50, "{emitted:?}");
    let undocumented: Vec<String> = emitted
        .iter()
        .filter(|(code, _)| !documented.contains(*code))
        .map(|(code, at)| format!("{code} (in {at})"))
        .collect();
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|code| !emitted.contains_key(*code))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/manifest.md, \"Diagnostic codes\": missing {undocumented:#?}; no such code: {unknown:#?}"
    );
}

/// The example's README shows the route table `gateway routes` prints for it, as it prints
/// it today.
#[test]
fn the_example_readme_shows_the_routes_the_compiler_prints() {
    let (code, out, err) = gateway(&["routes", "--manifest", "examples/ecommerce/gateway.yaml"]);
    assert_eq!(code, 0, "{err}");
    let table = out.split("\n\n").next().unwrap_or_default().trim_end();
    let readme = std::fs::read_to_string(workspace().join("examples/ecommerce/README.md"))
        .expect("examples/ecommerce/README.md");
    assert!(
        readme.contains(&format!("```text\n{table}\n```")),
        "examples/ecommerce/README.md's route table is stale; `gateway routes` prints:\n{table}"
    );
    let count = table.lines().count() - 1;
    assert!(
        readme.contains(&format!("\n{count} routes: ")),
        "examples/ecommerce/README.md should say {count} routes"
    );
}

/// docs/diff.md's rule tables list exactly the rules `gateway diff` has, at their levels.
#[test]
fn the_diff_rule_tables_list_exactly_the_rules_and_their_levels() {
    let doc = Markdown::read("docs/diff.md");
    let mut documented = BTreeMap::new();
    for table in doc.tables() {
        if table.header.first().map(String::as_str) != Some("rule") {
            continue;
        }
        assert_eq!(table.header[1], "level", "{}", table.at);
        for row in &table.rows {
            for id in code_spans(&row.cells[0]) {
                documented.insert(id, row.cells[1].clone());
            }
        }
    }
    let code: BTreeMap<String, String> = openapi_gateway_compiler::diff::RULES
        .iter()
        .map(|r| (r.id.to_owned(), r.level.as_str().to_owned()))
        .collect();
    assert_eq!(documented, code, "docs/diff.md's rule tables");
}

/// Each `$ gateway diff ...` sample of docs/diff.md prints what the docs show.
#[test]
fn the_diff_samples_are_what_the_command_prints() {
    let doc = Markdown::read("docs/diff.md");
    let mut samples = 0;
    for block in doc.code_blocks() {
        let Some((command, shown)) = block.text.split_once('\n') else {
            continue;
        };
        let Some(args) = command.strip_prefix("$ gateway ") else {
            continue;
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        let (_, out, err) = gateway(&args);
        assert_eq!(
            shown, out,
            "{}: `{command}` prints otherwise\n{err}",
            block.at
        );
        samples += 1;
    }
    assert!(samples >= 4, "one sample per format, found {samples}");
}
