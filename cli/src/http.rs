//! HTTP facts that names in the manifest and the specs are checked against, kept in one
//! place so that the stages agree on them.

/// Whether `name` is an HTTP token (RFC 9110 5.6.2), as header names are.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers the gateway sets or removes itself (hop-by-hop ones, RFC 9110 7.6.1, and its
/// own forwarding and tracing headers), lower-case: a value for one of these from a
/// client or a claim never reaches the upstream as such.
pub const MANAGED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
    "traceparent",
    "tracestate",
];

/// A media type's essence (RFC 9110 8.3.1): lower case, without its parameters.
pub fn media_essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type essence is JSON: `application/json` or a `+json` suffix.
pub fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token("x-user-id"));
        assert!(is_token("X_Custom.1"));
        assert!(!is_token(""));
        assert!(!is_token("x user"));
        assert!(!is_token("x:user"));
        assert!(!is_token("é"));
    }

    #[test]
    fn media_types() {
        assert_eq!(
            media_essence(" Application/Problem+JSON; charset=utf-8"),
            "application/problem+json"
        );
        assert!(is_json(&media_essence("application/json;charset=utf-8")));
        assert!(is_json("application/vnd.api+json"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
