//! The CLI contract of DESIGN.md: `--check` and its exit code 3, `routes --format json`,
//! usage errors, and real-world specs.

use std::path::{Path, PathBuf};

use gateway_tests::{cases, gateway, workspace};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "openapi-gateway-compiler-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    gateway_tests::files_under(dir)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn check_exits_3_listing_stale_files_and_writes_nothing() {
    let out = scratch("check");
    let out_arg = out.display().to_string();
    let runtime = workspace().join("runtime").display().to_string();
    let args = [
        "generate",
        "--manifest",
        "fixtures/valid/basic/gateway.yaml",
        "--out",
        &out_arg,
        "--runtime-path",
        &runtime,
        "--check",
    ];
    // Freshly generated: up to date, exit 0.
    let (code, _, err) = gateway(&args[..args.len() - 1]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = gateway(&args);
    assert_eq!(code, 0, "{err}");

    std::fs::write(out.join("src/catalog.rs"), "// edited by hand\n").unwrap();
    std::fs::remove_file(out.join("Dockerfile")).unwrap();
    std::fs::write(out.join("src/stale.rs"), "// left over\n").unwrap();
    let before = snapshot(&out);
    let (code, _, err) = gateway(&args);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("differs  src/catalog.rs"), "{err}");
    assert!(err.contains("missing  Dockerfile"), "{err}");
    assert!(err.contains("extra    src/stale.rs"), "{err}");
    assert_eq!(snapshot(&out), before, "--check wrote something");

    // Generating repairs all three.
    let (code, _, err) = gateway(&args[..args.len() - 1]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = gateway(&args);
    assert_eq!(code, 0, "{err}");
    assert!(!out.join("src/stale.rs").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn routes_json_has_the_contracted_fields() {
    let (code, out, err) = gateway(&[
        "routes",
        "--manifest",
        "examples/ecommerce/gateway.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let routes: serde_json::Value = serde_json::from_str(&out).unwrap();
    let routes = routes.as_array().unwrap();
    assert_eq!(routes.len(), 22);
    for route in routes {
        for field in ["method", "path", "service", "operation_id", "upstream_path"] {
            assert!(route[field].is_string(), "{field} in {route}");
        }
        assert!(
            route["auth"] == "public" || route["auth"].is_array(),
            "{route}"
        );
    }
    let signup = routes
        .iter()
        .find(|r| r["operation_id"] == "createUser")
        .unwrap();
    assert_eq!(signup["method"], "POST");
    assert_eq!(signup["path"], "/api/users");
    assert_eq!(signup["upstream_path"], "/users");
    assert_eq!(signup["auth"], "public");
    let refund = routes
        .iter()
        .find(|r| r["path"] == "/api/payments/{paymentId}/refunds")
        .unwrap();
    // One alternative requiring both schemes (AND).
    assert_eq!(refund["auth"].as_array().unwrap().len(), 1);
    assert_eq!(refund["auth"][0].as_array().unwrap().len(), 2);
    assert_eq!(refund["timeouts"]["request_ms"], 30000);
    assert_eq!(refund["timeouts"]["total_ms"], 45000);
    // An operation's own timeout wins over its service's.
    let products = routes
        .iter()
        .find(|r| r["operation_id"] == "getProduct")
        .unwrap();
    assert_eq!(products["timeouts"]["request_ms"], 1000);
    assert!(products["timeouts"]["total_ms"].is_null());
}

#[test]
fn routes_table_shows_each_services_upstream_policy() {
    let (code, out, err) = gateway(&["routes", "--manifest", "examples/ecommerce/gateway.yaml"]);
    assert_eq!(code, 0, "{err}");
    let payments = out.split("\nservice payments\n").nth(1).expect(&out);
    for expected in [
        "balance       round_robin",
        "timeouts      connect 500ms, per try 30s, total 45s",
        "retries       up to 1 (budget 10% + 3/s",
        "health check  none",
        "breaker       opens on 50% failures of >= 20 in 10s; open 30s, then 1 probe(s)",
        "max in flight 512",
    ] {
        assert!(payments.contains(expected), "{expected} in {payments}");
    }
    assert!(out.contains("getProduct: per try 1s"), "{out}");
    assert!(
        payments.contains("instances     http://127.0.0.1:9003, http://127.0.0.1:9004"),
        "{payments}"
    );
}

#[test]
fn routes_table_shows_where_discovered_instances_come_from() {
    let (code, out, err) = gateway(&[
        "routes",
        "--manifest",
        "fixtures/valid/hostile-names/gateway.yaml",
    ]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "instances     DNS A/AAAA self.default.svc.cluster.local port 8000, every 10s, http://",
        "instances     DNS SRV _http._tcp.routes.internal. via 10.96.0.10:53, every 2s, http://",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }
}

#[test]
fn usage_errors_exit_2_and_input_errors_exit_1() {
    let (code, _, _) = gateway(&["generate", "--no-such-flag"]);
    assert_eq!(code, 2);
    let (code, _, _) = gateway(&["routes", "--format", "yaml"]);
    assert_eq!(code, 2);
    let (code, _, err) = gateway(&["validate", "--manifest", "does/not/exist.yaml"]);
    assert_eq!(code, 1);
    assert!(err.contains("gateway::manifest::unreadable"), "{err}");
}

/// Large public specs load; what they get flagged for is listed in their SOURCE.md.
#[test]
fn real_world_specs_load() {
    for case in cases(&workspace().join("fixtures/real-world")) {
        let manifest = case.join("gateway.yaml");
        let compiled = openapi_gateway_compiler::cli::compile(&manifest);
        let codes: Vec<&str> = compiled
            .diagnostics
            .list
            .iter()
            .filter(|d| d.severity == openapi_gateway_compiler::diag::Severity::Error)
            .map(|d| d.code)
            .collect();
        // Loading never fails outright: whatever is wrong is a construct the compiler
        // names, not a parse failure.
        for code in &codes {
            assert!(
                !code.ends_with("::syntax") && !code.ends_with("::invalid"),
                "{}: {codes:?}",
                manifest.display()
            );
        }
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "box" | "github" | "shipengine" => assert!(compiled.gateway.is_some(), "{codes:?}"),
            _ => {}
        }
    }
}

#[test]
fn auth_precedence() {
    let (code, out, err) = gateway(&[
        "routes",
        "--manifest",
        "fixtures/auth-precedence/gateway.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let routes: serde_json::Value = serde_json::from_str(&out).unwrap();
    let auth = |op: &str| {
        routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation_id"] == op)
            .map(|r| r["auth"].clone())
            .unwrap()
    };
    let bearer = serde_json::json!([[{"scheme": "bearer", "scopes": []}]]);
    assert_eq!(auth("openOp"), "public", "unsecured: public");
    assert_eq!(auth("optionalOp"), "public", "an empty requirement");
    assert_eq!(
        auth("optionalPrivate"),
        bearer,
        "public: false drops `{{}}`"
    );
    assert_eq!(auth("securedPublic"), "public", "the manifest wins");
    assert_eq!(auth("extPublic"), "public", "x-gateway");
    assert_eq!(
        auth("extOverridden"),
        bearer,
        "the manifest wins over x-gateway"
    );
}

/// Without `output`, a gateway is generated next to its manifest (`generated/<name>`), as an
/// explicit `output` is resolved, whatever folder the command runs in.
#[test]
fn the_default_output_is_beside_the_manifest() {
    let dir = scratch("default-output");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = workspace().join("fixtures/diagnostics/cyclic-schema-is-fine");
    for file in ["gateway.yaml", "users.yaml"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let manifest = dir.join("gateway.yaml").display().to_string();
    let runtime = workspace().join("runtime").display().to_string();
    // The tests run in the workspace, which has no `generated/diag`.
    assert!(!workspace().join("generated/diag").exists());
    let (code, _, err) = gateway(&[
        "generate",
        "--manifest",
        &manifest,
        "--runtime-path",
        &runtime,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("generated/diag/Cargo.toml").is_file());
    assert!(!workspace().join("generated").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_and_exclude_decide_which_operations_are_published() {
    let manifest = "fixtures/selection/gateway.yaml";
    let (code, out, err) = gateway(&["routes", "--manifest", manifest, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let routes: serde_json::Value = serde_json::from_str(&out).unwrap();
    let published: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation_id"].as_str().unwrap())
        .collect();
    // Tagged `public` or named by `include`, minus what `exclude` names.
    assert_eq!(published, ["health", "listInvoices", "getInvoice"]);

    let (code, out, err) = gateway(&[
        "routes",
        "--manifest",
        manifest,
        "--format",
        "json",
        "--all",
    ]);
    assert_eq!(code, 0, "{err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let why = |id: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation_id"] == id)
            .map(|r| r["excluded"].clone())
            .unwrap_or_else(|| panic!("{id} not listed: {all}"))
    };
    assert_eq!(why("getInvoice"), serde_json::Value::Null);
    assert_eq!(why("deleteInvoice"), "exclude.operations: deleteInvoice");
    assert_eq!(why("getInvoiceByNumber"), "not in include");
    assert_eq!(why("postLedgerEntry"), "exclude.paths: /internal/**");
    assert_eq!(why("oddTemplate"), "exclude.paths: /internal/**");
    let ledger = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation_id"] == "postLedgerEntry")
        .unwrap();
    assert_eq!(ledger["path"], "/api/billing/internal/ledger");
    assert_eq!(ledger["method"], "POST");

    let (code, table, _) = gateway(&["routes", "--manifest", manifest, "--all"]);
    assert_eq!(code, 0);
    let excluded = table.split("\nexcluded\n").nth(1).expect(&table);
    assert!(
        excluded.contains("getInvoiceByNumber  not in include"),
        "{table}"
    );

    // No route, no validator, no public entry, not even the schema only it used.
    let compiled = openapi_gateway_compiler::cli::compile(&workspace().join(manifest));
    let gateway = compiled.gateway.expect("the fixture compiles");
    let document = &gateway.openapi;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths["/api/billing/invoices/{id}"].get("delete").is_none());
    assert!(paths.keys().all(|p| !p.contains("internal")), "{paths:?}");
    assert!(
        document
            .pointer("/components/schemas/LedgerEntry")
            .is_none(),
        "{document}"
    );
    assert!(
        gateway.services[0].validators.is_empty(),
        "{:?}",
        gateway.services[0].validators
    );
}
