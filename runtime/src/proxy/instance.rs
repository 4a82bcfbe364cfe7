//! One instance of a service and what is known about it: its URL, attempts by outcome,
//! health verdict, ejection and breaker. Kept across snapshots while its URL stays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use super::breaker::CircuitBreaker;
use super::hash;
use super::policy::Policy;

/// How an attempt to get a response head from an upstream instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The response head arrived (whatever its status).
    Ok,
    /// No connection could be made.
    ConnectError,
    /// The service's request timeout elapsed first.
    Timeout,
    /// The connection failed or the upstream answered something that is not HTTP.
    Error,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::ConnectError,
        Outcome::Timeout,
        Outcome::Error,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ConnectError => "connect_error",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

/// One instance of a service and everything known about it. Kept across snapshots while
/// its URL stays, so health, ejection and breaker state survive a re-resolution.
#[derive(Debug)]
pub struct Instance {
    pub(super) url: String,
    pub(super) authority: Authority,
    /// The `Host` sent upstream.
    pub(crate) host: HeaderValue,
    /// The base URL's path, without a trailing `/` (empty for none).
    pub(super) prefix: String,
    pub(crate) url_hash: u64,
    /// Attempts by outcome, indexed like `Outcome::ALL`.
    pub(super) attempts: [AtomicU64; 4],
    pub(crate) in_flight: AtomicU32,
    /// The active health check's verdict (true without health checks).
    pub(super) healthy: AtomicBool,
    pub(super) check_passes: AtomicU32,
    pub(super) check_failures: AtomicU32,
    pub(super) consecutive_failures: AtomicU32,
    /// Milliseconds since the upstream's epoch until which the instance is ejected.
    pub(super) ejected_until: AtomicU64,
    pub(super) ejections: AtomicU32,
    pub(super) breaker: Option<CircuitBreaker>,
}

impl Instance {
    pub(crate) fn parse(service: &str, url: &str, policy: &Policy) -> Result<Instance, String> {
        let bad = |why: &str| format!("service `{service}`: upstream URL `{url}` {why}");
        let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("uses https, which is not supported yet")),
            _ => return Err(bad("must start with http://")),
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(bad("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(bad("must not carry credentials"));
        }
        if authority.host().is_empty() {
            return Err(bad("has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("has a host that is not a valid header value"))?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Instance {
            url: url.to_owned(),
            url_hash: hash::mix(hash::fnv1a(url.as_bytes())),
            authority,
            host,
            prefix,
            attempts: Default::default(),
            in_flight: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            check_passes: AtomicU32::new(0),
            check_failures: AtomicU32::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            breaker: policy.breaker.map(CircuitBreaker::new),
        })
    }

    /// `host:port`, for logs and metrics.
    pub fn name(&self) -> &str {
        self.authority.as_str()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The upstream URI: this instance's base, the handler's path, the client's raw query.
    pub(crate) fn uri(&self, path: &str, query: Option<&str>) -> Option<Uri> {
        if !path.starts_with('/') {
            return None;
        }
        let extra = query.map_or(0, |q| q.len() + 1);
        let mut target = String::with_capacity(self.prefix.len() + path.len() + extra);
        target.push_str(&self.prefix);
        target.push_str(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target)).ok()?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).ok()
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        self.attempts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(super) fn ejected(&self, now_ms: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now_ms
    }
}

/// An instance in a snapshot, with its weight there.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) instance: Arc<Instance>,
    pub(crate) weight: u32,
}
