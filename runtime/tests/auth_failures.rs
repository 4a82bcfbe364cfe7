//! The failure limit (`rate_limits.auth_failures`), in-process with the memory store:
//! failed authentications are counted per client address, and an address past the limit
//! is answered 429 before any credential it sends is checked, whichever scheme, whether
//! the credential is good or not, until the limit lets it through again. Requests without
//! credentials and valid credentials lacking a scope are not failures; other addresses and
//! public routes are not affected.

mod support;

use std::time::Duration;

use openapi_gateway_runtime::params::{Forward, Request};
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, OnStoreFailure, Problem, RateKey, RateLimit, Requirement,
    Route, UpstreamPath,
};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn echo(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/echo-me").forward())
}

const fn route(path: &'static str, auth: Auth) -> Route {
    Route {
        method: Method::Get,
        path,
        upstream_path: "/echo-me",
        service: USERS,
        operation_id: "op",
        auth,
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler: echo,
        responses: None,
        path_types: &[],
    }
}

static API_KEY_ONLY: [&[Requirement]; 1] = [&[Requirement {
    scheme: "apiKey",
    scopes: &[],
}]];
static BEARER_ONLY: [&[Requirement]; 1] = [&[Requirement {
    scheme: "bearerAuth",
    scopes: &[],
}]];
static BEARER_ADMIN: [&[Requirement]; 1] = [&[Requirement {
    scheme: "bearerAuth",
    scopes: &["admin"],
}]];

static ROUTES: [Route; 4] = [
    route(
        "/api/key",
        Auth::Required {
            challenge: "ApiKey realm=\"test\"",
            alternatives: &API_KEY_ONLY,
        },
    ),
    route("/api/open", Auth::Public),
    route(
        "/api/scoped",
        Auth::Required {
            challenge: "Bearer realm=\"test\"",
            alternatives: &BEARER_ADMIN,
        },
    ),
    route(
        "/api/token",
        Auth::Required {
            challenge: "Bearer realm=\"test\"",
            alternatives: &BEARER_ONLY,
        },
    ),
];

static THREE_AN_HOUR: RateLimit = RateLimit {
    name: "auth_failures",
    count: 1,
    period: Duration::from_secs(3600),
    burst: 3,
    key: RateKey::Ip,
    ipv6_prefix: 64,
    on_store_failure: OnStoreFailure::Allow,
    allowed_headers: false,
};

/// Three failures at once, then one an hour.
static GUARDED: Gateway = Gateway {
    routes: &ROUTES,
    auth_failures: Some(&THREE_AN_HOUR),
    schemes: &BEARER_AND_API_KEY,
    ..GATEWAY
};

static TWO_THEN_EVERY_2S: RateLimit = RateLimit {
    name: "auth_failures",
    count: 1,
    period: Duration::from_secs(2),
    burst: 2,
    key: RateKey::Ip,
    ipv6_prefix: 64,
    on_store_failure: OnStoreFailure::Allow,
    allowed_headers: false,
};

/// Two failures at once, then one every 2 s.
static BRIEF: Gateway = Gateway {
    routes: &ROUTES,
    auth_failures: Some(&TWO_THEN_EVERY_2S),
    schemes: &BEARER_AND_API_KEY,
    ..GATEWAY
};

async fn serve(gateway: &'static Gateway, upstream: &Mock) -> Running {
    start(
        gateway,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await
}

fn token(sub: &str, scope: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    openapi_gateway_runtime::auth::install_crypto_provider();
    let claims = serde_json::json!({
        "sub": sub,
        "iss": "test-issuer",
        "exp": 4_102_444_800u64,
        "scope": scope,
    });
    let key = EncodingKey::from_secret(HS_SECRET.trim().as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// A raw HTTP/1.1 GET from a chosen loopback address: (status, head, body).
async fn get_from(
    local: &str,
    gw: &Running,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
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
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        text[9..12].parse().unwrap(),
        head.to_ascii_lowercase(),
        body.to_owned(),
    )
}

async fn key_from(local: &str, gw: &Running, key: &str) -> (u16, String, String) {
    get_from(local, gw, "/api/key", &[("x-api-key", key)]).await
}

async fn token_from(local: &str, gw: &Running, path: &str, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    get_from(local, gw, path, &[("authorization", &bearer)])
        .await
        .0
}

/// Attack (issue 11, item 6): authentication ran before any limit and failures were never
/// counted, so one address could guess API keys, and send forged tokens that each cost a
/// signature check, as fast as it liked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_credentials_is_limited_per_address_before_any_check() {
    let upstream = mock("a").await;
    let gw = serve(&GUARDED, &upstream).await;
    let guesser = "127.0.0.2";
    // Two wrong keys, then good credentials (which do not count), then a third failure.
    assert_eq!(key_from(guesser, &gw, "guess-1").await.0, 401);
    assert_eq!(key_from(guesser, &gw, "guess-2").await.0, 401);
    for _ in 0..5 {
        assert_eq!(key_from(guesser, &gw, "alice-key").await.0, 200);
    }
    assert_eq!(
        token_from(guesser, &gw, "/api/token", "forged.token.here").await,
        401
    );
    let forwarded = upstream.seen().len();

    // Past the limit: refused before any check, good credentials too, on every scheme.
    let (status, head, body) = key_from(guesser, &gw, "guess-4").await;
    assert_eq!(status, 429, "{head}");
    assert!(head.contains("retry-after: 3600\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(!head.contains("www-authenticate"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem["type"],
        "urn:gateway:problem:too-many-auth-failures"
    );
    assert_eq!(problem["status"], 429);
    assert_eq!(key_from(guesser, &gw, "alice-key").await.0, 429);
    assert_eq!(
        token_from(guesser, &gw, "/api/token", &token("ann", "")).await,
        429
    );
    assert_eq!(get_from(guesser, &gw, "/api/key", &[]).await.0, 429);
    assert_eq!(
        upstream.seen().len(),
        forwarded,
        "a refused request was forwarded"
    );
    // Public routes ask for no credentials: not limited.
    assert_eq!(get_from(guesser, &gw, "/api/open", &[]).await.0, 200);

    // Another address is not affected.
    assert_eq!(key_from("127.0.0.3", &gw, "bob-key").await.0, 200);
    assert_eq!(key_from("127.0.0.3", &gw, "guess-5").await.0, 401);

    // No credentials, and valid ones without the scope, are not guesses.
    let (bystander, token_without_scope) = ("127.0.0.4", token("ann", "read"));
    for _ in 0..10 {
        assert_eq!(get_from(bystander, &gw, "/api/key", &[]).await.0, 401);
        assert_eq!(
            token_from(bystander, &gw, "/api/scoped", &token_without_scope).await,
            403
        );
    }
    assert_eq!(key_from(bystander, &gw, "alice-key").await.0, 200);

    let text = metrics(&gw).await;
    assert_eq!(
        sample::<u64>(&text, "gateway_auth_failures_limited_total"),
        4,
        "{text}"
    );
}

/// A limited address waits: once the limit lets one request through again, good
/// credentials pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_address_waits_then_good_credentials_pass() {
    let upstream = mock("a").await;
    let gw = serve(&BRIEF, &upstream).await;
    let guesser = "127.0.0.5";
    assert_eq!(key_from(guesser, &gw, "guess-1").await.0, 401);
    assert_eq!(key_from(guesser, &gw, "guess-2").await.0, 401);
    let (status, head, _) = key_from(guesser, &gw, "alice-key").await;
    assert_eq!(status, 429, "{head}");
    let wait: u64 = head
        .lines()
        .find_map(|line| line.strip_prefix("retry-after: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(wait, 2);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(key_from(guesser, &gw, "alice-key").await.0, 200);
}
