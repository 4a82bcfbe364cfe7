//! CORS: the gateway answers browsers' preflight requests itself, for routes that exist,
//! and adds the `Access-Control-*` headers to the answers of allowed origins.
//!
//! The policy is per service (the manifest's `gateway.cors`, or a service's own `cors`),
//! compiled into the route table. A preflight is never forwarded: the upstream would have
//! to know the policy, and a gateway is where it belongs.

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

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.allow_origins == ["*"] && !self.allow_credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    /// Headers for the answer to an allowed cross-origin request.
    pub(crate) fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin(origin),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
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
    fn any_origin_without_credentials_is_a_star() {
        let open = Cors {
            allow_origins: &["*"],
            allow_credentials: false,
            ..SHOP
        };
        let mut headers = HeaderMap::new();
        open.decorate(&HeaderValue::from_static("https://x.org"), &mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            headers
                .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
        assert_eq!(headers[header::VARY], "Origin");
    }
}
