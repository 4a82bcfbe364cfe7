//! Client connections that hold the gateway's resources without using them: silent and
//! half-sent heads, idle keep-alive connections (HTTP/1 and HTTP/2), more connections than
//! the cap, and clients that read nothing of a streamed response. Each deadline is
//! configured short here; every assertion on time has a wide margin both ways.

mod support;

use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openapi_gateway_runtime::{Connections, Gateway};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any deadline of these tests: a connection still open this long after
/// its deadline is never going to be closed.
const GENEROUS: Duration = Duration::from_secs(15);

/// Shorter than any deadline of these tests by a wide margin.
const SOON: Duration = Duration::from_millis(250);

static QUICK: Gateway = Gateway {
    connections: Connections {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(60),
        max_connections: None,
    },
    ..GATEWAY
};

static QUICK_IDLE: Gateway = Gateway {
    connections: Connections {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(1),
        send_timeout: Duration::from_secs(60),
        max_connections: None,
    },
    ..GATEWAY
};

static CAPPED: Gateway = Gateway {
    connections: Connections {
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(60),
        max_connections: Some(2),
    },
    ..GATEWAY
};

static PATIENT: Gateway = Gateway {
    connections: Connections {
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(60),
        max_connections: Some(4000),
    },
    ..GATEWAY
};

static QUICK_SEND: Gateway = Gateway {
    connections: Connections {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(1),
        max_connections: None,
    },
    ..GATEWAY
};

/// Whether the peer closes `stream` within `bound` (reading and dropping whatever comes
/// before the end).
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let drained = async {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(bound, drained).await.is_ok()
}

/// Whether `stream` is still open, with nothing to read, after `wait`.
async fn open_and_quiet_after(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0; 1];
    tokio::time::timeout(wait, stream.read(&mut byte))
        .await
        .is_err()
}

/// Reads one whole response of `Content-Length` framing; returns its status.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "the connection ended inside a response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

const GET_ME: &[u8] = b"GET /api/users/me HTTP/1.1\r\nhost: gateway\r\n\r\n";

/// A gateway with `limits` in front of one mock upstream (kept alive by the caller).
async fn gateway(limits: &'static Gateway) -> (Mock, Running) {
    let upstream = mock("a").await;
    let gw = start(
        limits,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;
    (upstream, gw)
}

/// An HTTP/2 (prior knowledge) connection to the gateway: its request sender, and the
/// connection future, which ends when the gateway closes it.
async fn h2(
    gw: &Running,
) -> (
    hyper::client::conn::http2::SendRequest<TestBody>,
    hyper::client::conn::http2::Connection<TokioIo<TcpStream>, TestBody, TokioExecutor>,
) {
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let (_upstream, gw) = gateway(&QUICK).await;
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    assert!(
        open_and_quiet_after(&mut silent, SOON).await,
        "closed long before the 1 s header timeout"
    );
    assert!(
        closed_within(&mut silent, GENEROUS).await,
        "a connection that sent nothing was still open after {GENEROUS:?} (header timeout 1 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stalls_inside_its_first_head_is_closed() {
    let (_upstream, gw) = gateway(&QUICK).await;
    // HTTP/1: a request line and one header, then nothing. HTTP/2: part of the preface,
    // which the server reads before it knows the protocol.
    for partial in [
        &b"GET /api/users/me HTTP/1.1\r\nhost: gateway\r\n"[..],
        &b"PRI * HTTP/2.0\r\n"[..],
    ] {
        let mut stalled = TcpStream::connect(gw.addr).await.unwrap();
        stalled.write_all(partial).await.unwrap();
        assert!(
            open_and_quiet_after(&mut stalled, SOON).await,
            "closed long before the 1 s header timeout"
        );
        assert!(
            closed_within(&mut stalled, GENEROUS).await,
            "a connection stalled after {:?} was still open after {GENEROUS:?} (header timeout 1 s)",
            String::from_utf8_lossy(partial)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_head_that_stalls_is_closed_after_the_header_timeout() {
    let (_upstream, gw) = gateway(&QUICK).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(GET_ME).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
    // The second request's head starts and stops: the header timeout, not the idle
    // timeout (60 s here), applies.
    stream
        .write_all(b"GET /api/users/me HTTP/1.1\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut stream, GENEROUS).await,
        "a keep-alive connection stalled inside its second head was still open after {GENEROUS:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_that_sends_no_request_is_closed() {
    let (_upstream, gw) = gateway(&QUICK).await;
    let (_send, connection) = h2(&gw).await;
    let ended = tokio::time::timeout(GENEROUS, connection).await;
    assert!(
        ended.is_ok(),
        "an HTTP/2 connection with no request was still open after {GENEROUS:?} (header timeout 1 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let (_upstream, gw) = gateway(&QUICK_IDLE).await;
    // HTTP/1.1: one request, then nothing.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(GET_ME).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
    assert!(
        open_and_quiet_after(&mut stream, SOON).await,
        "closed long before the 1 s idle timeout"
    );
    assert!(
        closed_within(&mut stream, GENEROUS).await,
        "an idle HTTP/1.1 connection was still open after {GENEROUS:?} (idle timeout 1 s)"
    );

    // HTTP/2: one request, then nothing; the connection ends (GOAWAY, then close).
    let (mut send, connection) = h2(&gw).await;
    let mut connection = tokio::spawn(connection);
    let request = http::Request::get(gw.url("/api/users/me"))
        .body(empty())
        .unwrap();
    let answer = collect(send.send_request(request).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    let ended = tokio::time::timeout(GENEROUS, &mut connection).await;
    assert!(
        ended.is_ok(),
        "an idle HTTP/2 connection was still open after {GENEROUS:?} (idle timeout 1 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_new_connections_wait_and_are_served_once_a_slot_frees() {
    let (_upstream, gw) = gateway(&CAPPED).await;
    let mut first = TcpStream::connect(gw.addr).await.unwrap();
    first.write_all(GET_ME).await.unwrap();
    assert_eq!(read_response(&mut first).await, 200);
    let mut second = TcpStream::connect(gw.addr).await.unwrap();
    second.write_all(GET_ME).await.unwrap();
    assert_eq!(read_response(&mut second).await, 200);

    // The kernel completes the handshake (the listen backlog), but the gateway does not
    // take the connection while two are open: no answer, and no error either.
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    third.write_all(GET_ME).await.unwrap();
    assert!(
        open_and_quiet_after(&mut third, Duration::from_millis(500)).await,
        "a third connection was answered (or refused) at a cap of 2"
    );
    drop(first);
    let status = tokio::time::timeout(GENEROUS, read_response(&mut third)).await;
    assert_eq!(
        status.ok(),
        Some(200),
        "the waiting connection was not served once a slot was free"
    );
}

/// Raises this process's soft limit on open files to its hard limit.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_silent_connections_do_not_stop_a_client_being_served() {
    // 1,000 connections are 2,000 descriptors in this process (both ends).
    let limit = raise_fd_limit();
    assert!(
        limit >= 2_500,
        "this test needs 2,500 file descriptors, the limit is {limit}"
    );
    let (_upstream, gw) = gateway(&PATIENT).await;
    let mut silent = Vec::new();
    for _ in 0..1_000 {
        silent.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    let answer = tokio::time::timeout(GENEROUS, get(&gw.url("/api/users/me"))).await;
    assert_eq!(answer.expect("served within the bound").status, 200);
    // They are still open (their header timeout is 60 s): they did not need closing for
    // the client to be served.
    let mut last = silent.pop().unwrap();
    assert!(open_and_quiet_after(&mut last, SOON).await);
}

/// An upstream whose every answer is `size` bytes, streamed in 64 KiB chunks; `dropped`
/// turns true when the gateway stops reading it.
async fn big_upstream(size: usize) -> (String, tokio::sync::watch::Receiver<bool>) {
    let (dropped_tx, dropped) = tokio::sync::watch::channel(false);
    let dropped_tx = std::sync::Arc::new(dropped_tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || {
        let dropped_tx = dropped_tx.clone();
        async move {
            struct Signal(std::sync::Arc<tokio::sync::watch::Sender<bool>>);
            impl Drop for Signal {
                fn drop(&mut self) {
                    let _ = self.0.send(true);
                }
            }
            let signal = Signal(dropped_tx);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = futures_util::stream::iter(
                std::iter::repeat_n(chunk, size / (64 * 1024)).map(Ok::<_, std::io::Error>),
            );
            let chunks = futures_util::StreamExt::map(chunks, move |chunk| {
                let _held = &signal;
                chunk
            });
            axum::body::Body::from_stream(chunks)
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_of_a_streamed_response_is_cut_after_the_send_timeout() {
    const SIZE: usize = 256 * 1024 * 1024;
    let (url, mut dropped) = big_upstream(SIZE).await;
    let gw = start(&QUICK_SEND, &[("users", vec![url])], Duration::from_secs(5)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(gw.addr).await.unwrap();
    stream.write_all(GET_ME).await.unwrap();
    // The gateway gives up the upstream's body when it gives up the client.
    let cut = tokio::time::timeout(GENEROUS, dropped.wait_for(|dropped| *dropped)).await;
    assert!(
        cut.is_ok(),
        "the gateway still streamed to a client that read nothing after {GENEROUS:?} (send timeout 1 s)"
    );
    // What was in flight arrives, then the end: far less than the whole body.
    let mut received = 0;
    let mut buffer = vec![0; 64 * 1024];
    let drained = tokio::time::timeout(GENEROUS, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the connection did not end");
    assert!(received < SIZE / 2, "{received} bytes arrived of {SIZE}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_slowly_but_steadily_gets_the_whole_response() {
    const SIZE: usize = 2 * 1024 * 1024;
    let (url, _dropped) = big_upstream(SIZE).await;
    let gw = start(&QUICK_SEND, &[("users", vec![url])], Duration::from_secs(5)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /api/users/me HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    // Pauses of 10 ms between reads: progress well within the 1 s send timeout.
    let mut received = 0;
    let mut buffer = vec![0; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(read.is_ok(), "the slow read did not finish");
    assert!(
        received > SIZE,
        "{received} bytes arrived of {SIZE} and a head"
    );
}
