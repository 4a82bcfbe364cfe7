//! The operations artifacts of `deploy/`: a Grafana dashboard, Prometheus alerting rules
//! (a plain rules file and a `PrometheusRule`) and a `ServiceMonitor`, all built for this
//! gateway's routes, services and policies.
//!
//! Built as values and serialized (serde_json, yaml_serde) rather than templated: a
//! dashboard is a deep tree of objects, and the rules file and the `PrometheusRule` share
//! one list of groups. Every expression names only families and labels the runtime
//! exposes (`runtime/src/observe/metrics.rs` and the stages' `render` functions); the
//! tests check them against a real `/metrics` scrape. The series are scoped to this
//! gateway by the scrape's `job` label: the `ServiceMonitor` sets it to the gateway's name,
//! the plain rules file expects a scrape job of that name (docs/operations.md).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::ir::{Gateway, KeySource, RateLimitStore, SchemeKind};

/// The dashboard JSON model version of current Grafana: `LATEST_VERSION` of its
/// apps/dashboard/pkg/migration/schemaversion/migrations.go (the last of the v1 dashboard
/// API).
pub const GRAFANA_SCHEMA_VERSION: u32 = 42;

/// Default thresholds where the manifest has none (docs/operations.md, "Alerts").
pub const ERROR_RATIO: f64 = 0.05;
/// Seconds; a bucket bound of `gateway_added_latency_seconds`, so the p99 is exact there.
pub const ADDED_LATENCY_P99: f64 = 0.05;
/// Of a route's request timeout: requests slower than this are about to be cut.
pub const TIMEOUT_FRACTION: f64 = 0.9;
/// The bucket bounds of `gateway_request_duration_seconds` in milliseconds (the runtime's
/// `DURATION_BUCKETS`; tests/e2e.rs compares them with a scrape). A quantile between two
/// bounds is a guess (`histogram_quantile` interpolates), so the timeout alert counts the
/// requests above a bound instead.
pub const DURATION_BUCKETS_MS: [f64; 14] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0,
];
/// Of the requests of a route: more than this many slower than the bound is an alert.
pub const SLOW_SHARE: f64 = 0.01;

/// The largest duration bucket bound within `TIMEOUT_FRACTION` of `timeout_ms`, when it is
/// at least half the timeout (a lower one would call most healthy routes slow).
pub fn near_timeout_bound_ms(timeout_ms: u64) -> Option<f64> {
    let timeout = timeout_ms as f64;
    DURATION_BUCKETS_MS
        .iter()
        .copied()
        .rfind(|bound| *bound <= timeout * TIMEOUT_FRACTION)
        .filter(|bound| *bound >= timeout / 2.0)
}

/// A string as a PromQL (and RE2-compatible) double-quoted literal.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal value as a RE2 pattern matching exactly it.
fn regex_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn seconds(ms: u64) -> String {
    let secs = ms as f64 / 1000.0;
    format!("{secs}")
}

#[derive(Serialize)]
struct Groups {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn new(alert: &str, expr: String, for_: &str, severity: &str) -> Rule {
        Rule {
            alert: alert.to_owned(),
            expr,
            for_: for_.to_owned(),
            labels: BTreeMap::from([("severity".to_owned(), severity.to_owned())]),
            annotations: BTreeMap::new(),
        }
    }

    fn says(mut self, summary: &str, description: String) -> Rule {
        self.annotations
            .insert("summary".to_owned(), summary.to_owned());
        self.annotations
            .insert("description".to_owned(), description);
        self
    }
}

/// What a gateway has that decides which panels and alerts it gets.
struct Features {
    breaker: bool,
    discovery: bool,
    policies: bool,
    failure_limit: bool,
    redis: bool,
    jwks: bool,
    responses: bool,
}

impl Features {
    fn of(gateway: &Gateway) -> Features {
        Features {
            breaker: gateway
                .services
                .iter()
                .any(|s| s.resilience.breaker.is_some()),
            discovery: gateway.services.iter().any(|s| s.discovery.is_some()),
            policies: !gateway.rate_limits.is_empty(),
            failure_limit: !gateway.schemes.is_empty() && gateway.auth_failures.is_some(),
            redis: matches!(gateway.rate_limit_store, RateLimitStore::Redis { .. })
                && (!gateway.rate_limits.is_empty() || gateway.auth_failures.is_some()),
            jwks: gateway.schemes.iter().any(|s| {
                matches!(&s.kind, SchemeKind::Jwt(jwt) if matches!(jwt.key, KeySource::Jwks(_)))
            }),
            responses: gateway.routes.iter().any(|r| r.responses.is_some()),
        }
    }
}

/// The routes whose p99 duration is compared with one request timeout: by timeout, the
/// route templates of each method, in route order.
fn timeout_groups(gateway: &Gateway) -> BTreeMap<u64, BTreeMap<String, Vec<String>>> {
    let mut groups: BTreeMap<u64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for route in &gateway.routes {
        let service = &gateway.services[route.service];
        let timeout = service
            .resilience
            .operations
            .iter()
            .find(|(id, _, _)| *id == route.operation_id)
            .and_then(|(_, request, _)| *request)
            .map_or(service.request_timeout_ms, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            });
        if near_timeout_bound_ms(timeout).is_none() {
            continue;
        }
        let paths = groups
            .entry(timeout)
            .or_default()
            .entry(route.method.to_string())
            .or_default();
        let path = route.public_path.to_string();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    groups
}

fn rules(gateway: &Gateway) -> Groups {
    let features = Features::of(gateway);
    let name = &gateway.name;
    let job = format!("job={}", quoted(name));
    let mut rules = vec![
        Rule::new(
            "GatewayDown",
            format!("absent(gateway_up{{{job}}})"),
            "5m",
            "critical",
        )
        .says(
            "No replica of the gateway is scraped",
            format!("No replica of {name} has reported gateway_up for 5 minutes: it is down, or Prometheus cannot reach its admin port."),
        ),
        Rule::new(
            "GatewayHighErrorRatio",
            format!(
                "sum(rate(gateway_requests_total{{{job},status_class=\"5xx\"}}[5m])) / sum(rate(gateway_requests_total{{{job}}}[5m])) > {ERROR_RATIO}"
            ),
            "5m",
            "critical",
        )
        .says(
            "Over 5% of the gateway's answers are 5xx",
            format!("Over 5% of the requests to {name} were answered with 5xx in the last 5 minutes."),
        ),
        Rule::new(
            "GatewayAddedLatencyHigh",
            format!(
                "histogram_quantile(0.99, sum by (le, route, method) (rate(gateway_added_latency_seconds_bucket{{{job}}}[5m]))) > {ADDED_LATENCY_P99}"
            ),
            "10m",
            "warning",
        )
        .says(
            "The gateway adds over 50 ms at the 99th percentile",
            format!("{name} adds over 50 ms (p99) to {{{{ $labels.method }}}} {{{{ $labels.route }}}}, beyond the upstream's own time."),
        ),
    ];
    for (timeout, methods) in timeout_groups(gateway) {
        let Some(bound_ms) = near_timeout_bound_ms(timeout) else {
            continue;
        };
        let bound = format_float(bound_ms / 1000.0);
        // The share of each route's requests slower than the bound: exact, unlike a
        // quantile between two bounds. One selector per method (it matches one method's
        // routes), joined by `or`: their series differ in `method`.
        let shares = methods
            .iter()
            .map(|(method, paths)| {
                let routes = paths
                    .iter()
                    .map(|p| regex_literal(p))
                    .collect::<Vec<_>>()
                    .join("|");
                let selector = format!("{job},method={},route=~{}", quoted(method), quoted(&routes));
                format!(
                    "(1 - sum by (route, method) (rate(gateway_request_duration_seconds_bucket{{{selector},le=\"{bound}\"}}[5m])) / sum by (route, method) (rate(gateway_request_duration_seconds_bucket{{{selector},le=\"+Inf\"}}[5m])))"
                )
            })
            .collect::<Vec<_>>();
        let share = format_float(SLOW_SHARE);
        let expr = if shares.len() == 1 {
            format!("{} > {share}", shares[0])
        } else {
            format!("({}) > {share}", shares.join(" or "))
        };
        let mut rule = Rule::new("GatewayRouteNearTimeout", expr, "10m", "warning");
        // One rule per timeout; the label tells them apart (rules of one name and
        // the same labels are duplicates to promtool).
        rule.labels
            .insert("timeout".to_owned(), format!("{}s", seconds(timeout)));
        rules.push(
            rule.says(
                "A route's slow requests come close to its request timeout",
                format!(
                    "Over 1% of {{{{ $labels.method }}}} {{{{ $labels.route }}}} requests of {name} take longer than {bound} s; its request timeout is {} s.",
                    seconds(timeout)
                ),
            ),
        );
    }
    rules.push(
        Rule::new(
            "GatewayNoHealthyInstance",
            // A discovered service whose name resolves to nothing has no instance series:
            // its refusals say it.
            format!("max by (service) (gateway_upstream_instance_healthy{{{job}}}) == 0 or sum by (service) (rate(gateway_upstream_rejected_total{{{job},reason=\"no_healthy_instance\"}}[5m])) > 0"),
            "1m",
            "critical",
        )
        .says(
            "A service has no instance that takes requests",
            format!("Every instance of {{{{ $labels.service }}}} behind {name} fails its health checks or is ejected: its routes answer 503."),
        ),
    );
    if features.breaker {
        rules.push(
            Rule::new(
                "GatewayCircuitBreakerOpen",
                format!("max by (service) (gateway_circuit_breaker_state{{{job}}}) == 1"),
                "1m",
                "warning",
            )
            .says(
                "A circuit breaker is open",
                format!("A circuit breaker of {{{{ $labels.service }}}} behind {name} is open: requests to it are refused with 503."),
            ),
        );
    }
    if features.jwks {
        rules.push(
            Rule::new(
                "GatewayJwksRefreshFailing",
                format!(
                    "sum by (scheme) (increase(gateway_jwks_refresh_total{{{job},outcome=\"failure\"}}[5m])) > 0 unless sum by (scheme) (increase(gateway_jwks_refresh_total{{{job},outcome=\"success\"}}[5m])) > 0"
                ),
                "10m",
                "critical",
            )
            .says(
                "The JWKS of a scheme cannot be fetched",
                format!("{name} has failed to fetch the JWKS of {{{{ $labels.scheme }}}} for 10 minutes: new signing keys are not picked up, and a gateway that starts cannot verify tokens."),
            ),
        );
    }
    if features.redis {
        rules.push(
            Rule::new(
                "GatewayRateLimitStoreFailing",
                format!(
                    "sum by (reason) (rate(gateway_rate_limit_store_errors_total{{{job}}}[5m])) > 0"
                ),
                "5m",
                "critical",
            )
            .says(
                "The shared rate-limit store fails",
                format!("Calls from {name} to its Redis rate-limit store fail ({{{{ $labels.reason }}}}): limits are decided per replica, or refused with 503, by each policy's on_store_failure."),
            ),
        );
    }
    Groups {
        groups: vec![Group {
            name: format!("{name}.rules"),
            rules,
        }],
    }
}

/// A float as PromQL writes it: no trailing `.0` noise, never an exponent for these sizes.
fn format_float(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// `deploy/prometheus-rules.yaml`: the alerting rules as a plain Prometheus rules file.
pub fn rules_file(gateway: &Gateway, header: &str) -> Result<String, String> {
    let yaml = serde_yaml::to_string(&rules(gateway)).map_err(|e| e.to_string())?;
    Ok(format!(
        "# {header}\n# Prometheus alerting rules of {name}, for `rule_files:` in prometheus.yml. They select\n# the series of the scrape job `{name}` (docs/operations.md); with the Prometheus Operator,\n# apply deploy/monitoring.yaml instead.\n{yaml}",
        name = gateway.name
    ))
}

/// `deploy/monitoring.yaml`: for the Prometheus Operator, a Service for the admin port, a
/// `ServiceMonitor` scraping it (job label: the gateway's name) and the `PrometheusRule`.
pub fn monitoring(gateway: &Gateway, header: &str, admin_port: &str) -> Result<String, String> {
    let name = &gateway.name;
    let labels = json!({ "app.kubernetes.io/name": name });
    // The admin port gets a Service of its own, apart from deploy/kubernetes.yaml's public
    // one, so that only the scraper is pointed at it.
    let metrics_labels =
        json!({ "app.kubernetes.io/name": name, "app.kubernetes.io/component": "metrics" });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": format!("{name}-metrics"), "labels": metrics_labels },
        "spec": {
            "selector": labels,
            "ports": [{ "name": "admin", "port": admin_port.parse::<u16>().unwrap_or(9090), "targetPort": "admin" }],
        },
    });
    let monitor = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": { "name": name, "labels": labels },
        "spec": {
            // The job label is the Service's `app.kubernetes.io/name`: the gateway's name,
            // which the rules and the dashboard select on.
            "jobLabel": "app.kubernetes.io/name",
            "selector": { "matchLabels": metrics_labels },
            "endpoints": [{ "port": "admin", "path": "/metrics", "interval": "30s" }],
        },
    });
    let rule = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": { "name": name, "labels": labels },
        "spec": serde_json::to_value(rules(gateway)).map_err(|e| e.to_string())?,
    });
    let mut out = format!(
        "# {header}\n# For clusters with the Prometheus Operator: kubectl apply -f deploy/monitoring.yaml\n# (after deploy/kubernetes.yaml). The Prometheus resource must select these by its\n# serviceMonitorSelector and ruleSelector (e.g. on app.kubernetes.io/name).\n"
    );
    for (index, document) in [service, monitor, rule].iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml::to_string(document).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Panels are laid out two to a row of the grid, 24 units wide.
struct Layout {
    panels: Vec<Value>,
    next_id: u32,
    y: u32,
    x: u32,
}

impl Layout {
    fn row(&mut self, title: &str) {
        if self.x > 0 {
            self.y += 8;
            self.x = 0;
        }
        self.panels.push(json!({
            "type": "row",
            "id": self.next_id,
            "title": title,
            "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": self.y },
            "panels": [],
        }));
        self.next_id += 1;
        self.y += 1;
    }

    /// A time series panel: its queries (expression, legend), unit and description.
    fn timeseries(
        &mut self,
        title: &str,
        description: &str,
        unit: &str,
        queries: &[(String, &str)],
    ) {
        self.panel(
            "timeseries",
            title,
            description,
            unit,
            queries,
            json!({
                "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
                "tooltip": { "mode": "multi", "sort": "desc" },
            }),
        );
    }

    fn stat(&mut self, title: &str, description: &str, unit: &str, queries: &[(String, &str)]) {
        self.panel(
            "stat",
            title,
            description,
            unit,
            queries,
            json!({
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
                "colorMode": "value",
                "graphMode": "area",
            }),
        );
    }

    fn panel(
        &mut self,
        kind: &str,
        title: &str,
        description: &str,
        unit: &str,
        queries: &[(String, &str)],
        options: Value,
    ) {
        let targets: Vec<Value> = queries
            .iter()
            .zip('A'..='Z')
            .map(|((expr, legend), ref_id)| {
                json!({
                    "datasource": { "type": "prometheus", "uid": "${datasource}" },
                    "expr": expr,
                    "legendFormat": legend,
                    "range": true,
                    "refId": ref_id.to_string(),
                })
            })
            .collect();
        self.panels.push(json!({
            "type": kind,
            "id": self.next_id,
            "title": title,
            "description": description,
            "datasource": { "type": "prometheus", "uid": "${datasource}" },
            "gridPos": { "h": 8, "w": 12, "x": self.x, "y": self.y },
            "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
            "options": options,
            "targets": targets,
        }));
        self.next_id += 1;
        if self.x == 0 {
            self.x = 12;
        } else {
            self.x = 0;
            self.y += 8;
        }
    }
}

/// A custom template variable over fixed values, multi-select with All (`.*`).
fn custom_variable(name: &str, label: &str, values: &[String]) -> Value {
    // Grafana splits a custom variable's query at commas; a comma in a value is `\,`.
    let query = values
        .iter()
        .map(|v| v.replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",");
    let options: Vec<Value> = values
        .iter()
        .map(|v| json!({ "selected": false, "text": v, "value": v }))
        .collect();
    json!({
        "type": "custom",
        "name": name,
        "label": label,
        "query": query,
        "options": options,
        "current": { "selected": true, "text": ["All"], "value": ["$__all"] },
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "hide": 0,
    })
}

/// A query variable: the values of `label` on `selector`'s series.
fn query_variable(name: &str, label: &str, query: String, multi: bool) -> Value {
    json!({
        "type": "query",
        "name": name,
        "label": label,
        "datasource": { "type": "prometheus", "uid": "${datasource}" },
        "query": { "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery" },
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": if multi { json!(".*") } else { Value::Null },
        "current": {},
        "hide": 0,
    })
}

/// `deploy/grafana-dashboard.json`.
pub fn dashboard(gateway: &Gateway, header: &str) -> Result<String, String> {
    let features = Features::of(gateway);
    let name = &gateway.name;
    let route = r#"job=~"$job",route=~"$route",method=~"$method""#;
    let service = r#"job=~"$job",service=~"$service""#;
    let instance = r#"job=~"$job",service=~"$service",instance=~"$instance""#;
    let job = r#"job=~"$job""#;
    let mut layout = Layout {
        panels: Vec::new(),
        next_id: 1,
        y: 0,
        x: 0,
    };

    layout.row("Traffic");
    layout.timeseries(
        "Requests by route",
        "Requests answered per second, by route template and method.",
        "reqps",
        &[(
            format!(
                "sum by (route, method) (rate(gateway_requests_total{{{route}}}[$__rate_interval]))"
            ),
            "{{method}} {{route}}",
        )],
    );
    layout.timeseries(
        "Responses by status class",
        "Answers per second by status class, every route (and unmatched requests) together.",
        "reqps",
        &[(
            format!(
                "sum by (status_class) (rate(gateway_requests_total{{{job}}}[$__rate_interval]))"
            ),
            "{{status_class}}",
        )],
    );
    layout.timeseries(
        "5xx ratio by route",
        &format!("Share of a route's answers that are 5xx; the GatewayHighErrorRatio alert fires at {}% over all routes.", ERROR_RATIO * 100.0),
        "percentunit",
        &[(
            format!("sum by (route, method) (rate(gateway_requests_total{{{route},status_class=\"5xx\"}}[$__rate_interval])) / sum by (route, method) (rate(gateway_requests_total{{{route}}}[$__rate_interval]))"),
            "{{method}} {{route}}",
        )],
    );
    layout.stat(
        "In flight",
        "Requests received whose response has not ended, every replica together.",
        "short",
        &[(
            format!("sum(gateway_in_flight_requests{{{job}}})"),
            "in flight",
        )],
    );

    layout.row("Latency");
    for (family, title, what) in [
        (
            "gateway_request_duration_seconds",
            "Request duration",
            "from the request head to the end of the response",
        ),
        (
            "gateway_added_latency_seconds",
            "Gateway-added latency",
            "of requests sent upstream, the time not spent waiting on the upstream",
        ),
    ] {
        layout.timeseries(
            &format!("{title} p50 and p99 by route"),
            &format!("Per route, the median and 99th percentile {what}."),
            "s",
            &[
                (
                    format!("histogram_quantile(0.5, sum by (le, route, method) (rate({family}_bucket{{{route}}}[$__rate_interval])))"),
                    "p50 {{method}} {{route}}",
                ),
                (
                    format!("histogram_quantile(0.99, sum by (le, route, method) (rate({family}_bucket{{{route}}}[$__rate_interval])))"),
                    "p99 {{method}} {{route}}",
                ),
            ],
        );
    }

    layout.row("Upstreams");
    layout.timeseries(
        "Upstream attempts by outcome",
        "Requests sent to upstream instances per second, by service and outcome (ok, connect_error, timeout, error).",
        "reqps",
        &[(
            format!("sum by (service, outcome) (rate(gateway_upstream_attempts_total{{{instance}}}[$__rate_interval]))"),
            "{{service}} {{outcome}}",
        )],
    );
    layout.timeseries(
        "Retries and rejections",
        "Tries after the first, and 503s answered without reaching an instance (circuit_open, concurrency_limit, no_healthy_instance), per second by service.",
        "reqps",
        &[
            (
                format!("sum by (service) (rate(gateway_upstream_retries_total{{{service}}}[$__rate_interval]))"),
                "{{service}} retries",
            ),
            (
                format!("sum by (service, reason) (rate(gateway_upstream_rejected_total{{{service}}}[$__rate_interval]))"),
                "{{service}} rejected: {{reason}}",
            ),
        ],
    );
    layout.timeseries(
        "Healthy instances",
        "Instances that take requests (pass their health checks, not ejected), by service; the lowest over the replicas.",
        "short",
        &[(
            format!("sum by (service) (min by (service, instance) (gateway_upstream_instance_healthy{{{instance}}}))"),
            "{{service}}",
        )],
    );
    layout.timeseries(
        "Outlier ejections",
        "Times outlier detection ejected an instance, per second.",
        "short",
        &[(
            format!("sum by (service, instance) (rate(gateway_upstream_ejections_total{{{instance}}}[$__rate_interval]))"),
            "{{service}} {{instance}}",
        )],
    );
    if features.breaker {
        layout.timeseries(
            "Circuit breakers",
            "0 closed, 1 open, 2 half-open: the service's breaker, and each instance's; the highest over the replicas.",
            "short",
            &[(
                format!("max by (service, instance) (gateway_circuit_breaker_state{{{service}}})"),
                "{{service}} {{instance}}",
            )],
        );
    }
    if features.discovery {
        layout.timeseries(
            "DNS resolutions",
            "Resolutions of discovered services per second, by outcome (ok, empty, error).",
            "short",
            &[(
                format!("sum by (service, outcome) (rate(gateway_discovery_resolutions_total{{{service}}}[$__rate_interval]))"),
                "{{service}} {{outcome}}",
            )],
        );
    }

    layout.row("Edge");
    let mut refusals = vec![(
        format!(
            "sum by (route, method, reason) (rate(gateway_auth_failures_total{{{route}}}[$__rate_interval]))"
        ),
        "auth {{reason}} {{method}} {{route}}",
    )];
    if features.failure_limit {
        refusals.push((
            format!("sum(rate(gateway_auth_failures_limited_total{{{job}}}[$__rate_interval]))"),
            "failed credentials limited",
        ));
    }
    layout.timeseries(
        "Auth failures",
        "401 and 403 by route and reason (missing, malformed, invalid, insufficient_scope), and 429s of addresses over the failed-credentials limit, per second.",
        "reqps",
        &refusals,
    );
    if features.policies {
        layout.timeseries(
            "Rate limited",
            "429s per second by the rate-limit policy that refused.",
            "reqps",
            &[(
                format!(
                    "sum by (policy) (rate(gateway_rate_limited_total{{{job}}}[$__rate_interval]))"
                ),
                "{{policy}}",
            )],
        );
    }
    layout.timeseries(
        "Invalid requests",
        "400s per second by route and reason (parameters, body).",
        "reqps",
        &[(
            format!("sum by (route, method, reason) (rate(gateway_validation_failures_total{{{route}}}[$__rate_interval]))"),
            "{{reason}} {{method}} {{route}}",
        )],
    );
    if features.jwks {
        layout.timeseries(
            "JWKS refreshes",
            "JWKS fetches per second by scheme and outcome (success, failure).",
            "short",
            &[(
                format!("sum by (scheme, outcome) (rate(gateway_jwks_refresh_total{{{job}}}[$__rate_interval]))"),
                "{{scheme}} {{outcome}}",
            )],
        );
    }
    if features.redis {
        layout.timeseries(
            "Rate-limit store",
            "Failed calls to the shared Redis store by reason, and policy checks decided without it, per second.",
            "short",
            &[
                (
                    format!("sum by (reason) (rate(gateway_rate_limit_store_errors_total{{{job}}}[$__rate_interval]))"),
                    "store {{reason}}",
                ),
                (
                    format!("sum by (policy, on_store_failure) (rate(gateway_rate_limit_store_fallbacks_total{{{job}}}[$__rate_interval]))"),
                    "{{policy}} fell back: {{on_store_failure}}",
                ),
            ],
        );
    }
    if features.responses {
        layout.timeseries(
            "Upstream responses that break the spec",
            "Responses per second that broke their operation's spec, and JSON responses not validated (no length, or over 1 MiB).",
            "short",
            &[
                (
                    format!("sum by (service, operation) (rate(gateway_response_validation_failures_total{{{service}}}[$__rate_interval]))"),
                    "{{service}} {{operation}} invalid",
                ),
                (
                    format!("sum by (service, operation) (rate(gateway_response_validation_skipped_total{{{service}}}[$__rate_interval]))"),
                    "{{service}} {{operation}} skipped",
                ),
            ],
        );
    }

    let routes: Vec<String> = {
        let mut routes: Vec<String> = Vec::new();
        for route in &gateway.routes {
            let path = route.public_path.to_string();
            if !routes.contains(&path) {
                routes.push(path);
            }
        }
        routes
    };
    let methods: Vec<String> = {
        let mut methods: Vec<String> = gateway
            .routes
            .iter()
            .map(|r| r.method.to_string())
            .collect();
        methods.sort();
        methods.dedup();
        methods
    };
    let services: Vec<String> = gateway.services.iter().map(|s| s.key.clone()).collect();
    let uid: String = format!("gateway-{name}").chars().take(40).collect();
    let dashboard = json!({
        "uid": uid,
        "title": format!("Gateway {name}"),
        "description": format!("Traffic, latency, upstreams and edge refusals of the gateway {name}, as its /metrics exposes them. {header}."),
        "tags": ["gateway", name],
        "editable": true,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": GRAFANA_SCHEMA_VERSION,
        "time": { "from": "now-6h", "to": "now" },
        "timezone": "browser",
        "annotations": { "list": [] },
        "links": [],
        "templating": { "list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            },
            query_variable("job", "Job", format!("label_values(gateway_info{{name={}}}, job)", quoted(name)), false),
            custom_variable("route", "Route", &routes),
            custom_variable("method", "Method", &methods),
            custom_variable("service", "Service", &services),
            query_variable("instance", "Instance", r#"label_values(gateway_upstream_instance_healthy{job=~"$job",service=~"$service"}, instance)"#.to_owned(), true),
        ] },
        "panels": layout.panels,
    });
    let mut text = serde_json::to_string_pretty(&dashboard).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_promql_and_re2_read() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            regex_literal("/api/users/{id}.json"),
            r"/api/users/\{id\}\.json"
        );
        assert_eq!(format_float(0.9), "0.9");
        assert_eq!(format_float(9.0), "9");
        assert_eq!(format_float(2.7), "2.7");
    }
}
