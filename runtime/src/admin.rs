//! The admin listener (`/healthz`, `/readyz`, `/metrics`) and the counters it reports.
//!
//! Kept on its own address (loopback by default) so probes and scrapes never compete
//! with, or get exposed alongside, public traffic. Counters are plain atomics in arrays
//! indexed by route, so counting a request on the hot path is one relaxed add; labels are
//! route templates, never raw paths, so their number is fixed at compile time.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::Gateway;
use crate::proxy::Upstreams;

/// Status classes `1xx` to `5xx`.
const CLASSES: usize = 5;

type ClassCounters = [AtomicU64; CLASSES];

fn class_index(status: StatusCode) -> usize {
    (usize::from(status.as_u16() / 100)).clamp(1, CLASSES) - 1
}

/// Which counter a request is counted under.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    /// Index into `Gateway::routes`.
    Route(usize),
    OpenApi,
    /// No route handled it: 404, 405.
    Unmatched,
}

/// Request counters of the public listener.
#[derive(Debug)]
pub(crate) struct Metrics {
    routes: Vec<ClassCounters>,
    openapi: ClassCounters,
    unmatched: ClassCounters,
}

impl Metrics {
    pub(crate) fn new(gateway: &Gateway) -> Metrics {
        Metrics {
            routes: gateway.routes.iter().map(|_| Default::default()).collect(),
            openapi: Default::default(),
            unmatched: Default::default(),
        }
    }

    pub(crate) fn record(&self, slot: Slot, status: StatusCode) {
        let counters = match slot {
            Slot::Route(index) => match self.routes.get(index) {
                Some(counters) => counters,
                None => &self.unmatched,
            },
            Slot::OpenApi => &self.openapi,
            Slot::Unmatched => &self.unmatched,
        };
        counters[class_index(status)].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition. Series that were never incremented are left out.
    pub(crate) fn render(&self, gateway: &Gateway) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("# HELP gateway_up Whether the gateway is running.\n");
        out.push_str("# TYPE gateway_up gauge\ngateway_up 1\n");
        out.push_str("# HELP gateway_info The gateway's name and generator version.\n");
        out.push_str("# TYPE gateway_info gauge\n");
        let _ = writeln!(
            out,
            "gateway_info{{name=\"{}\",generator_version=\"{}\"}} 1",
            Escaped(gateway.name),
            Escaped(gateway.generator_version)
        );
        out.push_str(
            "# HELP gateway_requests_total Requests answered, by route template, method and status class.\n",
        );
        out.push_str("# TYPE gateway_requests_total counter\n");
        for (route, counters) in gateway.routes.iter().zip(&self.routes) {
            write_series(
                &mut out,
                "gateway_requests_total",
                &format!(
                    "route=\"{}\",method=\"{}\",",
                    Escaped(route.path),
                    route.method.as_str()
                ),
                counters,
            );
        }
        write_series(
            &mut out,
            "gateway_requests_total",
            "route=\"/openapi.json\",method=\"GET\",",
            &self.openapi,
        );
        out.push_str(
            "# HELP gateway_unmatched_requests_total Requests no route matched (404, 405), by status class.\n",
        );
        out.push_str("# TYPE gateway_unmatched_requests_total counter\n");
        write_series(
            &mut out,
            "gateway_unmatched_requests_total",
            "",
            &self.unmatched,
        );
        out
    }
}

fn write_series(out: &mut String, name: &str, labels: &str, counters: &ClassCounters) {
    for (index, counter) in counters.iter().enumerate() {
        let value = counter.load(Ordering::Relaxed);
        if value > 0 {
            let _ = writeln!(
                out,
                "{name}{{{labels}status_class=\"{}xx\"}} {value}",
                index + 1
            );
        }
    }
}

/// A Prometheus label value, escaped.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// What the admin handlers read.
pub(crate) struct AdminState {
    pub(crate) gateway: &'static Gateway,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) upstreams: Arc<Upstreams>,
}

/// Serves the admin listener until `shutdown` completes and its connections close.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "alive\n"
}

/// Ready when every service has an instance to send requests to.
async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    let missing: Vec<&str> = state
        .upstreams
        .iter()
        .filter(|upstream| !upstream.has_instances())
        .map(|upstream| upstream.service().name)
        .collect();
    if missing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready: no instance for {}\n", missing.join(", "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let body = state.metrics.render(state.gateway);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
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
    fn label_values_are_escaped() {
        assert_eq!(Escaped("a\"b\\c\nd").to_string(), "a\\\"b\\\\c\\nd");
    }
}
