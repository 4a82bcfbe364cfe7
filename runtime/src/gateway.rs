//! The compiled gateway: the static tables a generated crate fills in ([`Gateway`], its
//! [`Route`]s) and the handler type its functions have. Each table's parts are the types
//! of the stage that reads them; this file only ties them together, so it sits above the
//! checks, the edge and the proxy, and below observability and the listener that read
//! the whole table.

use std::time::Duration;

use crate::base::method::Method;
use crate::base::problem::Problem;
use crate::check::body::BodySpec;
use crate::check::params::{Forward, Request};
use crate::check::responses::ResponseSpec;
use crate::edge::auth::{Auth, Scheme};
use crate::edge::ratelimit::{RateLimit, Store};
use crate::proxy::policy::Service;

/// The whole gateway, as compiled from the manifest and the specs.
#[derive(Debug)]
pub struct Gateway {
    /// The manifest's `gateway.name`.
    pub name: &'static str,
    /// The version of `gateway` that generated the crate.
    pub generator_version: &'static str,
    /// Default public listen address (`GATEWAY_LISTEN` overrides).
    pub listen: &'static str,
    /// How long client connections may take and stay (`gateway.limits`).
    pub connections: Connections,
    /// The public OpenAPI document served at `GET /openapi.json`.
    pub openapi_json: &'static str,
    /// `gateway.docs.path`: where the API reference page of `openapi_json` is served;
    /// `None`: no page.
    pub docs: Option<&'static str>,
    /// Largest request body accepted, in bytes.
    pub max_body: u64,
    /// Most name/value pairs a query string, a checked form body or a `Cookie` header may
    /// hold, parts a checked multipart body, and members an object parameter (the
    /// manifest's `gateway.limits.max_fields`); 400 beyond.
    pub max_fields: usize,
    pub services: &'static [Service],
    pub routes: &'static [Route],
    /// The rate-limit policies routes refer to (`Route::rate_limits`).
    pub rate_limits: &'static [RateLimit],
    /// `rate_limits.auth_failures`: how many failed authentications a client address may
    /// have (keyed by address; counted in `rate_limit_store`) before its requests to
    /// secured routes are refused unchecked; `None`: unlimited.
    pub auth_failures: Option<&'static RateLimit>,
    /// The security schemes the manifest configures, which `Requirement::scheme` names.
    pub schemes: &'static [Scheme],
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

/// The deadlines and the cap of client connections (`gateway.limits` in the manifest;
/// docs/runtime.md, "Security").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Connections {
    /// From accept to the first complete request head (protocol detection included),
    /// and for HTTP/1 from the first byte of each later head to its end.
    pub header_timeout: Duration,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// How long a response may wait on a client that reads nothing of it.
    pub send_timeout: Duration,
    /// Most client connections open at once; `None`: derived from the file-descriptor
    /// limit at start.
    pub max_connections: Option<u32>,
}

impl Connections {
    /// The manifest's defaults.
    pub const DEFAULT: Connections = Connections {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(75),
        send_timeout: Duration::from_secs(60),
        max_connections: None,
    };
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
    /// What each path parameter's value must look like for this route to be tried, in
    /// template order; empty when none is typed. The compiler types them only where two
    /// routes of one service differ only in their parameters' types.
    pub path_types: &'static [PathType],
    /// The operation's declared responses, when its service validates responses
    /// (`validate_responses` in the manifest); `None`: responses are not checked.
    pub responses: Option<&'static [ResponseSpec]>,
}

/// What a whole-segment path parameter's raw value must look like for its route to be
/// tried. The router tries the narrower first: enums and booleans, then UUIDs, integers,
/// numbers, and any value last. Values are compared percent-decoded, as the parameter's
/// parser reads them; every check is bounded by the type's longest value, so a long
/// segment is refused by its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathType {
    Any,
    /// One of these values.
    Enum(&'static [&'static str]),
    Boolean,
    /// 8-4-4-4-12 hex digits.
    Uuid,
    /// An optional `-` and at most 19 digits.
    Integer,
    /// A JSON number of at most 64 characters.
    Number,
}

impl PathType {
    /// Which is tried first among a node's parameters: lower first.
    pub(crate) fn rank(self) -> u8 {
        match self {
            PathType::Enum(_) | PathType::Boolean => 0,
            PathType::Uuid => 1,
            PathType::Integer => 2,
            PathType::Number => 3,
            PathType::Any => 4,
        }
    }

    /// Whether a raw (still percent-encoded) segment may be a value of this type, read as
    /// the parameter's parser will read it: percent-decoded.
    pub(crate) fn accepts(self, raw: &str) -> bool {
        if self == PathType::Any {
            return true;
        }
        if !raw.contains('%') {
            return self.accepts_decoded(raw);
        }
        // A typed value is short: a long encoded one is refused before it is decoded.
        raw.len() <= 3 * 256
            && percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .is_ok_and(|decoded| self.accepts_decoded(&decoded))
    }

    fn accepts_decoded(self, value: &str) -> bool {
        let bytes = value.as_bytes();
        match self {
            PathType::Any => true,
            PathType::Boolean => value == "true" || value == "false",
            PathType::Enum(values) => values.contains(&value),
            PathType::Uuid => {
                bytes.len() == 36
                    && bytes.iter().enumerate().all(|(i, b)| match i {
                        8 | 13 | 18 | 23 => *b == b'-',
                        _ => b.is_ascii_hexdigit(),
                    })
            }
            PathType::Integer => {
                let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
                (1..=19).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
            }
            PathType::Number => {
                bytes.len() <= 64
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_digit() || b".-+eE".contains(b))
                    && value.parse::<f64>().is_ok_and(f64::is_finite)
            }
        }
    }
}

/// A generated handler: parameters in, upstream path (or a 400 problem) out.
pub type Handler = fn(&Request<'_>) -> Result<Forward, Problem>;
