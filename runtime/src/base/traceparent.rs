//! W3C Trace Context (`traceparent`, `tracestate`) on the way upstream.
//!
//! The gateway is one hop of the trace: a valid incoming `traceparent` goes upstream with
//! the same trace id and flags and a new parent id (the gateway's own span), and its
//! `tracestate` passes unchanged. Without a valid one, the gateway starts a trace
//! (version `00`, random trace and parent ids, flags `01`) and drops any `tracestate`,
//! which belongs to the invalid parent (W3C Trace Context, section 3.3).

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// `00-` + 32 hex + `-` + 16 hex + `-` + 2 hex.
const LEN: usize = 55;

/// The gateway's hop of a trace, as lowercase hex: what it sends upstream and exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: [u8; 32],
    /// The gateway's own span: the parent id sent upstream.
    pub(crate) span_id: [u8; 16],
    /// The incoming parent's id; `None` when the gateway started the trace.
    pub(crate) parent_id: Option<[u8; 16]>,
    pub(crate) flags: [u8; 2],
}

/// The context of a request with these headers: the valid incoming `traceparent`'s trace,
/// or a new one, with a new span id either way.
pub(crate) fn context(headers: &HeaderMap) -> TraceContext {
    let incoming = {
        let mut values = headers.get_all(&TRACEPARENT).iter();
        match (values.next(), values.next()) {
            // Several `traceparent` fields are as invalid as a malformed one.
            (Some(value), None) => parse(value.as_bytes()),
            _ => None,
        }
    };
    match incoming {
        Some((trace_id, parent_id, flags)) => TraceContext {
            trace_id,
            span_id: span_id(),
            parent_id: Some(parent_id),
            flags,
        },
        None => TraceContext {
            trace_id: new_trace_id(),
            span_id: span_id(),
            parent_id: None,
            flags: *b"01",
        },
    }
}

/// Rewrites `traceparent` (and `tracestate`) in the headers about to go upstream, and
/// returns the context it wrote.
pub(crate) fn propagate(headers: &mut HeaderMap) -> TraceContext {
    let context = context(headers);
    if context.parent_id.is_none() {
        headers.remove(&TRACESTATE);
    }
    headers.insert(
        TRACEPARENT.clone(),
        format(&context.trace_id, &context.span_id, &context.flags),
    );
    context
}

/// The trace id, parent id and flags (as their lowercase hex) of a valid `traceparent`.
fn parse(value: &[u8]) -> Option<([u8; 32], [u8; 16], [u8; 2])> {
    if value.len() < LEN {
        return None;
    }
    let version = &value[0..2];
    // Version `ff` is forbidden; `00` has exactly this length; a later version may
    // append fields after a `-`, and is read as far as `00` goes.
    if !is_hex(version)
        || version == b"ff"
        || (version == b"00" && value.len() != LEN)
        || (value.len() > LEN && value[LEN] != b'-')
    {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id = &value[3..35];
    let parent_id = &value[36..52];
    let flags = &value[53..55];
    if !is_hex(trace_id) || !is_hex(parent_id) || !is_hex(flags) {
        return None;
    }
    if trace_id.iter().all(|b| *b == b'0') || parent_id.iter().all(|b| *b == b'0') {
        return None;
    }
    let mut trace = [0; 32];
    trace.copy_from_slice(trace_id);
    let mut parent = [0; 16];
    parent.copy_from_slice(parent_id);
    Some((trace, parent, [flags[0], flags[1]]))
}

/// Lowercase hex only, as the specification requires.
fn is_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn format(trace_id: &[u8; 32], span_id: &[u8; 16], flags: &[u8; 2]) -> HeaderValue {
    let mut out = [0u8; LEN];
    out[0..3].copy_from_slice(b"00-");
    out[3..35].copy_from_slice(trace_id);
    out[35] = b'-';
    out[36..52].copy_from_slice(span_id);
    out[52] = b'-';
    out[53..55].copy_from_slice(flags);
    // Only ASCII digits, lowercase letters and dashes.
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static(
        "00-00000000000000000000000000000000-0000000000000000-00",
    ))
}

/// 128 bits from a v4 UUID: 122 of them random, and the last 7 bytes all random as the
/// specification's `random` flag would want. Never zero.
fn new_trace_id() -> [u8; 32] {
    hex(&uuid::Uuid::new_v4().into_bytes())
}

/// 64 random bits: the bytes of a v4 UUID that carry no version or variant bits.
fn span_id() -> [u8; 16] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id[..6].copy_from_slice(&bytes[..6]);
    id[6..].copy_from_slice(&bytes[14..]);
    if id == [0; 8] {
        id[7] = 1;
    }
    hex(&id)
}

fn hex<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; M];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn propagated(traceparent: &[&str], tracestate: Option<&str>) -> (String, Option<String>) {
        let mut headers = HeaderMap::new();
        for value in traceparent {
            headers.append(&TRACEPARENT, HeaderValue::from_str(value).unwrap());
        }
        if let Some(state) = tracestate {
            headers.insert(&TRACESTATE, HeaderValue::from_str(state).unwrap());
        }
        let context = propagate(&mut headers);
        assert_eq!(headers.get_all(&TRACEPARENT).iter().count(), 1);
        // What is returned (and exported) is what went upstream.
        assert_eq!(
            headers[&TRACEPARENT],
            format(&context.trace_id, &context.span_id, &context.flags)
        );
        let incoming = traceparent
            .first()
            .filter(|_| traceparent.len() == 1)
            .and_then(|value| parse(value.as_bytes()));
        assert_eq!(context.parent_id, incoming.map(|(_, parent, _)| parent));
        (
            headers[&TRACEPARENT].to_str().unwrap().to_owned(),
            headers
                .get(&TRACESTATE)
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    fn assert_well_formed(value: &str) {
        let parsed = parse(value.as_bytes());
        assert!(parsed.is_some(), "{value}");
        assert!(value.starts_with("00-"), "{value}");
    }

    #[test]
    fn a_valid_parent_keeps_its_trace_id_flags_and_state() {
        let (value, state) = propagated(&[VALID], Some("congo=t61rcWkgMzE"));
        assert_well_formed(&value);
        assert_eq!(&value[..36], &VALID[..36]);
        assert_ne!(&value[36..52], &VALID[36..52]);
        assert_eq!(&value[52..], "-01");
        assert_eq!(state.as_deref(), Some("congo=t61rcWkgMzE"));

        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let (value, _) = propagated(&[unsampled], None);
        assert!(value.ends_with("-00"), "{value}");
    }

    #[test]
    fn later_versions_are_read_as_far_as_00_goes() {
        let (value, state) = propagated(
            &["cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"],
            Some("a=1"),
        );
        assert_eq!(&value[..36], "00-4bf92f3577b34da6a3ce929d0e0e4736-");
        assert_eq!(state.as_deref(), Some("a=1"));
    }

    #[test]
    fn invalid_parents_are_replaced_and_their_state_dropped() {
        for invalid in [
            "",
            "garbage",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            let (value, state) = propagated(&[invalid], Some("a=1"));
            assert_well_formed(&value);
            assert!(value.ends_with("-01"), "{value}");
            assert_ne!(&value[3..35], &VALID[3..35]);
            assert_eq!(state, None, "{invalid}");
        }
        // Two parents are one too many.
        let (value, state) = propagated(&[VALID, VALID], Some("a=1"));
        assert_ne!(&value[3..35], &VALID[3..35]);
        assert_eq!(state, None);
    }

    #[test]
    fn created_parents_are_well_formed_and_distinct() {
        let (first, state) = propagated(&[], None);
        let (second, _) = propagated(&[], None);
        assert_well_formed(&first);
        assert_well_formed(&second);
        assert!(first.ends_with("-01"));
        assert_ne!(first[3..35], second[3..35]);
        assert_ne!(first[36..52], second[36..52]);
        assert_eq!(state, None);
    }
}
