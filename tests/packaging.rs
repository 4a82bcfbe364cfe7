//! The crates as a user outside this repository gets them: packaged (`cargo package`),
//! installed (`cargo install`), and a generated gateway built from the packaged runtime
//! (the default, versioned dependency) or from the copy `--vendor-runtime` writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use gateway_tests::{cargo, gateway, generated_target_dir, offline_registry};

fn fresh(name: &str) -> PathBuf {
    let dir = generated_target_dir().join("packaging").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The lock file's entry for the runtime: (source, checksum), each `None` when absent.
fn locked_runtime(crate_dir: &Path) -> (Option<String>, Option<String>) {
    let lock = std::fs::read_to_string(crate_dir.join("Cargo.lock")).expect("cargo wrote a lock");
    let entry = lock
        .split("[[package]]")
        .find(|entry| entry.contains("name = \"openapi-gateway-runtime\""))
        .unwrap_or_else(|| panic!("no runtime in the lock file:\n{lock}"));
    let field = |key: &str| {
        entry
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key} = \"")))
            .map(|rest| rest.trim_end_matches('"').to_owned())
    };
    (field("source"), field("checksum"))
}

fn build_offline(crate_dir: &Path) {
    let registry = offline_registry();
    let mut args = vec!["--offline".to_owned()];
    args.extend(registry.config());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = cargo("build", &crate_dir.join("Cargo.toml"), &args);
    assert!(
        built.status.success(),
        "the generated crate did not build from the offline registry:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

#[test]
fn a_gateway_generated_without_runtime_path_builds_from_the_packaged_runtime() {
    let registry = offline_registry();
    let out = fresh("versioned");
    let (code, _, err) = gateway(&[
        "generate",
        "--manifest",
        "fixtures/valid/basic/gateway.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    let dependency = format!(
        "openapi-gateway-runtime = \"={}\"",
        openapi_gateway_compiler::emit::RUNTIME_VERSION
    );
    assert!(manifest.contains(&dependency), "{manifest}");

    build_offline(&out);
    assert_eq!(
        locked_runtime(&out),
        (
            Some("registry+https://github.com/rust-lang/crates.io-index".to_owned()),
            Some(registry.runtime_checksum.clone())
        ),
        "the runtime must come from the registry, as the packaged .crate"
    );
}

#[test]
fn a_vendored_runtime_builds_offline_and_is_checked_as_generated_output() {
    let out = fresh("vendored");
    let out_arg = out.to_str().unwrap();
    let generate = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--manifest",
            "fixtures/valid/basic/gateway.yaml",
            "--out",
            out_arg,
            "--vendor-runtime",
        ];
        args.extend_from_slice(extra);
        gateway(&args)
    };
    let (code, _, err) = generate(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.join("runtime/src/lib.rs").is_file());
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("path = \"runtime\""),
        "the crate must depend on its copy:\n{manifest}"
    );

    let (code, out_text, err) = generate(&["--check"]);
    assert_eq!(code, 0, "{err}{out_text}");
    let lib = out.join("runtime/src/lib.rs");
    let original = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{original}\n// edited\n")).unwrap();
    let (code, _, err) = generate(&["--check"]);
    assert_eq!(code, 3, "an edited copy must be stale: {err}");
    assert!(err.contains("differs  runtime/src/lib.rs"), "{err}");
    std::fs::write(&lib, original).unwrap();

    // The manifest's `runtime: vendored` is the same as the flag.
    let fixture = fresh("vendored-by-manifest");
    gateway_tests::copy_dir(
        &gateway_tests::workspace().join("fixtures/valid/basic/specs"),
        &fixture.join("specs"),
    );
    let manifest = std::fs::read_to_string("fixtures/valid/basic/gateway.yaml").unwrap();
    std::fs::write(
        fixture.join("gateway.yaml"),
        format!("runtime: vendored\n{manifest}"),
    )
    .unwrap();
    let (code, out_text, err) = gateway(&[
        "generate",
        "--manifest",
        fixture.join("gateway.yaml").to_str().unwrap(),
        "--out",
        out_arg,
        "--check",
    ]);
    assert_eq!(code, 0, "{err}{out_text}");

    build_offline(&out);
    let (source, checksum) = locked_runtime(&out);
    assert_eq!(
        (source, checksum),
        (None, None),
        "the runtime must be the copy in the crate, not a registry's"
    );
}

#[test]
fn the_packaged_compiler_installs_with_cargo_install_as_the_readme_says() {
    let readme = std::fs::read_to_string(gateway_tests::workspace().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo install --locked --path cli"),
        "the README must give the install command"
    );
    // What `cargo install openapi-gateway-compiler` would build: the package, with its lock
    // file, templates and the runtime it embeds, and nothing else of this checkout.
    offline_registry();
    let packaged = generated_target_dir().join("package").join(format!(
        "openapi-gateway-compiler-{}.crate",
        openapi_gateway_compiler::VERSION
    ));
    // Outside this checkout, where cargo would take it for a member of our workspace.
    let unpacked = std::env::temp_dir().join(format!("gateway-packaged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&unpacked);
    gateway_tests::unpack(&packaged, &unpacked);
    let root = fresh("install");
    let installed = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "--locked", "--debug", "--path"])
        .arg(unpacked.join(format!(
            "openapi-gateway-compiler-{}",
            openapi_gateway_compiler::VERSION
        )))
        .arg("--root")
        .arg(&root)
        .arg("--target-dir")
        .arg(generated_target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let version = Command::new(root.join("bin/gateway"))
        .arg("--version")
        .output()
        .expect("the installed gateway runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("gateway {}", openapi_gateway_compiler::VERSION)
    );
    // The installed compiler carries its runtime: a vendored copy needs no checkout.
    let out = fresh("installed-vendored");
    let generated = Command::new(root.join("bin/gateway"))
        .current_dir(gateway_tests::workspace())
        .args([
            "generate",
            "--manifest",
            "fixtures/valid/basic/gateway.yaml",
            "--vendor-runtime",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("the installed gateway runs");
    assert!(generated.status.success(), "{generated:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("runtime/src/lib.rs")).unwrap(),
        std::fs::read_to_string(gateway_tests::workspace().join("runtime/src/lib.rs")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&unpacked);
}
