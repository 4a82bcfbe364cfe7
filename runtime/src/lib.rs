//! The runtime every generated gateway links.
//!
//! A generated crate is data (the [`Gateway`], [`Service`] and [`Route`] statics) plus
//! straight-line handler functions that parse and check one operation's parameters. All
//! async code, generics and I/O live here, compiled once, so that an edit to a generated
//! crate rebuilds in about a second (DESIGN.md, "Generated code is data").
//!
//! # The public API
//!
//! This file is the runtime's whole public surface: re-exports only, nothing defined
//! here. Every `openapi_gateway_runtime::…` path that generated code (and the tests, benches and
//! embedders) names is one of them, so the internals can move without changing a byte of
//! any generated crate. The namespaces below mirror what the compiler emits: the route
//! table at the root, then one module per kind of check or setting.
//!
//! # The internals
//!
//! The folders are the stages of a request, and each may use only those listed before it
//! (`tests/layering.rs` enforces this, and that no file imports another in a cycle):
//!
//! | folder | owns |
//! |---|---|
//! | `base` | wire formats and vocabulary: problems, bodies, trace context, Prometheus text, methods |
//! | `check` | what generated handlers call: parameters, JSON, forms, bodies, responses |
//! | `edge` | edge security: auth (JWT, JWKS, API keys), rate limits and their stores, client address, CORS |
//! | `proxy` | upstreams: instances, balancing, breakers, health, retries, discovery, forwarding |
//! | `gateway.rs` | the compiled tables that tie the stages' settings together |
//! | `observe` | the request metrics and `/metrics` page, the access log, OTLP spans |
//! | `serve` | start-up and settings, the listener, dispatch of a request, the router, the admin listener |
#![forbid(unsafe_code)]

mod base;
mod check;
mod edge;
mod gateway;
mod observe;
mod proxy;
mod serve;

pub use base::method::Method;
pub use base::problem::{FieldError, MAX_FIELD_ERRORS, PROBLEM_JSON, Problem};
pub use check::body::BodySpec;
pub use check::params::{Errors, Forward, Request, UpstreamPath};
pub use edge::auth::{Auth, Requirement};
pub use edge::cors::Cors;
pub use edge::ratelimit::{OnStoreFailure, RateKey, RateLimit, RedisStore, Store};
pub use gateway::{Connections, Gateway, Handler, PathType, Route};
pub use proxy::policy::{Discovery, DnsRecord, Service};
pub use serve::start::{
    Config, DEFAULT_ADMIN_LISTEN, DEFAULT_SHUTDOWN_TIMEOUT, StartError, run, serve,
};
pub use uuid::Uuid;

/// Parameters: the request a generated handler reads, the parsers and bound checks of
/// scalar values, and the upstream path it builds.
pub mod params {
    pub use crate::check::params::{
        Bound, Errors, Forward, Item, Parse, Request, UpstreamPath, boolean, int_multiple_of,
        int_range, int32, int64, length, number, number_range, parse_query, string, uuid,
    };
}

/// Styled parameters: objects (`deepObject`, `form`, `simple`), cookies and delimited
/// arrays, and the shapes their values are checked against.
pub mod styled {
    pub use crate::check::styled::{In, Shape, Style, cookie_values};
}

/// JSON bodies: the parsed document generated validators read, the pointer and failure
/// collector they write, and one helper per schema keyword (see docs/validation.md).
pub mod json {
    pub use crate::check::json::{
        Array, BodyErrors, Bound, Document, Engine, Enum, Format, Items, Members, Number, Object,
        OwnedValue, Pattern, Pointer, Type, Validate, Value, check, check_owned, equal, is_integer,
        parse,
    };
}

/// The work request parsing did on this thread, counted only with the `steps` feature
/// (the tests' bound on work per byte of input).
#[cfg(feature = "steps")]
pub mod steps {
    pub use crate::check::steps::take;
}

/// Urlencoded and multipart bodies: what generated code declares of them.
pub mod form {
    pub use crate::check::form::{Encoding, FormBody, FormKind};
}

/// Upstream responses checked against the operation's declared responses
/// (`validate_responses`).
pub mod responses {
    pub use crate::check::responses::{
        MAX_VALIDATED, ResponseSpec, Status, Verdict, check_body, find,
    };
}

/// Security schemes as compiled from the manifest, and their verification.
pub mod auth {
    pub use crate::edge::auth::{
        ApiKey, ApiKeyIn, Auth, Authenticated, Basic, Claims, DEFAULT_JWKS_REFETCH_INTERVAL,
        Failure, Jwks, JwksUrl, Jwt, KeySource, Requirement, Scheme, SchemeKind, Verifiers,
        install_crypto_provider,
    };
}

/// Rate-limit policies and the in-memory GCRA limiter.
pub mod ratelimit {
    pub use crate::edge::ratelimit::{
        Limiter, MAX_KEYS, MAX_TABLE_BYTES, OnStoreFailure, RateKey, RateLimit, RedisStore,
        SHARD_CAPACITY, SHARDS, Store,
    };
}

/// A service's upstream settings (`upstream` in the manifest) and its running upstream.
pub mod upstream {
    pub use crate::proxy::instance::Instance;
    pub use crate::proxy::policy::{
        Balance, Breaker, Discovery, DnsRecord, HashOn, HealthCheck, OperationTimeouts, Outlier,
        Policy, Retries, Service,
    };
    pub use crate::proxy::upstream::{Upstream, Upstreams};
}
