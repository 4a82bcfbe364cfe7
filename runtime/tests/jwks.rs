//! JWT keys from a JWKS URL, end to end: a gateway served in-process fetches its keys over
//! HTTPS from a test JWKS server (its own CA, made here with rcgen), which counts the
//! fetches and can add and remove keys, fail, or answer too much. Covers rotation mid-run,
//! the unknown-`kid` refetch (rate-limited, shared by concurrent requests), failed
//! refreshes keeping the keys, the size cap, readiness before the first load, TLS trust,
//! and algorithm confusion with a published RSA key.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use openapi_gateway_runtime::auth::{Jwks, JwksUrl, Jwt, KeySource, Scheme, SchemeKind};
use openapi_gateway_runtime::params::Forward;
use openapi_gateway_runtime::{
    Auth, BodySpec, Gateway, Method, OnStoreFailure, Problem, RateKey, RateLimit, Request,
    Requirement, Route, UpstreamPath,
};
use serde_json::{Value, json};
use support::{Answer, Mock, Running, empty, request};

const KEY_A_PRIVATE: &str = include_str!("keys/rsa_private.pem");
const KEY_A_PUBLIC: &str = include_str!("keys/rsa_public.pem");
const KEY_B_PRIVATE: &str = include_str!("keys/rsa_b_private.pem");
/// The JWK set holding key A as `key-1`.
const JWKS_A: &str = include_str!("keys/jwks.json");
/// Key B as a JWK, `key-2`.
const JWK_B: &str = include_str!("keys/jwk_b.json");

fn jwk_a() -> Value {
    serde_json::from_str::<Value>(JWKS_A).unwrap()["keys"][0].clone()
}

fn jwk_b() -> Value {
    serde_json::from_str(JWK_B).unwrap()
}

// ---- The JWKS server --------------------------------------------------------------------

/// What the JWKS server answers.
#[derive(Clone)]
enum Answering {
    /// `{"keys": [...]}` with 200.
    Keys(Vec<Value>),
    /// This status, empty body.
    Status(u16),
    /// Closes the connection without answering.
    Hangup,
    /// A valid but 2 MiB JWK set, streamed without `Content-Length`.
    Oversized,
}

struct JwksServer {
    addr: SocketAddr,
    answering: Arc<Mutex<Answering>>,
    fetches: Arc<AtomicUsize>,
    /// The PEM file of the CA that signed the server's certificate.
    ca_file: String,
}

impl JwksServer {
    fn url(&self) -> String {
        format!("https://{}/.well-known/jwks.json", self.addr)
    }

    fn answer(&self, answering: Answering) {
        *self.answering.lock().unwrap() = answering;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

type ServerBody = BoxBody<Bytes, Infallible>;

/// A TLS server for `127.0.0.1` with a certificate from a fresh CA. Each response is
/// delayed by `delay`, so that requests arriving meanwhile pile up behind one fetch.
async fn jwks_server(answering: Answering, delay: Duration) -> JwksServer {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "jwks test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_file = std::env::temp_dir().join(format!(
        "gateway-jwks-ca-{}-{}.pem",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        leaf_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answering = Arc::new(Mutex::new(answering));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (shared, counter) = (answering.clone(), fetches.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, shared, counter) = (acceptor.clone(), shared.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_request| {
                    let (shared, counter) = (shared.clone(), counter.clone());
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        let answering = shared.lock().unwrap().clone();
                        respond(answering)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    JwksServer {
        addr,
        answering,
        fetches,
        ca_file: ca_file.to_string_lossy().into_owned(),
    }
}

fn respond(answering: Answering) -> Result<http::Response<ServerBody>, std::io::Error> {
    let full = |status: u16, body: String| {
        let mut response = http::Response::new(Full::new(Bytes::from(body)).boxed());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        response
    };
    match answering {
        Answering::Keys(keys) => Ok(full(200, json!({ "keys": keys }).to_string())),
        Answering::Status(status) => Ok(full(status, String::new())),
        // An error from the service makes hyper close the connection unanswered.
        Answering::Hangup => Err(std::io::Error::other("hang up")),
        Answering::Oversized => {
            let mut chunks = vec![format!(r#"{{"keys":[{}"#, jwk_a())];
            let padding = format!(",{}", json!({ "kty": "none", "pad": "x".repeat(1000) }));
            chunks.extend(std::iter::repeat_n(padding, 2048));
            chunks.push("]}".to_owned());
            let frames = chunks
                .into_iter()
                .map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))));
            let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
            Ok(http::Response::new(body))
        }
    }
}

fn rand_suffix() -> u128 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    nanos + NEXT.fetch_add(1, Ordering::SeqCst) as u128
}

// ---- The gateway ------------------------------------------------------------------------

fn secret(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/secret").forward())
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn leak_str(value: &str) -> &'static str {
    Box::leak(value.to_owned().into_boxed_str())
}

struct Timing {
    refresh: Duration,
    refetch_interval: Duration,
}

/// Refreshes only when asked (a long `refresh`); an unknown `kid` refetches at once.
const ON_DEMAND: Timing = Timing {
    refresh: Duration::from_secs(3600),
    refetch_interval: Duration::ZERO,
};

/// A gateway with one route, `GET /api/secret`, requiring an RS256 token verified with the
/// keys at `url`.
fn gateway(url: &str, ca_file: Option<&str>, timing: Timing) -> &'static Gateway {
    let jwks = leak(Jwks {
        url: JwksUrl::Literal(leak_str(url)),
        ca_file: ca_file.map(leak_str),
        refresh: timing.refresh,
        refetch_interval: timing.refetch_interval,
    });
    let jwt = leak(Jwt {
        algorithms: &["RS256"],
        key: KeySource::Jwks(jwks),
        issuer: Some("https://id.example.com"),
        audiences: &["shop"],
        leeway_secs: 0,
        max_token: 8192,
        types: &["JWT", "at+jwt"],
        forward_claims: &[("sub", "x-user-id")],
        strip_authorization: false,
    });
    let schemes: &'static [Scheme] = Box::leak(Box::new([Scheme {
        name: "idp",
        kind: SchemeKind::Jwt(jwt),
    }]));
    let routes: &'static [Route] = Box::leak(Box::new([Route {
        method: Method::Get,
        path: "/api/secret",
        upstream_path: "/secret",
        service: support::USERS,
        operation_id: "getSecret",
        auth: Auth::Required {
            challenge: "Bearer realm=\"test\"",
            alternatives: &[&[Requirement {
                scheme: "idp",
                scopes: &[],
            }]],
        },
        body: BodySpec::Undeclared,
        rate_limits: &[],
        handler: secret,
        responses: None,
        path_types: &[],
    }]));
    leak(Gateway {
        name: "jwks-test",
        generator_version: "0.0.0-test",
        listen: "127.0.0.1:0",
        connections: openapi_gateway_runtime::Connections::DEFAULT,
        openapi_json: support::OPENAPI,
        docs: None,
        max_body: 1024,
        max_fields: 1000,
        services: &support::SERVICES,
        routes,
        rate_limits: &[],
        schemes,
        auth_failures: None,
        rate_limit_store: openapi_gateway_runtime::Store::Memory,
        trusted_proxies: &[],
        otlp_endpoint_env: None,
    })
}

async fn start(gateway: &'static Gateway, mock: &Mock) -> Running {
    support::start(
        gateway,
        &[("users", vec![mock.url()])],
        Duration::from_secs(5),
    )
    .await
}

fn token(private_pem: &str, kid: &str, alg: Algorithm) -> String {
    let claims = json!({
        "sub": "user-42",
        "iss": "https://id.example.com",
        "aud": "shop",
        "exp": jsonwebtoken::get_current_timestamp() + 600,
    });
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_secret(private_pem.as_bytes()),
    };
    encode(&header, &claims, &key).unwrap()
}

fn token_a() -> String {
    token(KEY_A_PRIVATE, "key-1", Algorithm::RS256)
}

fn token_b() -> String {
    token(KEY_B_PRIVATE, "key-2", Algorithm::RS256)
}

async fn call(gateway: &Running, token: &str) -> Answer {
    let authorization = format!("Bearer {token}");
    request(
        "GET",
        &gateway.url("/api/secret"),
        &[("authorization", &authorization)],
        empty(),
    )
    .await
}

/// Asserts a 401 with `error="invalid_token"`.
fn assert_invalid(answer: &Answer) {
    answer.problem(401);
    let challenge = answer.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// Polls `condition` every 25 ms until it holds; fails after 20 s.
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn readyz(gateway: &Running) -> Answer {
    support::get(&gateway.admin_url("/readyz")).await
}

async fn wait_ready(gateway: &Running) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while readyz(gateway).await.status != StatusCode::OK {
        if tokio::time::Instant::now() >= deadline {
            // What the refresher did, for a failure seen only under a loaded CI machine.
            let metrics = support::get(&gateway.admin_url("/metrics")).await;
            let text = String::from_utf8_lossy(&metrics.body).into_owned();
            let jwks: Vec<&str> = text.lines().filter(|l| l.contains("jwks")).collect();
            panic!(
                "timed out waiting until the gateway is ready:\n{}",
                jwks.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `gateway_jwks_refresh_total` sample of `outcome`.
async fn refreshes(gateway: &Running, outcome: &str) -> u64 {
    let metrics = support::get(&gateway.admin_url("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let prefix = format!("gateway_jwks_refresh_total{{scheme=\"idp\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .parse()
        .unwrap()
}

// ---- The tests --------------------------------------------------------------------------

#[tokio::test]
async fn rotation_mid_run_fetches_new_kids_and_drops_removed_keys() {
    let server = jwks_server(Answering::Keys(vec![jwk_a()]), Duration::ZERO).await;
    let mock = support::mock("a").await;
    let gateway = start(
        gateway(&server.url(), Some(&server.ca_file), ON_DEMAND),
        &mock,
    )
    .await;
    wait_ready(&gateway).await;
    assert_eq!(server.fetches(), 1);

    let answer = call(&gateway, &token_a()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.echoed_header("x-user-id").as_deref(),
        Some("user-42")
    );
    assert_eq!(server.fetches(), 1, "known keys are not fetched again");

    // The identity provider publishes key B: its first token causes one fetch.
    server.answer(Answering::Keys(vec![jwk_a(), jwk_b()]));
    assert_eq!(call(&gateway, &token_b()).await.status, StatusCode::OK);
    assert_eq!(server.fetches(), 2);
    assert_eq!(call(&gateway, &token_b()).await.status, StatusCode::OK);
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
    assert_eq!(server.fetches(), 2);

    // Key A is withdrawn: its tokens keep working until the keys are fetched again...
    server.answer(Answering::Keys(vec![jwk_b()]));
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
    assert_eq!(server.fetches(), 2);
    // ...which a token with a kid nobody knows causes; it is refused itself.
    let stranger = token(KEY_B_PRIVATE, "key-3", Algorithm::RS256);
    assert_invalid(&call(&gateway, &stranger).await);
    assert_eq!(server.fetches(), 3);
    assert_invalid(&call(&gateway, &token_a()).await);
    assert_eq!(call(&gateway, &token_b()).await.status, StatusCode::OK);
    // A token signed by B but claiming A's kid does not verify against anything.
    let impostor = token(KEY_B_PRIVATE, "key-1", Algorithm::RS256);
    assert_invalid(&call(&gateway, &impostor).await);
}

#[tokio::test]
async fn background_refresh_picks_up_rotation_and_survives_failures() {
    let server = jwks_server(Answering::Keys(vec![jwk_a()]), Duration::ZERO).await;
    let mock = support::mock("a").await;
    let timing = Timing {
        refresh: Duration::from_millis(100),
        refetch_interval: Duration::from_secs(3600),
    };
    let gateway = start(gateway(&server.url(), Some(&server.ca_file), timing), &mock).await;
    wait_ready(&gateway).await;
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);

    // The server fails in every way it can: the keys held stay in force.
    for failure in [
        Answering::Status(500),
        Answering::Hangup,
        Answering::Keys(vec![]),
    ] {
        let failed = refreshes(&gateway, "failure").await;
        server.answer(failure);
        eventually("a refresh has failed", || async {
            refreshes(&gateway, "failure").await > failed
        })
        .await;
        assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
        assert_eq!(readyz(&gateway).await.status, StatusCode::OK);
    }
    assert!(refreshes(&gateway, "success").await >= 1);

    // A set without key A, found by the next scheduled refresh.
    server.answer(Answering::Keys(vec![jwk_b()]));
    eventually("key A is gone", || async {
        call(&gateway, &token_a()).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(call(&gateway, &token_b()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_rate_limited_fetch() {
    // Each answer takes 200 ms, so the 40 requests below arrive while one fetch runs.
    let server = jwks_server(Answering::Keys(vec![jwk_a()]), Duration::from_millis(200)).await;
    let mock = support::mock("a").await;
    let timing = Timing {
        refresh: Duration::from_secs(3600),
        refetch_interval: Duration::from_secs(3600),
    };
    let gateway = start(gateway(&server.url(), Some(&server.ca_file), timing), &mock).await;
    wait_ready(&gateway).await;
    assert_eq!(server.fetches(), 1);

    let burst = || {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let url = gateway.url("/api/secret");
                let authorization = format!(
                    "Bearer {}",
                    token(KEY_A_PRIVATE, &format!("unknown-{i}"), Algorithm::RS256)
                );
                tokio::spawn(async move {
                    request("GET", &url, &[("authorization", &authorization)], empty())
                        .await
                        .status
                })
            })
            .collect();
        async move {
            for task in tasks {
                assert_eq!(task.await.unwrap(), StatusCode::UNAUTHORIZED);
            }
        }
    };
    burst().await;
    assert_eq!(server.fetches(), 2, "one refetch for all 40 unknown kids");
    // Within the rate-limit window, no further fetch.
    burst().await;
    assert_eq!(server.fetches(), 2);
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
}

/// Attack (issue 11, item 6): each token naming a made-up `kid` made the gateway fetch the
/// JWK set again (at most once per `refetch_interval`, here at once) and made the request
/// wait on it. Past the failure limit, an address's tokens are refused before any key is
/// looked up: no fetch, no signature check, a valid token included.
#[tokio::test]
async fn an_address_past_the_failure_limit_costs_no_jwks_fetch() {
    let server = jwks_server(Answering::Keys(vec![jwk_a()]), Duration::ZERO).await;
    let mock = support::mock("a").await;
    // Three failures at once, then one an hour.
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
    let guarded = leak(Gateway {
        auth_failures: Some(&THREE_AN_HOUR),
        ..*gateway(&server.url(), Some(&server.ca_file), ON_DEMAND)
    });
    let gateway = start(guarded, &mock).await;
    wait_ready(&gateway).await;
    assert_eq!(server.fetches(), 1);
    let made_up = |i: usize| token(KEY_A_PRIVATE, &format!("made-up-{i}"), Algorithm::RS256);
    // Three failures at once: each unknown `kid` is fetched for.
    for i in 0..3 {
        assert_invalid(&call(&gateway, &made_up(i)).await);
    }
    assert_eq!(server.fetches(), 4);
    for i in 3..20 {
        let answer = call(&gateway, &made_up(i)).await;
        let problem = answer.problem(429);
        assert_eq!(
            problem["type"],
            "urn:gateway:problem:too-many-auth-failures"
        );
    }
    call(&gateway, &token_a()).await.problem(429);
    assert_eq!(
        server.fetches(),
        4,
        "a limited address made the gateway fetch"
    );
}

#[tokio::test]
async fn readiness_waits_for_the_first_key_set() {
    let server = jwks_server(Answering::Status(503), Duration::ZERO).await;
    let mock = support::mock("a").await;
    let gateway = start(
        gateway(&server.url(), Some(&server.ca_file), ON_DEMAND),
        &mock,
    )
    .await;
    eventually("a fetch has failed", || async {
        refreshes(&gateway, "failure").await >= 1
    })
    .await;

    let ready = readyz(&gateway).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = String::from_utf8_lossy(&ready.body);
    assert!(body.contains("JWKS not loaded for idp"), "{body}");
    // A token cannot be judged yet: 503, not 401, and it is not forwarded.
    let answer = call(&gateway, &token_a()).await;
    let problem = answer.problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not loaded yet"),
        "{problem}"
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(answer.header("www-authenticate").is_none());
    // Without a token the answer is the usual challenge.
    let answer = request("GET", &gateway.url("/api/secret"), &[], empty()).await;
    answer.problem(401);
    assert!(mock.seen().is_empty());

    server.answer(Answering::Keys(vec![jwk_a()]));
    wait_ready(&gateway).await;
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let server = jwks_server(Answering::Oversized, Duration::ZERO).await;
    let mock = support::mock("a").await;
    let gateway = start(
        gateway(&server.url(), Some(&server.ca_file), ON_DEMAND),
        &mock,
    )
    .await;
    eventually("a fetch has failed", || async {
        refreshes(&gateway, "failure").await >= 1
    })
    .await;
    assert_eq!(refreshes(&gateway, "success").await, 0);
    assert_eq!(
        readyz(&gateway).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    call(&gateway, &token_a()).await.problem(503);
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_not_trusted() {
    let server = jwks_server(Answering::Keys(vec![jwk_a()]), Duration::ZERO).await;
    let mock = support::mock("a").await;
    // No `ca_file`: only the webpki roots, which did not sign the test server.
    let gateway = start(gateway(&server.url(), None, ON_DEMAND), &mock).await;
    eventually("a fetch has failed", || async {
        refreshes(&gateway, "failure").await >= 1
    })
    .await;
    assert_eq!(server.fetches(), 0, "no request reached the server");
    assert_eq!(
        readyz(&gateway).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn algorithm_confusion_with_published_keys_is_refused() {
    // The set also publishes a symmetric key: it is never used.
    let oct = json!({
        "kty": "oct", "kid": "shared", "alg": "HS256",
        "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
    });
    let server = jwks_server(Answering::Keys(vec![oct, jwk_a()]), Duration::ZERO).await;
    let mock = support::mock("a").await;
    let gateway = start(
        gateway(&server.url(), Some(&server.ca_file), ON_DEMAND),
        &mock,
    )
    .await;
    wait_ready(&gateway).await;

    // HS256 "signed" with the RSA public key (PEM, and the JWK's modulus) as the secret.
    assert_invalid(&call(&gateway, &token(KEY_A_PUBLIC, "key-1", Algorithm::HS256)).await);
    let modulus = jwk_a()["n"].as_str().unwrap().to_owned();
    assert_invalid(&call(&gateway, &token(&modulus, "key-1", Algorithm::HS256)).await);
    // HS256 with the published symmetric key.
    let secret = "secret-secret-secret-secret-secret";
    assert_invalid(&call(&gateway, &token(secret, "shared", Algorithm::HS256)).await);
    // RS256 naming the symmetric key's kid finds no key.
    assert_invalid(&call(&gateway, &token(KEY_A_PRIVATE, "shared", Algorithm::RS256)).await);
    assert!(mock.seen().is_empty());
    assert_eq!(call(&gateway, &token_a()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unusable_jwks_settings_are_start_errors() {
    let mock = support::mock("a").await;
    let mut plain = start(
        gateway("http://id.example.com/jwks.json", None, ON_DEMAND),
        &mock,
    )
    .await;
    let error = (&mut plain.task).await.unwrap().unwrap_err().to_string();
    assert!(error.contains("auth scheme `idp`"), "{error}");
    assert!(error.contains("https"), "{error}");

    let mut missing_ca = start(
        gateway(
            "https://127.0.0.1:1/jwks.json",
            Some("/nonexistent/ca.pem"),
            ON_DEMAND,
        ),
        &mock,
    )
    .await;
    let error = (&mut missing_ca.task)
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
}

/// A JWT scheme whose JWKS URL is read from `IDP_JWKS_URL` at start.
static FROM_ENV: Jwks = Jwks {
    url: JwksUrl::Env("IDP_JWKS_URL"),
    ca_file: None,
    refresh: Duration::from_secs(300),
    refetch_interval: Duration::from_secs(10),
};
static RS: Jwt = Jwt {
    algorithms: &["RS256"],
    key: KeySource::Jwks(&FROM_ENV),
    issuer: None,
    audiences: &[],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[],
    strip_authorization: false,
};
static FROM_ENV_SCHEMES: [Scheme; 1] = [Scheme {
    name: "idp",
    kind: SchemeKind::Jwt(&RS),
}];

#[test]
fn a_jwks_url_from_the_environment_is_checked_like_a_literal() {
    static HS: Jwt = Jwt {
        algorithms: &["HS256"],
        ..RS
    };
    static HMAC: [Scheme; 1] = [Scheme {
        name: "shared",
        kind: SchemeKind::Jwt(&HS),
    }];
    use openapi_gateway_runtime::auth::Verifiers;
    let with = |schemes: &'static [Scheme], url: &'static str| {
        Verifiers::load(schemes, move |source| match source {
            KeySource::Env("IDP_JWKS_URL") => Ok(format!(" {url}\n")),
            other => Err(format!("{other} is not set")),
        })
    };
    assert!(with(&FROM_ENV_SCHEMES, "https://id.example.com/jwks.json").is_ok());
    let error = with(&FROM_ENV_SCHEMES, "http://id.example.com/jwks.json").unwrap_err();
    assert!(error.contains("https"), "{error}");
    let error = Verifiers::load(&FROM_ENV_SCHEMES, |source| {
        Err(format!("{source} is not set"))
    })
    .unwrap_err();
    assert!(
        error.contains("environment variable IDP_JWKS_URL"),
        "{error}"
    );
    // A shared secret is never fetched, whatever the compiler let through.
    let error = with(&HMAC, "https://id.example.com/jwks.json").unwrap_err();
    assert!(error.contains("HMAC"), "{error}");
}

#[test]
fn a_jwks_url_from_the_environment_with_credentials_is_refused_and_never_printed() {
    for url in [
        "https://svc:hunter2-secret@id.example.com/jwks.json",
        "https://hunter2-secret@id.example.com/jwks.json",
        "http://svc:hunter2-secret@id.example.com/jwks.json",
        "https://svc:hunter2-secret@id.example.com:99999/jwks.json",
    ] {
        let error =
            openapi_gateway_runtime::auth::Verifiers::load(&FROM_ENV_SCHEMES, move |source| {
                match source {
                    KeySource::Env("IDP_JWKS_URL") => Ok(url.to_owned()),
                    other => Err(format!("{other} is not set")),
                }
            })
            .unwrap_err();
        assert!(error.contains("credentials"), "{url}: {error}");
        assert!(
            !error.contains("hunter2"),
            "{url}: the secret is printed: {error}"
        );
    }
}
