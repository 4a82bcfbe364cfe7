//! Property test: no input makes the compiler panic.
//!
//! Mutates valid manifests and specs (deleting, inserting and duplicating pieces that
//! matter to YAML and OpenAPI) and also feeds arbitrary text; every run of load -> lower ->
//! check must end in a gateway or in diagnostics, never in a panic; `gateway init` on a
//! mutated spec ends in a manifest that is YAML, or in an error.
//!
//! A failing case is replayable: its seed goes to `no_panic.proptest-regressions` (next to
//! this file, committed), which every run replays first.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const MANIFEST: &str = include_str!("../../fixtures/valid/basic/gateway.yaml");
const SPEC: &str = include_str!("../../fixtures/valid/basic/specs/catalog.yaml");
/// Every kind of security scheme and auth decision, for `gateway init`.
const SCHEMES_SPEC: &str = include_str!("../../fixtures/init/schemes/specs/accounts.yaml");

/// Fragments that are meaningful to the parsers and the lowering.
const PIECES: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "\n",
    "  ",
    "$ref: '#/components/schemas/Id'",
    "$ref: 'other.yaml#/x'",
    "{id}",
    "/",
    "~1",
    "type: array",
    "type: [string, 'null']",
    "enum: []",
    "required: true",
    "in: path",
    "in: cookie",
    "security: []",
    "&a",
    "*a",
    "<<: *a",
    "!!binary",
    "openapi: 3.1.0",
    "swagger: '2.0'",
    "exclusiveMinimum: 1",
    "const: 1",
    "patternProperties: {}",
    "0x10",
    "1e999",
    "~",
    "\t",
    "\u{feff}",
    "ü",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    DuplicateLine { line: usize },
    Truncate { at: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Edit::Insert { at, piece }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

/// The nearest char boundary at or before `at % len`.
fn boundary(text: &str, at: usize) -> usize {
    if text.is_empty() {
        return 0;
    }
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_owned();
    for edit in edits {
        match edit {
            Edit::Delete { at, len } => {
                let start = boundary(&text, *at);
                let end = boundary(&text, start.saturating_add(*len)).max(start);
                text.replace_range(start..end, "");
            }
            Edit::Insert { at, piece } => {
                let at = boundary(&text, *at);
                text.insert_str(at, PIECES[*piece]);
            }
            Edit::DuplicateLine { line } => {
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = line % lines.len();
                    let mut out: Vec<&str> = lines[..=i].to_vec();
                    out.extend(&lines[i..]);
                    text = out.join("\n");
                }
            }
            Edit::Truncate { at } => {
                let at = boundary(&text, *at);
                text.truncate(at);
            }
        }
    }
    text
}

fn scratch() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gateway-no-panic-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    dir
}

fn compile(manifest: &str, spec: &str) {
    let dir = scratch();
    std::fs::write(dir.join("gateway.yaml"), manifest).unwrap();
    std::fs::write(dir.join("specs/catalog.yaml"), spec).unwrap();
    let compiled = openapi_gateway_compiler::cli::compile(&dir.join("gateway.yaml"));
    // Rendering must not panic either.
    let _ = openapi_gateway_compiler::diag::render_human(&compiled.diagnostics, &compiled.sources);
    let _ = openapi_gateway_compiler::diag::render_json(&compiled.diagnostics);
    if let Some(gateway) = &compiled.gateway {
        let _ = openapi_gateway_compiler::emit::emit(
            gateway,
            &openapi_gateway_compiler::emit::RuntimeDep::Version,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gateway init` on a spec: it writes a manifest that is YAML, or says why not.
fn init(spec: &str) {
    let dir = scratch();
    std::fs::write(dir.join("specs/accounts.yaml"), spec).unwrap();
    let manifest = dir.join("gateway.yaml");
    let result = openapi_gateway_compiler::init::init(
        &[dir.join("specs/accounts.yaml")],
        &manifest,
        false,
        Some(openapi_gateway_compiler::init::Ci::Github),
    );
    if result.is_ok() {
        let text = std::fs::read_to_string(&manifest).unwrap();
        let parsed: Result<serde_yaml::Value, _> = serde_yaml::from_str(&text);
        assert!(parsed.is_ok(), "{parsed:?}\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    // A failure's seed is saved in `no_panic.proptest-regressions` next to this file (commit
    // it), and every run replays the saved seeds before new cases.
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_specs_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        compile(MANIFEST, &apply(SPEC, &edits));
    }

    #[test]
    fn mutated_manifests_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        compile(&apply(MANIFEST, &edits), SPEC);
    }

    #[test]
    fn init_on_mutated_specs_never_panics(edits in proptest::collection::vec(edit(), 1..6)) {
        init(&apply(SCHEMES_SPEC, &edits));
    }

    #[test]
    fn arbitrary_text_never_panics(manifest in ".{0,200}", spec in "(?s).{0,400}") {
        compile(&manifest, &spec);
    }
}

#[test]
fn the_unmutated_fixture_compiles() {
    // The property tests start from a valid input; make sure it is one.
    let dir = scratch();
    std::fs::write(dir.join("gateway.yaml"), MANIFEST).unwrap();
    std::fs::write(dir.join("specs/catalog.yaml"), SPEC).unwrap();
    let compiled = openapi_gateway_compiler::cli::compile(&dir.join("gateway.yaml"));
    assert!(compiled.gateway.is_some(), "{:?}", compiled.diagnostics);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
