//! The entry point of a generated gateway and its public listener.
//!
//! [`run`] is all a generated `main` calls: it is synchronous so that the generated crate
//! instantiates none of the async machinery and rebuilds in about a second (DESIGN.md,
//! "Generated code is data"). It reads the environment, then hands over to [`serve`],
//! which tests call directly with their own listeners and shutdown signal.
//!
//! The public listener is a plain hyper service rather than an axum router: every request
//! goes through the same few steps (request id, route, auth, handler, body limit, proxy),
//! and this way the client's body and the upstream's body pass through without boxing.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::base::bodies::{LimitedBody, ResponseBody};
use crate::base::method::Method;
use crate::base::problem::{FieldError, PROBLEM_JSON, Problem};
use crate::check::body;
use crate::check::params::{Forward, Request, parse_query};
use crate::edge::auth::{Auth, Authenticated, Verifiers};
use crate::edge::client_ip::TrustedProxies;
use crate::edge::cors::Cors;
use crate::edge::ratelimit::{self, Caller, Limiters, Quota, Store, Verdict};
use crate::gateway::Gateway;
use crate::observe::access::{Exchange, ObservedBody, Progress, Sinks};
use crate::observe::metrics::{Invalid, Metrics, Slot, Unauthorized};
use crate::observe::otel::Exporter;
use crate::proxy::forward::{self, X_REQUEST_ID};
use crate::proxy::upstream::Upstreams;
use crate::proxy::{discovery, health};
use crate::serve::admin::{self, AdminState};
use crate::serve::router::{self, Endpoint, Router};

/// Admin listener address when `GATEWAY_ADMIN_LISTEN` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// Drain bound when `GATEWAY_SHUTDOWN_TIMEOUT` is not set.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest client-supplied `X-Request-Id` the gateway keeps (longer ones are replaced).
const MAX_REQUEST_ID: usize = 200;

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `run` waits for leftover blocking tasks (DNS lookups) when it exits.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Why the gateway could not start.
#[derive(Debug)]
pub struct StartError {
    message: String,
}

impl StartError {
    fn new(message: impl Into<String>) -> StartError {
        StartError {
            message: message.into(),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}

/// Everything [`serve`] needs besides the compiled gateway.
#[derive(Debug)]
pub struct Config {
    /// The public listener: every route and `GET /openapi.json`.
    pub listener: TcpListener,
    /// The admin listener: `/healthz`, `/readyz`, `/metrics`.
    pub admin_listener: TcpListener,
    /// Base URLs of instances by service name (`Service::name`), replacing the
    /// compiled-in `Service::urls`. An empty list leaves the service without instances.
    pub upstreams: BTreeMap<String, Vec<String>>,
    /// After shutdown is asked for, how long in-flight requests may take before their
    /// connections are closed.
    pub shutdown_timeout: Duration,
    /// The URL of the shared rate-limit store (`rate_limits.store.redis`), read from the
    /// environment variable the manifest names; required when the gateway has one.
    pub rate_limit_store_url: Option<String>,
    /// The nameserver DNS discovery asks (`GATEWAY_DNS_SERVER`), instead of the one the
    /// manifest or the system names.
    pub dns_server: Option<SocketAddr>,
    /// The OTLP/HTTP collector spans are exported to (the value of the variable the
    /// manifest's `otlp_endpoint_env` names); `None`: nothing is exported.
    pub otlp_endpoint: Option<String>,
}

impl Config {
    /// A configuration with the compiled-in upstreams and the default drain bound.
    pub fn new(listener: TcpListener, admin_listener: TcpListener) -> Config {
        Config {
            listener,
            admin_listener,
            upstreams: BTreeMap::new(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            rate_limit_store_url: None,
            dns_server: None,
            otlp_endpoint: None,
        }
    }

    /// Reads `GATEWAY_LISTEN`, `GATEWAY_ADMIN_LISTEN`, `GATEWAY_UPSTREAM_<SERVICE>`,
    /// `GATEWAY_SHUTDOWN_TIMEOUT`, the rate-limit store's URL variable,
    /// `GATEWAY_DNS_SERVER` and the OTLP endpoint variable the manifest names, and binds
    /// both listeners.
    pub async fn from_env(gateway: &'static Gateway) -> Result<Config, StartError> {
        let settings = Settings::read(gateway, env_var)?;
        let listener = bind("GATEWAY_LISTEN", &settings.listen).await?;
        let admin_listener = bind("GATEWAY_ADMIN_LISTEN", &settings.admin_listen).await?;
        Ok(Config {
            listener,
            admin_listener,
            upstreams: settings.upstreams,
            shutdown_timeout: settings.shutdown_timeout,
            rate_limit_store_url: settings.rate_limit_store_url,
            dns_server: settings.dns_server,
            otlp_endpoint: settings.otlp_endpoint,
        })
    }
}

/// The environment, parsed but not yet acted on.
#[derive(Debug, PartialEq)]
struct Settings {
    listen: String,
    admin_listen: String,
    upstreams: BTreeMap<String, Vec<String>>,
    shutdown_timeout: Duration,
    rate_limit_store_url: Option<String>,
    dns_server: Option<SocketAddr>,
    otlp_endpoint: Option<String>,
}

impl Settings {
    fn read(
        gateway: &Gateway,
        var: impl Fn(&str) -> Result<Option<String>, StartError>,
    ) -> Result<Settings, StartError> {
        let listen = var("GATEWAY_LISTEN")?.unwrap_or_else(|| gateway.listen.to_owned());
        let admin_listen =
            var("GATEWAY_ADMIN_LISTEN")?.unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned());
        let mut upstreams = BTreeMap::new();
        for service in gateway.services {
            if let Some(urls) = var(service.env)? {
                let urls = urls
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .collect();
                upstreams.insert(service.name.to_owned(), urls);
            }
        }
        let shutdown_timeout = match var("GATEWAY_SHUTDOWN_TIMEOUT")? {
            None => DEFAULT_SHUTDOWN_TIMEOUT,
            Some(raw) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .ok_or_else(|| {
                    StartError::new(format!(
                        "GATEWAY_SHUTDOWN_TIMEOUT must be a number of seconds, got `{raw}`"
                    ))
                })?,
        };
        let rate_limit_store_url = match gateway.rate_limit_store {
            Store::Memory => None,
            Store::Redis(store) => var(store.url_env)?,
        };
        let dns_server = match var("GATEWAY_DNS_SERVER")? {
            None => None,
            Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|_| {
                StartError::new(format!(
                    "GATEWAY_DNS_SERVER must be an ip:port, e.g. 127.0.0.1:53, got `{raw}`"
                ))
            })?),
        };
        // Set but empty counts as unset, as OTel SDKs do.
        let otlp_endpoint = match gateway.otlp_endpoint_env {
            Some(name) => var(name)?.filter(|value| !value.trim().is_empty()),
            None => None,
        };
        Ok(Settings {
            listen,
            admin_listen,
            upstreams,
            shutdown_timeout,
            rate_limit_store_url,
            dns_server,
            otlp_endpoint,
        })
    }
}

fn env_var(name: &str) -> Result<Option<String>, StartError> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| StartError::new(format!("{name} is not valid UTF-8"))),
    }
}

async fn bind(variable: &str, address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address).await.map_err(|error| {
        StartError::new(format!("{variable}: cannot listen on `{address}`: {error}"))
    })
}

/// Runs the gateway until SIGTERM or SIGINT: the whole `main` of a generated gateway.
///
/// Builds a multi-thread tokio runtime, logs JSON lines filtered by `GATEWAY_LOG`
/// (default `info`), reads the configuration from the environment (see
/// [`Config::from_env`]) and serves. Returns success after a graceful shutdown, failure
/// (after logging why) when the gateway cannot start.
pub fn run(gateway: &'static Gateway) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let config = Config::from_env(gateway).await?;
        let signal = shutdown_signal()?;
        serve(gateway, config, signal).await
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => {
            info!("gateway stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            error!(%error, "gateway cannot start");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let spec = std::env::var("GATEWAY_LOG").ok();
    let (filter, invalid) = match spec.as_deref().map(tracing_subscriber::EnvFilter::try_new) {
        None => (tracing_subscriber::EnvFilter::new("info"), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (tracing_subscriber::EnvFilter::new("info"), Some(error)),
    };
    // Fails only if the process already installed a subscriber, which then stays.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    if let Some(error) = invalid {
        warn!(%error, "GATEWAY_LOG is not a valid filter; logging at info");
    }
}

/// Completes on the first SIGTERM or SIGINT. Registered before serving, so a signal that
/// arrives early is not lost.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = ()>, StartError> {
    use tokio::signal::unix::{SignalKind, signal};
    let register = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|error| StartError::new(format!("cannot listen for {name}: {error}")))
    };
    let mut terminate = register(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = register(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        info!(signal = name, "shutdown requested");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = ()>, StartError> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        info!("shutdown requested");
    })
}

/// What a request handler reads; built once at start.
pub(crate) struct State {
    pub(crate) gateway: &'static Gateway,
    router: Router,
    pub(crate) upstreams: Arc<Upstreams>,
    pub(crate) metrics: Arc<Metrics>,
    limiters: Arc<Limiters>,
    verifiers: Verifiers,
    trusted_proxies: TrustedProxies,
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

/// Serves `gateway` on the listeners of `config` until `shutdown` completes, then stops
/// accepting and lets in-flight requests finish for at most `config.shutdown_timeout`.
///
/// This is what [`run`] calls once it has read the environment; it is public so that tests
/// and embedders can serve in-process, with their own listeners and shutdown signal. It
/// must be called inside a tokio runtime. Errors when the route table or an upstream URL
/// is invalid, or when an auth scheme's key material (read here, from the environment
/// variable or file the manifest names) is missing or unusable; then nothing was served.
pub async fn serve(
    gateway: &'static Gateway,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let router = Router::new(gateway).map_err(|error| StartError::new(error.to_string()))?;
    check_table(gateway)?;
    let verifiers = Verifiers::load_from_env(gateway.schemes).map_err(StartError::new)?;
    let trusted_proxies =
        TrustedProxies::parse(gateway.trusted_proxies).map_err(StartError::new)?;
    let limiters = Arc::new(
        Limiters::with_store(
            gateway.name,
            gateway.rate_limits,
            gateway.rate_limit_store,
            config.rate_limit_store_url.as_deref(),
        )
        .map_err(StartError::new)?,
    );
    let upstreams =
        Arc::new(Upstreams::new(gateway.services, &config.upstreams).map_err(StartError::new)?);
    let metrics = Arc::new(Metrics::new(gateway));
    let otel = match &config.otlp_endpoint {
        Some(endpoint) => Some(Arc::new(
            Exporter::new(endpoint, gateway.name).map_err(StartError::new)?,
        )),
        None => None,
    };
    // DNS discovery sets the instances of the services that have it: the one place that
    // connects discovery to instance selection. Each is resolved once before serving.
    let _discovery = {
        let upstreams = upstreams.clone();
        let apply = Arc::new(move |service: usize, instances: discovery::Instances| {
            if let Some(upstream) = upstreams.get(service) {
                upstream.set_instances(instances);
            }
        });
        let overridden = |name: &str| config.upstreams.contains_key(name);
        discovery::start(
            gateway.services,
            config.dns_server,
            overridden,
            metrics.discovery.clone(),
            apply,
        )
        .await
        .map_err(StartError::new)?
    };
    let listen = config.listener.local_addr().ok();
    let admin_listen = config.admin_listener.local_addr().ok();
    info!(
        gateway = gateway.name,
        generator_version = gateway.generator_version,
        listen = %OrUnknown(listen),
        admin_listen = %OrUnknown(admin_listen),
        routes = gateway.routes.len(),
        "gateway listening"
    );
    for upstream in upstreams
        .iter()
        .filter(|upstream| !upstream.has_instances())
    {
        warn!(
            service = upstream.service().name,
            "service has no instance configured; its routes answer 503"
        );
    }

    // Active health checks run until `serve` returns.
    let _health_checks = health::spawn_health_checks(&upstreams);
    // JWKS schemes fetch their keys in the background; the tasks end with `serve`.
    let jwks = verifiers.jwks();
    let _jwks_refresh = jwks.start();
    let admin_state = Arc::new(AdminState {
        gateway,
        metrics: metrics.clone(),
        upstreams: upstreams.clone(),
        jwks,
    });
    // Idle keys are forgotten every few seconds; the task ends with `serve`.
    let _sweeper = (!gateway.rate_limits.is_empty()).then(|| {
        let limiters = limiters.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                limiters.sweep();
            }
        }))
    });
    let state = Arc::new(State {
        gateway,
        router,
        upstreams,
        metrics,
        limiters,
        verifiers,
        trusted_proxies,
        otel: otel.clone(),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            // An error means the sender is gone, which only happens once serving is over.
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let drain = config.shutdown_timeout;
    let admin_stopped = stopped();
    let admin = async {
        let served = admin::serve(config.admin_listener, admin_state, stopped());
        let bound = async {
            admin_stopped.await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            result = served => if let Err(error) = result {
                error!(%error, "admin listener failed");
            },
            () = bound => {}
        }
    };
    let public = serve_public(config.listener, state, stopped(), drain);
    let mut servers = std::pin::pin!(async {
        tokio::join!(admin, public);
    });
    tokio::select! {
        () = &mut servers => {}
        () = shutdown => {
            let _ = stop_tx.send(true);
            servers.await;
        }
    }
    if let Some(exporter) = otel {
        // Exports what is queued; blocking, so off the async workers.
        let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
    }
    Ok(())
}

/// How often idle rate-limit keys are dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Refuses a route table the runtime would fail on later, per request.
fn check_table(gateway: &Gateway) -> Result<(), StartError> {
    for policy in gateway.rate_limits {
        ratelimit::check_policy(policy).map_err(StartError::new)?;
    }
    for route in gateway.routes {
        if let Some(&index) = route
            .rate_limits
            .iter()
            .find(|&&index| index >= gateway.rate_limits.len())
        {
            return Err(StartError::new(format!(
                "route `{} {}` names rate-limit policy #{index}, which does not exist",
                route.method.as_str(),
                route.path
            )));
        }
        if route.service >= gateway.services.len() {
            return Err(StartError::new(format!(
                "route `{} {}` names service #{}, which does not exist",
                route.method.as_str(),
                route.path,
                route.service
            )));
        }
        if let Auth::Required {
            challenge,
            alternatives,
        } = route.auth
        {
            if HeaderValue::from_str(challenge).is_err() {
                return Err(StartError::new(format!(
                    "route `{} {}`: the challenge `{challenge}` is not a valid header value",
                    route.method.as_str(),
                    route.path
                )));
            }
            let unknown = alternatives
                .iter()
                .flat_map(|a| a.iter())
                .find(|r| !gateway.schemes.iter().any(|s| s.name == r.scheme));
            if let Some(requirement) = unknown {
                return Err(StartError::new(format!(
                    "route `{} {}` requires the auth scheme `{}`, which is not configured",
                    route.method.as_str(),
                    route.path,
                    requirement.scheme
                )));
            }
        }
    }
    Ok(())
}

struct OrUnknown<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrUnknown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The accept loop of the public listener. Connections run as tasks of a `JoinSet`, so
/// the ones still open when the drain bound elapses are aborted, not leaked.
async fn serve_public(
    listener: TcpListener,
    state: Arc<State>,
    stop: impl Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer enables hyper's header read timeout against slow or idle clients.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_failed(error).await;
                        continue;
                    }
                };
                // Small request and response heads must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let peer = peer.ip();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), peer, request));
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(error) = watcher.watch(connection).await {
                        debug!(%error, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut stop => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            connections = connections.len(),
            "connections still open after the shutdown timeout; closing them"
        );
    }
    connections.shutdown().await;
}

async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
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

/// One request on the public listener from TCP peer `peer`. Its [`Exchange`] goes into
/// the response body, which counts and logs the request when it ends.
async fn handle(
    state: Arc<State>,
    peer: IpAddr,
    request: http::Request<Incoming>,
) -> Result<Response<ObservedBody<State>>, Infallible> {
    let request_id = request_id(request.headers());
    // The peer, or behind trusted proxies the address they say they served.
    let client_ip = if state.trusted_proxies.is_empty() {
        peer
    } else {
        state.trusted_proxies.client_ip(peer, request.headers())
    };
    // Answers to preflights carry their own CORS headers (none when refused).
    let preflight = request.method() == http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|_| !preflight)
        .cloned();
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
    if let Some(origin) = &origin
        && let Some(cors) = cors_for(&exchange.state, exchange.progress.slot, origin)
    {
        cors.decorate(origin, response.headers_mut());
    }
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id);
    let status = response.status();
    Ok(response.map(|body| ObservedBody::new(body, status, exchange)))
}

/// The client's `X-Request-Id` if it is sane (1 to 200 visible ASCII characters), else a
/// new UUID v4.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(&X_REQUEST_ID) {
        let bytes = id.as_bytes();
        if !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes.iter().all(|b| b.is_ascii_graphic())
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
    /// A CORS preflight, answered here with these headers.
    Preflight(Slot, HeaderMap),
    Problem(Slot, Problem),
    /// A token named a `kid` unknown to this JWKS scheme: fetch its keys again and decide
    /// once more; the problem answers if it comes to this again.
    Refetch(&'static str, Slot, Problem),
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
    let has_body = !body.is_end_stream();
    let mut decision = decide(state, &parts, has_body, client_ip, quota).await;
    if let Decision::Refetch(scheme, ..) = decision {
        state.verifiers.refetch(scheme).await;
        decision = decide(state, &parts, has_body, client_ip, quota).await;
    }
    let (index, forward) = match decision {
        Decision::Forward(index, forward, authenticated) => {
            if let Some(authenticated) = authenticated {
                authenticated.apply(&mut parts.headers);
            }
            (index, forward)
        }
        Decision::OpenApi => {
            progress.slot = Slot::OpenApi;
            return Ok(openapi_response(state.gateway));
        }
        Decision::Preflight(slot, headers) => {
            progress.slot = slot;
            let mut response = Response::new(ResponseBody::full(Bytes::new()));
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            *response.headers_mut() = headers;
            return Ok(response);
        }
        Decision::Problem(slot, problem) | Decision::Refetch(_, slot, problem) => {
            progress.slot = slot;
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
                .map_err(|_| {
                    Problem::new(
                        http::StatusCode::REQUEST_TIMEOUT,
                        "request-timeout",
                        "Request timeout",
                        format!(
                            "the request body did not arrive within {} ms",
                            budget.as_millis()
                        ),
                    )
                })??;
            if let Err(problem) = body::check(&bytes, validate, &parts.headers, max_body).await {
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
    let response = forward::forward(
        upstream,
        operation_id,
        forward.path,
        parts,
        body,
        // `X-Forwarded-For` gets the peer appended: the list trusted proxies wrote, plus
        // the hop that reached the gateway.
        peer,
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
    let mut params: Vec<Cow<'_, str>> = Vec::new();
    let Some(leaf) = state.router.find(parts.uri.path(), &mut params) else {
        return Decision::Problem(Slot::Unmatched, Problem::not_found());
    };
    if parts.method == http::Method::OPTIONS
        && let Some(origin) = parts.headers.get(header::ORIGIN)
        && let Some(requested) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(state, leaf, origin, requested, parts);
    }
    let endpoint = Method::from_http(&parts.method).and_then(|method| leaf.endpoint(method));
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
    let query = parse_query(parts.uri.query().unwrap_or(""));
    // Public routes skip this entirely.
    let mut authenticated = None;
    if let Auth::Required {
        challenge,
        alternatives,
    } = route.auth
    {
        match state
            .verifiers
            .authenticate(alternatives, &parts.headers, &query)
        {
            Ok(granted) => authenticated = Some(granted),
            Err(failure @ crate::edge::auth::Failure::UnknownKid(scheme)) => {
                return Decision::Refetch(scheme, slot, auth_problem(&failure, challenge));
            }
            Err(failure) => {
                if let Some(reason) = Unauthorized::of(&failure) {
                    state.metrics.auth_failed(slot, reason);
                }
                return Decision::Problem(slot, auth_problem(&failure, challenge));
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
    if let Err(at) = router::decode_params(&mut params) {
        state.metrics.validation_failed(slot, Invalid::Parameters);
        let name = state.router.param_names(index).get(at).copied();
        return Decision::Problem(
            slot,
            Problem::invalid_request(vec![FieldError {
                location: "path",
                name: name.map(str::to_owned),
                pointer: None,
                message: "must be valid UTF-8 once percent-decoded".to_owned(),
            }]),
        );
    }
    if let Err(problem) = body::check_media_type(route.body, &parts.headers, has_body) {
        return Decision::Problem(slot, problem);
    }
    let handled = (route.handler)(&Request::new(&params, &query, &parts.headers));
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
fn auth_problem(failure: &crate::edge::auth::Failure, challenge: &'static str) -> Problem {
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

/// The CORS policy that applies to the answer to `slot`, if the origin is allowed.
fn cors_for(state: &State, slot: Slot, origin: &HeaderValue) -> Option<&'static Cors> {
    let Slot::Route(index) = slot else {
        return None;
    };
    let route = state.gateway.routes.get(index)?;
    let cors = state.gateway.services.get(route.service)?.cors?;
    cors.allows(origin.to_str().ok()?).then_some(cors)
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
    use crate::{Route, Service};

    static SERVICES: [Service; 2] = [
        Service {
            name: "users",
            env: "GATEWAY_UPSTREAM_USERS",
            urls: &["http://127.0.0.1:9001"],
            discovery: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            cors: None,
            resilience: crate::upstream::Policy::DEFAULT,
        },
        Service {
            name: "orders",
            env: "GATEWAY_UPSTREAM_ORDERS",
            urls: &[],
            discovery: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            cors: None,
            resilience: crate::upstream::Policy::DEFAULT,
        },
    ];

    static GATEWAY: Gateway = Gateway {
        name: "test",
        generator_version: "0",
        listen: "0.0.0.0:8080",
        openapi_json: "{}",
        max_body: 1024,
        services: &SERVICES,
        routes: &[] as &[Route],
        rate_limits: &[],
        schemes: &[],
        rate_limit_store: crate::Store::Memory,
        trusted_proxies: &[],
        otlp_endpoint_env: None,
    };

    fn read(vars: &[(&str, &str)]) -> Result<Settings, StartError> {
        Settings::read(&GATEWAY, |name| {
            Ok(vars
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned()))
        })
    }

    #[test]
    fn defaults_come_from_the_gateway() {
        let settings = read(&[]).unwrap();
        assert_eq!(settings.listen, "0.0.0.0:8080");
        assert_eq!(settings.admin_listen, DEFAULT_ADMIN_LISTEN);
        assert!(settings.upstreams.is_empty());
        assert_eq!(settings.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
    }

    #[test]
    fn environment_overrides() {
        let settings = read(&[
            ("GATEWAY_LISTEN", "127.0.0.1:1"),
            ("GATEWAY_ADMIN_LISTEN", "127.0.0.1:2"),
            (
                "GATEWAY_UPSTREAM_USERS",
                " http://10.0.0.1:80 ,http://10.0.0.2/v1,",
            ),
            ("GATEWAY_UPSTREAM_ORDERS", ""),
            ("GATEWAY_SHUTDOWN_TIMEOUT", "2.5"),
        ])
        .unwrap();
        assert_eq!(settings.listen, "127.0.0.1:1");
        assert_eq!(settings.admin_listen, "127.0.0.1:2");
        assert_eq!(
            settings.upstreams["users"],
            ["http://10.0.0.1:80", "http://10.0.0.2/v1"]
        );
        assert!(settings.upstreams["orders"].is_empty());
        assert_eq!(settings.shutdown_timeout, Duration::from_millis(2500));
        assert_eq!(settings.dns_server, None);
        let settings = read(&[("GATEWAY_DNS_SERVER", "127.0.0.1:5353")]).unwrap();
        assert_eq!(settings.dns_server, Some("127.0.0.1:5353".parse().unwrap()));
        assert!(read(&[("GATEWAY_DNS_SERVER", "dns.internal")]).is_err());
    }

    #[test]
    fn the_otlp_endpoint_is_read_from_the_variable_the_manifest_names() {
        static EXPORTING: Gateway = Gateway {
            otlp_endpoint_env: Some("OTEL_EXPORTER_OTLP_ENDPOINT"),
            ..GATEWAY
        };
        let read = |vars: &[(&str, &str)]| {
            Settings::read(&EXPORTING, |name| {
                Ok(vars
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned()))
            })
            .unwrap()
            .otlp_endpoint
        };
        assert_eq!(
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).as_deref(),
            Some("http://collector:4318")
        );
        // Unset or empty: nothing is exported.
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        // A manifest without `otlp_endpoint_env` ignores the variable.
        let settings = super::tests::read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        assert_eq!(settings.unwrap().otlp_endpoint, None);
    }

    #[test]
    fn the_store_url_comes_from_the_variable_the_manifest_names() {
        static STORE: crate::RedisStore = crate::RedisStore {
            url_env: "SHOP_REDIS",
            timeout: Duration::from_millis(50),
        };
        static SHARED: Gateway = Gateway {
            rate_limit_store: crate::Store::Redis(&STORE),
            ..GATEWAY
        };
        let vars = |name: &str| Ok((name == "SHOP_REDIS").then(|| "redis://r:6379".to_owned()));
        let settings = Settings::read(&SHARED, vars).unwrap();
        assert_eq!(
            settings.rate_limit_store_url.as_deref(),
            Some("redis://r:6379")
        );
        // The memory store reads no variable.
        assert_eq!(
            Settings::read(&GATEWAY, vars).unwrap().rate_limit_store_url,
            None
        );
    }

    #[test]
    fn bad_shutdown_timeouts_are_refused() {
        for bad in ["-1", "soon", "NaN", "inf", "1e30"] {
            assert!(read(&[("GATEWAY_SHUTDOWN_TIMEOUT", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        for insane in ["", "has space", &"x".repeat(201)] {
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
