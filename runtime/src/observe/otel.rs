//! Span export over OTLP/HTTP (protobuf), when the manifest names an endpoint variable
//! (`observability.otlp_endpoint_env`) and that variable is set and not empty at start.
//!
//! One server span per request, with the W3C ids the gateway already uses: the trace id of
//! the incoming `traceparent` (or the one the gateway created) and, as the span's own id,
//! the parent id the gateway sent upstream, so the upstream's spans hang under it. The
//! span is built from what the request's [`crate::observe::access::Exchange`] knows when it ends
//! and handed to the SDK's batch processor: a bounded queue (spans beyond it are dropped,
//! never waited for) drained by the processor's own thread. No tracer or provider is
//! involved, so nothing of this runs for a gateway that does not export.
//!
//! The HTTP client is the gateway's own hyper client (no reqwest): the processor's thread
//! hands each export to the tokio runtime the gateway runs on.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor as _,
};

use crate::base::traceparent::TraceContext;

/// Spans waiting for export at most; more are dropped (and counted by the SDK).
const QUEUE: usize = 2048;
/// Spans per export request at most.
const BATCH: usize = 512;
/// How long spans wait before an export of a partial batch.
const DELAY: Duration = Duration::from_secs(1);
/// One export request's bound.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// The exporter of a running gateway.
pub(crate) struct Exporter {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// An exporter to the collector at `endpoint` (`/v1/traces` appended unless it is
    /// there). Must be called inside the tokio runtime that will carry the exports.
    pub(crate) fn new(endpoint: &str, gateway_name: &'static str) -> Result<Exporter, String> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/v1/traces")
        };
        match url.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {}
            Ok(uri) if uri.scheme_str() == Some("https") => {
                return Err(format!(
                    "OTLP endpoint `{endpoint}`: https is not supported yet; use http"
                ));
            }
            _ => return Err(format!("OTLP endpoint `{endpoint}` is not an http URL")),
        }
        let client = HyperClient::new().map_err(|error| format!("OTLP client: {error}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|error| format!("OTLP exporter: {error}"))?;
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(QUEUE)
            .with_max_export_batch_size(BATCH)
            .with_scheduled_delay(DELAY)
            .build();
        let mut processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(config)
            .build();
        processor.set_resource(
            &Resource::builder_empty()
                .with_service_name(gateway_name)
                .build(),
        );
        let scope = InstrumentationScope::builder("openapi-gateway-runtime")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(Exporter { processor, scope })
    }

    /// Queues the span of one finished request; never blocks.
    pub(crate) fn export(&self, span: Finished) {
        let Some(trace_id) = hex_id(&span.context.trace_id).map(TraceId::from_bytes) else {
            return;
        };
        let Some(span_id) = hex_id(&span.context.span_id).map(SpanId::from_bytes) else {
            return;
        };
        let parent_span_id = span
            .context
            .parent_id
            .and_then(|parent| hex_id(&parent))
            .map_or(SpanId::INVALID, SpanId::from_bytes);
        // A trace the caller did not sample is not exported (the parent decides, as
        // OTel's default parent-based sampler does); the gateway's own traces are.
        let sampled = hex_id::<1, 2>(&span.context.flags).is_some_and(|[flags]| flags & 1 == 1);
        if !sampled {
            return;
        }
        let name: Cow<'static, str> = match span.route {
            Some(route) => format!("{} {route}", span.method).into(),
            None => span.method.as_str().to_owned().into(),
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", span.method.as_str().to_owned()),
            KeyValue::new("http.response.status_code", i64::from(span.status.as_u16())),
        ];
        if let Some(route) = span.route {
            attributes.push(KeyValue::new("http.route", route));
        }
        if let Some(address) = span.server_address {
            attributes.push(KeyValue::new("server.address", address));
        }
        if let Some(service) = span.service {
            attributes.push(KeyValue::new("gateway.service", service));
        }
        if let Some(operation) = span.operation_id {
            attributes.push(KeyValue::new("gateway.operation_id", operation));
        }
        if let Some(instance) = span.upstream {
            attributes.push(KeyValue::new("gateway.upstream.instance", instance));
        }
        // Server spans: 5xx is the server's error, 4xx the client's (OTel HTTP semconv).
        let status = if span.status.is_server_error() {
            Status::error("")
        } else {
            Status::Unset
        };
        self.processor.on_end(SpanData {
            span_context: SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id,
            parent_span_is_remote: span.context.parent_id.is_some(),
            span_kind: SpanKind::Server,
            name,
            start_time: span.start,
            end_time: span.end,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        });
    }

    /// Exports what is queued (waiting at most a few seconds) and stops the processor's
    /// thread. Blocks: call it off the async workers.
    pub(crate) fn shutdown(&self) {
        if let Err(error) = self.processor.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "OTLP exporter did not shut down cleanly");
        }
    }
}

/// What a span is made of, gathered when the request starts and ends.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) context: TraceContext,
    pub(crate) method: http::Method,
    pub(crate) route: Option<&'static str>,
    pub(crate) status: StatusCode,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) server_address: Option<String>,
    pub(crate) service: Option<&'static str>,
    pub(crate) operation_id: Option<&'static str>,
    pub(crate) upstream: Option<String>,
}

/// What is known of a request's span when it starts (only when exporting).
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) start: SystemTime,
    /// The trace context a request that is not forwarded reports: the incoming
    /// `traceparent`'s, or a new one.
    pub(crate) context: TraceContext,
    pub(crate) server_address: Option<String>,
}

impl Started {
    pub(crate) fn new(headers: &HeaderMap, uri: &http::Uri) -> Started {
        let host = headers
            .get(http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        // `server.address` is the host without the port.
        let server_address = host
            .and_then(|host| host.parse::<http::uri::Authority>().ok())
            .map(|authority| authority.host().to_owned());
        Started {
            start: SystemTime::now(),
            context: crate::base::traceparent::context(headers),
            server_address,
        }
    }
}

/// Lowercase hex to bytes; `None` if it is not.
fn hex_id<const N: usize, const M: usize>(hex: &[u8; M]) -> Option<[u8; N]> {
    if M != 2 * N {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (digit(hex[2 * i])? << 4) | digit(hex[2 * i + 1])?;
    }
    Some(out)
}

/// The HTTP client of the exporter: the processor's thread is not a tokio thread, so each
/// request is spawned on the gateway's runtime and awaited from there.
#[derive(Debug)]
struct HyperClient {
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl HyperClient {
    fn new() -> Result<HyperClient, tokio::runtime::TryCurrentError> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(HyperClient { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for HyperClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let exchange = async move {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        // The timer is made inside the task: this thread has no runtime of its own.
        let bounded = async move { tokio::time::timeout(EXPORT_TIMEOUT, exchange).await };
        match self.runtime.spawn(bounded).await {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err("OTLP export timed out".into()),
            Err(error) => Err(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, http::HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn hex_ids() {
        assert_eq!(hex_id::<2, 4>(b"0aff"), Some([0x0a, 0xff]));
        assert_eq!(hex_id::<2, 4>(b"0AFF"), None);
        assert_eq!(hex_id::<1, 2>(b"01"), Some([1]));
    }

    #[test]
    fn server_address_is_the_host_without_port() {
        let uri = http::Uri::from_static("/a");
        assert_eq!(
            Started::new(&host("api.example.com:8080"), &uri).server_address,
            Some("api.example.com".into())
        );
        assert_eq!(
            Started::new(&host("[::1]:8080"), &uri).server_address,
            Some("[::1]".into())
        );
        let uri = http::Uri::from_static("http://h2.example.com/a");
        assert_eq!(
            Started::new(&HeaderMap::new(), &uri).server_address,
            Some("h2.example.com".into())
        );
    }
}
