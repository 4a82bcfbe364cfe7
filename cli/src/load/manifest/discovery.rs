//! `services.<s>.upstream.discovery`: a service's instances found in DNS instead of listed.
//!
//! The records are resolved by the running gateway, not here, so the only chance to catch a
//! name that can never resolve, a port that cannot be connected to or a record type without
//! ports is this check.

use std::time::Duration;

use serde::Deserialize;

use super::{Ctx, units};
use crate::diag::pointer_push;

/// `upstream.discovery` (docs/manifest.md, "DNS discovery").
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    /// The name to resolve, as written (a trailing dot makes it absolute).
    pub dns: String,
    /// The instances' port for `a` records; 0 for `srv` (the records carry it).
    pub port: u16,
    pub record: DnsRecord,
    pub interval: Duration,
    pub scheme: String,
    /// `ip:port` of the nameserver to ask instead of the system's.
    pub nameserver: Option<String>,
}

/// Which DNS records list a service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    /// `A` and `AAAA`.
    A,
    Srv,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    dns: String,
    port: Option<u16>,
    record: Option<String>,
    interval: Option<String>,
    scheme: Option<String>,
    nameserver: Option<String>,
}

const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

/// Checks `upstream.discovery` (docs/manifest.md, "DNS discovery").
pub(super) fn discovery(
    pointer: &str,
    raw: &RawDiscovery,
    ctx: &mut Ctx<'_>,
) -> Option<DiscoveryConfig> {
    let errors_before = ctx.diags.list.len();
    let at = |key: &str| pointer_push(pointer, key);
    if !valid_dns_name(&raw.dns) {
        ctx.error(
            "gateway::manifest::invalid_dns_name",
            &at("dns"),
            format!("`{}` is not a DNS name", raw.dns),
            "write a name like `users.default.svc.cluster.local` (labels of letters, digits, `-` and `_`, at most 63 characters each)",
        );
    }
    let record = match raw.record.as_deref() {
        None | Some("a") => DnsRecord::A,
        Some("srv") => DnsRecord::Srv,
        Some(other) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("record"),
                format!("`record: {other}` is not a choice"),
                "`a` (A and AAAA records, with `port`) or `srv` (SRV records, which carry ports and weights)",
            );
            DnsRecord::A
        }
    };
    let port = match (record, raw.port) {
        (DnsRecord::A, Some(port)) if port > 0 => port,
        (DnsRecord::A, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("port"),
                "port 0 cannot be connected to".into(),
                "give the port the instances listen on",
            );
            0
        }
        (DnsRecord::A, None) => {
            ctx.error(
                "gateway::manifest::missing_key",
                pointer,
                "missing required key `port`".into(),
                "A and AAAA records carry no port: add `port:` with the one the instances listen on (or use `record: srv`)",
            );
            0
        }
        (DnsRecord::Srv, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_value",
                &at("port"),
                "`port` does not apply to SRV records".into(),
                "each SRV record carries its instance's port: remove `port`",
            );
            0
        }
        (DnsRecord::Srv, None) => 0,
    };
    let interval = match &raw.interval {
        None => DEFAULT_DISCOVERY_INTERVAL,
        Some(text) => match units::duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at("interval"),
                    "the interval must be longer than zero".into(),
                    "",
                );
                DEFAULT_DISCOVERY_INTERVAL
            }
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at("interval"),
                    message,
                    "durations are written like `500ms`, `10s` or `1m`",
                );
                DEFAULT_DISCOVERY_INTERVAL
            }
        },
    };
    let scheme = raw.scheme.clone().unwrap_or_else(|| "http".to_owned());
    if scheme != "http" {
        ctx.error(
            "gateway::manifest::invalid_value",
            &at("scheme"),
            format!("only http upstreams are supported by this version (not `{scheme}`)"),
            "use `scheme: http`, or leave it out",
        );
    }
    if let Some(nameserver) = &raw.nameserver
        && nameserver.parse::<std::net::SocketAddr>().is_err()
    {
        ctx.error(
            "gateway::manifest::invalid_value",
            &at("nameserver"),
            format!("`{nameserver}` is not an ip:port"),
            "write the nameserver's address like `10.96.0.10:53`",
        );
    }
    if ctx.diags.list.len() > errors_before {
        return None;
    }
    Some(DiscoveryConfig {
        dns: raw.dns.clone(),
        port,
        record,
        interval,
        scheme,
        nameserver: raw.nameserver.clone(),
    })
}

/// A DNS name: dot-separated labels of ASCII letters, digits, `-` and `_` (SRV names start
/// with `_service._proto`), none empty or longer than 63, at most 253 in all; one trailing
/// dot allowed.
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::manifest::tests::check;

    #[test]
    fn discovery_and_observability() {
        let text = "version: 1\ngateway: {name: shop}\nservices:\n  users:\n    spec: u.yaml\n    upstream: {discovery: {dns: users.internal, port: 8000}}\n  orders:\n    spec: o.yaml\n    upstream: {discovery: {dns: _http._tcp.orders.internal., record: srv, interval: 500ms, nameserver: '127.0.0.1:5353'}}\nobservability: {otlp_endpoint_env: OTEL_EXPORTER_OTLP_ENDPOINT}\n";
        let (manifest, diags) = check(text);
        assert!(diags.is_empty(), "{diags:?}");
        let manifest = manifest.unwrap();
        assert_eq!(
            manifest.otlp_endpoint_env.as_deref(),
            Some("OTEL_EXPORTER_OTLP_ENDPOINT")
        );
        let users = &manifest.services[0];
        assert!(users.urls.is_empty());
        assert_eq!(
            users.discovery,
            Some(DiscoveryConfig {
                dns: "users.internal".into(),
                port: 8000,
                record: DnsRecord::A,
                interval: DEFAULT_DISCOVERY_INTERVAL,
                scheme: "http".into(),
                nameserver: None,
            })
        );
        let orders = manifest.services[1].discovery.as_ref().unwrap();
        assert_eq!(orders.record, DnsRecord::Srv);
        assert_eq!(orders.port, 0);
        assert_eq!(orders.interval, Duration::from_millis(500));
        assert_eq!(orders.nameserver.as_deref(), Some("127.0.0.1:5353"));
    }

    #[test]
    fn dns_names() {
        for good in [
            "users",
            "users.default.svc.cluster.local",
            "_http._tcp.users.",
            "a-1.b",
        ] {
            assert!(valid_dns_name(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "http://users",
            long.as_str(),
        ] {
            assert!(!valid_dns_name(bad), "{bad}");
        }
    }
}
