//! The commands: `generate`, `validate`, `routes` (DESIGN.md, "Contracts"), `init` and
//! `schema` (docs/manifest.md, "Starting a manifest"), `dev` (docs/cli.md) and `diff`
//! (docs/diff.md).
//!
//! [`run`] takes the arguments and two writers and returns the exit code, so tests drive
//! the whole CLI in-process. Exit codes: 0 ok, 1 the inputs have errors, 2 usage error,
//! 3 `--check` found the committed output out of date. `diff` follows `oasdiff`: 1 when a
//! change reaches `--fail-on`, 2 when either side does not load.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::diag::{self, Diagnostics};
use crate::emit::{self, RuntimeDep};
use crate::ir::Gateway;
use crate::load::{self, Sources};
use crate::write::relative_to;

pub const EXIT_OK: u8 = 0;
pub const EXIT_INPUT: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_STALE: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "gateway",
    version,
    about = "Compiles OpenAPI specs and a manifest into a Rust API gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate the gateway crate (or, with --check, verify the committed one is current).
    Generate {
        #[arg(long, default_value = "gateway.yaml")]
        manifest: PathBuf,
        /// Output folder; defaults to the manifest's `output`, else ./generated/<name>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write nothing; exit 3 listing the files that differ, are missing or are extra.
        #[arg(long)]
        check: bool,
        /// Depend on the runtime at this folder (written relative to the output folder).
        #[arg(long, conflicts_with = "vendor_runtime")]
        runtime_path: Option<PathBuf>,
        /// Write this compiler's runtime into the crate (`runtime/`) and depend on it there,
        /// for builds without a registry (as the manifest's `runtime: vendored`).
        #[arg(long)]
        vendor_runtime: bool,
    },
    /// Check the manifest and specs and report every problem.
    Validate {
        #[arg(long, default_value = "gateway.yaml")]
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
        format: DiagFormat,
    },
    /// Build and run the gateway in front of mock upstreams made from the specs; rebuild
    /// on every change (docs/dev.md).
    Dev {
        #[arg(long, default_value = "gateway.yaml")]
        manifest: PathBuf,
        /// Public port on 127.0.0.1 (0: a free one); defaults to the manifest's `listen` port.
        #[arg(long)]
        port: Option<u16>,
        /// Work folder for the generated crate, keys and builds; defaults to
        /// .gateway/dev beside the manifest.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// List the public routes.
    Routes {
        #[arg(long, default_value = "gateway.yaml")]
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = RoutesFormat::Table)]
        format: RoutesFormat,
        /// Also list the operations `include`/`exclude` leave out, and why.
        #[arg(long)]
        all: bool,
    },
    /// Write a first manifest from the specs, with the decisions they leave in comments.
    Init {
        /// An OpenAPI spec: one service each (repeat the option).
        #[arg(long = "spec", required = true)]
        specs: Vec<PathBuf>,
        /// The manifest to write; its JSON Schema goes beside it.
        #[arg(long, default_value = "gateway.yaml")]
        out: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
        /// Also write a CI workflow that validates, checks and builds the gateway.
        #[arg(long, value_enum)]
        ci: Option<crate::init::Ci>,
    },
    /// Print the manifest's JSON Schema.
    Schema,
    /// Compare two gateways (manifest + specs): what changes at the edge, by route
    /// (docs/diff.md).
    Diff {
        /// The gateway before: a manifest path, or `<git revision>:<path from the
        /// repository's top>` read from the repository holding --manifest.
        #[arg(long)]
        base: String,
        /// The gateway after.
        #[arg(long, default_value = "gateway.yaml")]
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Exit 1 when a change is at least this severe.
        #[arg(long, value_enum, ignore_case = true)]
        fail_on: Option<FailOn>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DiffFormat {
    Text,
    Json,
    Markdown,
    Githubactions,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FailOn {
    #[value(name = "ERR")]
    Err,
    #[value(name = "WARN")]
    Warn,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DiagFormat {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum RoutesFormat {
    Table,
    Json,
}

/// The result of load -> lower -> check, with every diagnostic positioned and sorted.
pub struct Compiled {
    pub gateway: Option<Gateway>,
    pub diagnostics: Diagnostics,
    pub sources: Sources,
    pub output: Option<PathBuf>,
    /// The manifest's `runtime: vendored`.
    pub vendor_runtime: bool,
}

pub fn compile(manifest: &Path) -> Compiled {
    compile_from(manifest, Sources::new())
}

/// [`compile`], reading the files through `sources` (a git revision's, for `diff`).
pub fn compile_from(manifest: &Path, mut sources: Sources) -> Compiled {
    let mut diagnostics = Diagnostics::default();
    let mut output = None;
    let mut vendor_runtime = false;
    let gateway = load::load(manifest, &mut sources, &mut diagnostics).and_then(|loaded| {
        vendor_runtime = loaded.manifest.vendor_runtime;
        output = Some(
            loaded
                .manifest
                .output
                .clone()
                // Like an explicit `output`, relative to the manifest, wherever the
                // command runs from.
                .unwrap_or_else(|| {
                    let dir = manifest.parent().unwrap_or(Path::new(""));
                    dir.join("generated").join(&loaded.manifest.name)
                }),
        );
        let gateway = crate::lower::lower(&loaded, &mut diagnostics)?;
        crate::check::check(&gateway, &mut diagnostics);
        (!diagnostics.has_errors()).then_some(gateway)
    });
    sources.resolve(&mut diagnostics);
    diagnostics.sort();
    Compiled {
        gateway,
        diagnostics,
        sources,
        output,
        vendor_runtime,
    }
}

/// Runs the CLI; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            return if error.use_stderr() {
                let _ = write!(err, "{text}");
                EXIT_USAGE
            } else {
                let _ = write!(out, "{text}");
                EXIT_OK
            };
        }
    };
    match cli.command {
        Command::Generate {
            manifest,
            out: out_dir,
            check,
            runtime_path,
            vendor_runtime,
        } => generate(
            &manifest,
            out_dir,
            check,
            runtime_path,
            vendor_runtime,
            out,
            err,
        ),
        Command::Validate { manifest, format } => {
            let compiled = compile(&manifest);
            match format {
                DiagFormat::Json => {
                    let _ = write!(out, "{}", diag::render_json(&compiled.diagnostics));
                }
                DiagFormat::Human => {
                    if !compiled.diagnostics.is_empty() {
                        let _ = write!(
                            err,
                            "{}",
                            diag::render_human(&compiled.diagnostics, &compiled.sources)
                        );
                    }
                    if let Some(gateway) = &compiled.gateway {
                        let plural = |n: usize, one: &str, many: &str| {
                            format!("{n} {}", if n == 1 { one } else { many })
                        };
                        let routes = gateway.routes.len();
                        let _ = writeln!(
                            out,
                            "{}: {} across {} {} valid",
                            gateway.name,
                            plural(routes, "route", "routes"),
                            plural(gateway.services.len(), "service", "services"),
                            if routes == 1 { "is" } else { "are" },
                        );
                    }
                }
            }
            if compiled.gateway.is_some() {
                EXIT_OK
            } else {
                EXIT_INPUT
            }
        }
        Command::Dev {
            manifest,
            port,
            workdir,
        } => crate::dev::run(
            crate::dev::Options {
                manifest,
                port,
                workdir,
            },
            out,
            err,
        ),
        Command::Init {
            specs,
            out: path,
            force,
            ci,
        } => match crate::init::init(&specs, &path, force, ci) {
            Ok(report) => {
                let _ = write!(out, "{report}");
                EXIT_OK
            }
            Err(crate::init::Failure::Refused(text)) => {
                let _ = write!(err, "{text}");
                EXIT_USAGE
            }
            Err(crate::init::Failure::Input(text)) => {
                let _ = write!(err, "{text}");
                EXIT_INPUT
            }
        },
        Command::Schema => {
            let _ = write!(out, "{}", crate::init::SCHEMA);
            EXIT_OK
        }
        Command::Diff {
            base,
            manifest,
            format,
            fail_on,
        } => diff(&base, &manifest, format, fail_on, out, err),
        Command::Routes {
            manifest,
            format,
            all,
        } => {
            let compiled = compile(&manifest);
            let Some(gateway) = &compiled.gateway else {
                let _ = write!(
                    err,
                    "{}",
                    diag::render_human(&compiled.diagnostics, &compiled.sources)
                );
                return EXIT_INPUT;
            };
            let _ = match format {
                RoutesFormat::Json => write!(out, "{}", routes_json(gateway, all)),
                RoutesFormat::Table => write!(out, "{}", routes_table(gateway, all)),
            };
            EXIT_OK
        }
    }
}

fn generate(
    manifest: &Path,
    out_dir: Option<PathBuf>,
    check: bool,
    runtime_path: Option<PathBuf>,
    vendor_runtime: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let compiled = compile(manifest);
    if !compiled.diagnostics.is_empty() {
        let _ = write!(
            err,
            "{}",
            diag::render_human(&compiled.diagnostics, &compiled.sources)
        );
    }
    let (Some(gateway), Some(default_out)) = (&compiled.gateway, compiled.output) else {
        return EXIT_INPUT;
    };
    let target = out_dir.unwrap_or(default_out);
    let runtime = match runtime_path {
        None if vendor_runtime || compiled.vendor_runtime => RuntimeDep::Vendored,
        None => RuntimeDep::Version,
        Some(path) => match relative_to(&path, &target) {
            Some(relative) => RuntimeDep::Path(relative),
            None => {
                let _ = writeln!(
                    err,
                    "error: cannot express {} relative to {}",
                    path.display(),
                    target.display()
                );
                return EXIT_USAGE;
            }
        },
    };
    let files = match emit::emit(gateway, &runtime) {
        Ok(files) => files,
        Err(message) => {
            let _ = writeln!(err, "error: internal error while emitting: {message}");
            return EXIT_INPUT;
        }
    };
    if check {
        return match crate::write::compare(&target, &files) {
            Ok(changes) if changes.is_empty() => {
                let _ = writeln!(
                    out,
                    "{} is up to date ({} files)",
                    target.display(),
                    files.len()
                );
                EXIT_OK
            }
            Ok(changes) => {
                let _ = writeln!(
                    err,
                    "{} is out of date; run this `gateway generate` without `--check` and commit \
                     the result:",
                    target.display()
                );
                for (path, change) in changes {
                    let _ = writeln!(err, "  {:<8} {}", change.as_str(), path.display());
                }
                EXIT_STALE
            }
            Err(e) => {
                let _ = writeln!(err, "error: cannot read {}: {e}", target.display());
                EXIT_INPUT
            }
        };
    }
    match crate::write::write(&target, &files) {
        Ok(changes) => {
            let _ = writeln!(
                out,
                "generated {} ({} routes, {} files, {} changed)",
                target.display(),
                gateway.routes.len(),
                files.len(),
                changes.len()
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: cannot write {}: {e}", target.display());
            EXIT_INPUT
        }
    }
}

fn diff(
    base: &str,
    manifest: &Path,
    format: DiffFormat,
    fail_on: Option<FailOn>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // A file that exists is a file; anything else with a `:` is `<revision>:<path>`.
    let before = match base.split_once(':') {
        Some((rev, path)) if !Path::new(base).exists() && !rev.is_empty() => {
            let repository = match manifest.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let (sources, name) = Sources::git(rev, path, repository);
            compile_from(&name, sources)
        }
        _ => compile(Path::new(base)),
    };
    let after = compile(manifest);
    // Warnings are `validate`'s business; a side that does not load says why.
    for side in [&before, &after] {
        if side.gateway.is_none() {
            let _ = write!(
                err,
                "{}",
                diag::render_human(&side.diagnostics, &side.sources)
            );
        }
    }
    let (Some(old), Some(new)) = (&before.gateway, &after.gateway) else {
        return EXIT_USAGE;
    };
    let mut report = crate::diff::diff(old, new, manifest);
    // Lines and columns come from the newer side's files, read already.
    after.sources.locate(
        report
            .changes
            .iter_mut()
            .filter_map(|c| c.location.as_mut()),
    );
    let text = match format {
        DiffFormat::Text => crate::diff::report::text(&report),
        DiffFormat::Json => crate::diff::report::json(&report, base, manifest),
        DiffFormat::Markdown => crate::diff::report::markdown(&report, base),
        DiffFormat::Githubactions => crate::diff::report::github_actions(&report),
    };
    let _ = write!(out, "{text}");
    let threshold = fail_on.map(|f| match f {
        FailOn::Err => crate::diff::Level::Err,
        FailOn::Warn => crate::diff::Level::Warn,
    });
    match (threshold, report.worst()) {
        (Some(threshold), Some(worst)) if worst >= threshold => EXIT_INPUT,
        _ => EXIT_OK,
    }
}

#[derive(Serialize)]
struct RouteJson<'a> {
    method: &'a str,
    path: String,
    service: &'a str,
    operation_id: &'a str,
    upstream_path: String,
    auth: serde_json::Value,
    /// Effective per-try and total timeouts in milliseconds (`null`: unbounded).
    timeouts: serde_json::Value,
    /// The path parameters' types the router tells this route apart from another of its
    /// service by, in template order (absent when untyped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    path_types: Vec<String>,
}

/// An operation left out, under `--all`: told apart from a route by its `excluded` key.
#[derive(serde::Serialize)]
struct ExcludedJson<'a> {
    method: &'a str,
    /// Where it would be published.
    path: String,
    service: &'a str,
    operation_id: &'a str,
    excluded: &'a str,
}

/// One object per public route (DESIGN.md: `gateway routes --format json`); with `all`,
/// then one per excluded operation.
pub fn routes_json(gateway: &Gateway, all: bool) -> String {
    let rows: Vec<RouteJson> = gateway
        .routes
        .iter()
        .map(|r| RouteJson {
            method: r.method.as_str(),
            path: r.public_path.to_string(),
            service: &gateway.services[r.service].key,
            operation_id: &r.operation_id,
            upstream_path: r.upstream_path.to_string(),
            auth: match &r.auth {
                crate::ir::Auth::Public => serde_json::json!("public"),
                crate::ir::Auth::Required { alternatives, .. } => serde_json::Value::Array(
                    alternatives
                        .iter()
                        .map(|all| {
                            serde_json::Value::Array(
                                all.iter()
                                    .map(|req| serde_json::json!({"scheme": req.scheme, "scopes": req.scopes}))
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
            },
            timeouts: {
                let service = &gateway.services[r.service];
                let (request, total) = service.resilience.timeouts_of(
                    &r.operation_id,
                    std::time::Duration::from_millis(service.request_timeout_ms),
                );
                serde_json::json!({
                    "request_ms": request.as_millis() as u64,
                    "total_ms": total.map(|t| t.as_millis() as u64),
                })
            },
            path_types: r.path_types.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let mut rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    if all {
        rows.extend(gateway.excluded.iter().map(|e| {
            serde_json::to_value(ExcludedJson {
                method: e.method.as_str(),
                path: e.public_path.clone(),
                service: &gateway.services[e.service].key,
                operation_id: &e.operation_id,
                excluded: &e.reason,
            })
            .unwrap_or_default()
        }));
    }
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    text.push('\n');
    text
}

fn routes_table(gateway: &Gateway, all: bool) -> String {
    let mut text = table(
        ["METHOD", "PATH", "SERVICE", "UPSTREAM", "AUTH"],
        gateway
            .routes
            .iter()
            .map(|r| {
                [
                    r.method.to_string(),
                    r.public_path.to_string(),
                    gateway.services[r.service].key.clone(),
                    r.upstream_path.to_string(),
                    emit::auth_summary(&r.auth),
                ]
            })
            .collect(),
    );
    let mut typed: Vec<&crate::ir::Route> = gateway
        .routes
        .iter()
        .filter(|r| !r.path_types.is_empty())
        .collect();
    if !typed.is_empty() {
        // In the order the router tries them: by shape, then narrowest type first.
        typed.sort_by_key(|r| {
            (
                r.public_path.shape(),
                r.method,
                r.path_types.iter().map(|t| t.rank()).collect::<Vec<_>>(),
            )
        });
        text.push_str("\ntyped (the router tries the narrowest type first)\n");
        let rows = typed
            .iter()
            .map(|r| {
                // `path_types` has one entry per parameter, mixed segments' included.
                let types: Vec<String> = r
                    .public_path
                    .params()
                    .zip(&r.path_types)
                    .filter(|(_, ty)| **ty != crate::ir::PathType::Any || r.path_types.len() == 1)
                    .map(|(name, ty)| format!("{name}: {ty}"))
                    .collect();
                [
                    r.method.to_string(),
                    r.public_path.to_string(),
                    gateway.services[r.service].key.clone(),
                    r.operation_id.clone(),
                    types.join(", "),
                ]
            })
            .collect();
        text.push_str(&table(
            ["METHOD", "PATH", "SERVICE", "OPERATION", "TYPES"],
            rows,
        ));
    }
    if all && !gateway.excluded.is_empty() {
        text.push_str("\nexcluded\n");
        let rows = gateway
            .excluded
            .iter()
            .map(|e| {
                [
                    e.method.to_string(),
                    e.public_path.clone(),
                    gateway.services[e.service].key.clone(),
                    e.operation_id.clone(),
                    e.reason.clone(),
                ]
            })
            .collect();
        text.push_str(&table(
            ["METHOD", "PATH", "SERVICE", "OPERATION", "WHY"],
            rows,
        ));
    }
    // Then each service's upstream policy.
    for service in &gateway.services {
        text.push_str(&format!("\nservice {}\n", service.key));
        text.push_str(&format!("  {:<14}{}\n", "instances", instances(service)));
        let summary = service.resilience.summary(
            std::time::Duration::from_millis(service.connect_timeout_ms),
            std::time::Duration::from_millis(service.request_timeout_ms),
        );
        for (label, value) in summary {
            text.push_str(&format!("  {label:<14}{value}\n"));
        }
    }
    text
}

/// Columns padded to their widest cell.
fn table(headings: [&str; 5], rows: Vec<[String; 5]>) -> String {
    let headings = headings.map(String::from);
    let mut widths = headings.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&headings).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// Where a service's instances come from: its URLs, or the DNS name it re-resolves.
fn instances(service: &crate::ir::Service) -> String {
    match &service.discovery {
        None => service.urls.join(", "),
        Some(d) => {
            let (record, port) = match d.record {
                crate::ir::DnsRecord::A => ("A/AAAA", format!(" port {}", d.port)),
                crate::ir::DnsRecord::Srv => ("SRV", String::new()),
            };
            let nameserver = d
                .nameserver
                .as_deref()
                .map_or(String::new(), |ns| format!(" via {ns}"));
            format!(
                "DNS {record} {}{port}{nameserver}, every {}, {}://",
                d.dns,
                crate::upstream::show_duration(std::time::Duration::from_millis(d.interval_ms)),
                d.scheme
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(
                ["gateway", "frobnicate"].map(OsString::from),
                &mut out,
                &mut err
            ),
            EXIT_USAGE
        );
        assert_eq!(
            run(
                ["gateway", "validate", "--format", "xml"].map(OsString::from),
                &mut out,
                &mut err
            ),
            EXIT_USAGE
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(
                ["gateway", "--help"].map(OsString::from),
                &mut out,
                &mut err
            ),
            EXIT_OK
        );
        assert!(String::from_utf8_lossy(&out).contains("generate"));
    }
}
