//! One service's upstream: its instances as an immutable snapshot swapped atomically, the
//! balancer that chooses among them, breakers, the retry budget and the concurrency
//! limit; and [`Upstreams`], every service's. [`forward`](super::forward) drives a request
//! through it; DNS discovery replaces the instances with [`Upstream::set_instances`].

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::balance;
use super::breaker::{CircuitBreaker, Permit, State as BreakerState};
use super::hash;
use super::instance::{Entry, Instance, Outcome};
use super::policy::{Balance, HashOn, Policy, Service};
use super::retry;
use crate::base::bodies::LimitedBody;
use crate::base::prometheus::{Escaped, family};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

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
        HashOn::Header(name) => headers.get(name).map(|v| hash::fnv1a(v.as_bytes())),
        HashOn::Cookie(name) => headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| hash::fnv1a(value.as_bytes())),
        HashOn::Ip => Some(match client_ip {
            std::net::IpAddr::V4(ip) => hash::fnv1a(&ip.octets()),
            std::net::IpAddr::V6(ip) => hash::fnv1a(&ip.octets()),
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
        services: &'static [Service],
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Upstreams, String> {
        if let Some(unknown) = overrides
            .keys()
            .find(|name| !services.iter().any(|s| s.name == name.as_str()))
        {
            return Err(format!("upstream override for unknown service `{unknown}`"));
        }
        let upstreams = services
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

    pub(crate) fn len(&self) -> usize {
        self.upstreams.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter()
    }
}

impl Upstreams {
    /// The upstream families of `/metrics`: retries, rejections, instance health,
    /// ejections and breaker states.
    pub(crate) fn render(&self, out: &mut String) {
        // A family is written only with its samples: a parser may refuse an empty one.
        let mut section = |name: &str, kind: &str, help: &str, samples: String| {
            if !samples.is_empty() {
                family(out, name, kind, help);
                out.push_str(&samples);
            }
        };

        let mut samples = String::new();
        for upstream in self.iter() {
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
        for upstream in self.iter() {
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
        for upstream in self.iter() {
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
        for upstream in self.iter() {
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
        for upstream in self.iter() {
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
        headers.insert("x-user", http::HeaderValue::from_static("alice"));
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; session=s3; b=2"),
        );
        let ip = "10.0.0.1".parse().unwrap();
        let with = |on| Policy {
            balance: Balance::ConsistentHash(on),
            ..Policy::DEFAULT
        };
        assert_eq!(
            hash_key(&with(HashOn::Header("x-user")), &headers, ip),
            Some(hash::fnv1a(b"alice"))
        );
        assert_eq!(
            hash_key(&with(HashOn::Cookie("session")), &headers, ip),
            Some(hash::fnv1a(b"s3"))
        );
        assert_eq!(hash_key(&with(HashOn::Cookie("none")), &headers, ip), None);
        assert!(hash_key(&with(HashOn::Ip), &headers, ip).is_some());
        assert_eq!(hash_key(&Policy::DEFAULT, &headers, ip), None);
    }
}

/// The upstream families of `/metrics`: retries, rejections, instance health and breaker
/// states (attempts are rendered with the request metrics).
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
                let (index, _) = upstream.pick(&snapshot, &[], Some(hash::mix(key))).unwrap();
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
