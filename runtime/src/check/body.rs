//! What an operation declares about its request body, checked on the request head: a body
//! the operation requires must be there, and a body must have a media type the operation
//! declares (else 415), before anything is sent upstream.

use bytes::Bytes;
use http::{HeaderMap, header};

use crate::base::problem::{FieldError, Problem};
use crate::check::json::Validate;
use crate::check::media::{essence, matches};

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
        /// For JSON media types with a schema: the media type (lower-case, no parameters)
        /// and the generated validator of its schema. A body of such a type is read whole,
        /// parsed and checked before it is forwarded; any other body streams through.
        validators: &'static [(&'static str, Validate)],
        /// Form media types (`application/x-www-form-urlencoded`, `multipart/form-data`)
        /// with a schema, and what their bodies must be; read whole and checked too.
        forms: &'static [(&'static str, &'static crate::check::form::FormBody)],
    },
}

/// How a body with these headers is checked before it is forwarded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    Json(Validate),
    Form(&'static crate::check::form::FormBody),
}

/// The check of a body with these headers, if its media type has one.
pub(crate) fn check_for(spec: BodySpec, headers: &HeaderMap) -> Option<Check> {
    if let Some(validate) = validator(spec, headers) {
        return Some(Check::Json(validate));
    }
    let BodySpec::Declared { forms, .. } = spec else {
        return None;
    };
    if forms.is_empty() {
        return None;
    }
    let essence = essence(headers.get(header::CONTENT_TYPE)?.to_str().ok()?);
    forms
        .iter()
        .find(|(media, _)| *media == essence)
        .map(|(_, form)| Check::Form(form))
}

/// Checks a whole body of at most `limit` bytes (and `max_fields` pairs or parts, for a
/// form): `Ok` to forward it (unchanged), or the 400.
pub(crate) async fn check(
    bytes: &Bytes,
    check: Check,
    headers: &HeaderMap,
    limit: u64,
    max_fields: usize,
) -> Result<(), Problem> {
    match check {
        Check::Json(validate) => self::validate(bytes, validate),
        Check::Form(form) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            form.check(bytes.clone(), content_type, limit, max_fields)
                .await
        }
    }
}

/// The validator of a body with these headers, if the route has one for its media type
/// and that media type is JSON (`application/json` or `*/*+json`).
pub(crate) fn validator(spec: BodySpec, headers: &HeaderMap) -> Option<Validate> {
    let BodySpec::Declared { validators, .. } = spec else {
        return None;
    };
    if validators.is_empty() {
        return None;
    }
    let essence = essence(headers.get(header::CONTENT_TYPE)?.to_str().ok()?);
    if essence != "application/json" && !essence.ends_with("+json") {
        return None;
    }
    validators
        .iter()
        .find(|(range, _)| matches(range, &essence))
        .map(|(_, validate)| *validate)
}

/// Parses and checks a whole JSON body: `Ok` to forward it (unchanged), or the 400.
pub(crate) fn validate(bytes: &[u8], validate: Validate) -> Result<(), Problem> {
    let errors = crate::check::json::check(bytes, validate);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::invalid_request(errors.into_errors()))
    }
}

/// `type/subtype` of a `Content-Type`, lower-cased, without parameters.
/// 415 when a body has a media type the operation does not declare. `has_body` comes from
/// the body itself (HTTP/2 bodies need no `Content-Length`), not from the headers.
pub(crate) fn check_media_type(
    spec: BodySpec,
    headers: &HeaderMap,
    has_body: bool,
) -> Result<(), Problem> {
    let BodySpec::Declared { media_types, .. } = spec else {
        return Ok(());
    };
    if media_types.is_empty() || !has_body {
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
pub(crate) fn missing_body(spec: BodySpec, has_body: bool) -> Option<FieldError> {
    match spec {
        BodySpec::Declared { required: true, .. } if !has_body => Some(FieldError {
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
    use crate::check::json::{BodyErrors, Pointer};

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
        validators: &[],
        forms: &[],
    };

    #[test]
    fn media_types_match_ranges_without_parameters() {
        for h in [
            headers(&[("content-type", "application/json")]),
            headers(&[("content-type", "Application/JSON; charset=utf-8")]),
            headers(&[("content-type", "image/png")]),
        ] {
            assert!(check_media_type(JSON, &h, true).is_ok(), "{h:?}");
        }
        // No body: nothing to check here (a required one is `missing_body`'s business).
        assert!(check_media_type(JSON, &headers(&[("content-type", "text/plain")]), false).is_ok());
        for h in [
            headers(&[("content-type", "text/plain")]),
            headers(&[("content-type", "application/json-patch+json")]),
            headers(&[]),
        ] {
            let problem = check_media_type(JSON, &h, true).unwrap_err();
            assert_eq!(problem.status, 415, "{h:?}");
        }
        let any = BodySpec::Declared {
            required: false,
            media_types: &["*/*"],
            validators: &[],
            forms: &[],
        };
        assert!(check_media_type(any, &headers(&[]), true).is_ok());
        assert!(check_media_type(BodySpec::Undeclared, &headers(&[]), true).is_ok());
    }

    #[test]
    fn json_bodies_find_their_validator() {
        fn object<'t>(
            value: crate::check::json::Value<'t>,
            at: &mut Pointer<'t>,
            errors: &mut BodyErrors,
        ) {
            errors.types(at, value, &[crate::check::json::Type::Object]);
        }
        let spec = BodySpec::Declared {
            required: true,
            media_types: &[
                "application/json",
                "application/merge-patch+json",
                "text/plain",
            ],
            validators: &[
                ("application/json", object),
                ("application/merge-patch+json", object),
            ],
            forms: &[],
        };
        for ct in [
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            let h = headers(&[("content-type", ct)]);
            assert!(validator(spec, &h).is_some(), "{ct}");
        }
        for h in [headers(&[("content-type", "text/plain")]), headers(&[])] {
            assert!(validator(spec, &h).is_none());
        }
        assert!(validate(b"{}", object).is_ok());
        let problem = validate(b"[]", object).unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.errors[0].pointer.as_deref(), Some(""));
        assert_eq!(problem.errors[0].message, "must be an object");
        let problem = validate(b"{", object).unwrap_err();
        assert!(problem.errors[0].message.contains("ends too early"));
    }

    #[test]
    fn required_bodies() {
        assert!(missing_body(JSON, false).is_some());
        assert!(missing_body(JSON, true).is_none());
        let optional = BodySpec::Declared {
            required: false,
            media_types: &["application/json"],
            validators: &[],
            forms: &[],
        };
        assert!(missing_body(optional, false).is_none());
        assert!(missing_body(BodySpec::Undeclared, false).is_none());
    }
}
