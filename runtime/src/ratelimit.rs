//! In-memory rate limiting: GCRA (the generic cell rate algorithm) per (policy, key).
//!
//! A policy allows `count` requests per `period` on average and at most `burst` at once:
//! every request advances the key's *theoretical arrival time* (TAT) by the emission
//! interval `T = period / count`, and is refused when that would put the TAT more than
//! `burst * T` ahead of now. One `u64` of state per key, no timers.
//!
//! Memory is bounded: keys are stored as 64-bit SipHash values (keyed randomly per
//! process, so clients cannot aim collisions), in [`SHARDS`] shards of at most
//! [`SHARD_CAPACITY`] entries each, that is at most [`MAX_KEYS`] keys per policy. An
//! entry whose TAT has passed is idle (forgetting it changes nothing), so [`Limiter::sweep`]
//! (run every few seconds by the server) drops it; a full shard first drops its idle
//! entries and, if it is still full, the eighth of its entries closest to idle.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// One compiled rate-limit policy (`rate_limits.policies.<name>` of the manifest).
#[derive(Debug)]
pub struct RateLimit {
    /// The policy's name in the manifest.
    pub name: &'static str,
    /// Requests allowed per `period`, on average.
    pub count: u64,
    pub period: Duration,
    /// Requests allowed at once (at least 1).
    pub burst: u64,
    /// What tells clients apart.
    pub key: RateKey,
}

/// What a policy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The TCP peer address (proxies in front of the gateway are not looked through).
    Ip,
    /// The value of this request header (lower case); requests without it share one key.
    Header(&'static str),
}

/// Shards per policy.
pub const SHARDS: usize = 128;
/// Entries per shard, at most. Half of what a 4096-bucket table holds: hashbrown
/// rehashes a table in place (rather than doubling it) while it is at most half full, so
/// deleted entries never make a shard grow past 4096 buckets.
pub const SHARD_CAPACITY: usize = 1792;
/// Keys tracked per policy, at most (229,376).
pub const MAX_KEYS: usize = SHARDS * SHARD_CAPACITY;
/// The most bytes the tables of one policy hold: 4096 buckets of 16 bytes and 4096 + 16
/// control bytes per shard (about 8.5 MiB).
pub const MAX_TABLE_BYTES: usize = SHARDS * (4096 * 17 + 16);

/// The key is already a random 64-bit hash: the table uses it as is.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, u64, BuildHasherDefault<Identity>>;

/// The outcome of one check, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The policy's burst.
    pub limit: u64,
    /// Requests the key could still make right now.
    pub remaining: u64,
    /// Seconds (rounded up) until the key's full burst is available again.
    pub reset: u64,
    /// When refused: seconds (rounded up, at least 1) until one request is allowed.
    pub retry_after: Option<u64>,
}

impl Quota {
    /// Sets `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft
    /// RateLimit header fields, delta-seconds), and `Retry-After` when refused.
    pub fn decorate(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset));
        if let Some(after) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(after));
        }
    }
}

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The state of one policy: GCRA over a sharded map of key hashes.
pub struct Limiter {
    pub policy: &'static RateLimit,
    header: Option<HeaderName>,
    /// Emission interval, nanoseconds.
    interval: u64,
    /// `burst * interval`, nanoseconds.
    tolerance: u64,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy.name)
            .field("keys", &self.len())
            .finish()
    }
}

/// Why a policy cannot be enforced.
pub fn check_policy(policy: &RateLimit) -> Result<(), String> {
    if policy.count == 0 || policy.burst == 0 || policy.period.is_zero() {
        return Err(format!(
            "rate-limit policy `{}` must allow at least one request per non-zero period, with a burst of at least 1",
            policy.name
        ));
    }
    if let RateKey::Header(name) = policy.key
        && HeaderName::from_bytes(name.as_bytes()).is_err()
    {
        return Err(format!(
            "rate-limit policy `{}`: `{name}` is not a header name",
            policy.name
        ));
    }
    Ok(())
}

impl Limiter {
    /// A limiter for `policy`; `check_policy` must accept it.
    pub fn new(policy: &'static RateLimit) -> Limiter {
        let period = u64::try_from(policy.period.as_nanos()).unwrap_or(u64::MAX);
        let interval = (period / policy.count.max(1)).max(1);
        let header = match policy.key {
            RateKey::Ip => None,
            RateKey::Header(name) => HeaderName::from_bytes(name.as_bytes()).ok(),
        };
        Limiter {
            policy,
            header,
            interval,
            tolerance: interval.saturating_mul(policy.burst.max(1)),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The key hash of a request.
    pub fn key(&self, client_ip: IpAddr, headers: &HeaderMap) -> u64 {
        match &self.header {
            None => self.hasher.hash_one(client_ip),
            Some(name) => self
                .hasher
                .hash_one(headers.get(name).map_or(&b""[..], HeaderValue::as_bytes)),
        }
    }

    /// The key hash of raw bytes (tests and benchmarks).
    pub fn key_of(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    fn shard(&self, key: u64) -> &Mutex<Shard> {
        // Bits the table itself does not use (it takes the low bits for the bucket
        // and the top seven as tag).
        &self.shards[((key >> 32) as usize) % SHARDS]
    }

    /// One request of `key` at `now` (nanoseconds on the limiter's clock).
    pub fn check_at(&self, key: u64, now: u64) -> Quota {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let tat = shard.get(&key).copied().unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(self.interval);
        if new_tat - now > self.tolerance {
            // Refused: nothing changes.
            let wait = new_tat - now - self.tolerance;
            return Quota {
                limit: self.policy.burst,
                remaining: 0,
                reset: ceil_secs(tat - now),
                retry_after: Some(ceil_secs(wait).max(1)),
            };
        }
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&key) {
            make_room(&mut shard, now);
        }
        shard.insert(key, new_tat);
        Quota {
            limit: self.policy.burst,
            remaining: (self.tolerance - (new_tat - now)) / self.interval,
            reset: ceil_secs(new_tat - now),
            retry_after: None,
        }
    }

    /// Gives back the request `check_at` just allowed (another policy refused it).
    pub fn refund(&self, key: u64, now: u64) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = shard.get_mut(&key) {
            *tat = tat.saturating_sub(self.interval).max(now);
        }
    }

    /// Drops the idle keys (whose TAT has passed: their state is that of a new key).
    pub fn sweep_at(&self, now: u64) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.retain(|_, tat| *tat > now);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A full shard: drop the idle entries, and if that is not enough, the eighth of the
/// entries nearest to idle (smallest TAT), so that the cost is amortized.
fn make_room(shard: &mut Shard, now: u64) {
    shard.retain(|_, tat| *tat > now);
    if shard.len() < SHARD_CAPACITY {
        return;
    }
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let nth = SHARD_CAPACITY / 8;
    let (_, threshold, _) = tats.select_nth_unstable(nth);
    let threshold = *threshold;
    shard.retain(|_, tat| *tat > threshold);
}

fn ceil_secs(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

/// Every policy of a gateway, with one clock.
#[derive(Debug)]
pub struct Limiters {
    start: Instant,
    pub limiters: Vec<Limiter>,
}

impl Limiters {
    pub fn new(policies: &'static [RateLimit]) -> Limiters {
        Limiters {
            start: Instant::now(),
            limiters: policies.iter().map(Limiter::new).collect(),
        }
    }

    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Checks every policy of a route; all must pass. A refusal gives back what the
    /// policies before it took. `None` when the route has no policy.
    pub fn check(
        &self,
        policies: &[usize],
        client_ip: IpAddr,
        headers: &HeaderMap,
    ) -> Option<(Quota, &'static str)> {
        let now = self.now();
        let mut outcome: Option<(Quota, &'static str)> = None;
        for (position, &index) in policies.iter().enumerate() {
            let Some(limiter) = self.limiters.get(index) else {
                continue;
            };
            let key = limiter.key(client_ip, headers);
            let quota = limiter.check_at(key, now);
            let refused = quota.retry_after.is_some();
            // The headers describe the policy with the fewest requests left.
            if outcome.is_none_or(|(seen, _)| quota.remaining < seen.remaining) {
                outcome = Some((quota, limiter.policy.name));
            }
            if refused {
                for &before in &policies[..position] {
                    if let Some(earlier) = self.limiters.get(before) {
                        earlier.refund(earlier.key(client_ip, headers), now);
                    }
                }
                return Some((quota, limiter.policy.name));
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

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    static FIVE_A_MINUTE: RateLimit = RateLimit {
        name: "signup",
        count: 5,
        period: Duration::from_secs(60),
        burst: 5,
        key: RateKey::Ip,
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
