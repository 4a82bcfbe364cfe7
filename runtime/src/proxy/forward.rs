//! Forwarding to upstreams: instance selection, the pooled HTTP/1.1 client, header
//! rewriting and the streamed, size-limited bodies.
//!
//! Bodies are not buffered (except JSON bodies a route validates, read whole and checked
//! in `serve::dispatch` first): the client's body goes upstream through [`LimitedBody`],
//! which counts bytes so that a chunked body cannot exceed the gateway's limit, and the
//! upstream's body comes back as hyper's own stream. Headers are rewritten in the map the
//! request arrived with, so a request costs no header copies.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};
use http_body::Body;
use hyper::body::Incoming;

use super::breaker::Permit;
use super::hash;
use super::instance::{Instance, Outcome};
use super::policy::Service;
use super::retry;
use super::upstream::{NoInstance, Upstream};
use crate::base::bodies::{BodyError, LimitedBody, Replay};
use crate::base::header_names::same_cgi_name;
use crate::base::problem::Problem;
use crate::base::traceparent::{self, TraceContext};
use crate::edge::cors;

/// `X-Request-Id`, sent upstream and returned to the client.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

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

/// Headers some upstreams (or their frameworks and CDN integrations) trust to tell them
/// the client's address, scheme or host, the original URL or the real method. Only the
/// gateway may say such things, so clients' copies are removed (the gateway sets
/// `X-Forwarded-For/Proto/Host` and `X-Real-IP` itself): an upstream honouring
/// `X-HTTP-Method-Override` would otherwise turn a public GET into a DELETE, one reading
/// `True-Client-IP` would log and rate-limit whatever address the client chose.
const SPOOFABLE: [HeaderName; 26] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("x-url-scheme"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-proxyuser-ip"),
    HeaderName::from_static("x-envoy-external-address"),
    HeaderName::from_static("x-original-forwarded-for"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-scheme"),
    HeaderName::from_static("front-end-https"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Whether `name` spells one of the headers only the gateway sets with `_` for `-`
/// (`x_real_ip`): CGI and WSGI servers read both as `HTTP_X_REAL_IP`, so the client's
/// copy could stand beside, or for, the gateway's.
fn underscore_alias(name: &str) -> bool {
    let same = |ours: &str| same_cgi_name(ours, name);
    name.contains('_')
        && (SPOOFABLE.iter().any(|ours| same(ours.as_str()))
            || [&X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST]
                .iter()
                .any(|ours| same(ours.as_str())))
}

/// Who the gateway forwards a request for: what `X-Forwarded-*` and `X-Real-IP` say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarded {
    /// The TCP peer, appended to `X-Forwarded-For` (and the consistent-hash key's `ip`).
    pub(crate) peer: IpAddr,
    /// The client's address: the peer, or behind trusted proxies the one they name.
    pub(crate) client: IpAddr,
    /// Whether the client used HTTPS: a trusted proxy in front says so, as the gateway
    /// itself serves plain HTTP.
    pub(crate) https: bool,
}

/// Whether a proxy's `X-Forwarded-Proto` says `https`: its left-most value (the scheme
/// the first proxy was reached with), exactly `https` in any case.
pub(crate) fn proxy_says_https(headers: &HeaderMap) -> bool {
    headers
        .get(&X_FORWARDED_PROTO)
        .and_then(|value| value.as_bytes().split(|&b| b == b',').next())
        .is_some_and(|scheme| scheme.trim_ascii().eq_ignore_ascii_case(b"https"))
}

/// `host[:port]`: a DNS name or IPv4 address (letters, digits, `-`, `.`, `_`) or a
/// bracketed IPv6 address, with an optional port of 1 to 5 digits up to 65535. Anything
/// else (a path, userinfo, a query, markup) is not passed on as `X-Forwarded-Host`.
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(colon) if !value.starts_with(b"[") || value[..colon].ends_with(b"]") => {
            (&value[..colon], Some(&value[colon + 1..]))
        }
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len())
            && std::str::from_utf8(port).is_ok_and(|port| port.parse::<u16>().is_ok())
    });
    let host_ok = match host.strip_prefix(b"[") {
        Some(rest) => rest.strip_suffix(b"]").is_some_and(|address| {
            std::str::from_utf8(address).is_ok_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }
    };
    port_ok && host_ok
}

/// Removes the hop-by-hop headers and every header the `Connection` header names.
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

/// What the caller of [`forward`] learns about the upstream exchange, for metrics and the
/// access log: the instance of the last try, how many tries, and when the request was
/// first handed to the client and when the last response head (or failure) came back.
#[derive(Debug, Default, Clone)]
pub(crate) struct Attempt {
    pub(crate) instance: Option<Arc<Instance>>,
    pub(crate) tries: u32,
    pub(crate) sent: Option<Instant>,
    pub(crate) answered: Option<Instant>,
    /// The trace context sent upstream.
    pub(crate) trace: Option<TraceContext>,
}

/// Gives back a breaker permit and an in-flight count if a try is abandoned half-way (the
/// client left, or the total timeout ended it).
struct TryGuard<'a> {
    instance: &'a Instance,
    permit: Option<Permit>,
}

impl Drop for TryGuard<'_> {
    fn drop(&mut self) {
        self.instance.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let (Some(breaker), Some(permit)) = (self.instance.breaker(), self.permit.take()) {
            breaker.cancel(permit);
        }
    }
}

/// How one try ended, for the retry decision.
enum Tried {
    Answer(Response<Incoming>),
    Failed(Problem, Outcome),
    /// The client's body failed: not the upstream's fault, never retried.
    ClientBody(Problem),
}

/// Sends a request upstream and waits for the response head, trying other instances
/// where that is safe (docs/runtime.md, "Upstream resilience"). `parts` are the client's
/// request head, already stripped of hop-by-hop headers (the server does it before the
/// handler checks the request); `path` is the handler's upstream path. `attempt` is filled
/// in as the exchange goes, so that it is right even if this future is dropped half-way.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward(
    upstream: &Upstream,
    operation_id: &str,
    path: String,
    parts: http::request::Parts,
    body: LimitedBody,
    forwarded: Forwarded,
    request_id: &HeaderValue,
    attempt: &mut Attempt,
) -> Result<Response<Incoming>, Problem> {
    let service = upstream.service;
    let policy = upstream.policy();
    let started = Instant::now();
    // The service's own breaker: while open, nothing reaches any instance.
    let service_permit = match &upstream.breaker {
        Some(breaker) => match breaker.acquire(started, &upstream.breaker_name()) {
            Ok(permit) => Some(permit),
            Err(wait) => {
                upstream
                    .counters
                    .rejected_breaker
                    .fetch_add(1, Ordering::Relaxed);
                return Err(circuit_open(service.name, wait));
            }
        },
        None => None,
    };
    let Some(_in_flight) = upstream.admit() else {
        if let (Some(breaker), Some(permit)) = (&upstream.breaker, service_permit) {
            breaker.cancel(permit);
        }
        upstream
            .counters
            .rejected_concurrency
            .fetch_add(1, Ordering::Relaxed);
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "concurrency-limit",
            "Service unavailable",
            format!(
                "service `{}` already has {} requests in flight",
                service.name, policy.max_in_flight
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")));
    };
    let result = tries(
        upstream,
        operation_id,
        &path,
        parts,
        body,
        forwarded,
        request_id,
        attempt,
    )
    .await;
    if let (Some(breaker), Some(permit)) = (&upstream.breaker, service_permit) {
        let failure = match &result {
            Ok(response) => response.status().is_server_error(),
            Err(problem) => problem.status.is_server_error(),
        };
        breaker.record(permit, !failure, Instant::now(), &upstream.breaker_name());
    }
    result
}

/// The tries of one request: the first, and the retries the policy, the method, the body
/// and the budget allow, each on an instance not tried yet.
#[allow(clippy::too_many_arguments)]
async fn tries(
    upstream: &Upstream,
    operation_id: &str,
    path: &str,
    parts: http::request::Parts,
    body: LimitedBody,
    forwarded: Forwarded,
    request_id: &HeaderValue,
    attempt: &mut Attempt,
) -> Result<Response<Incoming>, Problem> {
    let service = upstream.service;
    let policy = upstream.policy();
    let (try_timeout, total_timeout) = upstream.timeouts(operation_id);
    let started = Instant::now();
    let deadline = total_timeout.map(|total| started + total);
    let idempotent = retry::idempotent(&parts.method);
    let key = super::upstream::hash_key(policy, &parts.headers, forwarded.peer);
    let client_version = parts.version;
    let method = parts.method;
    let query = parts.uri.query().map(str::to_owned);
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
    // Collected first because the names borrow the map; only requests with a `_` in a
    // header name pay.
    if headers.keys().any(|name| name.as_str().contains('_')) {
        let aliases: Vec<HeaderName> = headers
            .keys()
            .filter(|name| underscore_alias(name.as_str()))
            .cloned()
            .collect();
        for name in aliases {
            headers.remove(name);
        }
    }
    append_forwarded_for(&mut headers, forwarded.peer);
    let scheme = if forwarded.https { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    match client_host.filter(|host| valid_host(host.as_bytes())) {
        Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host),
        None => headers.remove(&X_FORWARDED_HOST),
    };
    // An address is ASCII: always a valid header value.
    if let Ok(client) = HeaderValue::try_from(forwarded.client.to_string()) {
        headers.insert(X_REAL_IP.clone(), client);
    }
    headers.insert(X_REQUEST_ID.clone(), request_id.clone());
    attempt.trace = Some(traceparent::propagate(&mut headers));

    let limit = body.limit();
    let replay = Replay::new(body);
    let snapshot = upstream.snapshot();
    upstream.budget.request(started);
    let mut tried: Vec<usize> = Vec::new();
    let mut last: Option<Result<Response<Incoming>, Problem>> = None;
    for number in 0..=policy.retries.attempts {
        if number > 0 {
            if !upstream.budget.try_retry(Instant::now()) {
                tracing::debug!(service = service.name, "retry budget exhausted");
                break;
            }
            let pause = retry::backoff(&policy.retries, number, hash::random());
            if !pause.is_zero() {
                let pause = match deadline {
                    Some(deadline) => pause.min(deadline.saturating_duration_since(Instant::now())),
                    None => pause,
                };
                tokio::time::sleep(pause).await;
            }
            upstream.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        let remaining = match deadline {
            Some(deadline) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(total_timed_out(service.name, total_timeout));
                }
                Some(remaining)
            }
            None => None,
        };
        let (index, permit) = match upstream.pick(&snapshot, &tried, key) {
            Ok(picked) => picked,
            Err(why) if number == 0 => return Err(no_instance(upstream, why)),
            // Every instance was tried: what the last try got stands.
            Err(_) => break,
        };
        tried.push(index);
        let instance = &snapshot.entries[index].instance;
        let Some(body) = replay.body(limit) else {
            if let (Some(breaker), Some(permit)) = (instance.breaker(), permit) {
                breaker.cancel(permit);
            }
            break;
        };
        let Some(uri) = instance.uri(path, query.as_deref()) else {
            return Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "the gateway built an invalid upstream path",
            ));
        };
        // The last possible try takes the headers; the others send a copy.
        let last_try = number == policy.retries.attempts;
        let mut try_headers = if last_try {
            std::mem::take(&mut headers)
        } else {
            headers.clone()
        };
        try_headers.insert(header::HOST, instance.host.clone());
        // hyper sends no body for a GET, HEAD or CONNECT of unknown length unless told to
        // chunk it: a client's chunked GET body must not vanish on the way.
        if !body.is_end_stream() && body.size_hint().exact().is_none() {
            try_headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
        let waiting_on_client = body.waiting_on_client();
        let mut request = http::Request::new(body);
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = try_headers;

        attempt.instance = Some(instance.clone());
        attempt.tries = number + 1;
        attempt.sent.get_or_insert(Instant::now());
        instance.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut guard = TryGuard { instance, permit };
        let timeout = remaining.map_or(try_timeout, |r| r.min(try_timeout));
        let result = tokio::time::timeout(timeout, upstream.client.request(request)).await;
        attempt.answered = Some(Instant::now());
        let permit = guard.permit.take();
        drop(guard);
        // A timeout while the client was still to send its body is the client's stall.
        let client_stalled = result.is_err() && waiting_on_client.load(Ordering::Relaxed);
        let tried_result = classify(service, instance, result, limit, timeout, client_stalled);
        let (failure, retryable) = match &tried_result {
            Tried::Answer(response) => {
                let status = response.status();
                (
                    status.is_server_error(),
                    idempotent
                        && matches!(
                            status,
                            StatusCode::BAD_GATEWAY
                                | StatusCode::SERVICE_UNAVAILABLE
                                | StatusCode::GATEWAY_TIMEOUT
                        ),
                )
            }
            // Nothing was sent: any method may go elsewhere.
            Tried::Failed(_, Outcome::ConnectError) => (true, true),
            Tried::Failed(..) => (true, idempotent),
            Tried::ClientBody(_) => (false, false),
        };
        if matches!(tried_result, Tried::ClientBody(_)) {
            if let (Some(breaker), Some(permit)) = (instance.breaker(), permit) {
                breaker.cancel(permit);
            }
        } else {
            upstream.record(&snapshot, index, permit, failure);
        }
        let result = match tried_result {
            Tried::Answer(mut response) => {
                strip_hop_by_hop(response.headers_mut());
                cors::strip_upstream(response.headers_mut());
                // The client talks to the gateway, not to the upstream: an HTTP/1.0 upstream
                // must not turn the answer to an HTTP/1.1 client into an HTTP/1.0 one.
                *response.version_mut() = client_version;
                Ok(response)
            }
            Tried::Failed(problem, _) | Tried::ClientBody(problem) => Err(problem),
        };
        if !retryable || !replay.replayable() || last_try {
            return result;
        }
        last = Some(result);
    }
    last.unwrap_or_else(|| Err(no_instance(upstream, NoInstance::Unhealthy)))
}

type Sent = Result<
    Result<Response<Incoming>, hyper_util::client::legacy::Error>,
    tokio::time::error::Elapsed,
>;

/// Counts one try's outcome on its instance and turns it into a response or a problem.
fn classify(
    service: &Service,
    instance: &Instance,
    result: Sent,
    limit: u64,
    timeout: Duration,
    client_stalled: bool,
) -> Tried {
    let outcome = match &result {
        _ if client_stalled => None,
        Ok(Ok(_)) => Some(Outcome::Ok),
        // The client's body failing is not the upstream's outcome.
        Ok(Err(error)) if body_error(error).is_some() => None,
        Ok(Err(error)) if error.is_connect() => Some(Outcome::ConnectError),
        Ok(Err(_)) => Some(Outcome::Error),
        Err(_elapsed) => Some(Outcome::Timeout),
    };
    if let Some(outcome) = outcome {
        instance.count(outcome);
    }
    match result {
        Ok(Ok(response)) => Tried::Answer(response),
        Ok(Err(error)) => match body_error(&error) {
            Some(BodyError::TooLarge) => Tried::ClientBody(Problem::payload_too_large(limit)),
            // The client broke off its own body; the upstream is not at fault.
            Some(BodyError::Client(cause)) => {
                tracing::debug!(service = service.name, error = %cause, "client body failed");
                Tried::ClientBody(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "incomplete-body",
                    "Incomplete body",
                    "the request body could not be read to its end",
                ))
            }
            None => {
                let outcome = if error.is_connect() {
                    Outcome::ConnectError
                } else {
                    Outcome::Error
                };
                Tried::Failed(upstream_failed(service, instance, &error), outcome)
            }
        },
        Err(_elapsed) if client_stalled => {
            tracing::debug!(service = service.name, "client body stalled");
            Tried::ClientBody(Problem::body_timeout(timeout))
        }
        Err(_elapsed) => {
            tracing::warn!(
                service = service.name,
                upstream = instance.name(),
                timeout_ms = timeout.as_millis() as u64,
                "upstream request timed out"
            );
            Tried::Failed(
                Problem::gateway_timeout(format!(
                    "service `{}` did not answer within {} ms",
                    service.name,
                    timeout.as_millis()
                )),
                Outcome::Timeout,
            )
        }
    }
}

fn total_timed_out(service: &str, total: Option<Duration>) -> Problem {
    Problem::gateway_timeout(format!(
        "service `{service}` did not answer within {} ms in all",
        total.unwrap_or_default().as_millis()
    ))
}

/// 503 with `Retry-After` (whole seconds, at least 1).
fn circuit_open(service: &str, wait: Duration) -> Problem {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "circuit-open",
        "Service unavailable",
        format!("the circuit breaker of service `{service}` is open"),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
}

fn no_instance(upstream: &Upstream, why: NoInstance) -> Problem {
    let service = upstream.service.name;
    let counters = &upstream.counters;
    match why {
        NoInstance::Empty => {
            counters
                .rejected_no_instance
                .fetch_add(1, Ordering::Relaxed);
            Problem::service_unavailable(format!("service `{service}` has no instance configured"))
        }
        NoInstance::Unhealthy => {
            counters
                .rejected_no_instance
                .fetch_add(1, Ordering::Relaxed);
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-healthy-instance",
                "Service unavailable",
                format!("service `{service}` has no healthy instance"),
            )
        }
        NoInstance::BreakersOpen(wait) => {
            counters.rejected_breaker.fetch_add(1, Ordering::Relaxed);
            circuit_open(service, wait)
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
        upstream = instance.name(),
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
    fn hosts_are_names_or_addresses_with_a_port_at_most() {
        for valid in [
            "shop.example.com",
            "shop.example.com:8443",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[2001:db8::1]:65535",
            "internal_host",
        ] {
            assert!(valid_host(valid.as_bytes()), "{valid}");
        }
        for invalid in [
            "",
            ":80",
            "a:",
            "a:65536",
            "a:123456",
            "a:-1",
            "a:b:c",
            "a/b",
            "u@a",
            "a?b",
            "a b",
            "[::1",
            "[x]:80",
            "::1",
            "é.example",
            &"a".repeat(254),
        ] {
            assert!(!valid_host(invalid.as_bytes()), "{invalid}");
        }
    }

    #[test]
    fn underscore_spellings_of_the_gateways_headers_are_aliases() {
        for alias in [
            "x_real_ip",
            "x_forwarded_for",
            "x_forwarded_proto",
            "x_forwarded_host",
            "true_client_ip",
            "x-forwarded_for",
        ] {
            assert!(underscore_alias(alias), "{alias}");
        }
        for other in ["x-real-ip", "x_user_agent", "x_real_ip_", "api_key"] {
            assert!(!underscore_alias(other), "{other}");
        }
    }

    #[test]
    fn only_https_first_is_https() {
        let says = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(value));
            proxy_says_https(&headers)
        };
        assert!(says("https"));
        assert!(says(" HTTPS , http"));
        assert!(!says("http, https"));
        assert!(!says("httpsx"));
        assert!(!proxy_says_https(&HeaderMap::new()));
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
}
