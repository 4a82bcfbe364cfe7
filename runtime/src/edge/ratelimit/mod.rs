//! Rate limiting: GCRA (the generic cell rate algorithm) per (policy, key). This file is
//! the top of the folder: [`Limiters`] decides for a route's policies, with the in-memory
//! state of [`memory`] or the shared store of [`redis`]; [`policy`] is what the compiler
//! emits and [`counters`] what `/metrics` shows.
//!
//! A policy allows `count` requests per `period` on average and at most `burst` at once:
//! every request advances the key's *theoretical arrival time* (TAT) by the emission
//! interval `T = period / count`, and is refused when that would put the TAT more than
//! `burst * T` ahead of now. One `u64` of state per key, no timers.
//!
//! Memory is bounded: keys are stored as 64-bit SipHash values (keyed randomly per
//! process, so clients cannot aim collisions), in [`SHARDS`] shards of at most
//! [`SHARD_CAPACITY`] entries each, that is at most [`MAX_KEYS`] keys per policy. An
//! entry whose TAT has passed is idle (forgetting it changes nothing), so [`Limiters::sweep`]
//! (run every few seconds by the server) drops it; a full shard first drops its idle
//! entries and, if it is still full, the eighth of its entries closest to idle.
//!
//! With `store: { redis: ... }` every replica checks the same GCRA state in Redis instead
//! ([`redis`]); these in-memory limiters then only decide for the
//! policies that fall back to them while the store cannot be reached.
//!
//! The failure limit (`rate_limits.auth_failures`) is one more GCRA limiter, keyed by the
//! client's address, that counts only failed authentications ([`Limiters::count_failure`])
//! and is asked, without counting, before any credential is checked
//! ([`Limiters::failure_wait`]): an address over it is refused without costing a key
//! lookup, a signature check or a JWKS fetch. With the shared store the failures are
//! counted in Redis, so they add up over the fleet; the question before the check is
//! asked of this replica's limiter, which holds what the store answered the last time
//! this replica counted a failure of the address. A replica so learns that an address
//! is over the limit from the first failure of it that it counts after the fleet's
//! reached the limit: at most one more credential check per replica, and no round trip
//! to Redis for requests that do not fail.

mod counters;
mod memory;
mod policy;
pub(crate) mod redis;

use std::net::IpAddr;
use std::time::Instant;

use http::header::{HeaderMap, HeaderValue};

pub use counters::Counters;
pub use memory::{Limiter, MAX_KEYS, MAX_TABLE_BYTES, SHARD_CAPACITY, SHARDS};
use policy::Network;
pub use policy::{
    Caller, OnStoreFailure, Quota, RateKey, RateLimit, RedisStore, Store, check_policy,
};

use crate::base::problem::Problem;

/// Every policy of a gateway, with one clock, the failure limit, and the shared store if
/// there is one.
#[derive(Debug)]
pub struct Limiters {
    start: Instant,
    pub limiters: Vec<Limiter>,
    /// `rate_limits.auth_failures`: failed authentications per client address.
    failures: Option<Limiter>,
    shared: Option<redis::Shared>,
}

/// What the policies of a route decided.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    /// Checked: the quota of the policy with the fewest requests left, or of the one that
    /// refused (then `retry_after` is set), and that policy.
    Checked(Quota, &'static RateLimit),
    /// The store failed and this policy says `on_store_failure: deny`; retry after this
    /// many seconds.
    Unavailable(&'static str, u64),
}

impl Limiters {
    /// In-memory limiters only.
    pub fn new(
        policies: &'static [RateLimit],
        auth_failures: Option<&'static RateLimit>,
    ) -> Limiters {
        Limiters {
            start: Instant::now(),
            limiters: policies.iter().map(Limiter::new).collect(),
            failures: auth_failures.map(Limiter::new),
            shared: None,
        }
    }

    /// The limiters of the gateway `name`'s `policies` and failure limit, kept in `store`,
    /// a shared one at `url` (read from the environment variable the manifest names,
    /// never compiled in). Connecting happens on the first check, so a store that is down
    /// at start delays nothing. Must be called inside a tokio runtime.
    pub fn with_store(
        name: &'static str,
        policies: &'static [RateLimit],
        auth_failures: Option<&'static RateLimit>,
        store: Store,
        url: Option<&str>,
    ) -> Result<Limiters, String> {
        let mut limiters = Limiters::new(policies, auth_failures);
        if let Store::Redis(store) = store
            && (!policies.is_empty() || auth_failures.is_some())
        {
            let url = url.filter(|url| !url.trim().is_empty()).ok_or_else(|| {
                format!(
                    "rate_limits.store: environment variable {} (the Redis URL) is not set",
                    store.url_env
                )
            })?;
            limiters.shared = Some(redis::Shared::new(name, store, url.trim())?);
        }
        Ok(limiters)
    }

    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Checks every policy of a route; all must pass. `None` when the route has no
    /// policy. Refused and unavailable decisions are counted in `counters`.
    pub async fn check(
        &self,
        policies: &[usize],
        caller: &Caller<'_>,
        counters: &Counters,
    ) -> Option<Verdict> {
        let verdict = match &self.shared {
            None => self
                .check_locally(policies, caller)
                .map(|(q, p)| Verdict::Checked(q, p)),
            Some(shared) => match shared
                .check(&self.limiters, policies, caller, counters, self.start)
                .await
            {
                Ok(checked) => checked.map(|(q, p)| Verdict::Checked(q, p)),
                Err(backoff) => {
                    // The store failed: every policy falls back on its own setting.
                    let mut denied = None;
                    for &index in policies {
                        let Some(limiter) = self.limiters.get(index) else {
                            continue;
                        };
                        let deny = limiter.policy.on_store_failure == OnStoreFailure::Deny;
                        counters.fell_back(index, deny);
                        if deny && denied.is_none() {
                            denied = Some(limiter.policy.name);
                        }
                    }
                    match denied {
                        Some(policy) => Some(Verdict::Unavailable(policy, backoff)),
                        None => self
                            .check_locally(policies, caller)
                            .map(|(q, p)| Verdict::Checked(q, p)),
                    }
                }
            },
        };
        if let Some(Verdict::Checked(quota, policy)) = verdict
            && quota.retry_after.is_some()
        {
            counters.limited(
                self.limiters
                    .iter()
                    .position(|l| std::ptr::eq(l.policy, policy)),
            );
        }
        verdict
    }

    /// The in-memory check: a refusal gives back what the policies before it took.
    fn check_locally(
        &self,
        policies: &[usize],
        caller: &Caller<'_>,
    ) -> Option<(Quota, &'static RateLimit)> {
        let now = self.now();
        let mut outcome: Option<(Quota, &'static RateLimit)> = None;
        for (position, &index) in policies.iter().enumerate() {
            let Some(limiter) = self.limiters.get(index) else {
                continue;
            };
            let key = limiter.key_for(caller);
            let quota = limiter.check_at(key, now);
            let refused = quota.retry_after.is_some();
            // The headers describe the policy with the fewest requests left.
            if outcome.is_none_or(|(seen, _)| quota.remaining < seen.remaining) {
                outcome = Some((quota, limiter.policy));
            }
            if refused {
                for &before in &policies[..position] {
                    if let Some(earlier) = self.limiters.get(before) {
                        earlier.refund(earlier.key_for(caller), now);
                    }
                }
                return Some((quota, limiter.policy));
            }
        }
        outcome
    }

    /// Before any credential of a request from `ip` is checked: the seconds it must wait
    /// when its address is over the failure limit (then the request is refused and
    /// counted in `counters`), `None` when the credential may be checked. Counts nothing
    /// else and never waits on the store.
    pub fn failure_wait(&self, ip: IpAddr, counters: &Counters) -> Option<u64> {
        let failures = self.failures.as_ref()?;
        let wait = failures.wait_at(failures.key(ip, &HeaderMap::new()), self.now())?;
        counters.failure_limited();
        Some(wait)
    }

    /// Counts a failed authentication of a request from `ip` against the failure limit:
    /// in the shared store if there is one (this replica then holds what the fleet
    /// counted), else, or while the store fails, here.
    pub async fn count_failure(&self, ip: IpAddr, counters: &Counters) {
        let Some(failures) = &self.failures else {
            return;
        };
        let key = failures.key(ip, &HeaderMap::new());
        if let Some(shared) = &self.shared {
            let network = Network::of(ip, failures.policy.ipv6_prefix);
            if let Ok(ahead_micros) = shared
                .count_failure(failures, network, counters, self.start)
                .await
            {
                failures.raise_at(key, self.now(), ahead_micros.saturating_mul(1000));
                return;
            }
        }
        failures.check_at(key, self.now());
    }

    pub fn sweep(&self) {
        let now = self.now();
        for limiter in self.limiters.iter().chain(&self.failures) {
            limiter.sweep_at(now);
        }
    }
}

/// The answer to a request from an address over the failure limit: 429, with
/// `Retry-After`, whatever credential it carries (it was not looked at).
pub fn too_many_failures(retry_after: u64) -> Problem {
    Problem::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "too-many-auth-failures",
        "Too many requests",
        format!(
            "too many failed authentications from this address; credentials are checked again in {retry_after} s"
        ),
    )
    .with_header(http::header::RETRY_AFTER, HeaderValue::from(retry_after))
}

/// The answer of a policy with `on_store_failure: deny` while the store fails: 503, since
/// the limit could not be checked (429 would tell the client it went over its limit,
/// which nobody knows), with `Retry-After` for when the store is tried again.
pub fn store_unavailable(policy: &str, retry_after: u64) -> Problem {
    Problem::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "rate-limit-unavailable",
        "Service unavailable",
        format!("rate limit `{policy}` cannot be checked right now; retry in {retry_after} s"),
    )
    .with_header(http::header::RETRY_AFTER, HeaderValue::from(retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    static FIVE_A_MINUTE: RateLimit = RateLimit {
        name: "signup",
        count: 5,
        period: Duration::from_secs(60),
        burst: 5,
        key: RateKey::Ip,
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: true,
    };

    #[test]
    fn burst_then_refusal_then_one_per_interval() {
        let limiter = Limiter::new(&FIVE_A_MINUTE);
        let key = limiter.key_of(b"a");
        for remaining in (0..5).rev() {
            let quota = limiter.check_at(key, 0);
            assert_eq!(quota.retry_after, None);
            assert_eq!(quota.remaining, remaining);
            assert_eq!(quota.limit, 5);
        }
        let refused = limiter.check_at(key, 0);
        assert_eq!(refused.retry_after, Some(12));
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, 60);
        // 12 s later exactly one more is allowed.
        let later = limiter.check_at(key, 12 * SEC);
        assert_eq!(later.retry_after, None);
        assert_eq!(later.remaining, 0);
        assert_eq!(limiter.check_at(key, 12 * SEC).retry_after, Some(12));
        // 1 s later: 11 s to wait.
        assert_eq!(limiter.check_at(key, 13 * SEC).retry_after, Some(11));
    }

    #[test]
    fn waiting_is_asked_without_counting_and_the_store_only_raises() {
        let limiter = Limiter::new(&FIVE_A_MINUTE);
        let key = limiter.key_of(b"a");
        assert_eq!(limiter.wait_at(key, 0), None, "an unknown key");
        for _ in 0..4 {
            limiter.check_at(key, 0);
        }
        for _ in 0..10 {
            assert_eq!(limiter.wait_at(key, 0), None, "asking counts nothing");
        }
        limiter.check_at(key, 0);
        // Refused exactly when check_at refuses, with its wait.
        assert_eq!(limiter.wait_at(key, 0), Some(12));
        assert_eq!(limiter.check_at(key, 0).retry_after, Some(12));
        assert_eq!(limiter.wait_at(key, 5 * SEC), Some(7));
        assert_eq!(limiter.wait_at(key, 12 * SEC), None);
        // What the store holds moves the TAT forward, never back.
        let other = limiter.key_of(b"b");
        limiter.raise_at(other, 0, 60 * SEC);
        assert_eq!(limiter.wait_at(other, 0), Some(12));
        limiter.raise_at(other, 0, 12 * SEC);
        assert_eq!(limiter.wait_at(other, 0), Some(12));
    }

    #[test]
    fn keys_are_independent_and_idle_ones_are_swept() {
        let limiter = Limiter::new(&FIVE_A_MINUTE);
        let (a, b) = (limiter.key_of(b"a"), limiter.key_of(b"b"));
        for _ in 0..5 {
            limiter.check_at(a, 0);
        }
        assert!(limiter.check_at(a, 0).retry_after.is_some());
        assert_eq!(limiter.check_at(b, 0).retry_after, None);
        assert_eq!(limiter.len(), 2);
        limiter.sweep_at(30 * SEC);
        assert_eq!(limiter.len(), 1, "b is idle after 12 s, a is not");
        limiter.sweep_at(60 * SEC);
        assert!(limiter.is_empty());
    }
}
