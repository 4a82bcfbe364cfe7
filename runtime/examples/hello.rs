//! The smallest gateway, written by hand the way `gateway generate` writes one: a route
//! table, one handler, and a `main` that calls `openapi_gateway_runtime::run`.
//!
//! ```text
//! GATEWAY_UPSTREAM_HELLO=http://127.0.0.1:9001 cargo run -p openapi-gateway-runtime --example hello
//! curl localhost:8080/api/hello/world     # forwarded as GET /hello/world
//! ```

use std::process::ExitCode;
use std::time::Duration;

use openapi_gateway_runtime::params::{self, Forward, Request};
use openapi_gateway_runtime::{
    Auth, BodySpec, Errors, Gateway, Method, Problem, Route, Service, UpstreamPath,
};

static SERVICES: [Service; 1] = [Service {
    name: "hello",
    env: "GATEWAY_UPSTREAM_HELLO",
    urls: &["http://127.0.0.1:9001"],
    discovery: None,
    connect_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(10),
    cors: None,
    resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
}];

fn say_hello(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let name = errors.path(req, 0, "name", params::string);
    let Some(name) = name else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/hello/")
        .param(&name)
        .forward())
}

static ROUTES: [Route; 1] = [Route {
    method: Method::Get,
    path: "/api/hello/{name}",
    upstream_path: "/hello/{name}",
    service: 0,
    operation_id: "sayHello",
    auth: Auth::Public,
    body: BodySpec::Undeclared,
    rate_limits: &[],
    handler: say_hello,
    responses: None,
    path_types: &[],
}];

static GATEWAY: Gateway = Gateway {
    name: "hello",
    generator_version: "example",
    listen: "127.0.0.1:8080",
    connections: openapi_gateway_runtime::Connections::DEFAULT,
    openapi_json: r#"{"openapi":"3.0.3","info":{"title":"hello","version":"1"},"paths":{}}"#,
    docs: None,
    max_body: 1024 * 1024,
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
