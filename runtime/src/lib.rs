//! The runtime every generated gateway links.
//!
//! A generated crate is data (this module's `Gateway`, `Service` and `Route` statics) plus
//! straight-line handler functions that parse and check one operation's parameters. All
//! async code, generics and I/O live here, compiled once, so that an edit to a generated
//! crate rebuilds in about a second (DESIGN.md, "Generated code is data").
#![forbid(unsafe_code)]

pub mod auth;
pub mod body;
pub mod cors;
pub mod discovery;
pub mod form;
pub mod json;
pub mod params;
pub mod problem;
pub mod ratelimit;
pub mod responses;
pub mod styled;
pub mod upstream;

mod access;
mod admin;
mod client_ip;
mod jwks;
mod metrics;
mod otel;
mod proxy;
mod ratelimit_redis;
mod router;
mod server;
mod tokens;
mod traceparent;

pub use body::BodySpec;
pub use cors::Cors;
pub use discovery::{Discovery, DnsRecord};
pub use params::{Errors, Forward, Request, UpstreamPath};
pub use problem::{FieldError, Problem};
pub use ratelimit::{OnStoreFailure, RateKey, RateLimit, RedisStore, Store};
pub use server::{Config, DEFAULT_ADMIN_LISTEN, DEFAULT_SHUTDOWN_TIMEOUT, StartError, run, serve};
pub use uuid::Uuid;

use std::time::Duration;

/// The whole gateway, as compiled from the manifest and the specs.
#[derive(Debug)]
pub struct Gateway {
    /// The manifest's `gateway.name`.
    pub name: &'static str,
    /// The version of `gateway` that generated the crate.
    pub generator_version: &'static str,
    /// Default public listen address (`GATEWAY_LISTEN` overrides).
    pub listen: &'static str,
    /// The public OpenAPI document served at `GET /openapi.json`.
    pub openapi_json: &'static str,
    /// Largest request body accepted, in bytes.
    pub max_body: u64,
    pub services: &'static [Service],
    pub routes: &'static [Route],
    /// The rate-limit policies routes refer to (`Route::rate_limits`).
    pub rate_limits: &'static [RateLimit],
    /// The security schemes the manifest configures, which `Requirement::scheme` names.
    pub schemes: &'static [auth::Scheme],
    /// Where the rate limits are counted (`rate_limits.store`).
    pub rate_limit_store: Store,
    /// `gateway.trusted_proxies`: CIDR blocks (`10.0.0.0/8`, `::1/128`) of the proxies
    /// whose `X-Forwarded-For` tells the client's address.
    pub trusted_proxies: &'static [&'static str],
    /// The environment variable holding the OTLP collector's URL (the manifest's
    /// `observability.otlp_endpoint_env`); spans are exported only when it is set and
    /// not empty.
    pub otlp_endpoint_env: Option<&'static str>,
}

/// One backend service and its upstream settings.
#[derive(Debug)]
pub struct Service {
    /// The manifest's service key, e.g. `users`.
    pub name: &'static str,
    /// The environment variable that overrides `urls`, e.g. `GATEWAY_UPSTREAM_USERS`.
    pub env: &'static str,
    /// Base URLs of the instances (`http://host:port/optional/prefix`).
    pub urls: &'static [&'static str],
    /// Instances found in DNS instead of `urls` (the environment override still wins).
    pub discovery: Option<&'static Discovery>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Its CORS policy; `None`: cross-origin requests get no CORS headers, and
    /// preflights are refused.
    pub cors: Option<&'static Cors>,
    /// Balancing, health checks, breakers, retries, total timeout and concurrency limit
    /// (`upstream::Policy::DEFAULT` when the manifest sets none).
    pub resilience: upstream::Policy,
}

/// An HTTP method a route can have (those of an OpenAPI path item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Options,
    Head,
    Patch,
    Trace,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
        }
    }

    pub fn from_http(method: &http::Method) -> Option<Method> {
        Some(match *method {
            http::Method::GET => Method::Get,
            http::Method::PUT => Method::Put,
            http::Method::POST => Method::Post,
            http::Method::DELETE => Method::Delete,
            http::Method::OPTIONS => Method::Options,
            http::Method::HEAD => Method::Head,
            http::Method::PATCH => Method::Patch,
            http::Method::TRACE => Method::Trace,
            _ => return None,
        })
    }
}

/// One public route: an operation of a service's spec.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// Public path template, e.g. `/api/users/{id}` or `/api/compare/{base}...{head}`.
    pub path: &'static str,
    /// The operation's path in its spec, e.g. `/users/{id}` (for logs and docs).
    pub upstream_path: &'static str,
    /// Index into `Gateway::services`.
    pub service: usize,
    pub operation_id: &'static str,
    pub auth: Auth,
    /// The operation's `requestBody`: required or not, its media types, and the
    /// validators of its JSON schemas.
    pub body: BodySpec,
    /// Indices into `Gateway::rate_limits` of the policies that apply (gateway, service,
    /// operation); every one must allow the request.
    pub rate_limits: &'static [usize],
    /// Parses and checks the request's parameters and builds the upstream path.
    pub handler: Handler,
    /// The operation's declared responses, when its service validates responses
    /// (`validate_responses` in the manifest); `None`: responses are not checked.
    pub responses: Option<&'static [responses::ResponseSpec]>,
}

/// A generated handler: parameters in, upstream path (or a 400 problem) out.
pub type Handler = fn(&Request<'_>) -> Result<Forward, Problem>;

/// The auth decision made at compile time from the spec's `security` and the manifest.
#[derive(Debug)]
pub enum Auth {
    /// `public: true` in the manifest, or an empty security requirement in the spec.
    Public,
    /// Credentials are required. The alternatives are OR'd; the requirements inside one
    /// alternative are AND'd.
    Required {
        /// The `WWW-Authenticate` value sent with a 401.
        challenge: &'static str,
        alternatives: &'static [&'static [Requirement]],
    },
}

/// One security scheme of a requirement, with the scopes it needs.
#[derive(Debug)]
pub struct Requirement {
    pub scheme: &'static str,
    pub scopes: &'static [&'static str],
}
