//! The request path of the public listener: one request from its head to its response.
//!
//! The public listener is a plain hyper service rather than an axum router: every request
//! goes through the same few steps (request id, route, auth, handler, body limit, proxy),
//! and this way the client's body and the upstream's body pass through without boxing.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http_body::Body as _;
use hyper::body::Incoming;

use crate::base::bodies::{LimitedBody, ResponseBody};
use crate::base::method::Method;
use crate::base::problem::{PROBLEM_JSON, Problem};
use crate::check::body;
use crate::check::fields;
use crate::check::params::{Forward, Request, parse_pairs};
use crate::edge::auth::{Auth, Authenticated, Failure, Verifiers};
use crate::edge::client_ip::TrustedProxies;
use crate::edge::cors::{self, Cors};
use crate::edge::ratelimit::{self, Caller, Limiters, Quota, Verdict};
use crate::gateway::Gateway;
use crate::observe::access::{Exchange, ObservedBody, Progress, Sinks};
use crate::observe::metrics::{Invalid, Metrics, Slot, Unauthorized};
use crate::observe::otel::Exporter;
use crate::proxy::forward::{self, X_REQUEST_ID};
use crate::proxy::upstream::Upstreams;
use crate::serve::docs::Docs;
use crate::serve::router::{self, Endpoint, Router};

/// Longest client-supplied `X-Request-Id` the gateway keeps (longer ones are replaced).
const MAX_REQUEST_ID: usize = 200;

/// What a request handler reads; built once at start.
pub(crate) struct State {
    pub(crate) gateway: &'static Gateway,
    pub(super) router: Router,
    /// The API reference page, when the manifest asks for one.
    pub(super) docs: Option<Docs>,
    pub(crate) upstreams: Arc<Upstreams>,
    pub(crate) metrics: Arc<Metrics>,
    pub(super) limiters: Arc<Limiters>,
    pub(super) verifiers: Verifiers,
    pub(super) trusted_proxies: TrustedProxies,
    /// The span exporter, when spans are exported.
    pub(crate) otel: Option<Arc<Exporter>>,
}

impl Sinks for State {
    fn gateway(&self) -> &'static Gateway {
        self.gateway
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn otel(&self) -> Option<&Exporter> {
        self.otel.as_deref()
    }
}

/// One request on the public listener from TCP peer `peer`. Its [`Exchange`] goes into
/// the response body, which counts and logs the request when it ends.
pub(super) async fn handle(
    state: Arc<State>,
    peer: IpAddr,
    request: http::Request<Incoming>,
) -> Result<Response<ObservedBody<State>>, Infallible> {
    let request_id = request_id(request.headers());
    // The peer, or behind trusted proxies the address they say they served; IPv4 as
    // IPv4 even when a dual-stack socket shows it IPv4-mapped.
    let client_ip = state.trusted_proxies.client_ip(peer, request.headers());
    // Answers to preflights carry their own CORS headers (none when refused).
    let preflight = request.method() == http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut exchange = Exchange::start(state, client_ip, request.method(), &request_id);
    exchange.trace(&request);
    let mut quota = None;
    let result = dispatch(
        &exchange.state,
        client_ip,
        peer,
        request,
        &request_id,
        &mut exchange.progress,
        &mut quota,
    )
    .await;
    let mut response = result.unwrap_or_else(|problem| problem_response(problem, &request_id));
    if let Some(quota) = quota {
        quota.decorate(response.headers_mut());
    }
    if let Some(cors) = cors_for(&exchange.state, exchange.progress.slot) {
        if !preflight {
            cors.apply(origin.as_ref(), response.headers_mut());
        } else if cors.varies() {
            // A refused preflight: whether it is refused depends on the origin too.
            cors::vary_on_origin(response.headers_mut());
        }
    }
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id);
    let status = response.status();
    Ok(response.map(|body| ObservedBody::new(body, status, exchange)))
}

/// The client's `X-Request-Id` if it is sane (1 to 200 letters, digits and `-_.:+/=@`,
/// what UUIDs, ULIDs and tracing ids are made of; no quotes or markup to carry into logs,
/// problems and upstreams), else a new UUID v4.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(&X_REQUEST_ID) {
        let bytes = id.as_bytes();
        if !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(b))
        {
            return id.clone();
        }
    }
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("invalid-request-id"))
}

/// What the synchronous part of handling decided.
enum Decision {
    /// The route, the upstream path, and what authentication changes in the headers.
    Forward(usize, Forward, Option<Authenticated>),
    OpenApi,
    /// A file of the API reference page (`Docs::find`).
    Docs(usize),
    /// A CORS preflight, answered here with these headers.
    Preflight(Slot, HeaderMap),
    Problem(Slot, Problem),
    /// Credentials were sent and failed: the problem answers, and the failure counts
    /// against the client's address (`rate_limits.auth_failures`).
    AuthFailed(Slot, Problem),
    /// A token named a `kid` unknown to this JWKS scheme, or Basic credentials not
    /// verified yet: fetch the keys again or hash the password (off the serving threads),
    /// and decide once more; the problem answers (an authentication failure) if it comes
    /// to this again.
    Settle(&'static str, Slot, Problem),
}

/// Decides, then forwards. `progress` learns the route as soon as it is known and the
/// upstream attempt as it happens.
async fn dispatch(
    state: &State,
    client_ip: IpAddr,
    peer: IpAddr,
    request: http::Request<Incoming>,
    request_id: &HeaderValue,
    progress: &mut Progress,
    quota: &mut Option<Quota>,
) -> Result<Response<ResponseBody>, Problem> {
    let (mut parts, body) = request.into_parts();
    // What the handler checks is what the upstream gets: headers the client names in
    // `Connection` go now, not after validation.
    forward::strip_hop_by_hop(&mut parts.headers);
    state.verifiers.strip_claim_headers(&mut parts.headers);
    let has_body = !body.is_end_stream();
    let mut decision = decide(state, &parts, has_body, client_ip, quota).await;
    if let Decision::Settle(scheme, ..) = decision {
        state.verifiers.settle(scheme, &parts.headers).await;
        decision = decide(state, &parts, has_body, client_ip, quota).await;
        if let Decision::Settle(_, slot, problem) = decision {
            // The `kid` is still unknown, or the password was wrong: invalid credentials.
            state.metrics.auth_failed(slot, Unauthorized::Invalid);
            decision = Decision::AuthFailed(slot, problem);
        }
    }
    let (index, forward) = match decision {
        Decision::Forward(index, forward, authenticated) => {
            if let Some(authenticated) = authenticated {
                authenticated.apply(&mut parts.headers);
            }
            state.verifiers.strip_api_keys(&mut parts);
            (index, forward)
        }
        Decision::OpenApi => {
            progress.slot = Slot::OpenApi;
            return Ok(openapi_response(state.gateway));
        }
        Decision::Docs(file) => {
            progress.slot = Slot::Docs;
            if let Some(docs) = &state.docs {
                return Ok(docs.respond(file, &parts.headers));
            }
            return Err(Problem::not_found());
        }
        Decision::Preflight(slot, headers) => {
            progress.slot = slot;
            let mut response = Response::new(ResponseBody::full(Bytes::new()));
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            *response.headers_mut() = headers;
            return Ok(response);
        }
        Decision::Problem(slot, problem) => {
            progress.slot = slot;
            return Err(problem);
        }
        Decision::AuthFailed(slot, problem) | Decision::Settle(_, slot, problem) => {
            progress.slot = slot;
            let counters = &state.metrics.rate_limits;
            state.limiters.count_failure(client_ip, counters).await;
            return Err(problem);
        }
    };
    progress.slot = Slot::Route(index);
    let max_body = state.gateway.max_body;
    // Hyper reports a declared `Content-Length` as the body's lower size bound.
    if body.size_hint().lower() > max_body {
        return Err(Problem::payload_too_large(max_body));
    }
    let upstream = state
        .gateway
        .routes
        .get(index)
        .and_then(|route| state.upstreams.get(route.service));
    let Some(upstream) = upstream else {
        // `serve` checked every route's service at start.
        return Err(Problem::bad_gateway("the route has no service"));
    };
    let validate = state
        .gateway
        .routes
        .get(index)
        .and_then(|route| body::check_for(route.body, &parts.headers));
    let body = match validate {
        // A JSON or form body with a schema is read whole (within the limit), parsed once and
        // checked; what goes upstream is the client's bytes, unchanged.
        Some(validate) if has_body => {
            // The client gets the upstream's request timeout to send it, as a streamed
            // body does.
            let budget = upstream.service.request_timeout;
            let bytes = tokio::time::timeout(budget, read_whole(body, max_body))
                .await
                .map_err(|_| Problem::body_timeout(budget))??;
            let max_fields = state.gateway.max_fields;
            let checked = body::check(&bytes, validate, &parts.headers, max_body, max_fields).await;
            if let Err(problem) = checked {
                state
                    .metrics
                    .validation_failed(Slot::Route(index), Invalid::Body);
                return Err(problem);
            }
            LimitedBody::full(bytes, max_body)
        }
        _ => LimitedBody::new(body, max_body),
    };
    let operation_id = state
        .gateway
        .routes
        .get(index)
        .map_or("", |route| route.operation_id);
    // `X-Forwarded-For` gets the peer appended: the list trusted proxies wrote, plus the
    // hop that reached the gateway. The scheme is a trusted proxy's word, or plain HTTP.
    let forwarded = forward::Forwarded {
        peer,
        client: client_ip,
        https: state.trusted_proxies.trusts(peer) && forward::proxy_says_https(&parts.headers),
    };
    let response = forward::forward(
        upstream,
        operation_id,
        forward.path,
        parts,
        body,
        forwarded,
        request_id,
        &mut progress.attempt,
    )
    .await?;
    // Only services that validate responses have a table.
    match state.gateway.routes.get(index).and_then(|r| r.responses) {
        Some(specs) => {
            crate::check::responses::check(
                &state.metrics.responses,
                index,
                specs,
                response,
                upstream.service.request_timeout,
            )
            .await
        }
        None => Ok(response.map(ResponseBody::Upstream)),
    }
}

/// The whole body, or 413 as soon as it passes `limit` bytes (counted as they arrive,
/// whatever `Content-Length` said).
async fn read_whole(mut body: Incoming, limit: u64) -> Result<Bytes, Problem> {
    use http_body_util::BodyExt as _;
    // A small body arrives as one frame: kept as it is, not copied.
    let mut first: Option<Bytes> = None;
    let mut buffer = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            Problem::new(
                http::StatusCode::BAD_REQUEST,
                "incomplete-body",
                "Incomplete body",
                "the request body could not be read to its end",
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let read = first.as_ref().map_or(0, Bytes::len) + buffer.len();
        if read as u64 + data.len() as u64 > limit {
            return Err(Problem::payload_too_large(limit));
        }
        match first.take() {
            None if buffer.is_empty() => first = Some(data),
            held => {
                if let Some(held) = held {
                    buffer.extend_from_slice(&held);
                }
                buffer.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buffer.freeze()))
}

/// Routing, auth, rate limits and the generated handler: everything that reads the
/// request head only. `quota` receives the outcome of the route's rate limits, if any.
/// Async only for a shared rate-limit store; with the memory store nothing waits.
async fn decide(
    state: &State,
    parts: &http::request::Parts,
    has_body: bool,
    client_ip: IpAddr,
    quota: &mut Option<Quota>,
) -> Decision {
    // The page's paths are no route's (the compiler refuses a route that could match
    // them), so they are looked up before the routes, and like `/openapi.json` they are
    // public: no auth, no rate limit, no CORS.
    if let Some(docs) = &state.docs
        && let Some(file) = docs.find(parts.uri.path())
    {
        if parts.method == http::Method::GET {
            return Decision::Docs(file);
        }
        return Decision::Problem(Slot::Docs, Problem::method_not_allowed("GET"));
    }
    let mut params: Vec<Cow<'_, str>> = Vec::new();
    let method = Method::from_http(&parts.method);
    let Some(leaf) = state.router.find(parts.uri.path(), method, &mut params) else {
        return Decision::Problem(Slot::Unmatched, Problem::not_found());
    };
    if parts.method == http::Method::OPTIONS
        && let Some(origin) = parts.headers.get(header::ORIGIN)
        && let Some(requested) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(state, leaf, origin, requested, parts);
    }
    let endpoint = method.and_then(|method| leaf.endpoint(method));
    let index = match endpoint {
        Some(Endpoint::Route(index)) => index,
        Some(Endpoint::OpenApi) => return Decision::OpenApi,
        None => {
            return Decision::Problem(Slot::Unmatched, Problem::method_not_allowed(leaf.allow()));
        }
    };
    let slot = Slot::Route(index);
    let Some(route) = state.gateway.routes.get(index) else {
        return Decision::Problem(Slot::Unmatched, Problem::not_found());
    };
    let max_fields = state.gateway.max_fields;
    // Counted before anything reads it: past the limit, the rest is not even split.
    let Some(query) = parse_pairs(parts.uri.query().unwrap_or(""), max_fields) else {
        state.metrics.validation_failed(slot, Invalid::Parameters);
        return Decision::Problem(
            slot,
            fields::too_many_problem(
                "query",
                None,
                "the query string",
                max_fields,
                "name=value pairs",
            ),
        );
    };
    // Public routes skip this entirely.
    let mut authenticated = None;
    if let Auth::Required {
        challenge,
        alternatives,
    } = route.auth
    {
        // An address that failed too often is refused before its credentials cost
        // anything (a key lookup, a signature check, a JWKS fetch).
        let counters = &state.metrics.rate_limits;
        if let Some(wait) = state.limiters.failure_wait(client_ip, counters) {
            return Decision::Problem(slot, ratelimit::too_many_failures(wait));
        }
        match state
            .verifiers
            .authenticate(alternatives, &parts.headers, &query)
        {
            Ok(granted) => authenticated = Some(granted),
            Err(failure @ (Failure::UnknownKid(scheme) | Failure::PasswordPending(scheme))) => {
                return Decision::Settle(scheme, slot, auth_problem(&failure, challenge));
            }
            Err(failure) => {
                if let Some(reason) = Unauthorized::of(&failure) {
                    state.metrics.auth_failed(slot, reason);
                }
                let problem = auth_problem(&failure, challenge);
                // Guesses count; a request without credentials guesses nothing, and
                // missing scopes or keys not loaded yet are no failure of the client's
                // credentials.
                return match failure {
                    Failure::Invalid(_)
                    | Failure::BadRequest(_)
                    | Failure::UnknownKid(_)
                    | Failure::PasswordPending(_) => Decision::AuthFailed(slot, problem),
                    Failure::Missing
                    | Failure::InsufficientScope(_)
                    | Failure::KeysNotLoaded(_) => Decision::Problem(slot, problem),
                };
            }
        }
    }
    // Unlimited routes skip this entirely. Every request of a limited route counts,
    // valid or not; a refused one is never forwarded.
    if !route.rate_limits.is_empty() {
        let caller = Caller {
            ip: client_ip,
            headers: &parts.headers,
            identity: authenticated.as_ref(),
        };
        let counters = &state.metrics.rate_limits;
        match state
            .limiters
            .check(route.rate_limits, &caller, counters)
            .await
        {
            None => {}
            Some(Verdict::Checked(outcome, policy)) => {
                if let Some(after) = outcome.retry_after {
                    *quota = Some(outcome);
                    return Decision::Problem(slot, Problem::too_many_requests(policy.name, after));
                }
                // The fields describe the policy with the fewest requests left.
                if policy.allowed_headers {
                    *quota = Some(outcome);
                }
            }
            Some(Verdict::Unavailable(policy, after)) => {
                return Decision::Problem(slot, ratelimit::store_unavailable(policy, after));
            }
        }
    }
    if let Err(error) = state.router.decode(index, &mut params) {
        state.metrics.validation_failed(slot, Invalid::Parameters);
        return Decision::Problem(slot, Problem::invalid_request(vec![error]));
    }
    if let Err(problem) = body::check_media_type(route.body, &parts.headers, has_body) {
        return Decision::Problem(slot, problem);
    }
    let handled = (route.handler)(&Request::new(&params, &query, &parts.headers, max_fields));
    // A missing required body is listed with the parameters' failures, in one 400.
    let problem = match (handled, body::missing_body(route.body, has_body)) {
        (Ok(forward), None) => return Decision::Forward(index, forward, authenticated),
        (Ok(_), Some(missing)) => Problem::invalid_request(vec![missing]),
        (Err(problem), Some(missing)) if problem.kind == "invalid-request" => {
            let mut errors = problem.errors;
            errors.push(missing);
            Problem::invalid_request(errors)
        }
        (Err(problem), _) => problem,
    };
    if problem.status == http::StatusCode::BAD_REQUEST {
        state.metrics.validation_failed(slot, Invalid::of(&problem));
    }
    Decision::Problem(slot, problem)
}

/// The 401 or 403 answering an authentication failure (RFC 6750 challenges).
fn auth_problem(failure: &Failure, challenge: &'static str) -> Problem {
    let (status, value, detail) = failure.answer(challenge);
    if status == http::StatusCode::SERVICE_UNAVAILABLE {
        // Keys not loaded yet: not the client's fault, and no challenge to answer.
        return Problem::service_unavailable(detail)
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    let (kind, title) = if status == http::StatusCode::FORBIDDEN {
        ("insufficient-scope", "Forbidden")
    } else {
        ("unauthorized", "Unauthorized")
    };
    // The route's challenge was checked at start; what `answer` adds is quoted ASCII.
    let value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"));
    Problem::new(status, kind, title, detail).with_header(header::WWW_AUTHENTICATE, value)
}

/// A browser's preflight for a path that exists: answered by the service's CORS policy,
/// never forwarded.
fn preflight(
    state: &State,
    leaf: &router::Leaf,
    origin: &HeaderValue,
    requested: &HeaderValue,
    parts: &http::request::Parts,
) -> Decision {
    let forbidden = |detail: &str| {
        Problem::new(
            http::StatusCode::FORBIDDEN,
            "cors-forbidden",
            "Forbidden",
            detail.to_owned(),
        )
    };
    let method = http::Method::from_bytes(requested.as_bytes())
        .ok()
        .and_then(|m| Method::from_http(&m));
    let route = match method.and_then(|m| leaf.endpoint(m)) {
        Some(Endpoint::Route(index)) => index,
        _ => {
            return Decision::Problem(
                Slot::Unmatched,
                forbidden("the requested method is not available on this path"),
            );
        }
    };
    let slot = Slot::Route(route);
    let cors = state
        .gateway
        .routes
        .get(route)
        .and_then(|r| state.gateway.services.get(r.service))
        .and_then(|s| s.cors);
    let (Some(cors), Some(method)) = (cors, method) else {
        return Decision::Problem(
            slot,
            forbidden("cross-origin requests are not enabled for this route"),
        );
    };
    let asked_headers = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS);
    match cors.preflight(origin, method, asked_headers, leaf.allow()) {
        Ok(headers) => Decision::Preflight(slot, headers),
        Err(problem) => Decision::Problem(slot, problem),
    }
}

/// The CORS policy of the route of `slot`, if it has one.
fn cors_for(state: &State, slot: Slot) -> Option<&'static Cors> {
    let Slot::Route(index) = slot else {
        return None;
    };
    let route = state.gateway.routes.get(index)?;
    state.gateway.services.get(route.service)?.cors
}

fn openapi_response(gateway: &'static Gateway) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(
        gateway.openapi_json.as_bytes(),
    )));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A problem as a response of the public listener (the same shape as
/// `Problem::into_response`, with this listener's body type).
fn problem_response(problem: Problem, request_id: &HeaderValue) -> Response<ResponseBody> {
    let body = problem.body(request_id.to_str().ok());
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = problem.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    for (name, value) in problem.headers {
        headers.append(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert(
            &X_REQUEST_ID,
            HeaderValue::from_static("01J9Z:a_b.c+d/e=f@g"),
        );
        assert_eq!(request_id(&headers), "01J9Z:a_b.c+d/e=f@g");
        for insane in [
            "",
            "has space",
            &"x".repeat(201),
            r#"abc","status":999,"x":""#,
            "<script>",
        ] {
            headers.insert(&X_REQUEST_ID, HeaderValue::from_str(insane).unwrap());
            let id = request_id(&headers);
            assert_eq!(id.len(), 36, "{insane}");
            assert!(uuid::Uuid::try_parse(id.to_str().unwrap()).is_ok());
        }
        headers.insert(
            &X_REQUEST_ID,
            HeaderValue::from_str(&"x".repeat(200)).unwrap(),
        );
        assert_eq!(request_id(&headers).len(), 200);
    }
}
