//! A service's upstream: its instances as an immutable snapshot swapped atomically, the
//! balancer that chooses among them, and what keeps failing instances out of the way —
//! active health checks, passive outlier ejection, circuit breakers — plus the retry
//! budget and the concurrency limit. [`proxy::forward`](crate::proxy) drives a request
//! through it; DNS discovery replaces the instances with [`Upstream::set_instances`].
//!
//! The settings are [`Policy`], compiled in from the manifest's `upstream` section
//! (docs/manifest.md, "Upstream resilience").

mod balance;
mod breaker;
mod health;
pub(crate) mod retry;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::proxy::{LimitedBody, Outcome};
use crate::{Gateway, Service};

pub(crate) use breaker::{CircuitBreaker, Permit, State as BreakerState};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

// ---- The compiled-in settings -----------------------------------------------------------

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

// ---- Instances ---------------------------------------------------------------------------

/// One instance of a service and everything known about it. Kept across snapshots while
/// its URL stays, so health, ejection and breaker state survive a re-resolution.
#[derive(Debug)]
pub struct Instance {
    url: String,
    authority: Authority,
    /// The `Host` sent upstream.
    pub(crate) host: HeaderValue,
    /// The base URL's path, without a trailing `/` (empty for none).
    prefix: String,
    pub(crate) url_hash: u64,
    /// Attempts by outcome, indexed like `Outcome::ALL`.
    attempts: [AtomicU64; 4],
    pub(crate) in_flight: AtomicU32,
    /// The active health check's verdict (true without health checks).
    healthy: AtomicBool,
    check_passes: AtomicU32,
    check_failures: AtomicU32,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the upstream's epoch until which the instance is ejected.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
    breaker: Option<CircuitBreaker>,
}

impl Instance {
    pub(crate) fn parse(service: &str, url: &str, policy: &Policy) -> Result<Instance, String> {
        let bad = |why: &str| format!("service `{service}`: upstream URL `{url}` {why}");
        let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("uses https, which is not supported yet")),
            _ => return Err(bad("must start with http://")),
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(bad("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(bad("must not carry credentials"));
        }
        if authority.host().is_empty() {
            return Err(bad("has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("has a host that is not a valid header value"))?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Instance {
            url: url.to_owned(),
            url_hash: balance::mix(balance::fnv1a(url.as_bytes())),
            authority,
            host,
            prefix,
            attempts: Default::default(),
            in_flight: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            check_passes: AtomicU32::new(0),
            check_failures: AtomicU32::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            breaker: policy.breaker.map(CircuitBreaker::new),
        })
    }

    /// `host:port`, for logs and metrics.
    pub fn name(&self) -> &str {
        self.authority.as_str()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The upstream URI: this instance's base, the handler's path, the client's raw query.
    pub(crate) fn uri(&self, path: &str, query: Option<&str>) -> Option<Uri> {
        if !path.starts_with('/') {
            return None;
        }
        let extra = query.map_or(0, |q| q.len() + 1);
        let mut target = String::with_capacity(self.prefix.len() + path.len() + extra);
        target.push_str(&self.prefix);
        target.push_str(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target)).ok()?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).ok()
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        self.attempts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn ejected(&self, now_ms: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now_ms
    }
}

/// An instance in a snapshot, with its weight there.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) instance: Arc<Instance>,
    pub(crate) weight: u32,
}

/// The instances of a service at one moment, and the balancer built for them.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) entries: Vec<Entry>,
    balancer: Box<dyn balance::Balancer>,
}

// ---- The upstream of one service ----------------------------------------------------------

/// One service's instances, balancer, breakers, retry budget and pooled client.
pub struct Upstream {
    pub(crate) service: &'static Service,
    snapshot: RwLock<Arc<Snapshot>>,
    pub(crate) client: Client<HttpConnector, LimitedBody>,
    /// Timestamps of ejections are milliseconds since this.
    epoch: Instant,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) budget: retry::Budget,
    in_flight: AtomicU32,
    pub(crate) counters: Counters,
}

/// What the upstream counts besides per-instance attempts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) retries: AtomicU64,
    pub(crate) rejected_breaker: AtomicU64,
    pub(crate) rejected_concurrency: AtomicU64,
    pub(crate) rejected_no_instance: AtomicU64,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("service", &self.service.name)
            .field("instances", &self.snapshot().entries)
            .finish_non_exhaustive()
    }
}

/// Why no instance could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoInstance {
    /// The service has no instance at all.
    Empty,
    /// Every instance is unhealthy or ejected (or already tried).
    Unhealthy,
    /// Every remaining instance's breaker is open; the earliest half-opens after this.
    BreakersOpen(Duration),
}

impl Upstream {
    /// The upstream of `service` with these base URLs (weights from the policy).
    pub fn new(service: &'static Service, urls: &[String]) -> Result<Upstream, String> {
        let policy = &service.resilience;
        let entries = urls
            .iter()
            .enumerate()
            .map(|(index, url)| {
                Ok(Entry {
                    instance: Arc::new(Instance::parse(service.name, url, policy)?),
                    weight: policy.weights.get(index).copied().unwrap_or(1).max(1),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(service.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        let balancer = balance::new(policy.balance, &entries);
        Ok(Upstream {
            service,
            snapshot: RwLock::new(Arc::new(Snapshot { entries, balancer })),
            client,
            epoch: Instant::now(),
            breaker: policy.breaker.map(CircuitBreaker::new),
            budget: retry::Budget::new(&policy.retries),
            in_flight: AtomicU32::new(0),
            counters: Counters::default(),
        })
    }

    pub fn service(&self) -> &'static Service {
        self.service
    }

    pub(crate) fn policy(&self) -> &'static Policy {
        &self.service.resilience
    }

    /// The current instances.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the instances with `instances` (base URL, weight), as one new snapshot.
    /// Instances whose URL stays keep their health, ejection and breaker state; invalid
    /// URLs are logged and left out.
    pub fn set_instances(&self, instances: Vec<(String, u32)>) {
        let old = self.snapshot();
        let policy = self.policy();
        let mut entries = Vec::with_capacity(instances.len());
        for (url, weight) in instances {
            let kept = old
                .entries
                .iter()
                .find(|entry| entry.instance.url == url)
                .map(|entry| entry.instance.clone());
            let instance = match kept {
                Some(instance) => instance,
                None => match Instance::parse(self.service.name, &url, policy) {
                    Ok(instance) => Arc::new(instance),
                    Err(error) => {
                        tracing::warn!(service = self.service.name, %error, "instance left out");
                        continue;
                    }
                },
            };
            if entries
                .iter()
                .any(|e: &Entry| Arc::ptr_eq(&e.instance, &instance))
            {
                continue;
            }
            entries.push(Entry {
                instance,
                weight: weight.max(1),
            });
        }
        let balancer = balance::new(policy.balance, &entries);
        tracing::info!(
            service = self.service.name,
            instances = entries.len(),
            "upstream instances updated"
        );
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Snapshot { entries, balancer });
    }

    pub(crate) fn has_instances(&self) -> bool {
        !self.snapshot().entries.is_empty()
    }

    /// Instances that could take a request now: healthy, not ejected, breaker not open.
    pub(crate) fn usable_instances(&self) -> usize {
        let snapshot = self.snapshot();
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        snapshot
            .entries
            .iter()
            .filter(|e| self.usable(&e.instance, now, now_ms))
            .count()
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn usable(&self, instance: &Instance, now: Instant, now_ms: u64) -> bool {
        instance.is_healthy()
            && !instance.ejected(now_ms)
            && instance.breaker.as_ref().is_none_or(|b| b.available(now))
    }

    /// Chooses an instance not in `tried` and takes its breaker permit.
    pub(crate) fn pick(
        &self,
        snapshot: &Snapshot,
        tried: &[usize],
        key: Option<u64>,
    ) -> Result<(usize, Option<Permit>), NoInstance> {
        if snapshot.entries.is_empty() {
            return Err(NoInstance::Empty);
        }
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        let mut candidates: Vec<usize> = (0..snapshot.entries.len())
            .filter(|index| !tried.contains(index))
            .filter(|&index| {
                let instance = &snapshot.entries[index].instance;
                instance.is_healthy() && !instance.ejected(now_ms)
            })
            .collect();
        if candidates.is_empty() {
            return Err(NoInstance::Unhealthy);
        }
        // Breakers are looked at last, so that "every breaker open" is told apart.
        candidates.retain(|&index| {
            let instance = &snapshot.entries[index].instance;
            instance.breaker.as_ref().is_none_or(|b| b.available(now))
        });
        while !candidates.is_empty() {
            let index = snapshot.balancer.pick(&snapshot.entries, &candidates, key);
            let instance = &snapshot.entries[index].instance;
            let Some(breaker) = instance.breaker.as_ref() else {
                return Ok((index, None));
            };
            let name = BreakerName(self.service.name, Some(instance.name()));
            match breaker.acquire(now, &name) {
                Ok(permit) => return Ok((index, Some(permit))),
                // Lost a race for the last probe: choose among the others.
                Err(_) => candidates.retain(|&c| c != index),
            }
        }
        Err(NoInstance::BreakersOpen(
            self.earliest_half_open(snapshot, now),
        ))
    }

    fn earliest_half_open(&self, snapshot: &Snapshot, now: Instant) -> Duration {
        snapshot
            .entries
            .iter()
            .filter_map(|e| e.instance.breaker.as_ref())
            .filter_map(|b| b.acquire_wait(now))
            .min()
            .unwrap_or(Duration::from_secs(1))
    }

    /// Records the outcome of one try on `instance`: its breaker, and outlier detection.
    /// `failure`: a connect error, a timeout, a broken exchange or a 5xx answer.
    pub(crate) fn record(
        &self,
        snapshot: &Snapshot,
        index: usize,
        permit: Option<Permit>,
        failure: bool,
    ) {
        let Some(entry) = snapshot.entries.get(index) else {
            return;
        };
        let instance = &entry.instance;
        let now = Instant::now();
        if let (Some(breaker), Some(permit)) = (instance.breaker.as_ref(), permit) {
            breaker.record(
                permit,
                !failure,
                now,
                &BreakerName(self.service.name, Some(instance.name())),
            );
        }
        if !failure {
            instance.consecutive_failures.store(0, Ordering::Relaxed);
            return;
        }
        let outlier = &self.policy().outlier;
        let streak = instance
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if outlier.consecutive_failures == 0 || streak < outlier.consecutive_failures {
            return;
        }
        let now_ms = self.now_ms(now);
        if instance.ejected(now_ms) {
            return;
        }
        let total = snapshot.entries.len() as u64;
        let ejected = snapshot
            .entries
            .iter()
            .filter(|e| e.instance.ejected(now_ms))
            .count() as u64;
        if (ejected + 1) * 100 > total * u64::from(outlier.max_ejection_percent) {
            return;
        }
        let times = instance.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        // Growing with each ejection, up to ten times the base.
        let ejection = outlier.base_ejection.saturating_mul(times.min(10));
        let until = now_ms.saturating_add(u64::try_from(ejection.as_millis()).unwrap_or(u64::MAX));
        instance.ejected_until.store(until, Ordering::Relaxed);
        instance.consecutive_failures.store(0, Ordering::Relaxed);
        tracing::warn!(
            service = self.service.name,
            upstream = instance.name(),
            failures = streak,
            ejection_ms = ejection.as_millis() as u64,
            "instance ejected after consecutive failures"
        );
    }

    /// Takes a place under `max_in_flight`, if there is one.
    pub(crate) fn admit(&self) -> Option<InFlight<'_>> {
        let max = self.policy().max_in_flight;
        let previous = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if max > 0 && previous >= max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlight(&self.in_flight))
    }

    /// Each instance's `host:port` with its attempt counts by outcome.
    pub(crate) fn attempts(&self) -> Vec<(String, [(Outcome, u64); 4])> {
        self.snapshot()
            .entries
            .iter()
            .map(|entry| {
                let counts = Outcome::ALL.map(|o| {
                    (
                        o,
                        entry.instance.attempts[o as usize].load(Ordering::Relaxed),
                    )
                });
                (entry.instance.name().to_owned(), counts)
            })
            .collect()
    }

    /// Each instance's `host:port`, whether it takes requests (healthy and not ejected),
    /// and its breaker state.
    pub(crate) fn instance_states(&self) -> Vec<(String, bool, Option<BreakerState>)> {
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        self.snapshot()
            .entries
            .iter()
            .map(|entry| {
                let instance = &entry.instance;
                (
                    instance.name().to_owned(),
                    instance.is_healthy() && !instance.ejected(now_ms),
                    instance.breaker.as_ref().map(CircuitBreaker::state),
                )
            })
            .collect()
    }

    /// The timeouts of a route of this service: per try, and in all.
    pub(crate) fn timeouts(&self, operation_id: &str) -> (Duration, Option<Duration>) {
        let policy = self.policy();
        let mut request = self.service.request_timeout;
        let mut total = policy.total_timeout;
        if let Some(own) = policy
            .operations
            .iter()
            .find(|o| o.operation_id == operation_id)
        {
            request = own.request.unwrap_or(request);
            total = own.total.or(total);
        }
        (request, total)
    }

    pub(crate) fn breaker_name(&self) -> BreakerName<'_> {
        BreakerName(self.service.name, None)
    }
}

/// A place under a service's `max_in_flight`, given back when dropped.
pub(crate) struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whose breaker, in logs: `service` or `service/host:port`.
pub(crate) struct BreakerName<'a>(pub(crate) &'a str, pub(crate) Option<&'a str>);

impl fmt::Display for BreakerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(instance) => write!(f, "{}/{instance}", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// A random number (for P2C, keyless hashing and jitter); uuid's generator is already
/// linked and fast.
pub(crate) fn random() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// The consistent-hash key of a request, if the service hashes and the request has one.
pub(crate) fn hash_key(
    policy: &Policy,
    headers: &http::HeaderMap,
    client_ip: std::net::IpAddr,
) -> Option<u64> {
    let Balance::ConsistentHash(on) = policy.balance else {
        return None;
    };
    match on {
        HashOn::Header(name) => headers.get(name).map(|v| balance::fnv1a(v.as_bytes())),
        HashOn::Cookie(name) => headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| balance::fnv1a(value.as_bytes())),
        HashOn::Ip => Some(match client_ip {
            std::net::IpAddr::V4(ip) => balance::fnv1a(&ip.octets()),
            std::net::IpAddr::V6(ip) => balance::fnv1a(&ip.octets()),
        }),
    }
}

// ---- Every service ----------------------------------------------------------------------

/// Every service's upstream, indexed like `Gateway::services`.
#[derive(Debug)]
pub struct Upstreams {
    upstreams: Vec<Upstream>,
}

impl Upstreams {
    /// Parses every service's URLs, taking `overrides` (by service name) over the
    /// compiled-in ones. Must run inside a tokio runtime (the pool's timer needs one).
    pub(crate) fn new(
        gateway: &'static Gateway,
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Upstreams, String> {
        if let Some(unknown) = overrides
            .keys()
            .find(|name| !gateway.services.iter().any(|s| s.name == name.as_str()))
        {
            return Err(format!("upstream override for unknown service `{unknown}`"));
        }
        let upstreams = gateway
            .services
            .iter()
            .map(|service| match overrides.get(service.name) {
                Some(urls) => Upstream::new(service, urls),
                None => {
                    let urls: Vec<String> = service.urls.iter().map(|u| (*u).to_owned()).collect();
                    Upstream::new(service, &urls)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams { upstreams })
    }

    pub fn get(&self, service: usize) -> Option<&Upstream> {
        self.upstreams.get(service)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter()
    }
}

/// Starts the active health checks of every service that has them; they end when the
/// returned handles are dropped.
pub(crate) fn spawn_health_checks(upstreams: &Arc<Upstreams>) -> Vec<health::Checker> {
    (0..upstreams.upstreams.len())
        .filter_map(|index| health::Checker::spawn(upstreams.clone(), index))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_are_checked_and_joined() {
        let policy = Policy::DEFAULT;
        let instance = Instance::parse("users", "http://127.0.0.1:9001/v1/", &policy).unwrap();
        assert_eq!(instance.host, "127.0.0.1:9001");
        assert_eq!(
            instance.uri("/users/7", Some("a=1&b=%20")).unwrap(),
            "http://127.0.0.1:9001/v1/users/7?a=1&b=%20"
        );
        let bare = Instance::parse("users", "http://users.internal", &policy).unwrap();
        assert_eq!(
            bare.uri("/users/7", None).unwrap(),
            "http://users.internal/users/7"
        );
        assert!(bare.uri("users", None).is_none());
        for bad in [
            "127.0.0.1:9001",
            "https://127.0.0.1",
            "ftp://x",
            "http://user:pw@host",
            "http://host/?q=1",
            "not a url",
            "",
        ] {
            assert!(Instance::parse("users", bad, &policy).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_keys_come_from_the_configured_place() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-user", HeaderValue::from_static("alice"));
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; session=s3; b=2"),
        );
        let ip = "10.0.0.1".parse().unwrap();
        let with = |on| Policy {
            balance: Balance::ConsistentHash(on),
            ..Policy::DEFAULT
        };
        assert_eq!(
            hash_key(&with(HashOn::Header("x-user")), &headers, ip),
            Some(balance::fnv1a(b"alice"))
        );
        assert_eq!(
            hash_key(&with(HashOn::Cookie("session")), &headers, ip),
            Some(balance::fnv1a(b"s3"))
        );
        assert_eq!(hash_key(&with(HashOn::Cookie("none")), &headers, ip), None);
        assert!(hash_key(&with(HashOn::Ip), &headers, ip).is_some());
        assert_eq!(hash_key(&Policy::DEFAULT, &headers, ip), None);
    }
}

/// The upstream families of `/metrics`: retries, rejections, instance health and breaker
/// states (attempts are rendered with the request metrics).
pub(crate) fn render_metrics(out: &mut String, upstreams: &Upstreams) {
    use crate::metrics::{Escaped, family};
    use std::fmt::Write as _;

    // A family is written only with its samples: a parser may refuse an empty one.
    let mut section = |name: &str, kind: &str, help: &str, samples: String| {
        if !samples.is_empty() {
            family(out, name, kind, help);
            out.push_str(&samples);
        }
    };

    let mut samples = String::new();
    for upstream in upstreams.iter() {
        let _ = writeln!(
            samples,
            "gateway_upstream_retries_total{{service=\"{}\"}} {}",
            Escaped(upstream.service.name),
            upstream.counters.retries.load(Ordering::Relaxed)
        );
    }
    section(
        "gateway_upstream_retries_total",
        "counter",
        "Tries after the first, by service.",
        samples,
    );
    let mut samples = String::new();
    for upstream in upstreams.iter() {
        let counters = &upstream.counters;
        for (reason, counter) in [
            ("circuit_open", &counters.rejected_breaker),
            ("concurrency_limit", &counters.rejected_concurrency),
            ("no_healthy_instance", &counters.rejected_no_instance),
        ] {
            let _ = writeln!(
                samples,
                "gateway_upstream_rejected_total{{service=\"{}\",reason=\"{reason}\"}} {}",
                Escaped(upstream.service.name),
                counter.load(Ordering::Relaxed)
            );
        }
    }
    section(
        "gateway_upstream_rejected_total",
        "counter",
        "Requests answered 503 without reaching an instance, by service and reason (circuit_open, concurrency_limit, no_healthy_instance).",
        samples,
    );
    let mut samples = String::new();
    for upstream in upstreams.iter() {
        for (instance, healthy, _) in upstream.instance_states() {
            let _ = writeln!(
                samples,
                "gateway_upstream_instance_healthy{{service=\"{}\",instance=\"{}\"}} {}",
                Escaped(upstream.service.name),
                Escaped(&instance),
                u8::from(healthy)
            );
        }
    }
    section(
        "gateway_upstream_instance_healthy",
        "gauge",
        "1 if the instance takes requests (passes its health checks and is not ejected), else 0.",
        samples,
    );
    let mut samples = String::new();
    for upstream in upstreams.iter() {
        for entry in &upstream.snapshot().entries {
            let _ = writeln!(
                samples,
                "gateway_upstream_ejections_total{{service=\"{}\",instance=\"{}\"}} {}",
                Escaped(upstream.service.name),
                Escaped(entry.instance.name()),
                entry.instance.ejections.load(Ordering::Relaxed)
            );
        }
    }
    section(
        "gateway_upstream_ejections_total",
        "counter",
        "Times outlier detection ejected the instance.",
        samples,
    );
    let mut samples = String::new();
    for upstream in upstreams.iter() {
        let service = Escaped(upstream.service.name);
        if let Some(breaker) = &upstream.breaker {
            let _ = writeln!(
                samples,
                "gateway_circuit_breaker_state{{service=\"{service}\"}} {}",
                breaker.state() as u8
            );
        }
        for (instance, _, state) in upstream.instance_states() {
            if let Some(state) = state {
                let _ = writeln!(
                    samples,
                    "gateway_circuit_breaker_state{{service=\"{service}\",instance=\"{}\"}} {}",
                    Escaped(&instance),
                    state as u8
                );
            }
        }
    }
    section(
        "gateway_circuit_breaker_state",
        "gauge",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open; by service, and instance for an instance's breaker.",
        samples,
    );
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    static HASHED: Service = Service {
        name: "hashed",
        env: "GATEWAY_UPSTREAM_HASHED",
        urls: &[],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        cors: None,
        resilience: Policy {
            balance: Balance::ConsistentHash(HashOn::Ip),
            ..Policy::DEFAULT
        },
    };

    fn owners(upstream: &Upstream) -> Vec<String> {
        let snapshot = upstream.snapshot();
        (0..1000u64)
            .map(|key| {
                let (index, _) = upstream
                    .pick(&snapshot, &[], Some(balance::mix(key)))
                    .unwrap();
                snapshot.entries[index].instance.url().to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn removing_an_instance_moves_only_its_keys_and_keeps_the_others_state() {
        let urls: Vec<String> = (1..=3).map(|i| format!("http://10.0.0.{i}:80")).collect();
        let upstream = Upstream::new(&HASHED, &urls).unwrap();
        let before = owners(&upstream);
        for url in &urls {
            let share = before.iter().filter(|o| *o == url).count();
            assert!((250..=420).contains(&share), "{url}: {share}");
        }
        let kept = upstream.snapshot().entries[0].instance.clone();
        kept.consecutive_failures.store(2, Ordering::Relaxed);

        upstream.set_instances(vec![(urls[0].clone(), 1), (urls[2].clone(), 1)]);
        let after = owners(&upstream);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old == &urls[1] {
                moved += 1;
                assert_ne!(new, &urls[1]);
            } else {
                assert_eq!(old, new, "a key of a remaining instance moved");
            }
        }
        assert!(moved > 0);
        // The instance that stayed is the same object, with its counts.
        let snapshot = upstream.snapshot();
        assert!(Arc::ptr_eq(&snapshot.entries[0].instance, &kept));
        assert_eq!(kept.consecutive_failures.load(Ordering::Relaxed), 2);

        // Adding it back returns its keys and nothing else.
        upstream.set_instances(urls.iter().map(|u| (u.clone(), 1)).collect());
        assert_eq!(owners(&upstream), before);
    }

    #[tokio::test]
    async fn weights_follow_set_instances() {
        static WEIGHTED: Service = Service {
            resilience: Policy {
                balance: Balance::Weighted,
                ..Policy::DEFAULT
            },
            ..HASHED
        };
        let upstream = Upstream::new(&WEIGHTED, &[]).unwrap();
        assert!(!upstream.has_instances());
        upstream.set_instances(vec![
            ("http://a:1".into(), 3),
            ("http://b:1".into(), 1),
            ("not a url".into(), 1),
        ]);
        let snapshot = upstream.snapshot();
        assert_eq!(snapshot.entries.len(), 2);
        let picks: Vec<usize> = (0..8)
            .map(|_| upstream.pick(&snapshot, &[], None).unwrap().0)
            .collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
    }
}
