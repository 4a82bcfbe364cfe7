//! The rate-limit counters of `/metrics`, owned here and rendered here.

use std::sync::atomic::{AtomicU64, Ordering};

use super::policy::RateLimit;
use crate::base::prometheus::{Escaped, family};

/// The rate-limit counters of `/metrics`: refusals by policy and by the failure limit,
/// and how the shared store fared.
#[derive(Debug)]
pub struct Counters {
    /// Per policy: 429s.
    limited: Vec<AtomicU64>,
    /// Per policy: checks decided without the store, by `on_store_failure` (allow, deny).
    fallbacks: Vec<[AtomicU64; 2]>,
    /// Requests refused because their address was over the failure limit.
    failures_limited: AtomicU64,
    /// Store calls that failed: (timeout, error).
    pub(crate) store_timeouts: AtomicU64,
    pub(crate) store_errors: AtomicU64,
}

impl Counters {
    pub fn new(policies: &[RateLimit]) -> Counters {
        Counters {
            limited: policies.iter().map(|_| AtomicU64::new(0)).collect(),
            fallbacks: policies.iter().map(|_| Default::default()).collect(),
            failures_limited: AtomicU64::new(0),
            store_timeouts: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    pub(super) fn limited(&self, policy: Option<usize>) {
        if let Some(counter) = policy.and_then(|i| self.limited.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn failure_limited(&self) {
        self.failures_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn fell_back(&self, policy: usize, deny: bool) {
        if let Some(counters) = self.fallbacks.get(policy) {
            counters[usize::from(deny)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the Prometheus families (text format 0.0.4); `policies` are the
    /// gateway's, in the order these counters were made for; `auth_failures`: whether the
    /// gateway has a failure limit.
    pub(crate) fn render(
        &self,
        out: &mut String,
        policies: &[RateLimit],
        auth_failures: bool,
        shared_store: bool,
    ) {
        use std::fmt::Write as _;
        if auth_failures {
            family(
                out,
                "gateway_auth_failures_limited_total",
                "counter",
                "Requests refused with 429 before their credentials were checked: their address had failed authentication more than rate_limits.auth_failures allows.",
            );
            let _ = writeln!(
                out,
                "gateway_auth_failures_limited_total {}",
                self.failures_limited.load(Ordering::Relaxed)
            );
        }
        if !policies.is_empty() {
            family(
                out,
                "gateway_rate_limited_total",
                "counter",
                "Requests refused with 429, by the rate-limit policy that refused them.",
            );
            for (policy, counter) in policies.iter().zip(&self.limited) {
                let value = counter.load(Ordering::Relaxed);
                if value > 0 {
                    let _ = writeln!(
                        out,
                        "gateway_rate_limited_total{{policy=\"{}\"}} {value}",
                        Escaped(policy.name)
                    );
                }
            }
        }
        // The store is used when something counts in it.
        if !shared_store || (policies.is_empty() && !auth_failures) {
            return;
        }
        family(
            out,
            "gateway_rate_limit_store_errors_total",
            "counter",
            "Calls to the shared rate-limit store that failed, by reason (timeout, error).",
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
        if policies.is_empty() {
            return;
        }
        family(
            out,
            "gateway_rate_limit_store_fallbacks_total",
            "counter",
            "Policy checks decided without the shared store (it failed or is backed off), by policy and on_store_failure (allow: the local limiter decided; deny: refused with 503).",
        );
        for (policy, counters) in policies.iter().zip(&self.fallbacks) {
            for (action, counter) in ["allow", "deny"].iter().zip(counters) {
                let value = counter.load(Ordering::Relaxed);
                if value > 0 {
                    let _ = writeln!(
                        out,
                        "gateway_rate_limit_store_fallbacks_total{{policy=\"{}\",on_store_failure=\"{action}\"}} {value}",
                        Escaped(policy.name)
                    );
                }
            }
        }
    }
}
