//! Upstream resilience end to end, in-process: three mock instances per service that can
//! be slowed, made unhealthy, killed and brought back on the same port, and a route table
//! whose services each turn on one of balancing, retries, timeouts, health checks,
//! breakers and the concurrency limit. No assertion depends on timing: slow instances
//! only decide which instance answers, and waits poll for a state with a bound.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::upstream::{
    Balance, Breaker, HashOn, HealthCheck, OperationTimeouts, Outlier, Policy, Retries,
};
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, Problem, Route, Service, UpstreamPath,
};
use support::{Running, empty, full, get, request, start};
use tokio::task::{JoinHandle, JoinSet};

// ---- Mock instances ---------------------------------------------------------------------

/// What one mock instance does and saw.
#[derive(Default)]
struct Behaviour {
    /// Milliseconds `/work` waits before answering.
    delay_ms: AtomicU64,
    /// Status of `/health` (200 when 0).
    health: AtomicU16,
    /// Requests received, by `METHOD /path`.
    seen: Mutex<BTreeMap<String, usize>>,
}

/// A mock instance on a fixed port that can be killed (listener and every connection
/// closed) and started again.
struct Instance {
    name: &'static str,
    addr: SocketAddr,
    behaviour: Arc<Behaviour>,
    task: Option<JoinHandle<()>>,
}

impl Instance {
    async fn start(name: &'static str) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut instance = Instance {
            name,
            addr: listener.local_addr().unwrap(),
            behaviour: Arc::default(),
            task: None,
        };
        instance.serve(listener);
        instance
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let behaviour = self.behaviour.clone();
        let name = self.name;
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task: every connection ends when the instance is killed.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let behaviour = behaviour.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| answer(name, behaviour.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn revive(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn seen(&self, what: &str) -> usize {
        self.behaviour
            .seen
            .lock()
            .unwrap()
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    fn delay(&self, ms: u64) {
        self.behaviour.delay_ms.store(ms, Ordering::Relaxed);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped on purpose")
    }
}
impl std::error::Error for Dropped {}

/// `/work` answers the instance's name (after its delay); `/health` its health status;
/// `/drop` reads the whole body, then closes the connection without an answer;
/// `/echo` answers the body it got.
async fn answer(
    name: &'static str,
    behaviour: Arc<Behaviour>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Dropped> {
    let key = format!("{} {}", request.method(), request.uri().path());
    *behaviour.seen.lock().unwrap().entry(key).or_default() += 1;
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    match path.as_str() {
        "/health" => {
            let status = match behaviour.health.load(Ordering::Relaxed) {
                0 => 200,
                status => status,
            };
            let mut response = http::Response::new(Full::new(Bytes::new()));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(response)
        }
        "/drop" => Err(Dropped),
        "/echo" => Ok(http::Response::new(Full::new(body.unwrap_or_default()))),
        _ => {
            let delay = behaviour.delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Ok(http::Response::new(Full::new(Bytes::from(name))))
        }
    }
}

async fn three() -> [Instance; 3] {
    [
        Instance::start("a").await,
        Instance::start("b").await,
        Instance::start("c").await,
    ]
}

fn urls(instances: &[Instance]) -> Vec<String> {
    instances.iter().map(Instance::url).collect()
}

// ---- The route table --------------------------------------------------------------------

fn work(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/work").forward())
}
fn drop_path(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/drop").forward())
}
fn echo(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/echo").forward())
}

const fn service(name: &'static str, resilience: Policy) -> Service {
    Service {
        name,
        env: "GATEWAY_UPSTREAM_UNUSED",
        urls: &[],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        cors: None,
        resilience,
    }
}

const NO_RETRIES: Retries = Retries {
    attempts: 0,
    ..Retries::DEFAULT
};

const RETRY_TWICE: Retries = Retries {
    attempts: 2,
    budget_percent: 20,
    min_per_second: 10,
    backoff: Duration::from_millis(1),
    max_backoff: Duration::from_millis(5),
};

const RR: usize = 0;
const WEIGHTED: usize = 1;
const P2C: usize = 2;
const HASH: usize = 3;
const FAILOVER: usize = 4;
const DROPS: usize = 5;
const TIMEOUTS: usize = 6;
const LIMITED: usize = 7;
const CHECKED: usize = 8;

static SERVICES: [Service; 9] = [
    service(
        "rr",
        Policy {
            retries: NO_RETRIES,
            ..Policy::DEFAULT
        },
    ),
    service(
        "weighted",
        Policy {
            balance: Balance::Weighted,
            weights: &[5, 3, 2],
            retries: NO_RETRIES,
            ..Policy::DEFAULT
        },
    ),
    service(
        "p2c",
        Policy {
            balance: Balance::LeastRequests,
            retries: NO_RETRIES,
            ..Policy::DEFAULT
        },
    ),
    service(
        "hash",
        Policy {
            balance: Balance::ConsistentHash(HashOn::Header("x-user")),
            retries: NO_RETRIES,
            ..Policy::DEFAULT
        },
    ),
    service(
        "failover",
        Policy {
            retries: RETRY_TWICE,
            outlier: Outlier {
                consecutive_failures: 3,
                base_ejection: Duration::from_millis(200),
                max_ejection_percent: 50,
            },
            breaker: Some(Breaker {
                failure_ratio: 0.5,
                min_requests: 20,
                window: Duration::from_secs(10),
                consecutive_failures: 3,
                // Long enough that "nothing is tried while open" is checked well inside
                // the open period, however slow the machine.
                open_for: Duration::from_secs(2),
                half_open_probes: 1,
            }),
            ..Policy::DEFAULT
        },
    ),
    service(
        "drops",
        Policy {
            retries: RETRY_TWICE,
            outlier: Outlier {
                consecutive_failures: 0,
                ..Outlier::DEFAULT
            },
            ..Policy::DEFAULT
        },
    ),
    Service {
        request_timeout: Duration::from_millis(200),
        ..service(
            "timeouts",
            Policy {
                retries: RETRY_TWICE,
                total_timeout: Some(Duration::from_millis(500)),
                outlier: Outlier {
                    consecutive_failures: 0,
                    ..Outlier::DEFAULT
                },
                operations: &[OperationTimeouts {
                    operation_id: "patient",
                    request: Some(Duration::from_secs(5)),
                    total: Some(Duration::from_secs(5)),
                }],
                ..Policy::DEFAULT
            },
        )
    },
    service(
        "limited",
        Policy {
            max_in_flight: 2,
            ..Policy::DEFAULT
        },
    ),
    service(
        "checked",
        Policy {
            retries: NO_RETRIES,
            health_check: Some(HealthCheck {
                path: "/health",
                interval: Duration::from_millis(50),
                timeout: Duration::from_millis(500),
                expected_status: &[],
                healthy_threshold: 2,
                unhealthy_threshold: 2,
            }),
            ..Policy::DEFAULT
        },
    ),
];

const fn route(
    method: Method,
    path: &'static str,
    service: usize,
    operation_id: &'static str,
    handler: fn(&Request<'_>) -> Result<Forward, Problem>,
) -> Route {
    Route {
        method,
        path,
        upstream_path: "/work",
        service,
        operation_id,
        auth: Auth::Public,
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 13] = [
    route(Method::Get, "/rr", RR, "rr", work),
    route(Method::Get, "/weighted", WEIGHTED, "weighted", work),
    route(Method::Get, "/p2c", P2C, "p2c", work),
    route(Method::Get, "/hash", HASH, "hash", work),
    route(Method::Get, "/failover", FAILOVER, "failover", work),
    route(Method::Get, "/drops", DROPS, "dropGet", drop_path),
    route(Method::Post, "/drops", DROPS, "dropPost", drop_path),
    route(Method::Post, "/drops/echo", DROPS, "echo", echo),
    route(Method::Get, "/timeouts", TIMEOUTS, "impatient", work),
    route(Method::Get, "/timeouts/patient", TIMEOUTS, "patient", work),
    route(Method::Get, "/limited", LIMITED, "limited", work),
    route(Method::Get, "/checked", CHECKED, "checked", work),
    route(Method::Put, "/drops", DROPS, "dropPut", drop_path),
];

static GATEWAY: Gateway = Gateway {
    name: "upstream-test",
    generator_version: "0.0.0-test",
    listen: "127.0.0.1:0",
    connections: openapi_gateway_runtime::Connections::DEFAULT,
    openapi_json: "{}",
    docs: None,
    max_body: 1 << 20,
    max_fields: 1000,
    services: &SERVICES,
    routes: &ROUTES,
    rate_limits: &[],
    schemes: &[],
    auth_failures: None,
    rate_limit_store: openapi_gateway_runtime::Store::Memory,
    trusted_proxies: &[],
    otlp_endpoint_env: None,
};

/// A gateway whose service `name` has `instances` (the others have none).
async fn gateway(name: &str, instances: Vec<String>) -> Running {
    let upstreams: Vec<(&str, Vec<String>)> = SERVICES
        .iter()
        .map(|s| {
            let urls = if s.name == name {
                instances.clone()
            } else {
                Vec::new()
            };
            (s.name, urls)
        })
        .collect();
    start(&GATEWAY, &upstreams, Duration::from_secs(5)).await
}

async fn body_of(gw: &Running, path: &str) -> (u16, String) {
    let answer = get(&gw.url(path)).await;
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// The value of one series of the gateway's `/metrics`; panics, naming it, when the series
/// is not there (a missing series is not a zero).
async fn metric(gw: &Running, series: &str) -> f64 {
    support::sample(&support::metrics(gw).await, series)
}

/// The sum of every `gateway_upstream_attempts_total` series; panics when there is none.
async fn attempts_total(gw: &Running) -> f64 {
    let text = support::metrics(gw).await;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("gateway_upstream_attempts_total{"))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("not a sample: {l}"))
        })
        .collect();
    assert!(
        !values.is_empty(),
        "no series gateway_upstream_attempts_total in /metrics:\n{text}"
    );
    values.iter().sum()
}

/// Whether an answer is the gateway's own 503 for an open circuit.
fn circuit_open(answer: &support::Answer) -> bool {
    answer.status == 503 && answer.json()["type"] == "urn:gateway:problem:circuit-open"
}

/// Polls `condition` every 20 ms, at most 250 times.
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

// ---- Balancing --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_is_exact() {
    let instances = three().await;
    let gw = gateway("rr", urls(&instances)).await;
    let mut order = Vec::new();
    for _ in 0..30 {
        let (status, name) = body_of(&gw, "/rr").await;
        assert_eq!(status, 200);
        order.push(name);
    }
    assert_eq!(order[..3], ["a", "b", "c"]);
    for chunk in order.chunks(3) {
        assert_eq!(chunk, ["a", "b", "c"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_follows_the_weights() {
    let instances = three().await;
    let gw = gateway("weighted", urls(&instances)).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let total = 400;
    for _ in 0..total {
        let (status, name) = body_of(&gw, "/weighted").await;
        assert_eq!(status, 200);
        *counts.entry(name).or_default() += 1;
    }
    for (name, weight) in [("a", 5.0), ("b", 3.0), ("c", 2.0)] {
        let share = counts[name] as f64 / f64::from(total);
        let expected = weight / 10.0;
        assert!(
            (share - expected).abs() <= 0.05 * expected,
            "{name}: {share} vs {expected} ({counts:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_requests_avoids_the_loaded_instance() {
    let instances = three().await;
    // `a` holds every request 200 ms; `b` and `c` answer at once.
    instances[0].delay(200);
    let gw = Arc::new(gateway("p2c", urls(&instances)).await);
    let mut workers = JoinSet::new();
    for _ in 0..12 {
        let gw = gw.clone();
        workers.spawn(async move {
            let mut names = Vec::new();
            for _ in 0..15 {
                let (status, name) = body_of(&gw, "/p2c").await;
                assert_eq!(status, 200);
                names.push(name);
            }
            names
        });
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(names) = workers.join_next().await {
        for name in names.unwrap() {
            *counts.entry(name).or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    let loaded = counts.get("a").copied().unwrap_or(0);
    // Round robin would give it a third.
    assert!(loaded * 6 < total, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_a_key_on_one_instance() {
    let instances = three().await;
    let gw = gateway("hash", urls(&instances)).await;
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..3 {
        for user in 0..30 {
            let user = format!("user-{user}");
            let answer = request("GET", &gw.url("/hash"), &[("x-user", &user)], empty()).await;
            assert_eq!(answer.status, 200);
            let name = String::from_utf8_lossy(&answer.body).into_owned();
            if round == 0 {
                owner.insert(user, name);
            } else {
                assert_eq!(owner[&user], name, "{user} moved");
            }
        }
    }
    let used: std::collections::BTreeSet<&String> = owner.values().collect();
    assert_eq!(
        used.len(),
        3,
        "30 keys spread over every instance: {owner:?}"
    );
}

// ---- Failover, ejection, breakers -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_under_load_fails_no_request() {
    let mut instances = three().await;
    let gw = Arc::new(gateway("failover", urls(&instances)).await);
    let mut workers = JoinSet::new();
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(false);
    for _ in 0..6 {
        let gw = gw.clone();
        let killed = killed_rx.clone();
        workers.spawn(async move {
            let mut failures = Vec::new();
            let mut after_kill = 0;
            for _ in 0..60 {
                let (status, body) = body_of(&gw, "/failover").await;
                if status != 200 {
                    failures.push(format!("{status} {body}"));
                }
                if *killed.borrow() {
                    after_kill += 1;
                }
            }
            (failures, after_kill)
        });
    }
    // Kill `b` once requests are flowing.
    eventually("traffic", || async { instances[1].seen("GET /work") >= 10 }).await;
    instances[1].kill().await;
    killed_tx.send(true).unwrap();
    let mut after_kill = 0;
    while let Some(result) = workers.join_next().await {
        let (failures, after) = result.unwrap();
        assert!(failures.is_empty(), "client-visible failures: {failures:?}");
        after_kill += after;
    }
    assert!(after_kill > 0, "some requests ran after the kill");
    // The dead instance was ejected and failed tries were retried elsewhere.
    let dead = format!("{}", instances[1].addr);
    assert!(metric(&gw, "gateway_upstream_retries_total{service=\"failover\"}").await >= 1.0);
    assert!(
        metric(
            &gw,
            &format!(
                "gateway_upstream_ejections_total{{service=\"failover\",instance=\"{dead}\"}}"
            )
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_instance_opens_the_breaker_and_reviving_them_closes_it() {
    let mut instances = three().await;
    let gw = gateway("failover", urls(&instances)).await;
    assert_eq!(body_of(&gw, "/failover").await.0, 200);
    for instance in &mut instances {
        instance.kill().await;
    }
    // Failures trip the breakers; then the gateway answers by itself. Polled, for at most
    // five seconds, until the service's breaker reports open.
    let state = "gateway_circuit_breaker_state{service=\"failover\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    let open = loop {
        let answer = get(&gw.url("/failover")).await;
        assert!(
            [502, 503].contains(&answer.status.as_u16()),
            "{}",
            answer.status
        );
        if circuit_open(&answer) && metric(&gw, state).await == 1.0 {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker did not open within 5 s"
        );
    };
    open.problem(503);
    let retry_after: u64 = open.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    // While open (for two seconds), nothing is tried upstream.
    let before = attempts_total(&gw).await;
    let again = get(&gw.url("/failover")).await;
    assert!(
        circuit_open(&again),
        "the open breaker let a request through: {} {}",
        again.status,
        String::from_utf8_lossy(&again.body)
    );
    again.problem(503);
    assert_eq!(attempts_total(&gw).await, before, "tried while open");
    assert_eq!(metric(&gw, state).await, 1.0);
    assert!(
        metric(
            &gw,
            "gateway_upstream_rejected_total{service=\"failover\",reason=\"circuit_open\"}"
        )
        .await
            >= 1.0
    );

    for instance in &mut instances {
        instance.revive().await;
    }
    // Half-open probes succeed and close the breakers again.
    eventually("a request succeeds", || async {
        body_of(&gw, "/failover").await.0 == 200
    })
    .await;
    eventually("every breaker closed", || async {
        let _ = body_of(&gw, "/failover").await;
        let text = get(&gw.admin_url("/metrics")).await.body;
        let text = String::from_utf8_lossy(&text).into_owned();
        let states: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("gateway_circuit_breaker_state{"))
            .collect();
        states.len() == 4 && states.iter().all(|l| l.ends_with(" 0"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_body_was_sent_is_never_retried() {
    let instances = three().await;
    let gw = gateway("drops", urls(&instances)).await;
    let answer = request("POST", &gw.url("/drops"), &[], full("payload")).await;
    answer.problem(502);
    let posts: usize = instances.iter().map(|i| i.seen("POST /drop")).sum();
    assert_eq!(posts, 1, "the POST reached exactly one instance");

    // A PUT is idempotent, but its streamed body is gone once sent: not retried either.
    let answer = request("PUT", &gw.url("/drops"), &[], full("payload")).await;
    answer.problem(502);
    let puts: usize = instances.iter().map(|i| i.seen("PUT /drop")).sum();
    assert_eq!(puts, 1);

    // A GET without a body is retried on the two other instances.
    get(&gw.url("/drops")).await.problem(502);
    for instance in &instances {
        assert_eq!(instance.seen("GET /drop"), 1, "{}", instance.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_goes_elsewhere_when_the_connection_failed() {
    let instances = three().await;
    // The first instance round robin picks is a closed port.
    let mut list = vec![support::closed_port_url()];
    list.extend(urls(&instances[..2]));
    let gw = gateway("drops", list).await;
    let answer = request("POST", &gw.url("/drops/echo"), &[], full("payload")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.body[..], b"payload");
}

// ---- Timeouts and limits ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_instance_times_out_and_another_answers() {
    let instances = three().await;
    instances[0].delay(2000);
    let gw = gateway("timeouts", urls(&instances)).await;
    for _ in 0..6 {
        let (status, name) = body_of(&gw, "/timeouts").await;
        assert_eq!(status, 200);
        assert_ne!(name, "a");
    }
    assert!(
        instances[0].seen("GET /work") >= 1,
        "the slow one was tried"
    );
    assert!(metric(&gw, "gateway_upstream_retries_total{service=\"timeouts\"}").await >= 1.0);
    assert!(
        metric(
            &gw,
            &format!(
                "gateway_upstream_attempts_total{{service=\"timeouts\",instance=\"{}\",outcome=\"timeout\"}}",
                instances[0].addr
            )
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_timeout_is_504_and_operations_override_it() {
    let instances = three().await;
    for instance in &instances {
        instance.delay(800);
    }
    let gw = gateway("timeouts", urls(&instances)).await;
    let answer = get(&gw.url("/timeouts")).await;
    let problem = answer.problem(504);
    assert_eq!(problem["type"], "urn:gateway:problem:gateway-timeout");
    // `patient` may wait five seconds per try.
    let (status, _) = body_of(&gw, "/timeouts/patient").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_is_503() {
    let instances = three().await;
    instances[0].delay(1500);
    let gw = Arc::new(gateway("limited", vec![instances[0].url()]).await);
    let mut held = JoinSet::new();
    for _ in 0..2 {
        let gw = gw.clone();
        held.spawn(async move { body_of(&gw, "/limited").await.0 });
    }
    eventually("two requests held", || async {
        instances[0].seen("GET /work") == 2
    })
    .await;
    let answer = get(&gw.url("/limited")).await;
    let problem = answer.problem(503);
    assert_eq!(problem["type"], "urn:gateway:problem:concurrency-limit");
    while let Some(status) = held.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(instances[0].seen("GET /work"), 2);
    assert_eq!(
        metric(
            &gw,
            "gateway_upstream_rejected_total{service=\"limited\",reason=\"concurrency_limit\"}"
        )
        .await,
        1.0
    );
}

// ---- Health checks and readiness --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_take_an_instance_out_and_readyz_follows() {
    let instances = three().await;
    let gw = gateway("checked", urls(&instances)).await;
    // Only `checked` has instances; the other services make the gateway not ready.
    let healthy = |i: usize| {
        format!(
            "gateway_upstream_instance_healthy{{service=\"checked\",instance=\"{}\"}}",
            instances[i].addr
        )
    };
    instances[0].behaviour.health.store(503, Ordering::Relaxed);
    eventually("a marked unhealthy", || async {
        metric(&gw, &healthy(0)).await == 0.0
    })
    .await;
    for _ in 0..12 {
        let (status, name) = body_of(&gw, "/checked").await;
        assert_eq!(status, 200);
        assert_ne!(name, "a");
    }
    for instance in &instances[1..] {
        instance.behaviour.health.store(500, Ordering::Relaxed);
    }
    eventually("every instance unhealthy", || async {
        metric(&gw, &healthy(1)).await == 0.0 && metric(&gw, &healthy(2)).await == 0.0
    })
    .await;
    let problem = get(&gw.url("/checked")).await.problem(503);
    assert_eq!(problem["type"], "urn:gateway:problem:no-healthy-instance");
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503);
    assert!(String::from_utf8_lossy(&ready.body).contains("checked"));

    for instance in &instances {
        instance.behaviour.health.store(200, Ordering::Relaxed);
    }
    eventually("healthy again", || async {
        body_of(&gw, "/checked").await.0 == 200
    })
    .await;
}
