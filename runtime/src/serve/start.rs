//! The entry point of a generated gateway: settings and start-up.
//!
//! [`run`] is all a generated `main` calls: it is synchronous so that the generated crate
//! instantiates none of the async machinery and rebuilds in about a second (DESIGN.md,
//! "Generated code is data"). It reads the environment, then hands over to [`serve`],
//! which tests call directly with their own listeners and shutdown signal. `serve` builds
//! the state the request path reads (`dispatch::State`), starts the background tasks
//! (discovery, health checks, JWKS refreshes, rate-limit sweeps) and both listeners.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::edge::auth::{Auth, Verifiers};
use crate::edge::client_ip::TrustedProxies;
use crate::edge::ratelimit::{self, Limiters, Store};
use crate::gateway::Gateway;
use crate::observe::metrics::Metrics;
use crate::observe::otel::Exporter;
use crate::proxy::upstream::Upstreams;
use crate::proxy::{discovery, health};
use crate::serve::admin::{self, AdminState};
use crate::serve::dispatch::State;
use crate::serve::docs::Docs;
use crate::serve::health_check;
use crate::serve::listen::serve_public;
use crate::serve::router::Router;

/// Admin listener address when `GATEWAY_ADMIN_LISTEN` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// Drain bound when `GATEWAY_SHUTDOWN_TIMEOUT` is not set.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

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
///
/// With the one argument `--health-check` it serves nothing: it asks the running
/// gateway's admin listener (`GATEWAY_ADMIN_LISTEN`) for `/healthz` and succeeds on a 200,
/// the `HEALTHCHECK` of the generated `Dockerfile`. Any other argument is refused (exit 2).
pub fn run(gateway: &'static Gateway) -> ExitCode {
    match Mode::parse(std::env::args_os().skip(1)) {
        Ok(Mode::Serve) => {}
        Ok(Mode::HealthCheck) => return health_check(),
        Err(argument) => {
            eprintln!(
                "{}: unknown argument `{}`; the gateway reads its settings from the \
                 environment and takes no argument but --health-check",
                gateway.name,
                argument.to_string_lossy()
            );
            return ExitCode::from(2);
        }
    }
    init_logging();
    raise_fd_limit();
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

/// What the command line asks [`run`] for.
#[derive(Debug, PartialEq)]
enum Mode {
    Serve,
    HealthCheck,
}

impl Mode {
    /// The arguments after the program's name; `Err` holds the first one not understood.
    fn parse(
        mut args: impl Iterator<Item = std::ffi::OsString>,
    ) -> Result<Mode, std::ffi::OsString> {
        let mode = match args.next() {
            None => return Ok(Mode::Serve),
            Some(flag) if flag == "--health-check" => Mode::HealthCheck,
            Some(other) => return Err(other),
        };
        match args.next() {
            None => Ok(mode),
            Some(extra) => Err(extra),
        }
    }
}

/// `--health-check`: one line saying what `/healthz` answered, exit 0 on a 200, else 1.
fn health_check() -> ExitCode {
    let admin_listen = match env_var("GATEWAY_ADMIN_LISTEN") {
        Ok(value) => value.unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned()),
        Err(error) => {
            eprintln!("unhealthy: {error}");
            return ExitCode::FAILURE;
        }
    };
    match health_check::check(&admin_listen) {
        Ok(status) => {
            println!("healthy: {status}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("unhealthy: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as systemd advises programs
/// that do not use `select()` (systemd.exec, `LimitNOFILE=`) and as Go does at start: the
/// soft limit is often 1024 for the sake of `select()`, far below what a proxy needs.
#[cfg(unix)]
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is unlimited, which Linux refuses for this limit anyway.
    if limit.maximum.is_some() && limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            warn!(%error, "cannot raise the limit on open files");
        }
    }
}

#[cfg(not(unix))]
fn raise_fd_limit() {}

/// File descriptors kept out of the connection cap: the listeners, the runtime's own,
/// DNS, Redis, JWKS and OTLP clients, files read at start.
const RESERVED_FDS: u64 = 128;

/// The connection cap when the manifest sets none: half of the file descriptors left
/// after [`RESERVED_FDS`], since every client connection may hold one upstream connection
/// (in flight, or idle in the pool). `nofile`: the soft limit, `None` if unlimited.
fn default_max_connections(nofile: Option<u64>) -> usize {
    let usable = nofile.unwrap_or(u64::MAX).saturating_sub(RESERVED_FDS) / 2;
    usize::try_from(usable)
        .unwrap_or(usize::MAX)
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
}

#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// No such limit to read: no cap unless the manifest sets one.
#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
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
            gateway.auth_failures,
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
    let limits = gateway.connections;
    let max_connections = match limits.max_connections {
        Some(max) => usize::try_from(max)
            .unwrap_or(usize::MAX)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        None => default_max_connections(fd_limit()),
    };
    info!(
        gateway = gateway.name,
        generator_version = gateway.generator_version,
        listen = %OrUnknown(listen),
        admin_listen = %OrUnknown(admin_listen),
        routes = gateway.routes.len(),
        max_connections,
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
    let _sweeper =
        (!gateway.rate_limits.is_empty() || gateway.auth_failures.is_some()).then(|| {
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
        docs: gateway.docs.map(|path| Docs::new(gateway.name, path)),
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
    let public = serve_public(
        config.listener,
        state,
        limits,
        max_connections,
        stopped(),
        drain,
    );
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
    for policy in gateway.rate_limits.iter().chain(gateway.auth_failures) {
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
        connections: crate::gateway::Connections::DEFAULT,
        openapi_json: "{}",
        docs: None,
        max_body: 1024,
        max_fields: 1000,
        services: &SERVICES,
        routes: &[] as &[Route],
        rate_limits: &[],
        schemes: &[],
        auth_failures: None,
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
            auth_failures: None,
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
    fn the_default_connection_cap_leaves_descriptors_for_upstreams_and_files() {
        // A common soft limit, one raised, and limits too small or unknown.
        assert_eq!(default_max_connections(Some(1024)), 448);
        assert_eq!(default_max_connections(Some(1 << 20)), 524_224);
        assert_eq!(default_max_connections(Some(100)), 1);
        assert_eq!(
            default_max_connections(None),
            tokio::sync::Semaphore::MAX_PERMITS
        );
    }

    #[test]
    fn the_command_line_serves_or_checks_health() {
        let parse = |args: &[&str]| Mode::parse(args.iter().map(std::ffi::OsString::from));
        assert_eq!(parse(&[]), Ok(Mode::Serve));
        assert_eq!(parse(&["--health-check"]), Ok(Mode::HealthCheck));
        assert_eq!(parse(&["--port"]), Err("--port".into()));
        assert_eq!(parse(&["--health-check", "now"]), Err("now".into()));
    }

    #[test]
    fn bad_shutdown_timeouts_are_refused() {
        for bad in ["-1", "soon", "NaN", "inf", "1e30"] {
            assert!(read(&[("GATEWAY_SHUTDOWN_TIMEOUT", bad)]).is_err(), "{bad}");
        }
    }
}
