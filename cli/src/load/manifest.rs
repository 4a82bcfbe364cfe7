//! The gateway manifest (`gateway.yaml`, version 1): raw serde types that mirror the YAML,
//! and the one fallible step that turns them into the span-free [`Manifest`].
//!
//! serde stops at the first error of a value, so each independent part (a top-level section,
//! one service) is deserialized on its own and the errors of all parts are collected.
//! `serde_path_to_error` gives the path of a failure; it becomes a JSON pointer, and
//! [`super::sources::Sources`] turns that into line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::units;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean, pointer_push};
use crate::upstream::Resilience;

mod resilience;
pub use resilience::OperationTimeouts;

/// The manifest, validated. Paths are resolved against the manifest's directory.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: PathBuf,
    pub name: String,
    pub listen: String,
    /// `""` or a prefix like `/api` (leading slash, no trailing slash).
    pub base_path: String,
    /// The manifest's `output`, resolved against its directory.
    pub output: Option<PathBuf>,
    pub max_body: u64,
    pub services: Vec<ServiceConfig>,
    /// The security schemes the manifest configures, in its order.
    pub auth: Vec<AuthScheme>,
    /// The rate-limit policies the manifest defines, in its order.
    pub rate_limits: Vec<RateLimitPolicy>,
    /// `gateway.rate_limit`: the policy of every route.
    pub rate_limit: Option<String>,
    /// `gateway.validate_responses`: check upstream responses against the specs (a
    /// service may override it).
    pub validate_responses: bool,
    /// `rate_limits.store`.
    pub rate_limit_store: RateLimitStore,
    /// `gateway.trusted_proxies`: CIDR blocks, normalized (`10.0.0.0/8`).
    pub trusted_proxies: Vec<String>,
    /// `observability.otlp_endpoint_env`: the variable naming the OTLP collector.
    pub otlp_endpoint_env: Option<String>,
}

/// Where rate limits are counted (docs/manifest.md, "Rate limits").
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RateLimitStore {
    /// In each gateway process.
    #[default]
    Memory,
    /// In one Redis shared by every replica; its URL is read from `url_env` at start.
    Redis { url_env: String, timeout: Duration },
}

/// One entry of `auth`: how to verify the credentials of a spec's security scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthScheme {
    /// The `components.securitySchemes` name.
    pub name: String,
    pub kind: AuthKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthKind {
    Jwt(JwtConfig),
    ApiKey { keys: KeySource },
}

/// `auth.<scheme>.jwt` (docs/manifest.md, "Auth").
#[derive(Debug, Clone, PartialEq)]
pub struct JwtConfig {
    /// Algorithm names, all of one family.
    pub algorithms: Vec<String>,
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    pub max_token: u64,
    /// (claim, lower-case header name).
    pub forward_claims: Vec<(String, String)>,
    pub strip_authorization: bool,
}

/// Where key material is read at the gateway's start.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Env(String),
    File(String),
    /// A JWK set fetched over HTTPS and kept fresh (JWT schemes only).
    Jwks(JwksSource),
}

/// `jwks_url` or `jwks_url_env`, with `jwks_ca_file` and `jwks_refresh`.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSource {
    pub url: JwksUrl,
    pub ca_file: Option<String>,
    pub refresh: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksUrl {
    /// An https URL (or http to a loopback host), checked here.
    Literal(String),
    /// The environment variable holding the URL at start-up.
    Env(String),
}

/// One policy of `rate_limits.policies` (docs/manifest.md, "Rate limits").
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitPolicy {
    pub name: String,
    /// Requests per `period`.
    pub count: u64,
    pub period: Duration,
    /// Requests at once; defaults to `count`.
    pub burst: u64,
    pub key: RateKey,
    /// `on_store_failure: deny`; `false` is `allow`, the default.
    pub deny_on_store_failure: bool,
    /// `headers: always` (the default): allowed answers carry the `RateLimit-*` fields
    /// too; `on_refusal`: only 429s do.
    pub allowed_headers: bool,
}

/// What a policy counts requests by.
#[derive(Debug, Clone, PartialEq)]
pub enum RateKey {
    Ip,
    /// A request header, lower-cased.
    Header(String),
    /// The verified identity: API-key consumer or token `sub`.
    Consumer,
    /// A claim of the verified token.
    Claim(String),
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub key: String,
    /// The spec path as written, joined to the manifest's directory.
    pub spec: PathBuf,
    /// `""` or a prefix like `/users`.
    pub mount: String,
    pub urls: Vec<String>,
    /// `upstream.discovery`: instances from DNS instead of `urls` (then empty).
    pub discovery: Option<DiscoveryConfig>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// `unsecured: public`: operations whose spec declares no `security` are public.
    pub unsecured_public: bool,
    /// The service's own `cors`, else the gateway's.
    pub cors: Option<CorsPolicy>,
    /// `services.<s>.rate_limit`: the policy of every route of the service.
    pub rate_limit: Option<String>,
    pub operations: IndexMap<String, OperationPolicy>,
    /// Balancing, weights, retries, timeouts, health checks, breaker, concurrency limit.
    pub resilience: Resilience,
    /// `services.<s>.validate_responses`, overriding the gateway's.
    pub validate_responses: Option<bool>,
}

/// `upstream.discovery` (docs/manifest.md, "DNS discovery").
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    /// The name to resolve, as written (a trailing dot makes it absolute).
    pub dns: String,
    /// The instances' port for `a` records; 0 for `srv` (the records carry it).
    pub port: u16,
    pub record: DnsRecord,
    pub interval: Duration,
    pub scheme: String,
    /// `ip:port` of the nameserver to ask instead of the system's.
    pub nameserver: Option<String>,
}

/// Which DNS records list a service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    /// `A` and `AAAA`.
    A,
    Srv,
}

/// Which browser origins may call a service, and how (docs/manifest.md, "CORS").
#[derive(Debug, Clone, PartialEq)]
pub struct CorsPolicy {
    pub allow_origins: Vec<String>,
    /// Upper-case; empty: the methods of each path.
    pub allow_methods: Vec<String>,
    /// Lower-case.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u64>,
}

/// Per-operation policy, from the manifest or a spec's `x-gateway` extension.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationPolicy {
    pub public: Option<bool>,
    pub rate_limit: Option<String>,
    /// Read from the manifest only (docs/manifest.md, "Upstream resilience").
    pub timeouts: Option<OperationTimeouts>,
}

const TOP_LEVEL: &[&str] = &[
    "version",
    "output",
    "gateway",
    "services",
    "auth",
    "rate_limits",
    "observability",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    jwt: Option<RawJwt>,
    api_key: Option<RawApiKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    algorithms: Option<Vec<String>>,
    key_env: Option<String>,
    key_file: Option<String>,
    jwks_url: Option<String>,
    jwks_url_env: Option<String>,
    jwks_ca_file: Option<String>,
    jwks_refresh: Option<String>,
    issuer: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    leeway: Option<String>,
    max_token: Option<String>,
    #[serde(default)]
    forward_claims: IndexMap<String, String>,
    #[serde(default)]
    strip_authorization: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    keys_env: Option<String>,
    keys_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    name: String,
    listen: Option<String>,
    base_path: Option<String>,
    #[serde(default)]
    limits: RawLimits,
    cors: Option<RawCors>,
    rate_limit: Option<String>,
    validate_responses: Option<bool>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawCors {
    allow_origins: Vec<String>,
    #[serde(default)]
    allow_methods: Vec<String>,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    allow_credentials: bool,
    max_age: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    spec: String,
    mount: Option<String>,
    upstream: RawUpstream,
    unsecured: Option<String>,
    cors: Option<RawCors>,
    rate_limit: Option<String>,
    #[serde(default)]
    operations: IndexMap<String, OperationPolicy>,
    validate_responses: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    #[serde(default)]
    urls: Vec<resilience::RawUrl>,
    balance: Option<String>,
    hash_on: Option<String>,
    #[serde(default)]
    timeouts: RawTimeouts,
    outlier_detection: Option<serde_yaml::Value>,
    max_in_flight: Option<u32>,
    retries: Option<serde_yaml::Value>,
    health_check: Option<serde_yaml::Value>,
    circuit_breaker: Option<serde_yaml::Value>,
    discovery: Option<RawDiscovery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    dns: String,
    port: Option<u16>,
    record: Option<String>,
    interval: Option<String>,
    scheme: Option<String>,
    nameserver: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObservability {
    otlp_endpoint_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    connect: Option<String>,
    request: Option<String>,
    total: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    store: Option<serde_yaml::Value>,
    #[serde(default)]
    policies: IndexMap<String, RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    rate: String,
    burst: Option<u64>,
    key: Option<String>,
    on_store_failure: Option<String>,
    headers: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    redis: RawRedis,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    url_env: String,
    timeout: Option<String>,
}

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_MAX_BODY: u64 = 1 << 20;
const DEFAULT_CONNECT: Duration = Duration::from_secs(1);
const DEFAULT_REQUEST: Duration = Duration::from_secs(30);
/// How long a rate-limit check waits for Redis, by default and at most.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(50);
const MAX_STORE_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

/// Context for turning raw values into domain values with located diagnostics.
struct Ctx<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
}

impl Ctx<'_> {
    fn at(&self, pointer: &str) -> Location {
        Location::new(self.file, pointer)
    }

    fn error(&mut self, code: &'static str, pointer: &str, message: String, help: &str) {
        let d = Diagnostic::error(code, message).at(self.at(pointer));
        self.diags
            .push(if help.is_empty() { d } else { d.help(help) });
    }

    /// Deserializes one part; its error becomes a located diagnostic.
    fn part<T: DeserializeOwned>(&mut self, pointer: &str, value: serde_yaml::Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let mut at = pointer.to_owned();
                for segment in error.path().iter() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index } => {
                            at = pointer_push(&at, &index.to_string())
                        }
                        serde_path_to_error::Segment::Map { key } => at = pointer_push(&at, key),
                        _ => {}
                    }
                }
                self.diags
                    .push(serde_diagnostic(self.file, at, &error.inner().to_string()));
                None
            }
        }
    }
}

/// Maps serde's messages to our codes, with a did-you-mean for unknown keys.
fn serde_diagnostic(file: &Path, pointer: String, message: &str) -> Diagnostic {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s)
            .collect();
        let help = did_you_mean(name, candidates.iter().copied())
            .unwrap_or_else(|| format!("known keys here: {}", candidates.join(", ")));
        return Diagnostic::error(
            "gateway::manifest::unknown_key",
            format!("unknown key `{name}`"),
        )
        .at(Location::key(file, pointer))
        .help(help);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Diagnostic::error(
            "gateway::manifest::missing_key",
            format!("missing required key `{name}`"),
        )
        .at(Location::new(file, pointer))
        .help(format!("add `{name}:` here (docs/manifest.md)"));
    }
    Diagnostic::error("gateway::manifest::invalid_value", message.to_owned())
        .at(Location::new(file, pointer))
        .help("see docs/manifest.md for the expected shape")
}

/// Parses and validates the manifest text. `file` is the path as the user gave it.
pub fn parse(file: &Path, text: &str, diags: &mut Diagnostics) -> Option<Manifest> {
    let root: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            let location = match error.location() {
                Some(l) => Location::at(file, l.line(), l.column()),
                None => Location::new(file, ""),
            };
            diags.push(
                Diagnostic::error(
                    "gateway::manifest::syntax",
                    format!("the manifest is not valid YAML: {error}"),
                )
                .at(location)
                .help("check the indentation and quoting around this line"),
            );
            return None;
        }
    };
    let serde_yaml::Value::Mapping(top) = root else {
        diags.push(
            Diagnostic::error(
                "gateway::manifest::invalid_value",
                "the manifest must be a mapping with `version`, `gateway` and `services`",
            )
            .at(Location::new(file, "")),
        );
        return None;
    };
    let mut ctx = Ctx { file, diags };
    let errors_before = ctx.diags.list.len();
    let mut sections: IndexMap<String, serde_yaml::Value> = IndexMap::new();
    for (key, value) in top {
        let key = match key {
            serde_yaml::Value::String(s) => s,
            other => format!("{other:?}"),
        };
        if !TOP_LEVEL.contains(&key.as_str()) {
            let help = did_you_mean(&key, TOP_LEVEL.iter().copied())
                .unwrap_or_else(|| format!("known keys here: {}", TOP_LEVEL.join(", ")));
            ctx.diags.push(
                Diagnostic::error(
                    "gateway::manifest::unknown_key",
                    format!("unknown key `{key}`"),
                )
                .at(Location::key(file, pointer_push("", &key)))
                .help(help),
            );
            continue;
        }
        sections.insert(key, value);
    }

    match sections.get("version") {
        Some(serde_yaml::Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(_) => ctx.error(
            "gateway::manifest::unsupported_version",
            "/version",
            "unsupported manifest version".into(),
            "this gateway reads `version: 1`",
        ),
        None => ctx.error(
            "gateway::manifest::missing_key",
            "",
            "missing required key `version`".into(),
            "add `version: 1` at the top",
        ),
    }

    let output = match sections.get("output") {
        None => None,
        Some(serde_yaml::Value::String(s)) => Some(PathBuf::from(s)),
        Some(_) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                "/output",
                "`output` must be a path".into(),
                "",
            );
            None
        }
    };

    let gateway: Option<RawGateway> = match sections.shift_remove("gateway") {
        Some(value) => ctx.part("/gateway", value),
        None => {
            ctx.error(
                "gateway::manifest::missing_key",
                "",
                "missing required key `gateway`".into(),
                "add `gateway: { name: my-gateway }`",
            );
            None
        }
    };
    let mut name = String::new();
    let mut listen = DEFAULT_LISTEN.to_owned();
    let mut base_path = String::new();
    let mut max_body = DEFAULT_MAX_BODY;
    let mut gateway_cors = None;
    let mut gateway_rate_limit = None;
    let mut validate_responses = false;
    let mut trusted_proxies = Vec::new();
    if let Some(gateway) = gateway {
        gateway_rate_limit = gateway.rate_limit;
        validate_responses = gateway.validate_responses.unwrap_or(false);
        trusted_proxies = trusted(&gateway.trusted_proxies, &mut ctx);
        if valid_crate_name(&gateway.name) {
            name = gateway.name;
        } else {
            ctx.error(
                "gateway::manifest::invalid_name",
                "/gateway/name",
                format!("`{}` cannot name the generated crate", gateway.name),
                "use lowercase ASCII letters, digits and `-`, starting with a letter (e.g. `shop-gateway`)",
            );
        }
        if let Some(l) = gateway.listen {
            if l.parse::<std::net::SocketAddr>().is_ok() {
                listen = l;
            } else {
                ctx.error(
                    "gateway::manifest::invalid_listen",
                    "/gateway/listen",
                    format!("`{l}` is not a socket address"),
                    "use an IP address and a port, e.g. `0.0.0.0:8080`",
                );
            }
        }
        if let Some(b) = gateway
            .base_path
            .and_then(|b| prefix("/gateway/base_path", &b, &mut ctx))
        {
            base_path = b;
        }
        if let Some(size) = gateway.limits.max_body {
            match units::size(&size) {
                Ok(n) => max_body = n,
                Err(message) => ctx.error(
                    "gateway::manifest::invalid_size",
                    "/gateway/limits/max_body",
                    message,
                    "sizes are written like `512KiB`, `1MiB` or `10MB`",
                ),
            }
        }
        if let Some(raw) = gateway.cors {
            gateway_cors = cors("/gateway/cors", raw, &mut ctx);
        }
    }

    let mut policies = Vec::new();
    let mut rate_limits = Vec::new();
    let mut rate_limit_store = RateLimitStore::Memory;
    if let Some(value) = sections.shift_remove("rate_limits")
        && let Some(raw) = ctx.part::<RawRateLimits>("/rate_limits", value)
    {
        if let Some(store) = raw.store.and_then(|value| store(value, &mut ctx)) {
            rate_limit_store = store;
        }
        for (policy_name, policy) in raw.policies {
            let pointer = pointer_push("/rate_limits/policies", &policy_name);
            if let Some(policy) = rate_limit(&policy_name, &pointer, policy, &mut ctx) {
                rate_limits.push(policy);
            }
            // Known even when invalid, so that references to it are not reported too.
            policies.push(policy_name);
        }
    }
    if let Some(name) = &gateway_rate_limit {
        unknown_rate_limit(
            name,
            "/gateway/rate_limit",
            "`gateway`",
            &policies,
            &mut ctx,
        );
    }

    let mut auth = Vec::new();
    if let Some(value) = sections.shift_remove("auth") {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (key, value) in map {
                    let serde_yaml::Value::String(name) = key else {
                        ctx.error(
                            "gateway::manifest::invalid_value",
                            "/auth",
                            "security scheme names must be strings".into(),
                            "",
                        );
                        continue;
                    };
                    let pointer = pointer_push("/auth", &name);
                    if let Some(raw) = ctx.part::<RawScheme>(&pointer, value)
                        && let Some(scheme) = auth_scheme(&name, &pointer, raw, &mut ctx)
                    {
                        auth.push(scheme);
                    }
                }
            }
            serde_yaml::Value::Null => {}
            _ => ctx.error(
                "gateway::manifest::invalid_value",
                "/auth",
                "`auth` must map security scheme names to their settings".into(),
                "",
            ),
        }
    }
    let mut otlp_endpoint_env = None;
    if let Some(value) = sections.shift_remove("observability")
        && let Some(raw) = ctx.part::<RawObservability>("/observability", value)
        && let Some(name) = raw.otlp_endpoint_env
    {
        if valid_env_name(&name) {
            otlp_endpoint_env = Some(name);
        } else {
            ctx.error(
                "gateway::manifest::invalid_value",
                "/observability/otlp_endpoint_env",
                format!("`{name}` is not an environment variable name"),
                "name the variable that holds the collector's URL, e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`",
            );
        }
    }

    let mut services = Vec::new();
    match sections.shift_remove("services") {
        Some(serde_yaml::Value::Mapping(map)) => {
            let dir = file.parent().unwrap_or(Path::new(""));
            for (key, value) in map {
                let serde_yaml::Value::String(key) = key else {
                    ctx.error(
                        "gateway::manifest::invalid_value",
                        "/services",
                        "service keys must be strings".into(),
                        "",
                    );
                    continue;
                };
                let pointer = pointer_push("/services", &key);
                if !valid_service_key(&key) {
                    ctx.diags.push(
                        Diagnostic::error(
                            "gateway::manifest::invalid_name",
                            format!("`{key}` cannot name a service"),
                        )
                        .at(Location::key(file, &pointer))
                        .help("use ASCII letters, digits, `-` and `_`, starting with a letter"),
                    );
                    continue;
                }
                if let Some(raw) = ctx.part::<RawService>(&pointer, value)
                    && let Some(service) =
                        service(&key, &pointer, raw, dir, &policies, &gateway_cors, &mut ctx)
                {
                    services.push(service);
                }
            }
            if services.is_empty() && ctx.diags.list.len() == errors_before {
                ctx.error(
                    "gateway::manifest::no_services",
                    "/services",
                    "the manifest defines no services".into(),
                    "add at least one service with a `spec` and an `upstream`",
                );
            }
        }
        Some(_) => ctx.error(
            "gateway::manifest::invalid_value",
            "/services",
            "`services` must map service names to their settings".into(),
            "",
        ),
        None => ctx.error(
            "gateway::manifest::missing_key",
            "",
            "missing required key `services`".into(),
            "add `services:` with at least one service",
        ),
    }

    let ok = !ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error);
    ok.then(|| Manifest {
        file: file.to_path_buf(),
        name,
        listen,
        base_path,
        output: output.map(|o| file.parent().unwrap_or(Path::new("")).join(o)),
        max_body,
        services,
        auth,
        rate_limits,
        rate_limit: gateway_rate_limit,
        validate_responses,
        rate_limit_store,
        trusted_proxies,
        otlp_endpoint_env,
    })
}

fn service(
    key: &str,
    pointer: &str,
    raw: RawService,
    dir: &Path,
    policies: &[String],
    gateway_cors: &Option<CorsPolicy>,
    ctx: &mut Ctx<'_>,
) -> Option<ServiceConfig> {
    let errors_before = ctx.diags.list.len();
    let cors = match raw.cors.clone() {
        Some(own) => self::cors(&format!("{pointer}/cors"), own, ctx),
        None => gateway_cors.clone(),
    };
    let mount = match &raw.mount {
        Some(m) => prefix(&format!("{pointer}/mount"), m, ctx).unwrap_or_default(),
        None => String::new(),
    };
    let discovery = match &raw.upstream.discovery {
        Some(_) if !raw.upstream.urls.is_empty() => {
            ctx.diags.push(
                Diagnostic::error(
                    "gateway::manifest::conflicting_upstream",
                    format!("service `{key}` has both upstream `urls` and `discovery`"),
                )
                .at(Location::key(ctx.file, format!("{pointer}/upstream/discovery")))
                .related(
                    "the static URLs",
                    Location::key(ctx.file, format!("{pointer}/upstream/urls")),
                )
                .help("keep one: `urls` for a fixed set of instances, `discovery` to find them in DNS"),
            );
            None
        }
        Some(found) => discovery(&format!("{pointer}/upstream/discovery"), found, ctx),
        None if raw.upstream.urls.is_empty() => {
            ctx.error(
                "gateway::manifest::no_upstream",
                &format!("{pointer}/upstream/urls"),
                format!("service `{key}` has no upstream URL"),
                "list at least one base URL, e.g. `urls: [http://127.0.0.1:9001]`, or find them in DNS with `discovery: { dns: users.internal, port: 8000 }`",
            );
            None
        }
        None => None,
    };
    for (index, raw_url) in raw.upstream.urls.iter().enumerate() {
        if let Err(message) = upstream_url(raw_url.url()) {
            ctx.error(
                "gateway::manifest::invalid_url",
                &format!("{pointer}/upstream/urls/{index}"),
                message,
                "use an absolute http URL such as `http://users.internal:8000` (an optional path is a prefix)",
            );
        }
    }
    let upstream = &raw.upstream;
    let resilience = resilience::resilience(pointer, upstream, &raw.operations, ctx);
    let unsecured_public = match raw.unsecured.as_deref() {
        None | Some("error") => false,
        Some("public") => true,
        Some(other) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &format!("{pointer}/unsecured"),
                format!("`unsecured: {other}` is not a choice"),
                "`public` makes operations without `security` public; `error` (the default) reports them",
            );
            false
        }
    };
    let mut timeout = |name: &str, value: &Option<String>, default: Duration| match value {
        None => default,
        Some(text) => match units::duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &format!("{pointer}/upstream/timeouts/{name}"),
                    "a timeout must be longer than zero".into(),
                    "",
                );
                default
            }
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &format!("{pointer}/upstream/timeouts/{name}"),
                    message,
                    "durations are written like `500ms`, `2s` or `1m`",
                );
                default
            }
        },
    };
    let connect_timeout = timeout("connect", &upstream.timeouts.connect, DEFAULT_CONNECT);
    let request_timeout = timeout("request", &upstream.timeouts.request, DEFAULT_REQUEST);
    if let Some(limit) = &raw.rate_limit {
        unknown_rate_limit(
            limit,
            &format!("{pointer}/rate_limit"),
            &format!("service `{key}`"),
            policies,
            ctx,
        );
    }
    for (operation, policy) in &raw.operations {
        if let Some(limit) = &policy.rate_limit {
            unknown_rate_limit(
                limit,
                &format!(
                    "{}/rate_limit",
                    pointer_push(&format!("{pointer}/operations"), operation)
                ),
                &format!("operation `{operation}`"),
                policies,
                ctx,
            );
        }
    }
    if ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error)
    {
        return None;
    }
    Some(ServiceConfig {
        key: key.to_owned(),
        spec: dir.join(&raw.spec),
        mount,
        urls: raw
            .upstream
            .urls
            .iter()
            .map(|u| u.url().to_owned())
            .collect(),
        discovery,
        connect_timeout,
        request_timeout,
        unsecured_public,
        cors,
        rate_limit: raw.rate_limit,
        operations: raw.operations,
        resilience,
        validate_responses: raw.validate_responses,
    })
}

/// Checks `upstream.discovery` (docs/manifest.md, "DNS discovery").
fn discovery(pointer: &str, raw: &RawDiscovery, ctx: &mut Ctx<'_>) -> Option<DiscoveryConfig> {
    let errors_before = ctx.diags.list.len();
    let at = |key: &str| pointer_push(pointer, key);
    if !valid_dns_name(&raw.dns) {
        ctx.error(
            "gateway::manifest::invalid_dns_name",
            &at("dns"),
            format!("`{}` is not a DNS name", raw.dns),
            "write a name like `users.default.svc.cluster.local` (labels of letters, digits, `-` and `_`, at most 63 characters each)",
        );
    }
    let record = match raw.record.as_deref() {
        None | Some("a") => DnsRecord::A,
        Some("srv") => DnsRecord::Srv,
        Some(other) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("record"),
                format!("`record: {other}` is not a choice"),
                "`a` (A and AAAA records, with `port`) or `srv` (SRV records, which carry ports and weights)",
            );
            DnsRecord::A
        }
    };
    let port = match (record, raw.port) {
        (DnsRecord::A, Some(port)) if port > 0 => port,
        (DnsRecord::A, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("port"),
                "port 0 cannot be connected to".into(),
                "give the port the instances listen on",
            );
            0
        }
        (DnsRecord::A, None) => {
            ctx.error(
                "gateway::manifest::missing_key",
                pointer,
                "missing required key `port`".into(),
                "A and AAAA records carry no port: add `port:` with the one the instances listen on (or use `record: srv`)",
            );
            0
        }
        (DnsRecord::Srv, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("port"),
                "`port` does not apply to SRV records".into(),
                "each SRV record carries its instance's port: remove `port`",
            );
            0
        }
        (DnsRecord::Srv, None) => 0,
    };
    let interval = match &raw.interval {
        None => DEFAULT_DISCOVERY_INTERVAL,
        Some(text) => match units::duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at("interval"),
                    "the interval must be longer than zero".into(),
                    "",
                );
                DEFAULT_DISCOVERY_INTERVAL
            }
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at("interval"),
                    message,
                    "durations are written like `500ms`, `10s` or `1m`",
                );
                DEFAULT_DISCOVERY_INTERVAL
            }
        },
    };
    let scheme = raw.scheme.clone().unwrap_or_else(|| "http".to_owned());
    if scheme != "http" {
        ctx.error(
            "gateway::manifest::invalid_value",
            &at("scheme"),
            format!("only http upstreams are supported by this version (not `{scheme}`)"),
            "use `scheme: http`, or leave it out",
        );
    }
    if let Some(nameserver) = &raw.nameserver
        && nameserver.parse::<std::net::SocketAddr>().is_err()
    {
        ctx.error(
            "gateway::manifest::invalid_value",
            &at("nameserver"),
            format!("`{nameserver}` is not an ip:port"),
            "write the nameserver's address like `10.96.0.10:53`",
        );
    }
    if ctx.diags.list.len() > errors_before {
        return None;
    }
    Some(DiscoveryConfig {
        dns: raw.dns.clone(),
        port,
        record,
        interval,
        scheme,
        nameserver: raw.nameserver.clone(),
    })
}

/// A DNS name: dot-separated labels of ASCII letters, digits, `-` and `_` (SRV names start
/// with `_service._proto`), none empty or longer than 63, at most 253 in all; one trailing
/// dot allowed.
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An environment variable name as shells write them: letters, digits, `_`, not starting
/// with a digit.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reports a reference to a rate-limit policy the manifest does not define.
fn unknown_rate_limit(
    name: &str,
    pointer: &str,
    who: &str,
    policies: &[String],
    ctx: &mut Ctx<'_>,
) {
    if policies.iter().any(|p| p == name) {
        return;
    }
    ctx.diags.push(
        Diagnostic::error(
            "gateway::manifest::unknown_rate_limit",
            format!("{who} names rate-limit policy `{name}`, which is not defined"),
        )
        .at(Location::new(ctx.file, pointer))
        .help(
            did_you_mean(name, policies.iter().map(String::as_str))
                .unwrap_or_else(|| "define it under `rate_limits.policies`".into()),
        ),
    );
}

/// Headers a claim must not be forwarded as, beyond those the gateway manages: they
/// carry the request's own credentials and framing.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "content-type",
];

/// Longest `leeway` accepted.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// `leeway` when the manifest gives none.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// `max_token` when not given.
const DEFAULT_MAX_TOKEN: u64 = 8 * 1024;

/// The algorithm family of a JWT algorithm name; `None` for names that are not one.
fn jwt_family(algorithm: &str) -> Option<&'static str> {
    Some(match algorithm {
        "HS256" | "HS384" | "HS512" => "HMAC (HS*)",
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "RSA (RS*/PS*)",
        "ES256" | "ES384" => "ECDSA (ES*)",
        "EdDSA" => "EdDSA",
        _ => return None,
    })
}

/// Checks one `auth` entry; `None` (with diagnostics) when it is unusable.
fn auth_scheme(name: &str, pointer: &str, raw: RawScheme, ctx: &mut Ctx<'_>) -> Option<AuthScheme> {
    let errors_before = ctx.diags.list.len();
    let kind = match (raw.jwt, raw.api_key) {
        (Some(jwt), None) => {
            AuthKind::Jwt(jwt_config(name, &pointer_push(pointer, "jwt"), jwt, ctx)?)
        }
        (None, Some(api_key)) => {
            let at = pointer_push(pointer, "api_key");
            let keys = key_source(
                &at,
                ("keys_env", api_key.keys_env),
                ("keys_file", api_key.keys_file),
                ctx,
            )?;
            AuthKind::ApiKey { keys }
        }
        _ => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                format!("`auth.{name}` must have exactly one of `jwt` or `api_key`"),
                "bearer, oauth2 and openIdConnect schemes take `jwt: {...}`; apiKey schemes take `api_key: {...}`",
            );
            return None;
        }
    };
    let failed = ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error);
    (!failed).then(|| AuthScheme {
        name: name.to_owned(),
        kind,
    })
}

/// Exactly one of an `*_env` and a `*_file` key.
fn key_source(
    pointer: &str,
    (env_key, env): (&str, Option<String>),
    (file_key, file): (&str, Option<String>),
    ctx: &mut Ctx<'_>,
) -> Option<KeySource> {
    match (env, file) {
        (Some(env), None) if !env.trim().is_empty() => Some(KeySource::Env(env)),
        (None, Some(file)) if !file.trim().is_empty() => Some(KeySource::File(file)),
        _ => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                format!("give exactly one of `{env_key}` or `{file_key}`"),
                "key material is read when the gateway starts, from that environment variable or file; it is never compiled in",
            );
            None
        }
    }
}

/// `jwks_refresh` when not given.
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// Bounds of `jwks_refresh`.
const MIN_JWKS_REFRESH: Duration = Duration::from_secs(10);
const MAX_JWKS_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// A `jwks_url`: https, or plain http to a loopback host only.
pub fn jwks_url(text: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{text}`: credentials do not belong in a JWKS URL (it is compiled in)"
        ));
    }
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => Ok(parsed),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(parsed),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(parsed),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(parsed),
        ("http", _) => Err(format!(
            "`{text}`: keys fetched over plain http could be replaced on the way"
        )),
        (scheme, _) => Err(format!("`{text}` is not an https URL (`{scheme}`)")),
    }
}

/// The `jwks_*` keys of a JWT scheme, if it fetches its keys; `None` with diagnostics
/// when they are unusable, `Some(None)` when the scheme names no JWKS.
fn jwks_source(
    pointer: &str,
    raw: &RawJwt,
    hmac: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Option<JwksSource>> {
    let url = match (&raw.jwks_url, &raw.jwks_url_env) {
        (None, None) => {
            for (key, present) in [
                ("jwks_ca_file", raw.jwks_ca_file.is_some()),
                ("jwks_refresh", raw.jwks_refresh.is_some()),
            ] {
                if present {
                    ctx.error(
                        "gateway::manifest::invalid_auth",
                        &pointer_push(pointer, key),
                        format!("`{key}` applies only to keys fetched from `jwks_url`"),
                        "remove it, or fetch the keys with `jwks_url` / `jwks_url_env`",
                    );
                }
            }
            return if raw.jwks_ca_file.is_some() || raw.jwks_refresh.is_some() {
                None
            } else {
                Some(None)
            };
        }
        (Some(url), None) => {
            let at = pointer_push(pointer, "jwks_url");
            match jwks_url(url) {
                Ok(_) => JwksUrl::Literal(url.clone()),
                Err(message) => {
                    ctx.error(
                        "gateway::manifest::invalid_jwks_url",
                        &at,
                        message,
                        "use https (plain http only to 127.0.0.1, ::1 or localhost); a private CA goes in `jwks_ca_file`",
                    );
                    return None;
                }
            }
        }
        (None, Some(env)) if !env.trim().is_empty() => JwksUrl::Env(env.clone()),
        (None, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, "jwks_url_env"),
                "`jwks_url_env` must name an environment variable".to_owned(),
                "e.g. `jwks_url_env: JWKS_URL`; the URL is read when the gateway starts",
            );
            return None;
        }
        (Some(_), Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                "give `jwks_url` or `jwks_url_env`, not both".to_owned(),
                "a URL is not a secret: `jwks_url` is simplest; `jwks_url_env` lets each deployment set its own",
            );
            return None;
        }
    };
    if hmac {
        ctx.error(
            "gateway::manifest::invalid_auth",
            &pointer_push(pointer, "algorithms"),
            "HMAC (HS*) secrets are never fetched from a JWKS URL".to_owned(),
            "give the shared secret with `key_env` or `key_file`, or use an asymmetric algorithm (RS256, ES256, EdDSA...)",
        );
        return None;
    }
    let mut refresh = DEFAULT_JWKS_REFRESH;
    if let Some(text) = &raw.jwks_refresh {
        let at = pointer_push(pointer, "jwks_refresh");
        match units::duration(text) {
            Ok(d) if (MIN_JWKS_REFRESH..=MAX_JWKS_REFRESH).contains(&d) => refresh = d,
            Ok(_) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at,
                    format!("a JWKS refresh interval of `{text}` is outside 10s..24h"),
                    "identity providers publish new keys well ahead of use; 5m is the default",
                );
                return None;
            }
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at,
                    message,
                    "durations are written like `5m`",
                );
                return None;
            }
        }
    }
    let ca_file = match &raw.jwks_ca_file {
        Some(path) if path.trim().is_empty() => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, "jwks_ca_file"),
                "`jwks_ca_file` must name a file".to_owned(),
                "a PEM file of CA certificates, read when the gateway starts",
            );
            return None;
        }
        other => other.clone(),
    };
    Some(Some(JwksSource {
        url,
        ca_file,
        refresh,
    }))
}

fn jwt_config(name: &str, pointer: &str, raw: RawJwt, ctx: &mut Ctx<'_>) -> Option<JwtConfig> {
    let errors_before = ctx.diags.list.len();
    let algorithms = raw.algorithms.clone().unwrap_or_default();
    let at = pointer_push(pointer, "algorithms");
    if algorithms.is_empty() {
        ctx.error(
            "gateway::manifest::invalid_algorithms",
            pointer,
            format!("`auth.{name}.jwt` must list its `algorithms`"),
            "e.g. `algorithms: [RS256]`; the token's `alg` header is checked against this list",
        );
    }
    let mut families = Vec::new();
    for (i, algorithm) in algorithms.iter().enumerate() {
        match jwt_family(algorithm) {
            Some(family) => {
                if !families.contains(&family) {
                    families.push(family);
                }
            }
            None => ctx.error(
                "gateway::manifest::invalid_algorithms",
                &pointer_push(&at, &i.to_string()),
                if algorithm.eq_ignore_ascii_case("none") {
                    "the algorithm `none` (unsigned tokens) is never accepted".to_owned()
                } else {
                    format!("`{algorithm}` is not a JWT algorithm this gateway verifies")
                },
                "use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA",
            ),
        }
    }
    if families.len() > 1 {
        ctx.error(
            "gateway::manifest::mixed_algorithms",
            &at,
            format!("`auth.{name}.jwt.algorithms` mixes algorithm families: {}", families.join(", ")),
            "list algorithms of one family only: mixing them (e.g. HS256 with RS256) allows algorithm-confusion attacks",
        );
    }
    let hmac = families.contains(&"HMAC (HS*)");
    let key = match jwks_source(pointer, &raw, hmac, ctx) {
        None => None,
        Some(Some(jwks)) if raw.key_env.is_none() && raw.key_file.is_none() => {
            Some(KeySource::Jwks(jwks))
        }
        Some(Some(_)) => {
            let which = if raw.key_env.is_some() {
                "key_env"
            } else {
                "key_file"
            };
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, which),
                format!("`{which}` and a JWKS URL both give this scheme's keys"),
                "give exactly one of `key_env`, `key_file`, `jwks_url` or `jwks_url_env`",
            );
            None
        }
        Some(None) => key_source(
            pointer,
            ("key_env", raw.key_env),
            ("key_file", raw.key_file),
            ctx,
        ),
    };
    // Servers' clocks drift by seconds: the default tolerates that, explicitly.
    let mut leeway_secs = DEFAULT_LEEWAY.as_secs();
    if let Some(text) = &raw.leeway {
        match units::duration(text) {
            Ok(d) if d <= MAX_LEEWAY => leeway_secs = d.as_secs(),
            Ok(_) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer_push(pointer, "leeway"),
                format!("a leeway of `{text}` is more than the 5m allowed"),
                "clock skew between servers is seconds, not minutes",
            ),
            Err(message) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer_push(pointer, "leeway"),
                message,
                "durations are written like `30s`",
            ),
        }
    }
    let mut max_token = DEFAULT_MAX_TOKEN;
    if let Some(text) = &raw.max_token {
        match units::size(text) {
            Ok(0) | Err(_) => ctx.error(
                "gateway::manifest::invalid_size",
                &pointer_push(pointer, "max_token"),
                format!("`{text}` is not a usable token size"),
                "sizes are written like `8KiB`",
            ),
            Ok(size) => max_token = size,
        }
    }
    let mut forward_claims = Vec::new();
    for (claim, header) in &raw.forward_claims {
        let lower = header.trim().to_ascii_lowercase();
        let at = pointer_push(&pointer_push(pointer, "forward_claims"), claim);
        if !crate::http::is_token(&lower) {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("`{header}` is not a valid header name"),
                "header names are tokens like `x-user-id`",
            );
        } else if crate::http::MANAGED_HEADERS.contains(&lower.as_str())
            || CREDENTIAL_HEADERS.contains(&lower.as_str())
        {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("`{lower}` is managed by the gateway and cannot carry a claim"),
                "forward the claim as a header of your own, e.g. `x-user-id`",
            );
        } else if forward_claims.iter().any(|(_, h)| *h == lower) {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("two claims are forwarded as `{lower}`"),
                "give each claim its own header",
            );
        } else {
            forward_claims.push((claim.clone(), lower));
        }
    }
    if raw.issuer.is_none() && raw.audiences.is_empty() {
        ctx.diags.push(
            Diagnostic::warning(
                "gateway::manifest::jwt_unscoped",
                format!("`auth.{name}.jwt` checks neither `issuer` nor `audiences`"),
            )
            .at(Location::key(ctx.file, pointer))
            .help("any token signed by the key is accepted, whoever it was issued for; set `issuer` and `audiences`"),
        );
    }
    if ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error)
    {
        return None;
    }
    Some(JwtConfig {
        algorithms,
        key: key?,
        issuer: raw.issuer,
        audiences: raw.audiences,
        leeway_secs,
        max_token,
        forward_claims,
        strip_authorization: raw.strip_authorization,
    })
}

/// `rate_limits.store`: `memory` (the default) or `{ redis: { url_env, timeout } }`.
fn store(raw: serde_yaml::Value, ctx: &mut Ctx<'_>) -> Option<RateLimitStore> {
    const POINTER: &str = "/rate_limits/store";
    if raw.as_str() == Some("memory") {
        return Some(RateLimitStore::Memory);
    }
    if !raw.is_mapping() {
        ctx.error(
            "gateway::manifest::invalid_store",
            POINTER,
            "`store` must be `memory` or `{ redis: { url_env: <VARIABLE> } }`".into(),
            "`memory` counts in each gateway process; `redis` shares the limits between replicas",
        );
        return None;
    }
    let raw: RawStore = ctx.part(POINTER, raw)?;
    let errors_before = ctx.diags.list.len();
    let url_env = raw.redis.url_env.trim().to_owned();
    if !is_env_name(&url_env) {
        ctx.error(
            "gateway::manifest::invalid_store",
            "/rate_limits/store/redis/url_env",
            format!("`{}` is not an environment variable name", raw.redis.url_env),
            "name the variable that holds the URL, e.g. `url_env: REDIS_URL`; the URL may hold a password, so it is read at start and never compiled in",
        );
    }
    let mut timeout = DEFAULT_STORE_TIMEOUT;
    if let Some(text) = &raw.redis.timeout {
        let pointer = "/rate_limits/store/redis/timeout";
        match units::duration(text) {
            Ok(t) if !t.is_zero() && t <= MAX_STORE_TIMEOUT => timeout = t,
            Ok(_) => ctx.error(
                "gateway::manifest::invalid_store",
                pointer,
                format!("a store timeout of `{text}` is out of range"),
                "a rate-limit check waits at most this long for Redis: between 1ms and 1s (default 50ms)",
            ),
            Err(message) => ctx.error(
                "gateway::manifest::invalid_duration",
                pointer,
                message,
                "durations are written like `50ms` or `1s`",
            ),
        }
    }
    (ctx.diags.list.len() == errors_before).then_some(RateLimitStore::Redis { url_env, timeout })
}

/// An environment variable name as shells write them.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `gateway.trusted_proxies`: CIDR blocks or single addresses, normalized to blocks.
fn trusted(blocks: &[String], ctx: &mut Ctx<'_>) -> Vec<String> {
    let mut normalized = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match cidr(block) {
            Some(block) => normalized.push(block),
            None => ctx.error(
                "gateway::manifest::invalid_trusted_proxy",
                &format!("/gateway/trusted_proxies/{i}"),
                format!("`{block}` is not a CIDR block"),
                "write an address with a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`, or a single address",
            ),
        }
    }
    normalized
}

/// `10.1.2.3/8` -> `10.1.2.3/8` (the runtime masks it); a bare address gets its full
/// length.
fn cidr(text: &str) -> Option<String> {
    let text = text.trim();
    let (address, bits) = match text.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (text, None),
    };
    let address: std::net::IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        // Digits only: `+8` or ` 8` are not prefix lengths.
        Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            bits.parse::<u8>().ok()?
        }
        Some(_) => return None,
        None => max,
    };
    (bits <= max).then(|| format!("{address}/{bits}"))
}

/// Checks one rate-limit policy; `None` (with diagnostics) when it is unusable.
fn rate_limit(
    name: &str,
    pointer: &str,
    raw: RawPolicy,
    ctx: &mut Ctx<'_>,
) -> Option<RateLimitPolicy> {
    let errors_before = ctx.diags.list.len();
    let rate = match units::rate(&raw.rate) {
        Ok(rate) => Some(rate),
        Err(message) => {
            ctx.error(
                "gateway::manifest::invalid_rate",
                &format!("{pointer}/rate"),
                message,
                "rates are written like `100/minute`",
            );
            None
        }
    };
    if raw.burst == Some(0) {
        ctx.error(
            "gateway::manifest::invalid_rate",
            &format!("{pointer}/burst"),
            format!("policy `{name}` has a burst of 0, which refuses every request"),
            "`burst` is how many requests may come at once: at least 1 (default: the rate's count)",
        );
    }
    let key = match raw.key.as_deref() {
        None | Some("ip") => Some(RateKey::Ip),
        Some(key) => rate_key(key, &format!("{pointer}/key"), ctx),
    };
    let deny_on_store_failure = match raw.on_store_failure.as_deref() {
        None | Some("allow") => false,
        Some("deny") => true,
        Some(other) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &format!("{pointer}/on_store_failure"),
                format!("`on_store_failure: {other}` is neither `allow` nor `deny`"),
                "`allow` (the default) falls back to each replica's own limiter while the store fails; `deny` answers 503",
            );
            false
        }
    };
    let allowed_headers = match raw.headers.as_deref() {
        None | Some("always") => true,
        Some("on_refusal") => false,
        Some(other) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &format!("{pointer}/headers"),
                format!("`headers: {other}` is neither `always` nor `on_refusal`"),
                "`always` (the default) sends the RateLimit-* fields on every answer of a limited route; `on_refusal` only with 429s",
            );
            true
        }
    };
    if ctx.diags.list.len() > errors_before {
        return None;
    }
    let (count, period) = rate?;
    Some(RateLimitPolicy {
        name: name.to_owned(),
        count,
        period,
        burst: raw.burst.unwrap_or(count),
        key: key?,
        deny_on_store_failure,
        allowed_headers,
    })
}

fn rate_key(key: &str, pointer: &str, ctx: &mut Ctx<'_>) -> Option<RateKey> {
    if let Some(header) = key.strip_prefix("header:") {
        let header = header.trim().to_ascii_lowercase();
        if crate::http::is_token(&header) {
            return Some(RateKey::Header(header));
        }
        ctx.error(
            "gateway::manifest::invalid_rate_key",
            pointer,
            format!("`{key}` does not name a header"),
            "write `header:<name>`, e.g. `header:x-api-key`",
        );
        return None;
    }
    if key == "consumer" {
        return Some(RateKey::Consumer);
    }
    if let Some(claim) = key.strip_prefix("claim:") {
        let claim = claim.trim();
        if !claim.is_empty() {
            return Some(RateKey::Claim(claim.to_owned()));
        }
        ctx.error(
            "gateway::manifest::invalid_rate_key",
            pointer,
            format!("`{key}` does not name a claim"),
            "write `claim:<name>`, e.g. `claim:tenant`",
        );
        return None;
    }
    let help = match key {
        "client" | "sub" | "user" => {
            "the verified identity (API-key consumer or token `sub`) is `consumer`".to_owned()
        }
        _ if key.starts_with("jwt:") => "a token's claim is `claim:<name>`".to_owned(),
        _ => did_you_mean(key, ["ip", "consumer"]).unwrap_or_else(|| {
            "use `ip` (the default), `consumer`, `claim:<name>` or `header:<name>`".to_owned()
        }),
    };
    ctx.error(
        "gateway::manifest::invalid_rate_key",
        pointer,
        format!("`{key}` is not a rate-limit key"),
        &help,
    );
    None
}

/// Checks a CORS policy; `None` (with diagnostics) when it is unusable.
fn cors(pointer: &str, raw: RawCors, ctx: &mut Ctx<'_>) -> Option<CorsPolicy> {
    let errors_before = ctx.diags.list.len();
    if raw.allow_origins.is_empty() {
        ctx.error(
            "gateway::manifest::invalid_value",
            &format!("{pointer}/allow_origins"),
            "`allow_origins` lists no origin".into(),
            "list the origins of the pages that call the API, e.g. `https://shop.example.com`",
        );
    }
    for (i, origin) in raw.allow_origins.iter().enumerate() {
        if let Err(message) = cors_origin(origin) {
            ctx.error(
                "gateway::manifest::invalid_origin",
                &format!("{pointer}/allow_origins/{i}"),
                message,
                "an origin is `scheme://host[:port]` (`https://*.example.com` for subdomains), or `*`",
            );
        }
    }
    if raw.allow_credentials {
        let star_origin = raw.allow_origins.iter().position(|o| o == "*");
        let star_header = raw.allow_headers.iter().position(|h| h == "*");
        for (at, what) in [
            (
                star_origin.map(|i| format!("{pointer}/allow_origins/{i}")),
                "origin",
            ),
            (
                star_header.map(|i| format!("{pointer}/allow_headers/{i}")),
                "header",
            ),
        ] {
            if let Some(at) = at {
                ctx.diags.push(
                    Diagnostic::error(
                        "gateway::manifest::cors_credentials_wildcard",
                        format!("`allow_credentials: true` with the {what} `*`: any site could make requests with your users' credentials"),
                    )
                    .at(Location::new(ctx.file, at))
                    .related("credentials allowed here", Location::new(ctx.file, format!("{pointer}/allow_credentials")))
                    .help(format!("list the allowed {what}s explicitly, or drop `allow_credentials`")),
                );
            }
        }
    }
    let mut methods = Vec::new();
    for (i, method) in raw.allow_methods.iter().enumerate() {
        let upper = method.to_ascii_uppercase();
        if [
            "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
        ]
        .contains(&upper.as_str())
        {
            methods.push(upper);
        } else {
            ctx.error(
                "gateway::manifest::invalid_value",
                &format!("{pointer}/allow_methods/{i}"),
                format!("`{method}` is not an HTTP method of OpenAPI"),
                "use GET, PUT, POST, DELETE, OPTIONS, HEAD, PATCH or TRACE",
            );
        }
    }
    for (list, field) in [
        (&raw.allow_headers, "allow_headers"),
        (&raw.expose_headers, "expose_headers"),
    ] {
        for (i, name) in list.iter().enumerate() {
            if !crate::http::is_token(name) {
                ctx.error(
                    "gateway::manifest::invalid_value",
                    &format!("{pointer}/{field}/{i}"),
                    format!("`{name}` is not a header name"),
                    "header names are tokens such as `content-type`",
                );
            }
        }
    }
    let max_age = match &raw.max_age {
        None => None,
        Some(text) => match units::duration(text) {
            Ok(d) => Some(d.as_secs()),
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &format!("{pointer}/max_age"),
                    message,
                    "durations are written like `10m` or `600s`",
                );
                None
            }
        },
    };
    if ctx.diags.list.len() > errors_before {
        return None;
    }
    Some(CorsPolicy {
        allow_origins: raw.allow_origins,
        allow_methods: methods,
        allow_headers: raw
            .allow_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        expose_headers: raw
            .expose_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        allow_credentials: raw.allow_credentials,
        max_age,
    })
}

/// `*`, or `scheme://host[:port]` with an optional `*.` before the host.
fn cors_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| format!("`{origin}` is not an origin"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{origin}`: an origin's scheme is http or https"));
    }
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let host_part = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
            h
        } else {
            host
        }
    });
    let valid = !host_part.is_empty()
        && !host_part.contains('*')
        && host_part.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'-'
                || b == b'.'
                || b == b'['
                || b == b']'
                || b == b':'
        });
    if !valid || rest.contains('/') {
        return Err(format!(
            "`{origin}` is not an origin: no path, and `*` only as the first label"
        ));
    }
    Ok(())
}

/// A path prefix: `""`, or `/a/b` with literal segments only.
fn prefix(pointer: &str, text: &str, ctx: &mut Ctx<'_>) -> Option<String> {
    let trimmed = text.trim_end_matches('/');
    let valid = trimmed.is_empty()
        || (trimmed.starts_with('/')
            && trimmed[1..].split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    })
            }));
    if valid {
        Some(trimmed.to_owned())
    } else {
        ctx.error(
            "gateway::manifest::invalid_prefix",
            pointer,
            format!("`{text}` is not a path prefix"),
            "write it like `/api/v1`: a leading slash and literal segments of letters, digits, `-`, `.`, `_`, `~`",
        );
        None
    }
}

/// An upstream base URL: absolute http, with a host, no query or fragment.
pub fn upstream_url(text: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "`{text}`: only http upstreams are supported by this version (not `{}`)",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "`{text}`: an upstream URL cannot have a query or fragment"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{text}`: credentials do not belong in an upstream URL (secrets never go into generated code)"
        ));
    }
    Ok(parsed)
}

fn valid_crate_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

fn valid_service_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Option<Manifest>, Vec<(String, String)>) {
        let mut diags = Diagnostics::default();
        let manifest = parse(Path::new("dir/gateway.yaml"), text, &mut diags);
        let list = diags
            .list
            .iter()
            .map(|d| {
                (
                    d.code.to_owned(),
                    d.location
                        .as_ref()
                        .map(|l| l.pointer.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        (manifest, list)
    }

    const GOOD: &str = "version: 1\ngateway: {name: shop, base_path: /api/}\nservices:\n  users:\n    spec: specs/users.yaml\n    mount: /users\n    upstream: {urls: ['http://127.0.0.1:9001'], timeouts: {connect: 250ms}}\n    operations: {createUser: {public: true}}\n";

    #[test]
    fn a_good_manifest() {
        let (manifest, diags) = check(GOOD);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        assert_eq!(manifest.base_path, "/api");
        assert_eq!(manifest.listen, DEFAULT_LISTEN);
        let users = &manifest.services[0];
        assert_eq!(users.spec, Path::new("dir/specs/users.yaml"));
        assert_eq!(users.connect_timeout, Duration::from_millis(250));
        assert_eq!(users.request_timeout, DEFAULT_REQUEST);
        assert_eq!(users.operations["createUser"].public, Some(true));
    }

    #[test]
    fn upstream_resilience_settings() {
        let text = "version: 1\ngateway: {name: shop}\nservices:\n  users:\n    spec: u.yaml\n    upstream:\n      urls: ['http://a', {url: 'http://b', weight: 3}]\n      balance: consistent_hash\n      hash_on: 'header:X-User'\n      timeouts: {total: 5s}\n      retries: {attempts: 2, budget: 10%}\n      health_check: {path: /health, interval: 2s}\n      circuit_breaker: {consecutive_failures: 5}\n      max_in_flight: 64\n    operations: {getUser: {timeouts: {request: 2s}}}\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        let users = &manifest.services[0];
        assert_eq!(users.urls, ["http://a", "http://b"]);
        let r = &users.resilience;
        use crate::upstream::{Balance, HashOn};
        assert_eq!(r.weights, [1, 3]);
        assert_eq!(
            r.balance,
            Balance::ConsistentHash(HashOn::Header("x-user".into()))
        );
        assert_eq!(r.total_timeout, Some(Duration::from_secs(5)));
        assert_eq!((r.retries.attempts, r.retries.budget_percent), (2, 10));
        let check = r.health_check.as_ref().unwrap();
        assert_eq!(
            (check.path.as_str(), check.interval),
            ("/health", Duration::from_secs(2))
        );
        assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (2, 3));
        assert_eq!(r.breaker.as_ref().unwrap().consecutive_failures, 5);
        assert_eq!(r.max_in_flight, 64);
        assert_eq!(
            r.operations,
            [("getUser".to_owned(), Some(Duration::from_secs(2)), None)]
        );
    }

    #[test]
    fn rate_limit_policies() {
        let text = "version: 1\ngateway: {name: shop, rate_limit: base}\nrate_limits:\n  store: memory\n  policies:\n    base: {rate: 100/minute}\n    keyed: {rate: 10/s, burst: 30, key: 'header:X-Api-Key'}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {urls: ['http://x']}\n    rate_limit: keyed\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        assert_eq!(manifest.rate_limit.as_deref(), Some("base"));
        assert_eq!(manifest.services[0].rate_limit.as_deref(), Some("keyed"));
        assert_eq!(
            manifest.rate_limits,
            [
                RateLimitPolicy {
                    name: "base".into(),
                    count: 100,
                    period: Duration::from_secs(60),
                    burst: 100,
                    key: RateKey::Ip,
                    deny_on_store_failure: false,
                    allowed_headers: true,
                },
                RateLimitPolicy {
                    name: "keyed".into(),
                    count: 10,
                    period: Duration::from_secs(1),
                    burst: 30,
                    key: RateKey::Header("x-api-key".into()),
                    deny_on_store_failure: false,
                    allowed_headers: true,
                },
            ]
        );
    }

    #[test]
    fn shared_store_identity_keys_and_trusted_proxies() {
        let text = "version: 1\ngateway: {name: shop, trusted_proxies: ['10.0.0.0/8', '::1', '192.168.0.7/32']}\nrate_limits:\n  store: {redis: {url_env: REDIS_URL, timeout: 80ms}}\n  policies:\n    per-consumer: {rate: 10/s, key: consumer, on_store_failure: deny}\n    per-tenant: {rate: 10/s, key: 'claim:tenant', on_store_failure: allow}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {urls: ['http://x']}\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        assert_eq!(
            manifest.rate_limit_store,
            RateLimitStore::Redis {
                url_env: "REDIS_URL".into(),
                timeout: Duration::from_millis(80)
            }
        );
        assert_eq!(
            manifest.trusted_proxies,
            ["10.0.0.0/8", "::1/128", "192.168.0.7/32"]
        );
        let keys: Vec<_> = manifest
            .rate_limits
            .iter()
            .map(|p| (p.key.clone(), p.deny_on_store_failure))
            .collect();
        assert_eq!(
            keys,
            [
                (RateKey::Consumer, true),
                (RateKey::Claim("tenant".into()), false)
            ]
        );
        // The default store and timeout.
        let (manifest, _) = check(&text.replace(", timeout: 80ms", ""));
        assert_eq!(
            manifest.unwrap().rate_limit_store,
            RateLimitStore::Redis {
                url_env: "REDIS_URL".into(),
                timeout: DEFAULT_STORE_TIMEOUT
            }
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let text = "version: 1\ngatway: {}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {urls: ['ftp://x'], timeouts: {connect: 1sec}}\n  orders:\n    spec: o.yaml\n    upstream: {urls: ['http://x'], timeout: {}}\n";
        let (manifest, diags) = check(text);
        assert!(manifest.is_none());
        let codes: Vec<_> = diags.iter().map(|(c, p)| format!("{c} {p}")).collect();
        assert_eq!(
            codes,
            [
                "gateway::manifest::unknown_key /gatway",
                "gateway::manifest::missing_key ",
                "gateway::manifest::invalid_url /services/users/upstream/urls/0",
                "gateway::manifest::invalid_duration /services/users/upstream/timeouts/connect",
                "gateway::manifest::unknown_key /services/orders/upstream/timeout",
            ]
        );
    }

    #[test]
    fn discovery_and_observability() {
        let text = "version: 1\ngateway: {name: shop}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {discovery: {dns: users.internal, port: 8000}}\n  orders:\n    spec: o.yaml\n    upstream: {discovery: {dns: _http._tcp.orders.internal., record: srv, interval: 500ms, nameserver: '127.0.0.1:5353'}}\nobservability: {otlp_endpoint_env: OTEL_EXPORTER_OTLP_ENDPOINT}\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        assert_eq!(
            manifest.otlp_endpoint_env.as_deref(),
            Some("OTEL_EXPORTER_OTLP_ENDPOINT")
        );
        let users = &manifest.services[0];
        assert!(users.urls.is_empty());
        assert_eq!(
            users.discovery,
            Some(DiscoveryConfig {
                dns: "users.internal".into(),
                port: 8000,
                record: DnsRecord::A,
                interval: DEFAULT_DISCOVERY_INTERVAL,
                scheme: "http".into(),
                nameserver: None,
            })
        );
        let orders = manifest.services[1].discovery.as_ref().unwrap();
        assert_eq!(orders.record, DnsRecord::Srv);
        assert_eq!(orders.port, 0);
        assert_eq!(orders.interval, Duration::from_millis(500));
        assert_eq!(orders.nameserver.as_deref(), Some("127.0.0.1:5353"));
    }

    #[test]
    fn dns_names() {
        for good in [
            "users",
            "users.default.svc.cluster.local",
            "_http._tcp.users.",
            "a-1.b",
        ] {
            assert!(valid_dns_name(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "http://users",
            long.as_str(),
        ] {
            assert!(!valid_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn upstream_urls() {
        assert!(upstream_url("http://127.0.0.1:9001/v1").is_ok());
        assert!(upstream_url("https://x").is_err());
        assert!(upstream_url("http://u:p@x").is_err());
        assert!(upstream_url("http://x/?a=1").is_err());
        assert!(upstream_url("not a url").is_err());
    }

    #[test]
    fn names() {
        assert!(valid_crate_name("shop-gateway"));
        assert!(!valid_crate_name("Shop"));
        assert!(!valid_crate_name("1shop"));
        assert!(!valid_crate_name("shop-"));
    }
}

#[cfg(test)]
mod schema_tests {
    use super::TOP_LEVEL;

    /// docs/manifest.schema.json is what editors check against: it must know exactly the
    /// keys the loader knows.
    #[test]
    fn published_schema_has_the_loaders_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/manifest.schema.json")).unwrap();
        let mut keys: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = TOP_LEVEL.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
        let service = &schema["properties"]["services"]["additionalProperties"]["properties"];
        let mut service_keys: Vec<&str> = service
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        service_keys.sort_unstable();
        assert_eq!(
            service_keys,
            [
                "cors",
                "mount",
                "operations",
                "rate_limit",
                "spec",
                "unsecured",
                "upstream",
                "validate_responses"
            ]
        );
    }
}
