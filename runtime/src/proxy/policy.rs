//! What the compiler emits for a service: its instances' URLs or discovery, timeouts and
//! CORS policy ([`Service`]), and its resilience settings ([`Policy`], the manifest's
//! `upstream` section, docs/manifest.md "Upstream resilience"). Plain data, read by every
//! other file of this folder.

use std::time::Duration;

use crate::edge::cors::Cors;

/// One backend service and its upstream settings.
#[derive(Debug)]
pub struct Service {
    /// The manifest's service key, e.g. `users`.
    pub name: &'static str,
    /// The environment variable that overrides `urls`, e.g. `GATEWAY_UPSTREAM_USERS`.
    pub env: &'static str,
    /// Base URLs of the instances (`http://host:port/optional/prefix`).
    pub urls: &'static [&'static str],
    /// Instances found in DNS instead of `urls` (the environment override still wins).
    pub discovery: Option<&'static Discovery>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Its CORS policy; `None`: cross-origin requests get no CORS headers, and
    /// preflights are refused.
    pub cors: Option<&'static Cors>,
    /// Balancing, health checks, breakers, retries, total timeout and concurrency limit
    /// (`upstream::Policy::DEFAULT` when the manifest sets none).
    pub resilience: Policy,
}

/// A service's balancing, health, breaker, retry, timeout and concurrency settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub balance: Balance,
    /// The weights of `Service::urls`, in order; missing ones weigh 1.
    pub weights: &'static [u32],
    /// Bound on the whole exchange, retries and back-off included; `None`: only each
    /// try is bounded (by `Service::request_timeout`).
    pub total_timeout: Option<Duration>,
    pub retries: Retries,
    pub health_check: Option<HealthCheck>,
    pub outlier: Outlier,
    /// Used for each instance's breaker and for the service's own.
    pub breaker: Option<Breaker>,
    /// Requests at once to the service; 0: unlimited.
    pub max_in_flight: u32,
    /// `operations.<id>.timeouts` overrides.
    pub operations: &'static [OperationTimeouts],
}

impl Policy {
    /// Round robin, one retry of what is safe to retry, outlier ejection after five
    /// consecutive failures, no health checks, no breaker, no limit.
    pub const DEFAULT: Policy = Policy {
        balance: Balance::RoundRobin,
        weights: &[],
        total_timeout: None,
        retries: Retries::DEFAULT,
        health_check: None,
        outlier: Outlier::DEFAULT,
        breaker: None,
        max_in_flight: 0,
        operations: &[],
    };
}

/// How an instance is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    /// Smooth weighted round robin (nginx's).
    Weighted,
    /// The less loaded of two random instances (power of two choices).
    LeastRequests,
    /// Rendezvous hashing of a request key.
    ConsistentHash(HashOn),
}

/// The key of consistent hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOn {
    /// A request header (lower-case name).
    Header(&'static str),
    /// A cookie.
    Cookie(&'static str),
    /// The client's address.
    Ip,
}

#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Retries after the first try, at most (0: none).
    pub attempts: u32,
    /// Retries may be at most this share of the requests of the last ten seconds…
    pub budget_percent: u32,
    /// …plus this many a second.
    pub min_per_second: u32,
    /// The first back-off's ceiling; it doubles with each retry (full jitter).
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Retries {
    pub const DEFAULT: Retries = Retries {
        attempts: 1,
        budget_percent: 20,
        min_per_second: 3,
        backoff: Duration::from_millis(25),
        max_backoff: Duration::from_millis(250),
    };
}

/// Active health checks: `GET path` on every instance each `interval`.
#[derive(Debug, Clone, Copy)]
pub struct HealthCheck {
    pub path: &'static str,
    pub interval: Duration,
    pub timeout: Duration,
    /// Statuses that count as healthy; empty: any 2xx.
    pub expected_status: &'static [u16],
    /// Consecutive passes that make an unhealthy instance healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy instance unhealthy.
    pub unhealthy_threshold: u32,
}

/// Passive outlier detection: consecutive failures (connect errors, timeouts, 5xx) eject
/// an instance for `base_ejection` times the number of its ejections so far.
#[derive(Debug, Clone, Copy)]
pub struct Outlier {
    /// 0: off.
    pub consecutive_failures: u32,
    pub base_ejection: Duration,
    /// At most this share of the instances is ejected at once.
    pub max_ejection_percent: u32,
}

impl Outlier {
    pub const DEFAULT: Outlier = Outlier {
        consecutive_failures: 5,
        base_ejection: Duration::from_secs(30),
        max_ejection_percent: 50,
    };
}

#[derive(Debug, Clone, Copy)]
pub struct Breaker {
    /// Trips when this share of the window's outcomes failed…
    pub failure_ratio: f64,
    /// …over at least this many outcomes (0: the ratio is not used).
    pub min_requests: u32,
    pub window: Duration,
    /// Or after this many failures in a row (0: not used).
    pub consecutive_failures: u32,
    /// How long it stays open before letting probes through.
    pub open_for: Duration,
    /// Probes let through while half-open; all must succeed to close it.
    pub half_open_probes: u32,
}

/// Per-operation timeouts (by `Route::operation_id`).
#[derive(Debug, Clone, Copy)]
pub struct OperationTimeouts {
    pub operation_id: &'static str,
    /// Per try; `None`: the service's.
    pub request: Option<Duration>,
    /// `None`: the service's.
    pub total: Option<Duration>,
}

/// How a service's instances are found in DNS, as compiled from the manifest.
#[derive(Debug)]
pub struct Discovery {
    /// The name to resolve, e.g. `users.default.svc.cluster.local`.
    pub name: &'static str,
    /// The instances' port for `A`/`AAAA` records (SRV records carry their own).
    pub port: u16,
    pub record: DnsRecord,
    /// How often the name is resolved again.
    pub interval: Duration,
    /// The scheme of the instances' base URLs (`http`).
    pub scheme: &'static str,
    /// `ip:port` of the nameserver to ask instead of the system's.
    pub nameserver: Option<&'static str>,
}

/// Which records list the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    /// `A` and `AAAA`: one instance per address, on `Discovery::port`.
    A,
    /// `SRV`: one instance per address of each target, on the record's port, weighted.
    Srv,
}
