//! `gateway init`: a first manifest from the specs, so that nobody types every service,
//! security scheme and auth decision by hand.
//!
//! The specs are read by the loader (`load::spec`), as `validate` reads them; what they
//! say is surveyed ([`survey`]) and written as a manifest with the decisions left to the
//! user in comments ([`manifest`]). Beside the manifest go its JSON Schema (editors find
//! it through the first line, offline: the schema has no public URL) and, with
//! `--ci github`, a workflow that validates, checks the committed crate and builds it.
//! Existing files are never overwritten without `--force`.

mod manifest;
mod survey;

use std::path::{Path, PathBuf};

use crate::diag::{self, Diagnostics, Severity};
use crate::load::{Sources, spec};

/// The manifest's JSON Schema (docs/manifest.schema.json, through the symlink
/// cli/manifest.schema.json so that the packaged crate carries it).
pub const SCHEMA: &str = include_str!("../../manifest.schema.json");

/// Where the schema goes, beside the manifest.
pub const SCHEMA_FILE: &str = "gateway.schema.json";

/// Where `--ci github` writes its workflow, relative to the manifest's folder.
pub const GITHUB_WORKFLOW: &str = ".github/workflows/gateway.yml";

const WORKFLOW_TEMPLATE: &str = include_str!("../../templates/init/github-workflow.yml.j2");

/// The folder `gateway generate` writes to, relative to the manifest.
const OUTPUT: &str = "generated";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// GitHub Actions.
    Github,
}

/// Why nothing was written.
#[derive(Debug)]
pub enum Failure {
    /// A file exists (without `--force`), or the arguments contradict each other.
    Refused(String),
    /// A spec cannot be read, or a file cannot be written.
    Input(String),
}

/// Writes the manifest (and the schema, and the workflow); returns what it wrote, for the
/// terminal.
pub fn init(specs: &[PathBuf], out: &Path, force: bool, ci: Option<Ci>) -> Result<String, Failure> {
    let folder = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file) = out.file_name().map(|f| f.to_string_lossy().into_owned()) else {
        return Err(Failure::Refused(format!(
            "error: `{}` does not name a file; give the manifest's path, e.g. --out gateway.yaml\n",
            out.display()
        )));
    };
    // Beside the manifest, shown as the user named it (`gateway.schema.json`, not
    // `./gateway.schema.json`).
    let schema_path = out.with_file_name(SCHEMA_FILE);
    let workflow_path = out.with_file_name(GITHUB_WORKFLOW);

    let mut refusals = Vec::new();
    if out.is_dir() {
        refusals.push(format!(
            "error: `{}` is a folder; give the manifest's file name\n",
            out.display()
        ));
    }
    let mut guard = |path: &Path, contents: Option<&str>| {
        let exists = path.exists();
        let same = contents.is_some_and(|c| std::fs::read(path).is_ok_and(|b| b == c.as_bytes()));
        if exists && !same && !force {
            refusals.push(format!(
                "error: `{}` exists; pass --force to overwrite it\n",
                path.display()
            ));
        }
    };
    if !out.is_dir() {
        guard(out, None);
    }
    guard(&schema_path, Some(SCHEMA));
    if ci.is_some() {
        guard(&workflow_path, None);
    }
    for (i, spec) in specs.iter().enumerate() {
        let same =
            |other: &PathBuf| std::path::absolute(other).ok() == std::path::absolute(spec).ok();
        if specs[..i].iter().any(same) {
            refusals.push(format!(
                "error: the spec `{}` is given twice\n",
                spec.display()
            ));
        }
    }
    if !refusals.is_empty() {
        return Err(Failure::Refused(refusals.concat()));
    }

    let mut sources = Sources::new();
    let mut diagnostics = Diagnostics::default();
    let loaded: Vec<_> = specs
        .iter()
        .map(|path| spec::load_spec(path, &mut sources, &mut diagnostics))
        .collect();
    let errors = diagnostics
        .list
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let Some(loaded) = loaded.into_iter().collect::<Option<Vec<_>>>() else {
        sources.resolve(&mut diagnostics);
        diagnostics.sort();
        return Err(Failure::Input(format!(
            "{}error: no manifest written: a spec cannot be read\n",
            diag::render_human(&diagnostics, &sources)
        )));
    };

    let mut relative = Vec::new();
    for path in specs {
        match crate::write::relative_to(path, &folder) {
            Some(path) => relative.push(path),
            None => {
                return Err(Failure::Refused(format!(
                    "error: cannot express `{}` relative to `{}`\n",
                    path.display(),
                    folder.display()
                )));
            }
        }
    }
    let survey = survey::survey(&loaded, &relative);
    let gateway = gateway_name(&folder);
    let text = manifest::manifest(
        &survey,
        &manifest::Context {
            file: &file,
            schema: SCHEMA_FILE,
            gateway: &gateway,
            output: OUTPUT,
        },
    );
    let mut files = vec![(out.to_path_buf(), text), (schema_path, SCHEMA.to_owned())];
    if ci == Some(Ci::Github) {
        files.push((workflow_path, workflow(&file)?));
    }
    for (path, contents) in &files {
        let written = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, contents));
        if let Err(error) = written {
            return Err(Failure::Input(format!(
                "error: cannot write `{}`: {error}\n",
                path.display()
            )));
        }
    }

    let open: usize = survey
        .services
        .iter()
        .flat_map(|s| &s.operations)
        .filter(|o| matches!(o.decision, survey::Decision::Open(_)))
        .count();
    let configured = survey
        .schemes
        .iter()
        .filter(|s| s.used && s.kind.configurable())
        .count();
    let mut report = format!(
        "wrote {}: {} {}, {} security {} configured, {} {} to decide\n",
        out.display(),
        survey.services.len(),
        if survey.services.len() == 1 {
            "service"
        } else {
            "services"
        },
        configured,
        if configured == 1 { "scheme" } else { "schemes" },
        open,
        if open == 1 { "operation" } else { "operations" },
    );
    for (path, _) in &files[1..] {
        report.push_str(&format!("wrote {}\n", path.display()));
    }
    if errors > 0 {
        report.push_str(&format!(
            "the specs have {errors} {}: `gateway validate` shows {}\n",
            if errors == 1 { "error" } else { "errors" },
            if errors == 1 { "it" } else { "them" },
        ));
    }
    report.push_str(&format!(
        "next: gateway validate --manifest {}\n",
        out.display()
    ));
    Ok(report)
}

/// `<folder>-gateway` from the manifest's folder (`shop` -> `shop-gateway`), a valid crate
/// name; `api-gateway` when the folder's name makes none.
fn gateway_name(folder: &Path) -> String {
    let name = std::path::absolute(folder)
        .ok()
        .and_then(|p| {
            p.components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                    _ => None,
                })
                .next_back()
        })
        .unwrap_or_default();
    let words: Vec<String> = heck::ToKebabCase::to_kebab_case(
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .as_str(),
    )
    .split('-')
    .filter(|w| !w.is_empty())
    .map(str::to_owned)
    .collect();
    let mut stem = String::new();
    for word in words {
        if stem.len() + word.len() > 40 {
            break;
        }
        if !stem.is_empty() {
            stem.push('-');
        }
        stem.push_str(&word);
    }
    if !stem.starts_with(|c: char| c.is_ascii_lowercase()) || stem == "gateway" {
        return "api-gateway".to_owned();
    }
    if stem.ends_with("gateway") {
        stem
    } else {
        format!("{stem}-gateway")
    }
}

/// A word the shell reads as itself: quoted unless it is plainly one.
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn workflow(manifest: &str) -> Result<String, Failure> {
    let manifest = shell_word(manifest);
    let command = |text: String| manifest::scalar_text(&text);
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("workflow", WORKFLOW_TEMPLATE)
        .and_then(|()| env.get_template("workflow"))
        .and_then(|template| {
            template.render(minijinja::context! {
                version => crate::VERSION,
                output => OUTPUT,
                validate => command(format!("gateway validate --manifest {manifest}")),
                check => command(format!("gateway generate --manifest {manifest} --check")),
                build => command(format!(
                    "cargo build --release --locked --manifest-path {OUTPUT}/Cargo.toml"
                )),
            })
        })
        .map(|text| format!("{}\n", text.trim_end()))
        .map_err(|e| {
            Failure::Input(format!(
                "error: internal error in the workflow template: {e}\n"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_names_come_from_the_folder() {
        assert_eq!(gateway_name(Path::new("/srv/shop")), "shop-gateway");
        assert_eq!(
            gateway_name(Path::new("/srv/My Shop_API")),
            "my-shop-api-gateway"
        );
        assert_eq!(gateway_name(Path::new("/srv/edge-gateway")), "edge-gateway");
        assert_eq!(gateway_name(Path::new("/srv/gateway")), "api-gateway");
        assert_eq!(gateway_name(Path::new("/srv/2024")), "api-gateway");
        assert_eq!(gateway_name(Path::new("/")), "api-gateway");
        let long = gateway_name(&Path::new("/srv").join("word-".repeat(20)));
        assert!(long.len() <= 64 && long.ends_with("-gateway"), "{long}");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("gateway.yaml"), "gateway.yaml");
        assert_eq!(shell_word("my gateway.yaml"), "'my gateway.yaml'");
        assert_eq!(shell_word("it's.yaml"), "'it'\\''s.yaml'");
    }
}
