//! Circuit breakers, one per instance and one per service: closed, open, half-open.
//!
//! Closed, a breaker counts outcomes in a rolling window (ten buckets) and trips when the
//! failure ratio over at least `min_requests` outcomes reaches `failure_ratio`, or after
//! `consecutive_failures` failures in a row. Open, it refuses everything for `open_for`
//! (the caller answers 503 with `Retry-After` without touching the upstream). Then it lets
//! `half_open_probes` requests through: all succeeding closes it, one failing opens it
//! again. linkerd's failure accrual and Envoy's outlier detection work alike.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::policy::Breaker;

/// Buckets of the rolling window.
const BUCKETS: usize = 10;

/// What the breaker's state gauge reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl State {
    fn from_u8(value: u8) -> State {
        match value {
            1 => State::Open,
            2 => State::HalfOpen,
            _ => State::Closed,
        }
    }
}

/// A permission to send one request, to be given back with its outcome
/// ([`CircuitBreaker::record`]) or without one ([`CircuitBreaker::cancel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// The breaker was closed.
    Normal,
    /// One of the limited half-open probes.
    Probe,
}

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    /// Which bucket period this one counts (`elapsed / bucket length`).
    epoch: u64,
    requests: u32,
    failures: u32,
}

#[derive(Debug)]
struct Inner {
    state: State,
    buckets: [Bucket; BUCKETS],
    consecutive: u32,
    open_until: Instant,
    probes_in_flight: u32,
    probe_successes: u32,
}

/// One breaker. `name` says whose, in the logs.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    config: Breaker,
    started: Instant,
    inner: Mutex<Inner>,
    /// `State` as a number, readable without the lock (for metrics and selection).
    gauge: AtomicU8,
}

impl CircuitBreaker {
    pub(crate) fn new(config: Breaker) -> CircuitBreaker {
        let now = Instant::now();
        CircuitBreaker {
            config,
            started: now,
            inner: Mutex::new(Inner {
                state: State::Closed,
                buckets: [Bucket::default(); BUCKETS],
                consecutive: 0,
                open_until: now,
                probes_in_flight: 0,
                probe_successes: 0,
            }),
            gauge: AtomicU8::new(State::Closed as u8),
        }
    }

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.gauge.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way
        // that matters more than refusing traffic would.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, inner: &mut Inner, state: State, name: &dyn std::fmt::Display) {
        if inner.state != state {
            match state {
                State::Open => tracing::warn!(breaker = %name, "circuit breaker opened"),
                State::HalfOpen => tracing::info!(breaker = %name, "circuit breaker half-open"),
                State::Closed => tracing::info!(breaker = %name, "circuit breaker closed"),
            }
        }
        inner.state = state;
        self.gauge.store(state as u8, Ordering::Relaxed);
    }

    /// Whether a request could be let through now, without reserving anything (for
    /// choosing among instances).
    pub(crate) fn available(&self, now: Instant) -> bool {
        match self.state() {
            State::Closed => true,
            State::Open => now >= self.lock().open_until,
            State::HalfOpen => self.lock().probes_in_flight < self.config.half_open_probes.max(1),
        }
    }

    /// How long until an open breaker half-opens (`None` when closed).
    pub(crate) fn acquire_wait(&self, now: Instant) -> Option<Duration> {
        match self.state() {
            State::Closed => None,
            State::Open => Some(self.lock().open_until.saturating_duration_since(now)),
            State::HalfOpen => Some(Duration::from_millis(100)),
        }
    }

    /// Lets one request through, or says how long until the breaker half-opens.
    pub(crate) fn acquire(
        &self,
        now: Instant,
        name: &dyn std::fmt::Display,
    ) -> Result<Permit, Duration> {
        if self.state() == State::Closed {
            return Ok(Permit::Normal);
        }
        let mut inner = self.lock();
        if inner.state == State::Open {
            if now < inner.open_until {
                return Err(inner.open_until - now);
            }
            inner.probes_in_flight = 0;
            inner.probe_successes = 0;
            self.set(&mut inner, State::HalfOpen, name);
        }
        match inner.state {
            State::Closed => Ok(Permit::Normal),
            State::HalfOpen if inner.probes_in_flight < self.config.half_open_probes.max(1) => {
                inner.probes_in_flight += 1;
                Ok(Permit::Probe)
            }
            // Every probe is out: the caller waits for them like for an open breaker.
            _ => Err(Duration::from_millis(100)),
        }
    }

    /// Gives a permit back without an outcome (the request was abandoned).
    pub(crate) fn cancel(&self, permit: Permit) {
        if permit == Permit::Probe {
            let mut inner = self.lock();
            inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
        }
    }

    /// Gives a permit back with the outcome of its request.
    pub(crate) fn record(
        &self,
        permit: Permit,
        success: bool,
        now: Instant,
        name: &dyn std::fmt::Display,
    ) {
        // The common case, a closed breaker and a success with no failure streak, still
        // takes the lock: the window counts every outcome.
        let mut inner = self.lock();
        match (inner.state, permit) {
            (State::HalfOpen, Permit::Probe) => {
                inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
                if success {
                    inner.probe_successes += 1;
                    if inner.probe_successes >= self.config.half_open_probes.max(1) {
                        inner.buckets = [Bucket::default(); BUCKETS];
                        inner.consecutive = 0;
                        self.set(&mut inner, State::Closed, name);
                    }
                } else {
                    inner.open_until = now + self.config.open_for;
                    self.set(&mut inner, State::Open, name);
                }
            }
            (State::Closed, Permit::Normal) => {
                let bucket_len =
                    (self.config.window / BUCKETS as u32).max(Duration::from_millis(1));
                let epoch = (now.saturating_duration_since(self.started).as_nanos()
                    / bucket_len.as_nanos()) as u64;
                let slot = &mut inner.buckets[(epoch % BUCKETS as u64) as usize];
                if slot.epoch != epoch {
                    *slot = Bucket {
                        epoch,
                        requests: 0,
                        failures: 0,
                    };
                }
                slot.requests += 1;
                if success {
                    inner.consecutive = 0;
                } else {
                    slot.failures += 1;
                    inner.consecutive += 1;
                }
                if success {
                    return;
                }
                let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
                let (requests, failures) = inner
                    .buckets
                    .iter()
                    .filter(|b| b.epoch >= oldest && b.epoch <= epoch)
                    .fold((0u32, 0u32), |(r, f), b| (r + b.requests, f + b.failures));
                let by_streak = self.config.consecutive_failures > 0
                    && inner.consecutive >= self.config.consecutive_failures;
                let by_ratio = self.config.min_requests > 0
                    && requests >= self.config.min_requests
                    && f64::from(failures) >= self.config.failure_ratio * f64::from(requests);
                if by_streak || by_ratio {
                    inner.open_until = now + self.config.open_for;
                    self.set(&mut inner, State::Open, name);
                }
            }
            // An outcome from before the breaker changed state says nothing about now.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: Breaker = Breaker {
        failure_ratio: 0.5,
        min_requests: 10,
        window: Duration::from_secs(10),
        consecutive_failures: 5,
        open_for: Duration::from_secs(1),
        half_open_probes: 2,
    };

    #[test]
    fn trips_on_consecutive_failures_then_half_opens_and_closes() {
        let breaker = CircuitBreaker::new(CONFIG);
        let t0 = Instant::now();
        for _ in 0..4 {
            let permit = breaker.acquire(t0, &"b").unwrap();
            breaker.record(permit, false, t0, &"b");
        }
        assert_eq!(breaker.state(), State::Closed);
        let permit = breaker.acquire(t0, &"b").unwrap();
        breaker.record(permit, false, t0, &"b");
        assert_eq!(breaker.state(), State::Open);
        let wait = breaker.acquire(t0, &"b").unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(!breaker.available(t0));
        let later = t0 + Duration::from_secs(1);
        assert!(breaker.available(later));
        let p1 = breaker.acquire(later, &"b").unwrap();
        let p2 = breaker.acquire(later, &"b").unwrap();
        assert_eq!((p1, p2), (Permit::Probe, Permit::Probe));
        assert_eq!(breaker.state(), State::HalfOpen);
        assert!(breaker.acquire(later, &"b").is_err(), "only two probes");
        breaker.record(p1, true, later, &"b");
        assert_eq!(breaker.state(), State::HalfOpen);
        breaker.record(p2, true, later, &"b");
        assert_eq!(breaker.state(), State::Closed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let breaker = CircuitBreaker::new(CONFIG);
        let t0 = Instant::now();
        for _ in 0..5 {
            let permit = breaker.acquire(t0, &"b").unwrap();
            breaker.record(permit, false, t0, &"b");
        }
        let later = t0 + Duration::from_secs(2);
        let probe = breaker.acquire(later, &"b").unwrap();
        breaker.record(probe, false, later, &"b");
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(
            breaker.acquire(later, &"b").unwrap_err(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn trips_on_the_failure_ratio_only_past_the_minimum() {
        let config = Breaker {
            consecutive_failures: 0,
            ..CONFIG
        };
        let breaker = CircuitBreaker::new(config);
        let t0 = Instant::now();
        // Alternating: 50% failures, but not before ten outcomes.
        for i in 0..9 {
            let permit = breaker.acquire(t0, &"b").unwrap();
            breaker.record(permit, i % 2 == 0, t0, &"b");
        }
        assert_eq!(breaker.state(), State::Closed);
        let permit = breaker.acquire(t0, &"b").unwrap();
        breaker.record(permit, false, t0, &"b");
        assert_eq!(breaker.state(), State::Open);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let config = Breaker {
            consecutive_failures: 0,
            ..CONFIG
        };
        let breaker = CircuitBreaker::new(config);
        let t0 = Instant::now();
        for _ in 0..9 {
            let permit = breaker.acquire(t0, &"b").unwrap();
            breaker.record(permit, false, t0, &"b");
        }
        // Eleven seconds later those nine failures are out of the ten-second window.
        let later = t0 + Duration::from_secs(11);
        let permit = breaker.acquire(later, &"b").unwrap();
        breaker.record(permit, false, later, &"b");
        assert_eq!(breaker.state(), State::Closed);
    }
}
