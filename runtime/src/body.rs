//! What an operation declares about its request body, checked on the request head: a body
//! the operation requires must be there, and a body must have a media type the operation
//! declares (else 415), before anything is sent upstream.

use http::{HeaderMap, header};

use crate::problem::{FieldError, Problem};

/// An operation's `requestBody`, as compiled.
#[derive(Debug, Clone, Copy)]
pub enum BodySpec {
    /// The operation declares no request body; whatever the client sends is forwarded.
    Undeclared,
    Declared {
        required: bool,
        /// The media type ranges of its `content`, lower-case: `application/json`,
        /// `image/*`, `*/*`.
        media_types: &'static [&'static str],
    },
}

/// Whether the request carries a body: a non-zero `Content-Length`, or a transfer coding.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// `type/subtype` of a `Content-Type`, lower-cased, without parameters.
fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn matches(range: &str, essence: &str) -> bool {
    if range == "*/*" || range == essence {
        return true;
    }
    match range.strip_suffix("/*") {
        Some(kind) => essence.split_once('/').is_some_and(|(ty, _)| ty == kind),
        None => false,
    }
}

/// 415 when a body has a media type the operation does not declare.
pub(crate) fn check_media_type(spec: BodySpec, headers: &HeaderMap) -> Result<(), Problem> {
    let BodySpec::Declared { media_types, .. } = spec else {
        return Ok(());
    };
    if media_types.is_empty() || !has_body(headers) {
        return Ok(());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence);
    let accepted = match &content_type {
        Some(essence) => media_types.iter().any(|range| matches(range, essence)),
        None => media_types.contains(&"*/*"),
    };
    if accepted {
        return Ok(());
    }
    let detail = match content_type {
        Some(essence) => format!(
            "`{essence}` is not a media type this operation accepts; it accepts {}",
            media_types.join(", ")
        ),
        None => format!(
            "the body has no Content-Type; this operation accepts {}",
            media_types.join(", ")
        ),
    };
    Err(Problem::new(
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        detail,
    ))
}

/// The error for a required body that is missing, if it is.
pub(crate) fn missing_body(spec: BodySpec, headers: &HeaderMap) -> Option<FieldError> {
    match spec {
        BodySpec::Declared { required: true, .. } if !has_body(headers) => Some(FieldError {
            location: "body",
            name: None,
            pointer: Some(String::new()),
            message: "a request body is required".to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    const JSON: BodySpec = BodySpec::Declared {
        required: true,
        media_types: &["application/json", "image/*"],
    };

    #[test]
    fn media_types_match_ranges_without_parameters() {
        let ok = [
            headers(&[
                ("content-length", "2"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                ("content-length", "2"),
                ("content-type", "Application/JSON; charset=utf-8"),
            ]),
            headers(&[
                ("transfer-encoding", "chunked"),
                ("content-type", "image/png"),
            ]),
            // No body: nothing to check here (a required one is `missing_body`'s business).
            headers(&[("content-type", "text/plain")]),
        ];
        for h in ok {
            assert!(check_media_type(JSON, &h).is_ok(), "{h:?}");
        }
        for h in [
            headers(&[("content-length", "2"), ("content-type", "text/plain")]),
            headers(&[
                ("content-length", "2"),
                ("content-type", "application/json-patch+json"),
            ]),
            headers(&[("content-length", "2")]),
        ] {
            let problem = check_media_type(JSON, &h).unwrap_err();
            assert_eq!(problem.status, 415, "{h:?}");
        }
        let any = BodySpec::Declared {
            required: false,
            media_types: &["*/*"],
        };
        assert!(check_media_type(any, &headers(&[("content-length", "2")])).is_ok());
        assert!(
            check_media_type(BodySpec::Undeclared, &headers(&[("content-length", "2")])).is_ok()
        );
    }

    #[test]
    fn required_bodies() {
        assert!(missing_body(JSON, &headers(&[])).is_some());
        assert!(missing_body(JSON, &headers(&[("content-length", "0")])).is_some());
        assert!(missing_body(JSON, &headers(&[("content-length", "1")])).is_none());
        assert!(missing_body(JSON, &headers(&[("transfer-encoding", "chunked")])).is_none());
        let optional = BodySpec::Declared {
            required: false,
            media_types: &["application/json"],
        };
        assert!(missing_body(optional, &headers(&[])).is_none());
    }
}
