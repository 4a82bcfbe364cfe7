//! CORS: the gateway answers browsers' preflight requests itself, for routes that exist,
//! and adds the `Access-Control-*` headers to the answers of allowed origins.
//!
//! The policy is per service (the manifest's `gateway.cors`, or a service's own `cors`),
//! compiled into the route table. A preflight is never forwarded: the upstream would have
//! to know the policy, and a gateway is where it belongs. For the same reason the
//! upstreams' own `Access-Control-*` headers never reach a browser.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::base::method::Method;
use crate::base::problem::Problem;

/// One service's CORS policy.
#[derive(Debug)]
pub struct Cors {
    /// Exact origins (`https://shop.example.com`), wildcard subdomains
    /// (`https://*.example.com`), or `*` (any origin, never with credentials).
    pub allow_origins: &'static [&'static str],
    /// Methods allowed cross-origin; empty means the methods the path has.
    pub allow_methods: &'static [Method],
    /// Request headers allowed cross-origin, lower-case.
    pub allow_headers: &'static [&'static str],
    /// Response headers a page may read.
    pub expose_headers: &'static [&'static str],
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`, in seconds.
    pub max_age: Option<u64>,
}

impl Cors {
    /// Whether `origin` may call this service.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|allowed| {
            if *allowed == "*" || allowed.eq_ignore_ascii_case(origin) {
                return true;
            }
            // `https://*.example.com` matches `https://a.example.com`, `https://a.b.example.com`.
            let Some((scheme, domain)) = allowed.split_once("://*.") else {
                return false;
            };
            let Some(host) = origin
                .get(..scheme.len() + 3)
                .filter(|prefix| prefix.eq_ignore_ascii_case(&format!("{scheme}://")))
                .map(|_| &origin[scheme.len() + 3..])
            else {
                return false;
            };
            let suffix = format!(".{domain}");
            host.len() > suffix.len()
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(&suffix)
                && !host[..host.len() - suffix.len()].contains(['/', ':', '@'])
        })
    }

    /// Whether answers depend on the request's `Origin`: all but `*` without credentials,
    /// which answers every origin alike.
    pub(crate) fn varies(&self) -> bool {
        self.allow_origins != ["*"] || self.allow_credentials
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.varies() {
            origin.clone()
        } else {
            HeaderValue::from_static("*")
        }
    }

    /// The policy's headers on an answer that is not a preflight's, whose request came
    /// from `origin`. The upstream's own `Access-Control-*` headers are gone by then
    /// ([`strip_upstream`]): only the gateway's policy speaks. `*` is the same for every
    /// answer, with an `Origin` or without; any other policy answers only the origins it
    /// allows, and says that the answer varies with the origin, whoever asked.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if !self.varies() {
            self.decorate(&HeaderValue::from_static("*"), headers);
            return;
        }
        vary_on_origin(headers);
        if let Some(origin) = origin
            && origin.to_str().is_ok_and(|text| self.allows(text))
        {
            self.decorate(origin, headers);
        }
    }

    /// Headers for the answer to an allowed cross-origin request.
    fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin(origin),
        );
        if self.allow_credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !self.expose_headers.is_empty()
            && let Ok(value) = HeaderValue::from_str(&self.expose_headers.join(", "))
        {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }

    /// The answer to a preflight for a path whose methods are `path_allow`, or the problem
    /// that refuses it.
    pub(crate) fn preflight(
        &self,
        origin: &HeaderValue,
        method: Method,
        requested_headers: Option<&HeaderValue>,
        path_allow: &str,
    ) -> Result<HeaderMap, Problem> {
        let forbidden = |detail: String| {
            Problem::new(StatusCode::FORBIDDEN, "cors-forbidden", "Forbidden", detail)
        };
        let origin_text = origin.to_str().unwrap_or_default();
        if !self.allows(origin_text) {
            return Err(forbidden(format!(
                "origin `{}` may not call this route",
                origin_text.chars().take(100).collect::<String>()
            )));
        }
        let methods = if self.allow_methods.is_empty() {
            path_allow.to_owned()
        } else {
            let listed: Vec<&str> = self.allow_methods.iter().map(|m| m.as_str()).collect();
            listed.join(", ")
        };
        if !methods.split(", ").any(|m| m == method.as_str()) {
            return Err(forbidden(format!(
                "method {} is not allowed cross-origin here",
                method.as_str()
            )));
        }
        if let Some(requested) = requested_headers.and_then(|v| v.to_str().ok()) {
            for name in requested
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                let allowed = self.allow_headers.iter().any(|h| {
                    h.eq_ignore_ascii_case(name) || (*h == "*" && !self.allow_credentials)
                });
                if !allowed {
                    return Err(forbidden(format!(
                        "header `{}` is not allowed cross-origin here",
                        name.chars().take(100).collect::<String>()
                    )));
                }
            }
        }
        let mut headers = HeaderMap::new();
        self.decorate(origin, &mut headers);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
        if let Ok(value) = HeaderValue::from_str(&methods) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if let Some(requested) = requested_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        if self.varies() {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        headers.append(
            header::VARY,
            HeaderValue::from_static(
                "Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        if let Some(age) = self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
        }
        Ok(headers)
    }
}

/// Removes every `Access-Control-*` header of an upstream's answer: the gateway's policy
/// is the only one, and an upstream that reflects any origin with credentials (a common
/// framework default) must not open what the manifest closes.
pub(crate) fn strip_upstream(headers: &mut HeaderMap) {
    let is_cors = |name: &HeaderName| name.as_str().starts_with("access-control-");
    // Collected first because the names borrow the map; only answers that carry one pay.
    if headers.keys().any(is_cors) {
        let names: Vec<HeaderName> = headers.keys().filter(|n| is_cors(n)).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    }
}

/// Adds `Origin` to `Vary`, folding the fields into one, unless it (or `*`) is there.
pub(crate) fn vary_on_origin(headers: &mut HeaderMap) {
    let mut listed = Vec::new();
    for value in headers.get_all(header::VARY) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token == b"*" || token.eq_ignore_ascii_case(b"origin") {
                return;
            }
            if !token.is_empty() {
                listed.push(token);
            }
        }
    }
    let mut folded = listed.join(&b", "[..]);
    if !folded.is_empty() {
        folded.extend_from_slice(b", ");
    }
    folded.extend_from_slice(b"Origin");
    // Tokens of valid header values joined by `, ` are a valid header value.
    if let Ok(value) = HeaderValue::from_bytes(&folded) {
        headers.insert(header::VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: Cors = Cors {
        allow_origins: &["https://shop.example.com", "https://*.cdn.example.com"],
        allow_methods: &[],
        allow_headers: &["authorization", "content-type"],
        expose_headers: &["x-request-id"],
        allow_credentials: true,
        max_age: Some(600),
    };

    #[test]
    fn origins_exact_and_wildcard_subdomains() {
        assert!(SHOP.allows("https://shop.example.com"));
        assert!(SHOP.allows("HTTPS://Shop.Example.com"));
        assert!(SHOP.allows("https://a.cdn.example.com"));
        assert!(SHOP.allows("https://a.b.cdn.example.com"));
        for denied in [
            "https://cdn.example.com",
            "http://a.cdn.example.com",
            "https://evil.com/.cdn.example.com",
            "https://a.cdn.example.com.evil.com",
            "https://shop.example.com.evil.com",
            "null",
            "",
        ] {
            assert!(!SHOP.allows(denied), "{denied}");
        }
    }

    #[test]
    fn preflights() {
        let origin = HeaderValue::from_static("https://shop.example.com");
        let asked = HeaderValue::from_static("Authorization, content-type");
        let headers = SHOP
            .preflight(&origin, Method::Post, Some(&asked), "GET, POST")
            .unwrap();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example.com"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, POST");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "Authorization, content-type"
        );
        let refused = [
            SHOP.preflight(
                &HeaderValue::from_static("https://evil.com"),
                Method::Get,
                None,
                "GET",
            ),
            SHOP.preflight(&origin, Method::Delete, None, "GET, POST"),
            SHOP.preflight(
                &origin,
                Method::Get,
                Some(&HeaderValue::from_static("x-secret")),
                "GET",
            ),
        ];
        for result in refused {
            assert_eq!(result.unwrap_err().status, StatusCode::FORBIDDEN);
        }
    }

    #[test]
    fn any_origin_without_credentials_is_a_star_for_everyone() {
        let open = Cors {
            allow_origins: &["*"],
            allow_credentials: false,
            ..SHOP
        };
        for origin in [Some(HeaderValue::from_static("https://x.org")), None] {
            let mut headers = HeaderMap::new();
            open.apply(origin.as_ref(), &mut headers);
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert!(
                headers
                    .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                    .is_none()
            );
            // The same answer for every origin: nothing for a cache to tell apart.
            assert!(headers.get(header::VARY).is_none());
        }
    }

    #[test]
    fn other_policies_answer_allowed_origins_and_always_vary() {
        let mut headers = HeaderMap::new();
        SHOP.apply(
            Some(&HeaderValue::from_static("https://shop.example.com")),
            &mut headers,
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example.com"
        );
        assert_eq!(headers[header::VARY], "Origin");
        for origin in [Some(HeaderValue::from_static("https://evil.com")), None] {
            let mut headers = HeaderMap::new();
            SHOP.apply(origin.as_ref(), &mut headers);
            assert_eq!(headers.len(), 1, "{headers:?}");
            assert_eq!(headers[header::VARY], "Origin");
        }
    }

    #[test]
    fn vary_gets_origin_once_in_one_field() {
        let vary = |fields: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for field in fields {
                headers.append(header::VARY, HeaderValue::from_static(field));
            }
            vary_on_origin(&mut headers);
            let all: Vec<&str> = headers
                .get_all(header::VARY)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            all.join(" | ")
        };
        assert_eq!(vary(&[]), "Origin");
        assert_eq!(
            vary(&["Accept-Encoding", "Accept-Language, Cookie"]),
            "Accept-Encoding, Accept-Language, Cookie, Origin"
        );
        assert_eq!(vary(&["accept, ORIGIN"]), "accept, ORIGIN");
        assert_eq!(vary(&["*"]), "*");
        assert_eq!(vary(&[" , Accept ,"]), "Accept, Origin");
    }

    #[test]
    fn every_access_control_header_of_an_upstream_goes() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("access-control-allow-origin", "https://evil.com"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-private-network", "true"),
            ("access-control-expose-headers", "x-token"),
            ("vary", "Origin"),
            ("content-type", "application/json"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip_upstream(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "vary"]);
    }
}
