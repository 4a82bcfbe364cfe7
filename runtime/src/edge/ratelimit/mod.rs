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
//!
//! With `store: { redis: ... }` every replica checks the same GCRA state in Redis instead
//! ([`crate::edge::ratelimit::redis`]); these in-memory limiters then only decide for the
//! policies that fall back to them while the store cannot be reached.

pub(crate) mod redis;

use crate::base::problem::Problem;

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// What the policy decides while the shared store cannot be reached (the memory
    /// store never fails).
    pub on_store_failure: OnStoreFailure,
    /// Whether allowed answers carry the `RateLimit-*` fields (429s always do).
    pub allowed_headers: bool,
}

/// What a policy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The client's address: the TCP peer, or when the peer is a trusted proxy, the
    /// right-most untrusted address of `X-Forwarded-For` (see `edge::client_ip`).
    Ip,
    /// The value of this request header (lower case); requests without it share one key.
    Header(&'static str),
    /// The verified identity: the API key's consumer or the token's `sub`. Requests
    /// without one (a public route, a token without `sub`) are counted by [`RateKey::Ip`].
    Consumer,
    /// The value of this claim of the verified token; requests without it are counted by
    /// [`RateKey::Ip`].
    Claim(&'static str),
}

/// What a policy does when the shared store fails (an error, or no answer in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreFailure {
    /// Decide with this replica's in-memory limiter (each replica then allows the whole
    /// limit on its own until the store is back).
    #[default]
    Allow,
    /// Refuse with 503 and `Retry-After`: the limit can not be checked.
    Deny,
}

/// Where the GCRA state of every policy is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In each gateway process.
    Memory,
    /// In one Redis server that every replica shares.
    Redis(&'static RedisStore),
}

/// `rate_limits.store.redis` of the manifest.
#[derive(Debug, PartialEq, Eq)]
pub struct RedisStore {
    /// The environment variable holding the URL (`redis://[user:password@]host:port/db`),
    /// read at start: the URL may carry a password, so it is never compiled in.
    pub url_env: &'static str,
    /// The longest a check waits for Redis before the policy's `on_store_failure`
    /// decides.
    pub timeout: Duration,
}

/// Who is asking: what a policy's key is taken from.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The client's address (already resolved through trusted proxies).
    pub ip: IpAddr,
    pub headers: &'a HeaderMap,
    /// The verified identity, on routes that require credentials.
    pub identity: Option<&'a crate::edge::auth::Authenticated>,
}

/// The part of a request a policy counts by: a kind tag and its value.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyValue<'a> {
    Ip(IpAddr),
    /// (kind tag, value).
    Text(u8, std::borrow::Cow<'a, [u8]>),
}

impl RateKey {
    /// The value this key takes for `caller`; a missing identity or claim falls back to
    /// the client's address.
    pub(crate) fn value<'a>(self, caller: &Caller<'a>) -> KeyValue<'a> {
        use std::borrow::Cow;
        match self {
            RateKey::Ip => KeyValue::Ip(caller.ip),
            RateKey::Header(name) => KeyValue::Text(
                b'h',
                Cow::Borrowed(
                    caller
                        .headers
                        .get(name)
                        .map_or(&b""[..], HeaderValue::as_bytes),
                ),
            ),
            RateKey::Consumer => match caller.identity.and_then(|i| i.consumer.as_deref()) {
                Some(consumer) => KeyValue::Text(b'c', Cow::Borrowed(consumer.as_bytes())),
                None => KeyValue::Ip(caller.ip),
            },
            RateKey::Claim(claim) => {
                let value = caller
                    .identity
                    .and_then(|i| i.claims.as_ref())
                    .and_then(|claims| claims.get(claim));
                match value {
                    None | Some(serde_json::Value::Null) => KeyValue::Ip(caller.ip),
                    Some(serde_json::Value::String(text)) => {
                        KeyValue::Text(b'j', Cow::Owned(text.as_bytes().to_vec()))
                    }
                    Some(other) => KeyValue::Text(b'j', Cow::Owned(other.to_string().into_bytes())),
                }
            }
        }
    }
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
    /// Emission interval, nanoseconds.
    pub(crate) interval: u64,
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
        Limiter {
            policy,
            interval,
            tolerance: interval.saturating_mul(policy.burst.max(1)),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The key hash of a request without a verified identity.
    pub fn key(&self, client_ip: IpAddr, headers: &HeaderMap) -> u64 {
        self.key_for(&Caller {
            ip: client_ip,
            headers,
            identity: None,
        })
    }

    /// The key hash of a request.
    pub fn key_for(&self, caller: &Caller<'_>) -> u64 {
        self.hasher.hash_one(self.policy.key.value(caller))
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

/// The rate-limit counters of `/metrics`: refusals by policy, and how the shared store
/// fared.
#[derive(Debug)]
pub struct Counters {
    /// Per policy: 429s.
    limited: Vec<AtomicU64>,
    /// Per policy: checks decided without the store, by `on_store_failure` (allow, deny).
    fallbacks: Vec<[AtomicU64; 2]>,
    /// Store calls that failed: (timeout, error).
    pub(crate) store_timeouts: AtomicU64,
    pub(crate) store_errors: AtomicU64,
}

impl Counters {
    pub fn new(policies: &[RateLimit]) -> Counters {
        Counters {
            limited: policies.iter().map(|_| AtomicU64::new(0)).collect(),
            fallbacks: policies.iter().map(|_| Default::default()).collect(),
            store_timeouts: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    fn limited(&self, policy: Option<usize>) {
        if let Some(counter) = policy.and_then(|i| self.limited.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fell_back(&self, policy: usize, deny: bool) {
        if let Some(counters) = self.fallbacks.get(policy) {
            counters[usize::from(deny)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the Prometheus families (text format 0.0.4); `policies` are the
    /// gateway's, in the order these counters were made for.
    pub(crate) fn render(&self, out: &mut String, policies: &[RateLimit], shared_store: bool) {
        use std::fmt::Write as _;
        if policies.is_empty() {
            return;
        }
        let escaped = crate::base::prometheus::Escaped;
        let _ = writeln!(
            out,
            "# HELP gateway_rate_limited_total Requests refused with 429, by the rate-limit policy that refused them.\n# TYPE gateway_rate_limited_total counter"
        );
        for (policy, counter) in policies.iter().zip(&self.limited) {
            let value = counter.load(Ordering::Relaxed);
            if value > 0 {
                let _ = writeln!(
                    out,
                    "gateway_rate_limited_total{{policy=\"{}\"}} {value}",
                    escaped(policy.name)
                );
            }
        }
        if !shared_store {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP gateway_rate_limit_store_errors_total Calls to the shared rate-limit store that failed, by reason (timeout, error).\n# TYPE gateway_rate_limit_store_errors_total counter"
        );
        for (reason, counter) in [
            ("timeout", &self.store_timeouts),
            ("error", &self.store_errors),
        ] {
            let _ = writeln!(
                out,
                "gateway_rate_limit_store_errors_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP gateway_rate_limit_store_fallbacks_total Policy checks decided without the shared store (it failed or is backed off), by policy and on_store_failure (allow: the local limiter decided; deny: refused with 503).\n# TYPE gateway_rate_limit_store_fallbacks_total counter"
        );
        for (policy, counters) in policies.iter().zip(&self.fallbacks) {
            for (action, counter) in ["allow", "deny"].iter().zip(counters) {
                let value = counter.load(Ordering::Relaxed);
                if value > 0 {
                    let _ = writeln!(
                        out,
                        "gateway_rate_limit_store_fallbacks_total{{policy=\"{}\",on_store_failure=\"{action}\"}} {value}",
                        escaped(policy.name)
                    );
                }
            }
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
