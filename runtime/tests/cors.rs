//! The gateway's CORS policy is the only one a browser sees: an upstream that reflects any
//! `Origin` with credentials (a common framework default) opens nothing.

mod support;

use std::time::Duration;

use http::HeaderMap;
use openapi_gateway_runtime::params::Forward;
use openapi_gateway_runtime::{
    Auth, BodySpec, Connections, Cors, Gateway, Method, Problem, Route, Service, UpstreamPath,
};
use support::*;

static SHOP: Cors = Cors {
    allow_origins: &["https://shop.example.com"],
    allow_methods: &[],
    allow_headers: &["content-type"],
    expose_headers: &["x-request-id"],
    allow_credentials: false,
    max_age: None,
};

static ANYONE: Cors = Cors {
    allow_origins: &["*"],
    allow_methods: &[],
    allow_headers: &[],
    expose_headers: &[],
    allow_credentials: false,
    max_age: None,
};

const fn service(name: &'static str, env: &'static str, cors: Option<&'static Cors>) -> Service {
    Service {
        name,
        env,
        urls: &[],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        cors,
        resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
    }
}

static SERVICES: [Service; 3] = [
    service("shop", "GATEWAY_UPSTREAM_SHOP", Some(&SHOP)),
    service("open", "GATEWAY_UPSTREAM_OPEN", Some(&ANYONE)),
    service("plain", "GATEWAY_UPSTREAM_PLAIN", None),
];

fn reflect(_req: &openapi_gateway_runtime::Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/reflect").forward())
}

fn refuse(_req: &openapi_gateway_runtime::Request<'_>) -> Result<Forward, Problem> {
    Err(Problem::new(
        http::StatusCode::BAD_REQUEST,
        "invalid-request",
        "Invalid request",
        "never valid",
    ))
}

const fn route(path: &'static str, service: usize) -> Route {
    Route {
        method: Method::Get,
        path,
        upstream_path: "/reflect",
        service,
        operation_id: "reflect",
        auth: Auth::Public,
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler: reflect,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 4] = [
    route("/shop", 0),
    Route {
        handler: refuse,
        ..route("/shop/refused", 0)
    },
    route("/open", 1),
    route("/plain", 2),
];

static CORS_GATEWAY: Gateway = Gateway {
    name: "cors",
    generator_version: "0.0.0-test",
    listen: "127.0.0.1:0",
    connections: Connections::DEFAULT,
    openapi_json: OPENAPI,
    docs: None,
    max_body: 1024,
    max_fields: 1000,
    services: &SERVICES,
    routes: &ROUTES,
    rate_limits: &[],
    schemes: &[],
    rate_limit_store: openapi_gateway_runtime::Store::Memory,
    trusted_proxies: &[],
    otlp_endpoint_env: None,
    auth_failures: None,
};

/// An upstream with a permissive CORS middleware: it reflects whatever `Origin` it gets,
/// allows credentials, exposes a header of its own, and varies on `Accept-Encoding`.
async fn reflecting_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let mut response = axum::response::Response::new(axum::body::Body::from("{}"));
        let out = response.headers_mut();
        if let Some(origin) = headers.get("origin") {
            out.insert("access-control-allow-origin", origin.clone());
        }
        out.insert(
            "access-control-allow-credentials",
            http::HeaderValue::from_static("true"),
        );
        out.insert(
            "access-control-expose-headers",
            http::HeaderValue::from_static("x-session-token"),
        );
        out.insert(
            "access-control-allow-private-network",
            http::HeaderValue::from_static("true"),
        );
        out.insert("vary", http::HeaderValue::from_static("Accept-Encoding"));
        response
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn started() -> Running {
    let url = reflecting_upstream().await;
    start(
        &CORS_GATEWAY,
        &[
            ("shop", vec![url.clone()]),
            ("open", vec![url.clone()]),
            ("plain", vec![url]),
        ],
        Duration::from_secs(5),
    )
    .await
}

async fn get_from(gw: &Running, path: &str, origin: Option<&str>) -> Answer {
    let mut request = http::Request::get(gw.url(path));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    send(request.body(empty()).unwrap()).await
}

fn access_control(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// The tokens of every `Vary` field, lower-cased, in order.
fn vary(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .get_all("vary")
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_reflects_any_origin_opens_nothing() {
    let gw = started().await;
    // The policy's origin: the gateway's headers, and none of the upstream's.
    let answer = get_from(&gw, "/shop", Some("https://shop.example.com")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_eq!(
        answer.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        None,
        "the policy allows no credentials"
    );
    assert_eq!(answer.header("access-control-allow-private-network"), None);

    // Any other origin: no CORS header at all, whatever the upstream said.
    for path in ["/shop", "/plain"] {
        let answer = get_from(&gw, path, Some("https://evil.example")).await;
        assert_eq!(answer.status, 200);
        assert!(
            access_control(&answer).is_empty(),
            "{path}: an evil origin got {:?}",
            access_control(&answer)
        );
    }
    // A route without a policy keeps none of the upstream's either, origin or not.
    let answer = get_from(&gw, "/plain", None).await;
    assert!(access_control(&answer).is_empty(), "{:?}", answer.headers);

    // `*`: the gateway's star, not the upstream's credentials.
    let answer = get_from(&gw, "/open", Some("https://evil.example")).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    assert_eq!(answer.header("access-control-expose-headers"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_of_a_route_whose_answer_depends_on_the_origin_vary_on_it_once() {
    let gw = started().await;
    // With the allowed origin, another, or none: a cache must not serve one to the other.
    for origin in [
        Some("https://shop.example.com"),
        Some("https://evil.example"),
        None,
    ] {
        let answer = get_from(&gw, "/shop", origin).await;
        assert_eq!(
            vary(&answer),
            ["accept-encoding", "origin"],
            "{origin:?}: {:?}",
            answer.headers
        );
    }
    // The gateway's own answers on that route too.
    let answer = get_from(&gw, "/shop/refused", Some("https://evil.example")).await;
    answer.problem(400);
    assert_eq!(vary(&answer), ["origin"]);
    // `*` answers the same to everyone; no policy, no CORS headers: the upstream's Vary
    // is left as it is.
    for path in ["/open", "/plain"] {
        let answer = get_from(&gw, path, Some("https://evil.example")).await;
        assert_eq!(vary(&answer), ["accept-encoding"], "{path}");
    }
}
