//! deploy/ of generated crates against the tools that read it: the Kubernetes documents
//! against the API server's schemas (`kubernetes-validate --strict`) and the Prometheus
//! Operator's CRD schemas (vendored in fixtures/vendor/prometheus-operator), the alerting
//! rules through `promtool check rules` and `promtool test rules`, the dashboard's PromQL
//! through promtool's parser, and docs/operations.md's alert table against the rules.
//! Two gateways: the example (a breaker, timeouts) and fixtures/every-metric (a JWKS
//! scheme, a Redis store, discovery), which between them have every alert and panel.
//! tests/e2e.rs checks the metrics and labels they name against a running gateway.

mod monitoring;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gateway_tests::workspace;
use monitoring::{every_metric_deploy, example_deploy};

/// The Kubernetes release the documents are validated against: the newest that
/// kubernetes-validate carries schemas for.
const KUBERNETES: &str = "1.37.0";

/// (gateway name, its deploy/ folder).
fn gateways() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("shop-gateway", example_deploy()),
        ("docs-every-metric", every_metric_deploy().to_path_buf()),
    ]
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The YAML documents of a file, as JSON values.
fn documents(path: &Path) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde_json::Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} does not run ({e}): .ci/run installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn kubernetes_validate(files: &[PathBuf]) -> (bool, String) {
    run(Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBERNETES])
        .args(files))
}

/// Every built-in resource of kubernetes.yaml and monitoring.yaml passes strict
/// validation (unknown fields refused) against the Kubernetes release; the only documents
/// it has no schema for are the operator's, which the next test validates. A document
/// with a misspelled field fails, so a pass means something.
#[test]
fn kubernetes_documents_are_valid_for_the_api_server() {
    for (name, deploy) in gateways() {
        let files = [
            deploy.join("kubernetes.yaml"),
            deploy.join("monitoring.yaml"),
        ];
        let (ok, output) = kubernetes_validate(&files);
        assert!(ok, "{name}:\n{output}");
        for file in &files {
            for document in documents(file) {
                let kind = document["kind"].as_str().unwrap().to_owned();
                let resource = format!(
                    "{}/{}",
                    kind.to_lowercase(),
                    document["metadata"]["name"].as_str().unwrap()
                );
                let passed = format!(
                    "{} passed for resource {resource} against version 1.37",
                    file.display()
                );
                if document["apiVersion"] == "monitoring.coreos.com/v1" {
                    assert!(
                        output.contains(&format!("Couldn't find schema for kind {kind}")),
                        "{name}: {resource}:\n{output}"
                    );
                } else {
                    assert!(output.contains(&passed), "{name}: {resource}:\n{output}");
                }
            }
        }
        assert!(!output.contains("ERROR"), "{name}:\n{output}");
    }

    let dir = scratch("kubernetes-bad");
    let bad = dir.join("bad.yaml");
    let text = std::fs::read_to_string(example_deploy().join("kubernetes.yaml"))
        .unwrap()
        .replace(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFileSystem: true",
        );
    std::fs::write(&bad, text).unwrap();
    let (ok, output) = kubernetes_validate(&[bad]);
    assert!(!ok && output.contains("readOnlyRootFileSystem"), "{output}");
}

/// The `openAPIV3Schema` of one vendored CRD, made strict the way the API server's field
/// validation is for `kubectl apply`: an unknown field of a structural object is an error
/// (`additionalProperties: false` where the schema lists properties and keeps no unknown
/// fields).
fn crd_schema(file: &str) -> serde_json::Value {
    let path = workspace()
        .join("fixtures/vendor/prometheus-operator")
        .join(file);
    let crd = documents(&path).remove(0);
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1")
        .expect("the CRD serves v1");
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    strict(&mut schema);
    schema
}

fn strict(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(object) => {
            if object.contains_key("properties")
                && !object.contains_key("additionalProperties")
                && !object.contains_key("x-kubernetes-preserve-unknown-fields")
            {
                object.insert("additionalProperties".into(), false.into());
            }
            for value in object.values_mut() {
                strict(value);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

fn schema_errors(schema: &serde_json::Value, document: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the CRD schema compiles");
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The `ServiceMonitor` and the `PrometheusRule` of monitoring.yaml are valid against the
/// Prometheus Operator's CRD schemas, with unknown fields refused; one with a misspelled
/// field or a duration the operator does not read is not.
#[test]
fn operator_resources_match_the_operators_crd_schemas() {
    let schemas = BTreeMap::from([
        (
            "ServiceMonitor",
            crd_schema("monitoring.coreos.com_servicemonitors.yaml"),
        ),
        (
            "PrometheusRule",
            crd_schema("monitoring.coreos.com_prometheusrules.yaml"),
        ),
    ]);
    for (name, deploy) in gateways() {
        let mut kinds = BTreeSet::new();
        for document in documents(&deploy.join("monitoring.yaml")) {
            let kind = document["kind"].as_str().unwrap();
            if let Some(schema) = schemas.get(kind) {
                let errors = schema_errors(schema, &document);
                assert!(errors.is_empty(), "{name}: {kind}: {errors:#?}");
                kinds.insert(kind.to_owned());

                let mut bad = document.clone();
                if kind == "ServiceMonitor" {
                    bad["spec"]["endpoints"][0]["intervall"] = "30s".into();
                } else {
                    bad["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes".into();
                }
                assert!(
                    !schema_errors(schema, &bad).is_empty(),
                    "{name}: {kind}: a bad field passes"
                );
            }
        }
        assert_eq!(
            kinds,
            BTreeSet::from(["PrometheusRule".to_owned(), "ServiceMonitor".to_owned()]),
            "{name}"
        );
    }
}

/// The rules of the plain file and of the `PrometheusRule` are the same.
#[test]
fn the_prometheus_rule_holds_the_rules_file() {
    for (name, deploy) in gateways() {
        let file = documents(&deploy.join("prometheus-rules.yaml")).remove(0);
        let rule = documents(&deploy.join("monitoring.yaml"))
            .into_iter()
            .find(|d| d["kind"] == "PrometheusRule")
            .unwrap();
        assert_eq!(rule["spec"], file, "{name}");
    }
}

/// The alert names of a rules file, each with how many rules it has.
fn alerts(rules_file: &Path) -> BTreeMap<String, usize> {
    let mut alerts = BTreeMap::new();
    for group in documents(rules_file).remove(0)["groups"]
        .as_array()
        .unwrap()
    {
        for rule in group["rules"].as_array().unwrap() {
            *alerts
                .entry(rule["alert"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    alerts
}

/// `promtool check rules` accepts each rules file, and `promtool test rules` passes the
/// unit tests of fixtures/deploy/<gateway>.test.yaml on it; those tests have, for every
/// alert of the file, a case where it fires and one where it does not.
#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    for (name, deploy) in gateways() {
        let dir = scratch(&format!("promtool-{name}"));
        std::fs::copy(
            deploy.join("prometheus-rules.yaml"),
            dir.join("prometheus-rules.yaml"),
        )
        .unwrap();
        let tests = format!("{name}.test.yaml");
        std::fs::copy(
            workspace().join("fixtures/deploy").join(&tests),
            dir.join(&tests),
        )
        .unwrap();

        let (ok, output) = run(Command::new("promtool")
            .args(["check", "rules"])
            .arg(dir.join("prometheus-rules.yaml")));
        assert!(ok, "{name}: promtool check rules:\n{output}");
        let (ok, output) = run(Command::new("promtool")
            .args(["test", "rules"])
            .arg(dir.join(&tests)));
        assert!(ok, "{name}: promtool test rules:\n{output}");

        let cases = documents(&dir.join(&tests)).remove(0);
        let mut fires = BTreeSet::new();
        let mut quiet = BTreeSet::new();
        for case in cases["tests"].as_array().unwrap() {
            for test in case["alert_rule_test"].as_array().unwrap() {
                let alert = test["alertname"].as_str().unwrap().to_owned();
                if test["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()) {
                    fires.insert(alert);
                } else {
                    quiet.insert(alert);
                }
            }
        }
        for alert in alerts(&deploy.join("prometheus-rules.yaml")).keys() {
            assert!(fires.contains(alert), "{name}: no test where {alert} fires");
            assert!(
                quiet.contains(alert),
                "{name}: no test where {alert} stays quiet"
            );
        }
    }
}

/// Runs `promtool check rules` on recording rules wrapping `queries`: promtool's own
/// parser, without a server.
fn promtool_parses(dir: &Path, queries: &[monitoring::Query]) -> (bool, String) {
    let rules: Vec<serde_json::Value> = queries
        .iter()
        .enumerate()
        .map(|(index, q)| serde_json::json!({ "record": format!("dashboard:query_{index}"), "expr": q.promql }))
        .collect();
    let file = dir.join("dashboard-queries.yaml");
    let text = serde_yaml::to_string(&serde_json::json!({
        "groups": [{ "name": "dashboard", "rules": rules }]
    }))
    .unwrap();
    std::fs::write(&file, text).unwrap();
    run(Command::new("promtool").args(["check", "rules"]).arg(&file))
}

/// Every query of each dashboard (panel targets, query variables, with Grafana's variables
/// replaced) parses with promtool, and a broken one does not.
#[test]
fn every_dashboard_query_parses_with_promtool() {
    for (name, deploy) in gateways() {
        let dashboard = monitoring::read_json(&deploy.join("grafana-dashboard.json"));
        let queries = monitoring::dashboard_queries(&dashboard);
        assert!(queries.len() >= 15, "{name}: {} queries", queries.len());
        let dir = scratch(&format!("queries-{name}"));
        let (ok, output) = promtool_parses(&dir, &queries);
        assert!(ok, "{name}:\n{output}");
        assert!(
            output.contains(&format!("SUCCESS: {} rules found", queries.len())),
            "{name}:\n{output}"
        );

        let mut broken = queries[0].clone();
        broken.promql = broken.promql.replacen(')', "", 1);
        let (ok, output) = promtool_parses(&dir, &[broken]);
        assert!(!ok, "a broken query parses:\n{output}");
    }
}

/// The dashboard is a Grafana dashboard of the current JSON model: its schema version,
/// panel ids unique, panels inside the 24-column grid, one variable per dimension its
/// queries filter on (job, route, method, service, instance), each variable a query uses
/// defined and each defined one used, and a panel for every family the gateway exposes
/// for operators.
#[test]
fn the_dashboard_is_a_current_grafana_dashboard_of_the_gateways_dimensions() {
    for (name, deploy) in gateways() {
        let dashboard = monitoring::read_json(&deploy.join("grafana-dashboard.json"));
        assert_eq!(dashboard["schemaVersion"], 42, "{name}");
        assert_eq!(dashboard["title"], format!("Gateway {name}"));
        assert!(dashboard["uid"].as_str().unwrap().len() <= 40);
        let panels = dashboard["panels"].as_array().unwrap();
        let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "{name}: panel ids repeat");
        for panel in panels {
            let grid = &panel["gridPos"];
            assert!(
                grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
                "{name}: {panel}"
            );
        }
        let variables: BTreeSet<String> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = [
            "datasource",
            "job",
            "route",
            "method",
            "service",
            "instance",
        ]
        .map(String::from)
        .into();
        assert_eq!(variables, expected, "{name}");
        let text = std::fs::read_to_string(deploy.join("grafana-dashboard.json")).unwrap();
        let mut used = BTreeSet::new();
        for (index, _) in text.match_indices('$') {
            let rest = &text[index + 1..];
            let rest = rest.strip_prefix('{').unwrap_or(rest);
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !word.starts_with("__") {
                used.insert(word);
            }
        }
        assert_eq!(used, expected, "{name}: variables used against defined");

        let queries = monitoring::dashboard_queries(&dashboard);
        let mut families = BTreeSet::new();
        for query in &queries {
            for metric in monitoring::named(&query.promql).unwrap().into_keys() {
                let family = metric.trim_end_matches("_bucket").to_owned();
                families.insert(family);
            }
        }
        let mut wanted = vec![
            "gateway_requests_total",
            "gateway_request_duration_seconds",
            "gateway_added_latency_seconds",
            "gateway_in_flight_requests",
            "gateway_upstream_attempts_total",
            "gateway_upstream_retries_total",
            "gateway_upstream_rejected_total",
            "gateway_upstream_instance_healthy",
            "gateway_upstream_ejections_total",
            "gateway_auth_failures_total",
            "gateway_validation_failures_total",
            "gateway_rate_limited_total",
            "gateway_info",
        ];
        if name == "shop-gateway" {
            wanted.extend([
                "gateway_circuit_breaker_state",
                "gateway_auth_failures_limited_total",
                "gateway_response_validation_failures_total",
            ]);
        } else {
            wanted.extend([
                "gateway_jwks_refresh_total",
                "gateway_rate_limit_store_errors_total",
                "gateway_rate_limit_store_fallbacks_total",
                "gateway_discovery_resolutions_total",
            ]);
        }
        for family in wanted {
            assert!(families.contains(family), "{name}: no panel shows {family}");
        }
    }
}

/// docs/operations.md's alert table lists each alert of the two gateways once, with the
/// severity and `for` of its rules.
#[test]
fn the_alert_table_of_the_docs_is_what_the_rules_say() {
    let doc = gateway_tests::markdown::Markdown::read("docs/operations.md");
    let table = doc.table(&["alert", "severity", "for", "fires when", "threshold"]);
    let mut documented = BTreeMap::new();
    for row in &table.rows {
        let alert = row.cells[0].trim_matches('`').to_owned();
        assert!(
            documented
                .insert(
                    alert.clone(),
                    (
                        row.cells[1].clone(),
                        row.cells[2].clone(),
                        row.at.to_string()
                    )
                )
                .is_none(),
            "{}: {alert} twice",
            row.at
        );
    }
    let mut generated = BTreeMap::new();
    for (_, deploy) in gateways() {
        for group in documents(&deploy.join("prometheus-rules.yaml")).remove(0)["groups"]
            .as_array()
            .unwrap()
        {
            for rule in group["rules"].as_array().unwrap() {
                generated.insert(
                    rule["alert"].as_str().unwrap().to_owned(),
                    (
                        format!("`{}`", rule["labels"]["severity"].as_str().unwrap()),
                        format!("`{}`", rule["for"].as_str().unwrap()),
                    ),
                );
            }
        }
    }
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "docs/operations.md: the alert table's alerts against the generated rules"
    );
    for (alert, (severity, for_)) in &generated {
        let (doc_severity, doc_for, at) = &documented[alert];
        assert_eq!((doc_severity, doc_for), (severity, for_), "{at}: {alert}");
    }
}
