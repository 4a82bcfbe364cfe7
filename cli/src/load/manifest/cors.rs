//! `cors`, of the gateway or of one service: which browser origins may call, and how.
//!
//! A CORS mistake either breaks every browser client or lets any site act with the users'
//! credentials, so each origin, method and header is checked here, and credentials with a
//! wildcard are refused rather than left to the browser to reject.

use serde::Deserialize;

use super::{Ctx, units};
use crate::diag::{Diagnostic, Location};

/// Which browser origins may call a service, and how (docs/manifest.md, "CORS").
#[derive(Debug, Clone, PartialEq)]
pub struct CorsPolicy {
    pub allow_origins: Vec<String>,
    /// Upper-case; empty: the methods of each path.
    pub allow_methods: Vec<String>,
    /// Lower-case.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u64>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCors {
    allow_origins: Vec<String>,
    #[serde(default)]
    allow_methods: Vec<String>,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    allow_credentials: bool,
    max_age: Option<String>,
}

/// Checks a CORS policy; `None` (with diagnostics) when it is unusable.
pub(super) fn cors(pointer: &str, raw: RawCors, ctx: &mut Ctx<'_>) -> Option<CorsPolicy> {
    let errors_before = ctx.diags.list.len();
    if raw.allow_origins.is_empty() {
        ctx.error(
            "gateway::manifest::invalid_value",
            &format!("{pointer}/allow_origins"),
            "`allow_origins` lists no origin".into(),
            "list the origins of the pages that call the API, e.g. `https://shop.example.com`",
        );
    }
    for (i, origin) in raw.allow_origins.iter().enumerate() {
        let at = format!("{pointer}/allow_origins/{i}");
        if let Err(message) = cors_origin(origin) {
            ctx.error(
                "gateway::manifest::invalid_origin",
                &at,
                message,
                "an origin is `scheme://host[:port]` (`https://*.example.com` for subdomains), or `*`",
            );
            continue;
        }
        if let Some(suffix) = covered_suffix(origin) {
            ctx.error(
                "gateway::manifest::invalid_origin",
                &at,
                format!("`{origin}` trusts every site under the public suffix `{suffix}`, anyone's among them"),
                "name your own domain: `https://*.example.com`",
            );
        }
        if insecure(origin) {
            let message = format!(
                "`{origin}` is plain http: anyone on the network path can inject a script into that origin's pages"
            );
            let help =
                "use the https origin; plain http is fine only for a loopback host in development";
            let diagnostic = if raw.allow_credentials {
                Diagnostic::error("gateway::manifest::insecure_origin", message).related(
                    "credentials allowed here",
                    Location::new(ctx.file, format!("{pointer}/allow_credentials")),
                )
            } else {
                Diagnostic::warning("gateway::manifest::insecure_origin", message)
            };
            ctx.diags
                .push(diagnostic.at(Location::new(ctx.file, at)).help(help));
        }
    }
    if raw.allow_credentials {
        let star_origin = raw.allow_origins.iter().position(|o| o == "*");
        let star_header = raw.allow_headers.iter().position(|h| h == "*");
        for (at, what) in [
            (
                star_origin.map(|i| format!("{pointer}/allow_origins/{i}")),
                "origin",
            ),
            (
                star_header.map(|i| format!("{pointer}/allow_headers/{i}")),
                "header",
            ),
        ] {
            if let Some(at) = at {
                ctx.diags.push(
                    Diagnostic::error(
                        "gateway::manifest::cors_credentials_wildcard",
                        format!("`allow_credentials: true` with the {what} `*`: any site could make requests with your users' credentials"),
                    )
                    .at(Location::new(ctx.file, at))
                    .related("credentials allowed here", Location::new(ctx.file, format!("{pointer}/allow_credentials")))
                    .help(format!("list the allowed {what}s explicitly, or drop `allow_credentials`")),
                );
            }
        }
    }
    let mut methods = Vec::new();
    for (i, method) in raw.allow_methods.iter().enumerate() {
        let upper = method.to_ascii_uppercase();
        if [
            "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
        ]
        .contains(&upper.as_str())
        {
            methods.push(upper);
        } else {
            ctx.error(
                "gateway::manifest::invalid_value",
                &format!("{pointer}/allow_methods/{i}"),
                format!("`{method}` is not an HTTP method of OpenAPI"),
                "use GET, PUT, POST, DELETE, OPTIONS, HEAD, PATCH or TRACE",
            );
        }
    }
    for (list, field) in [
        (&raw.allow_headers, "allow_headers"),
        (&raw.expose_headers, "expose_headers"),
    ] {
        for (i, name) in list.iter().enumerate() {
            if !crate::http::is_token(name) {
                ctx.error(
                    "gateway::manifest::invalid_value",
                    &format!("{pointer}/{field}/{i}"),
                    format!("`{name}` is not a header name"),
                    "header names are tokens such as `content-type`",
                );
            }
        }
    }
    let max_age = match &raw.max_age {
        None => None,
        Some(text) => match units::duration(text) {
            Ok(d) => Some(d.as_secs()),
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &format!("{pointer}/max_age"),
                    message,
                    "durations are written like `10m` or `600s`",
                );
                None
            }
        },
    };
    if ctx.diags.list.len() > errors_before {
        return None;
    }
    Some(CorsPolicy {
        allow_origins: raw.allow_origins,
        allow_methods: methods,
        allow_headers: raw
            .allow_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        expose_headers: raw
            .expose_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        allow_credentials: raw.allow_credentials,
        max_age,
    })
}

/// The public suffix (`com`, `co.uk`, `github.io`) that a wildcard origin covers whole.
fn covered_suffix(origin: &str) -> Option<String> {
    let rest = origin.split_once("://")?.1.strip_prefix("*.")?;
    let host = match rest.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => rest,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let suffix = psl::suffix(host.as_bytes())?;
    (suffix.is_known() && suffix.as_bytes() == host.as_bytes()).then_some(host)
}

/// A plain-http origin other than a loopback host's.
fn insecure(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://") else {
        return false;
    };
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let host = match host.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host,
    };
    !matches!(host, "localhost" | "127.0.0.1" | "[::1]") && !host.ends_with(".localhost")
}

/// `*`, or `scheme://host[:port]` with an optional `*.` before the host.
fn cors_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| format!("`{origin}` is not an origin"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{origin}`: an origin's scheme is http or https"));
    }
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let host_part = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
            h
        } else {
            host
        }
    });
    let valid = !host_part.is_empty()
        && !host_part.contains('*')
        && host_part.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'-'
                || b == b'.'
                || b == b'['
                || b == b']'
                || b == b':'
        });
    if !valid || rest.contains('/') {
        return Err(format!(
            "`{origin}` is not an origin: no path, and `*` only as the first label"
        ));
    }
    Ok(())
}
