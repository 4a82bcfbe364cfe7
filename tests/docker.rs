//! The generated `Dockerfile`, built and run by a real Docker engine.
//!
//! A small gateway (one service, one public route) is generated in both runtime modes: the
//! default exact-version dependency, and `--vendor-runtime`. Every crate comes from the
//! tests' offline registry (`gateway_tests::offline_registry`: the packaged runtime and its
//! dependencies), copied into the build context as `vendor/` with source replacement in
//! `.cargo/config.toml`, and the build runs with the network off, as a user's air-gapped
//! build would. The image then runs with the host's network (loopback only here) in front
//! of an upstream this test serves.
//!
//! No container registry is reachable here, so `.ci/docker` (run by `.ci/run`) starts the
//! engine and makes the base images from Debian's packages; their names come in
//! `GATEWAY_TEST_RUST_IMAGE` and `GATEWAY_TEST_RUNTIME_IMAGE`. Without them the
//! Dockerfile's defaults are used, which a registry must serve. Without an engine the
//! tests fail.
//!
//! The vendored image is built on the default image's build stage, whose `target/`
//! already holds the third-party crates compiled by the same `cargo build`: what differs
//! between the modes (the runtime from `runtime/`, the lock file, the `Dockerfile` steps)
//! is built and checked, and the CI run compiles the dependency stack once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gateway_tests::{free_port, gateway, offline_registry, workspace};
use openapi_gateway_compiler::emit::RUNTIME_VERSION;

/// The repository of every image these tests make; each run removes the previous run's.
const REPOSITORY: &str = "gateway-tests/docker";

/// The issue's bound on the image, in Docker's megabytes (10^6 bytes, as `docker images`
/// shows them).
const MAX_IMAGE_BYTES: u64 = 40 * 1000 * 1000;

/// The gateway in the image: one public route to one service.
const MANIFEST: &str = "\
version: 1
output: generated
gateway: { name: tiny-gateway, listen: 0.0.0.0:8080, base_path: /api }
services:
  echo:
    spec: specs/echo.yaml
    upstream: { urls: ['http://127.0.0.1:9'] }
    operations:
      getItem: { public: true }
";

const SPEC: &str = "\
openapi: 3.0.3
info: { title: Echo, version: 1.0.0 }
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
      responses:
        '200': { description: the item }
";

/// Where these tests keep their files: the fixture and the build contexts.
fn root() -> PathBuf {
    workspace().join("target/docker")
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "docker {args:?}: {error}; these tests need a Docker engine (.ci/docker starts one)"
            )
        })
}

/// Runs docker, fails the test unless it succeeds; its stdout, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn tag(name: &str) -> String {
    format!("{REPOSITORY}:{name}")
}

/// The fixture's manifest, written once per run.
fn manifest() -> &'static Path {
    static MANIFEST_PATH: OnceLock<PathBuf> = OnceLock::new();
    MANIFEST_PATH.get_or_init(|| {
        let dir = root().join("fixture");
        std::fs::create_dir_all(dir.join("specs")).unwrap();
        std::fs::write(dir.join("gateway.yaml"), MANIFEST).unwrap();
        std::fs::write(dir.join("specs/echo.yaml"), SPEC).unwrap();
        dir.join("gateway.yaml")
    })
}

/// The runtime's folder in the offline registry: `openapi-gateway-runtime-<version>`.
fn is_runtime(entry: &std::fs::DirEntry) -> bool {
    entry
        .file_name()
        .to_string_lossy()
        .starts_with("openapi-gateway-runtime")
}

/// How the generated crate gets the runtime.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `openapi-gateway-runtime = "=<version>"`, from the (replaced) registry.
    Versioned,
    /// The runtime's sources in `runtime/`, a path dependency.
    Vendored,
}

/// Generates the fixture into a fresh build context: the crate, its `Cargo.lock`, and the
/// offline registry as `vendor/` (without the runtime when the crate carries its own).
fn context(name: &str, mode: Mode) -> PathBuf {
    let dir = root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let manifest = manifest().to_str().unwrap();
    let mut args = vec![
        "generate",
        "--manifest",
        manifest,
        "--out",
        dir.to_str().unwrap(),
    ];
    if mode == Mode::Vendored {
        args.push("--vendor-runtime");
    }
    let (code, stdout, stderr) = gateway(&args);
    assert_eq!(code, 0, "generate failed:\n{stdout}{stderr}");

    let registry = offline_registry();
    for entry in std::fs::read_dir(&registry.dir).unwrap() {
        let entry = entry.unwrap();
        if mode == Mode::Vendored && is_runtime(&entry) {
            continue;
        }
        link_tree(&entry.path(), &dir.join("vendor").join(entry.file_name()));
    }
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(
        dir.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored\"\n\n\
         [source.vendored]\ndirectory = \"vendor\"\n",
    )
    .unwrap();
    // cargo reads `.cargo/config.toml` from the folder it runs in.
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["generate-lockfile", "--offline", "--quiet"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo generate-lockfile failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    let packaged = format!("checksum = \"{}\"", registry.runtime_checksum);
    assert_eq!(
        lock.contains(&packaged),
        mode == Mode::Versioned,
        "the lock file names the packaged runtime only when the crate depends on it by version:\n{lock}"
    );
    dir
}

/// `from` copied to `to` as hard links (the sources are large and never written), folders
/// with their modification times: a build script that watches a folder (aws-lc-sys's
/// `rerun-if-changed=aws-lc/`) would otherwise run again when the vendored image builds on
/// the default image's `target/`.
fn link_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            link_tree(&entry.path(), &to.join(entry.file_name()));
        }
        let modified = std::fs::metadata(from).unwrap().modified().unwrap();
        std::fs::File::open(to)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    } else if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// `docker build` of `context` with the network off, the base images of the environment
/// (the build stage's replaced by `rust_image`), up to `target` if given.
fn build(context: &Path, tag: &str, target: Option<&str>, rust_image: Option<&str>) -> Output {
    let mut args = vec![
        "build".to_owned(),
        "--network=none".to_owned(),
        "--force-rm".to_owned(),
        "-t".to_owned(),
        tag.to_owned(),
    ];
    if let Some(target) = target {
        args.extend(["--target".to_owned(), target.to_owned()]);
    }
    let rust_image = rust_image
        .map(str::to_owned)
        .or_else(|| std::env::var("GATEWAY_TEST_RUST_IMAGE").ok());
    if let Some(image) = rust_image {
        args.extend(["--build-arg".to_owned(), format!("RUST_IMAGE={image}")]);
    }
    if let Ok(image) = std::env::var("GATEWAY_TEST_RUNTIME_IMAGE") {
        args.extend(["--build-arg".to_owned(), format!("RUNTIME_IMAGE={image}")]);
    }
    args.push(context.to_str().unwrap().to_owned());
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Builds `context` as the image `name`, its build stage tagged `<name>-build` (so the
/// next run can remove it); the build's output.
fn build_image(context: &Path, name: &str, rust_image: Option<&str>) -> String {
    let mut log = String::new();
    for (tag, target) in [
        (tag(&format!("{name}-build")), Some("build")),
        (tag(name), None),
    ] {
        let started = Instant::now();
        let output = build(context, &tag, target, rust_image);
        eprintln!("docker build of {tag}: {:.0?}", started.elapsed());
        log.push_str(&plain(&output));
        assert!(
            output.status.success(),
            "docker build of {tag} failed:\n{log}"
        );
    }
    log
}

/// A command's stdout and stderr, without the colour codes Docker's classic builder
/// wraps around every chunk of a step's stderr.
fn plain(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final letter.
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The image of the default mode, built once per run after the previous run's images
/// are removed; its build log.
fn default_image() -> &'static str {
    static LOG: OnceLock<String> = OnceLock::new();
    LOG.get_or_init(|| {
        for name in ["vendored", "vendored-build", "default", "default-build"] {
            let _ = docker(&["rmi", "--force", &tag(name)]);
        }
        let context = context("default", Mode::Versioned);
        build_image(&context, "default", None)
    })
}

/// A container of `image` on the host's network, removed when dropped.
struct Container {
    id: String,
    port: u16,
    admin_port: u16,
}

impl Container {
    /// Starts `image` with its upstream, checking its health every second, and waits
    /// until both listeners accept.
    fn start(image: &str, upstream: SocketAddr) -> Container {
        let (port, admin_port) = (free_port(), free_port());
        let id = docker_ok(&[
            "run",
            "--detach",
            "--network=host",
            "--health-interval=1s",
            "--env",
            &format!("GATEWAY_LISTEN=127.0.0.1:{port}"),
            "--env",
            &format!("GATEWAY_ADMIN_LISTEN=127.0.0.1:{admin_port}"),
            "--env",
            &format!("GATEWAY_UPSTREAM_ECHO=http://{upstream}"),
            image,
        ]);
        let container = Container {
            id,
            port,
            admin_port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(TcpStream::connect(("127.0.0.1", port)).is_ok()
            && TcpStream::connect(("127.0.0.1", admin_port)).is_ok())
        {
            assert!(
                Instant::now() < deadline && container.inspect("{{.State.Running}}") == "true",
                "the container did not start listening:\n{}",
                container.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        container
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "--format", format, &self.id])
    }

    fn logs(&self) -> String {
        let output = docker(&["logs", &self.id]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// The health Docker reports once the image's `HEALTHCHECK` has decided.
    fn health(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.inspect("{{.State.Health.Status}}");
            if status != "starting" || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.id]);
    }
}

/// An upstream on loopback that answers every request with its method and path, and
/// records them; it serves until the test's thread ends.
fn upstream() -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let line = head.lines().next().unwrap_or_default().to_owned();
            let body = format!("upstream saw {line}");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            if seen.send(line).is_err() {
                return;
            }
        }
    });
    (address, received)
}

/// One HTTP/1.1 GET on loopback: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

/// Runs `image` in front of an upstream and checks what a user of it would: the admin
/// `/healthz`, a proxied route, a request the generated code refuses, the
/// `HEALTHCHECK`'s verdict, and that the gateway runs as the nonroot user.
fn serves(image: &str) {
    let (upstream, seen) = upstream();
    let container = Container::start(image, upstream);

    assert_eq!(
        get(container.admin_port, "/healthz"),
        (200, "alive\n".into())
    );

    let (status, body) = get(container.port, "/api/items/7");
    assert_eq!(status, 200, "{body}\n{}", container.logs());
    assert_eq!(body, "upstream saw GET /items/7 HTTP/1.1");
    assert_eq!(seen.recv().unwrap(), "GET /items/7 HTTP/1.1");

    // `id` has `minimum: 1`: the generated handler answers, the upstream sees nothing.
    let (status, body) = get(container.port, "/api/items/0");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""name":"id""#), "{body}");
    assert!(
        seen.try_recv().is_err(),
        "a refused request reached the upstream"
    );

    let health = container.health();
    assert_eq!(
        health,
        "healthy",
        "{}\n{}",
        container.inspect("{{json .State.Health}}"),
        container.logs()
    );

    // The host's view of the container's process: its real and effective user and group.
    let pid = container.inspect("{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
            .split_whitespace()
            .collect();
        assert_eq!(ids, ["65532"; 4], "{field} of the gateway's process");
    }
}

#[test]
fn the_default_image_serves_healthy_as_nonroot_within_40_mb() {
    let log = default_image();
    // The runtime came from the (replaced) registry, not from a folder of the context.
    assert!(
        log.contains(&format!(
            "Compiling openapi-gateway-runtime v{RUNTIME_VERSION}\n"
        )),
        "{log}"
    );
    let image = tag("default");
    serves(&image);

    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", &image])
        .parse()
        .unwrap();
    eprintln!("{image}: {size} bytes");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "{image} is {size} bytes, over {MAX_IMAGE_BYTES}"
    );
}

#[test]
fn the_vendored_runtime_image_builds_offline_and_serves() {
    default_image();
    let context = context("vendored", Mode::Vendored);
    let log = build_image(&context, "vendored", Some(&tag("default-build")));
    assert!(
        log.contains(&format!(
            "Compiling openapi-gateway-runtime v{RUNTIME_VERSION} (/src/runtime)"
        )),
        "the runtime was not built from the crate's runtime/:\n{log}"
    );
    serves(&tag("vendored"));
}

#[test]
fn a_missing_cargo_lock_fails_the_build_and_says_so() {
    let dir = root().join("no-lock");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, stdout, stderr) = gateway(&[
        "generate",
        "--manifest",
        manifest().to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!dir.join("Cargo.lock").exists());
    let output = build(&dir, &tag("no-lock"), Some("build"), None);
    let log = plain(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains(
            "Cargo.lock is missing: run cargo generate-lockfile in this folder and commit it"
        ),
        "{log}"
    );
}
