//! What the compiler emits for rate limiting ([`RateLimit`] policies, their [`Store`]),
//! what a policy counts by ([`RateKey`], read from a [`Caller`]), and the [`Quota`] one check
//! gives, with the `RateLimit-*` headers it becomes.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// One compiled rate-limit policy (`rate_limits.policies.<name>` of the manifest).
#[derive(Debug)]
pub struct RateLimit {
    /// The policy's name in the manifest.
    pub name: &'static str,
    /// Requests allowed per `period`, on average.
    pub count: u64,
    pub period: Duration,
    /// Requests allowed at once (at least 1).
    pub burst: u64,
    /// What tells clients apart.
    pub key: RateKey,
    /// An IPv6 client is counted by this many leading bits of its address (1 to 128): one
    /// household or VM is routed a whole /64, so a single address names nobody.
    pub ipv6_prefix: u8,
    /// What the policy decides while the shared store cannot be reached (the memory
    /// store never fails).
    pub on_store_failure: OnStoreFailure,
    /// Whether allowed answers carry the `RateLimit-*` fields (429s always do).
    pub allowed_headers: bool,
}

/// What a policy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The client's address: the TCP peer, or when the peer is a trusted proxy, the
    /// right-most untrusted address of `X-Forwarded-For` (see `edge::client_ip`); for
    /// IPv6, its network of `RateLimit::ipv6_prefix` bits.
    Ip,
    /// The value of this request header (lower case); requests without it share one key.
    Header(&'static str),
    /// The verified identity: the API key's consumer or the token's `sub`. Requests
    /// without one (a public route, a token without `sub`) are counted by [`RateKey::Ip`].
    Consumer,
    /// The value of this claim of the verified token; requests without it are counted by
    /// [`RateKey::Ip`].
    Claim(&'static str),
}

/// What a policy does when the shared store fails (an error, or no answer in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreFailure {
    /// Decide with this replica's in-memory limiter (each replica then allows the whole
    /// limit on its own until the store is back).
    #[default]
    Allow,
    /// Refuse with 503 and `Retry-After`: the limit can not be checked.
    Deny,
}

/// Where the GCRA state of every policy is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In each gateway process.
    Memory,
    /// In one Redis server that every replica shares.
    Redis(&'static RedisStore),
}

/// `rate_limits.store.redis` of the manifest.
#[derive(Debug, PartialEq, Eq)]
pub struct RedisStore {
    /// The environment variable holding the URL (`redis://[user:password@]host:port/db`),
    /// read at start: the URL may carry a password, so it is never compiled in.
    pub url_env: &'static str,
    /// The longest a check waits for Redis before the policy's `on_store_failure`
    /// decides.
    pub timeout: Duration,
}

/// Who is asking: what a policy's key is taken from.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The client's address (already resolved through trusted proxies).
    pub ip: IpAddr,
    pub headers: &'a HeaderMap,
    /// The verified identity, on routes that require credentials.
    pub identity: Option<&'a crate::edge::auth::Authenticated>,
}

/// The part of a request a policy counts by: a kind tag and its value.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyValue<'a> {
    Ip(Network),
    /// (kind tag, value).
    Text(u8, std::borrow::Cow<'a, [u8]>),
}

/// What a client address is counted as: an IPv4 address, or an IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Network {
    /// With the bits past the prefix cleared.
    address: IpAddr,
    /// The prefix length of an IPv6 network; 32 for IPv4.
    bits: u8,
}

impl Network {
    /// The network of `ip` counted by a policy with `ipv6_prefix`: an IPv4-mapped IPv6
    /// address (`::ffff:192.0.2.1`, what a dual-stack socket shows of an IPv4 peer) is its
    /// IPv4 form, which is counted whole.
    pub(crate) fn of(ip: IpAddr, ipv6_prefix: u8) -> Network {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Network {
                address: IpAddr::V4(v4),
                bits: 32,
            },
            IpAddr::V6(v6) => {
                let bits = ipv6_prefix.clamp(1, 128);
                let mask = u128::MAX << (128 - u32::from(bits));
                Network {
                    address: IpAddr::V6((u128::from(v6) & mask).into()),
                    bits,
                }
            }
        }
    }
}

/// `192.0.2.1`, or `2001:db8:1:2::/64`: the text of a Redis key.
impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/{}", self.bits),
        }
    }
}

impl RateKey {
    /// The value this key takes for `caller`, under a policy counting IPv6 clients by
    /// `ipv6_prefix`; a missing identity or claim falls back to the client's address.
    pub(crate) fn value<'a>(self, caller: &Caller<'a>, ipv6_prefix: u8) -> KeyValue<'a> {
        use std::borrow::Cow;
        let ip = || KeyValue::Ip(Network::of(caller.ip, ipv6_prefix));
        match self {
            RateKey::Ip => ip(),
            RateKey::Header(name) => KeyValue::Text(
                b'h',
                Cow::Borrowed(
                    caller
                        .headers
                        .get(name)
                        .map_or(&b""[..], HeaderValue::as_bytes),
                ),
            ),
            RateKey::Consumer => match caller.identity.and_then(|i| i.consumer.as_deref()) {
                Some(consumer) => KeyValue::Text(b'c', Cow::Borrowed(consumer.as_bytes())),
                None => ip(),
            },
            RateKey::Claim(claim) => {
                let value = caller
                    .identity
                    .and_then(|i| i.claims.as_ref())
                    .and_then(|claims| claims.get(claim));
                match value {
                    None | Some(serde_json::Value::Null) => ip(),
                    Some(serde_json::Value::String(text)) => {
                        KeyValue::Text(b'j', Cow::Owned(text.as_bytes().to_vec()))
                    }
                    Some(other) => KeyValue::Text(b'j', Cow::Owned(other.to_string().into_bytes())),
                }
            }
        }
    }
}

/// The outcome of one check, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The policy's burst.
    pub limit: u64,
    /// Requests the key could still make right now.
    pub remaining: u64,
    /// Seconds (rounded up) until the key's full burst is available again.
    pub reset: u64,
    /// When refused: seconds (rounded up, at least 1) until one request is allowed.
    pub retry_after: Option<u64>,
}

impl Quota {
    /// Sets `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft
    /// RateLimit header fields, delta-seconds), and `Retry-After` when refused.
    pub fn decorate(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset));
        if let Some(after) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(after));
        }
    }
}

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Why a policy cannot be enforced.
pub fn check_policy(policy: &RateLimit) -> Result<(), String> {
    if policy.count == 0 || policy.burst == 0 || policy.period.is_zero() {
        return Err(format!(
            "rate-limit policy `{}` must allow at least one request per non-zero period, with a burst of at least 1",
            policy.name
        ));
    }
    if !(1..=128).contains(&policy.ipv6_prefix) {
        return Err(format!(
            "rate-limit policy `{}`: an IPv6 prefix of {} bits is not between 1 and 128",
            policy.name, policy.ipv6_prefix
        ));
    }
    if let RateKey::Header(name) = policy.key
        && HeaderName::from_bytes(name.as_bytes()).is_err()
    {
        return Err(format!(
            "rate-limit policy `{}`: `{name}` is not a header name",
            policy.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(ip: &str, ipv6_prefix: u8) -> String {
        Network::of(ip.parse().unwrap(), ipv6_prefix).to_string()
    }

    #[test]
    fn client_addresses_become_networks() {
        assert_eq!(network("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2::/64");
        assert_eq!(network("2001:db8:1:2:3:4:5:6", 56), "2001:db8:1::/56");
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6", 128),
            "2001:db8:1:2:3:4:5:6/128"
        );
        assert_eq!(network("2001:db8:1:2:3:4:5:6", 1), "::/1");
        assert_eq!(network("ffff::1", 1), "8000::/1");
        assert_eq!(network("198.51.100.7", 64), "198.51.100.7");
        assert_eq!(network("::ffff:198.51.100.7", 64), "198.51.100.7");
        // Not IPv4-mapped: an IPv6 address like any other.
        assert_eq!(network("::1", 64), "::/64");
        assert_eq!(network("64:ff9b::c633:6407", 96), "64:ff9b::/96");
    }
}
