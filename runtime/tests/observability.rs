//! Metrics, access log and trace context, end to end: a known sequence of requests through
//! the in-process gateway, then `/metrics` read with a strict Prometheus text parser, the
//! access log read from a capturing subscriber, and `traceparent` as the upstream saw it.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::*;

// ---- A strict parser of the Prometheus text format (0.0.4) ------------------------------

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    /// Family name -> type.
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses `text`, panicking on anything the format does not allow: a sample before its
    /// family's `TYPE`, a family declared twice, a malformed label or value, a duplicate
    /// series, a histogram whose buckets are not cumulative or disagree with its count.
    fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition::default();
        let mut helped = BTreeMap::new();
        assert!(text.ends_with('\n'), "the exposition ends with a newline");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert_metric_name(name);
                assert!(!help.is_empty());
                assert!(
                    helped.insert(name.to_owned(), ()).is_none(),
                    "HELP twice: {name}"
                );
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name type");
                assert_metric_name(name);
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(
                    !exposition
                        .samples
                        .iter()
                        .any(|s| family(s, &exposition.types) == name),
                    "TYPE after samples: {line}"
                );
                let previous = exposition.types.insert(name.to_owned(), kind.to_owned());
                assert!(previous.is_none(), "TYPE twice: {line}");
            } else if line.starts_with('#') {
                panic!("unexpected comment: {line}");
            } else {
                let sample = parse_sample(line);
                let family = family(&sample, &exposition.types);
                assert!(
                    exposition.types.contains_key(&family),
                    "sample without TYPE: {line}"
                );
                assert!(
                    !exposition
                        .samples
                        .iter()
                        .any(|s| s.name == sample.name && s.labels == sample.labels),
                    "duplicate series: {line}"
                );
                exposition.samples.push(sample);
            }
        }
        exposition.check_histograms();
        exposition
    }

    fn check_histograms(&self) {
        for (name, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            for count in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{name}_count"))
            {
                let mut buckets: Vec<(f64, f64)> = self
                    .samples
                    .iter()
                    .filter(|s| s.name == format!("{name}_bucket"))
                    .filter(|s| without(&s.labels, "le") == count.labels)
                    .map(|s| (parse_value(&s.labels["le"]), s.value))
                    .collect();
                assert!(
                    !buckets.is_empty(),
                    "{name} {:?} has no buckets",
                    count.labels
                );
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{name}: {buckets:?}"
                );
                let last = buckets.last().unwrap();
                assert_eq!(last.0, f64::INFINITY, "{name} has a +Inf bucket");
                assert_eq!(last.1, count.value, "{name}: +Inf bucket = count");
                assert!(
                    self.samples
                        .iter()
                        .any(|s| s.name == format!("{name}_sum") && s.labels == count.labels),
                    "{name} {:?} has a sum",
                    count.labels
                );
            }
        }
    }

    /// The value of the series with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .map(|s| s.value)
    }

    fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn family(sample: &Sample, types: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.name.strip_suffix(suffix)
            && types.get(base).map(String::as_str) == Some("histogram")
        {
            return base.to_owned();
        }
    }
    sample.name.clone()
}

fn without(labels: &BTreeMap<String, String>, name: &str) -> BTreeMap<String, String> {
    let mut labels = labels.clone();
    labels.remove(name);
    labels
}

fn assert_metric_name(name: &str) {
    let mut chars = name.chars();
    let first = chars.next().expect("a name");
    assert!(
        first.is_ascii_alphabetic() || first == '_' || first == ':',
        "{name}"
    );
    assert!(
        chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "{name}"
    );
}

fn parse_value(raw: &str) -> f64 {
    match raw {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => raw
            .parse()
            .unwrap_or_else(|_| panic!("not a number: `{raw}`")),
    }
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert_metric_name(name);
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end;
        loop {
            // A label name, `=`, a quoted value, then `,` or `}`.
            let start = chars.peek().map(|(i, _)| *i).expect("label");
            if inner[start..].starts_with('}') {
                end = start + 1;
                break;
            }
            let eq = inner[start..].find('=').expect("label=") + start;
            let label = &inner[start..eq];
            assert_metric_name(label);
            assert!(!label.contains(':'), "{label}");
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("closing quote") {
                    (_, '"') => break,
                    (_, '\\') => match chars.next().expect("escape").1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other} in {line}"),
                    },
                    (_, '\n') => panic!("raw newline in {line}"),
                    (_, c) => value.push(c),
                }
            }
            assert!(
                labels.insert(label.to_owned(), value).is_none(),
                "label twice: {line}"
            );
            match chars.next().expect("`,` or `}`") {
                (_, ',') => {}
                (i, '}') => {
                    end = i + 1;
                    break;
                }
                (_, c) => panic!("unexpected `{c}` in {line}"),
            }
        }
        rest = &inner[end..];
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("one space before the value: {line}"));
    assert!(!value.contains(' '), "timestamps are not expected: {line}");
    Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value),
    }
}

/// Reads `/metrics` once nothing is in flight: a request is counted when its response body
/// is done, which can be a moment after the client has read it.
async fn metrics(gw: &Running) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = get(&gw.admin_url("/metrics")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let exposition = Exposition::parse(std::str::from_utf8(&answer.body).unwrap());
        let in_flight = exposition.value("gateway_in_flight_requests", &[]);
        if in_flight == Some(0.0) || Instant::now() > deadline {
            return exposition;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn the_parser_is_strict() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\\\\\\n\",y=\"\"} 3\n";
    let parsed = Exposition::parse(ok);
    assert_eq!(
        parsed.value("a_total", &[("x", "1\"\\\n"), ("y", "")]),
        Some(3.0)
    );
    for bad in [
        "a_total 1\n",                          // no TYPE
        "# TYPE a counter\na{x=1} 1\n",         // unquoted
        "# TYPE a counter\na{x=\"1\"}  1\n",    // two spaces
        "# TYPE a counter\na 1\na 2\n",         // duplicate
        "# TYPE a counter\n# TYPE a counter\n", // declared twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE a counter\na{x=\"\\t\"} 1\n", // bad escape
    ] {
        let result = std::panic::catch_unwind(|| Exposition::parse(bad));
        assert!(result.is_err(), "accepted: {bad:?}");
    }
}

// ---- Metrics ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_sequence_exactly() {
    let upstream = mock("a").await;
    let down = closed_port_url();
    let gw = start(
        &GATEWAY,
        &[
            ("users", vec![upstream.url()]),
            ("slow", vec![upstream.url()]),
            ("down", vec![down.clone()]),
        ],
        Duration::from_secs(5),
    )
    .await;

    // Proxied: five requests reach `forward` with an instance.
    assert_eq!(get(&gw.url("/api/users/5")).await.status, 200);
    assert_eq!(get(&gw.url("/api/users/6")).await.status, 200);
    assert_eq!(get(&gw.url("/api/files/latest")).await.status, 200);
    get(&gw.url("/api/down")).await.problem(502);
    get(&gw.url("/api/slow-timeout")).await.problem(504);
    // Refused by the gateway itself.
    get(&gw.url("/api/users/x")).await.problem(400);
    get(&gw.url("/api/users/7/orders?limit=many"))
        .await
        .problem(400);
    get(&gw.url("/api/secret")).await.problem(401);
    get(&gw.url("/api/nope")).await.problem(404);
    request("POST", &gw.url("/api/users/7"), &[], empty())
        .await
        .problem(405);
    assert_eq!(get(&gw.url("/openapi.json")).await.status, 200);

    let m = metrics(&gw).await;
    assert_eq!(m.value("gateway_up", &[]), Some(1.0));
    assert_eq!(m.value("gateway_in_flight_requests", &[]), Some(0.0));
    assert_eq!(m.types["gateway_in_flight_requests"], "gauge");
    assert_eq!(m.types["gateway_requests_total"], "counter");
    assert_eq!(m.types["gateway_request_duration_seconds"], "histogram");
    assert_eq!(m.types["gateway_added_latency_seconds"], "histogram");
    assert_eq!(m.types["gateway_upstream_attempts_total"], "counter");
    assert_eq!(m.types["gateway_validation_failures_total"], "counter");
    assert_eq!(m.types["gateway_auth_failures_total"], "counter");

    // Requests, by route template, method and status class: every series, exactly.
    let requests: BTreeMap<String, f64> = m
        .series("gateway_requests_total")
        .into_iter()
        .map(|s| {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (labels.join(","), s.value)
        })
        .collect();
    let expected: BTreeMap<String, f64> = [
        ("method=GET,route=/api/users/{id},status_class=2xx", 2.0),
        ("method=GET,route=/api/users/{id},status_class=4xx", 1.0),
        (
            "method=GET,route=/api/users/{id}/orders,status_class=4xx",
            1.0,
        ),
        ("method=GET,route=/api/files/latest,status_class=2xx", 1.0),
        ("method=GET,route=/api/down,status_class=5xx", 1.0),
        ("method=GET,route=/api/slow-timeout,status_class=5xx", 1.0),
        ("method=GET,route=/api/secret,status_class=4xx", 1.0),
        ("method=GET,route=/openapi.json,status_class=2xx", 1.0),
        // Unmatched (404 and 405): their own series, without route or method.
        ("status_class=4xx", 2.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(requests, expected);

    // The duration histogram counts every request, per route; unmatched without a route.
    let duration_count =
        |labels: &[(&str, &str)]| m.value("gateway_request_duration_seconds_count", labels);
    let users = [("route", "/api/users/{id}"), ("method", "GET")];
    let slow = [("route", "/api/slow-timeout"), ("method", "GET")];
    assert_eq!(duration_count(&users), Some(3.0));
    assert_eq!(duration_count(&slow), Some(1.0));
    assert_eq!(duration_count(&[]), Some(2.0));
    let total: f64 = m
        .series("gateway_request_duration_seconds_count")
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(total, 11.0);
    for sample in m.series("gateway_request_duration_seconds_bucket") {
        assert!(
            sample.labels.contains_key("route") || sample.labels.len() == 1,
            "an unmatched series has only `le`: {sample:?}"
        );
    }

    // The gateway-added latency: one observation per proxied request, none for the rest.
    let added_count =
        |labels: &[(&str, &str)]| m.value("gateway_added_latency_seconds_count", labels);
    assert_eq!(added_count(&users), Some(2.0));
    assert_eq!(added_count(&slow), Some(1.0));
    assert_eq!(added_count(&[]), None);
    let proxied: f64 = m
        .series("gateway_added_latency_seconds_count")
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(proxied, 5.0);
    // The 300 ms spent waiting on the slow upstream is not the gateway's.
    let slow_total = m
        .value("gateway_request_duration_seconds_sum", &slow)
        .unwrap();
    let slow_added = m.value("gateway_added_latency_seconds_sum", &slow).unwrap();
    assert!(slow_total >= 0.28, "{slow_total}");
    assert!(slow_added < 0.1, "{slow_added}");
    assert!(slow_added <= slow_total);

    // Upstream attempts, by service, instance and outcome.
    let attempts: BTreeMap<String, f64> = m
        .series("gateway_upstream_attempts_total")
        .into_iter()
        .map(|s| {
            let key = format!(
                "{} {} {}",
                s.labels["service"], s.labels["instance"], s.labels["outcome"]
            );
            (key, s.value)
        })
        .collect();
    let instance = upstream.addr.to_string();
    let down_instance = down.trim_start_matches("http://");
    let expected: BTreeMap<String, f64> = [
        (format!("users {instance} ok"), 3.0),
        (format!("slow {instance} timeout"), 1.0),
        (format!("down {down_instance} connect_error"), 1.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(attempts, expected);

    // Validation (400 from handlers) and auth (401) failures, by route.
    let failures = |name: &str| -> BTreeMap<String, f64> {
        m.series(name)
            .into_iter()
            .map(|s| {
                (
                    format!("{} {}", s.labels["method"], s.labels["route"]),
                    s.value,
                )
            })
            .collect()
    };
    assert_eq!(
        failures("gateway_validation_failures_total"),
        BTreeMap::from([
            ("GET /api/users/{id}".to_owned(), 1.0),
            ("GET /api/users/{id}/orders".to_owned(), 1.0),
        ])
    );
    assert_eq!(
        failures("gateway_auth_failures_total"),
        BTreeMap::from([("GET /api/secret".to_owned(), 1.0)])
    );

    // Labels are templates: no raw path anywhere.
    for sample in &m.samples {
        for value in sample.labels.values() {
            assert!(
                !["/api/users/5", "/api/users/x", "/api/nope", "/api/users/7"]
                    .contains(&value.as_str()),
                "{sample:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_are_a_gauge() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let url = gw.url("/api/slow");
    let pending = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = get(&gw.admin_url("/metrics")).await;
    let m = Exposition::parse(std::str::from_utf8(&answer.body).unwrap());
    assert_eq!(m.value("gateway_in_flight_requests", &[]), Some(1.0));
    assert_eq!(pending.await.unwrap().status, 200);
    let m = metrics(&gw).await;
    assert_eq!(m.value("gateway_in_flight_requests", &[]), Some(0.0));
    let slow = [("route", "/api/slow"), ("method", "GET")];
    assert_eq!(
        m.value("gateway_added_latency_seconds_count", &slow),
        Some(1.0)
    );
    assert!(
        m.value("gateway_request_duration_seconds_sum", &slow)
            .unwrap()
            >= 0.55
    );
    assert!(m.value("gateway_added_latency_seconds_sum", &slow).unwrap() < 0.1);
}

// ---- Trace context ----------------------------------------------------------------------

fn assert_traceparent(value: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert!(
        lower_hex(parts[1], 32) && parts[1] != "0".repeat(32),
        "{value}"
    );
    assert!(
        lower_hex(parts[2], 16) && parts[2] != "0".repeat(16),
        "{value}"
    );
    assert!(lower_hex(parts[3], 2), "{value}");
    (parts[1], parts[2], parts[3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_propagated_with_a_new_parent_or_created() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let answer = request(
        "GET",
        &gw.url("/api/users/me"),
        &[
            ("traceparent", incoming),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ],
        empty(),
    )
    .await;
    let sent = answer.echoed_header("traceparent").unwrap();
    let (trace, parent, flags) = assert_traceparent(&sent);
    assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(parent, "00f067aa0ba902b7");
    assert_eq!(flags, "01");
    assert_eq!(
        answer.echoed_header("tracestate").unwrap(),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    );

    // Absent: created, sampled.
    let answer = get(&gw.url("/api/users/me")).await;
    let sent = answer.echoed_header("traceparent").unwrap();
    let (created, _, flags) = assert_traceparent(&sent);
    assert_eq!(flags, "01");
    assert_ne!(created, trace);
    assert_eq!(answer.echoed_header("tracestate"), None);

    // Invalid (uppercase hex): replaced, and its tracestate dropped.
    let answer = request(
        "GET",
        &gw.url("/api/users/me"),
        &[
            (
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
        empty(),
    )
    .await;
    let sent = answer.echoed_header("traceparent").unwrap();
    let (replaced, _, _) = assert_traceparent(&sent);
    assert_ne!(replaced, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(answer.echoed_header("tracestate"), None);
}

// ---- The access log ---------------------------------------------------------------------

/// Every line the process logged under `openapi_gateway_runtime::access`, as the gateway's own
/// subscriber formats them (JSON, flattened). Installed once for this test binary.
fn access_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Buffer(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "warn,openapi_gateway_runtime::access=info",
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        buffer
    })
    .clone()
}

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The access log line of the request with this id, waiting a moment for it.
async fn access_line(log: &Mutex<Vec<u8>>, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
        let found = text
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|line| line["request_id"] == request_id);
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no access log line for {request_id}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_an_access_log_line() {
    let log = access_log();
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let answer = request(
        "GET",
        &gw.url("/api/users/5?secret=not-logged"),
        &[("x-request-id", "access-1")],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let line = access_line(&log, "access-1").await;
    assert_eq!(line["target"], "openapi_gateway_runtime::access");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/api/users/{id}");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().unwrap() > 0.0, "{line}");
    assert_eq!(line["upstream"], upstream.addr.to_string());
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert!(!line.to_string().contains("not-logged"), "{line}");

    // Unmatched: no route, no upstream.
    request(
        "DELETE",
        &gw.url("/api/nope"),
        &[("x-request-id", "access-2")],
        empty(),
    )
    .await
    .problem(404);
    let line = access_line(&log, "access-2").await;
    assert_eq!(line["method"], "DELETE");
    assert_eq!(line["status"], 404);
    assert!(line.get("route").is_none(), "{line}");
    assert!(line.get("upstream").is_none(), "{line}");

    // Refused before the upstream: the route, no upstream.
    get(&gw.url("/api/secret")).await.problem(401);
    let answer = request(
        "GET",
        &gw.url("/api/secret"),
        &[("x-request-id", "access-3")],
        empty(),
    )
    .await;
    answer.problem(401);
    let line = access_line(&log, "access-3").await;
    assert_eq!(line["route"], "/api/secret");
    assert_eq!(line["status"], 401);
    assert!(line.get("upstream").is_none(), "{line}");
}
