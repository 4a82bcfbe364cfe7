//! The `gateway` section: the settings of the gateway process itself (crate name, listen
//! address, base path, body and field limits, trusted proxies).
//!
//! The driver in `mod.rs` reads these fields one by one, because each has its own default
//! and its own diagnostic; what is here is the shape serde checks and the value checks that
//! belong to no other section.

use serde::Deserialize;

use super::Ctx;
use super::cors::RawCors;

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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_body: Option<String>,
    pub(super) max_fields: Option<u64>,
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
    fn names() {
        assert!(valid_crate_name("shop-gateway"));
        assert!(!valid_crate_name("Shop"));
        assert!(!valid_crate_name("1shop"));
        assert!(!valid_crate_name("shop-"));
    }
}
