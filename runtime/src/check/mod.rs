//! The checks generated handlers call, in the order a request meets them: parameters
//! ([`params`], and [`styled`] for objects, cookies and delimited arrays), bodies
//! ([`body`]: media types and limits; [`json`] and [`form`] for their contents), and,
//! where `validate_responses` is on, the upstream's answer ([`responses`]).
//!
//! Synchronous and allocation-light: each check reads the request and collects every
//! failure it finds into one problem.
//!
//! May use: `base`.

pub(crate) mod body;
pub(crate) mod fields;
pub(crate) mod form;
pub(crate) mod json;
pub(crate) mod media;
pub(crate) mod params;
pub(crate) mod responses;
pub(crate) mod steps;
pub(crate) mod styled;
