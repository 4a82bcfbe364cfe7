//! Edge security: who the caller is and whether it may go on. Credentials ([`auth`]:
//! JWTs, JWKS fetching and rotation, API keys), rate limits ([`ratelimit`], in memory or
//! in a shared Redis store), the client's address behind trusted proxies ([`client_ip`])
//! and the CORS policies ([`cors`]).
//!
//! May use: `base` and `check`.

pub(crate) mod auth;
pub(crate) mod client_ip;
pub(crate) mod cors;
pub(crate) mod ratelimit;
