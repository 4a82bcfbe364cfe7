//! Mock upstreams served from the specs: one HTTP server per service on a loopback port,
//! answering each operation of the service's spec with the spec's own examples, or values
//! made from its schemas, as Prism does (and honouring Prism's `Prefer` conventions).
//!
//! A mock keeps its port for the life of `gateway dev`; a reload swaps the spec it answers
//! from, so the gateway's `GATEWAY_UPSTREAM_<SERVICE>` stays right. Requests are not
//! checked here: the gateway in front already checks them against the same specs.
//! Each mock also answers the service's health-check path (when the manifest sets one and
//! no operation has it) with the status the check expects.

pub mod generate;
pub mod pick;
pub mod prefer;
pub mod route;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use serde_json::Value;

use self::pick::Answer;
use self::route::{Found, Routes};

/// What one mock answers from: a service's bundled spec.
pub struct MockSpec {
    doc: Value,
    routes: Routes,
    /// The health-check path and the status to answer it with.
    health: Option<(String, u16)>,
}

impl MockSpec {
    pub fn new(doc: Value, health: Option<(String, u16)>) -> MockSpec {
        let routes = Routes::new(&doc);
        MockSpec {
            doc,
            routes,
            health,
        }
    }

    /// The answer to one request (pure, for tests).
    pub fn answer(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        prefer: Option<&str>,
        accept: Option<&str>,
        counter: u64,
    ) -> (Answer, Option<String>) {
        match self.routes.find(method, path) {
            Found::Operation(operation) => {
                let answer = match prefer::parse(prefer, query) {
                    Ok(preferences) => {
                        let seed = pick::seed_for(&preferences, counter);
                        pick::answer(&self.doc, &operation.operation, &preferences, accept, seed)
                    }
                    Err(reason) => {
                        Answer::problem(422, "invalid-prefer", "Unprocessable Entity", reason)
                    }
                };
                (answer, None)
            }
            Found::OtherMethods(methods) => (
                Answer::problem(
                    405,
                    "method-not-allowed",
                    "Method Not Allowed",
                    format!("{path} has no {method} operation in the spec"),
                ),
                Some(methods.join(", ")),
            ),
            Found::Nothing => match &self.health {
                Some((health, status)) if health == path => (
                    Answer {
                        status: *status,
                        headers: Vec::new(),
                        body: None,
                    },
                    None,
                ),
                _ => (
                    Answer::problem(
                        404,
                        "no-route",
                        "Not Found",
                        format!("no operation of the spec matches {path}"),
                    ),
                    None,
                ),
            },
        }
    }
}

struct Shared {
    spec: RwLock<Arc<MockSpec>>,
    /// Counts requests: the seed of dynamic answers that give none.
    requests: AtomicU64,
}

/// A running mock server.
pub struct Mock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Mock {
    /// Binds a free loopback port and serves `spec` on `runtime`.
    pub fn start(runtime: &tokio::runtime::Handle, spec: MockSpec) -> std::io::Result<Mock> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            spec: RwLock::new(Arc::new(spec)),
            requests: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let _guard = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        runtime.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Mock {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Answers from `spec` from the next request on.
    pub fn replace(&self, spec: MockSpec) {
        let mut current = self.shared.spec.write().unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(spec);
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let spec = shared
        .spec
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let counter = shared.requests.fetch_add(1, Ordering::Relaxed);
    let text = |name: HeaderName| request.headers().get(name).and_then(|v| v.to_str().ok());
    let (answer, allow) = spec.answer(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
        text(HeaderName::from_static("prefer")),
        text(header::ACCEPT),
        counter,
    );
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    if let Some(allow) = allow.and_then(|a| HeaderValue::try_from(a).ok()) {
        headers.insert(header::ALLOW, allow);
    }
    if request.method() != Method::HEAD
        && let Some((media, bytes)) = answer.body_bytes()
    {
        if let Ok(media) = HeaderValue::try_from(media) {
            headers.insert(header::CONTENT_TYPE, media);
        }
        *response.body_mut() = Body::from(bytes);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_prefer_and_health_checks() {
        let doc = json!({"paths": {"/pets/{id}": {"get": {"responses": {
            "200": {"description": "ok", "content": {"application/json": {"example": {"id": 1}}}},
            "404": {"description": "no", "content": {"application/json": {"example": {"missing": true}}}}
        }}}}});
        let spec = MockSpec::new(doc, Some(("/health".into(), 204)));
        let body = |a: &Answer| a.body.as_ref().map(|(_, v)| v.clone());
        let (a, _) = spec.answer("GET", "/pets/3", None, None, None, 0);
        assert_eq!((a.status, body(&a)), (200, Some(json!({"id": 1}))));
        let (a, _) = spec.answer("GET", "/pets/3", None, Some("code=404"), None, 0);
        assert_eq!((a.status, body(&a)), (404, Some(json!({"missing": true}))));
        let (a, _) = spec.answer("GET", "/pets/3", Some("__code=404"), None, None, 0);
        assert_eq!(a.status, 404);
        let (a, _) = spec.answer("GET", "/pets/3", None, Some("code=x"), None, 0);
        assert_eq!(a.status, 422);
        let (a, allow) = spec.answer("PUT", "/pets/3", None, None, None, 0);
        assert_eq!((a.status, allow.as_deref()), (405, Some("GET")));
        let (a, _) = spec.answer("GET", "/health", None, None, None, 0);
        assert_eq!((a.status, a.body), (204, None));
        let (a, _) = spec.answer("GET", "/cats", None, None, None, 0);
        assert_eq!(a.status, 404);
    }
}
