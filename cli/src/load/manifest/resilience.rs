//! The manifest's upstream resilience settings (`upstream.balance`, `hash_on`, weighted
//! `urls`, `timeouts.total`, `retries`, `health_check`, `outlier_detection`,
//! `circuit_breaker`, `max_in_flight`, and `operations.<id>.timeouts`) validated into
//! [`Resilience`]. A child of the manifest loader so that it reports through the same
//! located diagnostics; every bad value is an error at its own key.

use std::time::Duration;

use serde::Deserialize;

use super::{Ctx, OperationPolicy, RawUpstream, units};
use crate::diag::{did_you_mean, pointer_push};
use crate::upstream::{Balance, Breaker, HashOn, HealthCheck, Outlier, Resilience, Retries};

/// One entry of `urls`: a plain URL or `{url, weight}`.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum RawUrl {
    Plain(String),
    Weighted(RawWeighted),
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeighted {
    url: String,
    weight: Option<i64>,
}

impl RawUrl {
    pub(super) fn url(&self) -> &str {
        match self {
            RawUrl::Plain(url) => url,
            RawUrl::Weighted(w) => &w.url,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetries {
    attempts: Option<u32>,
    budget: Option<String>,
    min_per_second: Option<u32>,
    backoff: Option<String>,
    max_backoff: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthCheck {
    path: String,
    interval: Option<String>,
    timeout: Option<String>,
    expected_status: Option<Vec<u16>>,
    healthy_threshold: Option<u32>,
    unhealthy_threshold: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutlier {
    consecutive_failures: Option<u32>,
    base_ejection: Option<String>,
    max_ejection: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    failure_ratio: Option<f64>,
    min_requests: Option<u32>,
    window: Option<String>,
    consecutive_failures: Option<u32>,
    open_for: Option<String>,
    half_open_probes: Option<u32>,
}

/// `operations.<id>.timeouts`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationTimeouts {
    pub request: Option<String>,
    pub total: Option<String>,
}

const BALANCES: [&str; 4] = [
    "round_robin",
    "weighted",
    "least_requests",
    "consistent_hash",
];

/// Validates the resilience settings of the service at `pointer`.
pub(super) fn resilience(
    pointer: &str,
    upstream: &RawUpstream,
    operations: &indexmap::IndexMap<String, OperationPolicy>,
    ctx: &mut Ctx<'_>,
) -> Resilience {
    let at = |key: &str| format!("{pointer}/upstream/{key}");
    let mut out = Resilience::default();

    let mut weighted = false;
    for (index, raw) in upstream.urls.iter().enumerate() {
        let weight = match raw {
            RawUrl::Plain(_) => 1,
            RawUrl::Weighted(w) => {
                weighted |= w.weight.is_some();
                match w.weight {
                    None => 1,
                    Some(weight @ 1..=1000) => weight as u32,
                    Some(other) => {
                        ctx.error(
                            "gateway::manifest::invalid_weight",
                            &format!("{}/weight", at(&format!("urls/{index}"))),
                            format!("weight {other} is out of range"),
                            "a weight is a whole number from 1 to 1000",
                        );
                        1
                    }
                }
            }
        };
        out.weights.push(weight);
    }

    if let Some(balance) = &upstream.balance {
        out.balance = match balance.as_str() {
            "round_robin" => Balance::RoundRobin,
            "weighted" => Balance::Weighted,
            "least_requests" => Balance::LeastRequests,
            "consistent_hash" => {
                Balance::ConsistentHash(hash_on(&at("hash_on"), upstream.hash_on.as_deref(), ctx))
            }
            other => {
                ctx.error(
                    "gateway::manifest::invalid_value",
                    &at("balance"),
                    format!("unknown balancing algorithm `{other}`"),
                    &did_you_mean(other, BALANCES).unwrap_or_else(|| BALANCES.join(", ")),
                );
                Balance::RoundRobin
            }
        };
    }
    let round_robin = matches!(upstream.balance.as_deref(), None | Some("round_robin"));
    if weighted && round_robin {
        ctx.diags.push(
            crate::diag::Diagnostic::warning(
                "gateway::manifest::unused_weights",
                "weights are given but `balance` is round_robin, which ignores them",
            )
            .at(ctx.at(&at("urls")))
            .help("set `balance: weighted` (or least_requests / consistent_hash, which also use them)"),
        );
    }
    if upstream.hash_on.is_some() && !matches!(out.balance, Balance::ConsistentHash(_)) {
        ctx.error(
            "gateway::manifest::invalid_value",
            &at("hash_on"),
            "`hash_on` only applies to `balance: consistent_hash`".into(),
            "remove it, or set `balance: consistent_hash`",
        );
    }

    out.total_timeout = upstream
        .timeouts
        .total
        .as_ref()
        .map(|text| positive(&at("timeouts/total"), text, Duration::from_secs(60), ctx));

    if let Some(value) = upstream.retries.clone() {
        let pointer = at("retries");
        if let Some(raw) = ctx.part::<RawRetries>(&pointer, value) {
            let defaults = Retries::default();
            let attempts = raw.attempts.unwrap_or(defaults.attempts);
            if attempts > 10 {
                ctx.error(
                    "gateway::manifest::invalid_retries",
                    &format!("{pointer}/attempts"),
                    format!("{attempts} retries is too many"),
                    "at most 10 retries; 1 or 2 is usual",
                );
            }
            let budget_percent = match &raw.budget {
                None => defaults.budget_percent,
                Some(text) => percent(&format!("{pointer}/budget"), text, ctx).unwrap_or(20),
            };
            let backoff = raw.backoff.as_ref().map_or(defaults.backoff, |t| {
                duration(&format!("{pointer}/backoff"), t, defaults.backoff, ctx)
            });
            let max_backoff =
                raw.max_backoff
                    .as_ref()
                    .map_or(defaults.max_backoff.max(backoff), |t| {
                        duration(
                            &format!("{pointer}/max_backoff"),
                            t,
                            defaults.max_backoff,
                            ctx,
                        )
                    });
            out.retries = Retries {
                attempts,
                budget_percent,
                min_per_second: raw.min_per_second.unwrap_or(defaults.min_per_second),
                backoff,
                max_backoff,
            };
        }
    }

    if let Some(value) = upstream.health_check.clone() {
        let pointer = at("health_check");
        if let Some(raw) = ctx.part::<RawHealthCheck>(&pointer, value) {
            if !raw.path.starts_with('/') || raw.path.contains(['?', '#', ' ']) {
                ctx.error(
                    "gateway::manifest::invalid_health_check",
                    &format!("{pointer}/path"),
                    format!("`{}` is not a path", raw.path),
                    "an absolute path without query, e.g. `/health`",
                );
            }
            let interval = raw.interval.as_ref().map_or(Duration::from_secs(5), |t| {
                positive(
                    &format!("{pointer}/interval"),
                    t,
                    Duration::from_secs(5),
                    ctx,
                )
            });
            let timeout = raw.timeout.as_ref().map_or(Duration::from_secs(1), |t| {
                positive(
                    &format!("{pointer}/timeout"),
                    t,
                    Duration::from_secs(1),
                    ctx,
                )
            });
            let expected_status = raw.expected_status.unwrap_or_default();
            if let Some(bad) = expected_status.iter().find(|s| !(100..=599).contains(*s)) {
                ctx.error(
                    "gateway::manifest::invalid_health_check",
                    &format!("{pointer}/expected_status"),
                    format!("{bad} is not an HTTP status"),
                    "statuses are 100 to 599; leave `expected_status` out to accept any 2xx",
                );
            }
            let mut threshold = |key: &str, value: Option<u32>, default: u32| match value {
                None => default,
                Some(n @ 1..=100) => n,
                Some(n) => {
                    ctx.error(
                        "gateway::manifest::invalid_threshold",
                        &format!("{pointer}/{key}"),
                        format!("threshold {n} is out of range"),
                        "a threshold counts consecutive checks: 1 to 100",
                    );
                    default
                }
            };
            let healthy_threshold = threshold("healthy_threshold", raw.healthy_threshold, 2);
            let unhealthy_threshold = threshold("unhealthy_threshold", raw.unhealthy_threshold, 3);
            out.health_check = Some(HealthCheck {
                path: raw.path,
                interval,
                timeout,
                expected_status,
                healthy_threshold,
                unhealthy_threshold,
            });
        }
    }

    if let Some(value) = upstream.outlier_detection.clone() {
        let pointer = at("outlier_detection");
        if let Some(raw) = ctx.part::<RawOutlier>(&pointer, value) {
            let defaults = Outlier::default();
            out.outlier = Outlier {
                consecutive_failures: raw
                    .consecutive_failures
                    .unwrap_or(defaults.consecutive_failures),
                base_ejection: raw
                    .base_ejection
                    .as_ref()
                    .map_or(defaults.base_ejection, |t| {
                        positive(
                            &format!("{pointer}/base_ejection"),
                            t,
                            defaults.base_ejection,
                            ctx,
                        )
                    }),
                max_ejection_percent: raw
                    .max_ejection
                    .as_ref()
                    .map_or(defaults.max_ejection_percent, |t| {
                        percent(&format!("{pointer}/max_ejection"), t, ctx).unwrap_or(50)
                    }),
            };
        }
    }

    if let Some(value) = upstream.circuit_breaker.clone() {
        let pointer = at("circuit_breaker");
        if let Some(raw) = ctx.part::<RawBreaker>(&pointer, value) {
            let failure_ratio = raw.failure_ratio.unwrap_or(0.5);
            if !(failure_ratio > 0.0 && failure_ratio <= 1.0) {
                ctx.error(
                    "gateway::manifest::invalid_threshold",
                    &format!("{pointer}/failure_ratio"),
                    format!("failure ratio {failure_ratio} is out of range"),
                    "a ratio above 0 and at most 1, e.g. 0.5",
                );
            }
            let half_open_probes = raw.half_open_probes.unwrap_or(1);
            if half_open_probes == 0 {
                ctx.error(
                    "gateway::manifest::invalid_threshold",
                    &format!("{pointer}/half_open_probes"),
                    "at least one probe is needed to close the breaker again".into(),
                    "use 1 or more",
                );
            }
            let min_requests = raw.min_requests.unwrap_or(20);
            let consecutive_failures = raw.consecutive_failures.unwrap_or(0);
            if min_requests == 0 && consecutive_failures == 0 {
                ctx.error(
                    "gateway::manifest::invalid_threshold",
                    &pointer,
                    "the breaker can never trip: `min_requests` and `consecutive_failures` are both 0".into(),
                    "set `min_requests` (with `failure_ratio`) or `consecutive_failures`",
                );
            }
            out.breaker = Some(Breaker {
                failure_ratio,
                min_requests,
                window: raw.window.as_ref().map_or(Duration::from_secs(10), |t| {
                    positive(
                        &format!("{pointer}/window"),
                        t,
                        Duration::from_secs(10),
                        ctx,
                    )
                }),
                consecutive_failures,
                open_for: raw.open_for.as_ref().map_or(Duration::from_secs(30), |t| {
                    positive(
                        &format!("{pointer}/open_for"),
                        t,
                        Duration::from_secs(30),
                        ctx,
                    )
                }),
                half_open_probes: half_open_probes.max(1),
            });
        }
    }

    if let Some(max) = upstream.max_in_flight {
        if max == 0 {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("max_in_flight"),
                "`max_in_flight: 0` would refuse every request".into(),
                "leave it out for no limit",
            );
        }
        out.max_in_flight = max;
    }

    for (operation, policy) in operations {
        let Some(timeouts) = &policy.timeouts else {
            continue;
        };
        let base = format!(
            "{}/timeouts",
            pointer_push(&format!("{pointer}/operations"), operation)
        );
        let request = timeouts
            .request
            .as_ref()
            .map(|t| positive(&format!("{base}/request"), t, Duration::from_secs(30), ctx));
        let total = timeouts
            .total
            .as_ref()
            .map(|t| positive(&format!("{base}/total"), t, Duration::from_secs(60), ctx));
        out.operations.push((operation.clone(), request, total));
    }
    out
}

fn hash_on(pointer: &str, text: Option<&str>, ctx: &mut Ctx<'_>) -> HashOn {
    let Some(text) = text else {
        return HashOn::Ip;
    };
    let valid_name = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if text == "ip" {
        return HashOn::Ip;
    }
    if let Some(name) = text.strip_prefix("header:")
        && valid_name(name)
    {
        return HashOn::Header(name.to_ascii_lowercase());
    }
    if let Some(name) = text.strip_prefix("cookie:")
        && valid_name(name)
    {
        return HashOn::Cookie(name.to_owned());
    }
    ctx.error(
        "gateway::manifest::invalid_hash_on",
        pointer,
        format!("`{text}` is not a hash key"),
        "use `header:<name>`, `cookie:<name>` or `ip`",
    );
    HashOn::Ip
}

fn duration(pointer: &str, text: &str, default: Duration, ctx: &mut Ctx<'_>) -> Duration {
    match units::duration(text) {
        Ok(d) => d,
        Err(message) => {
            ctx.error(
                "gateway::manifest::invalid_duration",
                pointer,
                message,
                "durations are written like `500ms`, `2s` or `1m`",
            );
            default
        }
    }
}

fn positive(pointer: &str, text: &str, default: Duration, ctx: &mut Ctx<'_>) -> Duration {
    let d = duration(pointer, text, default, ctx);
    if d.is_zero() {
        ctx.error(
            "gateway::manifest::invalid_duration",
            pointer,
            "this duration must be longer than zero".into(),
            "",
        );
        return default;
    }
    d
}

/// `20%`: a whole number from 0 to 100 and a percent sign.
fn percent(pointer: &str, text: &str, ctx: &mut Ctx<'_>) -> Option<u32> {
    let parsed = text
        .strip_suffix('%')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= 100);
    if parsed.is_none() {
        ctx.error(
            "gateway::manifest::invalid_percent",
            pointer,
            format!("`{text}` is not a percentage from 0% to 100%"),
            "write a whole number and `%`, e.g. `20%`",
        );
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::manifest::tests::check;

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
}
