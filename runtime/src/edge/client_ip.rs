//! The client's address behind trusted proxies (`gateway.trusted_proxies`).
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is believed only as
//! far as it was written by proxies the gateway trusts: when the TCP peer is a trusted
//! proxy, the addresses of the header are walked from the right (the one the peer
//! appended) and the first one that is not itself a trusted proxy is the client. A client
//! that connects directly (an untrusted peer) is its peer address, whatever header it
//! sends. If every address is trusted, the left-most is the client; an entry that is not
//! an address stops the walk at the last good one (the proxy that passed it on).
//!
//! The header is forwarded upstream with the peer appended (the proxy layer), which is
//! the list an upstream with the same trust settings walks the same way.

use std::net::IpAddr;

use http::header::HeaderMap;

/// `gateway.trusted_proxies`, parsed.
#[derive(Debug, Default)]
pub(crate) struct TrustedProxies {
    blocks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
    pub(crate) fn parse(blocks: &[&str]) -> Result<TrustedProxies, String> {
        let blocks = blocks
            .iter()
            .map(|block| {
                parse_block(block).ok_or_else(|| {
                    format!("gateway.trusted_proxies: `{block}` is not a CIDR block")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { blocks })
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.blocks
            .iter()
            .any(|&(network, bits)| contains(network, bits, ip))
    }

    /// The client's address for a request from `peer` with these headers, IPv4-mapped
    /// IPv6 addresses in their IPv4 form.
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.blocks.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Later header fields were appended later: walk them, and their entries, backwards.
        let fields: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes())
            .collect();
        for field in fields.iter().rev() {
            for entry in field.rsplit(|&b| b == b',') {
                let Some(ip) = parse_entry(entry) else {
                    return client;
                };
                client = ip;
                if !self.trusts(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:80`,
/// `[::1]:80`).
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    text.parse::<std::net::SocketAddr>()
        .ok()
        .map(|address| address.ip().to_canonical())
}

fn parse_block(block: &str) -> Option<(IpAddr, u8)> {
    let (address, bits) = match block.trim().split_once('/') {
        Some((address, bits)) => (address, Some(bits.parse::<u8>().ok()?)),
        None => (block.trim(), None),
    };
    let address: IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((address.to_canonical(), bits))
}

fn contains(network: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(fields: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append("x-forwarded-for", HeaderValue::from_static(field));
        }
        headers
    }

    #[test]
    fn blocks() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]).unwrap();
        assert!(trusted.trusts(ip("10.200.3.4")));
        assert!(!trusted.trusts(ip("11.0.0.1")));
        assert!(trusted.trusts(ip("192.168.1.7")));
        assert!(!trusted.trusts(ip("192.168.1.8")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(trusted.trusts(ip("::ffff:10.1.1.1")), "IPv4-mapped");
        assert!(!trusted.trusts(ip("fe80::1")));
        let everything = TrustedProxies::parse(&["0.0.0.0/0"]).unwrap();
        assert!(everything.trusts(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "::/129", "x", "10.0.0.0/"] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn right_most_untrusted_address_of_a_trusted_peer() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let proxy = ip("10.0.0.1");
        // The client's own claim (1.1.1.1) is left of what the proxies appended.
        let h = headers(&["1.1.1.1, 203.0.113.5", "10.0.0.9"]);
        assert_eq!(trusted.client_ip(proxy, &h), ip("203.0.113.5"));
        // An untrusted peer is the client, whatever it says.
        assert_eq!(
            trusted.client_ip(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        // No header: the proxy itself.
        assert_eq!(trusted.client_ip(proxy, &HeaderMap::new()), proxy);
        // Only proxies: the left-most.
        assert_eq!(
            trusted.client_ip(proxy, &headers(&["10.1.1.1, 10.2.2.2"])),
            ip("10.1.1.1")
        );
        // Garbage stops the walk at the proxy that passed it on.
        assert_eq!(
            trusted.client_ip(proxy, &headers(&["203.0.113.5, nonsense, 10.3.3.3"])),
            ip("10.3.3.3")
        );
        // Ports and brackets.
        assert_eq!(
            trusted.client_ip(proxy, &headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        // Nothing trusted: always the peer.
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(proxy, &h), proxy);
    }
}
