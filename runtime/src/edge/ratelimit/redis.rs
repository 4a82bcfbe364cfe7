//! The shared rate-limit store: every replica keeps its GCRA state in one Redis server.
//!
//! A check is one round trip: one Lua script (sent as `EVALSHA`, loaded on `NOSCRIPT`)
//! takes the keys of every policy of the route, reads the server's clock (`TIME`, so the
//! replicas' clocks do not matter), and either refuses without writing anything or
//! advances every key's theoretical arrival time at once: the policies of a route are
//! all-or-nothing, atomically, with no refund step. Each key expires (`PX`) when its burst
//! is full again, which is when forgetting it changes nothing, so Redis holds only the
//! keys of clients that are being limited.
//!
//! Keys are `gateway:<gateway>:<policy>:<kind>:<value>`: the client's address as text
//! (an IPv6 client's network, `2001:db8:1:2::/64`), or for header, consumer and claim
//! values the first 128 bits of their SHA-256 in hex (bounded size, and no identities in
//! clear in Redis). The failure limit's are `gateway:<gateway>:auth_failures:f:<address>`,
//! a kind no policy's key has.
//!
//! A failing store must neither slow the gateway down nor be hammered: a call waits at
//! most the store's `timeout`; after a failure the store is not asked again for
//! [`BACKOFF`], then one request probes it while the others keep falling back. Meanwhile
//! each policy follows its `on_store_failure`. The connection is a redis
//! `ConnectionManager` (it reconnects by itself), opened lazily: a store that is down when
//! the gateway starts delays nothing.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::counters::Counters;
use super::memory::Limiter;
use super::policy::{Caller, KeyValue, Network, Quota, RateLimit, RedisStore};

/// How long the store is left alone after a failure, before one request probes it.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// GCRA over every key of `KEYS`, all or nothing. `ARGV` holds, per key, the emission
/// interval and the tolerance (`burst * interval`), in microseconds. Returns `{0, t1, ...,
/// tn}` when allowed, `ti` being key i's new TAT minus now; `{i, tat - now, wait}` when
/// key i refuses. TATs are microseconds of the server's clock, stored as integers
/// (`%d`: Lua's default number format would round them).
const SCRIPT: &str = r"
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > tolerance then
    return {i, tat - now, new_tat - now - tolerance}
  end
  tats[i] = new_tat
end
local answer = {0}
for i = 1, #KEYS do
  local ahead = tats[i] - now
  redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', math.floor(ahead / 1000) + 1)
  answer[i + 1] = ahead
end
return answer
";

/// The Redis store of a gateway.
pub(crate) struct Shared {
    manager: ConnectionManager,
    script: redis::Script,
    /// `gateway:<name>:`
    prefix: String,
    timeout: Duration,
    /// Milliseconds after `Limiters::start` (plus one) until which the store is not
    /// asked; 0 while it answers.
    down_until: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a call failed, for the counters.
enum Failure {
    Timeout,
    Error(redis::RedisError),
}

impl Shared {
    /// A store for gateway `gateway` at `url`; must be called inside a tokio runtime.
    /// Nothing is connected yet.
    pub(crate) fn new(gateway: &str, store: &RedisStore, url: &str) -> Result<Shared, String> {
        // The error never repeats the URL, which may hold a password.
        let client = redis::Client::open(url).map_err(|error| {
            format!(
                "rate_limits.store: environment variable {} does not hold a usable Redis URL ({:?})",
                store.url_env,
                error.kind()
            )
        })?;
        // The check's own timeout (`store.timeout`) answers the request; the connection's
        // longer one only clears what a hung server never answered.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(store.timeout))
            .set_response_timeout(Some(store.timeout.saturating_mul(2)))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(BACKOFF)
            .set_number_of_retries(2);
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(|error| {
            format!(
                "rate_limits.store: cannot set up the Redis connection ({:?})",
                error.kind()
            )
        })?;
        Ok(Shared {
            manager,
            script: redis::Script::new(SCRIPT),
            prefix: format!("gateway:{gateway}:"),
            timeout: store.timeout,
            down_until: AtomicU64::new(0),
        })
    }

    /// The Redis key of `limiter`'s policy for `caller`.
    fn key(&self, limiter: &Limiter, caller: &Caller<'_>) -> String {
        let mut key = String::with_capacity(self.prefix.len() + limiter.policy.name.len() + 40);
        key.push_str(&self.prefix);
        key.push_str(limiter.policy.name);
        match limiter.policy.key.value(caller, limiter.policy.ipv6_prefix) {
            KeyValue::Ip(network) => {
                let _ = write!(key, ":i:{network}");
            }
            KeyValue::Text(kind, value) => {
                let digest = Sha256::digest(&value);
                key.push(':');
                key.push(char::from(kind));
                key.push(':');
                for byte in &digest[..16] {
                    let _ = write!(key, "{byte:02x}");
                }
            }
        }
        key
    }

    /// Checks the route's `policies` (indices into `limiters`) in one script call. `Err`
    /// when the store failed or is backed off, with the seconds a client should wait.
    pub(crate) async fn check(
        &self,
        limiters: &[Limiter],
        policies: &[usize],
        caller: &Caller<'_>,
        counters: &Counters,
        start: Instant,
    ) -> Result<Option<(Quota, &'static RateLimit)>, u64> {
        let checked: Vec<(String, &Limiter)> = policies
            .iter()
            .filter_map(|&i| limiters.get(i))
            .map(|limiter| (self.key(limiter, caller), limiter))
            .collect();
        if checked.is_empty() {
            return Ok(None);
        }
        let answer = self.run(&checked, counters, start).await?;
        let checked: Vec<&Limiter> = checked.iter().map(|(_, limiter)| *limiter).collect();
        Ok(quota(&checked, &answer))
    }

    /// Counts one failed authentication of the client at `network` against `failures`
    /// (`rate_limits.auth_failures`). `Ok` with how far ahead of now, in microseconds, the
    /// client's TAT is in the store (what this replica should hold too); `Err` as
    /// [`Shared::check`].
    pub(crate) async fn count_failure(
        &self,
        failures: &Limiter,
        network: Network,
        counters: &Counters,
        start: Instant,
    ) -> Result<u64, u64> {
        // Kind `f`, which no policy's key has: a policy named like this limit never shares
        // its counts.
        let key = format!("{}{}:f:{network}", self.prefix, failures.policy.name);
        let answer = self.run(&[(key, failures)], counters, start).await?;
        // Allowed: `{0, ahead}`; refused: `{1, ahead, wait}`.
        Ok(answer
            .get(1)
            .and_then(|&ahead| u64::try_from(ahead).ok())
            .unwrap_or(0))
    }

    /// One script call over `checked` (key, limiter): the script's answer, or `Err` when
    /// the store failed or is backed off, with the seconds a client should wait.
    async fn run(
        &self,
        checked: &[(String, &Limiter)],
        counters: &Counters,
        start: Instant,
    ) -> Result<Vec<i64>, u64> {
        let now_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        if !self.admit(now_ms()) {
            return Err(BACKOFF.as_secs().max(1));
        }
        let mut invocation = self.script.prepare_invoke();
        for (key, _) in checked {
            invocation.key(key);
        }
        for (_, limiter) in checked {
            let interval = (limiter.interval / 1000).max(1);
            let burst = limiter.policy.burst.max(1);
            invocation.arg(interval).arg(interval.saturating_mul(burst));
        }
        let mut connection = self.manager.clone();
        let answer = match tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await
        {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Failure::Error(error)),
            Err(_) => Err(Failure::Timeout),
        };
        match answer {
            Ok(answer) => {
                self.answered();
                Ok(answer)
            }
            Err(failure) => {
                self.failed(now_ms(), failure, counters);
                Err(BACKOFF.as_secs().max(1))
            }
        }
    }

    /// Whether to ask the store now: yes while it answers; while it is backed off, only
    /// the one request that first finds the back-off over (it probes).
    fn admit(&self, now_ms: u64) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        now_ms >= until
            && self
                .down_until
                .compare_exchange(
                    until,
                    now_ms.saturating_add(backoff_ms()),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn failed(&self, now_ms: u64, failure: Failure, counters: &Counters) {
        let previous = self
            .down_until
            .swap(now_ms.saturating_add(backoff_ms()), Ordering::Relaxed);
        let reason = match &failure {
            Failure::Timeout => {
                counters.store_timeouts.fetch_add(1, Ordering::Relaxed);
                "timeout".to_owned()
            }
            Failure::Error(error) => {
                counters.store_errors.fetch_add(1, Ordering::Relaxed);
                error.to_string()
            }
        };
        if previous == 0 {
            warn!(
                %reason,
                timeout_ms = self.timeout.as_millis() as u64,
                "the rate-limit store failed; policies follow their on_store_failure until it answers again"
            );
        }
    }

    fn answered(&self) {
        if self.down_until.swap(0, Ordering::Relaxed) != 0 {
            info!("the rate-limit store answers again; limits are shared again");
        }
    }
}

fn backoff_ms() -> u64 {
    BACKOFF.as_millis() as u64
}

/// The quota the `RateLimit-*` headers describe, from the script's answer.
fn quota(checked: &[&Limiter], answer: &[i64]) -> Option<(Quota, &'static RateLimit)> {
    let micros = |v: i64| u64::try_from(v).unwrap_or(0);
    let secs = |us: u64| us.div_ceil(1_000_000);
    let (&first, rest) = answer.split_first()?;
    if first > 0 {
        let limiter = checked.get(usize::try_from(first - 1).ok()?)?;
        let (ahead, wait) = (micros(*rest.first()?), micros(*rest.get(1)?));
        return Some((
            Quota {
                limit: limiter.policy.burst,
                remaining: 0,
                reset: secs(ahead),
                retry_after: Some(secs(wait).max(1)),
            },
            limiter.policy,
        ));
    }
    let mut outcome: Option<(Quota, &'static RateLimit)> = None;
    for (limiter, &ahead) in checked.iter().zip(rest) {
        let ahead = micros(ahead);
        let interval = (limiter.interval / 1000).max(1);
        let tolerance = interval.saturating_mul(limiter.policy.burst.max(1));
        let quota = Quota {
            limit: limiter.policy.burst,
            remaining: tolerance.saturating_sub(ahead) / interval,
            reset: secs(ahead),
            retry_after: None,
        };
        // The headers describe the policy with the fewest requests left.
        if outcome.is_none_or(|(seen, _)| quota.remaining < seen.remaining) {
            outcome = Some((quota, limiter.policy));
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::ratelimit::{OnStoreFailure, RateKey, RateLimit};

    static POLICY: RateLimit = RateLimit {
        name: "p",
        count: 3,
        period: Duration::from_secs(60),
        burst: 3,
        key: RateKey::Ip,
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: true,
    };

    #[test]
    fn answers_become_quotas() {
        let limiter = Limiter::new(&POLICY);
        // Allowed, 20 s ahead: 2 left, full again in 20 s.
        let (q, policy) = quota(&[&limiter], &[0, 20_000_000]).unwrap();
        assert_eq!(policy.name, "p");
        assert_eq!((q.remaining, q.reset, q.retry_after), (2, 20, None));
        // Refused: 60 s ahead, 20 s to wait.
        let (q, _) = quota(&[&limiter], &[1, 60_000_000, 19_500_000]).unwrap();
        assert_eq!((q.remaining, q.reset, q.retry_after), (0, 60, Some(20)));
        assert!(super::quota(&[&limiter], &[]).is_none());
        assert!(super::quota(&[&limiter], &[2, 1, 1]).is_none());
    }
}
