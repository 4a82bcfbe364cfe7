//! Embeds the runtime's sources (`runtime-src`, `runtime.toml`: symlinks into `../runtime`,
//! which `cargo package` follows) so `gateway generate --vendor-runtime` can write the
//! runtime that matches this compiler into a generated crate, with no network and no
//! checkout of this repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let manifest = root.join("runtime.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let text = std::fs::read_to_string(&manifest).expect("runtime.toml is readable");
    let version = text
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("runtime.toml has a literal `version = \"..\"` line");

    let mut files = Vec::new();
    collect(&root.join("runtime-src"), Path::new("src"), &mut files);
    files.sort();

    let mut out = String::new();
    writeln!(out, "pub const RUNTIME_VERSION: &str = {version:?};").unwrap();
    writeln!(
        out,
        "pub const RUNTIME_MANIFEST: &str = include_str!({:?});",
        manifest.display().to_string()
    )
    .unwrap();
    out.push_str("pub const RUNTIME_SOURCES: &[(&str, &str)] = &[\n");
    for (relative, absolute) in &files {
        writeln!(out, "    ({relative:?}, include_str!({absolute:?})),").unwrap();
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("runtime.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}

/// Every file under `dir`, as (path in the vendored crate with `/`, absolute path).
fn collect(dir: &Path, relative: &Path, files: &mut Vec<(String, String)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir).expect("runtime-src is readable") {
        let entry = entry.expect("runtime-src is readable");
        let path = entry.path();
        let name = relative.join(entry.file_name());
        if path.is_dir() {
            collect(&path, &name, files);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
            let name = name
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((name, path.display().to_string()));
        }
    }
}
