//! The gateway manifest (`gateway.yaml`, version 1): raw serde types that mirror the YAML,
//! and the one fallible step that turns them into the span-free [`Manifest`].
//!
//! serde stops at the first error of a value, so each independent part (a top-level section,
//! one service) is deserialized on its own and the errors of all parts are collected.
//! `serde_path_to_error` gives the path of a failure; it becomes a JSON pointer, and
//! [`super::sources::Sources`] turns that into line and column.
//!
//! `parse` here is the driver; each section's types and checks live in its own file
//! (`gateway`, `services` in `service` with `discovery` and `resilience`, `auth`,
//! `rate_limits`, `cors`, `observability`), and what several sections share (the
//! diagnostic context, path prefixes, the raw upstream) stays here.

mod auth;
mod cors;
mod discovery;
mod gateway;
mod observability;
mod rate_limits;
mod resilience;
mod selection;
mod service;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use self::auth::{RawScheme, auth_scheme};
use self::cors::cors;
use self::discovery::RawDiscovery;
use self::gateway::{
    DEFAULT_LISTEN, DEFAULT_MAX_BODY, DEFAULT_MAX_FIELDS, RawGateway, connection_limits, docs_path,
    trusted, valid_crate_name,
};
use self::observability::{RawObservability, valid_env_name};
use self::rate_limits::{
    RawRateLimits, default_auth_failures, rate_limit, store, unknown_rate_limit,
};
use self::service::{RawService, service, valid_service_key};
use super::units;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean, pointer_push};

pub use self::auth::{AuthKind, AuthScheme, JwksSource, JwksUrl, JwtConfig, KeySource, jwks_url};
pub use self::cors::CorsPolicy;
pub use self::discovery::{DiscoveryConfig, DnsRecord};
pub use self::gateway::ConnectionLimits;
pub use self::rate_limits::{RateKey, RateLimitPolicy, RateLimitStore};
pub use self::resilience::OperationTimeouts;
pub use self::selection::{Candidate, Selection, SelectorKind};
pub use self::service::{ServiceConfig, upstream_url};

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
    /// `runtime: vendored`: the generated crate carries the runtime's sources.
    pub vendor_runtime: bool,
    pub max_body: u64,
    /// `gateway.limits`: the deadlines and the cap of client connections.
    pub connections: ConnectionLimits,
    /// `gateway.limits.max_fields`: most pairs, parts or members one place of a request
    /// may hold.
    pub max_fields: usize,
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
    /// `rate_limits.auth_failures`: failed authentications allowed per client address
    /// (a policy keyed by `ip`); `None` when `off`.
    pub auth_failures: Option<RateLimitPolicy>,
    /// `gateway.trusted_proxies`: CIDR blocks, normalized (`10.0.0.0/8`).
    pub trusted_proxies: Vec<String>,
    /// `observability.otlp_endpoint_env`: the variable naming the OTLP collector.
    pub otlp_endpoint_env: Option<String>,
    /// `gateway.docs.path`: where the API reference page is served; `None`: no page.
    pub docs: Option<String>,
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
    "runtime",
    "gateway",
    "services",
    "auth",
    "rate_limits",
    "observability",
];

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    connect: Option<String>,
    request: Option<String>,
    total: Option<String>,
}

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

    let vendor_runtime = match sections.get("runtime") {
        None => false,
        Some(serde_yaml::Value::String(s)) if s == "registry" => false,
        Some(serde_yaml::Value::String(s)) if s == "vendored" => true,
        Some(_) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                "/runtime",
                "`runtime` must be `registry` or `vendored`".into(),
                "`registry` depends on openapi-gateway-runtime from crates.io by exact version; \
                 `vendored` writes its sources into the generated crate",
            );
            false
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
    let mut connections = ConnectionLimits::default();
    let mut max_fields = DEFAULT_MAX_FIELDS;
    let mut gateway_cors = None;
    let mut gateway_rate_limit = None;
    let mut validate_responses = false;
    let mut trusted_proxies = Vec::new();
    let mut docs = None;
    if let Some(gateway) = gateway {
        docs = gateway.docs.and_then(|raw| docs_path(raw, &mut ctx));
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
        connections = connection_limits(&gateway.limits, &mut ctx);
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
        match gateway.limits.max_fields.map(usize::try_from) {
            None => {}
            Some(Ok(n)) if n > 0 => max_fields = n,
            Some(_) => ctx.error(
                "gateway::manifest::invalid_value",
                "/gateway/limits/max_fields",
                "`max_fields` must be at least 1".into(),
                "the default is 1000 pairs, parts or members per place",
            ),
        }
        if let Some(raw) = gateway.cors {
            gateway_cors = cors("/gateway/cors", raw, &mut ctx);
        }
    }

    let mut policies = Vec::new();
    let mut rate_limits = Vec::new();
    let mut rate_limit_store = RateLimitStore::Memory;
    let mut auth_failures = Some(default_auth_failures());
    if let Some(value) = sections.shift_remove("rate_limits")
        && let Some(raw) = ctx.part::<RawRateLimits>("/rate_limits", value)
    {
        if let Some(store) = raw.store.and_then(|value| store(value, &mut ctx)) {
            rate_limit_store = store;
        }
        if let Some(value) = raw.auth_failures {
            auth_failures = rate_limits::auth_failures(value, &mut ctx);
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
        vendor_runtime,
        max_body,
        connections,
        max_fields,
        services,
        auth,
        rate_limits,
        rate_limit: gateway_rate_limit,
        validate_responses,
        rate_limit_store,
        auth_failures,
        trusted_proxies,
        otlp_endpoint_env,
        docs,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn check(text: &str) -> (Option<Manifest>, Vec<(String, String)>) {
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
}

#[cfg(test)]
mod schema_tests {
    use super::TOP_LEVEL;

    /// docs/manifest.schema.json is what editors check against: it must know exactly the
    /// keys the loader knows.
    #[test]
    fn published_schema_has_the_loaders_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../../docs/manifest.schema.json")).unwrap();
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
                "exclude",
                "include",
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
