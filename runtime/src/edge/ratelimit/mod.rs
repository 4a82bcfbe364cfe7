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

mod counters;
mod memory;
mod policy;
pub(crate) mod redis;

use std::time::Instant;

use http::header::HeaderValue;

pub use counters::Counters;
pub use memory::{Limiter, MAX_KEYS, MAX_TABLE_BYTES, SHARD_CAPACITY, SHARDS};
pub use policy::{
    Caller, OnStoreFailure, Quota, RateKey, RateLimit, RedisStore, Store, check_policy,
};

use crate::base::problem::Problem;

/// Every policy of a gateway, with one clock, and the shared store if there is one.
#[derive(Debug)]
pub struct Limiters {
    start: Instant,
    pub limiters: Vec<Limiter>,
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
    pub fn new(policies: &'static [RateLimit]) -> Limiters {
        Limiters {
            start: Instant::now(),
            limiters: policies.iter().map(Limiter::new).collect(),
            shared: None,
        }
    }

    /// The limiters of the gateway `name`'s `policies`, kept in `store`, a shared one at
    /// `url` (read from the environment variable the manifest names, never compiled in).
    /// Connecting happens on the first check, so a store that is down at start delays
    /// nothing. Must be called inside a tokio runtime.
    pub fn with_store(
        name: &'static str,
        policies: &'static [RateLimit],
        store: Store,
        url: Option<&str>,
    ) -> Result<Limiters, String> {
        let mut limiters = Limiters::new(policies);
        if let Store::Redis(store) = store
            && !policies.is_empty()
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

    pub fn sweep(&self) {
        let now = self.now();
        for limiter in &self.limiters {
            limiter.sweep_at(now);
        }
    }
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
