//! Building the generated crate: the cargo command, reading its JSON messages, and the
//! progress display.
//!
//! cargo runs with `--message-format=json-render-diagnostics --quiet`: its warnings and
//! errors are rendered by cargo itself on stderr, passed through verbatim; stdout carries
//! one JSON message per unit built (fresh or not), counted for the progress display, and
//! names the gateway's executable. The number of units to expect comes from `cargo
//! metadata` before the first build (packages on this platform plus build scripts: within
//! a few of the real count), then from the previous build.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The cargo to run: the one that runs us, if any, else `cargo` on the PATH.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo build` of the crate at `manifest`, into `target_dir`.
pub fn command(manifest: &Path, target_dir: &Path, color: bool) -> Command {
    let mut command = Command::new(cargo_program());
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--message-format=json-render-diagnostics")
        .arg("--quiet")
        .arg(if color {
            "--color=always"
        } else {
            "--color=never"
        })
        .env("CARGO_TARGET_DIR", target_dir);
    command
}

/// How many units a build of `manifest` compiles, from `cargo metadata`; `None` when it
/// cannot tell.
pub fn estimate_units(manifest: &Path) -> Option<usize> {
    let host = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .ok()?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))?;
    let output = Command::new(cargo_program())
        .args([
            "metadata",
            "--quiet",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).ok()?;
    let nodes = metadata.pointer("/resolve/nodes")?.as_array()?;
    let packages = metadata.get("packages")?.as_array()?;
    let with_build_script = |id: &str| {
        packages.iter().any(|p| {
            p.get("id").and_then(Value::as_str) == Some(id)
                && p.get("targets")
                    .and_then(Value::as_array)
                    .is_some_and(|targets| {
                        targets.iter().any(|t| {
                            t.get("kind")
                                .and_then(Value::as_array)
                                .is_some_and(|k| k.iter().any(|k| k == "custom-build"))
                        })
                    })
        })
    };
    let scripts = nodes
        .iter()
        .filter_map(|n| n.get("id").and_then(Value::as_str))
        .filter(|id| with_build_script(id))
        .count();
    Some(nodes.len() + scripts)
}

/// One of cargo's JSON messages, as far as `gateway dev` cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A unit was compiled, or found fresh.
    Unit {
        name: String,
        fresh: bool,
        /// A binary's path.
        executable: Option<PathBuf>,
    },
    Finished {
        success: bool,
    },
    Other,
}

pub fn parse(line: &str) -> Message {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return Message::Other;
    };
    match message.get("reason").and_then(Value::as_str) {
        Some("compiler-artifact") => Message::Unit {
            name: message
                .pointer("/target/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            fresh: message
                .get("fresh")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            executable: message
                .get("executable")
                .and_then(Value::as_str)
                .map(PathBuf::from),
        },
        Some("build-finished") => Message::Finished {
            success: message
                .get("success")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        _ => Message::Other,
    }
}

/// The progress of one build, as text for the terminal: on a terminal one line redrawn in
/// place, elsewhere a line at every tenth of the way.
#[derive(Debug)]
pub struct Progress {
    total: Option<usize>,
    done: usize,
    compiled: usize,
    terminal: bool,
    /// Tenths already reported (not on a terminal).
    reported: usize,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    pub fn new(total: Option<usize>, terminal: bool) -> Progress {
        Progress {
            total,
            done: 0,
            compiled: 0,
            terminal,
            reported: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// Counts a unit; returns text to write, if any.
    pub fn unit(&mut self, name: &str, fresh: bool) -> Option<String> {
        self.done += 1;
        if !fresh {
            self.compiled += 1;
        }
        let total = self.total.map(|t| t.max(self.done));
        if self.terminal {
            // Redrawing at most every 50 ms keeps a fresh build (hundreds of units at once)
            // from flooding the terminal.
            let now = Instant::now();
            if self
                .last_draw
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(50))
            {
                return None;
            }
            self.last_draw = Some(now);
            return Some(match total {
                Some(total) => format!("\r\x1b[2K  building [{:>3}/{total}] {name}", self.done),
                None => format!("\r\x1b[2K  building [{:>3}] {name}", self.done),
            });
        }
        let total = total?;
        let tenths = self.done * 10 / total.max(1);
        if tenths > self.reported && tenths < 10 && self.compiled > 0 {
            self.reported = tenths;
            return Some(format!(
                "  building: {}/{total} units ({}0%)\n",
                self.done, tenths
            ));
        }
        None
    }

    /// The units counted, for the next build's estimate.
    pub fn units(&self) -> usize {
        self.done
    }

    /// The closing line.
    pub fn finish(&self, success: bool) -> String {
        let clear = if self.terminal { "\r\x1b[2K" } else { "" };
        let elapsed = self.started.elapsed().as_secs_f64();
        if success {
            format!(
                "{clear}  built in {elapsed:.1}s ({} units, {} compiled)\n",
                self.done, self.compiled
            )
        } else {
            format!("{clear}  the build failed after {elapsed:.1}s (cargo's messages above)\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_messages() {
        let artifact = r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["bin"],"name":"shop-gateway"},"fresh":false,"executable":"/t/debug/shop-gateway"}"#;
        assert_eq!(
            parse(artifact),
            Message::Unit {
                name: "shop-gateway".into(),
                fresh: false,
                executable: Some(PathBuf::from("/t/debug/shop-gateway"))
            }
        );
        assert_eq!(
            parse(r#"{"reason":"build-finished","success":false}"#),
            Message::Finished { success: false }
        );
        assert_eq!(
            parse(r#"{"reason":"build-script-executed"}"#),
            Message::Other
        );
        assert_eq!(parse("warning: not json"), Message::Other);
    }

    #[test]
    fn progress_off_a_terminal_reports_tenths() {
        let mut progress = Progress::new(Some(20), false);
        let lines: Vec<String> = (0..20)
            .filter_map(|i| progress.unit(&format!("u{i}"), i < 3))
            .collect();
        assert_eq!(lines.len(), 8, "{lines:?}");
        assert_eq!(lines[0], "  building: 4/20 units (20%)\n");
        assert!(progress.finish(true).contains("(20 units, 17 compiled)"));
        // Without a total (no metadata), nothing until the end.
        let mut progress = Progress::new(None, false);
        assert_eq!(progress.unit("a", false), None);
    }
}
