//! The public listener end to end, in-process: a hand-written route table (as generated
//! code spells it), mock upstreams on loopback, and real HTTP on both sides.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use openapi_gateway_runtime::{
    Auth, BodySpec, Forward, Gateway, Method, Problem, Route, UpstreamPath,
};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_to_the_upstream_path_with_the_raw_query_and_base_path() {
    let upstream = mock("a").await;
    let gw = start(
        &GATEWAY,
        &[("users", vec![format!("{}/v1/", upstream.url())])],
        Duration::from_secs(5),
    )
    .await;

    let answer = get(&gw.url("/api/users/7/orders?limit=5&x=a%20b&x=c+d")).await;
    assert_eq!(answer.status, 200);
    let echoed = answer.json();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["uri"], "/v1/users/7/orders?limit=5&x=a%20b&x=c+d");

    let answer = request("DELETE", &gw.url("/api/users/42"), &[], empty()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["method"], "DELETE");
    assert_eq!(answer.json()["uri"], "/v1/users/42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_segments_win_over_parameters_with_backtracking() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    for (public, upstream_uri) in [
        ("/api/users/me", "/users/me"),
        ("/api/users/12", "/users/12"),
        ("/api/files/latest", "/files/latest"),
        ("/api/files/latest/meta", "/files/latest/meta"),
        ("/api/files/report.pdf", "/files/report.pdf"),
        ("/api/files/caf%C3%A9", "/files/caf%C3%A9"),
    ] {
        let answer = get(&gw.url(public)).await;
        assert_eq!(answer.status, 200, "{public}");
        assert_eq!(answer.json()["uri"], upstream_uri, "{public}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_are_problem_json_with_the_request_id() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let body = get(&gw.url("/api/nope")).await.problem(404);
    assert_eq!(body["type"], "urn:gateway:problem:not-found");
    // Trailing slashes are significant.
    get(&gw.url("/api/users/")).await.problem(404);
    get(&gw.url("/api/users/me/")).await.problem(404);

    let answer = request("POST", &gw.url("/api/users/7"), &[], empty()).await;
    answer.problem(405);
    assert_eq!(answer.header("allow"), Some("GET, DELETE"));
    let answer = request("HEAD", &gw.url("/api/users/me"), &[], empty()).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET"));
    let answer = request("PROPFIND", &gw.url("/api/users/me"), &[], empty()).await;
    answer.problem(405);

    let body = get(&gw.url("/api/users/abc")).await.problem(400);
    assert_eq!(body["errors"][0]["in"], "path");
    assert_eq!(body["errors"][0]["name"], "id");
    let body = get(&gw.url("/api/users/7/orders?limit=x&limit=y"))
        .await
        .problem(400);
    assert_eq!(body["errors"][0]["in"], "query");
    assert_eq!(body["errors"][0]["name"], "limit");
    // Invalid UTF-8 once decoded.
    let body = get(&gw.url("/api/files/%FF")).await.problem(400);
    assert_eq!(body["errors"][0]["name"], "name");

    let answer = get(&gw.url("/api/secret")).await;
    answer.problem(401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"test\"")
    );

    // None of them reached the upstream.
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
}

fn token(scope: &str) -> String {
    let claims = serde_json::json!({
        "sub": "user-7",
        "iss": "test-issuer",
        "exp": jsonwebtoken::get_current_timestamp() + 600,
        "scope": scope,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(HS_SECRET.trim().as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tokens_reach_the_upstream_with_their_claims() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let valid = format!("Bearer {}", token("secret:read other"));
    let answer = request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", &valid), ("x-user-id", "admin")],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.echoed_header("x-user-id").unwrap(), "user-7");

    let scopeless = format!("Bearer {}", token("other"));
    let answer = request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", &scopeless)],
        empty(),
    )
    .await;
    answer.problem(403);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"test\", error=\"insufficient_scope\", scope=\"secret:read\"")
    );

    let answer = request(
        "GET",
        &gw.url("/api/secret"),
        &[("authorization", "Bearer e30.e30.e30")],
        empty(),
    )
    .await;
    answer.problem(401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"test\", error=\"invalid_token\"")
    );
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_is_served_by_the_gateway() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let answer = get(&gw.url("/openapi.json")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body, OPENAPI.as_bytes());
    assert!(answer.header("x-request-id").is_some());
    let answer = request("POST", &gw.url("/openapi.json"), &[], empty()).await;
    assert_eq!(answer.header("allow"), Some("GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_propagated_or_created() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let answer = request(
        "GET",
        &gw.url("/api/users/me"),
        &[("x-request-id", "client-id-1")],
        empty(),
    )
    .await;
    assert_eq!(answer.header("x-request-id"), Some("client-id-1"));
    assert_eq!(answer.echoed_header("x-request-id").unwrap(), "client-id-1");

    let answer = get(&gw.url("/api/users/me")).await;
    let created = answer.header("x-request-id").unwrap().to_owned();
    assert!(
        openapi_gateway_runtime::Uuid::try_parse(&created).is_ok(),
        "{created}"
    );
    assert_eq!(answer.echoed_header("x-request-id").unwrap(), created);

    // Not sane (a space, or too long): replaced.
    let long = "x".repeat(201);
    for insane in ["has space", long.as_str()] {
        let answer = request(
            "GET",
            &gw.url("/api/users/me"),
            &[("x-request-id", insane)],
            empty(),
        )
        .await;
        let id = answer.header("x-request-id").unwrap();
        assert!(openapi_gateway_runtime::Uuid::try_parse(id).is_ok(), "{id}");
        assert_eq!(answer.echoed_header("x-request-id").unwrap(), id);
    }

    // Problems carry the client's id too, in the header and the body.
    let answer = request(
        "GET",
        &gw.url("/api/nope"),
        &[("x-request-id", "client-id-2")],
        empty(),
    )
    .await;
    assert_eq!(answer.problem(404)["request_id"], "client-id-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_stripped_and_forwarding_headers_set() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let answer = request(
        "GET",
        &gw.url("/api/users/me"),
        &[
            ("connection", "keep-alive, X-Private"),
            ("x-private", "secret"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic eDp5"),
            ("x-kept", "yes"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-host", "spoofed.example"),
        ],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
    for stripped in [
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert_eq!(answer.echoed_header(stripped), None, "{stripped}");
    }
    assert_eq!(answer.echoed_header("x-kept").unwrap(), "yes");
    assert_eq!(
        answer.echoed_header("x-forwarded-for").unwrap(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(answer.echoed_header("x-forwarded-proto").unwrap(), "http");
    assert_eq!(
        answer.echoed_header("x-forwarded-host").unwrap(),
        gw.addr.to_string()
    );
    assert_eq!(
        answer.echoed_header("host").unwrap(),
        upstream.addr.to_string()
    );

    // Without an earlier list, the client's address starts one.
    let answer = get(&gw.url("/api/users/me")).await;
    assert_eq!(
        answer.echoed_header("x-forwarded-for").unwrap(),
        "127.0.0.1"
    );

    // And on the way back.
    let answer = get(&gw.url("/api/hop")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-upstream-public"), Some("1"));
    assert_eq!(answer.header("x-upstream-private"), None);
    assert_eq!(answer.header("proxy-authenticate"), None);
    assert_ne!(answer.header("connection"), Some("x-upstream-private"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_chosen_round_robin() {
    let a = mock("a").await;
    let b = mock("b").await;
    let gw = start(
        &GATEWAY,
        &[("users", vec![a.url(), b.url()])],
        Duration::from_secs(5),
    )
    .await;
    let mut instances = Vec::new();
    for _ in 0..6 {
        let answer = get(&gw.url("/api/users/me")).await;
        instances.push(answer.json()["instance"].as_str().unwrap().to_owned());
    }
    assert_eq!(instances, ["a", "b", "a", "b", "a", "b"]);
    assert_eq!(a.seen().len(), 3);
    assert_eq!(b.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_502() {
    let upstream = mock("a").await;
    let gw = start(
        &GATEWAY,
        &[
            ("users", vec![upstream.url()]),
            ("down", vec![closed_port_url()]),
        ],
        Duration::from_secs(5),
    )
    .await;
    let body = get(&gw.url("/api/down")).await.problem(502);
    assert_eq!(body["type"], "urn:gateway:problem:bad-gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_after_the_request_timeout() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let started = Instant::now();
    let body = get(&gw.url("/api/slow-timeout")).await.problem(504);
    let elapsed = started.elapsed();
    assert_eq!(body["type"], "urn:gateway:problem:gateway-timeout");
    // The service's timeout is 300 ms; the upstream would answer (200) after 600 ms.
    assert!(elapsed >= Duration::from_millis(280), "{elapsed:?}");
}

/// Attack: a client that announces a body and never sends it held the upstream request
/// open until its timeout, which was counted against the instance: five such requests,
/// from anyone, ejected a healthy instance. The client is the one that stalled: 408, and
/// nothing is counted on the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_its_own_body_is_408_and_never_counts_against_the_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    for _ in 0..6 {
        let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(b"GET /api/slow-timeout HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\n")
            .await
            .unwrap();
        let mut head = vec![0; 512];
        let n = stream.read(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head[..n]);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    }
    let exposition = metrics(&gw).await;
    assert!(
        !exposition
            .lines()
            .any(|line| line.starts_with("gateway_upstream_attempts_total")
                && line.contains("outcome=\"timeout\"")
                && !line.ends_with(" 0")),
        "{exposition}"
    );
    // The instance still takes requests.
    assert_eq!(get(&gw.url("/api/slow-timeout")).await.status, 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_body_over_the_limit_is_413_before_forwarding() {
    let upstream = mock("a").await;
    let gw = start(
        &LIMITED,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;
    let answer = request(
        "POST",
        &gw.url("/api/upload"),
        &[("content-type", "application/octet-stream")],
        full(vec![b'x'; 2000]),
    )
    .await;
    let body = answer.problem(413);
    assert_eq!(body["type"], "urn:gateway:problem:payload-too-large");
    assert!(upstream.seen().is_empty());

    // At the limit, it goes through.
    let answer = request("POST", &gw.url("/api/upload"), &[], full(vec![b'x'; 1000])).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["len"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_the_limit_is_413_while_streaming() {
    let upstream = mock("a").await;
    let gw = start(
        &LIMITED,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;

    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        for _ in 0..3 {
            if tx.send(Bytes::from(vec![b'x'; 600])).await.is_err() {
                break;
            }
        }
    });
    request("POST", &gw.url("/api/upload"), &[], body)
        .await
        .problem(413);

    // Under the limit, chunked goes through.
    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        for _ in 0..3 {
            let _ = tx.send(Bytes::from(vec![b'x'; 300])).await;
        }
    });
    let answer = request("POST", &gw.url("/api/upload"), &[], body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["len"], 900);
}

/// Accepts any JSON: the route below reads its body whole to validate it.
fn any_json(
    _value: openapi_gateway_runtime::json::Value<'_>,
    _pointer: &mut openapi_gateway_runtime::json::Pointer<'_>,
    _errors: &mut openapi_gateway_runtime::json::BodyErrors,
) {
}

fn validated_path(_req: &openapi_gateway_runtime::params::Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/upload").forward())
}

/// `POST /api/validated`: a JSON body the gateway validates whole before forwarding.
static VALIDATED_ROUTES: [Route; 1] = [Route {
    method: Method::Post,
    path: "/api/validated",
    upstream_path: "/upload",
    service: USERS,
    operation_id: "validated",
    auth: Auth::Public,
    body: BodySpec::Declared {
        required: true,
        media_types: &["application/json"],
        validators: &[("application/json", any_json)],
        forms: &[],
    },
    rate_limits: &[],
    handler: validated_path,
    responses: None,
    path_types: &[],
}];

/// The validated route behind the 1000-byte limit of `LIMITED`.
static VALIDATED: Gateway = Gateway {
    routes: &VALIDATED_ROUTES,
    ..LIMITED
};

/// Whether a client error is the gateway closing or resetting the connection (as it may
/// when it refuses a body it is still being sent), rather than anything else.
fn connection_closed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
        {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = error.source();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_the_limit_of_a_validated_route_never_reaches_the_upstream() {
    let upstream = mock("a").await;
    let gw = start(
        &VALIDATED,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;

    // 64 KB of JSON whitespace against a 1000-byte limit, chunked: the answer is a 413,
    // or the connection closes before the client has sent everything.
    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        for _ in 0..100 {
            if tx.send(Bytes::from(vec![b' '; 640])).await.is_err() {
                break;
            }
        }
    });
    let over = http::Request::post(gw.url("/api/validated"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    match client().request(over).await {
        Ok(response) => {
            let body = collect(response).await.problem(413);
            assert_eq!(body["type"], "urn:gateway:problem:payload-too-large");
        }
        Err(error) => assert!(
            connection_closed(&error),
            "neither a 413 nor a closed connection: {error:?}"
        ),
    }
    // The mock records a request as soon as its head arrives: not one byte went upstream.
    assert_eq!(upstream.seen(), Vec::<String>::new());

    // Under the limit, the same route forwards the body.
    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        for chunk in [&b"{\"a\": "[..], b"1", b"}"] {
            let _ = tx.send(Bytes::from_static(chunk)).await;
        }
    });
    let answer = request(
        "POST",
        &gw.url("/api/validated"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["len"], 8);
    assert_eq!(upstream.seen(), ["/upload"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_stream_both_ways_without_buffering() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 160; // 10 MiB
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let chunk = |i: usize| Bytes::from(vec![(i % 251) as u8; CHUNK]);
    let (tx, body) = channel_body(2);
    let request = http::Request::post(gw.url("/api/echo")).body(body).unwrap();
    let pending = tokio::spawn(client().request(request));

    // The first chunk comes back before the rest is even sent: nothing waits for the
    // whole body, on either side of the gateway.
    tx.send(chunk(0)).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("response head before the body is complete")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = Vec::with_capacity(CHUNK);
    while received.len() < CHUNK {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("first chunk echoed before the rest is sent")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            received.extend_from_slice(&data);
        }
    }

    let sender = tokio::spawn(async move {
        for i in 1..CHUNKS {
            tx.send(chunk(i)).await.unwrap();
        }
    });
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received.extend_from_slice(&data);
        }
    }
    sender.await.unwrap();
    assert_eq!(received.len(), CHUNK * CHUNKS);
    for (i, piece) in received.chunks(CHUNK).enumerate() {
        assert!(piece.iter().all(|b| *b == (i % 251) as u8), "chunk {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_traversal_never_leaves_the_route() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    // A string parameter carries the encoded slash as data, re-encoded upstream.
    let answer = get(&gw.url("/api/files/..%2Fadmin")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/files/..%2Fadmin");
    let answer = get(&gw.url("/api/files/..%2F..%2Fadmin%3Fx=1/meta")).await;
    assert_eq!(answer.json()["uri"], "/files/..%2F..%2Fadmin%3Fx%3D1/meta");

    // An integer parameter refuses it; a decoded dot segment is refused whatever the type.
    get(&gw.url("/api/users/..%2Fadmin")).await.problem(400);
    get(&gw.url("/api/files/%2E%2E")).await.problem(400);
    get(&gw.url("/api/files/%2e")).await.problem(400);
    // Raw dot segments are not normalized into another route.
    get(&gw.url("/api/files/../users/me")).await.problem(404);

    let seen = upstream.seen();
    assert!(
        seen.iter().all(|uri| uri.starts_with("/files/")),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|uri| uri.contains("/admin")), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let upstream = mock("a").await;
    let mut gw = start_with(&upstream).await;
    let url = gw.url("/api/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    gw.stop();

    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/slow");
    let result = tokio::time::timeout(Duration::from_secs(5), &mut gw.task)
        .await
        .expect("serve returns once drained")
        .unwrap();
    assert!(result.is_ok());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Both listeners are closed.
    assert!(tokio::net::TcpStream::connect(gw.addr).await.is_err());
    assert!(tokio::net::TcpStream::connect(gw.admin).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_is_bounded_by_the_shutdown_timeout() {
    let upstream = mock("a").await;
    let mut gw = start(
        &GATEWAY,
        &[("users", vec![upstream.url()])],
        Duration::from_millis(100),
    )
    .await;
    let url = gw.url("/api/slow");
    let slow = http::Request::get(url).body(empty()).unwrap();
    let in_flight = tokio::spawn(client().request(slow));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    gw.stop();
    let result = tokio::time::timeout(Duration::from_secs(5), &mut gw.task)
        .await
        .expect("serve returns after the shutdown timeout")
        .unwrap();
    assert!(result.is_ok());
    assert!(started.elapsed() < Duration::from_secs(3));
    // The upstream still had ~450 ms to go when the 100 ms bound cut the connection.
    assert!(in_flight.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_reports_health_readiness_and_metrics() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;

    let answer = get(&gw.admin_url("/healthz")).await;
    assert_eq!(answer.status, 200);
    let answer = get(&gw.admin_url("/readyz")).await;
    assert_eq!(answer.status, 200);

    assert_eq!(get(&gw.url("/api/users/5")).await.status, 200);
    assert_eq!(get(&gw.url("/api/users/6")).await.status, 200);
    assert_eq!(get(&gw.url("/api/users/x")).await.status, 400);
    assert_eq!(get(&gw.url("/api/nope")).await.status, 404);
    let answer = get(&gw.admin_url("/metrics")).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    for line in [
        "gateway_up 1",
        r#"gateway_requests_total{route="/api/users/{id}",method="GET",status_class="2xx"} 2"#,
        r#"gateway_requests_total{route="/api/users/{id}",method="GET",status_class="4xx"} 1"#,
        r#"gateway_requests_total{status_class="4xx"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    // Labels are templates, never raw paths.
    assert!(!text.contains("/api/users/5"), "{text}");
    // The public listener does not serve admin paths.
    get(&gw.url("/metrics")).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_a_service_has_no_instance() {
    let upstream = mock("a").await;
    let gw = start(
        &GATEWAY,
        &[("users", vec![upstream.url()]), ("down", vec![])],
        Duration::from_secs(5),
    )
    .await;
    let answer = get(&gw.admin_url("/readyz")).await;
    assert_eq!(answer.status, 503);
    assert!(String::from_utf8_lossy(&answer.body).contains("down"));
    let body = get(&gw.url("/api/down")).await.problem(503);
    assert_eq!(body["type"], "urn:gateway:problem:service-unavailable");
    assert_eq!(get(&gw.admin_url("/healthz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused_at_start() {
    for upstreams in [
        vec![("users", vec!["https://127.0.0.1:9001".to_owned()])],
        vec![("users", vec!["127.0.0.1:9001".to_owned()])],
        vec![("nobody", vec!["http://127.0.0.1:9001".to_owned()])],
    ] {
        let mut gw = start(&GATEWAY, &upstreams, Duration::from_secs(5)).await;
        let result = tokio::time::timeout(Duration::from_secs(5), &mut gw.task)
            .await
            .expect("serve returns at once")
            .unwrap();
        assert!(result.is_err(), "{upstreams:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_are_proxied_over_http1() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<TestBody>();
    let request = http::Request::get(gw.url("/api/users/me?x=1"))
        .header("x-request-id", "h2-id")
        .body(empty())
        .unwrap();
    let response = h2.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let answer = collect(response).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/users/me?x=1");
    assert_eq!(answer.header("x-request-id"), Some("h2-id"));
    // HTTP/2 has `:authority` instead of `Host`; it still becomes `X-Forwarded-Host`.
    assert_eq!(
        answer.echoed_header("x-forwarded-host").unwrap(),
        gw.addr.to_string()
    );
    assert_eq!(
        answer.echoed_header("host").unwrap(),
        upstream.addr.to_string()
    );

    let answer = collect(
        h2.request(
            http::Request::get(gw.url("/api/nope"))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap(),
    )
    .await;
    answer.problem(404);
}

/// A header the client names in `Connection` never reaches the upstream, so it is removed
/// before the handler checks the request: a required one is then missing.
#[tokio::test]
async fn headers_named_in_connection_are_gone_before_validation() {
    let upstream = mock("a").await;
    let gateway = start_with(&upstream).await;
    let answer = request(
        "GET",
        &gateway.url("/api/tenant"),
        &[("x-tenant", "acme"), ("connection", "x-tenant")],
        empty(),
    )
    .await;
    let problem = answer.problem(400);
    assert_eq!(problem["errors"][0]["name"], "x-tenant");
    assert!(upstream.seen().is_empty());
    let answer = request(
        "GET",
        &gateway.url("/api/tenant"),
        &[("x-tenant", "acme")],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
}
