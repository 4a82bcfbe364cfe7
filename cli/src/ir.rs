//! The IR: a closed model of one gateway, built by `lower`, checked by `check`, read by `emit`.
//!
//! No openapiv3 or YAML type appears here, every `$ref` is resolved, and every identifier
//! carries its wire name beside its Rust name (chosen once, for all names of a module at
//! once, in `lower::names`). That keeps `emit` a plain translation and makes a second
//! input format cheap.

use std::fmt;

use crate::diag::Location;

#[derive(Debug, Clone)]
pub struct Gateway {
    /// The crate name, e.g. `shop-gateway`.
    pub name: String,
    pub listen: String,
    pub max_body: u64,
    /// The deadlines and the cap of client connections (`gateway.limits`).
    pub connections: Connections,
    /// Most pairs, parts or members one place of a request may hold.
    pub max_fields: usize,
    pub services: Vec<Service>,
    /// Sorted by public path, then method: the order of every listing.
    pub routes: Vec<Route>,
    /// The operations of the specs that `include`/`exclude` leave out, in spec order.
    pub excluded: Vec<Excluded>,
    /// The rate-limit policies routes refer to, in the manifest's order.
    pub rate_limits: Vec<RateLimit>,
    /// Failed authentications allowed per client address (`rate_limits.auth_failures`);
    /// `None` when off, or when no scheme is configured.
    pub auth_failures: Option<RateLimit>,
    /// Where the rate limits are counted.
    pub rate_limit_store: RateLimitStore,
    /// CIDR blocks of the proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// The security schemes the manifest configures and the specs declare.
    pub schemes: Vec<Scheme>,
    /// The public OpenAPI document (3.0.3) served at `/openapi.json`.
    pub openapi: serde_json::Value,
    /// The environment variable naming the OTLP collector spans are exported to.
    pub otlp_endpoint_env: Option<String>,
    /// The API reference page (`gateway.docs`), if the manifest asks for one.
    pub docs: Option<Docs>,
}

/// Where the API reference page of `Gateway::openapi` is served.
#[derive(Debug, Clone)]
pub struct Docs {
    /// A literal path (`/docs`); the page's files are served one segment below it.
    pub path: String,
    /// `gateway.docs.path` in the manifest.
    pub location: Location,
}

/// An operation a service's `include`/`exclude` leaves out: no route, no validator, no
/// entry in the public document.
#[derive(Debug, Clone)]
pub struct Excluded {
    pub service: usize,
    pub method: Method,
    /// As the spec writes it.
    pub spec_path: String,
    /// Where it would have been published.
    pub public_path: String,
    pub operation_id: String,
    /// The selector that excludes it, e.g. `exclude.tags: internal`, or `not in include`.
    pub reason: String,
}

/// The runtime's `Connections`, durations in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Connections {
    pub header_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub send_timeout_ms: u64,
    /// `None`: derived from the file-descriptor limit at start.
    pub max_connections: Option<u32>,
}

/// A security scheme and how the gateway verifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheme {
    /// Its `components.securitySchemes` name.
    pub name: String,
    pub kind: SchemeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemeKind {
    Jwt(Jwt),
    ApiKey {
        /// Header, query or cookie.
        location: ParamIn,
        /// Header names lower-cased.
        name: String,
        keys: KeySource,
        /// Removed from the request before it is forwarded.
        strip: bool,
    },
    /// HTTP Basic, checked against htpasswd lines.
    Basic {
        users: KeySource,
        /// Keep the client's `Authorization` header when forwarding.
        forward_authorization: bool,
    },
}

/// How a JWT scheme is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    /// Algorithm names, all of one family.
    pub algorithms: Vec<String>,
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    pub max_token: u64,
    /// Token types (`typ`) accepted when a token names one.
    pub types: Vec<String>,
    /// (claim, lower-case header name).
    pub forward_claims: Vec<(String, String)>,
    pub strip_authorization: bool,
}

/// Where key material is read when the gateway starts (never compiled in).
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Env(String),
    File(String),
    /// A JWK set fetched over HTTPS at start and kept fresh (JWT schemes only).
    Jwks(Jwks),
}

/// Where a JWT scheme fetches its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwks {
    pub url: JwksUrl,
    /// A PEM file of extra CA certificates, read at start.
    pub ca_file: Option<String>,
    /// Refresh interval when the JWKS response has no `max-age`, in seconds.
    pub refresh_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksUrl {
    /// Written in the manifest (checked: https, or http to loopback).
    Literal(String),
    /// The environment variable holding it.
    Env(String),
}

impl Gateway {
    /// The crate's library name (`shop_gateway`).
    pub fn lib_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    /// The manifest's key, e.g. `users`.
    pub key: String,
    /// The Rust module holding its handlers.
    pub module: String,
    /// `GATEWAY_UPSTREAM_USERS`.
    pub env: String,
    pub urls: Vec<String>,
    /// Instances found in DNS instead of `urls` (then empty).
    pub discovery: Option<Discovery>,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Named types (parameter enums) of this service's module.
    pub enums: Vec<EnumType>,
    /// The JSON body validators of this service's module (`Body::validators` and the
    /// schemas themselves refer to them by index).
    pub validators: Vec<Validator>,
    pub cors: Option<Cors>,
    /// Balancing, retries, timeouts, health checks, breaker, concurrency limit.
    pub resilience: crate::upstream::Resilience,
}

/// How a service's instances are found in DNS.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub dns: String,
    /// The instances' port for `A`/`AAAA` records; 0 for SRV (the records carry it).
    pub port: u16,
    pub record: DnsRecord,
    pub interval_ms: u64,
    pub scheme: String,
    pub nameserver: Option<String>,
}

/// Which DNS records list a service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    /// `A` and `AAAA`.
    A,
    Srv,
}

impl Discovery {
    /// One line for docs: `` `users.internal` (A/AAAA, port 8000) ``.
    pub fn summary(&self) -> String {
        match self.record {
            DnsRecord::A => format!("`{}` (A/AAAA, port {})", self.dns, self.port),
            DnsRecord::Srv => format!("`{}` (SRV)", self.dns),
        }
    }
}

/// A rate-limit policy: `count` requests per `period_secs` on average, `burst` at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub name: String,
    pub count: u64,
    pub period_secs: u64,
    pub burst: u64,
    pub key: RateKey,
    /// The leading bits of an IPv6 client's address it is counted by.
    pub ipv6_prefix: u8,
    /// `on_store_failure: deny` (else `allow`).
    pub deny_on_store_failure: bool,
    /// `headers: always` (else `on_refusal`).
    pub allowed_headers: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RateKey {
    Ip,
    /// Lower-case header name.
    Header(String),
    /// The verified identity (API-key consumer or token `sub`).
    Consumer,
    /// A claim of the verified token.
    Claim(String),
}

/// Where the rate limits are counted.
#[derive(Debug, Clone, PartialEq)]
pub enum RateLimitStore {
    Memory,
    /// Redis, at the URL in this environment variable (read at start).
    Redis {
        url_env: String,
        timeout_ms: u64,
    },
}

/// A service's CORS policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    /// Empty: the methods of each path.
    pub allow_methods: Vec<Method>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    /// Seconds.
    pub max_age: Option<u64>,
}

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
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Put,
        Method::Post,
        Method::Delete,
        Method::Options,
        Method::Head,
        Method::Patch,
        Method::Trace,
    ];

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

    /// The variant name in `openapi_gateway_runtime::Method`.
    pub fn variant(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Delete => "Delete",
            Method::Options => "Options",
            Method::Head => "Head",
            Method::Patch => "Patch",
            Method::Trace => "Trace",
        }
    }

    /// The key of this method in an OpenAPI path item.
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Options => "options",
            Method::Head => "head",
            Method::Patch => "patch",
            Method::Trace => "trace",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    /// Literals and parameters in one segment (`{base}...{head}`, `v{major}`), never two
    /// parameters side by side: each parameter ends where the literal after it starts.
    Mixed(Vec<Piece>),
}

/// A piece of a mixed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Param(String),
}

/// A path template such as `/users/{id}/orders`, split into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
}

impl PathTemplate {
    /// The template with its parameters' names left out (`/users/{}`): what a request
    /// sees of it, so two templates of one shape match the same paths.
    pub fn shape(&self) -> String {
        let mut text = String::new();
        for segment in &self.segments {
            text.push('/');
            match segment {
                Segment::Literal(literal) => text.push_str(literal),
                Segment::Param(_) => text.push_str("{}"),
                Segment::Mixed(pieces) => {
                    for piece in pieces {
                        match piece {
                            Piece::Literal(literal) => text.push_str(literal),
                            Piece::Param(_) => text.push_str("{}"),
                        }
                    }
                }
            }
        }
        text
    }

    /// Parameter names in template order (the order the runtime captures them in).
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().flat_map(|s| {
            let names: Vec<&str> = match s {
                Segment::Param(name) => vec![name.as_str()],
                Segment::Literal(_) => Vec::new(),
                Segment::Mixed(pieces) => pieces
                    .iter()
                    .filter_map(|p| match p {
                        Piece::Param(name) => Some(name.as_str()),
                        Piece::Literal(_) => None,
                    })
                    .collect(),
            };
            names
        })
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/{{{name}}}")?,
                Segment::Mixed(pieces) => {
                    f.write_str("/")?;
                    for piece in pieces {
                        match piece {
                            Piece::Literal(text) => f.write_str(text)?,
                            Piece::Param(name) => write!(f, "{{{name}}}")?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Index into `Gateway::services`.
    pub service: usize,
    pub method: Method,
    /// base_path + mount + spec path.
    pub public_path: PathTemplate,
    /// The spec's path, forwarded under the upstream's base URL.
    pub upstream_path: PathTemplate,
    /// The path's key in the spec, as written.
    pub spec_path: String,
    pub operation_id: String,
    /// Rust name of the handler function (snake case).
    pub handler: String,
    /// Rust name of the parameters struct (camel case).
    pub params_type: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub auth: Auth,
    /// Indices into `Gateway::rate_limits`: gateway's, service's, operation's (no repeats).
    pub rate_limits: Vec<usize>,
    pub summary: Option<String>,
    /// The operation in its spec (file and pointer), for diagnostics.
    pub location: Location,
    /// The declared responses, when the service validates responses; `None` otherwise.
    pub responses: Option<Vec<ResponseCheck>>,
    /// What each path parameter's value must look like for the route to be tried, in
    /// template order; empty unless another route of its service has the same method and
    /// path shape (`lower::path::type_apart`).
    pub path_types: Vec<PathType>,
}

/// The runtime's `PathType`: what a whole-segment path parameter's raw value must look
/// like for its route to be tried, narrowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathType {
    Any,
    Enum(Vec<String>),
    Boolean,
    Uuid,
    Integer,
    Number,
}

impl PathType {
    /// The router tries lower ranks first.
    pub fn rank(&self) -> u8 {
        match self {
            PathType::Enum(_) | PathType::Boolean => 0,
            PathType::Uuid => 1,
            PathType::Integer => 2,
            PathType::Number => 3,
            PathType::Any => 4,
        }
    }

    /// Whether the router always knows which of the two a value goes to: they differ, and
    /// where neither is tried first, no value fits both.
    pub fn apart(&self, other: &PathType) -> bool {
        let fits = |ty: &PathType, value: &str| match ty {
            PathType::Boolean => value == "true" || value == "false",
            PathType::Enum(values) => values.iter().any(|v| v == value),
            _ => false,
        };
        match (self, other) {
            (a, b) if a == b => false,
            (PathType::Enum(values), b) | (b, PathType::Enum(values)) if b.rank() == 0 => {
                !values.iter().any(|value| fits(b, value))
            }
            _ => true,
        }
    }
}

impl fmt::Display for PathType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathType::Any => f.write_str("any"),
            PathType::Enum(values) => write!(f, "one of {}", values.join(", ")),
            PathType::Boolean => f.write_str("boolean"),
            PathType::Uuid => f.write_str("uuid"),
            PathType::Integer => f.write_str("integer"),
            PathType::Number => f.write_str("number"),
        }
    }
}

/// One declared response of an operation, as response validation checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseCheck {
    pub status: ResponseStatus,
    /// The validator (index into the service's `validators`) of its JSON schema.
    pub validator: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Code(u16),
    /// `2XX`: the hundreds digit.
    Range(u16),
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamIn {
    Path,
    Query,
    Header,
    Cookie,
}

impl ParamIn {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Param {
    /// As on the wire (header names lower-cased).
    pub name: String,
    /// Rust field name.
    pub field: String,
    pub location: ParamIn,
    pub required: bool,
    pub ty: ParamType,
    /// `form` explode (query arrays): `?a=1&a=2` rather than `?a=1,2`.
    pub explode: bool,
    /// How the value is written (OpenAPI `style`, its default for the place if absent).
    pub style: ParamStyle,
    /// `allowEmptyValue: true` (query only): `?name=` is a value, not an error.
    pub allow_empty: bool,
    /// Used when the parameter is absent.
    pub default: Option<Scalar>,
    /// Checked on the value (for arrays: on the array as a whole).
    pub constraints: Constraints,
    /// Checked on each item of an array.
    pub item_constraints: Constraints,
}

/// The schema keywords a parameter's parser enforces beyond its type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    pub minimum: Option<Bound>,
    pub maximum: Option<Bound>,
    /// Integers only (exact); a number's `multipleOf` is reported as not checked.
    pub multiple_of: Option<i64>,
    /// In Unicode code points.
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    /// ECMA-262, unanchored; checked at compile time to compile.
    pub pattern: Option<String>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub unique_items: bool,
    /// A string format the gateway checks (`uuid` is a type of its own).
    pub format: Option<JsonFormat>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: BoundValue,
    pub exclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoundValue {
    Int(i64),
    Number(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    Int32,
    Int64,
    Number,
    Boolean,
    String,
    Uuid,
    /// Index into the service's `enums`.
    Enum(usize),
    Array(Box<ParamType>),
    /// An object, read in the parameter's style into a JSON object typed by `shape`, then
    /// checked by the validator at this index of the service's `validators`.
    Object {
        validator: usize,
        shape: ParamShape,
    },
    /// A shape this version does not parse (objects, cookies, ...): kept as the raw text
    /// and reported as a warning at compile time.
    Unchecked,
}

/// OpenAPI parameter styles the gateway parses (`label` and `matrix` are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStyle {
    /// Query and cookie.
    Form,
    /// Query objects: `?filter[size]=3`.
    DeepObject,
    PipeDelimited,
    SpaceDelimited,
    /// Path and header.
    Simple,
}

/// The JSON type each piece of an object parameter's text is read as.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamShape {
    String,
    Integer,
    Number,
    Boolean,
    Array(Box<ParamShape>),
    Object(Vec<(String, ParamShape)>),
    /// No single type: kept as the text.
    Any,
}

/// A default value of a scalar parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Int(i64),
    Number(f64),
    Bool(bool),
    String(String),
    /// Index of the variant in the parameter's enum.
    Variant(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumType {
    pub name: String,
    /// (wire value, Rust variant name)
    pub variants: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub required: bool,
    pub media_types: Vec<String>,
    /// JSON media types (lower-case, without parameters) with a schema, and the index of
    /// its validator in the service's `validators`.
    pub validators: Vec<(String, usize)>,
    /// Form media types (`application/x-www-form-urlencoded`, `multipart/form-data`) with
    /// a schema.
    pub forms: Vec<FormCheck>,
}

/// What a form body of one media type must be.
#[derive(Debug, Clone, PartialEq)]
pub struct FormCheck {
    /// Lower-case, without parameters.
    pub media_type: String,
    pub multipart: bool,
    /// The schema's properties and their types.
    pub shape: ParamShape,
    /// The properties the schema requires.
    pub required: Vec<String>,
    pub encoding: Vec<FormEncoding>,
    /// The validator of the schema (urlencoded forms).
    pub validator: Option<usize>,
}

/// One `encoding` entry of a form media type.
#[derive(Debug, Clone, PartialEq)]
pub struct FormEncoding {
    pub property: String,
    pub explode: bool,
    pub deep_object: bool,
    /// Lower-case media ranges.
    pub content_types: Vec<String>,
}

/// One JSON Schema compiled into a function of the service's module. Component schemas
/// get one each (shared by every body that refers to them, recursion included); every
/// inline subschema gets its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Validator {
    /// The Rust function's name, e.g. `validate_order`.
    pub function: String,
    /// What it checks, for its doc comment: a component name or a place in the spec.
    pub origin: String,
    pub schema: JsonSchema,
}

/// The keywords of one schema a validator enforces. Subschemas are indices into the
/// service's `validators`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonSchema {
    /// `None`: any type.
    pub types: Option<Vec<JsonType>>,
    /// `null` is accepted whatever the other keywords say (OpenAPI 3.0 `nullable`).
    pub nullable: bool,
    /// The allowed values, a JSON array.
    pub enumeration: Option<serde_json::Value>,
    pub minimum: Option<Bound>,
    pub maximum: Option<Bound>,
    /// The factor `mantissa × 10^exponent` (> 0), checked exactly in decimal.
    pub multiple_of: Option<(u64, i32)>,
    /// In Unicode code points.
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    /// ECMA-262, unanchored; checked at compile time to compile.
    pub pattern: Option<String>,
    pub format: Option<JsonFormat>,
    pub items: Option<usize>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub unique_items: bool,
    /// In the schema's order.
    pub properties: Vec<(String, usize)>,
    pub required: Vec<String>,
    pub additional: Additional,
    pub min_properties: Option<usize>,
    pub max_properties: Option<usize>,
    pub all_of: Vec<usize>,
    pub any_of: Vec<usize>,
    pub one_of: Vec<usize>,
    pub not: Option<usize>,
    /// With `one_of` or `any_of`: the property whose value names the one to check.
    pub discriminator: Option<Discriminator>,
}

/// `discriminator`: property value -> the validator of the alternative it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Discriminator {
    pub property: String,
    pub mapping: Vec<(String, usize)>,
}

impl JsonSchema {
    /// Whether the schema accepts every value (its validator checks nothing).
    pub fn is_trivial(&self) -> bool {
        // `nullable` only widens a `type`; without one, everything is accepted anyway.
        let rest = JsonSchema {
            nullable: false,
            ..self.clone()
        };
        rest == JsonSchema::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    /// JSON Schema 2020-12 (OpenAPI 3.1): `1.0` is an integer.
    Integer,
    /// Draft 4 (OpenAPI 3.0): an integer is written without a fraction or exponent.
    IntegerLiteral,
    String,
}

/// The string formats a validator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFormat {
    Uuid,
    Date,
    DateTime,
    Time,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Uri,
    Byte,
}

/// `additionalProperties`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Additional {
    #[default]
    Allowed,
    Forbidden,
    Schema(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Public,
    /// Alternatives (OR) of requirements (AND) of schemes with scopes.
    Required {
        alternatives: Vec<Vec<Requirement>>,
        /// `WWW-Authenticate` sent with a 401.
        challenge: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub scheme: String,
    pub scopes: Vec<String>,
}
