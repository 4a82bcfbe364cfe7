//! Holdout check: the large public specs of `fixtures/real-world/` (unmodified, each with
//! its LICENSE and SOURCE.md), which nothing in the compiler was written against. For each,
//! `gateway validate` exits as recorded in its SOURCE.md and lists what it does not check;
//! those that are valid are generated and `cargo check`ed, all in the one shared target
//! folder of generated crates (`target/generated`), so the runtime's dependencies are
//! checked once per run.

use std::path::Path;

use gateway_tests::{cargo, cases, gateway, workspace};

/// The fixtures whose gateways are generated and `cargo check`ed (at least three large
/// public specs), as their SOURCE.md files record.
const COMPILED: [&str; 3] = ["box", "github", "shipengine"];

/// `gateway validate`'s exit code for each fixture, as its SOURCE.md explains.
fn expected_exit(name: &str) -> u8 {
    match name {
        // `$recursiveRef` and `propertyNames`: keywords the validators do not enforce yet.
        "openai" => 1,
        _ => 0,
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn real_world_specs_validate_generate_and_compile() {
    let mut compiled = Vec::new();
    let mut failures = Vec::new();
    for case in cases(&workspace().join("fixtures/real-world")) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        for file in ["LICENSE", "SOURCE.md", "gateway.yaml"] {
            assert!(case.join(file).is_file(), "{name} lacks {file}");
        }
        let manifest = relative(&case.join("gateway.yaml"));
        let (code, json, _) = gateway(&["validate", "--manifest", &manifest, "--format", "json"]);
        assert_eq!(code, expected_exit(&name), "{manifest}: {json}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let diagnostics = json["diagnostics"].as_array().unwrap();
        let code_of = |d: &serde_json::Value| d["code"].as_str().unwrap_or_default().to_owned();
        if code != 0 {
            // Only constructs the compiler names as unsupported, never a crash or a parse
            // failure.
            for d in diagnostics.iter().filter(|d| d["severity"] == "error") {
                assert!(
                    code_of(d).starts_with("gateway::spec::unsupported"),
                    "{manifest}: {d}"
                );
            }
            continue;
        }
        // What is not checked is listed, each with its place.
        let unchecked: Vec<&serde_json::Value> = diagnostics
            .iter()
            .filter(|d| {
                let code = code_of(d);
                code.ends_with("not_checked") || code.ends_with("not_validated")
            })
            .collect();
        assert!(
            !unchecked.is_empty(),
            "{manifest}: nothing listed as not checked"
        );
        for d in unchecked {
            assert_eq!(d["severity"], "warning", "{d}");
            assert!(d["file"].is_string() && d["line"].is_number(), "{d}");
        }

        let out = workspace().join("target/holdout").join(&name);
        let out_arg = relative(&out);
        let (code, _, err) = gateway(&[
            "generate",
            "--manifest",
            &manifest,
            "--out",
            &out_arg,
            "--runtime-path",
            "runtime",
        ]);
        assert_eq!(code, 0, "{manifest}: {err}");
        let output = cargo("check", &out.join("Cargo.toml"), &["--quiet"]);
        if output.status.success() {
            compiled.push(name);
        } else {
            failures.push(format!(
                "{name}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for name in COMPILED {
        assert!(
            compiled.iter().any(|c| c == name),
            "{name}: recorded as compiling, but its gateway was not checked: {compiled:?}"
        );
    }
}
