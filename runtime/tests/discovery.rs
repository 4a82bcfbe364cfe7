//! DNS discovery end to end: an in-process authoritative DNS server whose records the test
//! changes, mock upstream instances, and a gateway whose service is discovered by name.
//! Requests must follow the records: reach instances as they are added, stop reaching
//! them once removed, keep going when DNS fails.

#[path = "support/dns.rs"]
mod dns;
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dns::Dns;
use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::{
    Auth, BodySpec, Config, Discovery, DnsRecord, Gateway, Method, Problem, Route, Service,
    UpstreamPath,
};
use support::*;
use tokio::sync::oneshot;

fn who(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/who").forward())
}

static ROUTES: [Route; 1] = [Route {
    method: Method::Get,
    path: "/api/who",
    upstream_path: "/who",
    service: 0,
    operation_id: "who",
    auth: Auth::Public,
    body: BodySpec::Undeclared,
    rate_limits: &[],
    handler: who,
    responses: None,
    path_types: &[],
}];

/// A gateway whose only service, `users`, is discovered as `discovery` says.
fn gateway(discovery: Discovery) -> &'static Gateway {
    let discovery: &'static Discovery = Box::leak(Box::new(discovery));
    let services: &'static [Service] = Box::leak(Box::new([Service {
        name: "users",
        env: "GATEWAY_UPSTREAM_USERS",
        urls: &[],
        discovery: Some(discovery),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        cors: None,
        resilience: openapi_gateway_runtime::upstream::Policy::DEFAULT,
    }]));
    Box::leak(Box::new(Gateway {
        name: "discovery-test",
        generator_version: "0.0.0-test",
        listen: "127.0.0.1:0",
        connections: openapi_gateway_runtime::Connections::DEFAULT,
        openapi_json: OPENAPI,
        docs: None,
        max_body: 1024,
        max_fields: 1000,
        services,
        routes: &ROUTES,
        rate_limits: &[],
        schemes: &[],
        otlp_endpoint_env: None,
        auth_failures: None,
        rate_limit_store: openapi_gateway_runtime::Store::Memory,
        trusted_proxies: &[],
    }))
}

fn discovery(name: &'static str, record: DnsRecord, port: u16) -> Discovery {
    Discovery {
        name,
        port,
        record,
        interval: Duration::from_millis(100),
        scheme: "http",
        nameserver: None,
    }
}

/// Starts `gateway` asking `dns` for its instances, with these upstream overrides.
async fn start_discovering(
    gateway: &'static Gateway,
    dns: SocketAddr,
    overrides: &[(&str, Vec<String>)],
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let mut config = Config::new(listener, admin_listener);
    config.shutdown_timeout = Duration::from_secs(1);
    config.dns_server = Some(dns);
    config.upstreams = overrides
        .iter()
        .map(|(name, urls)| ((*name).to_owned(), urls.clone()))
        .collect();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(openapi_gateway_runtime::serve(
        gateway,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Running::new(addr, admin, stop, task)
}

/// Which instance answered, or the status of the problem if none did.
async fn who_answers(gw: &Running) -> String {
    let answer = get(&gw.url("/api/who")).await;
    if answer.status == 200 {
        answer.json()["instance"].as_str().unwrap().to_owned()
    } else {
        format!("status {}", answer.status.as_u16())
    }
}

/// The instances that answer `n` requests in a row.
async fn answering(gw: &Running, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        seen.insert(who_answers(gw).await);
    }
    seen
}

/// Waits (polling, for at most 10 s) until `n` requests in a row are answered by exactly
/// `expected`; panics with what answered last otherwise.
async fn until_answering(gw: &Running, expected: &[&str], n: usize) {
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = answering(gw, n).await;
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected:?}, still answering {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of `gateway_discovery_resolutions_total{service="users",outcome}`.
async fn resolutions(gw: &Running, outcome: &str) -> u64 {
    let body = get(&gw.admin_url("/metrics")).await.body;
    let text = std::str::from_utf8(&body).unwrap();
    let prefix =
        format!("gateway_discovery_resolutions_total{{service=\"users\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .parse()
        .unwrap()
}

/// Mock instances named `names` on 127.0.0.1, 127.0.0.2, ... all on one port (A records
/// carry no port).
async fn mocks_on_one_port(names: &[&'static str]) -> (u16, Vec<Mock>) {
    'port: for _ in 0..20 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![first];
        for i in 1..names.len() {
            match std::net::TcpListener::bind(format!("127.0.0.{}:{port}", i + 1)) {
                Ok(listener) => listeners.push(listener),
                Err(_) => continue 'port,
            }
        }
        let mut mocks = Vec::new();
        for (name, listener) in names.iter().zip(listeners) {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            mocks.push(mock_on(name, listener).await);
        }
        return (port, mocks);
    }
    panic!("no port free on 127.0.0.1-3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_added_and_removed_are_picked_up() {
    let (port, mocks) = mocks_on_one_port(&["a", "b", "c"]).await;
    let dns = Dns::start().await;
    dns.set_ips("users", &["127.0.0.1"]).await;
    let gw = start_discovering(
        gateway(discovery("users.svc.test.", DnsRecord::A, port)),
        dns.addr,
        &[],
    )
    .await;

    // Resolved before serving: the first request already has an instance.
    assert_eq!(who_answers(&gw).await, "a");
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);

    // Two instances added.
    dns.set_ips("users", &["127.0.0.1", "127.0.0.2", "127.0.0.3"])
        .await;
    until_answering(&gw, &["a", "b", "c"], 9).await;

    // One removed: it gets nothing more.
    dns.set_ips("users", &["127.0.0.2", "127.0.0.3"]).await;
    until_answering(&gw, &["b", "c"], 6).await;
    let a_seen = mocks[0].seen().len();
    assert_eq!(
        answering(&gw, 20).await,
        BTreeSet::from(["b".into(), "c".into()])
    );
    assert_eq!(mocks[0].seen().len(), a_seen);

    assert!(resolutions(&gw, "ok").await >= 3);
    assert_eq!(resolutions(&gw, "error").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_give_ports_and_a_failing_dns_keeps_the_last_set() {
    let a = mock("a").await;
    let b = mock("b").await;
    let backup = mock("backup").await;
    let mut dns = Dns::start().await;
    for target in ["a", "b", "backup"] {
        dns.set_ips(target, &["127.0.0.1"]).await;
    }
    dns.set_srv(
        "_http._tcp.users",
        &[
            (10, 5, a.addr.port(), "a"),
            (10, 1, b.addr.port(), "b"),
            // A lower priority (higher number): only used if the others were gone.
            (20, 1, backup.addr.port(), "backup"),
        ],
    )
    .await;
    let gw = start_discovering(
        gateway(discovery("_http._tcp.users.svc.test.", DnsRecord::Srv, 0)),
        dns.addr,
        &[],
    )
    .await;

    // Each instance on the port its SRV record names; the backup not at all.
    assert_eq!(
        answering(&gw, 10).await,
        BTreeSet::from(["a".into(), "b".into()])
    );
    assert!(backup.seen().is_empty());

    // DNS goes away: resolutions fail, the instances stay.
    dns.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while resolutions(&gw, "error").await < 2 {
        assert!(Instant::now() < deadline, "no failed resolution counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        answering(&gw, 10).await,
        BTreeSet::from(["a".into(), "b".into()])
    );
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_gone_for_good_empties_the_service_until_it_returns() {
    let (port, _mocks) = mocks_on_one_port(&["a"]).await;
    let dns = Dns::start().await;
    dns.set_ips("users", &["127.0.0.1"]).await;
    let gw = start_discovering(
        gateway(discovery("users.svc.test.", DnsRecord::A, port)),
        dns.addr,
        &[],
    )
    .await;
    assert_eq!(who_answers(&gw).await, "a");

    // NXDOMAIN from now on: after a few answers in a row the service has no instance.
    dns.set_ips("users", &[]).await;
    until_answering(&gw, &["status 503"], 3).await;
    assert!(resolutions(&gw, "empty").await >= 3);
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 503);

    // Back.
    dns.set_ips("users", &["127.0.0.1"]).await;
    until_answering(&gw, &["a"], 3).await;
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_override_wins_over_discovery() {
    let (port, _mocks) = mocks_on_one_port(&["a"]).await;
    let other = mock("override").await;
    let dns = Dns::start().await;
    dns.set_ips("users", &["127.0.0.1"]).await;
    let gw = start_discovering(
        gateway(discovery("users.svc.test.", DnsRecord::A, port)),
        dns.addr,
        &[("users", vec![other.url()])],
    )
    .await;
    assert_eq!(answering(&gw, 5).await, BTreeSet::from(["override".into()]));
    assert_eq!(resolutions(&gw, "ok").await, 0);
}
