//! Rate limits shared through a real `redis-server` (`rate_limits.store.redis`): two
//! gateways in-process enforce one combined limit; killing Redis makes each policy follow
//! its `on_store_failure`; restarting it makes the limits shared again. Also the keys
//! that need more than the socket: consumer, claim, and the client's address behind
//! trusted proxies.

mod support;

#[path = "support/redis.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, OnStoreFailure, Problem, RateKey, RateLimit, RedisStore,
    Requirement, Route, Store, UpstreamPath,
};
use redis_server::RedisServer;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COMBINED: usize = 0;
const ALLOW: usize = 1;
const DENY: usize = 2;
const CONSUMER: usize = 3;
const CLAIM: usize = 4;
const BY_IP: usize = 5;
const WIDE: usize = 6;
const BY_TENANT: usize = 7;

/// The burst of `combined`; its rate (one an hour) adds nothing during a test.
const COMBINED_BURST: u64 = 1000;
const HOUR: Duration = Duration::from_secs(3600);

const fn policy(
    name: &'static str,
    burst: u64,
    key: RateKey,
    on_store_failure: OnStoreFailure,
) -> RateLimit {
    RateLimit {
        name,
        count: 1,
        period: HOUR,
        burst,
        key,
        ipv6_prefix: 64,
        on_store_failure,
        allowed_headers: true,
    }
}

static POLICIES: [RateLimit; 8] = [
    policy(
        "combined",
        COMBINED_BURST,
        RateKey::Ip,
        OnStoreFailure::Allow,
    ),
    policy(
        "allow",
        3,
        RateKey::Header("x-tenant"),
        OnStoreFailure::Allow,
    ),
    policy("deny", 3, RateKey::Header("x-tenant"), OnStoreFailure::Deny),
    policy("consumer", 2, RateKey::Consumer, OnStoreFailure::Allow),
    policy("claim", 2, RateKey::Claim("tenant"), OnStoreFailure::Allow),
    policy("by-ip", 1, RateKey::Ip, OnStoreFailure::Allow),
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
];

fn echo(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/echo-me").forward())
}

const fn route(path: &'static str, auth: Auth, rate_limits: &'static [usize]) -> Route {
    Route {
        method: Method::Get,
        path,
        upstream_path: "/echo-me",
        service: USERS,
        operation_id: "op",
        auth,
        body: BodySpec::Undeclared,
        rate_limits,
        handler: echo,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 8] = [
    route("/api/allow", Auth::Public, &[ALLOW]),
    route("/api/both", Auth::Public, &[WIDE, BY_TENANT]),
    route(
        "/api/claim",
        Auth::Required {
            challenge: "Bearer",
            alternatives: &[&[Requirement {
                scheme: "bearerAuth",
                scopes: &[],
            }]],
        },
        &[CLAIM],
    ),
    route("/api/combined", Auth::Public, &[COMBINED]),
    route(
        "/api/consumer",
        Auth::Required {
            challenge: "ApiKey",
            alternatives: &[&[Requirement {
                scheme: "apiKey",
                scopes: &[],
            }]],
        },
        &[CONSUMER],
    ),
    route("/api/deny", Auth::Public, &[DENY]),
    route("/api/ip", Auth::Public, &[BY_IP]),
    // `consumer` on a public route: counted by address.
    route("/api/public-consumer", Auth::Public, &[CONSUMER]),
];

/// The longest timeout the manifest allows: a busy CI machine must not turn a slow answer
/// into a fallback (a killed Redis refuses connections at once anyway).
static STORE: RedisStore = RedisStore {
    url_env: "TEST_RATE_LIMIT_REDIS_URL",
    timeout: Duration::from_secs(1),
};

/// 127.0.0.2 is the trusted proxy in front of the gateway.
static SHARED: Gateway = Gateway {
    routes: &ROUTES,
    rate_limits: &POLICIES,
    schemes: &BEARER_AND_API_KEY,
    rate_limit_store: Store::Redis(&STORE),
    trusted_proxies: &["127.0.0.2/32"],
    ..GATEWAY
};

/// The same gateway counting in memory.
static LOCAL: Gateway = Gateway {
    rate_limit_store: Store::Memory,
    ..SHARED
};

async fn replica(gateway: &'static Gateway, upstream: &Mock, redis: &RedisServer) -> Running {
    let url = redis.url();
    let upstream = upstream.url();
    start_configured(gateway, move |config| {
        config.upstreams = [("users".to_owned(), vec![upstream])].into();
        config.rate_limit_store_url = Some(url);
    })
    .await
}

async fn tenant(gw: &Running, path: &str, tenant: &str) -> Answer {
    request("GET", &gw.url(path), &[("x-tenant", tenant)], empty()).await
}

/// A counter's value in an exposition ([`support::sample`], as the whole number it is).
fn sample(exposition: &str, series: &str) -> u64 {
    support::sample(exposition, series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_enforce_one_combined_limit() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let (a, b) = (
        replica(&SHARED, &upstream, &redis).await,
        replica(&SHARED, &upstream, &redis).await,
    );
    let started = Instant::now();
    // 1600 requests, half through each replica, 64 at a time.
    let total = 1600;
    let urls = [a.url("/api/combined"), b.url("/api/combined")];
    let statuses: Vec<u16> = futures_util::stream::iter(0..total)
        .map(|i| {
            let url = urls[i % 2].clone();
            async move { get(&url).await.status.as_u16() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let allowed = statuses.iter().filter(|&&s| s == 200).count() as f64;
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(
        allowed as usize + refused,
        total,
        "only 200 and 429 expected"
    );
    // GCRA allows the burst plus one request per interval elapsed.
    let interval = HOUR.as_secs_f64() / POLICIES[COMBINED].count as f64;
    let limit = COMBINED_BURST as f64 + (elapsed.as_secs_f64() / interval).floor();
    assert!(
        (allowed - limit).abs() <= limit * 0.01,
        "{allowed} allowed, the combined limit is {limit}"
    );
    assert_eq!(upstream.seen().len(), allowed as usize);
    // Both replicas refused some: the limit is one, not one each.
    let (ma, mb) = (metrics(&a).await, metrics(&b).await);
    let limited = "gateway_rate_limited_total{policy=\"combined\"}";
    assert!(
        sample(&ma, limited) > 0 && sample(&mb, limited) > 0,
        "{ma}\n{mb}"
    );
    assert_eq!(sample(&ma, limited) + sample(&mb, limited), refused as u64);
    for text in [&ma, &mb] {
        assert!(
            !text.contains("gateway_rate_limit_store_fallbacks_total{"),
            "{text}"
        );
        assert_eq!(
            sample(
                text,
                "gateway_rate_limit_store_errors_total{reason=\"timeout\"}"
            ) + sample(
                text,
                "gateway_rate_limit_store_errors_total{reason=\"error\"}"
            ),
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_follows_on_store_failure_and_recovery_shares_again() {
    let mut redis = RedisServer::start();
    let upstream = mock("a").await;
    let (a, b) = (
        replica(&SHARED, &upstream, &redis).await,
        replica(&SHARED, &upstream, &redis).await,
    );
    // Shared: 3 for tenant t, whichever replica is asked.
    for gw in [&a, &b, &a] {
        assert_eq!(tenant(gw, "/api/allow", "t").await.status, 200);
    }
    let refused = tenant(&b, "/api/allow", "t").await;
    refused.problem(429);
    assert_eq!(refused.header("ratelimit-limit"), Some("3"));
    assert_eq!(tenant(&a, "/api/deny", "t").await.status, 200);

    redis.kill();
    // `allow`: each replica's own limiter decides (it saw nothing yet: 3 each).
    for gw in [&a, &b] {
        for _ in 0..3 {
            let answer = tenant(gw, "/api/allow", "t").await;
            assert_eq!(answer.status, 200);
            assert!(answer.header("ratelimit-remaining").is_some());
        }
        tenant(gw, "/api/allow", "t").await.problem(429);
    }
    // `deny`: 503, never a 500, and never forwarded.
    let forwarded = upstream.seen().len();
    for gw in [&a, &b] {
        let answer = tenant(gw, "/api/deny", "t2").await;
        let problem = answer.problem(503);
        assert_eq!(
            problem["type"],
            "urn:gateway:problem:rate-limit-unavailable"
        );
        assert!(problem["detail"].as_str().unwrap().contains("`deny`"));
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    assert_eq!(upstream.seen().len(), forwarded);
    let text = metrics(&a).await;
    let errors = sample(
        &text,
        "gateway_rate_limit_store_errors_total{reason=\"error\"}",
    ) + sample(
        &text,
        "gateway_rate_limit_store_errors_total{reason=\"timeout\"}",
    );
    assert!(errors >= 1, "{text}");
    assert!(
        sample(
            &text,
            "gateway_rate_limit_store_fallbacks_total{policy=\"allow\",on_store_failure=\"allow\"}"
        ) >= 4,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_rate_limit_store_fallbacks_total{policy=\"deny\",on_store_failure=\"deny\"}"
        ) >= 1,
        "{text}"
    );

    // Back, empty: each replica probes again after its back-off.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    for (gw, probe) in [(&a, "probe-a"), (&b, "probe-b")] {
        loop {
            let status = tenant(gw, "/api/deny", probe).await.status.as_u16();
            if status == 200 {
                break;
            }
            assert_eq!(status, 503);
            assert!(Instant::now() < deadline, "the store was not used again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Shared again: 3 for tenant s across both replicas.
    for gw in [&b, &a, &b] {
        assert_eq!(tenant(gw, "/api/deny", "s").await.status, 200);
    }
    tenant(&a, "/api/deny", "s").await.problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_store_times_out_and_the_policies_decide() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let gw = replica(&SHARED, &upstream, &redis).await;
    assert_eq!(tenant(&gw, "/api/deny", "t").await.status, 200);
    // Connected, then frozen: the next check gets no answer and gives up after the
    // store's timeout (a connection refused would be an error instead).
    redis.pause();
    tenant(&gw, "/api/deny", "t").await.problem(503);
    assert_eq!(tenant(&gw, "/api/allow", "t").await.status, 200);
    redis.resume();
    let text = metrics(&gw).await;
    assert!(
        sample(
            &text,
            "gateway_rate_limit_store_errors_total{reason=\"timeout\"}"
        ) >= 1,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "gateway_rate_limit_store_errors_total{reason=\"error\"}"
        ),
        0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_policies_are_all_or_nothing_in_one_script() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let gw = replica(&SHARED, &upstream, &redis).await;
    let call = |t: &'static str| tenant(&gw, "/api/both", t);
    // `wide` (5 per address) and `by-tenant` (2 per tenant); the headers show the policy
    // with fewer requests left.
    let first = call("t1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    assert_eq!(first.header("ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("ratelimit-reset"), Some("30"));
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
    assert_eq!(third.header("ratelimit-limit"), Some("5"));
    assert_eq!(third.header("ratelimit-remaining"), Some("0"));
    let refused = call("t3").await;
    assert!(
        refused.problem(429)["detail"]
            .as_str()
            .unwrap()
            .contains("`wide`")
    );
    assert_eq!(refused.header("retry-after"), Some("12"));
    assert_eq!(upstream.seen().len(), 5);
    // Keys are named by gateway and policy, expire, and hold no identity in clear.
    let keys = redis.command("KEYS *");
    assert!(
        keys.contains("gateway:test-gateway:wide:i:127.0.0.1"),
        "{keys}"
    );
    assert!(keys.contains("gateway:test-gateway:by-tenant:h:"), "{keys}");
    assert!(!keys.contains("t1"), "{keys}");
    let ttl = redis.command("PTTL gateway:test-gateway:wide:i:127.0.0.1");
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

async fn consumers_are_counted_apart(gateway: &'static Gateway) {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let (a, b) = (
        replica(gateway, &upstream, &redis).await,
        replica(gateway, &upstream, &redis).await,
    );
    let call = |gw: &Running, key: &'static str| {
        let url = gw.url("/api/consumer");
        async move { request("GET", &url, &[("x-api-key", key)], empty()).await }
    };
    assert_eq!(call(&a, "alice-key").await.status, 200);
    assert_eq!(call(&a, "alice-key").await.status, 200);
    call(&a, "alice-key").await.problem(429);
    let bob = call(&a, "bob-key").await;
    assert_eq!(bob.status, 200);
    assert_eq!(bob.header("ratelimit-remaining"), Some("1"));
    if gateway.rate_limit_store != Store::Memory {
        // The other replica knows alice spent hers.
        call(&b, "alice-key").await.problem(429);
        assert_eq!(call(&b, "bob-key").await.status, 200);
        call(&b, "bob-key").await.problem(429);
    }
    // Without an identity (a public route), `consumer` counts by address.
    assert_eq!(get(&a.url("/api/public-consumer")).await.status, 200);
    assert_eq!(get(&a.url("/api/public-consumer")).await.status, 200);
    get(&a.url("/api/public-consumer")).await.problem(429);
    assert_eq!(
        get_from("127.0.0.3", &a, "/api/public-consumer", &[])
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_keys_shared() {
    consumers_are_counted_apart(&SHARED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_keys_in_memory() {
    consumers_are_counted_apart(&LOCAL).await;
}

fn token(sub: &str, tenant: Option<&str>) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    openapi_gateway_runtime::auth::install_crypto_provider();
    let mut claims = serde_json::json!({
        "sub": sub,
        "iss": "test-issuer",
        "exp": 4_102_444_800u64,
    });
    if let Some(tenant) = tenant {
        claims["tenant"] = tenant.into();
    }
    let key = EncodingKey::from_secret(HS_SECRET.trim().as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_keys_group_tokens_by_claim() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let gw = replica(&SHARED, &upstream, &redis).await;
    let call = |token: String| {
        let url = gw.url("/api/claim");
        async move {
            let bearer = format!("Bearer {token}");
            request("GET", &url, &[("authorization", &bearer)], empty()).await
        }
    };
    // Two users of tenant acme share its 2.
    assert_eq!(call(token("ann", Some("acme"))).await.status, 200);
    assert_eq!(call(token("bob", Some("acme"))).await.status, 200);
    call(token("cid", Some("acme"))).await.problem(429);
    // Another tenant has its own.
    assert_eq!(call(token("ann", Some("globex"))).await.status, 200);
    // A token without the claim is counted by address (127.0.0.1, fresh here).
    assert_eq!(call(token("dan", None)).await.status, 200);
    assert_eq!(call(token("eve", None)).await.status, 200);
    call(token("fay", None)).await.problem(429);
    // Bad credentials are refused before they count.
    assert_eq!(call("not-a-token".to_owned()).await.status, 401);
}

/// A raw HTTP/1.1 GET from a chosen loopback address: (status, whole response).
async fn get_from(
    local: &str,
    gw: &Running,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(gw.addr).await.unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    (text[9..12].parse().unwrap(), text)
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(gateway: &'static Gateway) {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let gw = replica(gateway, &upstream, &redis).await;
    let xff = |value: &'static str| [("x-forwarded-for", value)];
    // An untrusted peer cannot pick its address: both requests count as 127.0.0.3.
    let (status, response) = get_from("127.0.0.3", &gw, "/api/ip", &xff("203.0.113.7")).await;
    assert_eq!(status, 200);
    // Forwarded upstream as received, with the peer appended.
    assert!(
        response.contains(r#""x-forwarded-for":["203.0.113.7, 127.0.0.3"]"#),
        "{response}"
    );
    let (status, _) = get_from("127.0.0.3", &gw, "/api/ip", &xff("203.0.113.8")).await;
    assert_eq!(status, 429);

    // The trusted proxy's right-most untrusted address is the client.
    let spoofed = "10.9.9.9, 198.51.100.1";
    let (status, response) = get_from("127.0.0.2", &gw, "/api/ip", &xff(spoofed)).await;
    assert_eq!(status, 200);
    assert!(
        response.contains(r#""x-forwarded-for":["10.9.9.9, 198.51.100.1, 127.0.0.2"]"#),
        "{response}"
    );
    // Same client through the proxy, another spoofed left part: the same key.
    let (status, _) = get_from("127.0.0.2", &gw, "/api/ip", &xff("1.1.1.1, 198.51.100.1")).await;
    assert_eq!(status, 429);
    // Another client through the proxy.
    let (status, _) = get_from("127.0.0.2", &gw, "/api/ip", &xff("198.51.100.2")).await;
    assert_eq!(status, 200);
    // The proxy itself, with no header, is a client of its own.
    assert_eq!(get_from("127.0.0.2", &gw, "/api/ip", &[]).await.0, 200);
    if gateway.rate_limit_store != Store::Memory {
        let keys = redis.command("KEYS *");
        for client in ["127.0.0.3", "198.51.100.1", "198.51.100.2", "127.0.0.2"] {
            assert!(
                keys.contains(&format!("gateway:test-gateway:by-ip:i:{client}\r")),
                "{client}: {keys}"
            );
        }
        assert!(!keys.contains("203.0.113"), "{keys}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_shared() {
    forwarded_for_is_believed_only_from_trusted_proxies(&SHARED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_in_memory() {
    forwarded_for_is_believed_only_from_trusted_proxies(&LOCAL).await;
}

/// Attack (issue 11, item 3): behind the trusted proxy, two addresses of one IPv6 /64 are
/// one client (they used to be two buckets, so a /64 had 2^64 of them); two /64s are two;
/// an IPv4-mapped address is its IPv4 form. In Redis the key is the network.
async fn an_ipv6_client_is_counted_by_its_prefix(gateway: &'static Gateway) {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let gw = replica(gateway, &upstream, &redis).await;
    let from = |xff: &'static str| {
        let gw = &gw;
        async move { get_from("127.0.0.2", gw, "/api/ip", &[("x-forwarded-for", xff)]).await }
    };
    // `by-ip` allows one request an hour.
    assert_eq!(from("2001:db8:1:2::1").await.0, 200);
    assert_eq!(from("2001:db8:1:2:aaaa:bbbb:cccc:dddd").await.0, 429);
    assert_eq!(from("[2001:db8:1:2::7]:443").await.0, 429);
    assert_eq!(from("2001:db8:1:3::1").await.0, 200, "another /64");
    assert_eq!(from("198.51.100.9").await.0, 200);
    assert_eq!(from("::ffff:198.51.100.9").await.0, 429);
    assert_eq!(from("198.51.100.10").await.0, 200);
    if gateway.rate_limit_store != Store::Memory {
        let keys = redis.command("KEYS *");
        for network in ["2001:db8:1:2::/64", "2001:db8:1:3::/64", "198.51.100.9"] {
            assert!(
                keys.contains(&format!("gateway:test-gateway:by-ip:i:{network}\r")),
                "{network}: {keys}"
            );
        }
        assert!(!keys.contains("2001:db8:1:2::1"), "{keys}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_prefixes_shared() {
    an_ipv6_client_is_counted_by_its_prefix(&SHARED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_prefixes_in_memory() {
    an_ipv6_client_is_counted_by_its_prefix(&LOCAL).await;
}

/// No trusted proxy: the client is the TCP peer.
static DIRECT: Gateway = Gateway {
    trusted_proxies: &[],
    ..SHARED
};

/// Attack (issue 11, item 3): a replica listening on a dual-stack socket (`[::]`) sees an
/// IPv4 client as `::ffff:a.b.c.d`, one listening on IPv4 as `a.b.c.d`; they used to count
/// it under two keys, doubling its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv4_client_is_one_key_on_dual_stack_and_ipv4_replicas() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let dual = std::net::TcpListener::bind("[::]:0").unwrap();
    dual.set_nonblocking(true).unwrap();
    let port = dual.local_addr().unwrap().port();
    let (url, upstream_url) = (redis.url(), upstream.url());
    let mut v6 = start_configured(&DIRECT, move |config| {
        config.listener = tokio::net::TcpListener::from_std(dual).unwrap();
        config.upstreams = [("users".to_owned(), vec![upstream_url])].into();
        config.rate_limit_store_url = Some(url);
    })
    .await;
    v6.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let v4 = replica(&DIRECT, &upstream, &redis).await;
    // `by-ip` allows one request an hour: the second, through the other replica, is refused.
    assert_eq!(get_from("127.0.0.1", &v6, "/api/ip", &[]).await.0, 200);
    assert_eq!(get_from("127.0.0.1", &v4, "/api/ip", &[]).await.0, 429);
    let keys = redis.command("KEYS *");
    assert!(
        keys.contains("gateway:test-gateway:by-ip:i:127.0.0.1\r"),
        "{keys}"
    );
    assert!(!keys.contains("ffff"), "{keys}");
}

static FOUR_AN_HOUR: RateLimit = RateLimit {
    name: "auth_failures",
    count: 1,
    period: HOUR,
    burst: 4,
    key: RateKey::Ip,
    ipv6_prefix: 64,
    on_store_failure: OnStoreFailure::Allow,
    allowed_headers: false,
};

/// Failed authentications are counted in Redis: four at once, then one an hour.
static GUARDED: Gateway = Gateway {
    auth_failures: Some(&FOUR_AN_HOUR),
    trusted_proxies: &[],
    ..SHARED
};

/// Attack (issue 11, item 6), with the shared store: failed authentications count for the
/// whole fleet, so a guesser gains nothing by spreading its guesses over the replicas.
/// A replica that sees the store refuse an address refuses it too, before any check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_credentials_count_across_replicas() {
    let redis = RedisServer::start();
    let upstream = mock("a").await;
    let (a, b) = (
        replica(&GUARDED, &upstream, &redis).await,
        replica(&GUARDED, &upstream, &redis).await,
    );
    let key = |gw: &Running, key: &'static str| {
        let url = gw.url("/api/consumer");
        async move { request("GET", &url, &[("x-api-key", key)], empty()).await }
    };
    assert_eq!(key(&a, "guess-1").await.status, 401);
    assert_eq!(key(&a, "guess-2").await.status, 401);
    assert_eq!(key(&b, "guess-3").await.status, 401);
    assert_eq!(key(&b, "guess-4").await.status, 401);
    // B counted the fourth of the fleet's four: refused before any check.
    let refused = key(&b, "guess-5").await;
    let problem = refused.problem(429);
    assert_eq!(
        problem["type"],
        "urn:gateway:problem:too-many-auth-failures"
    );
    assert_eq!(refused.header("retry-after"), Some("3600"));
    key(&b, "alice-key").await.problem(429);
    // A last heard two: it checks one more, which the store refuses, and then knows.
    assert_eq!(key(&a, "guess-6").await.status, 401);
    key(&a, "guess-7").await.problem(429);
    key(&a, "alice-key").await.problem(429);
    let keys = redis.command("KEYS *");
    assert!(
        keys.contains("gateway:test-gateway:auth_failures:f:127.0.0.1\r"),
        "{keys}"
    );
}

/// While the store cannot be reached, each replica counts failures on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_credentials_are_counted_here_while_the_store_is_down() {
    let mut redis = RedisServer::start();
    redis.kill();
    let upstream = mock("a").await;
    let gw = replica(&GUARDED, &upstream, &redis).await;
    let key = |key: &'static str| {
        let url = gw.url("/api/consumer");
        async move { request("GET", &url, &[("x-api-key", key)], empty()).await }
    };
    for guess in ["guess-1", "guess-2", "guess-3", "guess-4"] {
        assert_eq!(key(guess).await.status, 401);
    }
    key("guess-5").await.problem(429);
    key("alice-key").await.problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_store_url_stops_the_start() {
    let upstream = mock("a").await;
    let mut gw = start_configured(&SHARED, |config| {
        config.upstreams = [("users".to_owned(), vec![upstream.url()])].into();
    })
    .await;
    let error = (&mut gw.task).await.unwrap().unwrap_err().to_string();
    assert!(error.contains("TEST_RATE_LIMIT_REDIS_URL"), "{error}");
    assert!(error.contains("not set"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_down_at_start_delays_nothing() {
    let mut redis = RedisServer::start();
    redis.kill();
    let upstream = mock("a").await;
    let gw = replica(&SHARED, &upstream, &redis).await;
    // Serving at once, on the local limiter.
    assert_eq!(tenant(&gw, "/api/allow", "t").await.status, 200);
    tenant(&gw, "/api/deny", "t").await.problem(503);
}
