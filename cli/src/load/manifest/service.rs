//! The `services` section: one service's spec, mount, upstream and per-operation settings.
//!
//! A service is checked as a whole, after the sections it refers to (its `cors` falls back
//! to the gateway's, its `rate_limit`s must name defined policies), so that one bad service
//! is dropped with all its problems reported and the others still load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::cors::{CorsPolicy, RawCors, cors};
use super::discovery::{DiscoveryConfig, discovery};
use super::rate_limits::unknown_rate_limit;
use super::selection::{RawSelection, Selection, selection};
use super::{Ctx, OperationPolicy, RawUpstream, prefix, resilience, units};
use crate::diag::{Diagnostic, Location, pointer_push};
use crate::upstream::Resilience;

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
    /// The operations published: all when `None`.
    pub include: Option<Selection>,
    /// Operations left out, even when `include` names them.
    pub exclude: Selection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    spec: String,
    mount: Option<String>,
    upstream: RawUpstream,
    unsecured: Option<String>,
    cors: Option<RawCors>,
    rate_limit: Option<String>,
    #[serde(default)]
    operations: IndexMap<String, OperationPolicy>,
    validate_responses: Option<bool>,
    include: Option<RawSelection>,
    exclude: Option<RawSelection>,
}

const DEFAULT_CONNECT: Duration = Duration::from_secs(1);
const DEFAULT_REQUEST: Duration = Duration::from_secs(30);

pub(super) fn service(
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
    let include = raw
        .include
        .map(|raw| selection(&format!("{pointer}/include"), raw, ctx));
    if include.as_ref().is_some_and(|i| i.selectors.is_empty()) {
        ctx.error(
            "gateway::manifest::invalid_value",
            &format!("{pointer}/include"),
            format!("`include` of service `{key}` names nothing, so it would publish no operation"),
            "name operations, tags or paths under it, e.g. `include: { tags: [public] }`, or remove it to publish every operation",
        );
    }
    let exclude = selection(
        &format!("{pointer}/exclude"),
        raw.exclude.unwrap_or_default(),
        ctx,
    );
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
        include,
        exclude,
    })
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

pub(super) fn valid_service_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::manifest::gateway::DEFAULT_LISTEN;
    use crate::load::manifest::tests::check;

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
    fn upstream_urls() {
        assert!(upstream_url("http://127.0.0.1:9001/v1").is_ok());
        assert!(upstream_url("https://x").is_err());
        assert!(upstream_url("http://u:p@x").is_err());
        assert!(upstream_url("http://x/?a=1").is_err());
        assert!(upstream_url("not a url").is_err());
    }
}
