//! The gateway of `bench/upstream.sh`: two routes to compare what balancing over three
//! instances with health checks costs against a plain single-instance proxy.
//!
//! - `GET /plain` → service `plain` (`GATEWAY_UPSTREAM_PLAIN`, one instance):
//!   `Policy::DEFAULT`, what every generated gateway gets without settings.
//! - `GET /p2c` → service `balanced` (`GATEWAY_UPSTREAM_BALANCED`, three instances):
//!   least requests (power of two choices), `GET /health` every second on each instance,
//!   and a breaker per instance and for the service.
//!
//! ```text
//! cargo build --release -p openapi-gateway-runtime --example upstream_bench
//! ```

use std::process::ExitCode;
use std::time::Duration;

use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::upstream::{Balance, Breaker, HealthCheck, Policy};
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, Problem, Route, Service, UpstreamPath,
};

static SERVICES: [Service; 2] = [
    Service {
        name: "plain",
        env: "GATEWAY_UPSTREAM_PLAIN",
        urls: &["http://127.0.0.1:18081"],
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        cors: None,
        resilience: Policy::DEFAULT,
        discovery: None,
    },
    Service {
        name: "balanced",
        env: "GATEWAY_UPSTREAM_BALANCED",
        urls: &[],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        cors: None,
        resilience: Policy {
            balance: Balance::LeastRequests,
            health_check: Some(HealthCheck {
                path: "/health",
                interval: Duration::from_secs(1),
                timeout: Duration::from_millis(500),
                expected_status: &[],
                healthy_threshold: 2,
                unhealthy_threshold: 3,
            }),
            breaker: Some(Breaker {
                failure_ratio: 0.5,
                min_requests: 20,
                window: Duration::from_secs(10),
                consecutive_failures: 0,
                open_for: Duration::from_secs(30),
                half_open_probes: 1,
            }),
            ..Policy::DEFAULT
        },
    },
];

fn forward(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/payment-methods").forward())
}

const fn route(path: &'static str, service: usize) -> Route {
    Route {
        method: Method::Get,
        path,
        upstream_path: "/payment-methods",
        service,
        operation_id: "bench",
        auth: Auth::Public,
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler: forward,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 2] = [route("/plain", 0), route("/p2c", 1)];

static GATEWAY: Gateway = Gateway {
    name: "upstream-bench",
    generator_version: "bench",
    listen: "127.0.0.1:18083",
    connections: openapi_gateway_runtime::Connections::DEFAULT,
    openapi_json: "{}",
    docs: None,
    max_body: 1 << 20,
    max_fields: 1000,
    services: &SERVICES,
    routes: &ROUTES,
    rate_limits: &[],
    schemes: &[],
    auth_failures: None,
    rate_limit_store: openapi_gateway_runtime::Store::Memory,
    trusted_proxies: &[],
    otlp_endpoint_env: None,
};

fn main() -> ExitCode {
    openapi_gateway_runtime::run(&GATEWAY)
}
