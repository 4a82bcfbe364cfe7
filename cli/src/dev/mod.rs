//! `gateway dev`: the gateway of a manifest, built and running in front of mock upstreams
//! made from its specs, rebuilt whenever the manifest or a spec changes (docs/dev.md).
//!
//! One thread runs an event loop over file changes, cargo's output, the gateway's log
//! lines, process exits and Ctrl-C; a small tokio runtime serves the mocks and the
//! development JWKS. Each change is an attempt: load (the dev settings applied, see
//! [`patch`]) -> lower -> check -> emit -> write into the work folder -> `cargo build`.
//! Only an attempt that builds replaces the running gateway (stop the old one, start
//! the new one, wait until it accepts connections); one that fails prints its
//! diagnostics or cargo's errors and the old gateway keeps serving. A change during a
//! build stops that build and starts over.
//!
//! The work folder (default `.gateway/dev` beside the manifest, ignored by git) holds the
//! generated crate (`crate/`), key files (`keys/`) and, unless `CARGO_TARGET_DIR` says
//! otherwise, cargo's `target/`. The manifest's own `output` is never written.

mod banner;
mod build;
mod keys;
mod logs;
pub mod mock;
mod process;
mod watch;

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use self::keys::{Credential, Keys, Material};
use self::mock::{Mock, MockSpec};
use self::process::Stream;
use crate::diag::{self, Diagnostics};
use crate::emit::{self, RuntimeDep};
use crate::ir::Gateway;
use crate::load::{self, Manifest, RateLimitStore, Sources};

/// Exit codes, as the other commands use them.
const EXIT_OK: u8 = 0;
const EXIT_INPUT: u8 = 1;

/// How long a gateway gets to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped gateway gets to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// `gateway dev`'s arguments.
#[derive(Debug, Clone)]
pub struct Options {
    pub manifest: PathBuf,
    /// The public port on 127.0.0.1: 0 for a free one; default the manifest's `listen` port.
    pub port: Option<u16>,
    pub workdir: Option<PathBuf>,
}

enum Event {
    Changed(Vec<PathBuf>),
    Interrupt,
    Cargo(Stream, String),
    CargoExit(Option<ExitStatus>),
    Gateway(String),
    GatewayExit(Option<ExitStatus>),
}

/// What a service's mock answers from.
struct ServiceSpec {
    key: String,
    /// The bundled spec.
    doc: Value,
    /// The health-check path and the status to answer it with.
    health: Option<(String, u16)>,
    /// The spec's root file.
    file: PathBuf,
}

/// An attempt that compiled, waiting for its build.
struct Attempt {
    gateway: Gateway,
    /// In the manifest's order, as the gateway's services.
    services: Vec<ServiceSpec>,
    material: Material,
    credentials: Vec<Credential>,
    notes: Vec<String>,
    /// The committed crate's folder (the manifest's `output`).
    output: PathBuf,
    started: Instant,
}

struct Building {
    pid: u32,
    attempt: Attempt,
    progress: build::Progress,
    executable: Option<PathBuf>,
    /// A change arrived: this build is stopped and the next attempt starts when it exits.
    superseded: bool,
}

/// The gateway's settings of one `gateway dev` process.
struct Dev<'w> {
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    terminal: bool,
    manifest: PathBuf,
    workdir: PathBuf,
    target_dir: PathBuf,
    runtime_dep: RuntimeDep,
    requested_port: Option<u16>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    /// Events met while waiting for a particular one, handled next.
    deferred: VecDeque<Event>,
    tokio: tokio::runtime::Runtime,
    watcher: watch::Watcher,
    /// The texts the last load read, by watched path: an event for a file whose text is
    /// the same (the watcher also reports files being opened and read, by the load
    /// itself among others) is not a change.
    read: BTreeMap<PathBuf, Option<String>>,
    mocks: BTreeMap<String, Mock>,
    keys: Keys,
    jwks: Arc<RwLock<BTreeMap<String, Value>>>,
    jwks_base: String,
    public: Option<SocketAddr>,
    admin: SocketAddr,
    /// The running gateway's process id.
    gateway: Option<u32>,
    building: Option<Building>,
    units: Option<usize>,
    served_once: bool,
    interrupted: bool,
}

/// Runs `gateway dev` until Ctrl-C (or SIGTERM); returns the exit code.
pub fn run(options: Options, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match Dev::new(options, out, err) {
        Ok(mut dev) => dev.run(),
        Err(message) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_INPUT
        }
    }
}

/// A free port on 127.0.0.1 (free when asked; nothing holds it afterwards).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The development settings, applied to the loaded manifest before it is lowered:
/// response validation on for every service (a mock that breaks its own spec shows up),
/// and a Redis rate-limit store replaced by the in-memory one (no Redis to reach).
/// Returns what was changed, to be said.
pub fn patch(manifest: &mut Manifest) -> Vec<String> {
    let mut notes = Vec::new();
    manifest.validate_responses = true;
    for service in &mut manifest.services {
        if service.validate_responses == Some(false) {
            notes.push(format!(
                "response validation is on for `{}` too (its manifest turns it off)",
                service.key
            ));
        }
        service.validate_responses = Some(true);
    }
    if let RateLimitStore::Redis { url_env, .. } = &manifest.rate_limit_store {
        notes.push(format!(
            "rate limits are counted in memory, not in the Redis at ${url_env}"
        ));
        manifest.rate_limit_store = RateLimitStore::Memory;
    }
    notes
}

impl<'w> Dev<'w> {
    fn new(
        options: Options,
        out: &'w mut dyn Write,
        err: &'w mut dyn Write,
    ) -> Result<Dev<'w>, String> {
        let manifest = options.manifest;
        if !manifest.is_file() {
            return Err(format!(
                "cannot read the manifest {}: no such file (pass it with --manifest)",
                manifest.display()
            ));
        }
        let folder = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let workdir = match options.workdir {
            Some(dir) => dir,
            None => {
                let dot = folder.join(".gateway");
                std::fs::create_dir_all(&dot)
                    .map_err(|e| format!("cannot create {}: {e}", dot.display()))?;
                // Like cargo's target/, the folder is ours and not for version control.
                let ignore = dot.join(".gitignore");
                if !ignore.exists() {
                    let _ = std::fs::write(&ignore, "# written by `gateway dev`\n*\n");
                }
                dot.join("dev")
            }
        };
        std::fs::create_dir_all(&workdir)
            .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
        let workdir = std::path::absolute(&workdir).unwrap_or(workdir);
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => {
                std::path::absolute(PathBuf::from(&dir)).unwrap_or_else(|_| PathBuf::from(dir))
            }
            None => workdir.join("target"),
        };
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let (tx, rx) = channel();
        // Ctrl-C and SIGTERM end the loop, which then stops what it started.
        let signals = tx.clone();
        tokio.spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut interrupt), Ok(mut terminate)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            let _ = signals.send(Event::Interrupt);
        });
        let watcher = watch::Watcher::new(tx.clone(), Event::Changed)?;
        let jwks: Arc<RwLock<BTreeMap<String, Value>>> = Arc::default();
        let jwks_addr = serve_jwks(&tokio, jwks.clone())
            .map_err(|e| format!("cannot serve the development JWKS: {e}"))?;
        let admin_port = free_port().map_err(|e| format!("cannot find a free port: {e}"))?;
        Ok(Dev {
            out,
            err,
            terminal: std::io::stderr().is_terminal(),
            manifest,
            workdir,
            target_dir,
            // The runtime this compiler carries: it always matches the code it generates,
            // even when the checkout it was installed from has moved on.
            runtime_dep: RuntimeDep::Vendored,
            requested_port: options.port,
            tx,
            rx,
            deferred: VecDeque::new(),
            tokio,
            watcher,
            read: BTreeMap::new(),
            mocks: BTreeMap::new(),
            keys: Keys::default(),
            jwks,
            jwks_base: format!("http://{jwks_addr}/jwks"),
            public: None,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            gateway: None,
            building: None,
            units: None,
            served_once: false,
            interrupted: false,
        })
    }

    fn say(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn warn(&mut self, text: &str) {
        let _ = self.err.write_all(text.as_bytes());
        let _ = self.err.flush();
    }

    fn next(&mut self) -> Option<Event> {
        match self.deferred.pop_front() {
            Some(event) => Some(event),
            None => self.rx.recv().ok(),
        }
    }

    fn run(&mut self) -> u8 {
        let manifest = self.manifest.display().to_string();
        self.say(&format!(
            "gateway dev: {manifest}, work folder {}\n",
            self.workdir.display()
        ));
        self.attempt();
        while !self.interrupted {
            let Some(event) = self.next() else { break };
            self.handle(event);
        }
        self.shutdown();
        EXIT_OK
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Interrupt => self.interrupted = true,
            Event::Changed(paths) => {
                let paths: Vec<PathBuf> = paths
                    .into_iter()
                    .filter(|path| {
                        let now = std::fs::read_to_string(path).ok();
                        self.read.get(path).is_none_or(|before| *before != now)
                    })
                    .collect();
                if paths.is_empty() {
                    return;
                }
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                self.say(&format!("\nchanged: {}\n", names.join(", ")));
                match &mut self.building {
                    Some(building) => {
                        if !building.superseded {
                            building.superseded = true;
                            process::signal(building.pid, false);
                        }
                    }
                    None => self.attempt(),
                }
            }
            Event::Cargo(Stream::Stdout, line) => self.cargo_message(&line),
            Event::Cargo(Stream::Stderr, line) => {
                let clear = if self.terminal { "\r\x1b[2K" } else { "" };
                self.warn(&format!("{clear}{line}\n"));
            }
            Event::CargoExit(status) => self.built(status),
            Event::Gateway(line) => {
                let text = logs::format(&line);
                self.say(&format!("  gateway: {text}\n"));
            }
            Event::GatewayExit(status) => {
                self.gateway = None;
                self.warn(&format!(
                    "the gateway exited ({}); save a change to the manifest or a spec to try again\n",
                    describe(status)
                ));
            }
        }
    }

    /// Files the last load read, and the manifest, are watched from now on.
    fn watch(&mut self, sources: &mut Sources) {
        let files: Vec<PathBuf> = sources
            .paths()
            .map(Path::to_path_buf)
            .chain([self.manifest.clone()])
            .collect();
        self.read = files
            .iter()
            .map(|file| {
                (
                    watch::normalize(file),
                    sources.read(file).ok().map(|text| text.to_string()),
                )
            })
            .collect();
        if let Err(message) = self.watcher.set(files) {
            self.warn(&format!("warning: {message}\n"));
        }
    }

    /// Load, lower, check, emit and write; then start the build.
    fn attempt(&mut self) {
        let started = Instant::now();
        let mut sources = Sources::new();
        let mut diagnostics = Diagnostics::default();
        let loaded = load::load(&self.manifest, &mut sources, &mut diagnostics);
        self.watch(&mut sources);
        let attempt = loaded.and_then(|mut loaded| {
            let output = loaded.manifest.output.clone().unwrap_or_else(|| {
                let folder = self.manifest.parent().unwrap_or(Path::new(""));
                folder.join("generated").join(&loaded.manifest.name)
            });
            let mut notes = patch(&mut loaded.manifest);
            let keys_dir = self.workdir.join("keys");
            let material = match self
                .keys
                .prepare(&mut loaded.manifest, &self.jwks_base, &keys_dir)
            {
                Ok(material) => material,
                Err(message) => {
                    self.warn(&format!("error: {message}\n"));
                    return None;
                }
            };
            notes.extend(material.notes.iter().cloned());
            let gateway = crate::lower::lower(&loaded, &mut diagnostics)?;
            crate::check::check(&gateway, &mut diagnostics);
            if diagnostics.has_errors() {
                return None;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let credentials = match material.credentials(&gateway, now) {
                Ok(credentials) => credentials,
                Err(message) => {
                    self.warn(&format!("error: {message}\n"));
                    return None;
                }
            };
            let services = loaded
                .manifest
                .services
                .iter()
                .zip(&loaded.specs)
                .map(|(service, spec)| {
                    let health = service.resilience.health_check.as_ref().map(|check| {
                        (
                            check.path.clone(),
                            check.expected_status.first().copied().unwrap_or(200),
                        )
                    });
                    ServiceSpec {
                        key: service.key.clone(),
                        doc: spec.document.clone(),
                        health,
                        file: spec.file.clone(),
                    }
                })
                .collect();
            Some(Attempt {
                gateway,
                services,
                material,
                credentials,
                notes,
                output,
                started,
            })
        });
        sources.resolve(&mut diagnostics);
        diagnostics.sort();
        if !diagnostics.is_empty() {
            let text = diag::render_human(&diagnostics, &sources);
            self.warn(&text);
        }
        let Some(attempt) = attempt else {
            self.failed("the manifest or a spec has errors (above)");
            return;
        };
        let crate_dir = self.workdir.join("crate");
        let files = match emit::emit(&attempt.gateway, &self.runtime_dep) {
            Ok(files) => files,
            Err(message) => {
                self.failed(&format!("internal error while emitting: {message}"));
                return;
            }
        };
        if let Err(e) = crate::write::write(&crate_dir, &files) {
            self.failed(&format!("cannot write {}: {e}", crate_dir.display()));
            return;
        }
        Self::seed_lockfile(&crate_dir, &attempt.output);
        let manifest_path = crate_dir.join("Cargo.toml");
        if self.units.is_none() {
            self.units = build::estimate_units(&manifest_path);
        }
        let command = build::command(&manifest_path, &self.target_dir, self.terminal);
        self.say(&format!(
            "building {} ({} routes) in {}\n",
            attempt.gateway.name,
            attempt.gateway.routes.len(),
            crate_dir.display()
        ));
        match process::spawn(command, self.tx.clone(), Event::Cargo, Event::CargoExit) {
            Ok(pid) => {
                self.building = Some(Building {
                    pid,
                    attempt,
                    progress: build::Progress::new(self.units, self.terminal),
                    executable: None,
                    superseded: false,
                })
            }
            Err(e) => self.failed(&format!("cannot run cargo: {e}")),
        }
    }

    /// A development build resolves the same versions as the committed crate: its
    /// `Cargo.lock`, if it has one, is copied before the first build.
    fn seed_lockfile(crate_dir: &Path, output: &Path) {
        let lock = crate_dir.join("Cargo.lock");
        if !lock.exists() {
            let _ = std::fs::copy(output.join("Cargo.lock"), &lock);
        }
    }

    fn failed(&mut self, why: &str) {
        let keeping = if self.gateway.is_some() {
            "; the running gateway keeps serving"
        } else {
            ""
        };
        let what = if self.served_once {
            "not reloaded"
        } else {
            "not started"
        };
        self.warn(&format!("{what}: {why}{keeping}\n"));
    }

    fn cargo_message(&mut self, line: &str) {
        let Some(building) = &mut self.building else {
            return;
        };
        match build::parse(line) {
            build::Message::Unit {
                name,
                fresh,
                executable,
            } => {
                if let Some(executable) = executable {
                    building.executable = Some(executable);
                }
                if let Some(text) = building.progress.unit(&name, fresh) {
                    self.warn(&text);
                }
            }
            build::Message::Finished { .. } | build::Message::Other => {}
        }
    }

    fn built(&mut self, status: Option<ExitStatus>) {
        let Some(building) = self.building.take() else {
            return;
        };
        if building.superseded {
            self.attempt();
            return;
        }
        let success = status.is_some_and(|s| s.success());
        self.units = Some(building.progress.units());
        let finish = building.progress.finish(success);
        self.warn(&finish);
        match (success, building.executable) {
            (true, Some(executable)) => self.deploy(building.attempt, &executable),
            (true, None) => self.failed("cargo built no executable"),
            (false, _) => self.failed("the build failed"),
        }
    }

    /// Waits for an event `wanted` picks out, up to `deadline`; prints log lines meanwhile
    /// and keeps the other events for later.
    fn wait_for(&mut self, deadline: Instant, wanted: fn(&Event) -> bool) -> Option<Event> {
        if let Some(index) = self.deferred.iter().position(wanted) {
            return self.deferred.remove(index);
        }
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let event = self.rx.recv_timeout(left).ok()?;
            if let Event::GatewayExit(_) = event {
                // Reaped: its process id may be reused, so it is never signalled again.
                self.gateway = None;
            }
            match event {
                event if wanted(&event) => return Some(event),
                Event::Gateway(line) => {
                    let text = logs::format(&line);
                    self.say(&format!("  gateway: {text}\n"));
                }
                Event::Interrupt => {
                    self.interrupted = true;
                    self.deferred.push_back(Event::Interrupt);
                }
                other => self.deferred.push_back(other),
            }
        }
    }

    fn stop_gateway(&mut self) {
        let Some(pid) = self.gateway else {
            return;
        };
        let exited = |e: &Event| matches!(e, Event::GatewayExit(_));
        process::signal(pid, false);
        if self
            .wait_for(Instant::now() + STOP_TIMEOUT, exited)
            .is_none()
        {
            if let Some(pid) = self.gateway {
                process::signal(pid, true);
            }
            let _ = self.wait_for(Instant::now() + STOP_TIMEOUT, exited);
        }
        self.gateway = None;
    }

    /// Replaces the running gateway with the one just built.
    fn deploy(&mut self, attempt: Attempt, executable: &Path) {
        for (path, contents) in &attempt.material.files {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(e) = std::fs::write(path, contents) {
                self.failed(&format!("cannot write {}: {e}", path.display()));
                return;
            }
        }
        // The mocks answer from the new specs; services that left lose theirs.
        let keys: Vec<&String> = attempt.services.iter().map(|s| &s.key).collect();
        self.mocks.retain(|key, _| keys.contains(&key));
        for ServiceSpec {
            key, doc, health, ..
        } in &attempt.services
        {
            let spec = MockSpec::new(doc.clone(), health.clone());
            match self.mocks.get(key) {
                Some(mock) => mock.replace(spec),
                None => match Mock::start(self.tokio.handle(), spec) {
                    Ok(mock) => {
                        self.mocks.insert(key.clone(), mock);
                    }
                    Err(e) => {
                        self.failed(&format!("cannot start the mock of `{key}`: {e}"));
                        return;
                    }
                },
            }
        }
        *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = attempt.material.jwks.clone();
        let public = match self.public {
            Some(public) => public,
            None => {
                let port = match self.requested_port {
                    Some(0) => free_port().unwrap_or(0),
                    Some(port) => port,
                    None => attempt
                        .gateway
                        .listen
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(8080),
                };
                let public = SocketAddr::from(([127, 0, 0, 1], port));
                self.public = Some(public);
                public
            }
        };
        self.stop_gateway();
        // Readiness is asked on these ports: another program holding one would answer for
        // the gateway.
        for (address, hint) in [
            (public, "; choose another port with --port (0: a free one)"),
            (self.admin, ""),
        ] {
            if let Err(e) = TcpListener::bind(address) {
                self.failed(&format!("cannot listen on {address} ({e}){hint}"));
                return;
            }
        }
        let mut command = Command::new(executable);
        command
            .current_dir(&self.workdir)
            .env("GATEWAY_LISTEN", public.to_string())
            .env("GATEWAY_ADMIN_LISTEN", self.admin.to_string())
            .env("GATEWAY_SHUTDOWN_TIMEOUT", "1");
        if std::env::var_os("GATEWAY_LOG").is_none() {
            command.env("GATEWAY_LOG", "info");
        }
        for service in &attempt.gateway.services {
            if let Some(mock) = self.mocks.get(&service.key) {
                command.env(&service.env, format!("http://{}", mock.addr));
            }
        }
        for (name, value) in &attempt.material.env {
            command.env(name, value);
        }
        let pid = match process::spawn(
            command,
            self.tx.clone(),
            |_, line| Event::Gateway(line),
            Event::GatewayExit,
        ) {
            Ok(pid) => pid,
            Err(e) => {
                self.failed(&format!("cannot start {}: {e}", executable.display()));
                return;
            }
        };
        self.gateway = Some(pid);
        // Ready once `/readyz` says so: listening, every service with an instance, every
        // JWKS loaded (a token sent before would be answered 503).
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        let ready = loop {
            match readyz(self.admin) {
                Some((200, _)) => break true,
                Some((_, body)) => last = body,
                None => {}
            }
            if let Some(Event::GatewayExit(status)) = self
                .wait_for(Instant::now() + Duration::from_millis(25), |e| {
                    matches!(e, Event::GatewayExit(_))
                })
            {
                self.gateway = None;
                self.warn(&format!(
                    "the gateway did not start ({}): see its log above\n",
                    describe(status)
                ));
                return;
            }
            if Instant::now() >= deadline || self.interrupted {
                break false;
            }
        };
        if self.interrupted {
            return;
        }
        if !ready {
            self.warn(&format!(
                "the gateway is not ready after {}s: {last}\n",
                START_TIMEOUT.as_secs()
            ));
        }
        let elapsed = attempt.started.elapsed().as_secs_f64();
        let base = format!("http://{public}");
        let mut text = String::new();
        if self.served_once {
            text.push_str(&format!(
                "reloaded in {elapsed:.1}s: {} on {base}, {} routes\n",
                attempt.gateway.name,
                attempt.gateway.routes.len()
            ));
        } else {
            text.push_str(&self.welcome(&attempt, &base, elapsed));
        }
        self.served_once = true;
        self.say(&text);
    }

    fn welcome(&self, attempt: &Attempt, base: &str, elapsed: f64) -> String {
        let gateway = &attempt.gateway;
        let mut text = format!(
            "\nserving {} on {base} (admin http://{}), {} routes, ready in {elapsed:.1}s\n\n",
            gateway.name,
            self.admin,
            gateway.routes.len()
        );
        text.push_str(
            "mock upstreams, answering from the specs' examples \
             (Prefer: code=<status> | example=<name> | dynamic=true):\n",
        );
        for ServiceSpec { key, file, .. } in &attempt.services {
            if let Some(mock) = self.mocks.get(key) {
                text.push_str(&format!(
                    "  {key:<10} http://{:<21} {}\n",
                    mock.addr,
                    file.display()
                ));
            }
        }
        text.push_str(
            "response validation: on for every service (breaches are logged as `warn`)\n",
        );
        for note in attempt
            .notes
            .iter()
            .filter(|n| !attempt.material.notes.contains(n))
        {
            text.push_str(&format!("note: {note}\n"));
        }
        let credentials = banner::credentials(&attempt.material.notes, &attempt.credentials);
        if !credentials.is_empty() {
            text.push('\n');
            text.push_str(&credentials);
        }
        text.push_str("\nroutes:\n");
        text.push_str(&banner::routes(gateway));
        text.push_str("\ntry:\n");
        for route in gateway.routes.iter().take(banner::CURL_LINES) {
            let Some(ServiceSpec { doc, .. }) = attempt.services.get(route.service) else {
                continue;
            };
            text.push_str(&format!(
                "  {}\n",
                banner::curl(gateway, doc, route, base, &attempt.credentials)
            ));
        }
        text.push_str("\nwatching the manifest and its specs; Ctrl-C stops\n");
        text
    }

    fn shutdown(&mut self) {
        if let Some(building) = self.building.take() {
            process::signal(building.pid, false);
            let _ = self.wait_for(Instant::now() + STOP_TIMEOUT, |e| {
                matches!(e, Event::CargoExit(_))
            });
        }
        self.stop_gateway();
        self.mocks.clear();
        self.say("gateway dev: stopped\n");
    }
}

/// `GET /readyz` on the admin listener: its status and body, `None` when nothing answers.
fn readyz(admin: SocketAddr) -> Option<(u16, String)> {
    use std::io::Read;
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: gateway-dev\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .trim()
        .to_owned();
    Some((status, body))
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "status unknown".to_owned(),
    }
}

/// Serves the development JWK sets at `/jwks/<scheme>.json`, for schemes whose keys the
/// gateway fetches.
fn serve_jwks(
    runtime: &tokio::runtime::Runtime,
    sets: Arc<RwLock<BTreeMap<String, Value>>>,
) -> std::io::Result<SocketAddr> {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/jwks/{file}",
            axum::routing::get(
                |State(sets): State<Arc<RwLock<BTreeMap<String, Value>>>>,
                 UrlPath(file): UrlPath<String>| async move {
                    let scheme = file.strip_suffix(".json").unwrap_or(&file).to_owned();
                    let set = sets
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&scheme)
                        .cloned();
                    match set {
                        Some(set) => (
                            StatusCode::OK,
                            [(axum::http::header::CONTENT_TYPE, "application/json")],
                            set.to_string(),
                        ),
                        None => (
                            StatusCode::NOT_FOUND,
                            [(axum::http::header::CONTENT_TYPE, "text/plain")],
                            format!("no development JWKS for `{scheme}`"),
                        ),
                    }
                },
            ),
        )
        .with_state(sets);
    let _guard = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> (Gateway, Vec<Value>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut sources = Sources::new();
        let mut diagnostics = Diagnostics::default();
        let loaded = load::load(
            &root.join("examples/ecommerce/gateway.yaml"),
            &mut sources,
            &mut diagnostics,
        )
        .expect("the example loads");
        let gateway = crate::lower::lower(&loaded, &mut diagnostics).expect("the example lowers");
        (
            gateway,
            loaded.specs.iter().map(|s| s.document.clone()).collect(),
        )
    }

    /// The `curl` lines carry what each route requires: required query parameters and
    /// headers, a body, and the credentials of the route's first alternative.
    #[test]
    fn curl_lines_send_what_the_route_requires() {
        let (gateway, docs) = example();
        let credentials = vec![
            Credential::Token {
                scheme: "bearerAuth".into(),
                token: "T".into(),
                scopes: Vec::new(),
            },
            Credential::ApiKey {
                scheme: "apiKey".into(),
                key: "K".into(),
                location: crate::ir::ParamIn::Header,
                name: "x-api-key".into(),
            },
        ];
        let line = |method: &str, path: &str| {
            let route = gateway
                .routes
                .iter()
                .find(|r| r.method.as_str() == method && r.public_path.to_string() == path)
                .unwrap();
            banner::curl(
                &gateway,
                &docs[route.service],
                route,
                "http://h",
                &credentials,
            )
        };
        assert_eq!(
            line("GET", "/api/payment-methods"),
            "curl -i 'http://h/api/payment-methods?country=DE'"
        );
        assert_eq!(
            line("GET", "/api/users/{userId}"),
            "curl -i 'http://h/api/users/1042' -H 'Authorization: Bearer T'"
        );
        let create = line("POST", "/api/payments");
        assert!(
            create.starts_with(
                "curl -i -X POST 'http://h/api/payments' -H 'X-Idempotency-Key: 3fa85f64-"
            ),
            "{create}"
        );
        assert!(create.ends_with(
            "-H 'Authorization: Bearer T' -H 'Content-Type: application/json' -d '{\"order_id\":5001,\"amount\":{\"value\":2490,\"currency\":\"EUR\"},\"method\":\"card\",\"capture\":false}'"
        ), "{create}");
        let capture = line("POST", "/api/payments/{paymentId}/capture");
        assert!(
            capture.contains(
                "/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture' -H 'x-api-key: K'"
            ),
            "{capture}"
        );
    }

    #[test]
    fn dev_settings_turn_validation_on_and_redis_off() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut sources = Sources::new();
        let mut diagnostics = Diagnostics::default();
        let mut loaded = load::load(
            &root.join("examples/ecommerce/gateway.yaml"),
            &mut sources,
            &mut diagnostics,
        )
        .expect("the example loads");
        loaded.manifest.rate_limit_store = RateLimitStore::Redis {
            url_env: "R".into(),
            timeout: Duration::from_secs(1),
        };
        loaded.manifest.services[0].validate_responses = Some(false);
        let notes = patch(&mut loaded.manifest);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            loaded
                .manifest
                .services
                .iter()
                .all(|s| s.validate_responses == Some(true))
        );
        assert_eq!(loaded.manifest.rate_limit_store, RateLimitStore::Memory);
        let gateway = crate::lower::lower(&loaded, &mut diagnostics).unwrap();
        assert!(gateway.routes.iter().all(|r| r.responses.is_some()));
    }
}
