//! Forwarding to upstreams: instance selection, the pooled HTTP/1.1 client, header
//! rewriting and the streamed, size-limited bodies.
//!
//! Bodies are not buffered (except JSON bodies a route validates, read whole and checked
//! in `server` first): the client's body goes upstream through [`LimitedBody`],
//! which counts bytes so that a chunked body cannot exceed the gateway's limit, and the
//! upstream's body comes back as hyper's own stream. Headers are rewritten in the map the
//! request arrived with, so a request costs no header copies.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::problem::Problem;
use crate::traceparent::{self, TraceContext};
use crate::{Gateway, Service};

/// `X-Request-Id`, sent upstream and returned to the client.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Hop-by-hop headers (RFC 9110 7.6.1 and the ones proxies still meet in practice): they
/// describe one connection, so they are never passed on to the next one.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
];

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Removes the hop-by-hop headers and every header the `Connection` header names.
/// Headers some upstreams trust to tell them the client's address, the original URL or the
/// real method. Only the gateway may say such things, so clients' copies are removed (the
/// gateway sets `X-Forwarded-For/Proto/Host` itself): an upstream honouring
/// `X-HTTP-Method-Override` would otherwise turn a public GET into a DELETE.
const SPOOFABLE: [HeaderName; 10] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if let header::Entry::Occupied(entry) = headers.entry(header::CONNECTION) {
        // Collected first because the names borrow values of the map being edited; only
        // requests that carry `Connection` pay for it.
        let values: Vec<HeaderValue> = entry.remove_entry_mult().1.collect();
        for value in &values {
            let Ok(value) = value.to_str() else { continue };
            for token in value.split(',') {
                let token = token.trim();
                if !token.is_empty() {
                    headers.remove(token);
                }
            }
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// How an attempt to get a response head from an upstream instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The response head arrived (whatever its status).
    Ok,
    /// No connection could be made.
    ConnectError,
    /// The service's request timeout elapsed first.
    Timeout,
    /// The connection failed or the upstream answered something that is not HTTP.
    Error,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::ConnectError,
        Outcome::Timeout,
        Outcome::Error,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ConnectError => "connect_error",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

/// What the caller of [`forward`] learns about the upstream exchange, for metrics and the
/// access log: which instance, and when the request was handed to the client and when the
/// response head (or the failure) came back.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Attempt {
    /// Index of the instance within its service.
    pub(crate) instance: Option<usize>,
    pub(crate) sent: Option<Instant>,
    pub(crate) answered: Option<Instant>,
    /// The trace context sent upstream.
    pub(crate) trace: Option<TraceContext>,
}

/// One instance of a service, parsed once at start.
#[derive(Debug)]
struct Instance {
    /// The base URL it was parsed from.
    url: String,
    authority: Authority,
    /// The `Host` sent upstream.
    host: HeaderValue,
    /// The base URL's path, without a trailing `/` (empty for none).
    prefix: String,
    /// Attempts by outcome, indexed like `Outcome::ALL`.
    attempts: [AtomicU64; 4],
}

impl Instance {
    fn parse(service: &str, url: &str) -> Result<Instance, String> {
        let bad = |why: &str| format!("service `{service}`: upstream URL `{url}` {why}");
        let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("uses https, which is not supported yet")),
            _ => return Err(bad("must start with http://")),
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(bad("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(bad("must not carry credentials"));
        }
        if authority.host().is_empty() {
            return Err(bad("has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("has a host that is not a valid header value"))?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Instance {
            url: url.to_owned(),
            authority,
            host,
            prefix,
            attempts: Default::default(),
        })
    }

    /// The upstream URI: this instance's base, the handler's path, the client's raw query.
    fn uri(&self, path: String, query: Option<&str>) -> Option<Uri> {
        if !path.starts_with('/') {
            return None;
        }
        let extra = query.map_or(0, |q| q.len() + 1);
        let mut target = if self.prefix.is_empty() && extra == 0 {
            path
        } else {
            let mut target = String::with_capacity(self.prefix.len() + path.len() + extra);
            target.push_str(&self.prefix);
            target.push_str(&path);
            target
        };
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target)).ok()?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).ok()
    }
}

/// One service's instances, balancer and pooled client.
pub(crate) struct Upstream {
    pub(crate) service: &'static Service,
    /// An immutable snapshot, replaced whole when discovery changes the set.
    instances: RwLock<Arc<Vec<Arc<Instance>>>>,
    next: AtomicUsize,
    client: Client<HttpConnector, LimitedBody>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("service", &self.service.name)
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    fn new(service: &'static Service, urls: &[String]) -> Result<Upstream, String> {
        let instances = urls
            .iter()
            .map(|url| Instance::parse(service.name, url).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(service.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Upstream {
            service,
            instances: RwLock::new(Arc::new(instances)),
            next: AtomicUsize::new(0),
            client,
        })
    }

    pub(crate) fn service(&self) -> &'static Service {
        self.service
    }

    pub(crate) fn has_instances(&self) -> bool {
        !self.snapshot().is_empty()
    }

    /// The current instance set.
    fn snapshot(&self) -> Arc<Vec<Arc<Instance>>> {
        // A poisoned lock still holds a whole snapshot: writers only swap the `Arc`.
        self.instances
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the instance set (DNS discovery). Instances whose URL stays keep their
    /// counters; nothing changes if any URL is invalid.
    pub(crate) fn set_urls(&self, urls: &[String]) -> Result<(), String> {
        let current = self.snapshot();
        let next = urls
            .iter()
            .map(|url| match current.iter().find(|i| i.url == *url) {
                Some(kept) => Ok(kept.clone()),
                None => Instance::parse(self.service.name, url).map(Arc::new),
            })
            .collect::<Result<Vec<_>, _>>()?;
        *self
            .instances
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// Round robin over the instances.
    fn pick(&self) -> Option<(usize, Arc<Instance>)> {
        let instances = self.snapshot();
        if instances.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % instances.len();
        instances
            .get(index)
            .map(|instance| (index, instance.clone()))
    }

    /// The `host:port` of an instance, for logs (of the current set: an index picked
    /// before discovery changed the set may name another instance).
    pub(crate) fn instance_name(&self, index: usize) -> Option<String> {
        self.snapshot()
            .get(index)
            .map(|instance| instance.authority.as_str().to_owned())
    }

    /// Each current instance's `host:port` with its attempt counts by outcome.
    pub(crate) fn attempts(&self) -> Vec<(String, [(Outcome, u64); 4])> {
        self.snapshot()
            .iter()
            .map(|instance| {
                let counts = std::array::from_fn(|i| {
                    (
                        Outcome::ALL[i],
                        instance.attempts[i].load(Ordering::Relaxed),
                    )
                });
                (instance.authority.as_str().to_owned(), counts)
            })
            .collect()
    }
}

/// Every service's upstream, indexed like `Gateway::services`.
#[derive(Debug)]
pub(crate) struct Upstreams {
    upstreams: Vec<Upstream>,
}

impl Upstreams {
    /// Parses every service's URLs, taking `overrides` (by service name) over the
    /// compiled-in ones. Must run inside a tokio runtime (the pool's timer needs one).
    pub(crate) fn new(
        gateway: &'static Gateway,
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Upstreams, String> {
        if let Some(unknown) = overrides
            .keys()
            .find(|name| !gateway.services.iter().any(|s| s.name == name.as_str()))
        {
            return Err(format!("upstream override for unknown service `{unknown}`"));
        }
        let upstreams = gateway
            .services
            .iter()
            .map(|service| match overrides.get(service.name) {
                Some(urls) => Upstream::new(service, urls),
                None => {
                    let urls: Vec<String> = service.urls.iter().map(|u| (*u).to_owned()).collect();
                    Upstream::new(service, &urls)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams { upstreams })
    }

    pub(crate) fn get(&self, service: usize) -> Option<&Upstream> {
        self.upstreams.get(service)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter()
    }
}

/// Sends a request upstream and waits for the response head. `parts` are the client's
/// request head, already stripped of hop-by-hop headers (the server does it before the
/// handler checks the request); `path` is the handler's upstream path. `attempt` is filled
/// in as the exchange goes, so that it is right even if this future is dropped half-way.
pub(crate) async fn forward(
    upstream: &Upstream,
    path: String,
    parts: http::request::Parts,
    body: LimitedBody,
    client_ip: IpAddr,
    request_id: &HeaderValue,
    attempt: &mut Attempt,
) -> Result<Response<Incoming>, Problem> {
    let service = upstream.service;
    let Some((index, instance)) = upstream.pick() else {
        return Err(Problem::service_unavailable(format!(
            "service `{}` has no instance configured",
            service.name
        )));
    };
    let Some(uri) = instance.uri(path, parts.uri.query()) else {
        return Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal error",
            "the gateway built an invalid upstream path",
        ));
    };

    let client_version = parts.version;
    let mut headers = parts.headers;
    // HTTP/2 clients send `:authority` instead of `Host`.
    let client_host = match headers.remove(header::HOST) {
        Some(host) => Some(host),
        None => parts
            .uri
            .authority()
            .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok()),
    };
    // `100-continue` was already answered to the client by the server side of the gateway.
    headers.remove(header::EXPECT);
    for name in &SPOOFABLE {
        headers.remove(name);
    }
    headers.insert(header::HOST, instance.host.clone());
    append_forwarded_for(&mut headers, client_ip);
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    match client_host {
        Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host),
        None => headers.remove(&X_FORWARDED_HOST),
    };
    headers.insert(X_REQUEST_ID.clone(), request_id.clone());
    attempt.trace = Some(traceparent::propagate(&mut headers));

    // hyper sends no body for a GET, HEAD or CONNECT of unknown length unless told to
    // chunk it: a client's chunked GET body must not vanish on the way.
    if !body.is_end_stream() && body.size_hint().exact().is_none() {
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    let limit = body.limit;
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;

    attempt.instance = Some(index);
    attempt.sent = Some(Instant::now());
    let sent = tokio::time::timeout(service.request_timeout, upstream.client.request(request));
    let result = sent.await;
    attempt.answered = Some(Instant::now());
    let outcome = match &result {
        Ok(Ok(_)) => Some(Outcome::Ok),
        // The client's body failing is not the upstream's outcome.
        Ok(Err(error)) if body_error(error).is_some() => None,
        Ok(Err(error)) if error.is_connect() => Some(Outcome::ConnectError),
        Ok(Err(_)) => Some(Outcome::Error),
        Err(_elapsed) => Some(Outcome::Timeout),
    };
    if let Some(outcome) = outcome {
        instance.attempts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }
    match result {
        Ok(Ok(mut response)) => {
            strip_hop_by_hop(response.headers_mut());
            // The client talks to the gateway, not to the upstream: an HTTP/1.0 upstream
            // must not turn the answer to an HTTP/1.1 client into an HTTP/1.0 one.
            *response.version_mut() = client_version;
            Ok(response)
        }
        Ok(Err(error)) => match body_error(&error) {
            Some(BodyError::TooLarge) => Err(Problem::payload_too_large(limit)),
            // The client broke off its own body; the upstream is not at fault.
            Some(BodyError::Client(cause)) => {
                tracing::debug!(service = service.name, error = %cause, "client body failed");
                Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "incomplete-body",
                    "Incomplete body",
                    "the request body could not be read to its end",
                ))
            }
            None => Err(upstream_failed(service, &instance, &error)),
        },
        Err(_elapsed) => {
            tracing::warn!(
                service = service.name,
                upstream = %instance.authority,
                timeout_ms = service.request_timeout.as_millis() as u64,
                "upstream request timed out"
            );
            Err(Problem::gateway_timeout(format!(
                "service `{}` did not answer within {} ms",
                service.name,
                service.request_timeout.as_millis()
            )))
        }
    }
}

/// Appends the client's address to `X-Forwarded-For`, folding earlier fields into one.
fn append_forwarded_for(headers: &mut HeaderMap, client_ip: IpAddr) {
    let mut value = BytesMut::new();
    for earlier in headers.get_all(&X_FORWARDED_FOR) {
        value.extend_from_slice(earlier.as_bytes());
        value.extend_from_slice(b", ");
    }
    // Writing to a `BytesMut` cannot fail.
    let _ = write!(value, "{client_ip}");
    // Earlier values were valid header values and an IP address is ASCII, so this only
    // fails if the map held something hyper would not have parsed.
    if let Ok(value) = HeaderValue::from_maybe_shared(value.freeze()) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
}

/// The client body's own error, if that is what stopped the upstream request.
fn body_error<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e BodyError> {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(body_error) = error.downcast_ref::<BodyError>() {
            return Some(body_error);
        }
        source = error.source();
    }
    None
}

fn upstream_failed(
    service: &Service,
    instance: &Instance,
    error: &hyper_util::client::legacy::Error,
) -> Problem {
    tracing::warn!(
        service = service.name,
        upstream = %instance.authority,
        error = %ErrorChain(error),
        "upstream request failed"
    );
    let detail = if error.is_connect() {
        format!("could not connect to service `{}`", service.name)
    } else {
        format!("service `{}` did not answer properly", service.name)
    };
    Problem::bad_gateway(detail)
}

/// Displays an error with its sources, for logs.
struct ErrorChain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// Why the client's body stopped on its way upstream.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the gateway's `max_body` bytes went through.
    TooLarge,
    /// Reading from the client failed.
    Client(hyper::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("request body exceeds the limit"),
            BodyError::Client(_) => f.write_str("reading the request body failed"),
        }
    }
}

impl StdError for BodyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BodyError::TooLarge => None,
            BodyError::Client(error) => Some(error),
        }
    }
}

/// The client's body on its way upstream: streamed as it arrives, failing as soon as more
/// than `limit` bytes went through; or, for a body the gateway validated, the bytes it
/// read, unchanged.
#[derive(Debug)]
pub(crate) struct LimitedBody {
    source: Source,
    limit: u64,
    remaining: u64,
}

#[derive(Debug)]
enum Source {
    Stream(Incoming),
    /// Read whole (and checked) by the gateway; `None` once sent.
    Full(Option<Bytes>),
}

impl LimitedBody {
    pub(crate) fn new(inner: Incoming, limit: u64) -> LimitedBody {
        LimitedBody {
            source: Source::Stream(inner),
            limit,
            remaining: limit,
        }
    }

    /// A body already read whole (within `limit`).
    pub(crate) fn full(bytes: Bytes, limit: u64) -> LimitedBody {
        LimitedBody {
            source: Source::Full(Some(bytes)),
            limit,
            remaining: limit,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let inner = match &mut this.source {
            Source::Stream(inner) => inner,
            Source::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        };
        let frame = match ready!(Pin::new(inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(BodyError::Client(error)))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > this.remaining {
                this.remaining = 0;
                return Poll::Ready(Some(Err(BodyError::TooLarge)));
            }
            this.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Stream(inner) => inner.is_end_stream(),
            Source::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Stream(inner) => inner.size_hint(),
            Source::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The body of every response the public listener sends: an upstream's stream, or a
/// complete body the gateway made (problems, the OpenAPI document).
#[derive(Debug)]
pub(crate) enum ResponseBody {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

impl ResponseBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Full(Some(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ResponseBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream(body) => body.is_end_stream(),
            ResponseBody::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream(body) => body.size_hint(),
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_stripped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Private"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("trailer", "x-checksum"),
            ("x-private", "1"),
            ("x-other", "1"),
            ("x-kept", "1"),
            ("content-length", "3"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut headers = HeaderMap::new();
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        append_forwarded_for(&mut headers, "127.0.0.1".parse().unwrap());
        assert_eq!(
            headers.get_all(&X_FORWARDED_FOR).iter().collect::<Vec<_>>(),
            ["203.0.113.9, 198.51.100.1, 127.0.0.1"]
        );
        let mut headers = HeaderMap::new();
        append_forwarded_for(&mut headers, "::1".parse().unwrap());
        assert_eq!(headers[&X_FORWARDED_FOR], "::1");
    }

    #[test]
    fn instance_urls_are_checked_and_joined() {
        let instance = Instance::parse("users", "http://127.0.0.1:9001/v1/").unwrap();
        assert_eq!(instance.host, "127.0.0.1:9001");
        assert_eq!(
            instance.uri("/users/7".into(), Some("a=1&b=%20")).unwrap(),
            "http://127.0.0.1:9001/v1/users/7?a=1&b=%20"
        );
        let bare = Instance::parse("users", "http://users.internal").unwrap();
        assert_eq!(
            bare.uri("/users/7".into(), None).unwrap(),
            "http://users.internal/users/7"
        );
        assert!(bare.uri("users".into(), None).is_none());
        for bad in [
            "127.0.0.1:9001",
            "https://127.0.0.1",
            "ftp://x",
            "http://user:pw@host",
            "http://host/?q=1",
            "not a url",
            "",
        ] {
            assert!(Instance::parse("users", bad).is_err(), "{bad}");
        }
    }
}
