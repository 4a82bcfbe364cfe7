//! RFC 9457 `application/problem+json` errors: every error the gateway itself produces.
//!
//! One type for all of them so that every error body has the same shape (`type`, `title`,
//! `status`, `detail`, `request_id`, and `errors` for invalid requests) and clients can
//! handle them in one place.

use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

/// The media type of every error body the gateway produces.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// At most this many field errors are listed in one problem.
pub const MAX_FIELD_ERRORS: usize = 20;

/// An error answered by the gateway itself (never by an upstream).
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Short, stable identifier of the problem type, e.g. `invalid-request`.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers (`Allow`, `WWW-Authenticate`, `Retry-After`, ...).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// One failed check of a request part.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// `path`, `query`, `header`, `cookie` or `body`.
    #[serde(rename = "in")]
    pub location: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Problem {
        self.headers.push((name, value));
        self
    }

    /// 400: the request's parameters or body do not match the operation.
    pub fn invalid_request(errors: Vec<FieldError>) -> Problem {
        let detail = match errors.len() {
            1 => "1 part of the request is invalid".to_owned(),
            n => format!("{n} parts of the request are invalid"),
        };
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        );
        problem.errors = errors;
        problem.errors.truncate(MAX_FIELD_ERRORS);
        problem
    }

    pub fn not_found() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "no route matches this path",
        )
    }

    /// 405, with `Allow` listing the methods the path has.
    pub fn method_not_allowed(allow: &str) -> Problem {
        let mut problem = Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("this path allows {allow}"),
        );
        if let Ok(value) = HeaderValue::from_str(allow) {
            problem.headers.push((http::header::ALLOW, value));
        }
        problem
    }

    /// 401, with the route's `WWW-Authenticate` challenge.
    pub fn unauthorized(challenge: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
        .with_header(
            http::header::WWW_AUTHENTICATE,
            // `from_static` would panic on a byte it does not take: never on a request.
            HeaderValue::from_str(challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
    }

    pub fn payload_too_large(limit: u64) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 408: the client did not send its body within `budget`.
    pub fn body_timeout(budget: std::time::Duration) -> Problem {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            format!(
                "the request body did not arrive within {} ms",
                budget.as_millis()
            ),
        )
    }

    pub fn bad_gateway(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "bad-gateway",
            "Bad gateway",
            detail,
        )
    }

    /// 429: a rate-limit policy refused the request (the caller adds `Retry-After` and
    /// the `RateLimit-*` headers).
    pub fn too_many_requests(policy: &str, retry_after: u64) -> Problem {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("rate limit `{policy}` exceeded; retry in {retry_after} s"),
        )
    }

    pub fn service_unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service-unavailable",
            "Service unavailable",
            detail,
        )
    }

    pub fn gateway_timeout(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway-timeout",
            "Gateway timeout",
            detail,
        )
    }

    /// The `type` member: a URN, so it never points at a host we do not control.
    pub fn type_uri(&self) -> String {
        format!("urn:gateway:problem:{}", self.kind)
    }

    /// The JSON body, with the request id when there is one.
    pub fn body(&self, request_id: Option<&str>) -> Vec<u8> {
        let body = Body {
            kind: self.type_uri(),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id,
            errors: &self.errors,
        };
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The full HTTP response.
    pub fn into_response(self, request_id: Option<&str>) -> http::Response<axum::body::Body> {
        let body = self.body(request_id);
        let mut response = http::Response::new(axum::body::Body::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_JSON),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_rfc_9457_members_and_the_request_id() {
        let problem = Problem::invalid_request(vec![FieldError {
            location: "path",
            name: Some("id".into()),
            pointer: None,
            message: "expected an integer".into(),
        }]);
        let body: serde_json::Value = serde_json::from_slice(&problem.body(Some("req-1"))).unwrap();
        assert_eq!(body["type"], "urn:gateway:problem:invalid-request");
        assert_eq!(body["status"], 400);
        assert_eq!(body["title"], "Invalid request");
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["errors"][0]["in"], "path");
        assert_eq!(body["errors"][0]["name"], "id");
        assert!(body["errors"][0].get("pointer").is_none());
    }

    #[test]
    fn field_errors_are_capped() {
        let errors = (0..50)
            .map(|i| FieldError {
                location: "query",
                name: Some(format!("p{i}")),
                pointer: None,
                message: "bad".into(),
            })
            .collect();
        assert_eq!(
            Problem::invalid_request(errors).errors.len(),
            MAX_FIELD_ERRORS
        );
    }

    #[test]
    fn a_challenge_that_is_no_header_value_does_not_panic() {
        let problem = Problem::unauthorized("ApiKey name=\"X-Clé\"\n", "no");
        assert_eq!(problem.status, 401);
        assert!(
            problem
                .headers
                .iter()
                .any(|(n, _)| n == http::header::WWW_AUTHENTICATE)
        );
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let response = Problem::method_not_allowed("GET, POST").into_response(None);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");
        assert_eq!(response.headers()["content-type"], PROBLEM_JSON);
    }
}
