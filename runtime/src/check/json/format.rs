//! The string formats body validators check, and exact decimal `multipleOf`.
//!
//! Hand-written, small and strict: each follows its RFC's grammar (the JSON Schema Test
//! Suite's `optional/format` cases pass), where the general-purpose crates are lenient on
//! purpose (`url` follows WHATWG, which accepts `http://a b/`) or would add dependencies
//! for a few lines of grammar. IP addresses use `std::net`, which is strict already.

use std::net::{Ipv4Addr, Ipv6Addr};

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 3339 `full-date`: `YYYY-MM-DD`, the day existing in its month.
pub(super) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(&s[..4]), digits(&s[5..7]), digits(&s[8..]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `full-time`: `HH:MM:SS[.frac](Z|±HH:MM)`; second 60 only where the time is
/// 23:59:60 in UTC (a leap second).
pub(super) fn is_time(time: &str) -> bool {
    let b = time.as_bytes();
    if b.len() < 9 || !time.is_char_boundary(8) || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (
        digits(&time[..2]).filter(|h| *h < 24),
        digits(&time[3..5]).filter(|m| *m < 60),
        digits(&time[6..8]).filter(|s| *s <= 60),
    ) else {
        return false;
    };
    let mut rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    // Minutes east of UTC.
    let offset: i64 = if rest == "Z" || rest == "z" {
        0
    } else {
        let o = rest.as_bytes();
        if o.len() != 6 || (o[0] != b'+' && o[0] != b'-') || o[3] != b':' {
            return false;
        }
        let (Some(h), Some(m)) = (
            digits(&rest[1..3]).filter(|h| *h < 24),
            digits(&rest[4..]).filter(|m| *m < 60),
        ) else {
            return false;
        };
        let minutes = i64::from(h * 60 + m);
        if o[0] == b'-' { -minutes } else { minutes }
    };
    if second == 60 {
        let utc = (i64::from(hour * 60 + minute) - offset).rem_euclid(24 * 60);
        return utc == 23 * 60 + 59;
    }
    true
}

/// RFC 3339 `date-time`: `full-date "T" full-time` (`T` and `Z` in either case).
pub(super) fn is_date_time(s: &str) -> bool {
    if s.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(11) {
        return false;
    }
    let (date, rest) = s.split_at(10);
    let Some(time) = rest.strip_prefix(['T', 't']) else {
        return false;
    };
    is_date(date) && is_time(time)
}

/// RFC 1123 host name: dot-separated labels of 1 to 63 letters, digits and hyphens, not
/// starting or ending with a hyphen; 253 characters at most; no trailing dot.
pub(super) fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

pub(super) fn is_ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

pub(super) fn is_ipv6(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

/// RFC 5321 `Mailbox`: a dot-atom or quoted local part, `@`, and a host name or an
/// address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
pub(super) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let local_ok = if let Some(quoted) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        let mut chars = quoted.chars();
        let mut ok = true;
        while let Some(c) = chars.next() {
            ok &= match c {
                '\\' => chars.next().is_some_and(|e| (' '..='~').contains(&e)),
                '"' => false,
                c => (' '..='~').contains(&c),
            };
        }
        ok
    } else {
        const ATEXT: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
        !local.is_empty()
            && local.split('.').all(|atom| {
                !atom.is_empty()
                    && atom
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || ATEXT.contains(&c))
            })
    };
    let domain_ok = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(literal) => match literal.strip_prefix("IPv6:") {
            Some(v6) => is_ipv6(v6),
            None => is_ipv4(literal),
        },
        None => is_hostname(domain),
    };
    local_ok && domain_ok
}

/// RFC 4648 base64 (standard alphabet, padded), as OpenAPI's `format: byte`.
pub(super) fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let padding = b.iter().rev().take_while(|c| **c == b'=').count();
    padding <= 2
        && b[..b.len() - padding]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

const SUB_DELIMS: &[u8] = b"!$&'()*+,;=";

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Whether `s` is made of `unreserved`, `sub-delims`, `%XX` and the `extra` bytes.
fn chars_ok(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if b.len() < i + 3 || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
            continue;
        }
        if !(unreserved(c) || SUB_DELIMS.contains(&c) || extra.contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 3986 `URI` (absolute, with a scheme; a fragment allowed).
pub(super) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let sb = scheme.as_bytes();
    if sb.is_empty()
        || !sb[0].is_ascii_alphabetic()
        || !sb
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if fragment.is_some_and(|f| !chars_ok(f, b":@/?"))
        || query.is_some_and(|q| !chars_ok(q, b":@/?"))
    {
        return false;
    }
    let path = match hier.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            let (authority, path) = after.split_at(end);
            if !is_authority(authority) {
                return false;
            }
            path
        }
        None => hier,
    };
    chars_ok(path, b":@/")
}

/// RFC 3986 `authority`: `[userinfo "@"] host [":" port]`.
fn is_authority(authority: &str) -> bool {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| !chars_ok(u, b":")) {
        return false;
    }
    let (host, port) = if let Some(literal) = hostport.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else {
            return false;
        };
        let ok = if let Some(future) = inside.strip_prefix(['v', 'V']) {
            future.split_once('.').is_some_and(|(version, text)| {
                !version.is_empty()
                    && version.bytes().all(|c| c.is_ascii_hexdigit())
                    && !text.is_empty()
                    && text
                        .bytes()
                        .all(|c| unreserved(c) || SUB_DELIMS.contains(&c) || c == b':')
            })
        } else {
            is_ipv6(inside)
        };
        if !ok {
            return false;
        }
        match after {
            "" => ("", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    chars_ok(host, b"") && port.is_none_or(|p| p.bytes().all(|c| c.is_ascii_digit()))
}

/// A non-negative decimal `mantissa × 10^exponent`, without trailing zeros in the mantissa.
fn decimal(mut mantissa: u128, mut exponent: i64) -> (u128, i64) {
    while mantissa != 0 && mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    (mantissa, exponent)
}

/// The absolute value of a JSON number as a decimal: exact for integers; for the others,
/// the shortest decimal that reads back as the same `f64` (the number as the client wrote
/// it, up to 17 significant digits).
pub(super) fn number_decimal(n: &serde_json::Number) -> Option<(u128, i64)> {
    if let Some(v) = n.as_u64() {
        return Some(decimal(u128::from(v), 0));
    }
    if let Some(v) = n.as_i64() {
        return Some(decimal(u128::from(v.unsigned_abs()), 0));
    }
    let f = n.as_f64()?.abs();
    if !f.is_finite() {
        return None;
    }
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i64 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    Some(decimal(digits, exponent - fraction.len() as i64))
}

/// Whether `n` is a multiple of `factor_mantissa × 10^factor_exponent` (> 0), exactly.
pub(super) fn is_multiple(
    n: &serde_json::Number,
    factor_mantissa: u64,
    factor_exponent: i32,
) -> bool {
    let Some((a, ea)) = number_decimal(n) else {
        return false;
    };
    let (b, eb) = decimal(u128::from(factor_mantissa), i64::from(factor_exponent));
    if a == 0 {
        return true;
    }
    if b == 0 {
        return false;
    }
    if ea < eb {
        // a has no factor 10 left, so a × 10^ea / (b × 10^eb) cannot be whole.
        return false;
    }
    // (a × 10^(ea - eb)) mod b, by repeated multiplication (b < 10^20: no overflow).
    let mut r = a % b;
    let mut k = ea - eb;
    while k > 0 && r != 0 {
        r = (r * 10) % b;
        k -= 1;
    }
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        for ok in ["2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-00",
            "２024-01-01",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        for ok in [
            "2024-01-01T12:00:00Z",
            "2024-01-01t12:00:00.123456z",
            "1998-12-31T23:59:60Z",
            "1998-12-31T15:59:60.123-08:00",
            "2024-01-01T00:00:00-05:30",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2024-01-01 12:00:00Z",
            "2024-01-01T12:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:00:00.Z",
            "2024-01-01T12:00:00+0100",
            "2024-01-01T12:00Z",
            "2024-01-01T12:00:00é",
            "1998-12-31T23:58:60Z",
            "1998-12-31T22:59:60Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_time("08:30:06.283185Z"));
        assert!(!is_time("08:30:06"));
    }

    #[test]
    fn network_formats() {
        for ok in [
            "www.example.com",
            "xn--4gbwdl.xn--wgbh1c",
            "a",
            "ab--cd.example",
        ] {
            assert!(is_hostname(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "-a",
            "a-",
            "a_b",
            "example.",
            "a..b",
            &"a".repeat(64),
        ] {
            assert!(!is_hostname(bad), "{bad}");
        }
        for ok in [
            "joe.bloggs@example.com",
            "\"joe bloggs\"@example.com",
            "a@[192.0.2.1]",
            "a@[IPv6:::1]",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "2962", ".a@b.c", "a.@b.c", "a..b@c.d", "@a.b", "a@", "a b@c.d", "a@b_c",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        for ok in [
            "http://foo.bar/?baz=qux#quux",
            "ldap://[2001:db8::7]/c=GB?objectClass?one",
            "mailto:John.Doe@example.com",
            "urn:oasis:names:specification:docbook:dtd:xml:4.1.2",
            "http://[v1.fe]:8080/",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "/abc",
            "abc",
            "http:// x.com",
            "http://example.com/%6G",
            "http://e.com/%",
            "1http://e",
            "http://e.com:ab/",
            "http://[::ffff:01.2.3.4]",
            "http:/[::1]",
            "https://e/®",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
        assert!(is_ipv4("192.168.0.1") && !is_ipv4("087.10.0.1") && !is_ipv4("127.1"));
        assert!(is_ipv6("::ffff:192.168.0.1") && !is_ipv6("fe80::a%eth1"));
        for ok in ["", "Zm9v", "Zm8=", "Zg==", "+/+/"] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["Zm9", "Zg=", "Z===", "Zm9v!", "Zg==Zg=="] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn exact_decimal_multiples() {
        let n = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert!(is_multiple(&n("0.3"), 1, -1));
        assert!(is_multiple(&n("19.99"), 1, -2));
        assert!(is_multiple(&n("4.5"), 15, -1));
        assert!(!is_multiple(&n("35"), 15, -1));
        assert!(is_multiple(&n("0.0075"), 1, -4));
        assert!(!is_multiple(&n("0.00751"), 1, -4));
        assert!(!is_multiple(&n("1e308"), 123456789, -9));
        assert!(is_multiple(&n("1e308"), 5, -1));
        assert!(is_multiple(&n("12391239123"), 1, -8));
        assert!(is_multiple(&n("-10"), 5, 0));
        assert!(!is_multiple(&n("-3"), 5, 0));
        assert!(is_multiple(&n("0"), 7, 0));
        assert!(is_multiple(&n("18446744073709551615"), 5, 0));
    }
}
