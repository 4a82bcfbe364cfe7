//! What an upstream may believe about the client: its address, the scheme and host it
//! used. Only the gateway says these things; the client's own word never reaches the
//! upstream, in any spelling.

mod support;

use std::time::Duration;

use openapi_gateway_runtime::Gateway;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The same routes behind a proxy on loopback that the gateway trusts.
static BEHIND_PROXY: Gateway = Gateway {
    trusted_proxies: &["127.0.0.1/32"],
    ..GATEWAY
};

async fn echo(gw: &Running, headers: &[(&str, &str)]) -> Answer {
    request("GET", &gw.url("/api/users/me"), headers, empty()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_address_scheme_and_host_headers_never_reach_the_upstream() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    let spoofed = [
        ("true-client-ip", "203.0.113.7"),
        ("x-client-ip", "203.0.113.7"),
        ("cf-connecting-ip", "203.0.113.7"),
        ("x-forwarded-ssl", "on"),
        ("x-url-scheme", "https"),
        ("x-original-host", "admin.internal"),
        // Found by a new user's trial: what Rails, Rack, Fastly and Envoy read.
        ("client-ip", "203.0.113.7"),
        ("x-cluster-client-ip", "203.0.113.7"),
        ("fastly-client-ip", "203.0.113.7"),
        ("x-proxyuser-ip", "203.0.113.7"),
        ("x-envoy-external-address", "203.0.113.7"),
        ("x-original-forwarded-for", "203.0.113.7"),
        ("x-forwarded-scheme", "https"),
        ("x-scheme", "https"),
        ("front-end-https", "on"),
        ("x-host", "admin.internal"),
        // CGI and WSGI servers read `_` as `-`: the same headers, spelled to slip by.
        ("x_real_ip", "203.0.113.7"),
        ("x_forwarded_for", "203.0.113.7"),
        ("x_forwarded_proto", "https"),
        ("x_forwarded_host", "admin.internal"),
        ("true_client_ip", "203.0.113.7"),
        ("x_http_method_override", "DELETE"),
        ("x_original_url", "/admin"),
    ];
    let answer = echo(&gw, &spoofed).await;
    assert_eq!(answer.status, 200);
    for (name, _) in spoofed {
        assert_eq!(
            answer.echoed_header(name),
            None,
            "{name} reached the upstream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_real_ip_is_the_verified_client_address() {
    let upstream = mock("a").await;
    // A direct client: its address, whatever it claims.
    let gw = start_with(&upstream).await;
    let answer = echo(&gw, &[("x-real-ip", "203.0.113.7")]).await;
    assert_eq!(
        answer.echoed_header("x-real-ip").as_deref(),
        Some("127.0.0.1")
    );
    // Behind a trusted proxy: the address the proxy says it served.
    let gw = start(
        &BEHIND_PROXY,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;
    let answer = echo(
        &gw,
        &[
            ("x-forwarded-for", "198.51.100.1, 203.0.113.7"),
            ("x-real-ip", "198.51.100.1"),
        ],
    )
    .await;
    assert_eq!(
        answer.echoed_header("x-real-ip").as_deref(),
        Some("203.0.113.7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_proto_is_https_only_when_a_trusted_proxy_says_so() {
    let upstream = mock("a").await;
    let direct = start_with(&upstream).await;
    let answer = echo(&direct, &[("x-forwarded-proto", "https")]).await;
    assert_eq!(
        answer.echoed_header("x-forwarded-proto").as_deref(),
        Some("http"),
        "a direct client chose the scheme"
    );
    let proxied = start(
        &BEHIND_PROXY,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;
    for (said, kept) in [
        ("https", "https"),
        ("HTTPS", "https"),
        ("http", "http"),
        ("https, http", "https"),
        ("javascript", "http"),
        ("", "http"),
    ] {
        let answer = echo(&proxied, &[("x-forwarded-proto", said)]).await;
        assert_eq!(
            answer.echoed_header("x-forwarded-proto").as_deref(),
            Some(kept),
            "the trusted proxy said {said:?}"
        );
    }
}

/// Sends `GET /api/users/me` with this `Host` line as raw bytes (a client library would
/// refuse most of them) and returns what the upstream echoed as `X-Forwarded-Host`.
async fn forwarded_host(gw: &Running, host: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let request =
        format!("GET /api/users/me HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{host:?}: {head}");
    let echoed: serde_json::Value = serde_json::from_str(body).unwrap();
    echoed["headers"]["x-forwarded-host"]
        .as_array()
        .map(|values| values[0].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_host_carries_a_valid_host_only() {
    let upstream = mock("a").await;
    let gw = start_with(&upstream).await;
    for valid in [
        "shop.example.com",
        "shop.example.com:8443",
        "127.0.0.1:8080",
        "[2001:db8::1]:443",
        "localhost",
    ] {
        assert_eq!(
            forwarded_host(&gw, valid).await.as_deref(),
            Some(valid),
            "{valid:?}"
        );
    }
    for invalid in [
        "evil.example/admin",
        "user@evil.example",
        "evil.example?x=1",
        "a b",
        "evil.example:99999",
        "evil.example:",
        "[not-an-address]",
        "",
        "evil.example\"><script>",
    ] {
        assert_eq!(
            forwarded_host(&gw, invalid).await,
            None,
            "{invalid:?} was forwarded"
        );
    }
}
