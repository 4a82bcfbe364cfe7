//! The life of one request as metrics and the access log see it, from its head arriving to
//! the end of its response.
//!
//! An [`Exchange`] starts with the request and travels into the response body
//! ([`ObservedBody`]), so a request is counted when its response has been handed to the
//! connection to its last byte, not when its head is — and counted exactly once, by
//! `Drop`, whether it ends normally, the client goes away mid-body, or the client goes
//! away before the response head (then with status 499, as nginx logs it).
//!
//! The access log is an `info` event with target `openapi_gateway_runtime::access` (a stable name,
//! not this module's path), one JSON line per request. Whether it is enabled is asked once
//! per request, and nothing is kept or formatted for it when it is not.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::base::bodies::ResponseBody;
use crate::gateway::{Gateway, Route};
use crate::observe::metrics::{Metrics, Slot};
use crate::observe::otel;
use crate::proxy::forward::Attempt;

/// Where an exchange is reported: the listener's state, which the exchange carries
/// through the request (so the listener's own fields stay the listener's).
pub(crate) trait Sinks: Send + Sync + 'static {
    /// The route table, for the labels of what is reported.
    fn gateway(&self) -> &'static Gateway;
    fn metrics(&self) -> &Metrics;
    /// The span exporter, when spans are exported.
    fn otel(&self) -> Option<&otel::Exporter>;
}

/// The status counted and logged for a request whose client left before its response head
/// was ready (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

/// What the request handling learns on the way, written as it goes so that it is right
/// even when the handling future is dropped half-way.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub(crate) slot: Slot,
    pub(crate) attempt: Attempt,
}

/// One request, from the arrival of its head to the end of its response. Counted and
/// logged when dropped.
pub(crate) struct Exchange<S: Sinks> {
    pub(crate) state: Arc<S>,
    pub(crate) progress: Progress,
    started: Instant,
    client_ip: IpAddr,
    /// The response status, once there is a response.
    status: Option<StatusCode>,
    /// Whether the response body is the upstream's, still streaming.
    streaming: bool,
    /// When the upstream's body ended (its last frame or its error), as the proxy saw it.
    upstream_end: Option<Instant>,
    /// Request id and method, kept only when the access log is enabled.
    log: Option<(HeaderValue, http::Method)>,
    /// The request's span and method, kept only when spans are exported.
    span: Option<(otel::Started, http::Method)>,
}

impl<S: Sinks> Exchange<S> {
    pub(crate) fn start(
        state: Arc<S>,
        client_ip: IpAddr,
        method: &http::Method,
        request_id: &HeaderValue,
    ) -> Exchange<S> {
        let started = Instant::now();
        state.metrics().started();
        let log =
            tracing::enabled!(target: "openapi_gateway_runtime::access", tracing::Level::INFO)
                .then(|| (request_id.clone(), method.clone()));
        Exchange {
            state,
            progress: Progress {
                slot: Slot::Unmatched,
                attempt: Attempt::default(),
            },
            started,
            client_ip,
            status: None,
            streaming: false,
            upstream_end: None,
            log,
            span: None,
        }
    }

    /// Starts the request's span, if spans are exported.
    pub(crate) fn trace<B>(&mut self, request: &http::Request<B>) {
        if self.state.otel().is_some() {
            self.span = Some((
                otel::Started::new(request.headers(), request.uri()),
                request.method().clone(),
            ));
        }
    }

    /// Counts and logs the request; runs once, from `Drop`.
    fn finish(&mut self) {
        let end = Instant::now();
        let duration = end.duration_since(self.started);
        let status = self
            .status
            .unwrap_or(StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST));
        let added = self.progress.attempt.sent.map(|sent| {
            let waited_until = if self.streaming {
                self.upstream_end.unwrap_or(end)
            } else {
                self.progress.attempt.answered.unwrap_or(end)
            };
            duration.saturating_sub(waited_until.saturating_duration_since(sent))
        });
        self.state
            .metrics()
            .finished(self.progress.slot, status, duration, added);
        if let Some((request_id, method)) = self.log.take() {
            self.log(&request_id, &method, status, duration);
        }
        if let Some((started, method)) = self.span.take() {
            self.export(started, method, status, duration);
        }
    }

    /// The route that answered, if any, and the template the request is reported under.
    fn route(&self) -> (Option<&'static Route>, Option<&'static str>) {
        match self.progress.slot {
            Slot::Route(index) => {
                let route = self.state.gateway().routes.get(index);
                (route, route.map(|route| route.path))
            }
            Slot::OpenApi => (None, Some("/openapi.json")),
            Slot::Docs => (None, self.state.gateway().docs),
            Slot::Unmatched => (None, None),
        }
    }

    fn export(
        &self,
        started: otel::Started,
        method: http::Method,
        status: StatusCode,
        duration: Duration,
    ) {
        let Some(exporter) = self.state.otel() else {
            return;
        };
        let gateway = self.state.gateway();
        let (route, template) = self.route();
        let service = route.and_then(|route| gateway.services.get(route.service));
        let upstream = self
            .progress
            .attempt
            .instance
            .as_deref()
            .map(|instance| instance.name().to_owned());
        exporter.export(otel::Finished {
            // A forwarded request reports the context it sent upstream.
            context: self.progress.attempt.trace.unwrap_or(started.context),
            method,
            route: template,
            status,
            start: started.start,
            end: started
                .start
                .checked_add(duration)
                .unwrap_or_else(SystemTime::now),
            server_address: started.server_address,
            service: service.map(|service| service.name),
            operation_id: route.map(|route| route.operation_id),
            upstream,
        });
    }

    fn log(
        &self,
        request_id: &HeaderValue,
        method: &http::Method,
        status: StatusCode,
        duration: Duration,
    ) {
        let (_, template) = self.route();
        let upstream = self.progress.attempt.instance.as_deref().map(|i| i.name());
        let attempts = self.progress.attempt.tries;
        tracing::info!(
            target: "openapi_gateway_runtime::access",
            request_id = request_id.to_str().unwrap_or(""),
            method = method.as_str(),
            route = template,
            status = status.as_u16(),
            duration_ms = duration.as_secs_f64() * 1000.0,
            upstream,
            attempts,
            client_ip = %self.client_ip,
            "request"
        );
    }
}

impl<S: Sinks> Drop for Exchange<S> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The body of every response of the public listener: the response itself, and the
/// request's [`Exchange`], which ends when this body is done or dropped.
pub(crate) struct ObservedBody<S: Sinks> {
    inner: ResponseBody,
    exchange: Exchange<S>,
}

impl<S: Sinks> ObservedBody<S> {
    pub(crate) fn new(inner: ResponseBody, status: StatusCode, mut exchange: Exchange<S>) -> Self {
        exchange.status = Some(status);
        exchange.streaming = matches!(inner, ResponseBody::Upstream(_));
        ObservedBody { inner, exchange }
    }
}

impl<S: Sinks> Body for ObservedBody<S> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_))))
            && this.exchange.upstream_end.is_none()
        {
            this.exchange.upstream_end = Some(Instant::now());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
