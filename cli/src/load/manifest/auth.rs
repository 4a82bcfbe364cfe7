//! The `auth` section: how the gateway verifies the credentials of each security scheme a
//! spec declares (JWT, API key or HTTP Basic), and where it finds the key material at start.
//!
//! These checks are security checks: a mixed algorithm list, `none`, a JWKS fetched over
//! plain http or a claim forwarded as a credential header would each weaken verification
//! without anything failing, so they are refused here, at compile time.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{Ctx, units};
use crate::diag::{Diagnostic, Location, pointer_push};

/// One entry of `auth`: how to verify the credentials of a spec's security scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthScheme {
    /// The `components.securitySchemes` name.
    pub name: String,
    pub kind: AuthKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthKind {
    Jwt(JwtConfig),
    ApiKey {
        keys: KeySource,
        /// Remove the key from the request before forwarding (`strip`).
        strip: bool,
    },
    /// `basic`: htpasswd lines `user:hash`.
    Basic {
        users: KeySource,
        /// Keep the client's `Authorization` header when forwarding.
        forward_authorization: bool,
    },
}

/// `auth.<scheme>.jwt` (docs/manifest.md, "Auth").
#[derive(Debug, Clone, PartialEq)]
pub struct JwtConfig {
    /// Algorithm names, all of one family.
    pub algorithms: Vec<String>,
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    pub max_token: u64,
    /// Token types (`typ`) accepted when a token names one.
    pub types: Vec<String>,
    /// (claim, lower-case header name).
    pub forward_claims: Vec<(String, String)>,
    pub strip_authorization: bool,
}

/// Where key material is read at the gateway's start.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Env(String),
    File(String),
    /// A JWK set fetched over HTTPS and kept fresh (JWT schemes only).
    Jwks(JwksSource),
}

/// `jwks_url` or `jwks_url_env`, with `jwks_ca_file` and `jwks_refresh`.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSource {
    pub url: JwksUrl,
    pub ca_file: Option<String>,
    pub refresh: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksUrl {
    /// An https URL (or http to a loopback host), checked here.
    Literal(String),
    /// The environment variable holding the URL at start-up.
    Env(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheme {
    jwt: Option<RawJwt>,
    api_key: Option<RawApiKey>,
    basic: Option<RawBasic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    algorithms: Option<Vec<String>>,
    key_env: Option<String>,
    key_file: Option<String>,
    jwks_url: Option<String>,
    jwks_url_env: Option<String>,
    jwks_ca_file: Option<String>,
    jwks_refresh: Option<String>,
    issuer: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    leeway: Option<String>,
    max_token: Option<String>,
    types: Option<Vec<String>>,
    #[serde(default)]
    forward_claims: IndexMap<String, String>,
    #[serde(default)]
    strip_authorization: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasic {
    users_env: Option<String>,
    users_file: Option<String>,
    #[serde(default)]
    forward_authorization: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    keys_env: Option<String>,
    keys_file: Option<String>,
    #[serde(default)]
    strip: bool,
}

/// Headers a claim must not be forwarded as, beyond those the gateway manages: they
/// carry the request's own credentials and framing.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "content-type",
];

/// Longest `leeway` accepted.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// `leeway` when the manifest gives none.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// `types` when not given: a plain JWT, or an access token as RFC 9068 types it.
const DEFAULT_TYPES: [&str; 2] = ["JWT", "at+jwt"];
/// `max_token` when not given.
const DEFAULT_MAX_TOKEN: u64 = 8 * 1024;

/// The algorithm family of a JWT algorithm name; `None` for names that are not one.
fn jwt_family(algorithm: &str) -> Option<&'static str> {
    Some(match algorithm {
        "HS256" | "HS384" | "HS512" => "HMAC (HS*)",
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "RSA (RS*/PS*)",
        "ES256" | "ES384" => "ECDSA (ES*)",
        "EdDSA" => "EdDSA",
        _ => return None,
    })
}

/// Checks one `auth` entry; `None` (with diagnostics) when it is unusable.
pub(super) fn auth_scheme(
    name: &str,
    pointer: &str,
    raw: RawScheme,
    ctx: &mut Ctx<'_>,
) -> Option<AuthScheme> {
    let errors_before = ctx.diags.list.len();
    let kind = match (raw.jwt, raw.api_key, raw.basic) {
        (Some(jwt), None, None) => {
            AuthKind::Jwt(jwt_config(name, &pointer_push(pointer, "jwt"), jwt, ctx)?)
        }
        (None, Some(api_key), None) => {
            let at = pointer_push(pointer, "api_key");
            let keys = key_source(
                &at,
                ("keys_env", api_key.keys_env),
                ("keys_file", api_key.keys_file),
                ctx,
            )?;
            AuthKind::ApiKey {
                keys,
                strip: api_key.strip,
            }
        }
        (None, None, Some(basic)) => {
            let users = key_source(
                &pointer_push(pointer, "basic"),
                ("users_env", basic.users_env),
                ("users_file", basic.users_file),
                ctx,
            )?;
            AuthKind::Basic {
                users,
                forward_authorization: basic.forward_authorization,
            }
        }
        _ => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                format!("`auth.{name}` must have exactly one of `jwt`, `api_key` or `basic`"),
                "bearer, oauth2 and openIdConnect schemes take `jwt: {...}`; apiKey schemes take `api_key: {...}`; http basic schemes take `basic: {...}`",
            );
            return None;
        }
    };
    let failed = ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error);
    (!failed).then(|| AuthScheme {
        name: name.to_owned(),
        kind,
    })
}

/// Exactly one of an `*_env` and a `*_file` key.
fn key_source(
    pointer: &str,
    (env_key, env): (&str, Option<String>),
    (file_key, file): (&str, Option<String>),
    ctx: &mut Ctx<'_>,
) -> Option<KeySource> {
    match (env, file) {
        (Some(env), None) if !env.trim().is_empty() => Some(KeySource::Env(env)),
        (None, Some(file)) if !file.trim().is_empty() => Some(KeySource::File(file)),
        _ => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                format!("give exactly one of `{env_key}` or `{file_key}`"),
                "key material is read when the gateway starts, from that environment variable or file; it is never compiled in",
            );
            None
        }
    }
}

/// `jwks_refresh` when not given.
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// Bounds of `jwks_refresh`.
const MIN_JWKS_REFRESH: Duration = Duration::from_secs(10);
const MAX_JWKS_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// A `jwks_url`: https, or plain http to a loopback host only.
pub fn jwks_url(text: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{text}`: credentials do not belong in a JWKS URL (it is compiled in)"
        ));
    }
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => Ok(parsed),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(parsed),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(parsed),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(parsed),
        ("http", _) => Err(format!(
            "`{text}`: keys fetched over plain http could be replaced on the way"
        )),
        (scheme, _) => Err(format!("`{text}` is not an https URL (`{scheme}`)")),
    }
}

/// The `jwks_*` keys of a JWT scheme, if it fetches its keys; `None` with diagnostics
/// when they are unusable, `Some(None)` when the scheme names no JWKS.
fn jwks_source(
    pointer: &str,
    raw: &RawJwt,
    hmac: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Option<JwksSource>> {
    let url = match (&raw.jwks_url, &raw.jwks_url_env) {
        (None, None) => {
            for (key, present) in [
                ("jwks_ca_file", raw.jwks_ca_file.is_some()),
                ("jwks_refresh", raw.jwks_refresh.is_some()),
            ] {
                if present {
                    ctx.error(
                        "gateway::manifest::invalid_auth",
                        &pointer_push(pointer, key),
                        format!("`{key}` applies only to keys fetched from `jwks_url`"),
                        "remove it, or fetch the keys with `jwks_url` / `jwks_url_env`",
                    );
                }
            }
            return if raw.jwks_ca_file.is_some() || raw.jwks_refresh.is_some() {
                None
            } else {
                Some(None)
            };
        }
        (Some(url), None) => {
            let at = pointer_push(pointer, "jwks_url");
            match jwks_url(url) {
                Ok(_) => JwksUrl::Literal(url.clone()),
                Err(message) => {
                    ctx.error(
                        "gateway::manifest::invalid_jwks_url",
                        &at,
                        message,
                        "use https (plain http only to 127.0.0.1, ::1 or localhost); a private CA goes in `jwks_ca_file`",
                    );
                    return None;
                }
            }
        }
        (None, Some(env)) if !env.trim().is_empty() => JwksUrl::Env(env.clone()),
        (None, Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, "jwks_url_env"),
                "`jwks_url_env` must name an environment variable".to_owned(),
                "e.g. `jwks_url_env: JWKS_URL`; the URL is read when the gateway starts",
            );
            return None;
        }
        (Some(_), Some(_)) => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                pointer,
                "give `jwks_url` or `jwks_url_env`, not both".to_owned(),
                "a URL is not a secret: `jwks_url` is simplest; `jwks_url_env` lets each deployment set its own",
            );
            return None;
        }
    };
    if hmac {
        ctx.error(
            "gateway::manifest::invalid_auth",
            &pointer_push(pointer, "algorithms"),
            "HMAC (HS*) secrets are never fetched from a JWKS URL".to_owned(),
            "give the shared secret with `key_env` or `key_file`, or use an asymmetric algorithm (RS256, ES256, EdDSA...)",
        );
        return None;
    }
    let mut refresh = DEFAULT_JWKS_REFRESH;
    if let Some(text) = &raw.jwks_refresh {
        let at = pointer_push(pointer, "jwks_refresh");
        match units::duration(text) {
            Ok(d) if (MIN_JWKS_REFRESH..=MAX_JWKS_REFRESH).contains(&d) => refresh = d,
            Ok(_) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at,
                    format!("a JWKS refresh interval of `{text}` is outside 10s..24h"),
                    "identity providers publish new keys well ahead of use; 5m is the default",
                );
                return None;
            }
            Err(message) => {
                ctx.error(
                    "gateway::manifest::invalid_duration",
                    &at,
                    message,
                    "durations are written like `5m`",
                );
                return None;
            }
        }
    }
    let ca_file = match &raw.jwks_ca_file {
        Some(path) if path.trim().is_empty() => {
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, "jwks_ca_file"),
                "`jwks_ca_file` must name a file".to_owned(),
                "a PEM file of CA certificates, read when the gateway starts",
            );
            return None;
        }
        other => other.clone(),
    };
    Some(Some(JwksSource {
        url,
        ca_file,
        refresh,
    }))
}

fn jwt_config(name: &str, pointer: &str, raw: RawJwt, ctx: &mut Ctx<'_>) -> Option<JwtConfig> {
    let errors_before = ctx.diags.list.len();
    let algorithms = raw.algorithms.clone().unwrap_or_default();
    let at = pointer_push(pointer, "algorithms");
    if algorithms.is_empty() {
        ctx.error(
            "gateway::manifest::invalid_algorithms",
            pointer,
            format!("`auth.{name}.jwt` must list its `algorithms`"),
            "e.g. `algorithms: [RS256]`; the token's `alg` header is checked against this list",
        );
    }
    let mut families = Vec::new();
    for (i, algorithm) in algorithms.iter().enumerate() {
        match jwt_family(algorithm) {
            Some(family) => {
                if !families.contains(&family) {
                    families.push(family);
                }
            }
            None => ctx.error(
                "gateway::manifest::invalid_algorithms",
                &pointer_push(&at, &i.to_string()),
                if algorithm.eq_ignore_ascii_case("none") {
                    "the algorithm `none` (unsigned tokens) is never accepted".to_owned()
                } else {
                    format!("`{algorithm}` is not a JWT algorithm this gateway verifies")
                },
                "use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA",
            ),
        }
    }
    if families.len() > 1 {
        ctx.error(
            "gateway::manifest::mixed_algorithms",
            &at,
            format!("`auth.{name}.jwt.algorithms` mixes algorithm families: {}", families.join(", ")),
            "list algorithms of one family only: mixing them (e.g. HS256 with RS256) allows algorithm-confusion attacks",
        );
    }
    let hmac = families.contains(&"HMAC (HS*)");
    let key = match jwks_source(pointer, &raw, hmac, ctx) {
        None => None,
        Some(Some(jwks)) if raw.key_env.is_none() && raw.key_file.is_none() => {
            Some(KeySource::Jwks(jwks))
        }
        Some(Some(_)) => {
            let which = if raw.key_env.is_some() {
                "key_env"
            } else {
                "key_file"
            };
            ctx.error(
                "gateway::manifest::invalid_auth",
                &pointer_push(pointer, which),
                format!("`{which}` and a JWKS URL both give this scheme's keys"),
                "give exactly one of `key_env`, `key_file`, `jwks_url` or `jwks_url_env`",
            );
            None
        }
        Some(None) => key_source(
            pointer,
            ("key_env", raw.key_env),
            ("key_file", raw.key_file),
            ctx,
        ),
    };
    // Servers' clocks drift by seconds: the default tolerates that, explicitly.
    let mut leeway_secs = DEFAULT_LEEWAY.as_secs();
    if let Some(text) = &raw.leeway {
        match units::duration(text) {
            Ok(d) if d <= MAX_LEEWAY => leeway_secs = d.as_secs(),
            Ok(_) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer_push(pointer, "leeway"),
                format!("a leeway of `{text}` is more than the 5m allowed"),
                "clock skew between servers is seconds, not minutes",
            ),
            Err(message) => ctx.error(
                "gateway::manifest::invalid_duration",
                &pointer_push(pointer, "leeway"),
                message,
                "durations are written like `30s`",
            ),
        }
    }
    let mut max_token = DEFAULT_MAX_TOKEN;
    if let Some(text) = &raw.max_token {
        match units::size(text) {
            Ok(0) | Err(_) => ctx.error(
                "gateway::manifest::invalid_size",
                &pointer_push(pointer, "max_token"),
                format!("`{text}` is not a usable token size"),
                "sizes are written like `8KiB`",
            ),
            Ok(size) => max_token = size,
        }
    }
    let mut forward_claims = Vec::new();
    for (claim, header) in &raw.forward_claims {
        let lower = header.trim().to_ascii_lowercase();
        let at = pointer_push(&pointer_push(pointer, "forward_claims"), claim);
        if !crate::http::is_token(&lower) {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("`{header}` is not a valid header name"),
                "header names are tokens like `x-user-id`",
            );
        } else if crate::http::MANAGED_HEADERS.contains(&lower.as_str())
            || CREDENTIAL_HEADERS.contains(&lower.as_str())
        {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("`{lower}` is managed by the gateway and cannot carry a claim"),
                "forward the claim as a header of your own, e.g. `x-user-id`",
            );
        } else if forward_claims.iter().any(|(_, h)| *h == lower) {
            ctx.error(
                "gateway::manifest::invalid_forward_claim",
                &at,
                format!("two claims are forwarded as `{lower}`"),
                "give each claim its own header",
            );
        } else {
            forward_claims.push((claim.clone(), lower));
        }
    }
    let mut types = Vec::new();
    match &raw.types {
        None => types.extend(DEFAULT_TYPES.map(str::to_owned)),
        Some(list) if list.is_empty() => ctx.error(
            "gateway::manifest::invalid_auth",
            &pointer_push(pointer, "types"),
            "`types` lists no token type".to_owned(),
            "tokens without a `typ` header are always accepted; list the types tokens that have one may name, e.g. `[JWT, at+jwt]`",
        ),
        Some(list) => {
            for (i, typ) in list.iter().enumerate() {
                if crate::http::is_token(&typ.replace(['/', '+'], "")) && !typ.is_empty() {
                    types.push(typ.clone());
                } else {
                    ctx.error(
                        "gateway::manifest::invalid_auth",
                        &pointer_push(&pointer_push(pointer, "types"), &i.to_string()),
                        format!("`{typ}` is not a token type"),
                        "a `typ` value is a media type, usually without `application/`: `JWT`, `at+jwt`",
                    );
                }
            }
        }
    }
    // Without an audience, a token the same provider minted for another API (or an ID
    // token) passes: the issuer alone does not say who the token is for.
    if raw.audiences.is_empty() {
        let what = if raw.issuer.is_none() {
            "neither `issuer` nor `audiences`"
        } else {
            "no `audiences`"
        };
        ctx.diags.push(
            Diagnostic::warning(
                "gateway::manifest::jwt_unscoped",
                format!("`auth.{name}.jwt` checks {what}"),
            )
            .at(Location::key(ctx.file, pointer))
            .help("any token signed by the key is accepted, whoever it was issued for (other APIs of the same provider, ID tokens); set `issuer` and `audiences`"),
        );
    }
    if ctx.diags.list[errors_before..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error)
    {
        return None;
    }
    Some(JwtConfig {
        algorithms,
        key: key?,
        issuer: raw.issuer,
        audiences: raw.audiences,
        leeway_secs,
        max_token,
        types,
        forward_claims,
        strip_authorization: raw.strip_authorization,
    })
}
