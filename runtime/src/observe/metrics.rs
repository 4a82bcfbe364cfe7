//! The public listener's counters and histograms, and their Prometheus text exposition.
//!
//! Hand-rolled on atomics rather than built on `prometheus-client`: every label set is
//! known when the gateway starts (route templates, status classes, configured instances),
//! so each series is a slot in a `Vec` indexed by route and recording a request is a few
//! relaxed adds, with no lock and no map lookup. (`prometheus-client`'s `Family` takes a
//! lock and hashes the labels per lookup, and its `Histogram` takes a lock per
//! observation.) The exposition is a few dozen lines of text formatting.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::base::problem::Problem;
use crate::base::prometheus::{Escaped, family};
use crate::check::responses::{self, Operation};
use crate::gateway::Gateway;
use crate::proxy::discovery::Resolutions;
use crate::proxy::upstream::Upstreams;

/// Status classes `1xx` to `5xx`.
const CLASSES: usize = 5;

type ClassCounters = [AtomicU64; CLASSES];

fn class_index(status: StatusCode) -> usize {
    (usize::from(status.as_u16() / 100)).clamp(1, CLASSES) - 1
}

/// Upper bounds of `gateway_request_duration_seconds`, in seconds: from half a millisecond
/// (a cached or local answer) to the longest sensible upstream timeout.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of `gateway_added_latency_seconds`: what the gateway adds is tens of
/// microseconds when all is well, so the buckets start lower and end at a second.
const ADDED_BUCKETS: [f64; 14] = [
    0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0,
];

/// Why a request was refused with 400, as `gateway_validation_failures_total` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Path, query or header parameters (a missing required body with them).
    Parameters,
    /// The JSON body against its schema, or a missing required body alone.
    Body,
}

impl Invalid {
    const ALL: [Invalid; 2] = [Invalid::Parameters, Invalid::Body];

    fn as_str(self) -> &'static str {
        match self {
            Invalid::Parameters => "parameters",
            Invalid::Body => "body",
        }
    }

    /// The reason of a 400 problem: `body` when every error it lists is the body's.
    pub(crate) fn of(problem: &Problem) -> Invalid {
        if !problem.errors.is_empty() && problem.errors.iter().all(|e| e.location == "body") {
            Invalid::Body
        } else {
            Invalid::Parameters
        }
    }
}

/// Why credentials were refused, as `gateway_auth_failures_total` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unauthorized {
    Missing,
    Malformed,
    Invalid,
    InsufficientScope,
}

impl Unauthorized {
    const ALL: [Unauthorized; 4] = [
        Unauthorized::Missing,
        Unauthorized::Malformed,
        Unauthorized::Invalid,
        Unauthorized::InsufficientScope,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Unauthorized::Missing => "missing",
            Unauthorized::Malformed => "malformed",
            Unauthorized::Invalid => "invalid",
            Unauthorized::InsufficientScope => "insufficient_scope",
        }
    }

    /// The reason a failure is counted under; `None` for keys not loaded yet (a 503, no
    /// credential failure).
    pub(crate) fn of(failure: &crate::edge::auth::Failure) -> Option<Unauthorized> {
        use crate::edge::auth::Failure;
        Some(match failure {
            Failure::Missing => Unauthorized::Missing,
            Failure::BadRequest(_) => Unauthorized::Malformed,
            Failure::Invalid(_) | Failure::UnknownKid(_) | Failure::PasswordPending(_) => {
                Unauthorized::Invalid
            }
            Failure::InsufficientScope(_) => Unauthorized::InsufficientScope,
            Failure::KeysNotLoaded(_) => return None,
        })
    }
}

/// Which series a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Index into `Gateway::routes`.
    Route(usize),
    OpenApi,
    /// The API reference page and its files (`gateway.docs`).
    Docs,
    /// No route handled it: 404, 405.
    Unmatched,
}

/// A histogram with fixed bucket bounds: per-bucket counts (not cumulative; the exposition
/// adds them up) and the sum in nanoseconds. The count is the sum of the buckets, so an
/// observation is two relaxed adds.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64; 14],
    /// The bounds in nanoseconds, for comparing without floating point.
    bounds_ns: [u64; 14],
    /// One per bound, plus `+Inf`.
    buckets: [AtomicU64; 15],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64; 14]) -> Histogram {
        Histogram {
            bounds,
            bounds_ns: bounds.map(|b| (b * 1e9) as u64),
            buckets: Default::default(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, value: Duration) {
        let ns = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        let index = self
            .bounds_ns
            .iter()
            .position(|bound| ns <= *bound)
            .unwrap_or(self.bounds_ns.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// What is counted per route (and for `/openapi.json`, and for unmatched requests).
#[derive(Debug)]
pub(crate) struct Series {
    requests: ClassCounters,
    duration: Histogram,
    added: Histogram,
    /// By reason, indexed like `Invalid::ALL`.
    validation_failures: [AtomicU64; 2],
    /// By reason, indexed like `Unauthorized::ALL`.
    auth_failures: [AtomicU64; 4],
}

impl Series {
    fn new() -> Series {
        Series {
            requests: Default::default(),
            duration: Histogram::new(&DURATION_BUCKETS),
            added: Histogram::new(&ADDED_BUCKETS),
            validation_failures: Default::default(),
            auth_failures: Default::default(),
        }
    }
}

/// Request metrics of the public listener. Upstream attempts are counted by the instances
/// themselves (`proxy::instance::Instance`), which exist from the start too.
#[derive(Debug)]
pub(crate) struct Metrics {
    routes: Vec<Series>,
    openapi: Series,
    docs: Series,
    unmatched: Series,
    in_flight: AtomicI64,
    /// Response validation (`responses.rs`).
    pub(crate) responses: responses::Counters,
    /// Rate-limit refusals and the shared store's failures.
    pub(crate) rate_limits: crate::edge::ratelimit::Counters,
    /// DNS resolutions of discovered services (counted by `discovery`).
    pub(crate) discovery: std::sync::Arc<Resolutions>,
}

impl Metrics {
    pub(crate) fn new(gateway: &Gateway) -> Metrics {
        Metrics {
            routes: gateway.routes.iter().map(|_| Series::new()).collect(),
            openapi: Series::new(),
            docs: Series::new(),
            unmatched: Series::new(),
            in_flight: AtomicI64::new(0),
            responses: responses::Counters::new(
                gateway
                    .routes
                    .iter()
                    .map(|route| Operation {
                        service: gateway.services.get(route.service).map_or("", |s| s.name),
                        operation: route.operation_id,
                        validated: route.responses.is_some(),
                    })
                    .collect(),
            ),
            rate_limits: crate::edge::ratelimit::Counters::new(gateway.rate_limits),
            discovery: std::sync::Arc::new(Resolutions::new(gateway.services)),
        }
    }

    fn series(&self, slot: Slot) -> &Series {
        match slot {
            Slot::Route(index) => self.routes.get(index).unwrap_or(&self.unmatched),
            Slot::OpenApi => &self.openapi,
            Slot::Docs => &self.docs,
            Slot::Unmatched => &self.unmatched,
        }
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A finished request: its status, its whole duration and, if it was sent upstream,
    /// the part of that duration the gateway added.
    pub(crate) fn finished(
        &self,
        slot: Slot,
        status: StatusCode,
        duration: Duration,
        added: Option<Duration>,
    ) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let series = self.series(slot);
        series.requests[class_index(status)].fetch_add(1, Ordering::Relaxed);
        series.duration.observe(duration);
        if let Some(added) = added {
            series.added.observe(added);
        }
    }

    /// A generated handler refused the request's parameters (a 400).
    pub(crate) fn validation_failed(&self, slot: Slot, reason: Invalid) {
        self.series(slot).validation_failures[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The route needs credentials the request did not carry (a 401).
    pub(crate) fn auth_failed(&self, slot: Slot, reason: Unauthorized) {
        self.series(slot).auth_failures[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4). Series of routes that never counted
    /// anything are left out, so a thousand-route gateway scrapes small.
    pub(crate) fn render(&self, gateway: &Gateway, upstreams: &Upstreams) -> String {
        let mut out = String::with_capacity(4096);
        let labelled = self.labelled(gateway);

        family(
            &mut out,
            "gateway_up",
            "gauge",
            "Whether the gateway is running.",
        );
        out.push_str("gateway_up 1\n");
        family(
            &mut out,
            "gateway_info",
            "gauge",
            "The gateway's name and generator version.",
        );
        let _ = writeln!(
            out,
            "gateway_info{{name=\"{}\",generator_version=\"{}\"}} 1",
            Escaped(gateway.name),
            Escaped(gateway.generator_version)
        );

        family(
            &mut out,
            "gateway_in_flight_requests",
            "gauge",
            "Requests received and not yet answered to their end.",
        );
        let _ = writeln!(
            out,
            "gateway_in_flight_requests {}",
            self.in_flight.load(Ordering::Relaxed).max(0)
        );

        family(
            &mut out,
            "gateway_requests_total",
            "counter",
            "Requests answered, by route template, method and status class; requests no route matched have no route or method label.",
        );
        for (labels, series) in &labelled {
            for (index, counter) in series.requests.iter().enumerate() {
                let value = counter.load(Ordering::Relaxed);
                if value > 0 {
                    let _ = writeln!(
                        out,
                        "gateway_requests_total{{{labels}status_class=\"{}xx\"}} {value}",
                        index + 1
                    );
                }
            }
        }

        family(
            &mut out,
            "gateway_request_duration_seconds",
            "histogram",
            "Time from receiving the request head to the end of the response, by route template and method.",
        );
        for (labels, series) in &labelled {
            histogram(
                &mut out,
                "gateway_request_duration_seconds",
                labels,
                &series.duration,
            );
        }

        family(
            &mut out,
            "gateway_added_latency_seconds",
            "histogram",
            "Of a request sent upstream, the time not spent waiting on the upstream (see docs/runtime.md), by route template and method.",
        );
        for (labels, series) in &labelled {
            histogram(
                &mut out,
                "gateway_added_latency_seconds",
                labels,
                &series.added,
            );
        }

        let validation_reasons = Invalid::ALL.map(Invalid::as_str);
        let auth_reasons = Unauthorized::ALL.map(Unauthorized::as_str);
        for (name, help, reasons, counters) in [
            (
                "gateway_validation_failures_total",
                "Requests refused with 400 because their parameters or body are invalid, by route template, method and reason (parameters, body).",
                &validation_reasons[..],
                (|s: &Series| &s.validation_failures[..]) as fn(&Series) -> &[AtomicU64],
            ),
            (
                "gateway_auth_failures_total",
                "Requests refused with 401 or 403 for their credentials, by route template, method and reason (missing, malformed, invalid, insufficient_scope).",
                &auth_reasons[..],
                |s: &Series| &s.auth_failures[..],
            ),
        ] {
            family(&mut out, name, "counter", help);
            for (labels, series) in &labelled {
                for (reason, counter) in reasons.iter().zip(counters(series)) {
                    let value = counter.load(Ordering::Relaxed);
                    if value > 0 {
                        let _ = writeln!(out, "{name}{{{labels}reason=\"{reason}\"}} {value}");
                    }
                }
            }
        }

        self.responses.render(&mut out);
        self.rate_limits.render(
            &mut out,
            gateway.rate_limits,
            gateway.auth_failures.is_some(),
            matches!(
                gateway.rate_limit_store,
                crate::edge::ratelimit::Store::Redis(_)
            ),
        );

        family(
            &mut out,
            "gateway_upstream_attempts_total",
            "counter",
            "Requests sent to an upstream instance, by service, instance and outcome (ok, connect_error, timeout, error).",
        );
        for upstream in upstreams.iter() {
            let service = Escaped(upstream.service().name);
            for (instance, counts) in upstream.attempts() {
                for (outcome, value) in counts {
                    if value > 0 {
                        let _ = writeln!(
                            out,
                            "gateway_upstream_attempts_total{{service=\"{service}\",instance=\"{}\",outcome=\"{}\"}} {value}",
                            Escaped(&instance),
                            outcome.as_str()
                        );
                    }
                }
            }
        }
        upstreams.render(&mut out);
        self.discovery.render(&mut out);
        out
    }

    /// Each series with its label prefix (`route="..",method="..",`; empty for unmatched).
    fn labelled<'a>(&'a self, gateway: &Gateway) -> Vec<(String, &'a Series)> {
        let mut labelled: Vec<(String, &Series)> = gateway
            .routes
            .iter()
            .zip(&self.routes)
            .map(|(route, series)| {
                let labels = format!(
                    "route=\"{}\",method=\"{}\",",
                    Escaped(route.path),
                    route.method.as_str()
                );
                (labels, series)
            })
            .collect();
        labelled.push((
            "route=\"/openapi.json\",method=\"GET\",".to_owned(),
            &self.openapi,
        ));
        if let Some(path) = gateway.docs {
            labelled.push((
                format!("route=\"{}\",method=\"GET\",", Escaped(path)),
                &self.docs,
            ));
        }
        labelled.push((String::new(), &self.unmatched));
        labelled
    }
}

/// A histogram's `_bucket`, `_sum` and `_count` lines, unless it never observed anything.
fn histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    // Loaded once, so the buckets, the count and `+Inf` agree with each other.
    let counts: Vec<u64> = histogram
        .buckets
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let count: u64 = counts.iter().sum();
    if count == 0 {
        return;
    }
    let mut cumulative = 0;
    for (index, value) in counts.iter().enumerate() {
        cumulative += value;
        match histogram.bounds.get(index) {
            Some(bound) => {
                let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let sum = histogram.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    let labels = labels.trim_end_matches(',');
    if labels.is_empty() {
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    } else {
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {count}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(class_index(StatusCode::CONTINUE), 0);
        assert_eq!(class_index(StatusCode::OK), 1);
        assert_eq!(class_index(StatusCode::NOT_FOUND), 3);
        assert_eq!(class_index(StatusCode::GATEWAY_TIMEOUT), 4);
        assert_eq!(class_index(StatusCode::from_u16(599).unwrap()), 4);
    }

    #[test]
    fn a_400_is_the_bodys_only_when_every_error_is() {
        let error = |location: &'static str| crate::FieldError {
            location,
            name: None,
            pointer: None,
            message: "bad".to_owned(),
        };
        let problem = |errors| crate::Problem::invalid_request(errors);
        assert_eq!(Invalid::of(&problem(vec![error("body")])), Invalid::Body);
        assert_eq!(
            Invalid::of(&problem(vec![error("body"), error("query")])),
            Invalid::Parameters
        );
        assert_eq!(
            Invalid::of(&problem(vec![error("path")])),
            Invalid::Parameters
        );
    }

    #[test]
    fn histograms_bucket_by_upper_bound_inclusive() {
        let h = Histogram::new(&DURATION_BUCKETS);
        h.observe(Duration::from_micros(500)); // exactly the first bound
        h.observe(Duration::from_micros(501));
        h.observe(Duration::from_secs(11));
        assert_eq!(h.count(), 3);
        let counts: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[1], 1);
        assert_eq!(counts[14], 1);
        let mut out = String::new();
        histogram(&mut out, "x", "route=\"/a\",", &h);
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"10\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_count{route=\"/a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{route=\"/a\"} 11.001001\n"), "{out}");
        let mut out = String::new();
        histogram(&mut out, "x", "", &h);
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
