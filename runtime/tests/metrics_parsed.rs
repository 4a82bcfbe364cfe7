//! `/metrics` read by a Prometheus text-format parser nobody here wrote
//! (`prom_text_format_parser`, a full grammar with escapes; `prometheus-parse` was tried
//! first and silently drops every sample whose label value has a `}`, such as a route
//! template), after a known sequence of requests: the series and values expected, and no
//! raw path or user id in any label.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prom_text_format_parser::{Scrape, Type, ValueType};
use support::*;

/// A user id that must never become a label value.
const USER: &str = "user-8675309";
/// A path id that must never become a label value either.
const ID: &str = "4242424242";

fn token(scope: &str) -> String {
    let claims = serde_json::json!({
        "sub": USER,
        "iss": "test-issuer",
        "exp": jsonwebtoken::get_current_timestamp() + 600,
        "scope": scope,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(HS_SECRET.trim().as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// The exposition once nothing is in flight (a request is counted when its response body
/// has ended, a moment after the client read it), parsed, with its text.
async fn scrape(gw: &Running) -> (Scrape, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = get(&gw.admin_url("/metrics")).await.body;
        let text = String::from_utf8(body.to_vec()).unwrap();
        let scrape = Scrape::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let in_flight = series(&scrape, "gateway_in_flight_requests", ValueType::Sample);
        if in_flight.get("") == Some(&0.0) || Instant::now() > deadline {
            return (scrape, text);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kind(scrape: &Scrape, family: &str) -> Type {
    scrape
        .metrics
        .iter()
        .find(|m| m.name == family)
        .unwrap_or_else(|| panic!("no family {family}"))
        .kind
}

/// The samples of `family` of one value type (a histogram's buckets, sums or counts) as
/// `labels -> value`; labels `k=v` sorted and joined by `,`.
fn series(scrape: &Scrape, family: &str, value_type: ValueType) -> BTreeMap<String, f64> {
    scrape
        .metrics
        .iter()
        .filter(|m| m.name == family)
        .flat_map(|m| &m.samples)
        .filter(|s| s.value.value_type == value_type)
        .map(|s| {
            let labels: BTreeMap<&str, &str> = s
                .labels
                .iter()
                .map(|l| (l.key.as_str(), l.value.as_str()))
                .collect();
            let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (key.join(","), s.value.value.as_f64())
        })
        .collect()
}

/// A histogram's buckets by their other labels (as `series` keys them): `(le, count)`,
/// sorted by `le`.
fn buckets(scrape: &Scrape, family: &str) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for sample in scrape
        .metrics
        .iter()
        .filter(|m| m.name == family)
        .flat_map(|m| &m.samples)
        .filter(|s| s.value.value_type == ValueType::Sample)
    {
        let mut le = None;
        let mut labels = BTreeMap::new();
        for label in sample.labels.iter() {
            if label.key == "le" {
                le = Some(label.value.parse::<f64>().unwrap());
            } else {
                labels.insert(label.key.as_str(), label.value.as_str());
            }
        }
        let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let le = le.unwrap_or_else(|| panic!("a bucket without `le`: {sample:?}"));
        out.entry(key.join(","))
            .or_default()
            .push((le, sample.value.value.as_f64()));
    }
    for buckets in out.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn expected(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_gives_the_expected_series() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    // 3 x 2xx and 1 x 4xx on GET /api/users/{id}.
    for id in [ID, "1", "2"] {
        assert_eq!(get(&gw.url(&format!("/api/users/{id}"))).await.status, 200);
    }
    get(&gw.url("/api/users/not-a-number")).await.problem(400);
    // A bad query parameter.
    get(&gw.url(&format!("/api/users/{ID}/orders?limit=lots")))
        .await
        .problem(400);
    // Auth: allowed, missing, invalid, malformed (two headers), insufficient scope.
    let allowed = format!("Bearer {}", token("secret:read"));
    let answer = request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", &allowed)],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.echoed_header("x-user-id").as_deref(), Some(USER));
    get(&gw.url("/api/secret")).await.problem(401);
    request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", "Bearer not.a.token")],
        empty(),
    )
    .await
    .problem(401);
    request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", &allowed), ("authorization", &allowed)],
        empty(),
    )
    .await
    .problem(401);
    let unscoped = format!("Bearer {}", token("other"));
    request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", &unscoped)],
        empty(),
    )
    .await
    .problem(403);
    // No route.
    get(&gw.url(&format!("/api/{USER}"))).await.problem(404);

    let (m, text) = scrape(&gw).await;

    let one = |family: &str| series(&m, family, ValueType::Sample);
    assert_eq!(one("gateway_up"), expected(&[("", 1.0)]));
    assert_eq!(one("gateway_in_flight_requests"), expected(&[("", 0.0)]));
    assert_eq!(kind(&m, "gateway_in_flight_requests"), Type::Gauge);
    assert_eq!(kind(&m, "gateway_requests_total"), Type::Counter);
    assert_eq!(
        kind(&m, "gateway_request_duration_seconds"),
        Type::Histogram
    );
    assert_eq!(kind(&m, "gateway_auth_failures_total"), Type::Counter);

    assert_eq!(
        one("gateway_requests_total"),
        expected(&[
            ("method=GET,route=/api/users/{id},status_class=2xx", 3.0),
            ("method=GET,route=/api/users/{id},status_class=4xx", 1.0),
            (
                "method=GET,route=/api/users/{id}/orders,status_class=4xx",
                1.0
            ),
            ("method=GET,route=/api/secret,status_class=2xx", 1.0),
            ("method=GET,route=/api/secret,status_class=4xx", 4.0),
            ("status_class=4xx", 1.0),
        ])
    );

    // The duration histogram: one per request, per route; its buckets are cumulative and
    // end (`+Inf`) at the count.
    let counts = series(&m, "gateway_request_duration_seconds", ValueType::Count);
    assert_eq!(
        counts,
        expected(&[
            ("method=GET,route=/api/users/{id}", 4.0),
            ("method=GET,route=/api/users/{id}/orders", 1.0),
            ("method=GET,route=/api/secret", 5.0),
            ("", 1.0),
        ])
    );
    let buckets = buckets(&m, "gateway_request_duration_seconds");
    assert_eq!(
        buckets.keys().collect::<Vec<_>>(),
        counts.keys().collect::<Vec<_>>()
    );
    for (labels, count) in &counts {
        let cumulative = &buckets[labels];
        assert_eq!(cumulative.len(), 15, "{labels}");
        assert!(cumulative.windows(2).all(|w| w[0].1 <= w[1].1), "{labels}");
        assert_eq!(
            cumulative.last(),
            Some(&(f64::INFINITY, *count)),
            "{labels}"
        );
    }
    // Sent upstream: 3 user lookups and the allowed secret.
    let added: f64 = series(&m, "gateway_added_latency_seconds", ValueType::Count)
        .values()
        .sum();
    assert_eq!(added, 4.0);

    assert_eq!(
        one("gateway_validation_failures_total"),
        expected(&[
            ("method=GET,reason=parameters,route=/api/users/{id}", 1.0),
            (
                "method=GET,reason=parameters,route=/api/users/{id}/orders",
                1.0
            ),
        ])
    );
    assert_eq!(
        one("gateway_auth_failures_total"),
        expected(&[
            ("method=GET,reason=missing,route=/api/secret", 1.0),
            ("method=GET,reason=invalid,route=/api/secret", 1.0),
            ("method=GET,reason=malformed,route=/api/secret", 1.0),
            (
                "method=GET,reason=insufficient_scope,route=/api/secret",
                1.0
            ),
        ])
    );
    assert_eq!(
        one("gateway_upstream_attempts_total"),
        expected(&[(
            &format!("instance={},outcome=ok,service=users", upstream.addr),
            4.0
        )])
    );

    // Bounded labels: no raw path, path id or user id anywhere in the exposition.
    for needle in [ID, USER, "not-a-number", "/api/nope"] {
        assert!(!text.contains(needle), "`{needle}` in\n{text}");
    }
    for metric in &m.metrics {
        for sample in &metric.samples {
            for label in sample.labels.iter().filter(|l| l.key == "route") {
                assert!(
                    label.value.contains('{') || label.value == "/api/secret",
                    "{label:?}"
                );
            }
        }
    }
}
