//! What the proxy tests share: a route table written by hand the way `gateway generate`
//! writes one, a mock upstream that echoes what it received, an in-process gateway, and
//! an HTTP client.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openapi_gateway_runtime::auth::{ApiKey, ApiKeyIn, Jwt, KeySource, Scheme, SchemeKind};
use openapi_gateway_runtime::params::{self, Forward, Request};
use openapi_gateway_runtime::{
    Auth, BodySpec, Config, Errors, Gateway, Method, Problem, Requirement, Route, Service,
    StartError, UpstreamPath,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

// ---- The route table, as generated code would spell it ----------------------------------

pub const USERS: usize = 0;
pub const SLOW: usize = 1;
pub const DOWN: usize = 2;

pub static SERVICES: [Service; 3] = [
    Service {
        name: "users",
        env: "GATEWAY_UPSTREAM_USERS",
        urls: &["http://127.0.0.1:1"],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        cors: None,
        resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
    },
    Service {
        name: "slow",
        env: "GATEWAY_UPSTREAM_SLOW",
        urls: &["http://127.0.0.1:1"],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(300),
        cors: None,
        resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
    },
    Service {
        name: "down",
        env: "GATEWAY_UPSTREAM_DOWN",
        urls: &["http://127.0.0.1:1"],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        cors: None,
        resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
    },
];

fn get_me(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/users/me").forward())
}

fn get_user(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let id = errors.path(req, 0, "id", params::int64);
    let Some(id) = id else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new().literal("/users/").param(&id).forward())
}

fn tenant(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let value = errors.header(req, "x-tenant", params::string);
    let Some(_tenant) = errors.require("header", "x-tenant", value) else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new().literal("/tenant").forward())
}

fn list_orders(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let id = errors.path(req, 0, "id", params::int64);
    let limit = errors
        .query(req, "limit", params::int32)
        .map(|v| v.unwrap_or(20));
    let (Some(id), Some(_limit)) = (id, limit) else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/users/")
        .param(&id)
        .literal("/orders")
        .forward())
}

fn latest_file(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/files/latest").forward())
}

fn get_file(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let name = errors.path(req, 0, "name", params::string);
    let Some(name) = name else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/files/")
        .param(&name)
        .forward())
}

fn file_meta(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let name = errors.path(req, 0, "name", params::string);
    let Some(name) = name else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/files/")
        .param(&name)
        .literal("/meta")
        .forward())
}

const fn route(
    method: Method,
    path: &'static str,
    upstream_path: &'static str,
    service: usize,
    handler: fn(&Request<'_>) -> Result<Forward, Problem>,
) -> Route {
    Route {
        method,
        path,
        upstream_path,
        service,
        operation_id: "op",
        auth: Auth::Public,
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler,
        responses: None,
        path_types: &[],
    }
}

fn echo_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/echo").forward())
}
fn upload_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/upload").forward())
}
fn slow_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/slow").forward())
}
fn hop_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/hop").forward())
}
fn down_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/down").forward())
}

pub static ROUTES: [Route; 15] = [
    route(Method::Get, "/api/users/me", "/users/me", USERS, get_me),
    route(
        Method::Get,
        "/api/users/{id}",
        "/users/{id}",
        USERS,
        get_user,
    ),
    route(
        Method::Delete,
        "/api/users/{id}",
        "/users/{id}",
        USERS,
        get_user,
    ),
    route(
        Method::Get,
        "/api/users/{id}/orders",
        "/users/{id}/orders",
        USERS,
        list_orders,
    ),
    route(
        Method::Get,
        "/api/files/latest",
        "/files/latest",
        USERS,
        latest_file,
    ),
    route(
        Method::Get,
        "/api/files/{name}",
        "/files/{name}",
        USERS,
        get_file,
    ),
    route(
        Method::Get,
        "/api/files/{name}/meta",
        "/files/{name}/meta",
        USERS,
        file_meta,
    ),
    route(Method::Post, "/api/echo", "/echo", USERS, echo_path),
    route(Method::Post, "/api/upload", "/upload", USERS, upload_path),
    route(Method::Get, "/api/slow", "/slow", USERS, slow_path),
    route(Method::Get, "/api/slow-timeout", "/slow", SLOW, slow_path),
    route(Method::Get, "/api/down", "/down", DOWN, down_path),
    Route {
        method: Method::Get,
        path: "/api/secret",
        upstream_path: "/secret",
        service: USERS,
        operation_id: "getSecret",
        auth: Auth::Required {
            challenge: "Bearer realm=\"test\"",
            alternatives: &[&[Requirement {
                scheme: "bearerAuth",
                scopes: &["secret:read"],
            }]],
        },
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler: get_me,
        responses: None,
        path_types: &[],
    },
    route(Method::Get, "/api/hop", "/hop", USERS, hop_path),
    route(Method::Get, "/api/tenant", "/tenant", USERS, tenant),
];

pub const OPENAPI: &str = r#"{"openapi":"3.0.3","info":{"title":"test","version":"1"}}"#;

/// The test HMAC secret of `bearerAuth` (HS256, issuer `test-issuer`, `sub` forwarded
/// as `x-user-id`).
pub const HS_SECRET: &str = include_str!("../keys/hs_secret.txt");

static BEARER: Jwt = Jwt {
    algorithms: &["HS256"],
    key: KeySource::File(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/hs_secret.txt"
    )),
    issuer: Some("test-issuer"),
    audiences: &[],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[("sub", "x-user-id")],
    strip_authorization: false,
};

pub static SCHEMES: [Scheme; 1] = [Scheme {
    name: "bearerAuth",
    kind: SchemeKind::Jwt(&BEARER),
}];

/// `alice:alice-key`, `bob:bob-key`.
static API_KEY: ApiKey = ApiKey {
    location: ApiKeyIn::Header,
    name: "x-api-key",
    keys: KeySource::File(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/api_keys.txt"
    )),
    strip: false,
};

/// `bearerAuth` and an API key scheme `apiKey` (header `x-api-key`).
pub static BEARER_AND_API_KEY: [Scheme; 2] = [
    Scheme {
        name: "bearerAuth",
        kind: SchemeKind::Jwt(&BEARER),
    },
    Scheme {
        name: "apiKey",
        kind: SchemeKind::ApiKey(&API_KEY),
    },
];

/// Large enough for the 10 MiB streaming test.
pub static GATEWAY: Gateway = Gateway {
    name: "test-gateway",
    generator_version: "0.0.0-test",
    listen: "127.0.0.1:0",
    connections: openapi_gateway_runtime::Connections::DEFAULT,
    openapi_json: OPENAPI,
    docs: None,
    max_body: 16 * 1024 * 1024,
    max_fields: 1000,
    services: &SERVICES,
    routes: &ROUTES,
    rate_limits: &[],
    schemes: &SCHEMES,
    auth_failures: None,
    rate_limit_store: openapi_gateway_runtime::Store::Memory,
    trusted_proxies: &[],
    otlp_endpoint_env: None,
};

/// The same routes with a 1000-byte body limit.
pub static LIMITED: Gateway = Gateway {
    max_body: 1000,
    ..GATEWAY
};

// ---- The mock upstream ------------------------------------------------------------------

/// A mock upstream instance. Every path+query it received is in `seen`.
pub struct Mock {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Mock {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct MockState {
    instance: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

/// Starts a mock upstream named `instance`:
/// - `/slow` waits 600 ms, then echoes;
/// - `/echo` streams the request body back as it arrives;
/// - `/upload` reads the whole body, then answers `{"len": n}`;
/// - `/hop` answers with hop-by-hop headers besides an end-to-end one;
/// - anything else echoes `{instance, method, uri, headers}` as JSON.
pub async fn mock(instance: &'static str) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    mock_on(instance, listener).await
}

/// The same mock upstream on a listener of the test's choosing.
pub async fn mock_on(instance: &'static str, listener: tokio::net::TcpListener) -> Mock {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = MockState {
        instance,
        seen: seen.clone(),
    };
    let app = axum::Router::new().fallback(mock_handler).with_state(state);
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Mock { addr, seen }
}

async fn mock_handler(State(state): State<MockState>, request: AxumRequest) -> AxumResponse {
    let uri = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(uri.clone());
    match request.uri().path() {
        "/echo" => {
            let stream = request.into_body().into_data_stream();
            return AxumResponse::new(AxumBody::from_stream(stream));
        }
        "/upload" => {
            return match axum::body::to_bytes(request.into_body(), usize::MAX).await {
                Ok(bytes) => json_response(serde_json::json!({ "len": bytes.len() })),
                Err(_) => {
                    let mut response = AxumResponse::new(AxumBody::from("bad body"));
                    *response.status_mut() = StatusCode::BAD_REQUEST;
                    response
                }
            };
        }
        "/hop" => {
            let mut response = AxumResponse::new(AxumBody::from("hop"));
            let headers = response.headers_mut();
            headers.insert("connection", HeaderValue::from_static("x-upstream-private"));
            headers.insert("x-upstream-private", HeaderValue::from_static("1"));
            headers.insert("proxy-authenticate", HeaderValue::from_static("Basic"));
            headers.insert("x-upstream-public", HeaderValue::from_static("1"));
            return response;
        }
        "/slow" => tokio::time::sleep(Duration::from_millis(600)).await,
        _ => {}
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value.to_str().unwrap_or("<binary>").to_owned());
    }
    json_response(serde_json::json!({
        "instance": state.instance,
        "method": request.method().as_str(),
        "uri": uri,
        "headers": headers,
    }))
}

fn json_response(value: serde_json::Value) -> AxumResponse {
    let mut response = AxumResponse::new(AxumBody::from(value.to_string()));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// A port nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ---- The gateway under test -------------------------------------------------------------

pub struct Running {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), StartError>>,
}

impl Running {
    /// A gateway served by `task`, which stops when `stop` fires.
    pub fn new(
        addr: SocketAddr,
        admin: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), StartError>>,
    ) -> Running {
        Running {
            addr,
            admin,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Asks for a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `gateway` in-process with these upstream overrides.
pub async fn start(
    gateway: &'static Gateway,
    upstreams: &[(&str, Vec<String>)],
    shutdown_timeout: Duration,
) -> Running {
    start_configured(gateway, |config| {
        config.shutdown_timeout = shutdown_timeout;
        config.upstreams = upstreams
            .iter()
            .map(|(name, urls)| ((*name).to_owned(), urls.clone()))
            .collect();
    })
    .await
}

/// Starts `gateway` in-process with a configuration `edit` adjusts.
pub async fn start_configured(
    gateway: &'static Gateway,
    edit: impl FnOnce(&mut Config),
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let mut config = Config::new(listener, admin_listener);
    edit(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(openapi_gateway_runtime::serve(
        gateway,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        addr,
        admin,
        stop: Some(stop),
        task,
    }
}

/// A gateway on `GATEWAY` whose every service points at `mock`.
pub async fn start_with(mock: &Mock) -> Running {
    start(
        &GATEWAY,
        &[("users", vec![mock.url()]), ("slow", vec![mock.url()])],
        Duration::from_secs(5),
    )
    .await
}

// ---- The HTTP client --------------------------------------------------------------------

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = BoxBody<Bytes, BoxError>;

pub fn client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn empty() -> TestBody {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body fed chunk by chunk through a channel; sent chunked (no length known).
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

pub fn channel_body(capacity: usize) -> (mpsc::Sender<Bytes>, TestBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody(rx).boxed())
}

/// A complete response.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Checks the problem+json shape and that the body's request id is the header's.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:gateway:problem:")
        );
        assert!(body["title"].is_string());
        assert!(body["detail"].is_string());
        let id = self.header("x-request-id").expect("x-request-id header");
        assert_eq!(body["request_id"], id);
        body
    }

    /// The echo upstream's view of the request.
    pub fn echoed_header(&self, name: &str) -> Option<String> {
        let values = self.json()["headers"][name].as_array()?.clone();
        Some(
            values
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" | "),
        )
    }
}

pub async fn collect(response: http::Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn send(request: http::Request<TestBody>) -> Answer {
    let response = client().request(request).await.unwrap();
    collect(response).await
}

pub async fn get(url: &str) -> Answer {
    send(http::Request::get(url).body(empty()).unwrap()).await
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: TestBody) -> Answer {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(builder.body(body).unwrap()).await
}

/// The gateway's `/metrics` exposition, as text.
pub async fn metrics(gw: &Running) -> String {
    String::from_utf8(get(&gw.admin_url("/metrics")).await.body.to_vec()).unwrap()
}

/// The value of one series (name and labels, as exposed) of an exposition; panics, naming
/// it, when the series is not there (a missing series is not a zero).
pub fn sample<T: std::str::FromStr>(exposition: &str, series: &str) -> T {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics:\n{exposition}"))
}
