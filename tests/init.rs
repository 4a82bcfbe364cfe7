//! `gateway init` (docs/manifest.md, "Starting a manifest"): the manifest it writes from the
//! example's specs and from a fixture with every kind of security scheme, as snapshots in
//! fixtures/init (`GATEWAY_BLESS=1 cargo test -p gateway-tests --test init` rewrites them);
//! that `gateway validate` on a written manifest fails on exactly the operations it lists
//! to decide, and has no error once they are decided as its comments say (on the fixtures
//! and on the public specs of fixtures/real-world); its refusals, its CI workflow, and its
//! errors for specs it cannot read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gateway_tests::{bless, cases, copy_dir, gateway, workspace};

/// A fresh folder `<tmp>/gateway-init-<pid>-<test>/<name>`; `name` names the gateway.
fn project(test: &str, name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("gateway-init-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// `gateway init` writing `dir/gateway.yaml` from the specs (paths relative to `dir`, or
/// absolute), with `extra` arguments.
fn init(dir: &Path, specs: &[&str], extra: &[&str]) -> (u8, String, String) {
    let mut args = vec!["init".to_owned()];
    for spec in specs {
        args.push("--spec".to_owned());
        args.push(text(&dir.join(spec)));
    }
    args.push("--out".to_owned());
    args.push(text(&dir.join("gateway.yaml")));
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    gateway(&args)
}

/// `None` when the written file is its snapshot (or the snapshot was rewritten).
fn compare(written: &Path, expected: &Path) -> Option<String> {
    let actual =
        std::fs::read_to_string(written).unwrap_or_else(|e| panic!("{}: {e}", written.display()));
    if bless() {
        std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
        std::fs::write(expected, &actual).unwrap();
        return None;
    }
    let snapshot = std::fs::read_to_string(expected).unwrap_or_default();
    (actual != snapshot).then(|| {
        format!(
            "{} is not its snapshot (rerun with GATEWAY_BLESS=1 and review the diff):\n{actual}",
            expected
                .strip_prefix(workspace())
                .unwrap_or(expected)
                .display()
        )
    })
}

/// The decisions a written manifest lists, made as its comments say: `operations:` and
/// each `{ public: true }` line under it uncommented.
fn decide(manifest: &str) -> String {
    let mut in_list = false;
    let mut out = String::new();
    for line in manifest.lines() {
        let line = if line == "    # operations:" {
            in_list = true;
            "    operations:".to_owned()
        } else if let Some(entry) = line
            .strip_prefix("    #   ")
            .filter(|entry| in_list && entry.contains("{ public: true }"))
        {
            format!("      {entry}")
        } else {
            in_list = false;
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// (spec as the manifest writes it, operation) for every operation the decided manifest
/// makes public.
fn decided(manifest: &str) -> BTreeSet<(String, String)> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(manifest)
        .unwrap_or_else(|e| panic!("the decided manifest is not YAML: {e}\n{manifest}"));
    let mut listed = BTreeSet::new();
    for (_, service) in yaml["services"].as_mapping().expect("services") {
        let spec = service["spec"].as_str().expect("a spec").to_owned();
        if let Some(operations) = service["operations"].as_mapping() {
            for (key, policy) in operations {
                assert_eq!(policy["public"].as_bool(), Some(true), "{key:?}");
                listed.insert((spec.clone(), key.as_str().expect("a key").to_owned()));
            }
        }
    }
    listed
}

const AUTH_ERRORS: [&str; 3] = [
    "gateway::check::no_auth_decision",
    "gateway::check::scheme_not_configured",
    "gateway::spec::unknown_scheme",
];

/// `gateway validate --format json`: the exit code and the diagnostics.
fn validate(manifest: &Path) -> (u8, Vec<serde_json::Value>) {
    let (code, out, err) = gateway(&[
        "validate",
        "--manifest",
        &text(manifest),
        "--format",
        "json",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, json["diagnostics"].as_array().unwrap().clone())
}

/// The operations `validate` fails on for want of an auth decision, as (spec relative to
/// the manifest's folder, operation); and the other errors' codes.
fn auth_errors(dir: &Path, manifest: &Path) -> (BTreeSet<(String, String)>, Vec<String>) {
    let (_, diagnostics) = validate(manifest);
    let specs: Vec<String> = {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
        yaml["services"]
            .as_mapping()
            .unwrap()
            .values()
            .map(|s| s["spec"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut operations = BTreeSet::new();
    let mut others = Vec::new();
    for d in diagnostics.iter().filter(|d| d["severity"] == "error") {
        let code = d["code"].as_str().unwrap();
        if !AUTH_ERRORS.contains(&code) {
            others.push(code.to_owned());
            continue;
        }
        let message = d["message"].as_str().unwrap();
        let operation = message
            .split_once("operation `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(operation, _)| operation.to_owned())
            .unwrap_or_else(|| panic!("no operation in {d}"));
        let file = PathBuf::from(d["file"].as_str().unwrap());
        let spec = specs
            .iter()
            .find(|spec| {
                std::path::absolute(dir.join(spec)).unwrap() == std::path::absolute(&file).unwrap()
            })
            .unwrap_or_else(|| panic!("{d} is in no service's spec"))
            .clone();
        operations.insert((spec, operation));
    }
    others.sort();
    (operations, others)
}

/// The property `init` is for: `validate` names exactly the operations the manifest lists
/// to decide, and once they are decided no auth error is left (and no other error
/// appears). Returns how many operations were listed.
fn validate_names_what_is_listed(dir: &Path) -> usize {
    let manifest = dir.join("gateway.yaml");
    let written = std::fs::read_to_string(&manifest).unwrap();
    let listed = decided(&decide(&written));
    let (failing, others) = auth_errors(dir, &manifest);
    assert_eq!(
        failing,
        listed,
        "{}: `validate` fails on other operations than those listed to decide",
        manifest.display()
    );
    let decided_file = dir.join("decided.yaml");
    std::fs::write(&decided_file, decide(&written)).unwrap();
    let (left, others_after) = auth_errors(dir, &decided_file);
    assert!(left.is_empty(), "undecided after deciding: {left:?}");
    assert_eq!(others_after, others, "deciding changed the other errors");
    listed.len()
}

#[test]
fn the_examples_specs_make_a_manifest_that_validates() {
    let dir = project("example", "ecommerce");
    copy_dir(
        &workspace().join("examples/ecommerce/specs"),
        &dir.join("specs"),
    );
    let (code, out, err) = init(
        &dir,
        &[
            "specs/users.yaml",
            "specs/orders.yaml",
            "specs/payments/openapi.yaml",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 services, 4 security schemes configured, 0 operations to decide"),
        "{out}"
    );
    let stale = compare(
        &dir.join("gateway.yaml"),
        &workspace().join("fixtures/init/ecommerce/expected/gateway.yaml"),
    );
    assert!(stale.is_none(), "{}", stale.unwrap_or_default());
    // Nothing to decide: it validates as written, with a warning per unscoped JWT scheme.
    let (code, diagnostics) = validate(&dir.join("gateway.yaml"));
    assert_eq!(code, 0, "{diagnostics:#?}");
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes, ["gateway::manifest::jwt_unscoped"; 2],
        "{diagnostics:#?}"
    );
    assert_eq!(validate_names_what_is_listed(&dir), 0);
}

const SCHEME_SPECS: [&str; 3] = [
    "specs/accounts.yaml",
    "specs/billing/openapi.yaml",
    "specs/v2/accounts.json",
];

#[test]
fn every_kind_of_scheme_is_configured_or_left_to_decide() {
    let fixture = workspace().join("fixtures/init/schemes");
    let dir = project("schemes", "schemes");
    copy_dir(&fixture.join("specs"), &dir.join("specs"));
    let (code, out, err) = init(&dir, &SCHEME_SPECS, &["--ci", "github"]);
    assert_eq!(code, 0, "{out}{err}");
    let stale: Vec<String> = [
        ("gateway.yaml", "expected/gateway.yaml"),
        (
            ".github/workflows/gateway.yml",
            "expected/.github/workflows/gateway.yml",
        ),
    ]
    .iter()
    .filter_map(|(written, expected)| compare(&dir.join(written), &fixture.join(expected)))
    .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
    // The schema the first line points to, beside the manifest.
    let written = std::fs::read_to_string(dir.join("gateway.yaml")).unwrap();
    assert_eq!(
        written.lines().next(),
        Some("# yaml-language-server: $schema=gateway.schema.json")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("gateway.schema.json")).unwrap(),
        std::fs::read_to_string(workspace().join("docs/manifest.schema.json")).unwrap()
    );

    // What is listed, what validate says, and what is left once it is decided.
    let listed = decided(&decide(&written));
    let expected: BTreeSet<(String, String)> = [
        ("specs/accounts.yaml", "health"),
        ("specs/accounts.yaml", "DELETE /accounts/{id}"),
        ("specs/accounts.yaml", "admin"),
        ("specs/accounts.yaml", "legacy"),
        ("specs/accounts.yaml", "internal"),
        ("specs/accounts.yaml", "ghost"),
        ("specs/v2/accounts.json", "listAccounts"),
        ("specs/v2/accounts.json", "on"),
    ]
    .iter()
    .map(|(spec, op)| ((*spec).to_owned(), (*op).to_owned()))
    .collect();
    assert_eq!(listed, expected);
    assert_eq!(validate_names_what_is_listed(&dir), 8);
    let (code, diagnostics) = validate(&dir.join("decided.yaml"));
    assert_eq!(code, 0, "{diagnostics:#?}");
    assert!(
        diagnostics
            .iter()
            .all(|d| d["code"] == "gateway::manifest::jwt_unscoped"),
        "{diagnostics:#?}"
    );
    // The routes: every configurable scheme is verified where the spec requires it, and
    // the two services that both have `GET /health` are mounted apart.
    let (code, routes, err) = gateway(&[
        "routes",
        "--manifest",
        &text(&dir.join("decided.yaml")),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let routes: serde_json::Value = serde_json::from_str(&routes).unwrap();
    let auth = |path: &str| -> String {
        let route = routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no route {path}: {routes:#}"));
        route["auth"].to_string()
    };
    assert!(auth("/accounts/accounts/{id}").contains("headerKey"));
    assert!(auth("/accounts/accounts/{id}").contains("queryKey"));
    assert!(auth("/accounts/me").contains("cookieKey"));
    assert!(auth("/accounts/profile").contains("oidc"));
    assert!(auth("/billing/invoices").contains("bearerAuth"));
    assert_eq!(auth("/accounts/health"), "\"public\"");
    assert_eq!(auth("/billing/health"), "\"public\"");

    // The workflow's commands work on the decided manifest as it says: generate, then
    // `generate --check` finds the crate up to date.
    let workflow: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join(".github/workflows/gateway.yml")).unwrap(),
    )
    .unwrap();
    let runs: Vec<&str> = workflow["jobs"]["gateway"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect();
    for command in [
        "gateway validate --manifest gateway.yaml",
        "gateway generate --manifest gateway.yaml --check",
        "cargo build --release --locked --manifest-path generated/Cargo.toml",
    ] {
        assert!(runs.contains(&command), "{command} is not run: {runs:?}");
    }
    std::fs::copy(dir.join("decided.yaml"), dir.join("gateway.yaml")).unwrap();
    let manifest = text(&dir.join("gateway.yaml"));
    let (code, _, err) = gateway(&["generate", "--manifest", &manifest]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("generated/Cargo.toml").is_file());
    let (code, _, err) = gateway(&["generate", "--manifest", &manifest, "--check"]);
    assert_eq!(code, 0, "{err}");
}

/// The property on large public specs: box, shipengine and openai declare their schemes,
/// github none at all (1,223 operations to decide).
#[test]
fn on_real_world_specs_validate_names_what_is_listed() {
    for case in cases(&workspace().join("fixtures/real-world")) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let manifest: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(case.join("gateway.yaml")).unwrap())
                .unwrap();
        let spec = manifest["services"]
            .as_mapping()
            .unwrap()
            .values()
            .next()
            .unwrap()["spec"]
            .as_str()
            .unwrap()
            .to_owned();
        let dir = project(&format!("real-world-{name}"), &name);
        let (code, out, err) = init(&dir, &[&text(&case.join(spec))], &[]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let listed = validate_names_what_is_listed(&dir);
        if name == "github" {
            assert_eq!(listed, 1223, "{name}");
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}

#[test]
fn existing_files_are_kept_without_force() {
    let dir = project("force", "shop");
    copy_dir(
        &workspace().join("examples/ecommerce/specs"),
        &dir.join("specs"),
    );
    let specs = ["specs/users.yaml"];
    let (code, _, err) = init(&dir, &specs, &[]);
    assert_eq!(code, 0, "{err}");
    let first = std::fs::read_to_string(dir.join("gateway.yaml")).unwrap();
    assert!(first.contains("name: shop-gateway"), "{first}");

    // The manifest exists: refused, untouched, exit 2.
    std::fs::write(dir.join("gateway.yaml"), "# mine\n").unwrap();
    let (code, out, err) = init(&dir, &specs, &[]);
    assert_eq!(code, 2, "{out}{err}");
    let manifest = text(&dir.join("gateway.yaml"));
    assert!(
        err.contains(&format!(
            "`{manifest}` exists; pass --force to overwrite it"
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("gateway.yaml")).unwrap(),
        "# mine\n"
    );

    // The workflow exists: refused too, and nothing is written.
    std::fs::remove_file(dir.join("gateway.yaml")).unwrap();
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(dir.join(".github/workflows/gateway.yml"), "# mine\n").unwrap();
    let (code, _, err) = init(&dir, &specs, &["--ci", "github"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(".github/workflows/gateway.yml` exists"),
        "{err}"
    );
    assert!(!dir.join("gateway.yaml").exists());
    // Without --ci the workflow is none of init's business; the schema beside the
    // manifest is the one init writes, so it is no reason to refuse.
    let (code, _, err) = init(&dir, &specs, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("gateway.yaml")).unwrap(),
        first
    );

    // A schema edited by hand is kept too.
    std::fs::write(dir.join("gateway.schema.json"), "{}\n").unwrap();
    std::fs::remove_file(dir.join("gateway.yaml")).unwrap();
    let (code, _, err) = init(&dir, &specs, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gateway.schema.json` exists"), "{err}");
    assert!(!dir.join("gateway.yaml").exists());

    // --force overwrites all three.
    std::fs::write(dir.join("gateway.yaml"), "# mine\n").unwrap();
    let (code, out, err) = init(&dir, &specs, &["--ci", "github", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gateway.yml"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("gateway.yaml")).unwrap(),
        first
    );
    assert!(
        std::fs::read_to_string(dir.join(".github/workflows/gateway.yml"))
            .unwrap()
            .contains("gateway generate --manifest gateway.yaml --check")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("gateway.schema.json")).unwrap(),
        std::fs::read_to_string(workspace().join("docs/manifest.schema.json")).unwrap()
    );
}

#[test]
fn specs_that_cannot_be_read_are_errors_with_their_place() {
    let dir = project("unreadable", "broken");
    std::fs::write(
        dir.join("syntax.yaml"),
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a: [\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("swagger.yaml"),
        "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
    )
    .unwrap();
    let (code, out, err) = init(&dir, &["syntax.yaml", "swagger.yaml", "missing.yaml"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    // Every spec's problem at once, each at its file (and line and column where the
    // file has them).
    for (file, code) in [
        ("syntax.yaml:", "gateway::spec::syntax"),
        ("swagger.yaml:1:", "gateway::spec::unsupported_version"),
        ("missing.yaml", "gateway::spec::unreadable"),
    ] {
        assert!(err.contains(code), "{code}: {err}");
        assert!(err.contains(&text(&dir.join(file))), "{file}: {err}");
    }
    let syntax_at = err
        .split(&format!("{}:", text(&dir.join("syntax.yaml"))))
        .nth(1)
        .unwrap_or_default();
    assert!(
        syntax_at.starts_with(|c: char| c.is_ascii_digit()),
        "no line for the syntax error: {err}"
    );
    assert!(err.contains("no manifest written"), "{err}");
    assert!(!dir.join("gateway.yaml").exists());
    assert!(!dir.join("gateway.schema.json").exists());
}

#[test]
fn init_is_deterministic_and_schema_prints_the_schema() {
    let dir = project("deterministic", "ecommerce");
    copy_dir(
        &workspace().join("examples/ecommerce/specs"),
        &dir.join("specs"),
    );
    let specs = ["specs/orders.yaml", "specs/payments/openapi.yaml"];
    let (code, _, err) = init(&dir, &specs, &["--ci", "github"]);
    assert_eq!(code, 0, "{err}");
    let first = gateway_tests::files_under(&dir)
        .into_iter()
        .map(|path| (path.clone(), std::fs::read(path).unwrap()))
        .collect::<Vec<_>>();
    let (code, _, err) = init(&dir, &specs, &["--ci", "github", "--force"]);
    assert_eq!(code, 0, "{err}");
    for (path, bytes) in &first {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }

    let (code, out, _) = gateway(&["schema"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        std::fs::read_to_string(workspace().join("docs/manifest.schema.json")).unwrap()
    );
    // Specs are required; the same spec twice is refused.
    let (code, _, err) = gateway(&["init"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--spec"), "{err}");
    let (code, _, err) = init(
        &dir,
        &["specs/orders.yaml", "specs/orders.yaml"],
        &["--force"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is given twice"), "{err}");
}

#[test]
fn paths_are_relative_to_the_manifests_folder() {
    let dir = project("relative", "shop");
    copy_dir(
        &workspace().join("examples/ecommerce/specs"),
        &dir.join("specs"),
    );
    let manifest = dir.join("deploy/gw.yaml");
    let (code, out, err) = gateway(&[
        "init",
        "--spec",
        &text(&dir.join("specs/users.yaml")),
        "--out",
        &text(&manifest),
        "--ci",
        "github",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let written = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        written.contains("\n    spec: ../specs/users.yaml\n"),
        "{written}"
    );
    assert!(written.contains("\n  name: deploy-gateway "), "{written}");
    assert!(dir.join("deploy/gateway.schema.json").is_file());
    let workflow =
        std::fs::read_to_string(dir.join("deploy/.github/workflows/gateway.yml")).unwrap();
    assert!(
        workflow.contains("run: gateway validate --manifest gw.yaml\n"),
        "{workflow}"
    );
    let (code, diagnostics) = validate(&manifest);
    assert_eq!(code, 0, "{diagnostics:#?}");
    // A folder is not a manifest's name.
    let (code, _, err) = gateway(&[
        "init",
        "--spec",
        &text(&dir.join("specs/users.yaml")),
        "--out",
        &text(&dir),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is a folder"), "{err}");
    assert!(!err.contains("exists"), "{err}");
}
