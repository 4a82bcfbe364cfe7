//! Serving: start-up and settings from the environment ([`start`]), the accept loop of the
//! public listener ([`listen`]), the request path ([`dispatch`]: routing through
//! [`router`], CORS preflights, auth, rate limits, the generated handler, body checks and
//! the proxy), the API reference page ([`docs`]), the admin listener ([`admin`]), and `--health-check`, the binary asking its
//! own admin listener ([`health_check`]).
//!
//! May use: everything below it; nothing uses it but the crate's public API (`lib.rs`).

pub(crate) mod admin;
pub(crate) mod dispatch;
pub(crate) mod docs;
pub(crate) mod health_check;
pub(crate) mod listen;
pub(crate) mod router;
pub(crate) mod start;
