//! Stage 1, load: read the manifest and every service's spec into checked, span-free values.
//!
//! Everything the later stages need from the files is here; no later stage reads a file.

pub mod manifest;
pub mod sources;
pub mod spec;
pub mod units;

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics, Location, pointer_push};
pub use manifest::{
    AuthKind, AuthScheme, Candidate, DiscoveryConfig, DnsRecord, JwksSource, JwksUrl, JwtConfig,
    KeySource, Manifest, OperationPolicy, RateKey, RateLimitPolicy, RateLimitStore, Selection,
    SelectorKind, ServiceConfig,
};
pub use sources::Sources;
pub use spec::LoadedSpec;

/// The manifest and, for each of its services (same order), the loaded spec.
pub struct Loaded {
    pub manifest: Manifest,
    pub specs: Vec<LoadedSpec>,
}

/// Loads the manifest and all specs, collecting every problem. `None` when any input has an
/// error that later stages cannot work around.
pub fn load(
    manifest_path: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<Loaded> {
    let text = match sources.read(manifest_path) {
        Ok(text) => text,
        Err(error) => {
            diags.push(
                Diagnostic::error(
                    "gateway::manifest::unreadable",
                    format!("cannot read the manifest: {error}"),
                )
                .at(Location::new(manifest_path, ""))
                .help("pass the manifest with --manifest, or run from the folder holding gateway.yaml"),
            );
            return None;
        }
    };
    let manifest = manifest::parse(manifest_path, &text, diags)?;
    let mut specs = Vec::new();
    let mut complete = true;
    for service in &manifest.services {
        if !sources.is_file(&service.spec) {
            diags.push(
                Diagnostic::error(
                    "gateway::manifest::missing_spec",
                    format!(
                        "the spec of service `{}` does not exist: {}",
                        service.key,
                        service.spec.display()
                    ),
                )
                .at(Location::new(
                    manifest_path,
                    pointer_push(&pointer_push("/services", &service.key), "spec"),
                ))
                .help("spec paths are relative to the manifest's folder"),
            );
            complete = false;
            continue;
        }
        match spec::load_spec(&service.spec, sources, diags) {
            Some(spec) => specs.push(spec),
            None => complete = false,
        }
    }
    complete.then_some(Loaded { manifest, specs })
}
