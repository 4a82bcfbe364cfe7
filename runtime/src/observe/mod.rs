//! What a running gateway tells its operators: the request metrics and the whole
//! `/metrics` page ([`metrics`], which reads the counters every other stage owns and
//! renders itself), the access log of each exchange ([`access`]) and OTLP span export
//! ([`otel`]).
//!
//! May use: `base`, `check`, `edge`, `proxy` and the compiled tables (`gateway.rs`); the
//! listener (`serve`) reports into it, never the other way round.

pub(crate) mod access;
pub(crate) mod metrics;
pub(crate) mod otel;
