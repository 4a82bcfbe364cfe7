//! Helpers shared by the end-to-end tests: where the workspace is, the one target folder
//! every generated crate builds in, and running cargo on a generated crate.
//!
//! All generated crates share `target/generated` so the runtime's dependency stack is
//! compiled once per profile, whichever test builds first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use sha2::Digest as _;

pub mod markdown;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The target folder shared by every generated crate the tests build.
pub fn generated_target_dir() -> PathBuf {
    std::env::var_os("GATEWAY_TEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target").join("generated"))
}

/// cargo locks the shared target folder anyway; serializing here keeps the output of one
/// build together when several tests of one binary build at once.
static CARGO: Mutex<()> = Mutex::new(());

/// Runs `cargo <command> --manifest-path <manifest> <args>` in the shared target folder.
pub fn cargo(command: &str, manifest: &Path, args: &[&str]) -> Output {
    let _guard = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg(command)
        .arg("--manifest-path")
        .arg(manifest)
        .args(args)
        .env("CARGO_TARGET_DIR", generated_target_dir())
        // The workspace's own flags (from `cargo test`) must not leak into the generated
        // crates' builds: they would change every fingerprint.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

/// Runs the CLI in-process from the workspace root; returns (exit code, stdout, stderr).
pub fn gateway(args: &[&str]) -> (u8, String, String) {
    set_workspace_cwd();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("gateway")
        .chain(args.iter().copied())
        .map(std::ffi::OsString::from);
    let code = openapi_gateway_compiler::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Every test of a binary wants the workspace root as its folder, so that paths in
/// diagnostics read `fixtures/...` whatever folder cargo started the test in.
pub fn set_workspace_cwd() {
    std::env::set_current_dir(workspace()).expect("workspace exists");
}

/// The sub-folders of `dir`, sorted.
pub fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Set `GATEWAY_BLESS=1` to rewrite snapshots instead of comparing.
pub fn bless() -> bool {
    std::env::var_os("GATEWAY_BLESS").is_some_and(|v| v == "1")
}

/// Every file under `dir`, at any depth, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Copies the folder `from` to `to`, at any depth.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target)
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", path.display(), target.display()));
        }
    }
}

/// The committed example gateway the e2e and differential tests run.
pub const EXAMPLE_MANIFEST: &str = "examples/ecommerce/gateway.yaml";

/// Fails, saying how to fix it, unless the committed `examples/ecommerce/generated` is
/// exactly what the compiler generates from [`EXAMPLE_MANIFEST`] now (`gateway generate
/// --check`, in-process): tests that run the committed example would otherwise test code
/// the compiler no longer writes.
pub fn assert_example_up_to_date() {
    let (code, out, err) = gateway(&[
        "generate",
        "--manifest",
        EXAMPLE_MANIFEST,
        "--runtime-path",
        "runtime",
        "--check",
    ]);
    assert!(
        code == 0,
        "the committed example is stale: examples/ecommerce/generated is not what the \
         compiler generates from {EXAMPLE_MANIFEST} (exit {code}):\n{err}{out}\n\
         Regenerate it and commit the result:\n  \
         cargo run -p openapi-gateway-compiler -- generate --manifest {EXAMPLE_MANIFEST} --runtime-path runtime"
    );
    assert!(out.contains("is up to date"), "{out}");
}

/// Unpacks a `.crate` (a gzipped tarball) into `into`, which it creates.
pub fn unpack(packaged: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap_or_else(|e| panic!("{}: {e}", into.display()));
    let output = Command::new("tar")
        .arg("-xzf")
        .arg(packaged)
        .arg("-C")
        .arg(into)
        .output()
        .expect("tar runs");
    assert!(
        output.status.success(),
        "unpacking {} failed:\n{}",
        packaged.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The test keys of the runtime's auth tests (an RSA pair made for tests only).
pub fn read_key(name: &str) -> String {
    std::fs::read_to_string(workspace().join("runtime/tests/keys").join(name)).unwrap()
}

/// What the example gateway reads at start (examples/ecommerce/gateway.yaml `auth`): the
/// test RSA public key; two API keys, `e2e-plain-key` and the SHA-256 of `hashed-e2e-key`;
/// and the provider's Basic user `psp`, whose password `psp-e2e-password` is hashed with
/// bcrypt at cost 4 (`$2y$`, as `htpasswd -nbB -C 4` writes it).
pub fn example_key_material() -> [(&'static str, String); 3] {
    [
        ("JWT_PUBLIC_KEY", read_key("rsa_public.pem")),
        (
            "API_KEYS",
            "backoffice:e2e-plain-key\nbilling:sha256:e15b17cd39d2d6f3b91d6731898730c7b11bed583573cb24857836d4b421a337\n"
                .to_owned(),
        ),
        (
            "PROVIDER_USERS",
            "# the card processor's webhook user\npsp:$2y$04$9lAb6.EK8ufmFGQB634T.u2ZxcFI9N4vFTvqzCfwDzFCH.ONuTeT.\n"
                .to_owned(),
        ),
    ]
}

/// A free TCP port on loopback, for a server a test starts later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry a user outside this repository would see: every crate a generated gateway
/// needs, with the runtime as `cargo package` makes it (not this checkout's folder), in a
/// directory source. Built once per test binary.
pub struct OfflineRegistry {
    /// The directory source (`source.<name>.directory`).
    pub dir: PathBuf,
    /// SHA-256 of the runtime's `.crate`, as a lock file records it.
    pub runtime_checksum: String,
}

impl OfflineRegistry {
    /// `--config` arguments that replace crates.io with this registry.
    pub fn config(&self) -> Vec<String> {
        vec![
            "--config".into(),
            "source.crates-io.replace-with=\"offline\"".into(),
            "--config".into(),
            format!(
                "source.offline.directory={:?}",
                self.dir.display().to_string()
            ),
        ]
    }
}

/// Packages both crates (`cargo package`; the builds from the packages are the tests' own),
/// then fills the registry: the runtime's dependencies by `cargo vendor` (versions from the
/// workspace's lock file) and the runtime's `.crate` unpacked beside them.
pub fn offline_registry() -> &'static OfflineRegistry {
    static REGISTRY: std::sync::OnceLock<OfflineRegistry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        let _guard = CARGO.lock().unwrap_or_else(|e| e.into_inner());
        let root = generated_target_dir().join("offline");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("target is writable");
        let cargo = || {
            let mut command =
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            command
                .current_dir(workspace())
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            command
        };
        let succeed = |what: &str, output: Output| {
            assert!(
                output.status.success(),
                "{what} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        succeed(
            "cargo package",
            cargo()
                .args(["package", "--no-verify", "--allow-dirty"])
                .args(["-p", "openapi-gateway-runtime"])
                .args(["-p", "openapi-gateway-compiler", "--target-dir"])
                .arg(generated_target_dir())
                .output()
                .expect("cargo runs"),
        );
        let version = openapi_gateway_compiler::emit::RUNTIME_VERSION;
        let name = format!("openapi-gateway-runtime-{version}");
        let packaged = generated_target_dir()
            .join("package")
            .join(format!("{name}.crate"));
        let bytes = std::fs::read(&packaged).expect("cargo package wrote the .crate");
        let checksum = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();

        // A crate that depends on the packaged runtime by path, so `cargo vendor` fetches
        // exactly its dependencies, at the versions of the workspace's lock file.
        let unpacked = root.join("unpacked");
        unpack(&packaged, &unpacked);
        let consumer = root.join("consumer");
        std::fs::create_dir_all(consumer.join("src")).unwrap();
        std::fs::write(
            consumer.join("Cargo.toml"),
            format!(
                "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\nopenapi-gateway-runtime = {{ path = {:?} }}\n\n[workspace]\n",
                unpacked.join(&name).display().to_string()
            ),
        )
        .unwrap();
        std::fs::write(consumer.join("src/lib.rs"), "").unwrap();
        std::fs::copy(workspace().join("Cargo.lock"), consumer.join("Cargo.lock")).unwrap();
        let dir = root.join("registry");
        succeed(
            "cargo vendor",
            cargo()
                .arg("vendor")
                .arg("--manifest-path")
                .arg(consumer.join("Cargo.toml"))
                .arg(&dir)
                .output()
                .expect("cargo runs"),
        );
        std::fs::rename(unpacked.join(&name), dir.join(&name)).unwrap();
        std::fs::write(
            dir.join(&name).join(".cargo-checksum.json"),
            format!("{{\"files\":{{}},\"package\":\"{checksum}\"}}"),
        )
        .unwrap();
        OfflineRegistry {
            dir,
            runtime_checksum: checksum,
        }
    })
}
