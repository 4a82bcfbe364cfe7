//! The failover figure of bench/README.md: steady GET load on a service of three
//! instances, one killed part-way; prints the client-visible errors and the latency
//! percentiles before, around and after the kill.
//!
//! ```text
//! cargo run --release -p openapi-gateway-runtime --example failover            # defaults
//! WORKERS=16 REQUESTS=20000 cargo run --release -p openapi-gateway-runtime --example failover
//! ```
//!
//! Everything runs in this process on loopback: three hyper instances (each answers
//! `/work` at once), the gateway (`serve`, round robin, one retry, outlier ejection after
//! 5 consecutive failures — the defaults — with a per-instance breaker), and `WORKERS`
//! clients sending `REQUESTS` GETs in all. Instance `b` is killed (listener and every
//! connection closed) once a third of the requests are done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::upstream::{Breaker, Policy};
use openapi_gateway_runtime::{
    Auth, BodySpec, Config, Gateway, Method, Problem, Route, Service, UpstreamPath,
};
use tokio::task::JoinSet;

static SERVICES: [Service; 1] = [Service {
    name: "work",
    env: "GATEWAY_UPSTREAM_WORK",
    urls: &[],
    discovery: None,
    connect_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(5),
    cors: None,
    resilience: Policy {
        breaker: Some(Breaker {
            failure_ratio: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            consecutive_failures: 5,
            open_for: Duration::from_secs(5),
            half_open_probes: 1,
        }),
        ..Policy::DEFAULT
    },
}];

fn work(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/work").forward())
}

static ROUTES: [Route; 1] = [Route {
    method: Method::Get,
    path: "/work",
    upstream_path: "/work",
    service: 0,
    operation_id: "work",
    auth: Auth::Public,
    body: BodySpec::Undeclared,
    rate_limits: &[],
    handler: work,
    responses: None,
    path_types: &[],
}];

static GATEWAY: Gateway = Gateway {
    name: "failover",
    generator_version: "bench",
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

async fn instance(name: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            connections.spawn(async move {
                let service = service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        name,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    (url, task)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let workers = env("WORKERS", 8);
    let total = env("REQUESTS", 12_000);
    let (a, _a) = instance("a").await;
    let (b, b_task) = instance("b").await;
    let (c, _c) = instance("c").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::new(listener, admin);
    config.upstreams.insert("work".into(), vec![a, b, c]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(openapi_gateway_runtime::serve(
        &GATEWAY,
        config,
        async move {
            let _ = stopped.await;
        },
    ));

    let issued = Arc::new(AtomicUsize::new(0));
    let kill_at = total / 3;
    let b_task = Arc::new(std::sync::Mutex::new(Some(b_task)));
    let mut clients = JoinSet::new();
    for _ in 0..workers {
        let issued = issued.clone();
        let b_task = b_task.clone();
        clients.spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let url: http::Uri = format!("http://{addr}/work").parse().unwrap();
            // (sequence number, latency, ok)
            let mut results = Vec::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return results;
                }
                if n == kill_at
                    && let Some(task) = b_task.lock().unwrap().take()
                {
                    task.abort();
                }
                let started = Instant::now();
                let ok = match client.get(url.clone()).await {
                    Ok(response) => {
                        let ok = response.status() == 200;
                        let _ = response.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                };
                results.push((n, started.elapsed(), ok));
            }
        });
    }
    let mut results = Vec::with_capacity(total);
    while let Some(done) = clients.join_next().await {
        results.extend(done.unwrap());
    }
    let _ = stop.send(());
    let _ = gateway.await;

    let report = |label: &str, from: usize, to: usize| {
        let mut latencies: Vec<Duration> = results
            .iter()
            .filter(|(n, _, _)| (from..to).contains(n))
            .map(|(_, l, _)| *l)
            .collect();
        latencies.sort_unstable();
        let errors = results
            .iter()
            .filter(|(n, _, ok)| (from..to).contains(n) && !ok)
            .count();
        println!(
            "{label:<28} {:>6} requests  {errors:>3} errors  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    };
    println!("{workers} workers, {total} GETs, instance b killed at request #{kill_at}");
    report("before the kill", 0, kill_at);
    report(
        "the 1000 after the kill",
        kill_at,
        (kill_at + 1000).min(total),
    );
    report("after the kill (all)", kill_at, total);
    report("whole run", 0, total);
}
