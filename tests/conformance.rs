//! Conformance of the generated body validators with the JSON Schema Test Suite
//! (vendored under `fixtures/conformance/`, see its PROVENANCE.md).
//!
//! Every group of the suite is accounted for:
//! - draft4 (OpenAPI 3.0's dialect), `optional/` and `optional/format/` included: each
//!   group the applicability list (`draft4-oas30-applicability.json`) marks `direct` or
//!   `adapted` becomes one POST operation of a generated gateway, whose request body schema
//!   is the group's schema (`definitions` moved to `components/schemas`, refs rewritten,
//!   `$comment` dropped, `items: {}` added to a bare `type: array`: the suite README's
//!   mechanical rewrite). Every one of them must compile and every test instance must get
//!   the suite's verdict. Groups marked `no` are listed with the list's reasons.
//! - draft2020-12 (OpenAPI 3.1's dialect): every group goes through the 3.1 normalization
//!   (`$defs` moved and refs rewritten the same way). Groups the compiler refuses with a
//!   diagnostic are listed as refused; the groups the compiler accepts and whose every
//!   instance gets the suite's verdict are pinned by name in [`PASSING_2020_12`]: a listed
//!   group that stops passing fails the test, and so does a passing group not listed (add
//!   it; `GATEWAY_BLESS=1` rewrites the list), so a fix cannot hide a regression.
//!
//! One crate per draft is generated (one service per suite file), built once in the shared
//! `target/generated`, and a small binary added to it calls, for each instance, the body
//! validator the gateway's route table holds for that operation, on the instance's JSON
//! text parsed by the gateway's own parser: exactly what a request body goes through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gateway_tests::{cargo, workspace};
use serde_json::{Map, Value, json};

/// The draft2020-12 groups that pass, one `file / group description` per line, sorted.
const PASSING_2020_12: &str = "fixtures/conformance/draft2020-12-passing.txt";

const SUITE: &str = "fixtures/conformance";

struct Group {
    /// Suite file, relative to the draft's folder (`optional/format/uri.json`).
    file: String,
    index: usize,
    description: String,
    schema: Value,
    tests: Vec<(String, Value, bool)>,
}

fn suite_files(draft: &str) -> Vec<String> {
    let root = workspace().join(SUITE).join("tests").join(draft);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path.strip_prefix(&root).unwrap();
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

fn read_groups(draft: &str) -> Vec<Group> {
    let mut groups = Vec::new();
    for file in suite_files(draft) {
        let path = workspace()
            .join(SUITE)
            .join("tests")
            .join(draft)
            .join(&file);
        groups.extend(read_file(&path, &file));
    }
    groups
}

/// The groups of one file in the suite's format; `file` names it in reports.
fn read_file(path: &Path, file: &str) -> Vec<Group> {
    let text = std::fs::read_to_string(path).unwrap();
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut groups = Vec::new();
    for (index, group) in list.into_iter().enumerate() {
        let tests = group["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["description"].as_str().unwrap().to_owned(),
                    t["data"].clone(),
                    t["valid"].as_bool().unwrap(),
                )
            })
            .collect();
        groups.push(Group {
            file: file.to_owned(),
            index,
            description: group["description"].as_str().unwrap().to_owned(),
            schema: group["schema"].clone(),
            tests,
        });
    }
    groups
}

/// `optional/format/date-time.json` -> `optional_format_date_time`.
fn slug(file: &str) -> String {
    file.trim_end_matches(".json")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn component_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The suite README's rewrite of a group schema into OpenAPI components: the root schema
/// as `components/schemas/<root>`, each `definitions`/`$defs` entry (nested ones too) as
/// `<root>_<name>`.
fn adapt(schema: &Value, root: &str, draft4: bool) -> Vec<(String, Value)> {
    let mut components = vec![(root.to_owned(), schema.clone())];
    // Ref target (decoded pointer tokens) -> component name.
    let mut names: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut next = 0;
    let mut paths: Vec<Vec<String>> = vec![Vec::new()];
    while next < components.len() {
        let path = paths[next].clone();
        let prefix = components[next].0.clone();
        for key in ["definitions", "$defs"] {
            let taken = match &mut components[next].1 {
                Value::Object(map) => map.shift_remove(key),
                _ => None,
            };
            {
                if let Some(Value::Object(defs)) = taken {
                    for (name, def) in defs {
                        let component = format!("{prefix}_{}", component_name(&name));
                        let mut at = path.clone();
                        at.extend([key.to_owned(), name]);
                        names.insert(at.clone(), component.clone());
                        components.push((component, def));
                        paths.push(at);
                    }
                }
            }
        }
        next += 1;
    }
    for (_, schema) in &mut components {
        rewrite(schema, root, &names, draft4);
    }
    components
}

/// The tokens of a local ref (`#/definitions/a~1b` -> `[definitions, a/b]`).
fn ref_tokens(reference: &str) -> Option<Vec<String>> {
    let pointer = reference.strip_prefix('#')?;
    let mut bytes = Vec::new();
    let raw = pointer.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(hex) = pointer.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            bytes.push(b);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let pointer = String::from_utf8(bytes).ok()?;
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Rewrites refs, drops `$comment`, completes bare arrays; schema positions only (an
/// `enum` value or a property named `$ref` is data).
fn rewrite(schema: &mut Value, root: &str, names: &BTreeMap<Vec<String>, String>, draft4: bool) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(Value::String(reference)) = map.get_mut("$ref") {
        if reference == "#" {
            *reference = format!("#/components/schemas/{root}");
        } else if let Some(name) = ref_tokens(reference).and_then(|t| names.get(&t)) {
            *reference = format!("#/components/schemas/{name}");
        }
    }
    if map.get("$comment").is_some_and(Value::is_string) {
        map.shift_remove("$comment");
    }
    if let Some(Value::Object(mapping)) = map
        .get_mut("discriminator")
        .and_then(|d| d.get_mut("mapping"))
    {
        for target in mapping.values_mut() {
            if let Some(name) = target
                .as_str()
                .and_then(ref_tokens)
                .and_then(|t| names.get(&t))
            {
                *target = json!(format!("#/components/schemas/{name}"));
            }
        }
    }
    if draft4 && map.get("type") == Some(&json!("array")) && !map.contains_key("items") {
        map.insert("items".into(), json!({}));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "dependentSchemas" | "dependencies" => {
                if let Value::Object(children) = child {
                    for child in children.values_mut() {
                        rewrite(child, root, names, draft4);
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" | "prefixItems" | "items" => match child {
                Value::Array(children) => {
                    for child in children {
                        rewrite(child, root, names, draft4);
                    }
                }
                child => rewrite(child, root, names, draft4),
            },
            "additionalProperties"
            | "additionalItems"
            | "not"
            | "contains"
            | "propertyNames"
            | "if"
            | "then"
            | "else"
            | "unevaluatedItems"
            | "unevaluatedProperties" => rewrite(child, root, names, draft4),
            _ => {}
        }
    }
}

struct Draft {
    name: &'static str,
    openapi: &'static str,
    draft4: bool,
}

const DRAFT4: Draft = Draft {
    name: "draft4",
    openapi: "3.0.3",
    draft4: true,
};
const DRAFT2020: Draft = Draft {
    name: "draft2020-12",
    openapi: "3.1.0",
    draft4: false,
};

fn operation_id(group: &Group) -> String {
    format!("{}_g{}", slug(&group.file), group.index)
}

/// One spec per suite file; one POST operation per group.
fn spec(draft: &Draft, file: &str, groups: &[&Group]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for group in groups {
        let root = format!("G{}", group.index);
        for (name, schema) in adapt(&group.schema, &root, draft.draft4) {
            schemas.insert(name, schema);
        }
        paths.insert(
            format!("/{}/g{}", slug(file), group.index),
            json!({
                "post": {
                    "operationId": operation_id(group),
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": {
                                "schema": { "$ref": format!("#/components/schemas/{root}") }
                            }
                        }
                    },
                    "responses": { "200": { "description": "ok" } }
                }
            }),
        );
    }
    json!({
        "openapi": draft.openapi,
        "info": { "title": file, "version": "1" },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// Writes a manifest with one service per `(file, groups)` under `dir`; returns its path.
fn write_gateway(
    dir: &Path,
    name: &str,
    draft: &Draft,
    files: &[(String, Vec<&Group>)],
) -> PathBuf {
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    let mut manifest = format!("version: 1\noutput: out\ngateway:\n  name: {name}\nservices:\n");
    for (file, groups) in files {
        let key = slug(file);
        let spec = spec(draft, file, groups);
        let spec_path = dir.join("specs").join(format!("{key}.json"));
        write_if_changed(&spec_path, &serde_json::to_string_pretty(&spec).unwrap());
        manifest.push_str(&format!(
            "  {key}:\n    spec: specs/{key}.json\n    unsecured: public\n    upstream: {{ urls: ['http://127.0.0.1:9'] }}\n"
        ));
    }
    let path = dir.join("gateway.yaml");
    write_if_changed(&path, &manifest);
    path
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(name)
}

/// Whether the compiler accepts the group alone; `Err` holds its first error.
fn compiles(draft: &Draft, group: &Group) -> Result<(), String> {
    let dir = scratch(&format!("{}-single", draft.name));
    let manifest = write_gateway(&dir, "single", draft, &[(group.file.clone(), vec![group])]);
    let compiled = openapi_gateway_compiler::cli::compile(&manifest);
    if compiled.gateway.is_some() {
        return Ok(());
    }
    let first = compiled
        .diagnostics
        .list
        .iter()
        .find(|d| d.severity == openapi_gateway_compiler::diag::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .unwrap_or_else(|| "refused without an error".to_owned());
    Err(first)
}

/// The generated validators' verdicts, by operation id and instance (`Ok` or the errors).
fn run_instances(draft: &Draft, groups: &[&Group]) -> Vec<Result<(), String>> {
    let dir = scratch(draft.name);
    let mut by_file: Vec<(String, Vec<&Group>)> = Vec::new();
    for group in groups {
        match by_file.last_mut() {
            Some((file, list)) if *file == group.file => list.push(group),
            _ => by_file.push((group.file.clone(), vec![group])),
        }
    }
    let name = format!("conformance-{}", draft.name.replace('.', "-"));
    let manifest = write_gateway(&dir, &name, draft, &by_file);
    let compiled = openapi_gateway_compiler::cli::compile(&manifest);
    let Some(gateway) = compiled.gateway else {
        panic!(
            "the {} conformance gateway does not compile:\n{}",
            draft.name,
            openapi_gateway_compiler::diag::render_human(&compiled.diagnostics, &compiled.sources)
        );
    };
    let runtime = workspace().join("runtime").display().to_string();
    let mut files = openapi_gateway_compiler::emit::emit(
        &gateway,
        &openapi_gateway_compiler::emit::RuntimeDep::Path(runtime),
    )
    .unwrap();
    let lib = name.replace('-', "_");
    files.insert(
        PathBuf::from("src/bin/conformance.rs"),
        DRIVER.replace("GATEWAY_LIB", &lib),
    );
    let out = dir.join("out");
    openapi_gateway_compiler::write::write(&out, &files).unwrap();
    // The instances: `[operation id, JSON text]` per line of a JSON array.
    let cases: Vec<Value> = groups
        .iter()
        .flat_map(|g| {
            g.tests
                .iter()
                .map(move |(_, data, _)| json!([operation_id(g), data.to_string()]))
        })
        .collect();
    let cases_path = dir.join("cases.json");
    write_if_changed(&cases_path, &Value::Array(cases).to_string());
    let output = cargo(
        "run",
        &out.join("Cargo.toml"),
        &[
            "--quiet",
            "--bin",
            "conformance",
            "--",
            &cases_path.display().to_string(),
        ],
    );
    assert!(
        output.status.success(),
        "the {} conformance driver failed:\n{}",
        draft.name,
        String::from_utf8_lossy(&output.stderr)
    );
    // Generated code is warning-free and clippy-clean, whatever the schema.
    let clippy = cargo(
        "clippy",
        &out.join("Cargo.toml"),
        &["--quiet", "--all-targets", "--", "-D", "warnings"],
    );
    assert!(
        clippy.status.success(),
        "clippy on the {} conformance gateway:\n{}",
        draft.name,
        String::from_utf8_lossy(&clippy.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| match line.split_once('\t') {
            Some(("valid", _)) => Ok(()),
            Some((_, errors)) => Err(errors.to_owned()),
            None => Err(format!("driver printed `{line}`")),
        })
        .collect()
}

/// Calls each operation's body validator, as the gateway does, on each instance.
const DRIVER: &str = r#"//! Conformance driver (written by tests/conformance.rs).
use openapi_gateway_runtime::json::{BodyErrors, Pointer, parse};

fn main() {
    let path = std::env::args().nth(1).expect("cases file");
    let text = std::fs::read_to_string(path).expect("cases file");
    let mut copy = Vec::new();
    let cases = parse(text.as_bytes(), &mut copy).expect("cases are JSON");
    let routes = GATEWAY_LIB::routes::GATEWAY.routes;
    for case in cases.root().as_array().expect("an array").iter() {
        let mut case = case.as_array().expect("a pair").iter();
        let id = case.next().and_then(|v| v.as_str()).expect("operation id");
        let data = case.next().and_then(|v| v.as_str()).expect("instance text");
        let route = routes
            .iter()
            .find(|r| r.operation_id == id)
            .expect("operation");
        let openapi_gateway_runtime::BodySpec::Declared { validators, .. } = route.body else {
            panic!("{id} has no body");
        };
        let (_, validate) = validators
            .iter()
            .find(|(media, _)| *media == "application/json")
            .expect("a JSON validator");
        let mut copy = Vec::new();
        let verdict = match parse(data.as_bytes(), &mut copy) {
            Err(message) => format!("invalid\tparse: {message}"),
            Ok(value) => {
                let mut errors = BodyErrors::new();
                validate(value.root(), &mut Pointer::new(), &mut errors);
                if errors.is_empty() {
                    "valid\t".to_owned()
                } else {
                    let list: Vec<String> = errors
                        .into_errors()
                        .into_iter()
                        .map(|e| format!("{} {}", e.pointer.unwrap_or_default(), e.message))
                        .collect();
                    format!("invalid\t{}", list.join("; ").replace(['\n', '\t'], " "))
                }
            }
        };
        println!("{verdict}");
    }
}
"#;

/// A group's name in reports and in [`PASSING_2020_12`]: `file / description`.
fn key(group: &Group) -> String {
    format!("{} / {}", group.file, group.description)
}

struct Outcome {
    /// The keys of the groups whose every instance got the suite's verdict.
    passed: Vec<String>,
    /// The others: key, and what went wrong.
    failed: Vec<(String, String)>,
}

fn check(groups: &[&Group], verdicts: &[Result<(), String>]) -> Outcome {
    let mut verdicts = verdicts.iter();
    let mut outcome = Outcome {
        passed: Vec::new(),
        failed: Vec::new(),
    };
    for group in groups {
        let mut wrong = Vec::new();
        for (description, data, valid) in &group.tests {
            let verdict = verdicts.next().expect("a verdict per instance");
            if verdict.is_ok() != *valid {
                wrong.push(format!(
                    "    {description}: {data} should be {}, got {}",
                    if *valid { "valid" } else { "invalid" },
                    match verdict {
                        Ok(()) => "valid".to_owned(),
                        Err(e) => format!("invalid ({e})"),
                    }
                ));
            }
        }
        let name = format!("{} #{} {:?}", group.file, group.index, group.description);
        if wrong.is_empty() {
            outcome.passed.push(key(group));
        } else {
            outcome
                .failed
                .push((key(group), format!("{name}:\n{}", wrong.join("\n"))));
        }
    }
    outcome
}

#[test]
fn draft4_applicable_groups_all_pass() {
    gateway_tests::set_workspace_cwd();
    let applicability: BTreeMap<String, Vec<Value>> = serde_json::from_str(
        &std::fs::read_to_string(
            workspace()
                .join(SUITE)
                .join("draft4-oas30-applicability.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let groups = read_groups(DRAFT4.name);
    let mut applicable = Vec::new();
    let mut excluded = Vec::new();
    for group in &groups {
        let entry = applicability
            .get(&group.file)
            .and_then(|list| list.get(group.index))
            .unwrap_or_else(|| {
                panic!(
                    "{} #{} is not in the applicability list",
                    group.file, group.index
                )
            });
        assert_eq!(entry["group"], group.description.as_str(), "{}", group.file);
        match entry["status"].as_str() {
            Some("direct" | "adapted") => applicable.push(group),
            Some("no") => excluded.push(format!(
                "{} #{} {:?}: {}",
                group.file,
                group.index,
                group.description,
                entry["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            other => panic!("{}: status {other:?}", group.file),
        }
    }
    // Nothing dropped: the suite README's totals.
    assert_eq!(groups.len(), 199);
    assert_eq!((applicable.len(), excluded.len()), (131, 68));
    println!(
        "draft4: {} groups excluded (not OpenAPI 3.0):",
        excluded.len()
    );
    for line in &excluded {
        println!("  {line}");
    }
    // OpenAPI 3.0 keywords and formats the suite does not cover, in its format.
    let extras = read_file(
        &workspace().join(SUITE).join("openapi/oas30.json"),
        "openapi/oas30.json",
    );
    applicable.extend(extras.iter());
    let refused: Vec<String> = applicable
        .iter()
        .filter_map(|g| {
            compiles(&DRAFT4, g)
                .err()
                .map(|e| format!("{} #{}: {e}", g.file, g.index))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "applicable draft4 groups the compiler refuses:\n{}",
        refused.join("\n")
    );
    let verdicts = run_instances(&DRAFT4, &applicable);
    let outcome = check(&applicable, &verdicts);
    let tests: usize = applicable.iter().map(|g| g.tests.len()).sum();
    println!(
        "draft4: {} of {} applicable groups pass ({tests} instances; {} of them OpenAPI 3.0 groups of openapi/oas30.json)",
        outcome.passed.len(),
        applicable.len(),
        extras.len()
    );
    assert!(
        outcome.failed.is_empty(),
        "{} applicable draft4 groups fail:\n{}",
        outcome.failed.len(),
        outcome
            .failed
            .iter()
            .map(|(_, report)| report.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn draft2020_12_groups_the_normalization_accepts() {
    gateway_tests::set_workspace_cwd();
    let groups = read_groups(DRAFT2020.name);
    let mut accepted = Vec::new();
    let mut refused = BTreeMap::new();
    for group in &groups {
        match compiles(&DRAFT2020, group) {
            Ok(()) => accepted.push(group),
            Err(e) => {
                refused.insert(key(group), format!("#{} refused: {e}", group.index));
            }
        }
    }
    let verdicts = run_instances(&DRAFT2020, &accepted);
    let outcome = check(&accepted, &verdicts);
    println!(
        "draft2020-12: {} groups; {} refused by the compiler, {} accepted: {} pass, {} fail",
        groups.len(),
        refused.len(),
        accepted.len(),
        outcome.passed.len(),
        outcome.failed.len()
    );
    println!("refused:");
    for (name, error) in &refused {
        println!("  {name} {error}");
    }
    println!("accepted but failing:");
    for (_, report) in &outcome.failed {
        println!("  {report}");
    }

    let passing: std::collections::BTreeSet<String> = outcome.passed.iter().cloned().collect();
    let path = workspace().join(PASSING_2020_12);
    if gateway_tests::bless() {
        let mut text = PASSING_HEADER.to_owned();
        for name in &passing {
            text.push_str(name);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        println!("wrote {} groups to {PASSING_2020_12}", passing.len());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{PASSING_2020_12}: {e}"));
    let listed: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert!(
        listed.windows(2).all(|pair| pair[0] < pair[1]),
        "{PASSING_2020_12} must be sorted, without duplicates (GATEWAY_BLESS=1 rewrites it)"
    );
    let why: BTreeMap<&str, &str> = outcome
        .failed
        .iter()
        .map(|(name, report)| (name.as_str(), report.as_str()))
        .chain(refused.iter().map(|(name, e)| (name.as_str(), e.as_str())))
        .collect();
    let regressed: Vec<String> = listed
        .iter()
        .filter(|name| !passing.contains(**name))
        .map(|name| match why.get(name) {
            Some(report) => format!("{name}: {report}"),
            None => format!("{name}: no such group in the suite"),
        })
        .collect();
    let new: Vec<&String> = passing
        .iter()
        .filter(|name| listed.binary_search(&name.as_str()).is_err())
        .collect();
    assert!(
        regressed.is_empty(),
        "{} draft2020-12 groups listed in {PASSING_2020_12} no longer pass:\n{}",
        regressed.len(),
        regressed.join("\n")
    );
    assert!(
        new.is_empty(),
        "{} draft2020-12 groups pass but are not listed in {PASSING_2020_12}; add them \
         (or run this test with GATEWAY_BLESS=1 to rewrite the list):\n{}",
        new.len(),
        new.iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The comment at the top of [`PASSING_2020_12`].
const PASSING_HEADER: &str = "\
# The draft2020-12 groups of the JSON Schema Test Suite whose every instance the generated
# validators decide as the suite does (tests/conformance.rs). One `file / group description`
# per line, sorted. The test fails if a listed group does not pass, or if a group passes
# that is not listed. After a fix, rewrite it with
#   GATEWAY_BLESS=1 cargo test -p gateway-tests --test conformance draft2020_12
# and check in the diff that only additions appear.
";
