//! OTLP span export end to end: a mock collector (axum, `POST /v1/traces`, protobuf
//! decoded with opentelemetry-proto) receives one server span per request, with the
//! trace id and parent the upstream saw in `traceparent` and the HTTP attributes.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use http::StatusCode;
use openapi_gateway_runtime::Config;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use support::*;
use tokio::sync::oneshot;

/// The spans a mock collector received, with the resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

async fn collect_traces(State(received): State<Received>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut spans = received.0.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push((service.clone(), span));
            }
        }
    }
    StatusCode::OK
}

async fn collector() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(collect_traces))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), received)
}

/// `GATEWAY` with every service on `upstream`, exporting to `endpoint`.
async fn start_exporting(upstream: &Mock, endpoint: Option<String>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let mut config = Config::new(listener, admin_listener);
    config.shutdown_timeout = Duration::from_secs(1);
    config.upstreams = [("users".to_owned(), vec![upstream.url()])].into();
    config.otlp_endpoint = endpoint;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(openapi_gateway_runtime::serve(
        &GATEWAY,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Running::new(addr, admin, stop, task)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(span: &Span) -> BTreeMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_exported_as_a_server_span_of_its_trace() {
    let (endpoint, received) = collector().await;
    let upstream = mock("a").await;
    let mut gw = start_exporting(&upstream, Some(endpoint)).await;

    // With a sampled parent: its trace, and the gateway's span is the parent upstream.
    let incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming_parent = "00f067aa0ba902b7";
    let answer = request(
        "GET",
        &gw.url("/api/users/42"),
        &[
            (
                "traceparent",
                &format!("00-{incoming_trace}-{incoming_parent}-01"),
            ),
            ("host", "api.example.com:8443"),
        ],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let sent_upstream = answer.echoed_header("traceparent").unwrap();
    let gateway_span_id = sent_upstream.split('-').nth(2).unwrap().to_owned();

    // Without one: the trace the gateway started.
    let answer = get(&gw.url("/api/users/7")).await;
    let created = answer.echoed_header("traceparent").unwrap();
    let created_trace = created.split('-').nth(1).unwrap().to_owned();

    // Not forwarded (404): still a span, named by the method alone.
    get(&gw.url("/api/nope")).await.problem(404);

    // An unsampled parent: not exported.
    let answer = request(
        "GET",
        &gw.url("/api/users/9"),
        &[(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-00",
        )],
        empty(),
    )
    .await;
    assert_eq!(answer.status, 200);

    // Stopping the gateway flushes what is queued.
    gw.stop();
    (&mut gw.task).await.unwrap().unwrap();
    let spans = received.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    for (service, span) in &spans {
        assert_eq!(service, "test-gateway");
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
        assert!(span.start_time_unix_nano > 0);
        assert!(
            !attributes(span)
                .values()
                .any(|v| v.contains("/api/users/42"))
        );
    }

    let (_, first) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == incoming_trace)
        .expect("the span of the traced request");
    assert_eq!(first.name, "GET /api/users/{id}");
    assert_eq!(hex(&first.span_id), gateway_span_id);
    assert_eq!(hex(&first.parent_span_id), incoming_parent);
    let expected: BTreeMap<String, String> = [
        ("http.request.method", "GET"),
        ("http.route", "/api/users/{id}"),
        ("http.response.status_code", "200"),
        ("server.address", "api.example.com"),
        ("gateway.service", "users"),
        ("gateway.operation_id", "op"),
        ("gateway.upstream.instance", &upstream.addr.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(attributes(first), expected);

    let (_, second) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == created_trace)
        .expect("the span of the request the gateway started a trace for");
    assert!(second.parent_span_id.is_empty(), "a root span");
    assert_eq!(second.name, "GET /api/users/{id}");

    let (_, unmatched) = spans
        .iter()
        .find(|(_, s)| s.name == "GET")
        .expect("the span of the 404");
    let attributes = attributes(unmatched);
    assert_eq!(attributes["http.response.status_code"], "404");
    assert!(!attributes.contains_key("http.route"));
    assert!(!attributes.contains_key("gateway.upstream.instance"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_endpoint_stops_the_start() {
    let upstream = mock("a").await;
    for bad in ["not a url", "https://collector:4318", "collector:4318"] {
        let mut gw = start_exporting(&upstream, Some(bad.to_owned())).await;
        let error = (&mut gw.task).await.unwrap().unwrap_err();
        assert!(
            error.to_string().contains("OTLP endpoint"),
            "{bad}: {error}"
        );
    }
}
