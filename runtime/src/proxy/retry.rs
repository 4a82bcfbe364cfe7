//! Retries: which failures may be retried, the back-off between tries, and the budget
//! that keeps retries from multiplying an outage.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::policy::Retries;

/// Buckets of the budget's window.
const BUCKETS: usize = 10;
/// The budget's window: requests and retries of the last ten seconds count.
const WINDOW: Duration = Duration::from_secs(10);

/// Whether a method may be sent twice (RFC 9110 9.2.2; `PATCH` and `POST` are not).
pub(crate) fn idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::OPTIONS
            | http::Method::TRACE
    )
}

/// The pause before retry number `retry` (1-based): exponential back-off with full
/// jitter, a random duration between zero and `base * 2^(retry-1)`, capped at `max`.
pub(crate) fn backoff(config: &Retries, retry: u32, random: u64) -> Duration {
    if config.backoff.is_zero() {
        return Duration::ZERO;
    }
    let ceiling = config
        .backoff
        .saturating_mul(1u32 << (retry.saturating_sub(1)).min(16))
        .min(config.max_backoff.max(config.backoff));
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(if nanos == 0 { 0 } else { random % nanos })
}

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    epoch: u64,
    requests: u64,
    retries: u64,
}

/// Retries may be at most `budget_percent`% of the requests of the last ten seconds,
/// plus `min_per_second` a second so that a quiet service can still retry.
#[derive(Debug)]
pub(crate) struct Budget {
    percent: u32,
    min_per_second: u32,
    started: Instant,
    buckets: Mutex<[Bucket; BUCKETS]>,
}

impl Budget {
    pub(crate) fn new(config: &Retries) -> Budget {
        Budget {
            percent: config.budget_percent,
            min_per_second: config.min_per_second,
            started: Instant::now(),
            buckets: Mutex::new([Bucket::default(); BUCKETS]),
        }
    }

    fn with_bucket<T>(&self, now: Instant, f: impl FnOnce(&mut [Bucket; BUCKETS], u64) -> T) -> T {
        let epoch = (now.saturating_duration_since(self.started).as_nanos()
            / (WINDOW / BUCKETS as u32).as_nanos()) as u64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket {
                epoch,
                requests: 0,
                retries: 0,
            };
        }
        f(&mut buckets, epoch)
    }

    /// Counts a request (its first try).
    pub(crate) fn request(&self, now: Instant) {
        self.with_bucket(now, |buckets, epoch| {
            buckets[(epoch % BUCKETS as u64) as usize].requests += 1;
        });
    }

    /// Takes one retry from the budget, if there is one left.
    pub(crate) fn try_retry(&self, now: Instant) -> bool {
        self.with_bucket(now, |buckets, epoch| {
            let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
            let (requests, retries) = buckets
                .iter()
                .filter(|b| b.epoch >= oldest && b.epoch <= epoch)
                .fold((0, 0), |(q, r), b| (q + b.requests, r + b.retries));
            let allowed = requests * u64::from(self.percent) / 100
                + u64::from(self.min_per_second) * WINDOW.as_secs();
            if retries < allowed {
                buckets[(epoch % BUCKETS as u64) as usize].retries += 1;
                true
            } else {
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRIES: Retries = Retries {
        attempts: 2,
        budget_percent: 20,
        min_per_second: 0,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };

    #[test]
    fn only_idempotent_methods() {
        for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            assert!(idempotent(&method.parse().unwrap()), "{method}");
        }
        for method in ["POST", "PATCH"] {
            assert!(!idempotent(&method.parse().unwrap()), "{method}");
        }
    }

    #[test]
    fn backoff_is_jittered_below_an_exponential_ceiling() {
        // The ceilings: 10 ms, 20 ms, then capped at 50 ms.
        assert_eq!(
            backoff(&RETRIES, 1, 9_999_999),
            Duration::from_nanos(9_999_999)
        );
        assert_eq!(backoff(&RETRIES, 1, 10_000_000), Duration::ZERO);
        assert_eq!(
            backoff(&RETRIES, 2, 19_999_999),
            Duration::from_nanos(19_999_999)
        );
        assert_eq!(
            backoff(&RETRIES, 9, 49_999_999),
            Duration::from_nanos(49_999_999)
        );
        assert!(backoff(&RETRIES, 9, u64::MAX) < Duration::from_millis(50));
        assert_eq!(backoff(&RETRIES, 3, 0), Duration::ZERO);
    }

    #[test]
    fn the_budget_is_a_share_of_requests() {
        let budget = Budget::new(&RETRIES);
        let now = Instant::now();
        for _ in 0..50 {
            budget.request(now);
        }
        let granted = (0..100).filter(|_| budget.try_retry(now)).count();
        assert_eq!(granted, 10);
        let with_floor = Budget::new(&Retries {
            min_per_second: 1,
            ..RETRIES
        });
        // Ten seconds of one a second, with no request at all.
        assert_eq!((0..100).filter(|_| with_floor.try_retry(now)).count(), 10);
    }
}
