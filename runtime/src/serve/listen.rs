//! The public listener's accept loop: one task per connection, HTTP/1.1 or h2c as the
//! client speaks, at most `max_connections` at once, each connection held to the
//! deadlines of `gateway.limits`, drained gracefully at shutdown.
//!
//! hyper has no deadline before it knows the protocol, none between HTTP/2 requests, and
//! its HTTP/1 header timeout also runs through keep-alive idleness; so the deadlines are
//! kept here, in one place, from what the connection does: bytes read and written (the
//! [`Watched`] socket), requests started and responses handed over ([`InFlight`], held by
//! each response body). A [`Watchdog`] beside the connection turns that into the next
//! deadline (docs/runtime.md, "Security"):
//!
//! - no request yet: `header_timeout` from accept (protocol detection included);
//! - HTTP/1, between requests: `header_timeout` from the first byte of the next head;
//! - nothing in flight: `idle_timeout`, then a graceful close (HTTP/2: GOAWAY);
//! - a response (or its head) waiting for the client to take it: `send_timeout` without
//!   progress.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tracing::{debug, error, warn};

use crate::gateway::Connections;
use crate::serve::dispatch::{State, handle};

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// TCP keepalive of accepted sockets (Go's `net` defaults): a peer that vanished without
/// a FIN is noticed within minutes even while its connection waits on an upstream.
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// HTTP/2 keep-alive: a PING every interval, and the connection closed if it is not
/// acknowledged in time (hyper's default timeout).
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// After a graceful close was asked for (idle, or shutdown), how long an idle connection
/// may take to end by itself before it is dropped (a GOAWAY the client does not answer).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The accept loop of the public listener. Connections run as tasks of a `JoinSet`, so
/// the ones still open when the drain bound elapses are aborted, not leaked.
pub(super) async fn serve_public(
    listener: TcpListener,
    state: Arc<State>,
    limits: Connections,
    max_connections: usize,
    stop: impl Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The watchdog keeps every HTTP/1 deadline; hyper's own header timeout would also run
    // through keep-alive idleness.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        while connections.try_join_next().is_some() {}
        // Back-pressure: at the cap nothing is accepted, and new connections wait in the
        // listen backlog until one closes, rather than being accepted and closed.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        configure(&stream);
        let connection = serve_connection(
            builder.clone(),
            state.clone(),
            stream,
            peer.ip(),
            limits,
            closing_rx.clone(),
        );
        connections.spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(drain, drained).await.is_err() {
        warn!(
            connections = connections.len(),
            "connections still open after the shutdown timeout; closing them"
        );
    }
    connections.shutdown().await;
}

fn configure(stream: &TcpStream) {
    // Small request and response heads must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_IDLE)
        .with_interval(TCP_KEEPALIVE_INTERVAL);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

/// One connection, from accept to close.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<State>,
    stream: TcpStream,
    peer: IpAddr,
    limits: Connections,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |request: http::Request<Incoming>| {
            let in_flight = InFlight::start(&activity, request.version());
            let state = state.clone();
            async move {
                let response = handle(state, peer, request).await?;
                Ok::<_, Infallible>(response.map(|body| Tracked { body, in_flight }))
            }
        })
    };
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut watchdog = std::pin::pin!(Watchdog::new(activity, limits));
    let mut shutdown = std::pin::pin!(async move {
        // An error means the sender is gone, which only happens once serving is over.
        let _ = closing.wait_for(|closing| *closing).await;
    });
    let mut asked_to_close = false;
    loop {
        // Biased: the watchdog looks after the connection has run, so that it sees what
        // this poll changed.
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(error) = result {
                    debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = &mut shutdown, if !asked_to_close => {
                asked_to_close = true;
                connection.as_mut().graceful_shutdown();
                watchdog.as_mut().closing();
            }
            verdict = watchdog.as_mut() => match verdict {
                Verdict::Idle => {
                    asked_to_close = true;
                    connection.as_mut().graceful_shutdown();
                    watchdog.as_mut().closing();
                }
                Verdict::Close(reason) => {
                    debug!(%peer, reason, "closing the connection");
                    return;
                }
            },
        }
    }
}

async fn accept_failed(error: io::Error) {
    use io::ErrorKind;
    // These concern one connection that went away before it was accepted.
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        debug!(%error, "accept failed");
        return;
    }
    error!(%error, "accept failed; pausing");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// What a connection did, written by its socket, its requests and its response bodies
/// (an HTTP/2 stream runs in a task of its own), read by its watchdog. Times are
/// milliseconds since accept.
struct Activity {
    accepted: Instant,
    requests: AtomicU64,
    in_flight: AtomicU32,
    http2: AtomicBool,
    /// When the last request in flight ended.
    idle_since: AtomicU64,
    /// One more than when the first byte arrived while nothing was in flight (the start
    /// of an HTTP/1 head); 0: none since.
    head_since: AtomicU64,
    /// Response frames handed to hyper that it has not come back for: it is waiting for
    /// the client to make room.
    handed_over: AtomicU32,
    /// The last socket write returned `Pending`: the client's window is full.
    write_blocked: AtomicBool,
    /// When the client last took something of a response.
    progress: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            http2: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            handed_over: AtomicU32::new(0),
            write_blocked: AtomicBool::new(false),
            progress: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, millis: u64) -> Instant {
        self.accepted + Duration::from_millis(millis)
    }

    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    fn progressed(&self) {
        self.progress.store(self.now(), Ordering::Relaxed);
    }

    /// The next deadline and what happens at it, from what the connection has done;
    /// `None` while nothing is due (a request in flight, its response not waiting).
    fn next(&self, limits: &Connections, closing: Option<Instant>) -> Option<(Instant, Verdict)> {
        let waiting = self.handed_over.load(Ordering::Acquire) > 0
            || self.write_blocked.load(Ordering::Relaxed);
        if waiting {
            let since = self.at(self.progress.load(Ordering::Relaxed));
            return Some((since + limits.send_timeout, Verdict::Close("send_timeout")));
        }
        if self.requests.load(Ordering::Relaxed) == 0 {
            return Some((
                self.accepted + limits.header_timeout,
                Verdict::Close("header_timeout"),
            ));
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head > 0 && !self.http2.load(Ordering::Relaxed) {
            let since = self.at(head - 1);
            return Some((
                since + limits.header_timeout,
                Verdict::Close("header_timeout"),
            ));
        }
        let idle = self.at(self.idle_since.load(Ordering::Relaxed));
        Some(match closing {
            Some(asked) => (
                asked.max(idle) + CLOSE_GRACE,
                Verdict::Close("did not close when asked"),
            ),
            None => (idle + limits.idle_timeout, Verdict::Idle),
        })
    }
}

/// What the watchdog decided.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Idle past `idle_timeout`: close gracefully.
    Idle,
    /// Past a deadline: drop the connection (the limit's name, for the log).
    Close(&'static str),
}

/// A request from its head until its response has been handed over whole (or dropped);
/// held by the response body.
struct InFlight {
    activity: Arc<Activity>,
    /// A frame was handed over and hyper has not come back for the next one.
    handed_over: bool,
}

impl InFlight {
    fn start(activity: &Arc<Activity>, version: http::Version) -> InFlight {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        if version == http::Version::HTTP_2 {
            activity.http2.store(true, Ordering::Relaxed);
        }
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(0, Ordering::Relaxed);
        InFlight {
            activity: activity.clone(),
            handed_over: false,
        }
    }

    fn set_handed_over(&mut self, handed_over: bool) {
        if self.handed_over == handed_over {
            return;
        }
        self.handed_over = handed_over;
        // Either way the client took something: hyper took a frame, or came back for more.
        self.activity.progressed();
        if handed_over {
            self.activity.handed_over.fetch_add(1, Ordering::AcqRel);
        } else {
            self.activity.handed_over.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.handed_over {
            self.activity.handed_over.fetch_sub(1, Ordering::AcqRel);
        }
        // Written first, so that whoever sees nothing in flight sees when that began.
        self.activity
            .idle_since
            .store(self.activity.now(), Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells its connection when hyper takes its frames.
    struct Tracked<B> {
        #[pin]
        body: B,
        in_flight: InFlight,
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        this.in_flight.set_handed_over(false);
        let polled = this.body.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled
            && !this.body.is_end_stream()
        {
            this.in_flight.set_handed_over(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The accepted socket, noting reads and writes in the connection's [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.read();
        }
        Poll::Ready(Ok(()))
    }
}

impl Watched {
    fn wrote(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &written {
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.activity.progressed();
                self.activity.write_blocked.store(false, Ordering::Relaxed);
            }
            Poll::Ready(_) => {}
        }
        written
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How often the watchdog looks again while nothing is due: what changes in an HTTP/2
/// stream's own task does not wake the connection's.
const RECHECK: Duration = Duration::from_secs(5);

pin_project_lite::pin_project! {
    /// Completes when the connection is past one of its deadlines.
    struct Watchdog {
        activity: Arc<Activity>,
        limits: Connections,
        closing: Option<Instant>,
        armed: Armed,
        #[pin]
        sleep: Sleep,
    }
}

/// What the watchdog's timer is set for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Armed {
    Deadline(Instant),
    /// Nothing was due: a look again after [`RECHECK`].
    Recheck,
    /// Went off: to be set again.
    Spent,
}

impl Watchdog {
    fn new(activity: Arc<Activity>, limits: Connections) -> Watchdog {
        let first = activity.accepted + limits.header_timeout;
        Watchdog {
            activity,
            limits,
            closing: None,
            armed: Armed::Deadline(first),
            sleep: tokio::time::sleep_until(first),
        }
    }

    /// A graceful close was asked for: once idle, the connection gets [`CLOSE_GRACE`].
    fn closing(self: Pin<&mut Self>) {
        let this = self.project();
        this.closing.get_or_insert_with(Instant::now);
    }
}

impl Future for Watchdog {
    type Output = Verdict;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict> {
        let mut this = self.project();
        loop {
            match this.activity.next(this.limits, *this.closing) {
                Some((deadline, verdict)) => {
                    if *this.armed != Armed::Deadline(deadline) {
                        *this.armed = Armed::Deadline(deadline);
                        this.sleep.as_mut().reset(deadline);
                    }
                    ready!(this.sleep.as_mut().poll(cx));
                    return Poll::Ready(verdict);
                }
                None => {
                    // A deadline still set (the idle one, typically: a request came) is
                    // left to go off and be looked at then, sparing a timer reset per
                    // request.
                    if *this.armed == Armed::Spent {
                        *this.armed = Armed::Recheck;
                        this.sleep.as_mut().reset(Instant::now() + RECHECK);
                    }
                    ready!(this.sleep.as_mut().poll(cx));
                    *this.armed = Armed::Spent;
                }
            }
        }
    }
}
