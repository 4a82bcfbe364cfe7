//! End to end: the committed example gateway (examples/ecommerce/generated), built once,
//! run as a process in front of mock upstreams (axum servers in this test, on loopback),
//! driven over HTTP.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures_util::StreamExt;
use gateway_tests::{
    cargo, example_key_material, free_port, generated_target_dir, read_key, workspace,
};

mod monitoring;

/// What a mock upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, exactly as received.
    uri: String,
    headers: axum::http::HeaderMap,
    body_len: usize,
    /// The body's bytes, when it was at most 64 KiB.
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Mock {
    name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The path and query of every request whose head arrived, recorded before its body is
    /// read: a request the gateway started forwarding and then cut off is here too.
    arrived: Arc<Mutex<Vec<String>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers every request with JSON naming the mock; `x-mock-delay-ms` delays the answer,
/// `x-mock-size` asks for a body of that many bytes.
async fn mock_handler(State(mock): State<Mock>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    mock.arrived.lock().unwrap().push(parts.uri.to_string());
    let mut stream = body.into_data_stream();
    let mut body_len = 0;
    let mut kept = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                body_len += chunk.len();
                if kept.len() + chunk.len() <= 64 * 1024 {
                    kept.extend_from_slice(&chunk);
                }
            }
            Err(_) => break,
        }
    }
    let body = if body_len <= 64 * 1024 {
        kept
    } else {
        Vec::new()
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    mock.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body_len,
        body,
    });
    if let Some(delay) = header("x-mock-delay-ms") {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let body = match header("x-mock-size") {
        Some(size) => {
            // Streamed in 64 KiB chunks, so the gateway has to stream it on.
            let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
            let count = size as usize / chunk.len();
            let rest = bytes::Bytes::from(vec![b'x'; size as usize % chunk.len()]);
            let chunks = std::iter::repeat_n(chunk, count)
                .chain(std::iter::once(rest))
                .map(Ok::<_, std::io::Error>);
            Body::from_stream(futures_util::stream::iter(chunks))
        }
        None => Body::from(format!(
            "{{\"mock\":\"{}\",\"method\":\"{}\",\"uri\":\"{}\"}}",
            mock.name, parts.method, parts.uri
        )),
    };
    Response::builder()
        .header("content-type", "application/json")
        .header("connection", "keep-alive, x-upstream-secret")
        .header("x-upstream-secret", "hop-by-hop, must not reach the client")
        .body(body)
        .unwrap()
}

/// Starts a mock upstream on its own thread and runtime (it outlives any one test).
fn start_mock(name: &'static str) -> (Mock, SocketAddr) {
    let mock = Mock {
        name,
        seen: Arc::default(),
        arrived: Arc::default(),
    };
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = mock.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(mock_handler).with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (mock, addr)
}

/// Builds the committed example gateway once per test run.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let manifest = workspace().join("examples/ecommerce/generated/Cargo.toml");
        let output = cargo("build", &manifest, &["--quiet"]);
        assert!(
            output.status.success(),
            "building the example gateway failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        generated_target_dir().join("debug/shop-gateway")
    })
}

struct Gateway {
    child: Child,
    base: String,
    admin: String,
}

impl Gateway {
    /// Starts the example gateway with each service's upstreams.
    fn start(users: &str, orders: &str, payments: &str) -> Gateway {
        Gateway::example(users, orders, payments, "warn", Stdio::null())
    }

    /// The example gateway with each service's upstreams, its log filter and stdout.
    fn example(users: &str, orders: &str, payments: &str, log: &str, stdout: Stdio) -> Gateway {
        Gateway::spawn(
            binary(),
            &[
                ("GATEWAY_UPSTREAM_USERS", users.to_owned()),
                ("GATEWAY_UPSTREAM_ORDERS", orders.to_owned()),
                ("GATEWAY_UPSTREAM_PAYMENTS", payments.to_owned()),
                ("GATEWAY_LOG", log.to_owned()),
            ]
            .into_iter()
            .chain(example_key_material())
            .collect::<Vec<_>>(),
            stdout,
        )
    }

    /// Starts a gateway binary on free loopback ports with `env`, and waits until both
    /// listeners accept.
    fn spawn(binary: &Path, env: &[(&str, String)], stdout: Stdio) -> Gateway {
        let (port, admin_port) = (free_port(), free_port());
        let child = Command::new(binary)
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEWAY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the gateway starts");
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        };
        gateway.wait_ready();
        gateway
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok()
                && std::net::TcpStream::connect(self.admin.trim_start_matches("http://")).is_ok();
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway did not start listening");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token of the example's identity provider, signed with the test key.
fn token(sub: &str, scope: &str) -> String {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": sub,
        "iss": "https://id.example.com",
        "aud": "shop",
        "exp": now + 600,
        "scope": scope,
    });
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(read_key("rsa_private.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

struct World {
    gateway: Gateway,
    users: Mock,
    orders: Mock,
    payments: [Mock; 2],
}

/// A gateway and its mocks, one per test: tests count what the mocks saw, and a gateway
/// process must end with its test (a static one would outlive the test binary and keep
/// its output pipe open).
fn world() -> World {
    world_logging("warn", Stdio::null())
}

/// A world whose gateway logs with the filter `log` to `stdout`.
fn world_logging(log: &str, stdout: Stdio) -> World {
    let (users, u) = start_mock("users");
    let (orders, o) = start_mock("orders");
    let (payments_a, pa) = start_mock("payments-a");
    let (payments_b, pb) = start_mock("payments-b");
    let gateway = Gateway::example(
        &format!("http://{u}"),
        &format!("http://{o}"),
        &format!("http://{pa},http://{pb}"),
        log,
        stdout,
    );
    World {
        gateway,
        users,
        orders,
        payments: [payments_a, payments_b],
    }
}

/// Sends one request as raw bytes and returns the status code: for paths a URL library
/// would normalize (`%2e%2e`) and bodies a client would not send.
async fn raw(base: &str, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0; 1024];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A sign-up body that matches the users spec's `NewUser`.
const ADA: &str = r#"{"email":"ada@example.com","name":"Ada","password":"correct-horse-battery"}"#;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn problem(
    response: reqwest::Response,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json",
        "status {status}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:gateway:problem:")
    );
    assert_eq!(
        body["request_id"].as_str().unwrap(),
        headers.get("x-request-id").unwrap().to_str().unwrap()
    );
    (status, headers, body)
}

/// Requests whose marker no mock has seen, not even the head of: proof that nothing went
/// upstream.
fn nobody_saw(world: &World, marker: &str) -> bool {
    [
        &world.users,
        &world.orders,
        &world.payments[0],
        &world.payments[1],
    ]
    .iter()
    .all(|m| {
        m.arrived
            .lock()
            .unwrap()
            .iter()
            .all(|uri| !uri.contains(marker))
            && m.seen().iter().all(|s| !s.uri.contains(marker))
    })
}

/// Whether a client error is the gateway closing or resetting the connection (as it may
/// when it refuses a body it is still being sent), rather than anything else.
fn connection_closed(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
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

/// These tests run the committed example: it must be what the compiler generates today.
#[test]
fn the_committed_example_is_up_to_date() {
    gateway_tests::assert_example_up_to_date();
}

#[tokio::test]
async fn routes_reach_the_right_upstream_with_path_and_query() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!(
            "{base}/api/products?category=books&limit=5&tag=a&tag=b&marker=route1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["mock"], "orders");
    assert_eq!(
        body["uri"],
        "/products?category=books&limit=5&tag=a&tag=b&marker=route1"
    );

    let response = client()
        .get(format!("{base}/api/products/BOK-0042?marker=route2"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["uri"], "/products/BOK-0042?marker=route2");

    let response = client()
        .post(format!("{base}/api/users?marker=route3"))
        .header("content-type", "application/json")
        .body(ADA)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["mock"], "users");
    assert_eq!(body["uri"], "/users?marker=route3");
    let seen = world.users.seen();
    let seen = seen.iter().find(|s| s.uri.contains("route3")).unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body_len, ADA.len());
    // Forwarding headers are set for the upstream.
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert!(
        seen.headers["x-forwarded-host"]
            .to_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test]
async fn payments_instances_share_the_load_round_robin() {
    let world = &world();
    for i in 0..10 {
        let response = client()
            .get(format!(
                "{}/api/payment-methods?country=DE&marker=rr{i}",
                world.gateway.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let count = |m: &Mock| {
        m.seen()
            .iter()
            .filter(|s| s.uri.contains("marker=rr"))
            .count()
    };
    assert_eq!(count(&world.payments[0]), 5);
    assert_eq!(count(&world.payments[1]), 5);
}

#[tokio::test]
async fn invalid_parameters_are_400_and_never_forwarded() {
    let world = &world();
    let response = client()
        .get(format!(
            "{}/api/products?limit=many&in_stock=True&marker=bad1",
            world.gateway.base
        ))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    let names: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"limit"), "{body}");
    assert!(names.contains(&"in_stock"), "{body}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["in"] == "query")
    );
    assert!(nobody_saw(world, "bad1"));

    // Well-typed values that break their schema's constraints: bounds, pattern, length,
    // item counts, each named with its message.
    let response = client()
        .get(format!(
            "{}/api/products?limit=0&tag=Bad_Tag&q=x&max_price=0&marker=bad3",
            world.gateway.base
        ))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    let messages: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let message = |name: &str| {
        messages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no error for {name}: {body}"))
    };
    assert!(
        message("limit").starts_with("must be >= 1 and <= 100"),
        "{body}"
    );
    assert!(message("tag").contains("must match the pattern"), "{body}");
    assert!(message("q").contains("characters long"), "{body}");
    assert!(message("max_price").starts_with("must be > 0"), "{body}");
    assert!(nobody_saw(world, "bad3"));

    // A path parameter of the wrong type.
    let response = client()
        .get(format!(
            "{}/api/products/BOK-0001/reviews/not-a-number?marker=bad2",
            world.gateway.base
        ))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["in"], "path");
    assert_eq!(body["errors"][0]["name"], "reviewId");
    assert!(nobody_saw(world, "bad2"));
}

/// Parameter styles and edge cases through the generated parsers: a `deepObject` typed and
/// checked against its schema (pointers inside the object), a cookie, empty and repeated
/// values, integers beyond i64, `True`.
#[tokio::test]
async fn object_cookie_and_edge_case_parameters() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!(
            "{base}/api/products?price[min]=5&price%5Bmax%5D=20.5&q=caf%C3%A9+au+lait&marker=ok1"
        ))
        .header("cookie", "theme=dark; currency=EUR")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.orders.seen();
    let forwarded = seen.iter().find(|s| s.uri.contains("ok1")).unwrap();
    // The query goes upstream as the client wrote it.
    assert!(
        forwarded
            .uri
            .contains("price[min]=5&price%5Bmax%5D=20.5&q=caf%C3%A9+au+lait"),
        "{}",
        forwarded.uri
    );

    let response = client()
        .get(format!(
            "{base}/api/products?price[min]=-1&price[max]=cheap&price[currency]=EUR&limit=99999999999999999999&in_stock=True&q=&category=a&category=b&marker=bad4"
        ))
        .header("cookie", "currency=JPY")
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    let errors: Vec<(String, String, String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (text("in"), text("name"), text("pointer"), text("message"))
        })
        .collect();
    let find = |name: &str, pointer: &str| {
        errors
            .iter()
            .find(|e| e.1 == name && e.2 == pointer)
            .map(|e| (e.0.clone(), e.3.clone()))
            .unwrap_or_else(|| panic!("no error for {name} {pointer}: {body}"))
    };
    assert_eq!(
        find("price", "/min"),
        ("query".into(), "must be >= 0".into())
    );
    assert_eq!(
        find("price", "/max"),
        ("query".into(), "must be a number".into())
    );
    assert_eq!(find("price", "/currency").0, "query");
    assert!(
        find("limit", "").1.starts_with("expected an integer"),
        "{body}"
    );
    assert!(
        find("in_stock", "").1.contains("`true` or `false`"),
        "{body}"
    );
    assert_eq!(find("q", "").1, "must not be empty");
    assert_eq!(find("category", "").1, "must appear at most once");
    let currency = find("currency", "");
    assert_eq!(currency.0, "cookie");
    assert!(currency.1.contains("`EUR`"), "{body}");
    assert!(nobody_saw(world, "bad4"));
}

/// The orders service validates responses (`validate_responses: true`): the mock's answer
/// lacks the `items` the spec requires, so it is counted per operation, and still reaches
/// the client byte for byte. A valid request's parameters are unaffected.
#[tokio::test]
async fn responses_that_break_the_spec_are_counted_and_returned_unchanged() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!("{base}/api/products?marker=resp1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(
        body,
        r#"{"mock":"orders","method":"GET","uri":"/products?marker=resp1"}"#.as_bytes()
    );
    // A service that does not validate responses (payments) counts nothing.
    let response = client()
        .get(format!("{base}/api/payment-methods?country=DE"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let metrics = client()
        .get(format!("{}/metrics", world.gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "gateway_response_validation_failures_total{service=\"orders\",operation=\"listProducts\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("service=\"payments\",operation"),
        "{metrics}"
    );
}

/// A sign-up posted as an HTML form: typed by the schema (`marketing_opt_in=true` is a
/// boolean), checked like the JSON body (pointers into the form), forwarded as sent.
#[tokio::test]
async fn urlencoded_forms_are_checked_against_their_schema() {
    let world = &world();
    let base = &world.gateway.base;
    let form = "email=ada%40example.com&name=Ada+Lovelace&password=correct-horse-battery&marketing_opt_in=true";
    let response = client()
        .post(format!("{base}/api/users?marker=form1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.users.seen();
    let forwarded = seen.iter().find(|s| s.uri.contains("form1")).unwrap();
    assert_eq!(forwarded.body, form.as_bytes());

    let response = client()
        .post(format!("{base}/api/users?marker=form2"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body("email=ada%40example.com&name=&password=short&marketing_opt_in=yes&admin=1")
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    let pointers: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["in"], "body");
            (
                e["pointer"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    for pointer in ["/name", "/password", "/marketing_opt_in", "/admin"] {
        assert!(
            pointers.iter().any(|(p, _)| *p == pointer),
            "{pointer}: {body}"
        );
    }
    assert!(
        pointers.contains(&("/marketing_opt_in", "must be a boolean")),
        "{body}"
    );
    assert!(nobody_saw(world, "form2"));
}

#[tokio::test]
async fn secured_operations_answer_401_without_valid_credentials() {
    let world = &world();
    for authorization in [None, Some("Bearer anything"), Some("Basic dTpw")] {
        let mut request = client().get(format!("{}/api/orders?marker=auth1", world.gateway.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let (status, headers, _) = problem(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{authorization:?}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        // A bad token is told so (RFC 6750); no token gets the plain challenge.
        assert_eq!(
            challenge.contains("error=\"invalid_token\""),
            authorization == Some("Bearer anything"),
            "{challenge}"
        );
    }
    assert!(nobody_saw(world, "auth1"));
}

#[tokio::test]
async fn valid_tokens_reach_secured_routes_with_the_verified_user() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!("{base}/api/orders?marker=auth2"))
        .bearer_auth(token("user-42", ""))
        .header("x-user-id", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.orders.seen();
    let seen = seen.iter().find(|s| s.uri.contains("auth2")).unwrap();
    let users: Vec<_> = seen.headers.get_all("x-user-id").iter().collect();
    assert_eq!(users, ["user-42"], "the client's x-user-id is replaced");

    // A token with a tampered signature is refused. The changed character is inside the
    // signature (not its last one, whose low bits are padding) and always changes.
    let mut forged: Vec<char> = token("user-42", "").chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let response = client()
        .get(format!("{base}/api/orders?marker=auth3"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, 401);
    assert!(nobody_saw(world, "auth3"));
}

/// `x-user-id` is set from a verified token's `sub` (`forward_claims`); the services behind
/// trust it. On no route, whatever its auth, may a client set it, in either spelling a
/// CGI-style upstream reads as the same variable (`HTTP_X_USER_ID`).
#[tokio::test]
async fn claim_headers_never_come_from_the_client_on_any_route() {
    let world = &world();
    let base = &world.gateway.base;
    let spoof = |request: reqwest::RequestBuilder| {
        request
            .header("x-user-id", "victim")
            .header("x_user_id", "victim")
            .header("X_User-Id", "victim")
    };
    let capture = "3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11";
    let requests = [
        // Public.
        (
            "claims-public",
            spoof(client().post(format!("{base}/api/users?marker=claims-public")))
                .header("content-type", "application/json")
                .body(ADA),
        ),
        (
            "claims-public-get",
            spoof(client().get(format!(
                "{base}/api/payment-methods?country=DE&marker=claims-public-get"
            ))),
        ),
        // An API key, on a service whose other routes take tokens.
        (
            "claims-key",
            spoof(client().post(format!(
                "{base}/api/payments/{capture}/capture?marker=claims-key"
            )))
            .header("x-api-key", "e2e-plain-key"),
        ),
        // A token or a key: granted by the key.
        (
            "claims-either",
            spoof(client().get(format!(
                "{base}/api/payments/{capture}?marker=claims-either"
            )))
            .header("x-api-key", "e2e-plain-key"),
        ),
        // A token: only the verified subject arrives.
        (
            "claims-token",
            spoof(client().get(format!("{base}/api/orders?marker=claims-token")))
                .bearer_auth(token("user-42", "")),
        ),
    ];
    for (marker, request) in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{marker}");
        let seen: Vec<Seen> = [
            &world.users,
            &world.orders,
            &world.payments[0],
            &world.payments[1],
        ]
        .iter()
        .flat_map(|mock| mock.seen())
        .filter(|seen| seen.uri.contains(&format!("marker={marker}")))
        .collect();
        assert_eq!(seen.len(), 1, "{marker}");
        let expected: &[&str] = if marker == "claims-token" {
            &["user-42"]
        } else {
            &[]
        };
        let users: Vec<_> = seen[0].headers.get_all("x-user-id").iter().collect();
        assert_eq!(users, expected, "{marker}: x-user-id");
        let spelled: Vec<_> = seen[0]
            .headers
            .keys()
            .filter(|name| name.as_str().replace('_', "-") == "x-user-id")
            .map(|name| name.as_str())
            .collect();
        let expected: &[&str] = if marker == "claims-token" {
            &["x-user-id"]
        } else {
            &[]
        };
        assert_eq!(spelled, expected, "{marker}: another spelling of x-user-id");
    }
}

/// Claims of the example's identity provider, `exp` and `nbf` relative to now.
fn idp_claims(exp: i64, nbf: i64) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    serde_json::json!({
        "sub": "mallory",
        "iss": "https://id.example.com",
        "aud": "shop",
        "exp": now + exp,
        "nbf": now + nbf,
    })
}

fn signed(header: jsonwebtoken::Header, claims: &serde_json::Value) -> String {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(read_key("rsa_private.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWT attack suite, end to end through the generated example gateway: every token is
/// answered 401 with RFC 6750's `invalid_token` (or `invalid_request`), and none reaches
/// the upstream.
#[tokio::test]
async fn jwt_attacks_are_refused_before_the_upstream() {
    use jsonwebtoken::{Algorithm, Header};
    let world = &world();
    let base = &world.gateway.base;
    let rs256 = || Header::new(Algorithm::RS256);
    let good = idp_claims(600, -10);
    let valid = signed(rs256(), &good);
    let parts: Vec<&str> = valid.split('.').collect();

    // alg none: the payload unsigned.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    // Algorithm confusion: HS256 keyed with the RSA public key the gateway trusts.
    let confused = {
        let key = jsonwebtoken::EncodingKey::from_secret(read_key("rsa_public.pem").as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good, &key).unwrap()
    };
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = "https://evil.example.com".into();
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = "another-api".into();
    let mut admin = good.clone();
    admin["sub"] = "admin".into();
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(admin.to_string().as_bytes()),
        parts[2]
    );
    let tampered_signature = {
        let mut signature: Vec<char> = parts[2].chars().collect();
        signature[5] = if signature[5] == 'A' { 'B' } else { 'A' };
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            signature.into_iter().collect::<String>()
        )
    };
    let oversized = signed(
        rs256(),
        &serde_json::json!({"pad": "x".repeat(9000), "exp": good["exp"], "iss": good["iss"], "aud": good["aud"]}),
    );

    // Unknown `kid`s need a key set with ids: the example's single PEM key has none
    // (runtime/tests/auth.rs and jwks.rs cover them).
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg-none", none, "invalid_token"),
        ("alg-confusion", confused, "invalid_token"),
        (
            "expired",
            signed(rs256(), &idp_claims(-120, -600)),
            "invalid_token",
        ),
        (
            "not-yet-valid",
            signed(rs256(), &idp_claims(600, 300)),
            "invalid_token",
        ),
        ("wrong-iss", signed(rs256(), &wrong_iss), "invalid_token"),
        ("wrong-aud", signed(rs256(), &wrong_aud), "invalid_token"),
        ("tampered-payload", tampered_payload, "invalid_token"),
        ("tampered-signature", tampered_signature, "invalid_token"),
        ("oversized", oversized, "invalid_token"),
        (
            "malformed",
            "not.base64!.at-all".to_owned(),
            "invalid_token",
        ),
        // An extension the gateway does not understand, marked critical (RFC 7515 4.1.11).
        (
            "crit",
            signed(
                Header {
                    crit: Some(vec!["exp".to_owned()]),
                    ..rs256()
                },
                &good,
            ),
            "invalid_token",
        ),
        // The provider's ID token or logout token is not an access token (RFC 8725 3.11).
        (
            "typ-logout",
            signed(
                Header {
                    typ: Some("logout+jwt".to_owned()),
                    ..rs256()
                },
                &good,
            ),
            "invalid_token",
        ),
    ];
    for (marker, token, error) in cases {
        let response = client()
            .get(format!("{base}/api/orders?marker=attack-{marker}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{marker}");
        let (_, headers, _) = problem(response).await;
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{marker}: {challenge}"
        );
        assert!(nobody_saw(world, &format!("attack-{marker}")), "{marker}");
    }

    // Two Authorization headers, one of them valid: refused, not guessed.
    let response = client()
        .get(format!("{base}/api/orders?marker=attack-duplicated"))
        .header("authorization", format!("Bearer {valid}"))
        .header("authorization", "Bearer another")
        .send()
        .await
        .unwrap();
    let (status, headers, _) = problem(response).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
    assert!(nobody_saw(world, "attack-duplicated"));

    // The untouched token passes, so the refusals above are about what was changed.
    let response = client()
        .get(format!("{base}/api/orders?marker=attack-control"))
        .bearer_auth(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn missing_scopes_are_403() {
    let world = &world();
    let base = &world.gateway.base;
    // GET /api/users needs oauth with `users:admin`.
    let response = client()
        .get(format!("{base}/api/users?marker=auth4"))
        .bearer_auth(token("user-42", "orders:write"))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = problem(response).await;
    assert_eq!(status, 403);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"shop-gateway\", error=\"insufficient_scope\", scope=\"users:admin\""
    );
    assert_eq!(body["type"], "urn:gateway:problem:insufficient-scope");
    assert!(nobody_saw(world, "auth4"));
    let response = client()
        .get(format!("{base}/api/users?marker=auth5"))
        .bearer_auth(token("admin-1", "users:admin orders:write"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn parameter_formats_are_checked() {
    let world = &world();
    let base = &world.gateway.base;
    let admin = token("admin-1", "users:admin");
    let response = client()
        .get(format!("{base}/api/users?email=not-an-address&marker=fmt1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["in"], "query", "{body}");
    assert_eq!(body["errors"][0]["name"], "email", "{body}");
    assert_eq!(
        body["errors"][0]["message"], "must be an e-mail address, got `not-an-address`",
        "{body}"
    );
    assert!(nobody_saw(world, "fmt1"));
    let response = client()
        .get(format!(
            "{base}/api/users?email=ada%40example.com&marker=fmt2"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn api_keys_are_checked() {
    let world = &world();
    let base = &world.gateway.base;
    // POST /api/payments/{id}/capture needs apiKey (header X-Api-Key).
    for (key, expected) in [
        ("e2e-plain-key", 200),
        ("hashed-e2e-key", 200),
        ("e2e-plain-kez", 401),
    ] {
        let response = client()
            .post(format!(
                "{base}/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture?marker=key-{key}"
            ))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{key}");
    }
    assert!(nobody_saw(world, "key-e2e-plain-kez"));
    // In the query, where the spec does not declare it, a key is no credential.
    let response = client()
        .post(format!("{base}/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture?X-Api-Key=e2e-plain-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// HTTP Basic (`providerBasic` of the example): the right password goes through, and its
/// `Authorization` header does not; every other credential is a 401 with a Basic
/// challenge, and nothing reaches the payment service.
#[tokio::test]
async fn basic_credentials_are_checked_and_never_forwarded() {
    use base64::Engine;
    let world = &world();
    let base = &world.gateway.base;
    let notification = serde_json::json!({"event": "CAPTURE", "paymentReference": "psp-1"});
    let send = |marker: &str, authorization: Option<Vec<u8>>| {
        let mut request = client()
            .post(format!("{base}/api/payments/notifications?marker={marker}"))
            .json(&notification);
        if let Some(value) = authorization {
            request = request.header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
            );
        }
        request.send()
    };
    let basic = |credentials: &[u8]| {
        let mut value = b"Basic ".to_vec();
        value.extend(
            base64::engine::general_purpose::STANDARD
                .encode(credentials)
                .bytes(),
        );
        Some(value)
    };
    // Twice: the second answer comes from the remembered credential.
    for marker in ["basic-ok", "basic-again"] {
        let response = send(marker, basic(b"psp:psp-e2e-password")).await.unwrap();
        assert_eq!(response.status(), 200, "{marker}");
        let seen: Vec<Seen> = world
            .payments
            .iter()
            .flat_map(|mock| mock.seen())
            .filter(|seen| seen.uri.contains(marker))
            .collect();
        assert_eq!(seen.len(), 1, "{marker}");
        assert!(
            seen[0].headers.get("authorization").is_none(),
            "{marker}: the password reached the upstream"
        );
    }
    let huge = format!("psp:{}", "p".repeat(5000));
    for (marker, authorization, detail) in [
        ("basic-none", None, "requires credentials"),
        (
            "basic-wrong",
            basic(b"psp:psp-e2e-passwore"),
            "user name or password",
        ),
        (
            "basic-unknown",
            basic(b"mallory:psp-e2e-password"),
            "user name or password",
        ),
        (
            "basic-base64",
            Some(b"Basic not*base64".to_vec()),
            "not base64",
        ),
        ("basic-colon", basic(b"psp"), "no `:`"),
        (
            "basic-latin1",
            basic(b"ps\xfc:psp-e2e-password"),
            "not UTF-8",
        ),
        ("basic-huge", basic(huge.as_bytes()), "too large"),
        (
            "basic-bearer",
            Some(format!("Bearer {}", token("user-42", "")).into_bytes()),
            "requires credentials",
        ),
    ] {
        let response = send(marker, authorization).await.unwrap();
        let (status, headers, body) = problem(response).await;
        assert_eq!(status, 401, "{marker}");
        assert_eq!(
            headers.get("www-authenticate").unwrap(),
            "Basic realm=\"shop-gateway\"",
            "{marker}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{marker}: {body}"
        );
        assert!(nobody_saw(world, marker), "{marker} was forwarded");
    }
}

/// The example's API keys are `strip: true`: a back-office key never lands in the payment
/// service's logs.
#[tokio::test]
async fn api_keys_are_not_forwarded_when_stripped() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .post(format!(
            "{base}/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture?marker=strip-key"
        ))
        .header("x-api-key", "e2e-plain-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: Vec<Seen> = world
        .payments
        .iter()
        .flat_map(|mock| mock.seen())
        .filter(|seen| seen.uri.contains("strip-key"))
        .collect();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers.get("x-api-key").is_none(),
        "the key reached the upstream"
    );
    // Nor on a public route, where clients that always send their key send it too, and on
    // a route the key is not a credential for.
    for (marker, path) in [
        (
            "strip-public",
            "/api/payment-methods?country=DE&marker=strip-public",
        ),
        ("strip-token", "/api/orders?marker=strip-token"),
    ] {
        let response = client()
            .get(format!("{base}{path}"))
            .header("x-api-key", "e2e-plain-key")
            .bearer_auth(token("user-42", ""))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{marker}");
        let seen: Vec<Seen> = [&world.orders, &world.payments[0], &world.payments[1]]
            .iter()
            .flat_map(|mock| mock.seen())
            .filter(|seen| seen.uri.contains(marker))
            .collect();
        assert_eq!(seen.len(), 1, "{marker}");
        assert!(
            seen[0].headers.get("x-api-key").is_none(),
            "{marker}: the key reached the upstream"
        );
    }
}

#[tokio::test]
async fn traversal_never_leaves_the_route() {
    let world = &world();
    let base = &world.gateway.base;
    // An encoded slash stays inside the one segment it was sent in, where the SKU's
    // pattern refuses it.
    let response = client()
        .get(format!("{base}/api/products/..%2Fadmin?marker=trav1"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["name"], "sku");
    assert!(nobody_saw(world, "trav1"));

    // Dot segments, encoded or not, are refused outright (sent raw: a URL library would
    // resolve them before sending).
    for path in [
        "/api/products/%2e%2e?marker=trav2",
        "/api/products/%2E%2E?marker=trav2",
        "/api/products/..?marker=trav2",
        "/api/products/.?marker=trav2",
    ] {
        let status = raw(base, &format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")).await;
        assert_eq!(status, 400, "{path}");
    }
    // Extra segments match no route.
    for path in [
        "/api/products/%2e%2e/admin?marker=trav2",
        "/api/products/../admin?marker=trav2",
        "/api/products/../../admin?marker=trav2",
    ] {
        let status = raw(base, &format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")).await;
        assert_eq!(status, 404, "{path}");
    }
    assert!(nobody_saw(world, "trav2"));
    for mock in [
        &world.users,
        &world.orders,
        &world.payments[0],
        &world.payments[1],
    ] {
        for seen in mock.seen() {
            assert!(!seen.uri.starts_with("/admin"), "{seen:?}");
            assert!(!seen.uri.contains("/../"), "{seen:?}");
        }
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let world = &world();
    let base = &world.gateway.base;
    let (status, _, body) = problem(
        client()
            .get(format!("{base}/api/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["title"], "Not found");
    let response = client()
        .put(format!("{base}/api/products"))
        .send()
        .await
        .unwrap();
    let (status, headers, _) = problem(response).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET");
    let response = client()
        .delete(format!("{base}/api/users"))
        .send()
        .await
        .unwrap();
    let (status, headers, _) = problem(response).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, POST");
}

#[tokio::test]
async fn request_ids_round_trip() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!("{base}/api/payment-methods?country=DE&marker=rid1"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = client()
        .get(format!("{base}/api/payment-methods?country=DE&marker=rid2"))
        .send()
        .await
        .unwrap();
    let created = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(created.len() >= 16, "{created}");
    let upstream: Vec<String> = world
        .payments
        .iter()
        .flat_map(|m| m.seen())
        .filter(|s| s.uri.contains("rid"))
        .map(|s| s.headers["x-request-id"].to_str().unwrap().to_owned())
        .collect();
    assert!(upstream.contains(&"abc-123".to_owned()));
    assert!(upstream.contains(&created));
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let world = &world();
    let response = client()
        .get(format!("{}/api/products?marker=hop1", world.gateway.base))
        .header("connection", "x-client-secret")
        .header("x-client-secret", "hop")
        .header("te", "trailers")
        .header("x-kept", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-upstream-secret").is_none());
    let seen = world.orders.seen();
    let seen = seen.iter().find(|s| s.uri.contains("hop1")).unwrap();
    assert!(seen.headers.get("x-client-secret").is_none());
    assert!(seen.headers.get("te").is_none());
    assert_eq!(seen.headers["x-kept"], "yes");
}

/// Raises this process's soft limit on open files to its hard limit; returns the limit.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Whether the peer closes `stream` within `bound`, reading and dropping what comes first.
async fn closed_within(stream: &mut tokio::net::TcpStream, bound: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let drained = async {
        let mut buffer = vec![0; 16 * 1024];
        while let Ok(1..) = stream.read(&mut buffer).await {}
    };
    tokio::time::timeout(bound, drained).await.is_ok()
}

/// The example keeps the default `header_timeout` (10 s): connections that send nothing,
/// or stop inside their first head, are closed, and a thousand of them do not keep a
/// client from being served meanwhile.
#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_and_do_not_crowd_out_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limit = raise_fd_limit();
    assert!(
        limit >= 1_500,
        "this test needs 1,500 file descriptors, the limit is {limit}"
    );
    let world = &world();
    let address = world.gateway.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..1_000 {
        silent.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let mut half = tokio::net::TcpStream::connect(&address).await.unwrap();
    half.write_all(b"GET /api/products HTTP/1.1\r\nhost: shop\r\n")
        .await
        .unwrap();
    let response = client()
        .get(format!("{}/api/products?marker=crowd1", world.gateway.base))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Not closed at once...
    let mut byte = [0; 1];
    let quiet = tokio::time::timeout(Duration::from_millis(250), silent[0].read(&mut byte)).await;
    assert!(quiet.is_err(), "a silent connection was closed at once");
    // ...but well within four times the 10 s deadline.
    let bound = Duration::from_secs(40);
    assert!(
        closed_within(&mut silent[0], bound).await,
        "a connection that sent nothing was still open after {bound:?}"
    );
    assert!(
        closed_within(&mut half, bound).await,
        "a connection stalled inside its head was still open after {bound:?}"
    );
}

/// An upstream with a permissive CORS middleware (a common framework default): it
/// reflects any `Origin`, allows credentials, exposes a header of its own.
async fn reflecting_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let mut response = Response::new(Body::from("[]"));
        let out = response.headers_mut();
        if let Some(origin) = headers.get("origin") {
            out.insert("access-control-allow-origin", origin.clone());
        }
        for (name, value) in [
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-session-token"),
            ("content-type", "application/json"),
            ("vary", "Accept-Encoding"),
        ] {
            out.insert(name, axum::http::HeaderValue::from_static(value));
        }
        response
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn vary_tokens(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("vary")
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn an_upstream_that_reflects_any_origin_opens_nothing_to_an_evil_origin() {
    let upstream = reflecting_upstream().await;
    let gateway = Gateway::start(&upstream, &upstream, &upstream);
    let get = |origin: Option<&'static str>| {
        let mut request = client().get(format!("{}/api/products", gateway.base));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let response = get(Some("https://evil.example.com")).await.unwrap();
    assert_eq!(response.status(), 200);
    let leaked: Vec<&str> = response
        .headers()
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("access-control-"))
        .collect();
    assert!(leaked.is_empty(), "an evil origin got {leaked:?}");
    assert_eq!(
        vary_tokens(response.headers()),
        ["accept-encoding", "origin"]
    );

    // The shop's origin gets the example's policy: no credentials, its exposed header.
    let response = get(Some("https://shop.example.com")).await.unwrap();
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
    assert_eq!(headers["access-control-expose-headers"], "x-request-id");
    assert_eq!(vary_tokens(headers), ["accept-encoding", "origin"]);
    // No origin: the answer still varies on it, for the caches between.
    let response = get(None).await.unwrap();
    assert_eq!(
        vary_tokens(response.headers()),
        ["accept-encoding", "origin"]
    );
}

/// The client's address, scheme and host as upstreams receive them are the gateway's word:
/// the headers a client could set to claim otherwise never arrive, in either spelling.
#[tokio::test]
async fn the_client_cannot_claim_an_address_scheme_or_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = &world();
    let claims = [
        ("true-client-ip", "203.0.113.7"),
        ("x-client-ip", "203.0.113.7"),
        ("cf-connecting-ip", "203.0.113.7"),
        ("x-forwarded-ssl", "on"),
        ("x-url-scheme", "https"),
        ("x-original-host", "admin.internal"),
        ("x_real_ip", "203.0.113.7"),
        ("x_forwarded_for", "203.0.113.7"),
        ("x_forwarded_host", "admin.internal"),
        ("x-real-ip", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ];
    let mut request = client().get(format!("{}/api/products?marker=claim1", world.gateway.base));
    for (name, value) in claims {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let seen = world.orders.seen();
    let seen = seen.iter().find(|s| s.uri.contains("claim1")).unwrap();
    for (name, _) in &claims[..9] {
        assert!(
            seen.headers.get(*name).is_none(),
            "{name} reached the upstream"
        );
    }
    // The gateway's own: the address it saw, the scheme it served.
    assert_eq!(seen.headers["x-real-ip"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");

    // A `Host` that is not a host is not passed on as one.
    let address = world.gateway.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"GET /api/products?marker=claim2 HTTP/1.1\r\nhost: evil.example/admin?x=\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    let seen = world.orders.seen();
    let seen = seen.iter().find(|s| s.uri.contains("claim2")).unwrap();
    assert!(
        seen.headers.get("x-forwarded-host").is_none(),
        "{:?}",
        seen.headers.get("x-forwarded-host")
    );
}

#[tokio::test]
async fn ten_megabyte_bodies_stream_both_ways() {
    let world = &world();
    let size = 10 * 1024 * 1024;
    // A route that validates no body (`GET /products` declares none) streams it on.
    let response = client()
        .get(format!("{}/api/products?marker=big1", world.gateway.base))
        .header("content-type", "application/octet-stream")
        .body(vec![b' '; size])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.orders.seen();
    assert_eq!(
        seen.iter()
            .find(|s| s.uri.contains("big1"))
            .unwrap()
            .body_len,
        size
    );

    let response = client()
        .get(format!("{}/api/products?marker=big2", world.gateway.base))
        .header("x-mock-size", size.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), size);
}

#[tokio::test]
async fn a_ten_megabyte_json_body_is_validated_whole_and_forwarded_as_sent() {
    let world = &world();
    let size = 10 * 1024 * 1024;
    // Valid JSON: the user, then whitespace up to 10 MiB.
    let mut body = ADA.as_bytes().to_vec();
    body.resize(size, b' ');
    let response = client()
        .post(format!("{}/api/users?marker=big3", world.gateway.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.users.seen();
    let seen = seen.iter().find(|s| s.uri.contains("big3")).unwrap();
    assert_eq!(seen.body_len, size);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let world = &world();
    // Refused on the declared length, before the body is read: sent raw, since a client
    // library would insist on sending the 17 MiB first.
    let status = raw(
        &world.gateway.base,
        "POST /api/users?marker=huge1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 17825792\r\n\r\n",
    )
    .await;
    assert_eq!(status, 413);
    // A chunked body is counted while it streams. `POST /users` validates its whole body,
    // so not one byte of it may go upstream: the answer is a 413, or the gateway closes the
    // connection before the client has sent everything.
    let chunks =
        (0..17).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024 * 1024])));
    let response = client()
        .post(format!("{}/api/users?marker=huge2", world.gateway.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    match response {
        Ok(response) => {
            let (status, _, _) = problem(response).await;
            assert_eq!(status, 413);
        }
        Err(error) => assert!(
            connection_closed(&error),
            "neither a 413 nor a closed connection: {error:?}"
        ),
    }
    assert!(nobody_saw(world, "huge1"), "huge1 reached the upstream");
    assert!(nobody_saw(world, "huge2"), "huge2 reached the upstream");
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let world = &world();
    // The orders service's request timeout is 3s in the example manifest.
    let response = client()
        .get(format!("{}/api/products?marker=slow1", world.gateway.base))
        .header("x-mock-delay-ms", "5000")
        .send()
        .await
        .unwrap();
    let (status, _, _) = problem(response).await;
    assert_eq!(status, 504);
}

#[tokio::test]
async fn an_operations_own_timeout_wins_over_its_services() {
    let world = &world();
    // getProduct overrides the orders service's 3s with 1s in the example manifest.
    let response = client()
        .get(format!(
            "{}/api/products/BOK-0001?marker=slow2",
            world.gateway.base
        ))
        .header("x-mock-delay-ms", "2000")
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 504, "{body}");
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let gateway = Gateway::start(&closed, &closed, &closed);
    let response = client()
        .get(format!("{}/api/products", gateway.base))
        .send()
        .await
        .unwrap();
    let (status, _, _) = problem(response).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn admin_endpoints_and_openapi() {
    let world = &world();
    let health = client()
        .get(format!("{}/healthz", world.gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client()
        .get(format!("{}/readyz", world.gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let spec: serde_json::Value = client()
        .get(format!("{}/openapi.json", world.gateway.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["openapi"], "3.0.3");
    assert!(spec["paths"]["/api/users/{userId}"]["get"].is_object());
    assert_eq!(
        spec["paths"]["/api/payment-methods"]["get"]["security"],
        serde_json::json!([])
    );
}

/// `--health-check`, the image's `HEALTHCHECK`: 0 and the status line while the admin
/// listener of `GATEWAY_ADMIN_LISTEN` answers `/healthz`, 1 when nothing listens there, 2
/// for an argument it does not know; none of them serves.
#[test]
fn the_health_check_command_asks_the_admin_listener() {
    let world = world();
    let check = |admin: &str, args: &[&str]| {
        Command::new(binary())
            .args(args)
            .env("GATEWAY_ADMIN_LISTEN", admin)
            .output()
            .expect("the gateway binary runs")
    };
    let admin = world.gateway.admin.trim_start_matches("http://");
    let healthy = check(admin, &["--health-check"]);
    assert_eq!(healthy.status.code(), Some(0), "{healthy:?}");
    assert_eq!(
        String::from_utf8_lossy(&healthy.stdout),
        format!("healthy: /healthz at {admin}: HTTP/1.1 200 OK\n")
    );

    let closed = format!("127.0.0.1:{}", free_port());
    let unhealthy = check(&closed, &["--health-check"]);
    assert_eq!(unhealthy.status.code(), Some(1), "{unhealthy:?}");
    assert!(
        String::from_utf8_lossy(&unhealthy.stderr)
            .starts_with(&format!("unhealthy: /healthz at {closed}: ")),
        "{unhealthy:?}"
    );

    let unknown = check(admin, &["--serve"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown argument `--serve`"),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let (_mock, addr) = start_mock("drain");
    let upstream = format!("http://{addr}");
    let mut gateway = Gateway::start(&upstream, &upstream, &upstream);
    let url = format!("{}/api/products?marker=drain", gateway.base);
    let slow = tokio::spawn(async move {
        client()
            .get(url)
            .header("x-mock-delay-ms", "1500")
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(
        slow.await.unwrap().unwrap(),
        200,
        "the in-flight request is delivered"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn bodies_must_have_a_declared_media_type_and_be_there_when_required() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .post(format!("{base}/api/users?marker=media1"))
        .header("content-type", "text/plain")
        .body("ada")
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 415);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{body}"
    );

    // Parameters from the content type are no reason to refuse.
    let response = client()
        .post(format!("{base}/api/users?marker=media2"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(ADA)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = client()
        .post(format!("{base}/api/users?marker=media3"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["in"], "body", "{body}");
    assert!(nobody_saw(world, "media1"));
    assert!(nobody_saw(world, "media3"));
}

async fn preflight(
    base: &str,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway() {
    let world = &world();
    let base = &world.gateway.base;
    let response = preflight(
        base,
        "/api/users?marker=cors1",
        "https://shop.example.com",
        "POST",
        "content-type, authorization",
    )
    .await;
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert_eq!(headers["access-control-allow-methods"], "GET, POST");
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type, authorization"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert!(headers.get("access-control-allow-credentials").is_none());
    assert!(headers.get_all("vary").iter().any(|v| v == "Origin"));

    // A preview deployment matches the subdomain wildcard.
    let response = preflight(
        base,
        "/api/products?marker=cors1",
        "https://pr-7.preview.shop.example.com",
        "GET",
        "",
    )
    .await;
    assert_eq!(response.status(), 204);

    // Denied: another origin, a method the path lacks, a header not listed.
    for (origin, method, headers) in [
        ("https://evil.example.com", "POST", "content-type"),
        ("https://shop.example.com", "DELETE", ""),
        ("https://shop.example.com", "POST", "x-secret"),
    ] {
        let response = preflight(base, "/api/users?marker=cors2", origin, method, headers).await;
        let (status, response_headers, _) = problem(response).await;
        assert_eq!(status, 403, "{origin} {method} {headers}");
        assert!(
            response_headers
                .get("access-control-allow-origin")
                .is_none()
        );
    }
    // Unknown paths are 404 for preflights too.
    let response = preflight(base, "/api/nope", "https://shop.example.com", "GET", "").await;
    assert_eq!(response.status(), 404);
    // Preflights never reach an upstream.
    assert!(nobody_saw(world, "cors1"));
    assert!(nobody_saw(world, "cors2"));
}

#[tokio::test]
async fn cors_headers_on_answers_to_allowed_origins_only() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!("{base}/api/products?marker=cors3"))
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert_eq!(
        response.headers()["access-control-expose-headers"],
        "x-request-id"
    );
    assert!(
        response
            .headers()
            .get_all("vary")
            .iter()
            .any(|v| v == "Origin")
    );
    // Problems carry them too, so a page can read why it failed.
    let response = client()
        .get(format!("{base}/api/products?limit=0&marker=cors4"))
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let response = client()
        .get(format!("{base}/api/products?marker=cors5"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn what_upstreams_might_trust_is_never_the_clients_word() {
    let world = &world();
    let response = client()
        .get(format!("{}/api/products?marker=spoof1", world.gateway.base))
        .header("x-http-method-override", "DELETE")
        .header("forwarded", "for=203.0.113.7;proto=https")
        .header("x-real-ip", "203.0.113.7")
        .header("x-original-url", "/admin")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.orders.seen();
    let seen = seen.iter().find(|s| s.uri.contains("spoof1")).unwrap();
    for name in ["x-http-method-override", "forwarded", "x-original-url"] {
        assert!(
            seen.headers.get(name).is_none(),
            "{name} reached the upstream"
        );
    }
    // `X-Real-IP` is the gateway's: the address it saw, not the client's claim.
    assert_eq!(seen.headers["x-real-ip"], "127.0.0.1");
    // The client's own list is kept, with the address the gateway saw appended.
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
}

#[tokio::test]
async fn path_values_go_upstream_as_written_and_chunked_get_bodies_arrive() {
    let world = &world();
    let base = &world.gateway.base;
    // `0042` parses as the integer 42, and is forwarded as the client wrote it.
    let response = client()
        .get(format!(
            "{base}/api/products/BOK-0042/reviews/0042?marker=raw1"
        ))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["uri"], "/products/BOK-0042/reviews/0042?marker=raw1");

    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"0123456789")));
    // hyper (under reqwest) sends a GET body of unknown length only when told to chunk it.
    let response = client()
        .get(format!("{base}/api/products?marker=chunk1"))
        .header("transfer-encoding", "chunked")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.orders.seen();
    assert_eq!(
        seen.iter()
            .find(|s| s.uri.contains("chunk1"))
            .unwrap()
            .body_len,
        40
    );
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_client_address() {
    let world = &world();
    let base = &world.gateway.base;
    let sign_up = |i: usize| {
        client()
            .post(format!("{base}/api/users?marker=signup{i}"))
            .header("content-type", "application/json")
            .body(ADA)
            .send()
    };
    // `signup: { rate: 5/minute, key: ip }`: the burst defaults to the count.
    for i in 0..5 {
        let response = sign_up(i).await.unwrap();
        assert_eq!(response.status(), 200, "sign-up {i}");
        let headers = response.headers();
        assert_eq!(headers["ratelimit-limit"], "5");
        assert_eq!(headers["ratelimit-remaining"], (4 - i).to_string());
        assert_eq!(headers["ratelimit-reset"], (12 * (i + 1)).to_string());
    }
    let (status, headers, body) = problem(sign_up(5).await.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(body["type"], "urn:gateway:problem:rate-limited");
    assert_eq!(headers["retry-after"], "12");
    assert_eq!(headers["ratelimit-limit"], "5");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-reset"], "60");
    assert!(nobody_saw(world, "signup5"));
    // Other routes are not limited and carry no RateLimit headers.
    let response = client()
        .get(format!(
            "{base}/api/payment-methods?country=DE&marker=signup6"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("ratelimit-limit").is_none());
}

/// Generates fixtures/<fixture> into a scratch folder and builds it (in the shared target
/// folder, where its binary `binary` stays); callers keep the path in a `OnceLock`, so
/// each fixture is built once per test run.
fn built(fixture: &str, binary: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("gateway-{fixture}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (out_arg, runtime) = (
        out.display().to_string(),
        workspace().join("runtime").display().to_string(),
    );
    let manifest = format!("fixtures/{fixture}/gateway.yaml");
    let (code, _, err) = gateway_tests::gateway(&[
        "generate",
        "--manifest",
        &manifest,
        "--out",
        &out_arg,
        "--runtime-path",
        &runtime,
    ]);
    assert_eq!(code, 0, "{err}");
    let output = cargo("build", &out.join("Cargo.toml"), &["--quiet"]);
    assert!(
        output.status.success(),
        "building fixtures/{fixture} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&out);
    generated_target_dir().join("debug").join(binary)
}

/// fixtures/client-addresses, generated and built once per test run: a gateway behind a
/// trusted proxy on 127.0.0.1 (the example trusts none), so that a test names its clients
/// in `X-Forwarded-For`.
fn client_addresses_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| built("client-addresses", "client-addresses"))
}

/// Attack (issue 11, item 3), through a generated gateway behind a trusted proxy: two
/// addresses of one IPv6 /64 are one client (each used to have a budget of its own, so a
/// /64 had 2^64), two /64s are two, and an IPv4-mapped address is its IPv4 form.
#[tokio::test]
async fn an_ipv6_client_is_counted_by_its_prefix_behind_a_trusted_proxy() {
    let (echo, addr) = start_mock("echo");
    let gateway = Gateway::spawn(
        client_addresses_binary(),
        &[
            ("GATEWAY_LOG", "warn".to_owned()),
            ("GATEWAY_UPSTREAM_ECHO", format!("http://{addr}")),
        ],
        Stdio::null(),
    );
    let ping = |marker: &str, forwarded_for: &str| {
        client()
            .get(format!("{}/api/ping?marker={marker}", gateway.base))
            .header("x-forwarded-for", forwarded_for)
            .send()
    };
    // `per-client: { rate: 1/hour }`: a client's second request is refused.
    for (marker, client, expected) in [
        ("v6-first", "2001:db8:1:2::1", 200),
        ("v6-same-64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 429),
        ("v6-same-64-port", "[2001:db8:1:2::7]:443", 429),
        ("v6-other-64", "2001:db8:1:3::1", 200),
        ("v4", "198.51.100.9", 200),
        ("v4-mapped", "::ffff:198.51.100.9", 429),
        ("v4-other", "198.51.100.10", 200),
    ] {
        let response = ping(marker, client).await.unwrap();
        assert_eq!(response.status(), expected, "{marker}: {client}");
    }
    let seen: Vec<String> = echo.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|uri| !uri.contains("same-64") && !uri.contains("mapped"))
    );
}

/// Attack (issue 11, item 6), through the example: credentials were checked before any
/// limit and failures never counted, so one address could guess API keys (and send forged
/// tokens, each costing a signature check) as fast as it liked. The example keeps the
/// default failure limit: 20 failures at once per address, then 10 a minute.
#[tokio::test]
async fn guessing_credentials_is_limited_per_client_address() {
    let world = &world();
    let base = &world.gateway.base;
    let from = |address: [u8; 4]| {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(address))
            .build()
            .unwrap()
    };
    let (guesser, other) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    // POST /api/payments/{id}/capture needs apiKey (header X-Api-Key).
    let capture = |client: &reqwest::Client, key: &str, marker: &str| {
        client
            .post(format!(
                "{base}/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture?marker={marker}"
            ))
            .header("x-api-key", key)
            .send()
    };
    for i in 0..20 {
        let response = capture(&guesser, &format!("guess-{i}"), "guess")
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "guess {i}");
    }
    let (status, headers, body) =
        problem(capture(&guesser, "guess-20", "guess").await.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(body["type"], "urn:gateway:problem:too-many-auth-failures");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&wait), "{wait}");
    // The good key waits too, and so does a valid token on a JWT route.
    let response = capture(&guesser, "e2e-plain-key", "guesser-good-key").await;
    assert_eq!(response.unwrap().status(), 429);
    let response = guesser
        .get(format!("{base}/api/orders?marker=guesser-good-token"))
        .bearer_auth(token("user-42", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(nobody_saw(world, "guess"));
    // Another address is not affected.
    let response = capture(&other, "e2e-plain-key", "other-good-key").await;
    assert_eq!(response.unwrap().status(), 200);
    let response = capture(&other, "guess-21", "other-guess").await;
    assert_eq!(response.unwrap().status(), 401);
    let metrics = client()
        .get(format!("{}/metrics", world.gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\ngateway_auth_failures_limited_total 3\n"),
        "{metrics}"
    );
    // Once the limit lets a request through again, the good key passes.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let response = capture(&guesser, "e2e-plain-key", "guesser-later").await;
    assert_eq!(response.unwrap().status(), 200);
}

/// `k0=1&k1=1&...`: `n` distinct names.
fn distinct_pairs(n: usize) -> String {
    (0..n)
        .map(|i| format!("k{i}=1"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The 400 of a place holding more than `gateway.limits.max_fields` (1000 in the example,
/// the default) pairs: `in` names the place, the detail and the message name the limit.
fn too_many_fields(problem: &serde_json::Value, place: &str) {
    assert_eq!(problem["type"], "urn:gateway:problem:invalid-request");
    assert_eq!(problem["errors"][0]["in"], place, "{problem}");
    for text in [&problem["detail"], &problem["errors"][0]["message"]] {
        let text = text.as_str().unwrap();
        assert!(
            text.contains("more than 1000") && text.contains("`gateway.limits.max_fields`"),
            "{problem}"
        );
    }
}

/// Issue 11, quadratic parsing: grouping a form's pairs by name compared each with every
/// earlier one, so a sign-up form of 200,000 distinct names (1.6 MB; the route takes 16
/// MiB) cost minutes of a worker's CPU. It is refused once its 1001st pair is read, and a
/// request sent meanwhile is served. A query string past the limit is refused too, on any
/// route, before anything else reads it.
#[tokio::test]
async fn a_form_of_200k_distinct_names_is_refused_while_the_gateway_keeps_serving() {
    let world = &world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!(
            "{base}/api/products?marker=fields1&{}",
            distinct_pairs(999)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "1000 pairs are within the limit");
    let response = client()
        .get(format!(
            "{base}/api/products?marker=fields2&{}",
            distinct_pairs(1000)
        ))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    too_many_fields(&body, "query");
    assert!(nobody_saw(world, "fields2"));

    let attack = client()
        .post(format!("{base}/api/users?marker=fields3"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(distinct_pairs(200_000))
        .send();
    let meanwhile = client()
        .get(format!(
            "{base}/api/payment-methods?country=DE&marker=fields4"
        ))
        .send();
    let (attack, meanwhile) = tokio::join!(attack, meanwhile);
    assert_eq!(meanwhile.unwrap().status(), 200);
    let (status, _, body) = problem(attack.unwrap()).await;
    assert_eq!(status, 400);
    too_many_fields(&body, "body");
    assert_eq!(body["errors"][0]["pointer"], "");
    assert!(nobody_saw(world, "fields3"));
}

#[tokio::test]
async fn a_member_name_given_twice_is_refused() {
    let world = &world();
    let base = &world.gateway.base;
    // Parsers differ on which `name` counts (serde_json keeps the last, some the first):
    // the gateway would check one value and the upstream might read the other.
    for (marker, body) in [
        (
            "dup1",
            r#"{"email":"ada@example.com","name":"Ada","password":"correct horse battery","name":7}"#,
        ),
        (
            "dup2",
            r#"{"email":"ada@example.com","name":"Ada","password":"correct horse battery","name":"Ada"}"#,
        ),
    ] {
        let response = client()
            .post(format!("{base}/api/users?marker={marker}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, _, problem) = problem(response).await;
        assert_eq!(status, 400, "{marker}: {problem}");
        assert_eq!(
            problem["errors"][0]["message"],
            "the body gives the member `/name` twice in one object; names in an object must be unique"
        );
        assert!(nobody_saw(world, marker), "{marker} reached the upstream");
    }
    // The same body without the second `name` goes through.
    let response = client()
        .post(format!("{base}/api/users?marker=dup3"))
        .header("content-type", "application/json")
        .body(r#"{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn json_bodies_are_checked_against_their_schema_with_every_failure_listed() {
    let world = &world();
    let base = &world.gateway.base;
    // `NewUser`: required email, name, password (12..128 chars); no other properties;
    // `locale` matches `^[a-z]{2}(-[A-Z]{2})?$`; `marketing_opt_in` is a boolean.
    let response = client()
        .post(format!("{base}/api/users?marker=json1"))
        .header("content-type", "application/json")
        .body(
            r#"{"email":"ada@example.com","password":"short","locale":"EN","marketing_opt_in":"yes","nick":"ada","a/b":1}"#,
        )
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "urn:gateway:problem:invalid-request");
    let errors: Vec<(String, String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["in"].as_str().unwrap().to_owned(),
                e["pointer"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // In the body's order, then what the object as a whole lacks.
    let expected = [
        ("/password", "must be 12 to 128 characters long"),
        ("/locale", "must match the pattern `^[a-z]{2}(-[A-Z]{2})?$`"),
        ("/marketing_opt_in", "must be a boolean"),
        ("/nick", "is not a property this object may have"),
        ("/a~1b", "is not a property this object may have"),
        ("", "must have the property `name`"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(p, m)| ("body".to_owned(), (*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(errors, expected, "{body}");
    assert!(nobody_saw(world, "json1"));

    // Not an object at all; not JSON; JSON nested 10,000 deep: a 400 each, nothing sent.
    for (marker, text, message) in [
        ("json2", "[1, 2]".to_owned(), "must be an object"),
        (
            "json3",
            r#"{"email": "#.to_owned(),
            "the JSON body ends too early",
        ),
        ("json4", "{'a': 1}".to_owned(), "the body is not valid JSON"),
        (
            "json5",
            "[".repeat(10_000) + &"]".repeat(10_000),
            "the JSON body is nested too deeply",
        ),
    ] {
        let response = client()
            .post(format!("{base}/api/users?marker={marker}"))
            .header("content-type", "application/json")
            .body(text)
            .send()
            .await
            .unwrap();
        let (status, _, body) = problem(response).await;
        assert_eq!(status, 400, "{marker}: {body}");
        assert_eq!(body["errors"][0]["in"], "body", "{marker}");
        assert_eq!(body["errors"][0]["pointer"], "", "{marker}");
        let got = body["errors"][0]["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{marker}: {got}");
        assert!(nobody_saw(world, marker), "{marker} reached the upstream");
    }
    // The gateway is still there.
    let response = client()
        .get(format!(
            "{base}/api/payment-methods?country=DE&marker=json6"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_valid_json_body_reaches_the_upstream_byte_for_byte() {
    let world = &world();
    let base = &world.gateway.base;
    // Odd spacing, key order, escapes and number spelling: forwarded as sent, never
    // re-serialized.
    let sent = "{ \"password\" :\"correct-horse-battery\",\n\t\"name\":\"Ada \\u004C\" ,\"email\":\"ada@example.com\",\"marketing_opt_in\" : false }  ";
    let response = client()
        .post(format!("{base}/api/users?marker=exact1"))
        .header("content-type", "application/json; charset=utf-8")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = world.users.seen();
    let seen = seen.iter().find(|s| s.uri.contains("exact1")).unwrap();
    assert_eq!(seen.body, sent.as_bytes());
    assert_eq!(seen.headers["content-length"], sent.len().to_string());
}

#[tokio::test]
async fn a_json_body_that_never_finishes_is_408_after_the_request_timeout() {
    let world = &world();
    // 10 of 100 declared bytes, then nothing: the users service's request timeout (10s)
    // bounds the wait, as it does for a streamed body.
    let started = Instant::now();
    let status = raw(
        &world.gateway.base,
        "POST /api/users?marker=slowbody1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
    )
    .await;
    assert_eq!(status, 408);
    assert!(started.elapsed() >= Duration::from_secs(9));
    assert!(nobody_saw(world, "slowbody1"));
}

// ---- docs/runtime.md against the running gateway -----------------------------------------

/// A family of `/metrics` as the docs describe one: its type, and the label names of each
/// of its series (`le` left out).
#[derive(Debug)]
struct ExposedFamily {
    kind: String,
    series: Vec<std::collections::BTreeSet<String>>,
}

/// `/metrics`, read by a Prometheus text parser nobody here wrote, once no request is in
/// flight (a request is counted when its response has ended, a moment after the client
/// read it). A family declared without samples (`# HELP` and `# TYPE` only, which the text
/// format allows and this parser refuses) has no series.
async fn exposed_families(admin: &str) -> std::collections::BTreeMap<String, ExposedFamily> {
    use prom_text_format_parser::{ScrapeParseError, ValueType, parse_scrape};
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = client()
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (metrics, error) = parse_scrape(&text);
        let mut families = std::collections::BTreeMap::new();
        match error {
            None => {}
            Some(ScrapeParseError::Collect(errors)) => {
                for error in errors {
                    let name = error
                        .error
                        .strip_prefix("Metric ")
                        .and_then(|rest| rest.strip_suffix(" has only TYPE"))
                        .unwrap_or_else(|| panic!("{error:?}\n{text}"));
                    let kind = text
                        .lines()
                        .find_map(|line| line.strip_prefix(&format!("# TYPE {name} ")))
                        .unwrap_or_else(|| panic!("no TYPE of {name}\n{text}"));
                    let family = ExposedFamily {
                        kind: kind.to_owned(),
                        series: Vec::new(),
                    };
                    families.insert(name.to_owned(), family);
                }
            }
            Some(error) => panic!("{error:?}\n{text}"),
        }
        let idle = metrics
            .iter()
            .filter(|m| m.name == "gateway_in_flight_requests")
            .flat_map(|m| &m.samples)
            .all(|s| s.value.value_type == ValueType::Sample && s.value.value.as_f64() == 0.0);
        if !idle && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for metric in metrics {
            let series = metric
                .samples
                .iter()
                .map(|s| {
                    s.labels
                        .iter()
                        .map(|l| l.key.clone())
                        .filter(|k| k != "le")
                        .collect()
                })
                .collect();
            let family = ExposedFamily {
                kind: metric.kind.to_string(),
                series,
            };
            assert!(
                families.insert(metric.name.clone(), family).is_none(),
                "family {} declared twice:\n{text}",
                metric.name
            );
        }
        return families;
    }
}

/// The families of docs/runtime.md that only a gateway configured for them declares (see
/// runtime/src/observe/metrics.rs and the `render` functions it calls), and whether the example's
/// manifest, as the compiler's loader reads it, is: the rest of the table is declared by
/// every gateway.
fn conditional_families() -> Vec<(&'static str, bool)> {
    use openapi_gateway_compiler::load::{AuthKind, KeySource, RateLimitStore};
    let mut diagnostics = openapi_gateway_compiler::diag::Diagnostics::default();
    let loaded = openapi_gateway_compiler::load::load(
        &workspace().join("examples/ecommerce/gateway.yaml"),
        &mut openapi_gateway_compiler::load::Sources::new(),
        &mut diagnostics,
    )
    .expect("the example loads");
    let manifest = &loaded.manifest;
    let redis = matches!(manifest.rate_limit_store, RateLimitStore::Redis { .. });
    let responses = manifest
        .services
        .iter()
        .any(|s| s.validate_responses.unwrap_or(manifest.validate_responses));
    let jwks = manifest.auth.iter().any(|scheme| {
        matches!(&scheme.kind, AuthKind::Jwt(jwt) if matches!(jwt.key, KeySource::Jwks(_)))
    });
    vec![
        (
            "gateway_circuit_breaker_state",
            manifest
                .services
                .iter()
                .any(|s| s.resilience.breaker.is_some()),
        ),
        ("gateway_response_validation_failures_total", responses),
        ("gateway_response_validation_skipped_total", responses),
        (
            "gateway_rate_limited_total",
            !manifest.rate_limits.is_empty(),
        ),
        (
            "gateway_auth_failures_limited_total",
            !manifest.auth.is_empty() && manifest.auth_failures.is_some(),
        ),
        ("gateway_rate_limit_store_errors_total", redis),
        ("gateway_rate_limit_store_fallbacks_total", redis),
        (
            "gateway_discovery_resolutions_total",
            manifest.services.iter().any(|s| s.discovery.is_some()),
        ),
        ("gateway_jwks_refresh_total", jwks),
    ]
}

/// Traffic that gives every family of the example series: a forwarded request, a response
/// that breaks the spec, one without a length, a 404, a 400, a 401, a 429.
async fn give_every_family_series(base: &str) {
    let c = client();
    // Forwarded (requests, durations, added latency, attempts); the mock's body breaks the
    // orders spec (response validation failures).
    let response = c
        .get(format!("{base}/api/products?marker=docs1"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), 200);
    // A streamed JSON response, of unknown length: not validated, counted as skipped.
    let response = c
        .get(format!("{base}/api/products?marker=docs2"))
        .header("x-mock-size", "100")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    response.bytes().await.unwrap();
    // No route: the series without route and method.
    let response = c
        .get(format!("{base}/api/nowhere?marker=docs3"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), 404);
    // A parameter that does not parse.
    let response = c
        .get(format!("{base}/api/products?limit=many&marker=docs4"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), 400);
    // No credentials.
    let response = c
        .get(format!("{base}/api/orders?marker=docs5"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), 401);
    // `signup: { rate: 5/minute }`: the sixth sign-up is refused.
    for i in 0..6 {
        let response = c
            .post(format!("{base}/api/users?marker=docs6-{i}"))
            .header("content-type", "application/json")
            .body(ADA)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            if i < 5 { 200 } else { 429 },
            "sign-up {i}"
        );
    }
}

/// The metric table of docs/runtime.md is what `/metrics` of the example gateway exposes:
/// after traffic that gives every family of the example series (a forwarded request, a
/// response that breaks the spec, one without a length, a 404, a 400, a 401, a 429), each
/// family exposed is a row of the table with its type; each row is exposed unless it
/// needs configuration the example does not have (those are the next test's), and then it
/// is not exposed; and the label names of a family's series are the row's: all of them on
/// every series, except those written `name`? (on some series only) and `route`/`method`
/// on the series of requests no route matched.
#[tokio::test]
async fn the_metric_table_of_the_docs_is_what_metrics_exposes() {
    let world = &world();
    give_every_family_series(&world.gateway.base).await;
    let exposed = exposed_families(&world.gateway.admin).await;
    let documented = gateway_tests::markdown::documented_metrics();
    let conditional = conditional_families();
    let mut problems = undocumented_families(&exposed, &documented);
    for row in &documented {
        let expected = conditional
            .iter()
            .find(|(name, _)| *name == row.name)
            .is_none_or(|(_, configured)| *configured);
        if expected {
            problems.extend(row_problems(&exposed, row));
        } else if exposed.contains_key(&row.name) {
            problems.push(format!(
                "{}: `{}` is exposed without the configuration it needs (tests/e2e.rs, conditional_families)",
                row.at, row.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each family exposed that is not a row of the table, or of another type.
fn undocumented_families(
    exposed: &std::collections::BTreeMap<String, ExposedFamily>,
    documented: &[gateway_tests::markdown::DocumentedMetric],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, family) in exposed {
        match documented.iter().find(|m| &m.name == name) {
            None => problems.push(format!(
                "`{name}` ({}) is exposed but not in the table of docs/runtime.md",
                family.kind
            )),
            Some(row) if row.kind != family.kind => problems.push(format!(
                "{}: `{name}` is a {} in the table, a {} in /metrics",
                row.at, row.kind, family.kind
            )),
            Some(_) => {}
        }
    }
    problems
}

/// How one row of the table differs from what is exposed: the family is missing, or has
/// other labels. A label written `name`? must be missing from some series, any other from
/// none, but for the series of requests no route matched (no `route` and `method`, as the
/// docs say).
fn row_problems(
    exposed: &std::collections::BTreeMap<String, ExposedFamily>,
    row: &gateway_tests::markdown::DocumentedMetric,
) -> Vec<String> {
    let Some(family) = exposed.get(&row.name) else {
        return vec![format!(
            "{}: `{}` is in the table but not exposed",
            row.at, row.name
        )];
    };
    if family.series.is_empty() {
        return vec![format!(
            "{}: `{}` has no series to compare its labels with: drive the event it counts in this test",
            row.at, row.name
        )];
    }
    let mut problems = Vec::new();
    let documented_labels: std::collections::BTreeSet<&str> =
        row.labels.iter().map(String::as_str).collect();
    let exposed_labels: std::collections::BTreeSet<&str> =
        family.series.iter().flatten().map(String::as_str).collect();
    if documented_labels != exposed_labels {
        problems.push(format!(
            "{}: `{}` has the labels {documented_labels:?} in the table, {exposed_labels:?} in /metrics",
            row.at, row.name
        ));
    }
    let unmatched = |labels: &std::collections::BTreeSet<String>| {
        documented_labels.contains("route")
            && documented_labels.contains("method")
            && !labels.contains("route")
            && !labels.contains("method")
    };
    for label in &row.labels {
        let optional = row.optional.contains(label);
        let missing = family
            .series
            .iter()
            .filter(|labels| !labels.contains(label) && !unmatched(labels))
            .count();
        if !optional && missing > 0 {
            problems.push(format!(
                "{}: `{}` has {missing} series without `{label}`: write it `{label}`? in the table",
                row.at, row.name
            ));
        }
        if optional && missing == 0 {
            problems.push(format!(
                "{}: `{}` has `{label}` on every series, yet the table writes it `{label}`?",
                row.at, row.name
            ));
        }
    }
    problems
}

/// fixtures/every-metric, generated and built once per test run: a gateway with what the
/// example lacks (a Redis rate-limit store, DNS discovery, a JWKS scheme).
fn every_metric_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| built("every-metric", "docs-every-metric"))
}

/// `/metrics` of fixtures/every-metric, run with nothing listening where its Redis store,
/// nameserver and JWKS URL point, after one request to its rate-limited route.
async fn every_metric_families() -> std::collections::BTreeMap<String, ExposedFamily> {
    let gateway = Gateway::spawn(
        every_metric_binary(),
        &[
            ("GATEWAY_LOG", "error".to_owned()),
            ("GATEWAY_DNS_SERVER", format!("127.0.0.1:{}", free_port())),
            (
                "DOCS_REDIS_URL",
                format!("redis://127.0.0.1:{}", free_port()),
            ),
            (
                "DOCS_JWKS_URL",
                format!("http://127.0.0.1:{}/jwks.json", free_port()),
            ),
        ],
        Stdio::null(),
    );
    // Rate-limited: Redis refuses, the local limiter allows; no instance was discovered.
    let response = client()
        .get(format!("{}/api/ping", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);

    exposed_families(&gateway.admin).await
}

/// The rows of the table the example cannot show (conditional_families) are what a gateway
/// configured for them exposes: fixtures/every-metric, run with nothing listening where its
/// Redis store, nameserver and JWKS URL point, so that each of them fails and is counted
/// (one request to its rate-limited route makes the store fail and fall back).
#[tokio::test]
async fn the_metric_rows_the_example_cannot_show_are_what_a_gateway_configured_for_them_exposes() {
    let exposed = every_metric_families().await;
    let documented = gateway_tests::markdown::documented_metrics();
    let mut problems = undocumented_families(&exposed, &documented);
    let lacking: Vec<&str> = conditional_families()
        .into_iter()
        .filter(|(_, configured)| !configured)
        .map(|(name, _)| name)
        .collect();
    for name in &lacking {
        match documented.iter().find(|row| row.name == *name) {
            Some(row) => problems.extend(row_problems(&exposed, row)),
            None => problems.push(format!(
                "`{name}` (tests/e2e.rs, conditional_families) is not in the table"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The example gateway with its access log on, and every line it writes to stdout.
fn logging_world() -> (World, Arc<Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let mut world = world_logging("warn,openapi_gateway_runtime::access=info", Stdio::piped());
    let stdout = world.gateway.child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (world, lines)
}

/// The access-log line of the request with this id, waiting a moment for it.
async fn access_line(lines: &Mutex<Vec<String>>, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = lines.lock().unwrap().iter().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            (value["target"] == "openapi_gateway_runtime::access"
                && value["request_id"] == request_id)
                .then_some(value)
        });
        if let Some(value) = found {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "no access-log line for {request_id}:\n{}",
            lines.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn keys(line: &serde_json::Value) -> std::collections::BTreeSet<String> {
    line.as_object().unwrap().keys().cloned().collect()
}

/// The access-log table of docs/runtime.md, and its example line, are what the gateway
/// writes: a forwarded request's line has exactly the example line's keys, which are the
/// table's fields plus the logger's own (`timestamp`, `level`, `message`, `target`); the
/// line of a request no route matched lacks only fields the table says may be absent.
#[tokio::test]
async fn the_access_log_table_of_the_docs_is_what_the_gateway_writes() {
    let (world, lines) = logging_world();
    let base = &world.gateway.base;
    let response = client()
        .get(format!("{base}/api/products?marker=log1"))
        .header("x-request-id", "docs-log-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let response = client()
        .get(format!("{base}/api/nowhere?marker=log2"))
        .header("x-request-id", "docs-log-2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    response.bytes().await.unwrap();

    let forwarded = access_line(&lines, "docs-log-1").await;
    let unmatched = access_line(&lines, "docs-log-2").await;
    let fields = gateway_tests::markdown::documented_access_log_fields();
    let (example, example_at) = gateway_tests::markdown::documented_access_log_line();
    let logger: std::collections::BTreeSet<String> = ["timestamp", "level", "message", "target"]
        .map(String::from)
        .into();
    let table: std::collections::BTreeSet<String> =
        fields.iter().map(|(field, _)| field.clone()).collect();
    assert_eq!(
        keys(&forwarded),
        keys(&example),
        "{example_at}: the example line's keys against a forwarded request's line {forwarded}"
    );
    assert_eq!(
        keys(&example)
            .difference(&logger)
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        table,
        "docs/runtime.md: the access-log table against the example line {example}"
    );
    assert_eq!(forwarded["status"], 200);
    assert_eq!(forwarded["route"], "/api/products");
    assert_eq!(forwarded["attempts"], 1);
    assert_eq!(unmatched["status"], 404);
    let doc = gateway_tests::markdown::Markdown::read("docs/runtime.md");
    let rows = doc.table(&["field", "meaning"]).rows;
    for missing in keys(&forwarded).difference(&keys(&unmatched)) {
        let row = rows
            .iter()
            .find(|row| row.cells[0] == format!("`{missing}`"))
            .unwrap_or_else(|| panic!("`{missing}` is not in the access-log table"));
        assert!(
            row.cells[1].contains("absent"),
            "{}: `{missing}` is absent from the line of a request no route matched ({unmatched}), which the table does not say",
            row.at
        );
    }
    assert!(keys(&unmatched).is_subset(&keys(&forwarded)), "{unmatched}");
}

// ---- deploy/ against the running gateway ---------------------------------------------------

/// Each family's label names, over all its series.
fn labels_of(
    families: &std::collections::BTreeMap<String, ExposedFamily>,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    families
        .iter()
        .map(|(name, family)| {
            (
                name.clone(),
                family.series.iter().flatten().cloned().collect(),
            )
        })
        .collect()
}

/// The dashboard's queries and the alerts' expressions of deploy/ name only metrics and
/// labels a running gateway exposes: the example's, checked against the example's
/// `/metrics` after traffic that gives every family series; fixtures/every-metric's (a
/// JWKS scheme, a Redis store, discovery: series the example has not, while its upstream
/// has no instance) against its own `/metrics` together with the example's. `job` and
/// `instance` are Prometheus' target labels; a histogram's `_bucket` has `le`.
#[tokio::test]
async fn the_dashboards_and_alerts_name_only_metrics_and_labels_metrics_exposes() {
    let world = &world();
    give_every_family_series(&world.gateway.base).await;
    let example = labels_of(&exposed_families(&world.gateway.admin).await);
    let every_metric = labels_of(&every_metric_families().await);
    let mut both = example.clone();
    for (name, labels) in every_metric {
        both.entry(name).or_default().extend(labels);
    }

    let mut problems = Vec::new();
    for (deploy, exposed) in [
        (monitoring::example_deploy(), &example),
        (monitoring::every_metric_deploy().to_path_buf(), &both),
    ] {
        let dashboard = monitoring::read_json(&deploy.join("grafana-dashboard.json"));
        let mut queries = monitoring::dashboard_queries(&dashboard);
        queries.extend(monitoring::rule_queries(
            &deploy.join("prometheus-rules.yaml"),
        ));
        assert!(
            queries.len() > 20,
            "{}: {} queries",
            deploy.display(),
            queries.len()
        );
        problems.extend(
            monitoring::unexposed(&queries, exposed)
                .into_iter()
                .map(|p| format!("{}: {p}", deploy.display())),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check finds a family and a label that are not there.
    let made_up = [monitoring::Query {
        at: "made up".into(),
        promql: r#"sum by (tenant) (rate(gateway_requests_total{route="/x"}[5m])) + gateway_nothing_total"#.into(),
    }];
    let found = monitoring::unexposed(&made_up, &example);
    assert_eq!(found.len(), 2, "{found:#?}");

    // The timeout alert names bucket bounds: they must be the runtime's.
    let scrape = client()
        .get(format!("{}/metrics", world.gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut bounds: Vec<&str> = scrape
        .lines()
        .filter(|l| l.starts_with("gateway_request_duration_seconds_bucket{"))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    bounds.sort_by(|a, b| {
        let number = |s: &str| s.parse::<f64>().unwrap_or(f64::INFINITY);
        number(a).total_cmp(&number(b))
    });
    bounds.dedup();
    let expected: Vec<String> = openapi_gateway_compiler::emit::monitoring::DURATION_BUCKETS_MS
        .iter()
        .map(|ms| (ms / 1000.0).to_string())
        .chain(["+Inf".to_owned()])
        .collect();
    assert_eq!(bounds, expected, "{scrape}");
}
