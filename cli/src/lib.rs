//! The gateway compiler: OpenAPI specs + a manifest in, a typed Rust gateway crate out.
//!
//! The stages are modules, each taking the previous stage's value:
//! [`load`] (files -> manifest + specs) -> [`lower`] (-> the IR, [`ir`]) -> [`check`]
//! (semantic checks over the IR) -> [`emit`] (IR -> files in memory) -> [`write`] (to disk,
//! or `--check` against it). [`cli`] wires them to the commands; `main.rs` only maps the
//! result to an exit code. [`init`] writes a first manifest from the specs; [`dev`]
//! (`gateway dev`) runs the stages on every change of the inputs, and builds and runs the
//! result in front of mock upstreams; [`diff`] compares two gateways' IRs for review.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod dev;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod http;
pub mod init;
pub mod ir;
pub mod load;
pub mod lower;
pub mod upstream;
pub mod write;

/// The version of this compiler, written into every generated file's header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
