//! `gateway diff`: one before/after pair per rule (fixtures/diff/<rule id>), each with the
//! report it must print; exit codes; a base read from a git revision; the example against
//! a changed copy of itself, as a pull-request comment.
//! `GATEWAY_BLESS=1 cargo test -p gateway-tests --test diff` rewrites the snapshots; review
//! them like any other change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use gateway_tests::{bless, cases, copy_dir, gateway, workspace};
use openapi_gateway_compiler::diff::{Level, RULES};

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Compares `actual` with the snapshot at `path` (or writes it, when blessing).
fn check_snapshot(path: &Path, actual: &str, stale: &mut Vec<String>) {
    if bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        stale.push(format!("{}:\n{actual}", relative(path)));
    }
}

fn diff(base: &str, manifest: &str, extra: &[&str]) -> (u8, String, String) {
    let mut args = vec!["diff", "--base", base, "--manifest", manifest];
    args.extend_from_slice(extra);
    gateway(&args)
}

#[test]
fn each_rule_has_a_case_that_reports_it_as_its_snapshot_shows() {
    let dir = workspace().join("fixtures/diff");
    let all = cases(&dir);
    let names: BTreeSet<String> = all
        .iter()
        .map(|c| c.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let ids: BTreeSet<String> = RULES.iter().map(|r| r.id.to_owned()).collect();
    assert_eq!(
        names, ids,
        "fixtures/diff holds one case per rule id of cli/src/diff/rules.rs"
    );
    assert!(RULES.len() >= 25, "{} rules", RULES.len());
    let mut stale = Vec::new();
    for case in all {
        let id = case.file_name().unwrap().to_string_lossy().into_owned();
        let rule = RULES.iter().find(|r| r.id == id).unwrap();
        let before = relative(&case.join("before/gateway.yaml"));
        let after = relative(&case.join("after/gateway.yaml"));
        let (code, out, err) = diff(&before, &after, &["--fail-on", "ERR"]);
        assert!(err.is_empty(), "{id}: stderr:\n{err}");
        // The case's own rule is reported, at its level.
        let line = format!("  {:<4}  {id} ", rule.level.as_str());
        assert!(
            out.lines().any(|l| l.starts_with(&line)),
            "{id}: its rule is not reported as `{line}`:\n{out}"
        );
        let errors = out.lines().any(|l| l.starts_with("  ERR "));
        assert_eq!(code, u8::from(errors), "{id}: --fail-on ERR\n{out}");
        check_snapshot(
            &case.join("expected.txt"),
            &format!("exit {code}\n{out}"),
            &mut stale,
        );
    }
    assert!(
        stale.is_empty(),
        "reports differ (rerun with GATEWAY_BLESS=1 and review the diff):\n{}",
        stale.join("\n")
    );
}

#[test]
fn fail_on_sets_exit_1_from_its_level_up_and_no_changes_is_0() {
    let case = |id: &str| {
        (
            format!("fixtures/diff/{id}/before/gateway.yaml"),
            format!("fixtures/diff/{id}/after/gateway.yaml"),
        )
    };
    // (case, its worst level)
    for (id, worst) in [
        ("endpoint-added", Level::Info),
        ("request-parameter-removed", Level::Warn),
        ("request-property-became-required", Level::Err),
    ] {
        let (before, after) = case(id);
        assert_eq!(diff(&before, &after, &[]).0, 0, "{id}: no --fail-on");
        for (flag, level) in [
            ("ERR", Level::Err),
            ("WARN", Level::Warn),
            ("warn", Level::Warn),
        ] {
            let (code, out, _) = diff(&before, &after, &["--fail-on", flag]);
            assert_eq!(
                code,
                u8::from(worst >= level),
                "{id} --fail-on {flag}:\n{out}"
            );
        }
    }
    let (before, _) = case("endpoint-added");
    let (code, out, err) = diff(&before, &before, &["--fail-on", "WARN"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "no changes\n", ""));
    let (code, _, err) = diff(&before, &before, &["--fail-on", "INFO"]);
    assert_eq!(code, 2, "an unknown level is a usage error: {err}");
}

/// A folder under target/ for this test, emptied; paths in reports stay relative.
fn scratch(name: &str) -> PathBuf {
    let dir = workspace().join("target/diff-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_side_that_does_not_load_exits_2_with_its_diagnostics() {
    let good = "fixtures/diff/endpoint-added/before/gateway.yaml";
    let (code, out, err) = diff(
        "fixtures/diff/nothing-here.yaml",
        good,
        &["--fail-on", "ERR"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("error[gateway::manifest::unreadable]")
            && err.contains("fixtures/diff/nothing-here.yaml"),
        "{err}"
    );
    // A broken spec on the newer side: reported with its place, exit 2 without --fail-on.
    let dir = scratch("broken");
    copy_dir(
        &workspace().join("fixtures/diff/endpoint-added/after"),
        &dir,
    );
    let spec = dir.join("api.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace(
            "$ref: \"#/components/schemas/Item\"",
            "$ref: \"#/components/schemas/Nothing\"",
        ),
    )
    .unwrap();
    let (code, out, err) = diff(good, &relative(&dir.join("gateway.yaml")), &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("gateway::spec::dangling_ref")
            && err.contains("target/diff-tests/broken/api.yaml:"),
        "{err}"
    );
    assert!(out.is_empty(), "no report when a side does not load: {out}");
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=diff test",
            "-c",
            "user.email=diff@example.com",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The base read from a commit: the manifest and the spec files its `$ref`s lead to, all at
/// that revision (the change here is only in a referenced file of the working tree).
#[test]
fn a_git_revision_base_reads_every_file_at_that_revision() {
    let dir = scratch("git");
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    let case = workspace().join("fixtures/diff/response-optional-property-added");
    // The manifest in deploy/, its spec beside it in specs/.
    let manifest = std::fs::read_to_string(case.join("before/gateway.yaml")).unwrap();
    std::fs::write(
        dir.join("deploy/gateway.yaml"),
        manifest.replace("spec: api.yaml", "spec: ../specs/api.yaml"),
    )
    .unwrap();
    // The item schema moves to a file of its own.
    let spec = std::fs::read_to_string(case.join("before/api.yaml")).unwrap();
    let (head, item) = spec.split_once("    Item:\n").unwrap();
    let (item, rest) = item.split_once("    Circle:\n").unwrap();
    let item_file = item
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let spec = format!("{head}    Circle:\n{rest}").replace(
        "{ $ref: \"#/components/schemas/Item\" }",
        "{ $ref: \"item.yaml\" }",
    );
    std::fs::write(dir.join("specs/api.yaml"), &spec).unwrap();
    std::fs::write(dir.join("specs/item.yaml"), &item_file).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    std::fs::write(
        dir.join("specs/item.yaml"),
        item_file.replace(
            "    price: { type: number }\n",
            "    price: { type: number }\n    stock: { type: integer }\n",
        ),
    )
    .unwrap();
    let manifest = relative(&dir.join("deploy/gateway.yaml"));
    let (code, out, err) = diff(
        "HEAD:deploy/gateway.yaml",
        &manifest,
        &["--fail-on", "WARN"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "GET /items/{id} (api)",
            "INFO  response-optional-property-added  response property `stock` (200 application/json) added",
            // The `$ref` to item.yaml: positions follow the operation's own file.
            "at target/diff-tests/git/deploy/../specs/api.yaml:47:15",
            "1 change: 0 ERR, 0 WARN, 1 INFO",
        ],
        "{err}"
    );
    // Committed, the two sides are the same.
    git(&dir, &["commit", "-q", "-am", "stock"]);
    let (code, out, _) = diff("HEAD:deploy/gateway.yaml", &manifest, &[]);
    assert_eq!((code, out.as_str()), (0, "no changes\n"));
    // Against the first commit, by any revision syntax git has.
    let (_, out, _) = diff("HEAD~1:deploy/gateway.yaml", &manifest, &[]);
    assert!(out.contains("response-optional-property-added"), "{out}");
    // What the revision lacks is a load error naming the revision.
    let (code, _, err) = diff("HEAD:deploy/missing.yaml", &manifest, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("HEAD:/deploy/missing.yaml") && err.contains("git cannot read"),
        "{err}"
    );
    let (code, _, err) = diff("HEAD:../gateway.yaml", &manifest, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is outside revision HEAD"), "{err}");
    let (code, _, err) = diff("no-such-revision:deploy/gateway.yaml", &manifest, &[]);
    assert_eq!(code, 2, "{err}");
}

/// The example against a copy with changes a pull request could make, in every format;
/// the Markdown (the pull-request comment) as a snapshot.
#[test]
fn the_example_against_a_changed_copy() {
    let dir = scratch("example");
    let example = workspace().join("examples/ecommerce");
    std::fs::copy(example.join("gateway.yaml"), dir.join("gateway.yaml")).unwrap();
    copy_dir(&example.join("specs"), &dir.join("specs"));
    let edit = |file: &str, edits: &[(&str, &str)]| {
        let path = dir.join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (old, new) in edits {
            assert!(text.contains(old), "{file}: {old}");
            text = text.replacen(old, new, 1);
        }
        std::fs::write(&path, text).unwrap();
    };
    edit(
        "gateway.yaml",
        &[
            (
                "createUser: { public: true, rate_limit: signup }",
                "createUser: { rate_limit: signup }",
            ),
            (
                "signup: { rate: 5/minute, key: ip }",
                "signup: { rate: 2/minute, key: ip }",
            ),
            (
                "getProduct: { timeouts: { request: 1s } }",
                "getProduct: { timeouts: { request: 500ms } }",
            ),
            (
                "urls: [http://127.0.0.1:9003, http://127.0.0.1:9004]",
                "urls: [http://127.0.0.1:9003]",
            ),
        ],
    );
    edit(
        "specs/orders.yaml",
        &[
            ("maximum: 99", "maximum: 20"),
            (
                "enum: [changed_mind, found_cheaper, delivery_too_slow, other]",
                "enum: [changed_mind, found_cheaper, other]",
            ),
            (
                "required: [id, status, total, created_at]",
                "required: [id, status, created_at]",
            ),
        ],
    );
    let manifest = relative(&dir.join("gateway.yaml"));
    let base = "examples/ecommerce/gateway.yaml";
    let (code, markdown, err) = diff(
        base,
        &manifest,
        &["--format", "markdown", "--fail-on", "ERR"],
    );
    assert_eq!(code, 1, "{err}");
    let mut stale = Vec::new();
    check_snapshot(
        &workspace().join("fixtures/diff-example.md"),
        &markdown,
        &mut stale,
    );
    assert!(stale.is_empty(), "{}", stale.join("\n"));

    // JSON: the documented shape, the same changes.
    let (_, json, _) = diff(base, &manifest, &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["base"], base);
    let changes = json["changes"].as_array().unwrap();
    let count = |level: &str| changes.iter().filter(|c| c["level"] == level).count();
    for level in ["ERR", "WARN", "INFO"] {
        assert_eq!(json["summary"][level], count(level), "{level}");
    }
    let secured = changes
        .iter()
        .find(|c| c["id"] == "gateway-route-became-secured")
        .expect("createUser is secured now");
    assert_eq!(secured["family"], "policy");
    assert_eq!(secured["scope"], "route");
    assert_eq!(secured["method"], "POST");
    assert_eq!(secured["path"], "/api/users");
    assert_eq!(secured["service"], "users");
    assert_eq!(secured["location"]["file"], manifest);
    assert_eq!(
        secured["location"]["pointer"],
        "/services/users/operations/createUser"
    );
    assert!(secured["location"]["line"].as_u64().unwrap() > 0);
    let rows = markdown
        .lines()
        .filter(|l| {
            ["| ERR | `", "| WARN | `", "| INFO | `"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .count();
    assert_eq!(rows, changes.len(), "one table row per change");

    // GitHub Actions: one annotation per change, at the newer side's file and line.
    let (_, annotations, _) = diff(base, &manifest, &["--format", "githubactions"]);
    assert_eq!(annotations.lines().count(), changes.len());
    assert!(
        annotations
            .lines()
            .any(|l| l.starts_with(&format!("::error file={manifest},line="))
                && l.contains("title=gateway-route-became-secured::POST /api/users (users)%3A")
                || l.contains(
                    "title=gateway-route-became-secured::POST /api/users (users): now requires"
                )),
        "{annotations}"
    );
    for line in annotations.lines() {
        assert!(
            ["::error ", "::warning ", "::notice "]
                .iter()
                .any(|p| line.starts_with(p)),
            "{line}"
        );
    }
    // Text: the same number of changes.
    let (_, text, _) = diff(base, &manifest, &[]);
    assert!(
        text.ends_with(&format!(
            "{} changes: {} ERR, {} WARN, {} INFO\n",
            changes.len(),
            count("ERR"),
            count("WARN"),
            count("INFO")
        )),
        "{text}"
    );
}

/// An inline `allOf` member (a base schema extended in place) is compared with the one at
/// its place, property by property, rather than reported as a branch removed and added.
#[test]
fn inline_composition_branches_are_compared_in_place() {
    let dir = scratch("inline");
    let case = workspace().join("fixtures/diff/request-body-all-of-added/before");
    for (side, extra) in [
        ("before", ""),
        (
            "after",
            "                    size: { type: number, maximum: 5 }\n",
        ),
    ] {
        copy_dir(&case, &dir.join(side));
        let spec = dir.join(side).join("api.yaml");
        let text = std::fs::read_to_string(&spec).unwrap().replacen(
            "              allOf:\n                - $ref: \"#/components/schemas/Circle\"\n                - $ref: \"#/components/schemas/Square\"\n",
            &format!(
                "              allOf:\n                - $ref: \"#/components/schemas/Circle\"\n                - type: object\n                  properties:\n                    label: {{ type: string }}\n{extra}"
            ),
            1,
        );
        std::fs::write(&spec, text).unwrap();
    }
    let (code, out, err) = diff(
        &relative(&dir.join("before/gateway.yaml")),
        &relative(&dir.join("after/gateway.yaml")),
        &["--fail-on", "WARN"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "POST /shapes (api)",
            "INFO  new-optional-request-property  request property `size` added",
            "at target/diff-tests/inline/after/api.yaml:61:21",
            "1 change: 0 ERR, 0 WARN, 1 INFO",
        ]
    );
}

/// Routes the router tells apart by their parameters' types are distinct routes to diff:
/// a gateway against itself has no changes, and a change to one typed route is reported
/// for that route only.
#[test]
fn typed_routes_are_told_apart_and_a_shared_body_change_is_said_once() {
    let manifest = "fixtures/valid/param-styles/gateway.yaml";
    let (code, out, err) = diff(manifest, manifest, &["--fail-on", "WARN"]);
    assert_eq!((code, out.trim()), (0, "no changes"), "{err}");

    let dir = workspace().join("target/diff-tests/typed");
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&workspace().join("fixtures/valid/param-styles"), &dir);
    let spec = dir.join("specs/shop.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let changed = text.replacen(
        "      operationId: getContact\n      parameters:\n",
        "      operationId: getContact\n      parameters:\n        - { name: fields, in: query, required: true, schema: { type: string } }\n",
        1,
    );
    assert_ne!(changed, text);
    std::fs::write(&spec, changed).unwrap();
    let (code, out, err) = diff(
        manifest,
        &relative(&dir.join("gateway.yaml")),
        &["--format", "json", "--fail-on", "ERR"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{out}");
    assert_eq!(changes[0]["id"], "new-required-request-parameter");
    assert_eq!(changes[0]["path"], "/contacts/{contactId}");

    // One body schema under two media types: one change, not two.
    let dir = workspace().join("target/diff-tests/media-types");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = |statuses: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{ title: t, version: '1' }}\npaths:\n  /orders:\n    post:\n      operationId: createOrder\n      requestBody:\n        required: true\n        content:\n          application/json: {{ schema: {{ $ref: '#/components/schemas/Order' }} }}\n          application/xml: {{ schema: {{ $ref: '#/components/schemas/Order' }} }}\n      responses: {{ '201': {{ description: created }} }}\ncomponents:\n  schemas:\n    Order:\n      type: object\n      properties:\n        status: {{ type: string, enum: [{statuses}] }}\n"
        )
    };
    let manifest = "version: 1\ngateway: { name: media }\nservices:\n  orders:\n    spec: spec.yaml\n    unsecured: public\n    upstream: { urls: ['http://127.0.0.1:9001'] }\n";
    for (side, statuses) in [("base", "placed, delivered"), ("new", "placed")] {
        std::fs::create_dir_all(dir.join(side)).unwrap();
        std::fs::write(dir.join(side).join("spec.yaml"), spec(statuses)).unwrap();
        std::fs::write(dir.join(side).join("gateway.yaml"), manifest).unwrap();
    }
    let (_, out, err) = diff(
        &relative(&dir.join("base/gateway.yaml")),
        &relative(&dir.join("new/gateway.yaml")),
        &["--format", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let ids: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["request-property-enum-value-removed"], "{out}");
}
