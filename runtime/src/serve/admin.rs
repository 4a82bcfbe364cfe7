//! The admin listener: `/healthz`, `/readyz`, `/metrics`.
//!
//! Kept on its own address (loopback by default) so probes and scrapes never compete
//! with, or get exposed alongside, public traffic. What `/metrics` reports is counted in
//! `metrics`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::edge::auth::jwks::JwksSet;
use crate::gateway::Gateway;
use crate::observe::metrics::Metrics;
use crate::proxy::upstream::Upstreams;

/// What the admin handlers read.
pub(crate) struct AdminState {
    pub(crate) gateway: &'static Gateway,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) upstreams: Arc<Upstreams>,
    /// The JWT schemes whose keys come from a JWKS URL.
    pub(crate) jwks: JwksSet,
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

/// Ready when every service has an instance to send requests to (healthy by the active
/// checks, not ejected, breaker not open) and every JWKS scheme has loaded its first key
/// set.
async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    let missing: Vec<&str> = state
        .upstreams
        .iter()
        .filter(|upstream| upstream.usable_instances() == 0)
        .map(|upstream| upstream.service().name)
        .collect();
    let keyless = state.jwks.not_loaded();
    if missing.is_empty() && keyless.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut body = String::from("not ready:");
        if !missing.is_empty() {
            body.push_str(&format!(" no healthy instance for {};", missing.join(", ")));
        }
        if !keyless.is_empty() {
            body.push_str(&format!(" JWKS not loaded for {};", keyless.join(", ")));
        }
        body.pop();
        body.push('\n');
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let mut body = state.metrics.render(state.gateway, &state.upstreams);
    state.jwks.render(&mut body);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
