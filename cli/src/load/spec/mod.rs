//! Loading one service's OpenAPI document: read, bundle, normalize, check, parse.
//!
//! Later stages want one self-contained OpenAPI 3.0 document per service, so this module
//! does everything that depends on the files themselves:
//!
//! - parse YAML or JSON into a `serde_json::Value` (YAML keys like `200:` become strings);
//! - reject Swagger 2.0 and unknown versions before anything else looks at the document;
//! - bundle external file `$ref`s into the root: components of other files are hoisted into
//!   the root's `components` (renamed only on a real collision), anything else is inlined,
//!   and a target that would inline itself (a cycle through files) is hoisted instead;
//! - normalize OpenAPI 3.1 into 3.0 shape, because `openapiv3` models 3.0 only and silently
//!   weakens what it does not understand (a dropped `const` accepts anything);
//! - report every schema keyword `openapiv3` would drop, so no constraint disappears
//!   without a diagnostic;
//! - parse into `openapiv3::OpenAPI`, drilling down to the innermost part that fails so the
//!   error points where the user must look.
//!
//! Bundling moves content around, so [`Origins`] remembers where each inlined or hoisted
//! subtree came from: a diagnostic found later at a pointer into the bundled document is
//! mapped back to the file and pointer the user has to edit.
//!
//! Nothing here panics on input: every lookup is checked, recursion is bounded, and the
//! third-party parser runs on its own thread, so even a panic inside it becomes a diagnostic.
//!
//! Each step has its own file: `read` (text and version), `bundle` (with `refs`), `normalize`,
//! `keywords` and `parse`; `walk` is the document shape they all follow.

mod bundle;
mod keywords;
mod normalize;
mod parse;
mod read;
mod refs;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use self::bundle::Bundler;
use self::keywords::report_unsupported_keywords;
use self::normalize::normalize;
use self::parse::parse_openapi;
use self::read::{detect_version, parse_text};
use self::refs::check_refs;
use self::walk::Kind;
use super::sources::Sources;
use crate::diag::{Diagnostic, Diagnostics, Location};

/// The OpenAPI version a spec declared; the document is 3.0-shaped either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    V30,
    V31,
}

/// One service's spec, bundled into a single document and parsed.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The root spec file, as given.
    pub file: PathBuf,
    pub version: SpecVersion,
    /// The `openapi` field as written, e.g. "3.1.0".
    pub declared_version: String,
    /// The bundled document (every external file $ref resolved into this one), normalized
    /// to OpenAPI 3.0 shape. Internal refs stay `#/components/...` refs.
    pub document: Value,
    /// Parsed from `document`.
    pub openapi: openapiv3::OpenAPI,
    pub origins: Origins,
}

/// Where each part of the bundled document came from (for diagnostics).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    root: PathBuf,
    /// Pointer into the bundled document -> (file, pointer in that file).
    map: BTreeMap<String, (PathBuf, String)>,
}

impl Origins {
    /// The source location of a pointer into `LoadedSpec::document`: the longest recorded prefix
    /// maps to (file, pointer in that file) and the rest of the pointer is appended.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut prefix = pointer;
        loop {
            if let Some((file, source)) = self.map.get(prefix) {
                let rest = pointer.get(prefix.len()..).unwrap_or_default();
                return Location::new(file.clone(), format!("{source}{rest}"));
            }
            match prefix.rfind('/') {
                Some(cut) => prefix = prefix.get(..cut).unwrap_or_default(),
                None => return Location::new(self.root.clone(), pointer),
            }
        }
    }

    fn record(&mut self, bundled: String, file: PathBuf, pointer: String) {
        self.map.insert(bundled, (file, pointer));
    }
}

const UNREADABLE: &str = "gateway::spec::unreadable";
const SYNTAX: &str = "gateway::spec::syntax";
const UNSUPPORTED_VERSION: &str = "gateway::spec::unsupported_version";
const DANGLING_REF: &str = "gateway::spec::dangling_ref";
const REMOTE_REF: &str = "gateway::spec::remote_ref";
const REF_CYCLE: &str = "gateway::spec::ref_cycle";
const REF_SIBLINGS_IGNORED: &str = "gateway::spec::ref_siblings_ignored";
const UNSUPPORTED_KEYWORD: &str = "gateway::spec::unsupported_keyword";
const INVALID: &str = "gateway::spec::invalid";
const TOO_LARGE: &str = "gateway::spec::too_large";

/// Loads, bundles, normalizes and parses one spec. Every problem becomes a diagnostic in `diags`
/// (all of them, not just the first); returns None when the spec cannot be used at all.
pub fn load_spec(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<LoadedSpec> {
    let mut found = Vec::new();
    let loaded = load_inner(path, sources, &mut found);
    let mut seen = BTreeSet::new();
    for d in found {
        // The same problem can be met twice (a target inlined, then hoisted): report it once.
        if seen.insert(format!("{d:?}")) {
            diags.push(d);
        }
    }
    loaded
}

fn load_inner(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
) -> Option<LoadedSpec> {
    let text = match sources.read(path) {
        Ok(text) => text,
        Err(error) => {
            diags.push(
                Diagnostic::error(UNREADABLE, format!("cannot read the spec: {error}"))
                    .at(Location::new(path, ""))
                    .help(format!(
                        "check that `{}` exists (spec paths are relative to the manifest's folder)",
                        path.display()
                    )),
            );
            return None;
        }
    };
    let root = parse_text(path, &text, diags)?;
    let (version, declared_version) = detect_version(path, &root, diags)?;

    let mut bundler = Bundler::new(path, sources, root.clone(), version);
    let mut document = root;
    bundler.walk(&mut document, Kind::Document, path, "", "", 0);
    bundler.drain_jobs();
    bundler.insert_hoisted(&mut document);
    let Bundler {
        diags: bundle_diags,
        origins,
        too_deep,
        ..
    } = bundler;
    diags.extend(bundle_diags);

    check_refs(&document, &origins, diags);
    normalize(&mut document, version);
    if let Value::Object(map) = &mut document {
        // 3.1 now has 3.0 shape; a YAML `openapi: 3.0` is a number, openapiv3 wants a string.
        let openapi = match version {
            SpecVersion::V30 => declared_version.clone(),
            SpecVersion::V31 => "3.0.3".to_owned(),
        };
        map.insert("openapi".into(), Value::String(openapi));
    }
    report_unsupported_keywords(&document, &origins, diags);
    if too_deep {
        return None;
    }
    let openapi = parse_openapi(&document, &origins, diags)?;
    Some(LoadedSpec {
        file: path.to_path_buf(),
        version,
        declared_version,
        document,
        openapi,
        origins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, with the given files written into it.
    /// A temporary folder of files, removed when the test is done with it.
    pub(super) struct Fixture(PathBuf);

    impl std::ops::Deref for Fixture {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub(super) fn fixture(files: &[(&str, &str)]) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gateway-spec-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Fixture(dir)
    }

    pub(super) fn load(dir: &Path, root: &str) -> (Option<LoadedSpec>, Diagnostics) {
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let spec = load_spec(&dir.join(root), &mut sources, &mut diags);
        (spec, diags)
    }

    pub(super) fn codes(diags: &Diagnostics) -> Vec<&'static str> {
        diags.list.iter().map(|d| d.code).collect()
    }

    pub(super) fn at(dir: &Path, d: &Diagnostic) -> (String, String) {
        let location = d.location.as_ref().unwrap();
        let file = location
            .file
            .strip_prefix(dir)
            .unwrap_or(&location.file)
            .display()
            .to_string();
        (file, location.pointer.clone())
    }

    pub(super) const INFO: &str = "info: {title: t, version: '1'}\n";

    #[test]
    fn unreadable_root() {
        let dir = fixture(&[]);
        let (loaded, diags) = load(&dir, "nope.yaml");
        assert!(loaded.is_none());
        assert_eq!(codes(&diags), [UNREADABLE]);
        assert!(diags.list[0].help.as_ref().unwrap().contains("nope.yaml"));
    }
}
