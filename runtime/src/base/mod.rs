//! The leaf every stage stands on: the wire formats and vocabulary that the checks, the
//! edge, the proxy, observability and the listener all speak.
//!
//! Owns: RFC 9457 problems ([`problem`]), the request and response body types
//! ([`bodies`]), W3C trace context ([`traceparent`]), the Prometheus text primitives
//! ([`prometheus`]), the HTTP methods a route can have ([`method`]) and header names as
//! upstream servers read them ([`header_names`]).
//!
//! May use: nothing else of this crate.

pub(crate) mod bodies;
pub(crate) mod header_names;
pub(crate) mod method;
pub(crate) mod problem;
pub(crate) mod prometheus;
pub(crate) mod traceparent;
