//! The `gateway` section: the settings of the gateway process itself (crate name, listen
//! address, base path, body and field limits, trusted proxies, the reference page).
//!
//! The driver in `mod.rs` reads these fields one by one, because each has its own default
//! and its own diagnostic; what is here is the shape serde checks and the value checks that
//! belong to no other section.

use std::time::Duration;

use serde::Deserialize;

use super::Ctx;
use super::cors::RawCors;
use crate::load::units;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub(super) name: String,
    pub(super) listen: Option<String>,
    pub(super) base_path: Option<String>,
    #[serde(default)]
    pub(super) limits: RawLimits,
    pub(super) cors: Option<RawCors>,
    pub(super) rate_limit: Option<String>,
    pub(super) validate_responses: Option<bool>,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
    pub(super) docs: Option<RawDocs>,
}

/// `gateway.docs`: the API reference page.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocs {
    pub(super) path: Option<String>,
}

/// Where `gateway.docs: {}` serves the page.
const DEFAULT_DOCS_PATH: &str = "/docs";

/// Paths the gateway answers itself, on the public listener or the admin one: a page
/// there would hide the endpoint, or be mistaken for it.
const RESERVED_PATHS: [&str; 4] = ["/openapi.json", "/healthz", "/readyz", "/metrics"];

/// `gateway.docs.path`: a literal path of one or more segments, without a trailing `/`
/// (the page's files are served one segment below it, linked relative to it).
pub(super) fn docs_path(raw: RawDocs, ctx: &mut Ctx<'_>) -> Option<String> {
    let pointer = "/gateway/docs/path";
    let path = raw.path.unwrap_or_else(|| DEFAULT_DOCS_PATH.to_owned());
    let literal = path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        })
    });
    if !literal {
        ctx.error(
            "gateway::manifest::invalid_docs_path",
            pointer,
            format!("`{path}` cannot be the reference page's path"),
            "write it like `/docs` or `/api/reference`: a leading slash, no trailing one, and literal segments of letters, digits, `-`, `.`, `_`, `~`",
        );
        return None;
    }
    if RESERVED_PATHS.contains(&path.as_str()) {
        ctx.error(
            "gateway::manifest::docs_path_taken",
            pointer,
            format!("the gateway serves `{path}` itself"),
            "choose another path for the reference page, e.g. `/docs`",
        );
        return None;
    }
    Some(path)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_body: Option<String>,
    pub(super) max_fields: Option<u64>,
    pub(super) header_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) send_timeout: Option<String>,
    pub(super) max_connections: Option<u32>,
}

/// `gateway.limits` on client connections: the runtime's `Connections`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    /// `None`: derived from the file-descriptor limit when the gateway starts.
    pub max_connections: Option<u32>,
}

impl Default for ConnectionLimits {
    /// nginx's `send_timeout`; an idle timeout longer than the 60 s of common load
    /// balancers, so that the one in front closes first (nginx's `keepalive_timeout`).
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            max_connections: None,
        }
    }
}

/// The connection deadlines and cap of `gateway.limits`; each a positive duration or count.
pub(super) fn connection_limits(raw: &RawLimits, ctx: &mut Ctx<'_>) -> ConnectionLimits {
    let mut limits = ConnectionLimits::default();
    for (key, text, slot) in [
        (
            "header_timeout",
            &raw.header_timeout,
            &mut limits.header_timeout,
        ),
        ("idle_timeout", &raw.idle_timeout, &mut limits.idle_timeout),
        ("send_timeout", &raw.send_timeout, &mut limits.send_timeout),
    ] {
        let Some(text) = text else { continue };
        let pointer = format!("/gateway/limits/{key}");
        match units::duration(text) {
            Ok(duration) if !duration.is_zero() => *slot = duration,
            Ok(_) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer,
                "this duration must be longer than zero".into(),
                "",
            ),
            Err(message) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer,
                message,
                "durations are written like `500ms`, `2s` or `1m`",
            ),
        }
    }
    match raw.max_connections {
        Some(0) => ctx.error(
            "gateway::manifest::invalid_value",
            "/gateway/limits/max_connections",
            "`max_connections: 0` would serve no one".into(),
            "leave it out to derive it from the file-descriptor limit",
        ),
        max => limits.max_connections = max,
    }
    limits
}

pub(super) const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub(super) const DEFAULT_MAX_BODY: u64 = 1 << 20;
/// Go's `multipart` reader and PHP's `max_input_vars` stop at 1000 too.
pub(super) const DEFAULT_MAX_FIELDS: usize = 1000;

/// `gateway.trusted_proxies`: CIDR blocks or single addresses, normalized to blocks.
pub(super) fn trusted(blocks: &[String], ctx: &mut Ctx<'_>) -> Vec<String> {
    let mut normalized = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match cidr(block) {
            Some(block) => normalized.push(block),
            None => ctx.error(
                "gateway::manifest::invalid_trusted_proxy",
                &format!("/gateway/trusted_proxies/{i}"),
                format!("`{block}` is not a CIDR block"),
                "write an address with a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`, or a single address",
            ),
        }
    }
    normalized
}

/// `10.1.2.3/8` -> `10.1.2.3/8` (the runtime masks it); a bare address gets its full
/// length.
fn cidr(text: &str) -> Option<String> {
    let text = text.trim();
    let (address, bits) = match text.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (text, None),
    };
    let address: std::net::IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        // Digits only: `+8` or ` 8` are not prefix lengths.
        Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            bits.parse::<u8>().ok()?
        }
        Some(_) => return None,
        None => max,
    };
    (bits <= max).then(|| format!("{address}/{bits}"))
}

pub(super) fn valid_crate_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_limits_default_and_are_checked() {
        use crate::load::manifest::tests::check;
        let manifest = |limits: &str| {
            format!(
                "version: 1\ngateway: {{name: shop, limits: {limits}}}\nservices:\n  users: {{spec: u.yaml, upstream: {{urls: ['http://a']}}}}\n"
            )
        };
        let (parsed, diags) = check(&manifest("{}"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(parsed.unwrap().connections, ConnectionLimits::default());
        let (parsed, diags) = check(&manifest(
            "{header_timeout: 1s, idle_timeout: 2m, send_timeout: 500ms, max_connections: 64}",
        ));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            parsed.unwrap().connections,
            ConnectionLimits {
                header_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(120),
                send_timeout: Duration::from_millis(500),
                max_connections: Some(64),
            }
        );
        // Every bad value is reported, each at its own key.
        let (parsed, diags) = check(&manifest(
            "{header_timeout: 0s, idle_timeout: soon, send_timeout: 10sec, max_connections: 0}",
        ));
        assert!(parsed.is_none());
        let at: Vec<&str> = diags.iter().map(|(_, at)| at.as_str()).collect();
        assert_eq!(
            at,
            [
                "/gateway/limits/header_timeout",
                "/gateway/limits/idle_timeout",
                "/gateway/limits/send_timeout",
                "/gateway/limits/max_connections"
            ]
        );
    }

    #[test]
    fn names() {
        assert!(valid_crate_name("shop-gateway"));
        assert!(!valid_crate_name("Shop"));
        assert!(!valid_crate_name("1shop"));
        assert!(!valid_crate_name("shop-"));
    }

    #[test]
    fn the_docs_path_defaults_and_is_checked() {
        use crate::load::manifest::tests::check;
        let manifest = |docs: &str| {
            format!(
                "version: 1\ngateway: {{name: shop{docs}}}\nservices:\n  users: {{spec: u.yaml, upstream: {{urls: ['http://a']}}}}\n"
            )
        };
        let docs = |text: &str| {
            let (parsed, diags) = check(&manifest(text));
            (parsed.and_then(|m| m.docs), diags)
        };
        assert_eq!(docs(""), (None, vec![]));
        assert_eq!(docs(", docs: {}"), (Some("/docs".to_owned()), vec![]));
        assert_eq!(
            docs(", docs: {path: /api/v1/reference}"),
            (Some("/api/v1/reference".to_owned()), vec![])
        );
        for bad in [
            "docs",
            "/",
            "/docs/",
            "//docs",
            "/a/../docs",
            "/d%6Fcs",
            "/do cs",
            "/docs?x",
        ] {
            let (parsed, diags) = docs(&format!(", docs: {{path: '{bad}'}}"));
            assert_eq!(parsed, None, "{bad}");
            let expected = (
                "gateway::manifest::invalid_docs_path".to_owned(),
                "/gateway/docs/path".to_owned(),
            );
            assert_eq!(diags, [expected], "{bad}");
        }
        for taken in ["/openapi.json", "/healthz", "/readyz", "/metrics"] {
            let (_, diags) = docs(&format!(", docs: {{path: {taken}}}"));
            assert_eq!(diags[0].0, "gateway::manifest::docs_path_taken", "{taken}");
        }
        let (_, diags) = docs(", docs: {route: /docs}");
        assert_eq!(diags[0].0, "gateway::manifest::unknown_key");
    }
}
