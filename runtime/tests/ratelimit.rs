//! Rate limits through the public listener, in-process: burst then 429 with the
//! `Retry-After` and `RateLimit-*` headers, keys kept apart, several policies at once, and
//! idle keys forgotten.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use http::HeaderMap;
use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::ratelimit::Limiter;
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, OnStoreFailure, Problem, RateKey, RateLimit, Route,
    UpstreamPath,
};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BY_IP: usize = 0;
const BY_TENANT: usize = 1;
const WIDE: usize = 2;
const QUIET: usize = 3;

static POLICIES: [RateLimit; 4] = [
    RateLimit {
        name: "by-ip",
        count: 3,
        period: Duration::from_secs(60),
        burst: 3,
        key: RateKey::Ip,
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: true,
    },
    RateLimit {
        name: "by-tenant",
        count: 2,
        period: Duration::from_secs(60),
        burst: 2,
        key: RateKey::Header("x-tenant"),
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: true,
    },
    RateLimit {
        name: "wide",
        count: 5,
        period: Duration::from_secs(60),
        burst: 5,
        key: RateKey::Ip,
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: true,
    },
    // `headers: on_refusal`.
    RateLimit {
        name: "quiet",
        count: 1,
        period: Duration::from_secs(60),
        burst: 1,
        key: RateKey::Ip,
        ipv6_prefix: 64,
        on_store_failure: OnStoreFailure::Allow,
        allowed_headers: false,
    },
];

fn echo(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/echo-me").forward())
}

const fn route(path: &'static str, rate_limits: &'static [usize]) -> Route {
    Route {
        method: Method::Get,
        path,
        upstream_path: "/echo-me",
        service: USERS,
        operation_id: "op",
        auth: Auth::Public,
        body: BodySpec::Undeclared,
        rate_limits,
        handler: echo,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 5] = [
    route("/api/both", &[WIDE, BY_TENANT]),
    route("/api/free", &[]),
    route("/api/ip", &[BY_IP]),
    route("/api/quiet", &[QUIET]),
    route("/api/tenant", &[BY_TENANT]),
];

static RATED: Gateway = Gateway {
    routes: &ROUTES,
    rate_limits: &POLICIES,
    ..GATEWAY
};

async fn start_rated(upstream: &Mock) -> Running {
    start(
        &RATED,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await
}

fn limits(answer: &Answer) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        answer.header("ratelimit-limit"),
        answer.header("ratelimit-remaining"),
        answer.header("ratelimit-reset"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_burst_then_429_with_headers_and_nothing_forwarded() {
    let upstream = mock("a").await;
    let gw = start_rated(&upstream).await;
    for (remaining, reset) in [("2", "20"), ("1", "40"), ("0", "60")] {
        let answer = get(&gw.url("/api/ip")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(limits(&answer), (Some("3"), Some(remaining), Some(reset)));
        assert_eq!(answer.header("retry-after"), None);
    }
    let refused = get(&gw.url("/api/ip")).await;
    let problem = refused.problem(429);
    assert_eq!(problem["type"], "urn:gateway:problem:rate-limited");
    assert!(problem["detail"].as_str().unwrap().contains("`by-ip`"));
    // 3/minute: one request every 20 s; the burst was spent within a second.
    assert_eq!(refused.header("retry-after"), Some("20"));
    assert_eq!(limits(&refused), (Some("3"), Some("0"), Some("60")));
    assert_eq!(
        upstream.seen().len(),
        3,
        "the refused request was forwarded"
    );

    // Unlimited routes carry no RateLimit headers.
    let free = get(&gw.url("/api/free")).await;
    assert_eq!(free.status, 200);
    assert_eq!(limits(&free), (None, None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_keys_are_counted_apart() {
    let upstream = mock("a").await;
    let gw = start_rated(&upstream).await;
    let call = |tenant: &'static str| {
        let url = gw.url("/api/tenant");
        async move { request("GET", &url, &[("x-tenant", tenant)], empty()).await }
    };
    assert_eq!(call("t1").await.status, 200);
    assert_eq!(call("t1").await.status, 200);
    call("t1").await.problem(429);
    let other = call("t2").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("ratelimit-remaining"), Some("1"));
    // Requests without the header share one key.
    assert_eq!(get(&gw.url("/api/tenant")).await.status, 200);
    assert_eq!(get(&gw.url("/api/tenant")).await.status, 200);
    get(&gw.url("/api/tenant")).await.problem(429);
}

/// A raw HTTP/1.1 GET from a chosen loopback address: (status, head).
async fn get_from(local: &str, gw: &Running, path: &str) -> (u16, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(gw.addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    (status, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ips_are_counted_apart() {
    let upstream = mock("a").await;
    let gw = start_rated(&upstream).await;
    for _ in 0..3 {
        assert_eq!(get_from("127.0.0.2", &gw, "/api/ip").await.0, 200);
    }
    let (status, head) = get_from("127.0.0.2", &gw, "/api/ip").await;
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: 20"), "{head}");
    let (status, head) = get_from("127.0.0.3", &gw, "/api/ip").await;
    assert_eq!(status, 200);
    assert!(head.contains("ratelimit-remaining: 2"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_policies_must_all_pass_and_a_refusal_costs_nothing() {
    let upstream = mock("a").await;
    let gw = start_rated(&upstream).await;
    let call = |tenant: &'static str| {
        let url = gw.url("/api/both");
        async move { request("GET", &url, &[("x-tenant", tenant)], empty()).await }
    };
    // `wide` (5 per IP) and `by-tenant` (2 per tenant) both apply; the headers show the
    // one with fewer requests left.
    let first = call("t1").await;
    assert_eq!(first.status, 200);
    assert_eq!(limits(&first), (Some("2"), Some("1"), Some("30")));
    assert_eq!(call("t1").await.status, 200);
    let refused = call("t1").await;
    assert!(
        refused.problem(429)["detail"]
            .as_str()
            .unwrap()
            .contains("`by-tenant`")
    );
    assert_eq!(refused.header("retry-after"), Some("30"));
    // `wide` was not charged for the refusal: 3 of its 5 are left.
    assert_eq!(call("t2").await.status, 200);
    assert_eq!(call("t2").await.status, 200);
    let third = call("t3").await;
    assert_eq!(third.status, 200);
    assert_eq!(limits(&third), (Some("5"), Some("0"), Some("60")));
    let refused = call("t3").await;
    assert!(
        refused.problem(429)["detail"]
            .as_str()
            .unwrap()
            .contains("`wide`")
    );
    assert_eq!(refused.header("retry-after"), Some("12"));
    assert_eq!(upstream.seen().len(), 5);
}

#[test]
fn idle_keys_are_evicted_by_the_sweep() {
    const SEC: u64 = 1_000_000_000;
    let limiter = Limiter::new(&POLICIES[BY_IP]);
    let headers = HeaderMap::new();
    for i in 0..1000u32 {
        let ip = IpAddr::from(i.to_be_bytes());
        assert_eq!(
            limiter.check_at(limiter.key(ip, &headers), 0).retry_after,
            None
        );
    }
    // One key keeps going; the others fall idle 20 s after their only request.
    let busy = limiter.key(IpAddr::from([10, 0, 0, 1]), &headers);
    limiter.check_at(busy, 0);
    limiter.check_at(busy, 0);
    assert_eq!(limiter.len(), 1001);
    limiter.sweep_at(19 * SEC);
    assert_eq!(limiter.len(), 1001, "nothing is idle yet");
    limiter.sweep_at(21 * SEC);
    assert_eq!(limiter.len(), 1, "only the busy key is left");
    limiter.sweep_at(41 * SEC);
    assert!(limiter.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_may_announce_itself_on_refusals_only() {
    let upstream = mock("a").await;
    let gw = start_rated(&upstream).await;
    let allowed = get(&gw.url("/api/quiet")).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(limits(&allowed), (None, None, None));
    let refused = get(&gw.url("/api/quiet")).await;
    refused.problem(429);
    assert_eq!(limits(&refused), (Some("1"), Some("0"), Some("60")));
    assert_eq!(refused.header("retry-after"), Some("60"));
}

/// Attack (issue 11, item 3): every IPv6 address used to be a bucket of its own, so a
/// client holding a /64 (what one home or VM is routed) had 2^64 of them; and an
/// IPv4-mapped IPv6 address counted apart from its IPv4 form.
#[test]
fn an_ipv6_client_is_its_64_prefix_and_a_mapped_ipv4_address_is_ipv4() {
    let limiter = Limiter::new(&POLICIES[BY_IP]);
    let headers = HeaderMap::new();
    let key = |ip: &str| limiter.key(ip.parse().unwrap(), &headers);
    assert_eq!(
        key("2001:db8:1:2::1"),
        key("2001:db8:1:2:ffff:ffff:ffff:fffe"),
        "two addresses of one /64 are one client"
    );
    assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"), "two /64s");
    assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
    assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
    // The budget is the prefix's: spent from one address, refused to its neighbour.
    let first = limiter.key("2001:db8:1:2::1".parse().unwrap(), &headers);
    let neighbour = limiter.key("2001:db8:1:2::2".parse().unwrap(), &headers);
    for _ in 0..3 {
        assert_eq!(limiter.check_at(first, 0).retry_after, None);
    }
    assert!(limiter.check_at(neighbour, 0).retry_after.is_some());
}

/// `ipv6_prefix` is the policy's: 128 counts every address, 48 a whole site.
#[test]
fn the_ipv6_prefix_is_the_policys() {
    static EXACT: RateLimit = RateLimit {
        name: "exact",
        ipv6_prefix: 128,
        ..POLICIES[BY_IP]
    };
    static SITE: RateLimit = RateLimit {
        name: "site",
        ipv6_prefix: 48,
        ..POLICIES[BY_IP]
    };
    let headers = HeaderMap::new();
    let (exact, site) = (Limiter::new(&EXACT), Limiter::new(&SITE));
    let key = |limiter: &Limiter, ip: &str| limiter.key(ip.parse().unwrap(), &headers);
    assert_ne!(
        key(&exact, "2001:db8:1:2::1"),
        key(&exact, "2001:db8:1:2::2")
    );
    assert_eq!(
        key(&exact, "::ffff:198.51.100.7"),
        key(&exact, "198.51.100.7")
    );
    assert_eq!(
        key(&site, "2001:db8:1:2::1"),
        key(&site, "2001:db8:1:ff00::1")
    );
    assert_ne!(key(&site, "2001:db8:1::1"), key(&site, "2001:db8:2::1"));
}
