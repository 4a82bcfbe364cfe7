//! The PromQL of a generated deploy/ folder (the dashboard's queries and variables, the
//! alerting rules) and what it names, shared by tests/deploy.rs (promtool parses it) and
//! tests/e2e.rs (a running gateway's `/metrics` exposes what it names). Each of the two test
//! binaries uses part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gateway_tests::workspace;
use promql_parser::parser::{self, Expr};

/// deploy/ of the example's committed crate (tests/e2e.rs checks it is up to date).
pub fn example_deploy() -> PathBuf {
    workspace().join("examples/ecommerce/generated/deploy")
}

/// deploy/ of fixtures/every-metric (a JWKS scheme, a Redis store, DNS discovery: the
/// panels and alerts the example does not have), generated once per test binary.
pub fn every_metric_deploy() -> &'static Path {
    static DEPLOY: OnceLock<PathBuf> = OnceLock::new();
    DEPLOY.get_or_init(|| {
        let out = std::env::temp_dir().join(format!(
            "gateway-deploy-every-metric-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&out);
        let out_arg = out.display().to_string();
        let (code, _, err) = gateway_tests::gateway(&[
            "generate",
            "--manifest",
            "fixtures/every-metric/gateway.yaml",
            "--out",
            &out_arg,
        ]);
        assert_eq!(code, 0, "{err}");
        out.join("deploy")
    })
}

/// One PromQL expression and where it comes from (panel title, variable or alert).
#[derive(Debug, Clone)]
pub struct Query {
    pub at: String,
    /// With Grafana's variables replaced, so that it is plain PromQL.
    pub promql: String,
}

/// Grafana's variables as plain PromQL: `$__rate_interval` a range, `$name` (always inside
/// a regex matcher's quotes here) a regex that matches anything.
fn plain(expr: &str) -> String {
    let expr = expr.replace("$__rate_interval", "5m");
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                chars.next();
            }
            out.push_str(".*");
        } else {
            out.push(c);
        }
    }
    out
}

/// `label_values(<selector>, <label>)` as the PromQL that has the label's values.
fn label_values(query: &str) -> Option<String> {
    let inner = query.strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some(format!("count by ({}) ({})", label.trim(), selector.trim()))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every query of the dashboard: its panels' targets and its query variables.
pub fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<Query> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(Query {
                at: format!(
                    "panel {:?} target {}",
                    panel["title"].as_str().unwrap_or_default(),
                    target["refId"].as_str().unwrap_or_default()
                ),
                promql: plain(target["expr"].as_str().expect("a target has an expr")),
            });
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] == "query" {
            let query = variable["query"]["query"]
                .as_str()
                .expect("a query variable has a query");
            queries.push(Query {
                at: format!("variable {}", variable["name"]),
                promql: label_values(&plain(query))
                    .unwrap_or_else(|| panic!("not a label_values query: {query}")),
            });
        }
    }
    queries
}

/// Every alert's expression in a rules file.
pub fn rule_queries(rules_file: &Path) -> Vec<Query> {
    let text = std::fs::read_to_string(rules_file).unwrap();
    let rules: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let mut queries = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            queries.push(Query {
                at: format!("alert {}", rule["alert"]),
                promql: rule["expr"].as_str().expect("expr").to_owned(),
            });
        }
    }
    queries
}

/// What an expression names: per metric, the labels it matches on or groups by.
pub fn named(promql: &str) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let expr = parser::parse(promql)?;
    let mut named = BTreeMap::new();
    walk(&expr, &[], &mut named);
    Ok(named)
}

/// Records the selectors under `expr`; `grouping` holds the labels of the aggregations
/// around it, which its series must carry.
fn walk(expr: &Expr, grouping: &[String], named: &mut BTreeMap<String, BTreeSet<String>>) {
    match expr {
        Expr::Aggregate(aggregate) => {
            let mut inner = grouping.to_vec();
            if let Some(modifier) = &aggregate.modifier {
                inner.extend(modifier.labels().labels.iter().cloned());
            }
            walk(&aggregate.expr, &inner, named);
            if let Some(param) = &aggregate.param {
                walk(param, grouping, named);
            }
        }
        Expr::Unary(unary) => walk(&unary.expr, grouping, named),
        Expr::Binary(binary) => {
            let mut inner = grouping.to_vec();
            if let Some(matching) = binary.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                inner.extend(matching.labels().labels.iter().cloned());
            }
            walk(&binary.lhs, &inner, named);
            walk(&binary.rhs, &inner, named);
        }
        Expr::Paren(paren) => walk(&paren.expr, grouping, named),
        Expr::Subquery(subquery) => walk(&subquery.expr, grouping, named),
        Expr::VectorSelector(selector) => selector_named(selector, grouping, named),
        Expr::MatrixSelector(matrix) => selector_named(&matrix.vs, grouping, named),
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, grouping, named);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_named(
    selector: &promql_parser::parser::VectorSelector,
    grouping: &[String],
    named: &mut BTreeMap<String, BTreeSet<String>>,
) {
    let name = selector
        .name
        .clone()
        .or_else(|| {
            selector
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map(|m| m.value.clone())
        })
        .unwrap_or_default();
    let labels = named.entry(name).or_default();
    labels.extend(
        selector
            .matchers
            .matchers
            .iter()
            .chain(selector.matchers.or_matchers.iter().flatten())
            .map(|m| m.name.clone())
            .filter(|name| name != "__name__"),
    );
    labels.extend(grouping.iter().cloned());
}

/// Labels Prometheus gives every series of a target, whatever the target exposes.
pub const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// What `queries` name that `exposed` (family -> the labels of its series) does not have:
/// a family, or a label of one. A histogram's `_bucket`, `_sum` and `_count` are its
/// family's, `le` a label of `_bucket`.
pub fn unexposed(queries: &[Query], exposed: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for query in queries {
        let named = match named(&query.promql) {
            Ok(named) => named,
            Err(error) => {
                problems.push(format!("{}: {error}: {}", query.at, query.promql));
                continue;
            }
        };
        for (metric, labels) in named {
            let (family, extra) = match exposed.get(&metric) {
                Some(_) => (metric.as_str(), None),
                None => match metric.strip_suffix("_bucket") {
                    Some(base) => (base, Some("le")),
                    None => (
                        metric
                            .strip_suffix("_sum")
                            .or_else(|| metric.strip_suffix("_count"))
                            .unwrap_or(&metric),
                        None,
                    ),
                },
            };
            let Some(has) = exposed.get(family) else {
                problems.push(format!(
                    "{}: `{metric}` is not exposed by the gateway",
                    query.at
                ));
                continue;
            };
            for label in &labels {
                if !has.contains(label)
                    && !TARGET_LABELS.contains(&label.as_str())
                    && Some(label.as_str()) != extra
                {
                    problems.push(format!(
                        "{}: `{metric}` has no label `{label}` (it has {has:?})",
                        query.at
                    ));
                }
            }
        }
    }
    problems
}
