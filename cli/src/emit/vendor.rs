//! `--vendor-runtime`: the runtime this compiler was built with, written into the generated
//! crate (`runtime/`) as generated output, for builds with no registry (air-gapped, or a
//! runtime not yet published) and `docker build`s whose context is the crate alone.

use std::path::PathBuf;

use super::Files;

include!(concat!(env!("OUT_DIR"), "/runtime.rs"));

/// The folder of the generated crate that holds the copy.
pub const FOLDER: &str = "runtime";

/// Adds `runtime/Cargo.toml`, `runtime/README.md` and `runtime/src/**` to `files`.
pub fn add(files: &mut Files, header: &str) -> Result<(), String> {
    files.insert(PathBuf::from(FOLDER).join("Cargo.toml"), manifest(header)?);
    files.insert(
        PathBuf::from(FOLDER).join("README.md"),
        format!(
            "<!-- {header} -->\n\nA copy of `openapi-gateway-runtime` {RUNTIME_VERSION}, written by \
             `gateway generate --vendor-runtime`.\nThe crate above depends on it by path; \
             `gateway generate --check` compares it like the\nrest of the generated code.\n"
        ),
    );
    for (path, contents) in RUNTIME_SOURCES {
        files.insert(PathBuf::from(FOLDER).join(path), (*contents).to_owned());
    }
    Ok(())
}

/// The runtime's manifest without what only its own repository has (tests, benches,
/// examples and their dependencies), so the copy resolves and builds by itself.
fn manifest(header: &str) -> Result<String, String> {
    let mut document: toml_edit::DocumentMut = RUNTIME_MANIFEST
        .parse()
        .map_err(|e| format!("the runtime's Cargo.toml: {e}"))?;
    for key in ["dev-dependencies", "bench", "example", "test"] {
        document.remove(key);
    }
    // Cargo would otherwise look for src/, benches/ ... targets the copy does not have.
    document["package"]["autobenches"] = toml_edit::value(false);
    document["package"]["autoexamples"] = toml_edit::value(false);
    document["package"]["autotests"] = toml_edit::value(false);
    Ok(format!("# {header}\n{document}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_has_the_runtime_sources_and_a_standalone_manifest() {
        let mut files = Files::new();
        add(&mut files, "HEADER").unwrap();
        assert!(files.contains_key(&PathBuf::from("runtime/src/lib.rs")));
        let manifest = &files[&PathBuf::from("runtime/Cargo.toml")];
        assert!(manifest.starts_with("# HEADER\n"), "{manifest}");
        let parsed: toml_edit::DocumentMut = manifest.parse().unwrap();
        assert_eq!(
            parsed["package"]["name"].as_str(),
            Some("openapi-gateway-runtime")
        );
        assert_eq!(parsed["package"]["version"].as_str(), Some(RUNTIME_VERSION));
        for gone in ["dev-dependencies", "bench"] {
            assert!(parsed.get(gone).is_none(), "{gone} left in {manifest}");
        }
        assert!(parsed["dependencies"].get("tokio").is_some());
        assert!(
            !manifest.contains(".workspace") && !manifest.contains("workspace ="),
            "{manifest}"
        );
    }
}
