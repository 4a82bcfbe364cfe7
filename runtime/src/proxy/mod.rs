//! Reaching the upstreams: each service's instances and how one is chosen and kept
//! healthy, and the forwarding of a request to them.
//!
//! Owns: [`policy`] (the compiled-in settings), [`instance`] and [`upstream`] (instances,
//! snapshots, balancing in [`balance`], circuit breakers in [`breaker`], the retry budget
//! in [`retry`]), active health checks ([`health`]), DNS discovery ([`discovery`]) and
//! [`forward`] (header rewriting and the tries of one request).
//!
//! May use: `base`, `check` and `edge` (a service's CORS policy); never the serving
//! layer, which drives it.

pub(crate) mod balance;
pub(crate) mod breaker;
pub(crate) mod discovery;
pub(crate) mod forward;
pub(crate) mod hash;
pub(crate) mod health;
pub(crate) mod instance;
pub(crate) mod policy;
pub(crate) mod retry;
pub(crate) mod upstream;
