//! DNS discovery of a service's upstream instances (`upstream.discovery` in the manifest).
//!
//! For each discovered service a task re-resolves the name on its interval with
//! `hickory-resolver` and hands the sorted instance list to a callback whenever it
//! changes: `A`/`AAAA` answers give `scheme://ip:port` with weight 1; `SRV` answers give
//! one instance per address of each target of the lowest priority, with the record's port
//! and weight. The callback is all this module knows of selection, so the balancer behind
//! it can change without touching this file.
//!
//! Failures never empty a service on their own: a timeout, `SERVFAIL` or refusal keeps
//! the last good set for as long as it lasts (DNS being down says nothing about the
//! instances). An empty answer (`NXDOMAIN`, or no record of the type) is believed only
//! after [`EMPTY_AFTER`] consecutive ones, so that a zone being reloaded or a moment
//! between deployments does not drop every instance; after that the service has no
//! instance and its routes answer 503 until the name resolves again. Every resolution is
//! counted in `gateway_discovery_resolutions_total{service,outcome}`.
//!
//! Answers are never cached across resolutions (their TTL is capped at zero): the interval
//! is the refresh period.
//!
//! The nameserver is `GATEWAY_DNS_SERVER` (`ip:port`) if set, else the manifest's
//! `discovery.nameserver`, else the system's (`/etc/resolv.conf`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::policy::{Discovery, DnsRecord, Service};
use crate::base::prometheus::{Escaped, family};

/// Consecutive empty answers after which the service really has no instance.
pub const EMPTY_AFTER: u32 = 3;

/// Instances as the callback receives them: base URL and weight, sorted, no duplicates.
pub type Instances = Vec<(String, u32)>;

/// How one resolution ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Empty,
    Error,
}

const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::Empty, Outcome::Error];

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Empty => "empty",
            Outcome::Error => "error",
        }
    }
}

/// Resolutions by outcome of every discovered service, for `/metrics`.
#[derive(Debug)]
pub(crate) struct Resolutions {
    /// Service name and counts indexed like `OUTCOMES`; only services with discovery.
    services: Vec<(&'static str, [AtomicU64; 3])>,
}

impl Resolutions {
    pub(crate) fn new(services: &[Service]) -> Resolutions {
        Resolutions {
            services: services
                .iter()
                .filter(|service| service.discovery.is_some())
                .map(|service| (service.name, Default::default()))
                .collect(),
        }
    }

    fn count(&self, service: &str, outcome: Outcome) {
        if let Some((_, counts)) = self.services.iter().find(|(name, _)| *name == service) {
            counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends `gateway_discovery_resolutions_total` (nothing when no service is
    /// discovered).
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.services.is_empty() {
            return;
        }
        family(
            out,
            "gateway_discovery_resolutions_total",
            "counter",
            "DNS resolutions of discovered services, by service and outcome (ok, empty, error).",
        );
        for (service, counts) in &self.services {
            for (outcome, count) in OUTCOMES.iter().zip(counts) {
                let _ = writeln!(
                    out,
                    "gateway_discovery_resolutions_total{{service=\"{}\",outcome=\"{}\"}} {}",
                    Escaped(service),
                    outcome.as_str(),
                    count.load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// The discovery tasks of a running gateway; they stop when this is dropped.
#[derive(Debug, Default)]
pub(crate) struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts discovery for every service of `services` that has it, except those `skip`
/// names (an upstream override wins). Each is resolved once before this returns, so the
/// gateway starts with instances when DNS answers; then `apply(service index, instances)`
/// is called on every change. `dns_server` (from `GATEWAY_DNS_SERVER`) overrides every
/// service's nameserver.
pub(crate) async fn start(
    services: &'static [Service],
    dns_server: Option<SocketAddr>,
    skip: impl Fn(&str) -> bool,
    resolutions: Arc<Resolutions>,
    apply: Arc<dyn Fn(usize, Instances) + Send + Sync>,
) -> Result<Running, String> {
    let mut running = Running::default();
    for (index, service) in services.iter().enumerate() {
        let Some(discovery) = service.discovery else {
            continue;
        };
        if skip(service.name) {
            continue;
        }
        let nameserver = match (dns_server, discovery.nameserver) {
            (Some(server), _) => Some(server),
            (None, Some(raw)) => Some(raw.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "service `{}`: discovery nameserver `{raw}` is not an ip:port",
                    service.name
                )
            })?),
            (None, None) => None,
        };
        let resolver = resolver(nameserver, discovery.interval)
            .map_err(|error| format!("service `{}`: DNS resolver: {error}", service.name))?;
        let mut watch = Watch {
            service: service.name,
            discovery,
            resolver,
            resolutions: resolutions.clone(),
            current: None,
            empty_streak: 0,
        };
        if let Some(instances) = watch.step().await {
            apply(index, instances);
        }
        let apply = apply.clone();
        running.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(discovery.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; that resolution was done above.
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(instances) = watch.step().await {
                    apply(index, instances);
                }
            }
        }));
    }
    Ok(running)
}

/// A resolver that asks `nameserver` (or the system's) and caches nothing.
fn resolver(nameserver: Option<SocketAddr>, interval: Duration) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match nameserver {
        Some(server) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = server.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = server.port();
            let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                server.ip(),
                true,
                vec![udp, tcp],
            )]);
            Resolver::builder_with_config(config, provider)
        }
        None => Resolver::builder(provider).map_err(|error| error.to_string())?,
    };
    let options = builder.options_mut();
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    // A lookup must be over well before the next one is due.
    options.timeout = interval.clamp(Duration::from_millis(100), Duration::from_secs(5));
    options.attempts = 1;
    options.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    builder.build().map_err(|error| error.to_string())
}

/// One service's discovery state.
struct Watch {
    service: &'static str,
    discovery: &'static Discovery,
    resolver: TokioResolver,
    resolutions: Arc<Resolutions>,
    /// The set last handed out; `None` before the first.
    current: Option<Instances>,
    empty_streak: u32,
}

impl Watch {
    /// Resolves once; returns the new set if it differs from the current one.
    async fn step(&mut self) -> Option<Instances> {
        let resolved = resolve(&self.resolver, self.discovery).await;
        let next = match resolved {
            Ok(instances) if !instances.is_empty() => {
                self.resolutions.count(self.service, Outcome::Ok);
                self.empty_streak = 0;
                instances
            }
            Ok(_) | Err(Failure::Empty) => {
                self.resolutions.count(self.service, Outcome::Empty);
                self.empty_streak = self.empty_streak.saturating_add(1);
                let believed = self.empty_streak >= EMPTY_AFTER || self.current.is_none();
                if !believed {
                    tracing::warn!(
                        service = self.service,
                        name = self.discovery.name,
                        streak = self.empty_streak,
                        "DNS discovery found no instance; keeping the last set for now"
                    );
                    return None;
                }
                Vec::new()
            }
            Err(Failure::Error(error)) => {
                self.resolutions.count(self.service, Outcome::Error);
                tracing::warn!(
                    service = self.service,
                    name = self.discovery.name,
                    %error,
                    "DNS discovery failed; keeping the last set"
                );
                return None;
            }
        };
        if self.current.as_ref() == Some(&next) {
            return None;
        }
        if next.is_empty() {
            tracing::warn!(
                service = self.service,
                name = self.discovery.name,
                "DNS discovery found no instance; the service has none"
            );
        } else {
            tracing::info!(
                service = self.service,
                name = self.discovery.name,
                instances = next.len(),
                "DNS discovery changed the instance set"
            );
        }
        self.current = Some(next.clone());
        Some(next)
    }
}

enum Failure {
    /// The name does not exist or has no record of the type.
    Empty,
    Error(String),
}

fn failure(error: hickory_resolver::net::NetError) -> Failure {
    if error.is_no_records_found() || error.is_nx_domain() {
        Failure::Empty
    } else {
        Failure::Error(error.to_string())
    }
}

/// The instances `discovery` names right now, sorted and without duplicates.
async fn resolve(resolver: &TokioResolver, discovery: &Discovery) -> Result<Instances, Failure> {
    let mut instances = Vec::new();
    match discovery.record {
        DnsRecord::A => {
            let ips = resolver.lookup_ip(discovery.name).await.map_err(failure)?;
            for ip in ips.iter() {
                instances.push((url(discovery.scheme, ip, discovery.port), 1));
            }
        }
        DnsRecord::Srv => {
            let lookup = resolver
                .lookup(discovery.name, RecordType::SRV)
                .await
                .map_err(failure)?;
            let srvs: Vec<_> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::SRV(srv) => Some(srv.clone()),
                    _ => None,
                })
                .collect();
            // Only the lowest priority is used (RFC 2782); the others are fallbacks a
            // balancer with health checks would need to know about.
            let Some(priority) = srvs.iter().map(|srv| srv.priority).min() else {
                return Err(Failure::Empty);
            };
            // Weight 0 everywhere means "no preference" (RFC 2782): all equal.
            let all_zero = srvs.iter().all(|srv| srv.weight == 0);
            let mut failed = None;
            for srv in srvs.iter().filter(|srv| srv.priority == priority) {
                let weight = if all_zero { 1 } else { u32::from(srv.weight) };
                match resolver.lookup_ip(srv.target.clone()).await {
                    Ok(ips) => {
                        for ip in ips.iter() {
                            instances.push((url(discovery.scheme, ip, srv.port), weight));
                        }
                    }
                    Err(error) => failed = Some(format!("target {}: {error}", srv.target)),
                }
            }
            // Targets that do not resolve are left out, unless none does.
            if let (true, Some(error)) = (instances.is_empty(), failed) {
                return Err(Failure::Error(error));
            }
        }
    }
    instances.sort();
    instances.dedup_by(|a, b| a.0 == b.0);
    Ok(instances)
}

fn url(scheme: &str, ip: IpAddr, port: u16) -> String {
    format!("{scheme}://{}", SocketAddr::new(ip, port))
}

#[cfg(test)]
#[path = "../../tests/support/dns.rs"]
mod dns;

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(dns: &dns::Dns, name: &'static str, record: DnsRecord) -> Watch {
        let discovery = Box::leak(Box::new(Discovery {
            name,
            port: 8000,
            record,
            interval: Duration::from_millis(200),
            scheme: "http",
            nameserver: None,
        }));
        Watch {
            service: "users",
            discovery,
            resolver: resolver(Some(dns.addr), discovery.interval).unwrap(),
            resolutions: Arc::new(Resolutions {
                services: vec![("users", Default::default())],
            }),
            current: None,
            empty_streak: 0,
        }
    }

    fn counts(watch: &Watch) -> [u64; 3] {
        let counts = &watch.resolutions.services[0].1;
        std::array::from_fn(|i| counts[i].load(Ordering::Relaxed))
    }

    fn set(instances: &[(&str, u32)]) -> Option<Instances> {
        Some(
            instances
                .iter()
                .map(|(url, weight)| ((*url).to_owned(), *weight))
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_and_aaaa_records_give_sorted_instances_of_weight_one() {
        let dns = dns::Dns::start().await;
        dns.set_ips("users", &["10.0.0.2", "10.0.0.1", "fd00::1"])
            .await;
        let mut watch = watch(&dns, "users.svc.test.", DnsRecord::A);
        assert_eq!(
            watch.step().await,
            set(&[
                ("http://10.0.0.1:8000", 1),
                ("http://10.0.0.2:8000", 1),
                ("http://[fd00::1]:8000", 1),
            ])
        );
        // Unchanged: nothing to hand out.
        assert_eq!(watch.step().await, None);
        dns.set_ips("users", &["10.0.0.1"]).await;
        assert_eq!(watch.step().await, set(&[("http://10.0.0.1:8000", 1)]));
        assert_eq!(counts(&watch), [3, 0, 0]);
    }

    #[tokio::test]
    async fn srv_records_give_ports_and_weights_of_the_lowest_priority() {
        let dns = dns::Dns::start().await;
        dns.set_ips("a", &["10.0.0.1"]).await;
        dns.set_ips("b", &["10.0.0.2", "10.0.0.3"]).await;
        dns.set_ips("c", &["10.0.0.9"]).await;
        dns.set_srv(
            "_http._tcp.users",
            &[(1, 30, 9001, "a"), (1, 10, 9002, "b"), (2, 50, 9003, "c")],
        )
        .await;
        let mut watch = watch(&dns, "_http._tcp.users.svc.test.", DnsRecord::Srv);
        assert_eq!(
            watch.step().await,
            set(&[
                ("http://10.0.0.1:9001", 30),
                ("http://10.0.0.2:9002", 10),
                ("http://10.0.0.3:9002", 10),
            ])
        );
        // Weight 0 everywhere is no preference: all equal.
        dns.set_srv("_http._tcp.users", &[(1, 0, 9001, "a"), (1, 0, 9002, "b")])
            .await;
        assert_eq!(
            watch.step().await,
            set(&[
                ("http://10.0.0.1:9001", 1),
                ("http://10.0.0.2:9002", 1),
                ("http://10.0.0.3:9002", 1),
            ])
        );
    }

    #[tokio::test]
    async fn failures_keep_the_last_set_and_empty_answers_need_a_streak() {
        let mut dns = dns::Dns::start().await;
        dns.set_ips("users", &["10.0.0.1"]).await;
        let mut watch = watch(&dns, "users.svc.test.", DnsRecord::A);
        assert_eq!(watch.step().await, set(&[("http://10.0.0.1:8000", 1)]));

        // NXDOMAIN: believed on the third in a row only.
        dns.set_ips("users", &[]).await;
        for _ in 1..EMPTY_AFTER {
            assert_eq!(watch.step().await, None);
        }
        assert_eq!(watch.step().await, Some(Vec::new()));
        assert_eq!(counts(&watch), [1, 3, 0]);

        // An answer resets the streak.
        dns.set_ips("users", &["10.0.0.1"]).await;
        assert_eq!(watch.step().await, set(&[("http://10.0.0.1:8000", 1)]));
        dns.set_ips("users", &[]).await;
        assert_eq!(watch.step().await, None);
        dns.set_ips("users", &["10.0.0.1"]).await;
        assert_eq!(watch.step().await, None);
        dns.set_ips("users", &[]).await;
        assert_eq!(watch.step().await, None);

        // DNS down: errors, never a change.
        dns.stop().await;
        for _ in 0..EMPTY_AFTER + 1 {
            assert_eq!(watch.step().await, None);
        }
        assert_eq!(watch.current, set(&[("http://10.0.0.1:8000", 1)]));
        assert_eq!(counts(&watch), [3, 5, 4]);
    }

    #[tokio::test]
    async fn a_first_empty_answer_is_believed_at_once() {
        let dns = dns::Dns::start().await;
        let mut watch = watch(&dns, "users.svc.test.", DnsRecord::A);
        assert_eq!(watch.step().await, Some(Vec::new()));
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url("http", "10.0.0.1".parse().unwrap(), 80),
            "http://10.0.0.1:80"
        );
        assert_eq!(
            url("http", "::1".parse().unwrap(), 8000),
            "http://[::1]:8000"
        );
    }
}
