//! The API reference page (`gateway.docs`): Swagger UI, vendored in `swagger-ui/` and
//! compiled in, rendering the public OpenAPI document the gateway serves at
//! `/openapi.json`.
//!
//! Everything is served from memory: the page (built once at start, for the gateway's
//! name and the page's path), a small script and stylesheet of ours, and the renderer's
//! bundle. Nothing is fetched from anywhere else, so the page works offline and under a
//! Content-Security-Policy that allows only this origin: no inline script or style, no
//! `eval`, no fonts. The renderer's files have its version in their URLs and are cached
//! as immutable; the page and our files are revalidated by `ETag`.
//!
//! May use: `base`. `start` builds it when the manifest asks for a page; `dispatch` answers
//! with it.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use sha2::Digest as _;

use crate::base::bodies::ResponseBody;

/// The vendored `swagger-ui-dist` (swagger-ui/README.md).
const RENDERER_VERSION: &str = "5.35.0";

const BUNDLE: &str = include_str!("swagger-ui/swagger-ui-bundle.js");
const BUNDLE_CSS: &str = include_str!("swagger-ui/swagger-ui.css");
const INIT: &str = include_str!("init.js");
const PAGE_CSS: &str = include_str!("page.css");

/// What the page may load: scripts, styles and the spec from this origin, and the
/// renderer's icons, which its stylesheet inlines as `data:` images. `connect-src 'self'`
/// also lets "Try it out" call the gateway itself, never another host.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// A year: the longest `max-age` caches are asked to honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Stored, but asked again (and answered 304 by `ETag`) before each use.
const REVALIDATE: &str = "no-cache";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// One file the page's path serves.
#[derive(Debug)]
struct File {
    /// The URL path: the page's path, or the page's path, `/` and the file's name.
    path: String,
    body: Bytes,
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
}

/// The page and its files, for a gateway whose manifest sets `gateway.docs`.
#[derive(Debug)]
pub(crate) struct Docs {
    /// The page's path (`/docs`): the route label of every file in metrics and logs.
    pub(crate) path: &'static str,
    files: Vec<File>,
}

impl Docs {
    /// The page for gateway `name` at `path` (a literal path the compiler checked: a
    /// leading `/`, no trailing one, no character HTML or a URL would treat specially).
    pub(crate) fn new(name: &str, path: &'static str) -> Docs {
        // Relative references: the page works behind a proxy that adds a path prefix.
        let last = path.rsplit('/').next().unwrap_or_default();
        let up = "../".repeat(path.matches('/').count().saturating_sub(1));
        let bundle = format!("swagger-ui-{RENDERER_VERSION}.js");
        let bundle_css = format!("swagger-ui-{RENDERER_VERSION}.css");
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{name} API reference</title>\n\
             <link rel=\"icon\" href=\"data:,\">\n\
             <link rel=\"stylesheet\" href=\"{last}/{bundle_css}\">\n\
             <link rel=\"stylesheet\" href=\"{last}/page.css\">\n\
             </head>\n<body>\n\
             <div id=\"swagger-ui\" data-spec=\"{up}openapi.json\"></div>\n\
             <script src=\"{last}/{bundle}\"></script>\n\
             <script src=\"{last}/init.js\"></script>\n\
             </body>\n</html>\n"
        );
        let file = |name: Option<&str>, body: Bytes, content_type, cache_control| File {
            path: match name {
                Some(name) => format!("{path}/{name}"),
                None => path.to_owned(),
            },
            etag: etag(&body),
            body,
            content_type,
            cache_control,
        };
        Docs {
            path,
            files: vec![
                file(None, Bytes::from(page), HTML, REVALIDATE),
                file(
                    Some(&bundle),
                    Bytes::from_static(BUNDLE.as_bytes()),
                    JS,
                    IMMUTABLE,
                ),
                file(
                    Some(&bundle_css),
                    Bytes::from_static(BUNDLE_CSS.as_bytes()),
                    CSS,
                    IMMUTABLE,
                ),
                file(
                    Some("init.js"),
                    Bytes::from_static(INIT.as_bytes()),
                    JS,
                    REVALIDATE,
                ),
                file(
                    Some("page.css"),
                    Bytes::from_static(PAGE_CSS.as_bytes()),
                    CSS,
                    REVALIDATE,
                ),
            ],
        }
    }

    /// The index of the file `path` names, if it is one of the page's.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        // Every path but the page's own starts with it: one comparison for other paths.
        if !path.starts_with(self.path) {
            return None;
        }
        self.files.iter().position(|file| file.path == path)
    }

    /// The answer to a `GET` of file `index`: the file, or 304 when `If-None-Match`
    /// names its `ETag`.
    pub(crate) fn respond(&self, index: usize, request: &HeaderMap) -> Response<ResponseBody> {
        let Some(file) = self.files.get(index) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let fresh = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|value| matches(value, &file.etag));
        let mut response = if fresh {
            empty(StatusCode::NOT_MODIFIED)
        } else {
            Response::new(ResponseBody::full(file.body.clone()))
        };
        let headers = response.headers_mut();
        if !fresh {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            );
        }
        headers.insert(header::ETAG, file.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(file.cache_control),
        );
        security_headers(headers);
        response
    }
}

/// The headers every answer of the page's paths carries.
fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A strong `ETag` from the first 128 bits of the body's SHA-256.
fn etag(body: &[u8]) -> HeaderValue {
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // Quotes and hex digits only: always a valid header value.
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, RFC 9110 13.1.2).
fn matches(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: Response<ResponseBody>) -> String {
        use futures_util::FutureExt as _;
        use http_body_util::BodyExt as _;
        let collected = response.into_body().collect().now_or_never();
        let bytes = collected.expect("a full body").unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn the_page_links_its_files_relative_to_itself() {
        let docs = Docs::new("shop", "/docs");
        let page = body(docs.respond(docs.find("/docs").unwrap(), &HeaderMap::new()));
        assert!(page.contains("<title>shop API reference</title>"), "{page}");
        assert!(page.contains("data-spec=\"openapi.json\""), "{page}");
        for file in &docs.files[1..] {
            let name = file.path.strip_prefix("/docs/").unwrap();
            assert!(page.contains(&format!("\"docs/{name}\"")), "{name}: {page}");
            assert_eq!(
                docs.find(&file.path).map(|i| &docs.files[i].path),
                Some(&file.path)
            );
        }
        // No inline script or style: the policy would refuse them.
        assert!(
            !page.contains("<style") && !page.contains("style="),
            "{page}"
        );
        assert_eq!(page.matches("<script").count(), 2);
        assert!(page.matches("<script src=").count() == 2);

        let nested = Docs::new("shop", "/api/v1/docs");
        let page = body(nested.respond(0, &HeaderMap::new()));
        assert!(page.contains("data-spec=\"../../openapi.json\""), "{page}");
        assert!(page.contains("href=\"docs/page.css\""), "{page}");
        assert_eq!(nested.find("/api/v1/docs/init.js"), Some(3));
        for other in [
            "/docs",
            "/api/v1/docs/",
            "/api/v1/docs/x.js",
            "/api/v1/docsinit.js",
        ] {
            assert_eq!(nested.find(other), None, "{other}");
        }
    }

    #[test]
    fn files_carry_their_type_caching_and_the_security_headers() {
        let docs = Docs::new("shop", "/docs");
        let bundle = format!("/docs/swagger-ui-{RENDERER_VERSION}.js");
        for (path, content_type, cache) in [
            ("/docs", HTML, REVALIDATE),
            (bundle.as_str(), JS, IMMUTABLE),
            ("/docs/init.js", JS, REVALIDATE),
            ("/docs/page.css", CSS, REVALIDATE),
        ] {
            let response = docs.respond(docs.find(path).unwrap(), &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], cache, "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.starts_with("default-src 'none';"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
        }
    }

    #[test]
    fn a_known_etag_is_304_without_a_body() {
        let docs = Docs::new("shop", "/docs");
        let first = docs.respond(3, &HeaderMap::new());
        let etag = first.headers()[header::ETAG].clone();
        assert_eq!(etag.len(), 34);
        let mut request = HeaderMap::new();
        for value in [
            etag.to_str().unwrap().to_owned(),
            format!("\"other\", W/{}", etag.to_str().unwrap()),
            "*".to_owned(),
        ] {
            request.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(&value).unwrap(),
            );
            let response = docs.respond(3, &request);
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
            assert_eq!(response.headers()[header::ETAG], etag);
            assert_eq!(body(response), "");
        }
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        let response = docs.respond(3, &request);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response), INIT);
        // Two pages with other names have other ETags: the page is built per gateway.
        let other = Docs::new("billing", "/docs");
        assert_ne!(other.files[0].etag, docs.files[0].etag);
    }
}
