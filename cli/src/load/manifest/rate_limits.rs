//! The `rate_limits` section: the policies, their keys and the store that counts them, and
//! the check that every `rate_limit:` naming a policy names one that exists.
//!
//! Policies are defined once and named from the gateway, services and operations; keeping
//! their definition and the check of those names together means a typo is reported with a
//! suggestion from the real list.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{Ctx, units};
use crate::diag::{Diagnostic, Location, did_you_mean};

/// Where rate limits are counted (docs/manifest.md, "Rate limits").
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RateLimitStore {
    /// In each gateway process.
    #[default]
    Memory,
    /// In one Redis shared by every replica; its URL is read from `url_env` at start.
    Redis { url_env: String, timeout: Duration },
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
    /// The leading bits of an IPv6 client's address it is counted by (1 to 128).
    pub ipv6_prefix: u8,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimits {
    pub(super) store: Option<serde_yaml::Value>,
    #[serde(default)]
    pub(super) policies: IndexMap<String, RawPolicy>,
    pub(super) auth_failures: Option<serde_yaml::Value>,
}

/// `rate_limits.auth_failures` when it is not `off`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailureLimit {
    rate: String,
    burst: Option<u64>,
    ipv6_prefix: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    rate: String,
    burst: Option<u64>,
    key: Option<String>,
    ipv6_prefix: Option<i64>,
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

/// The prefix an IPv6 client is counted by unless a policy says otherwise: a /64 is what
/// one subscriber, household or VM is routed (RFC 6177, RFC 7421), so its addresses are
/// one client's.
const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The name the failure limit goes by in diagnostics, in the generated crate and in the
/// shared store's keys.
const AUTH_FAILURES: &str = "auth_failures";
const AUTH_FAILURES_POINTER: &str = "/rate_limits/auth_failures";

/// `rate_limits.auth_failures` when the manifest does not say: 20 failed authentications
/// at once per client address, then 10 a minute (docs/manifest.md, "Failed
/// authentications", says why).
pub(super) fn default_auth_failures() -> RateLimitPolicy {
    RateLimitPolicy {
        name: AUTH_FAILURES.to_owned(),
        count: 10,
        period: Duration::from_secs(60),
        burst: 20,
        key: RateKey::Ip,
        ipv6_prefix: DEFAULT_IPV6_PREFIX,
        deny_on_store_failure: false,
        allowed_headers: false,
    }
}

/// `rate_limits.auth_failures`: `off`, or `{ rate, burst, ipv6_prefix }` like a policy's.
/// `None` when it is off or unusable (then with diagnostics).
pub(super) fn auth_failures(raw: serde_yaml::Value, ctx: &mut Ctx<'_>) -> Option<RateLimitPolicy> {
    const POINTER: &str = AUTH_FAILURES_POINTER;
    if raw.as_str() == Some("off") {
        return None;
    }
    if !raw.is_mapping() {
        ctx.error(
            "gateway::manifest::invalid_value",
            POINTER,
            "`auth_failures` must be `off` or `{ rate: <count>/<unit>, burst: <n> }`".into(),
            "failed authentications are limited per client address by default (`{ rate: 10/minute, burst: 20 }`); `off` lifts the limit",
        );
        return None;
    }
    let raw: RawFailureLimit = ctx.part(POINTER, raw)?;
    let policy = RawPolicy {
        rate: raw.rate,
        burst: raw.burst,
        key: None,
        ipv6_prefix: raw.ipv6_prefix,
        on_store_failure: None,
        headers: None,
    };
    let mut limit = rate_limit(AUTH_FAILURES, POINTER, policy, ctx)?;
    limit.allowed_headers = false;
    Some(limit)
}

/// How long a rate-limit check waits for Redis, by default and at most.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(50);
const MAX_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// Reports a reference to a rate-limit policy the manifest does not define.
pub(super) fn unknown_rate_limit(
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

/// `rate_limits.store`: `memory` (the default) or `{ redis: { url_env, timeout } }`.
pub(super) fn store(raw: serde_yaml::Value, ctx: &mut Ctx<'_>) -> Option<RateLimitStore> {
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

/// Checks one rate-limit policy; `None` (with diagnostics) when it is unusable.
pub(super) fn rate_limit(
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
        let what = if pointer == AUTH_FAILURES_POINTER {
            "the failure limit".to_owned()
        } else {
            format!("policy `{name}`")
        };
        ctx.error(
            "gateway::manifest::invalid_rate",
            &format!("{pointer}/burst"),
            format!("{what} has a burst of 0, which refuses every request"),
            "`burst` is how many requests may come at once: at least 1 (default: the rate's count)",
        );
    }
    let key = match raw.key.as_deref() {
        None | Some("ip") => Some(RateKey::Ip),
        Some(key) => rate_key(key, &format!("{pointer}/key"), ctx),
    };
    let ipv6_prefix = match raw.ipv6_prefix {
        None => DEFAULT_IPV6_PREFIX,
        Some(bits) => u8::try_from(bits)
            .ok()
            .filter(|bits| (1..=128).contains(bits))
            .unwrap_or_else(|| {
                ctx.error(
                    "gateway::manifest::invalid_value",
                    &format!("{pointer}/ipv6_prefix"),
                    format!("an IPv6 prefix of {bits} bits is not between 1 and 128"),
                    "IPv6 clients are counted by their network of this many bits: 64 (the default) is one subscriber's, 128 one address",
                );
                DEFAULT_IPV6_PREFIX
            }),
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
        ipv6_prefix,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::manifest::tests::check;

    #[test]
    fn rate_limit_policies() {
        let text = "version: 1\ngateway: {name: shop, rate_limit: base}\nrate_limits:\n  store: memory\n  policies:\n    base: {rate: 100/minute}\n    keyed: {rate: 10/s, burst: 30, key: 'header:X-Api-Key', ipv6_prefix: 48}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {urls: ['http://x']}\n    rate_limit: keyed\n";
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
                    ipv6_prefix: 64,
                    deny_on_store_failure: false,
                    allowed_headers: true,
                },
                RateLimitPolicy {
                    name: "keyed".into(),
                    count: 10,
                    period: Duration::from_secs(1),
                    burst: 30,
                    key: RateKey::Header("x-api-key".into()),
                    ipv6_prefix: 48,
                    deny_on_store_failure: false,
                    allowed_headers: true,
                },
            ]
        );
    }

    #[test]
    fn failed_authentications_are_limited_unless_off() {
        let text = "version: 1\ngateway: {name: shop}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {urls: ['http://x']}\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let default = manifest.unwrap().auth_failures.unwrap();
        assert_eq!(default, default_auth_failures());
        assert_eq!(
            (
                default.count,
                default.period,
                default.burst,
                default.ipv6_prefix
            ),
            (10, Duration::from_secs(60), 20, 64)
        );
        let with = |limit: &str| check(&format!("{text}rate_limits:\n  auth_failures: {limit}\n"));
        assert_eq!(with("off").0.unwrap().auth_failures, None);
        let custom = with("{rate: 5/minute, burst: 10, ipv6_prefix: 56}")
            .0
            .unwrap()
            .auth_failures
            .unwrap();
        assert_eq!(
            (
                custom.name.as_str(),
                custom.count,
                custom.burst,
                custom.ipv6_prefix
            ),
            ("auth_failures", 5, 10, 56)
        );
        assert_eq!((custom.key, custom.allowed_headers), (RateKey::Ip, false));
        for (bad, pointer) in [
            ("sometimes", "/rate_limits/auth_failures"),
            (
                "{rate: 5/minute, key: consumer}",
                "/rate_limits/auth_failures",
            ),
            (
                "{rate: 5/minute, burst: 0}",
                "/rate_limits/auth_failures/burst",
            ),
            (
                "{rate: 5/minute, ipv6_prefix: 0}",
                "/rate_limits/auth_failures/ipv6_prefix",
            ),
        ] {
            let (manifest, diags) = with(bad);
            assert!(manifest.is_none(), "{bad}");
            let rendered = format!("{diags:?}");
            assert!(rendered.contains(pointer), "{bad}: {rendered}");
        }
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
}
