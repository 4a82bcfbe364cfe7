//! Credential verification: JWTs (bearer tokens), API keys and HTTP Basic passwords.
//!
//! The generated crate describes each security scheme the manifest configures as a
//! [`Scheme`] (static data, no key material). At start-up [`Verifiers::load`] reads the
//! key material from the environment variable or file the manifest names, checks it and
//! keeps what per-request verification needs; a missing or unusable key is a start error.
//! Per request, [`Verifiers::authenticate`] checks a route's requirements: alternatives
//! OR'd, the requirements of one alternative AND'd.
//!
//! A scheme may instead name a JWKS URL ([`KeySource::Jwks`]): its keys are fetched over
//! HTTPS, cached and rotated by `crate::edge::auth::jwks`; until the first set is loaded, a bearer
//! token for that scheme is answered 503, not 401.
//!
//! Algorithm confusion is impossible by construction: a scheme's algorithms all belong to
//! one family (checked by the compiler, and again here), and its keys must be of that
//! family, so an `HS256` token is never checked against an RSA public key.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use sha2::{Digest, Sha256};

use crate::base::header_names::same_cgi_name;

mod basic;
pub(crate) mod jwks;
mod tokens;

use basic::{BasicVerifier, Verdict};
pub use jwks::{DEFAULT_JWKS_REFETCH_INTERVAL, Jwks, JwksUrl};
use jwks::{JwksKeys, JwksSet, KeyList, Read};
use tokens::TokenCache;

/// The auth decision made at compile time from the spec's `security` and the manifest.
#[derive(Debug)]
pub enum Auth {
    /// `public: true` in the manifest, or an empty security requirement in the spec.
    Public,
    /// Credentials are required. The alternatives are OR'd; the requirements inside one
    /// alternative are AND'd.
    Required {
        /// The `WWW-Authenticate` value sent with a 401.
        challenge: &'static str,
        alternatives: &'static [&'static [Requirement]],
    },
}

/// One security scheme of a requirement, with the scopes it needs.
#[derive(Debug)]
pub struct Requirement {
    pub scheme: &'static str,
    pub scopes: &'static [&'static str],
}

/// One security scheme the manifest configures, named as in `components.securitySchemes`.
#[derive(Debug)]
pub struct Scheme {
    pub name: &'static str,
    pub kind: SchemeKind,
}

#[derive(Debug)]
pub enum SchemeKind {
    Jwt(&'static Jwt),
    ApiKey(&'static ApiKey),
    Basic(&'static Basic),
}

/// Where key material is read from at start-up.
#[derive(Debug, Clone, Copy)]
pub enum KeySource {
    /// An environment variable holding the material itself.
    Env(&'static str),
    /// A file holding the material.
    File(&'static str),
    /// A JWK set fetched from a URL and kept fresh (JWT schemes only).
    Jwks(&'static Jwks),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "file {path}"),
            KeySource::Jwks(jwks) => jwks.url.fmt(f),
        }
    }
}

/// A bearer-token scheme verified as a JWT.
#[derive(Debug)]
pub struct Jwt {
    /// Algorithm names (`RS256`, ...), all of one family.
    pub algorithms: &'static [&'static str],
    /// A PEM public key, a JWK or JWKS document, or for `HS*` the raw secret.
    pub key: KeySource,
    pub issuer: Option<&'static str>,
    pub audiences: &'static [&'static str],
    pub leeway_secs: u64,
    /// Largest token accepted, in bytes.
    pub max_token: usize,
    /// The token types (`typ` header) accepted when a token has one, e.g. `JWT`, `at+jwt`
    /// (compared case-insensitively, `application/` optional).
    pub types: &'static [&'static str],
    /// (claim, header): the header set upstream from the claim.
    pub forward_claims: &'static [(&'static str, &'static str)],
    /// Drop `Authorization` before forwarding.
    pub strip_authorization: bool,
}

/// An HTTP Basic scheme (RFC 7617).
#[derive(Debug)]
pub struct Basic {
    /// htpasswd lines `user:hash`, the hash bcrypt (`$2y$`, `$2b$`, `$2a$`) or argon2id
    /// (a PHC string `$argon2id$...`).
    pub users: KeySource,
    /// Forward the client's `Authorization` header upstream (it is removed by default: it
    /// holds the password).
    pub forward_authorization: bool,
}

/// An API-key scheme.
#[derive(Debug)]
pub struct ApiKey {
    pub location: ApiKeyIn,
    /// The header, query parameter or cookie name.
    pub name: &'static str,
    /// Lines `consumer:key` or `consumer:sha256:<64 hex>`.
    pub keys: KeySource,
    /// Remove the key (the header, the cookie or the query pair) before forwarding, so
    /// that it does not land in upstream logs.
    pub strip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyIn {
    Header,
    Query,
    Cookie,
}

/// The schemes with their key material, ready to verify requests.
pub struct Verifiers {
    schemes: Vec<(&'static str, Verifier)>,
    /// The schemes whose keys come from a JWKS URL.
    jwks: JwksSet,
    /// Every header any JWT scheme sets from a claim (`forward_claims`).
    claim_headers: Vec<HeaderName>,
    /// Where the API keys of the schemes with `strip: true` are sent, and their names.
    strip_keys: Vec<(ApiKeyIn, &'static str)>,
}

impl fmt::Debug for Verifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.schemes.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Verifiers")
            .field("schemes", &names)
            .finish()
    }
}

enum Verifier {
    Jwt {
        config: &'static Jwt,
        validation: Box<Validation>,
        keys: Keys,
        /// Tokens already verified (`tokens.rs`).
        verified: TokenCache<Credential>,
    },
    ApiKey {
        config: &'static ApiKey,
        /// (consumer, SHA-256 of the key).
        keys: Vec<(String, [u8; 32])>,
    },
    Basic {
        config: &'static Basic,
        verifier: Box<BasicVerifier>,
    },
}

/// A JWT scheme's keys: read once at start, or fetched from a JWKS URL and refreshed.
enum Keys {
    /// (kid, key); a key without `kid` matches a token without one.
    Fixed(KeyList),
    Fetched(Arc<JwksKeys>),
}

/// Installs jsonwebtoken's aws-lc crypto provider once (a second install is refused by
/// jsonwebtoken, which is fine: it is the same provider).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

impl Verifiers {
    /// Reads and checks the key material of every scheme; `read` returns the content of
    /// a key source. The error names the scheme and what is wrong.
    pub fn load(
        schemes: &'static [Scheme],
        read: impl Fn(KeySource) -> Result<String, String>,
    ) -> Result<Verifiers, String> {
        install_crypto_provider();
        let mut loaded = Vec::with_capacity(schemes.len());
        let mut jwks = Vec::new();
        let mut claim_headers: Vec<HeaderName> = Vec::new();
        let mut strip_keys = Vec::new();
        // Every scheme's problem at once: an operator fixing a deployment should not
        // have to restart once per missing variable.
        let mut errors = Vec::new();
        for scheme in schemes {
            let verifier = match scheme.kind {
                SchemeKind::Jwt(config) => match config.key {
                    KeySource::Jwks(source) => jwt_verifier(config, |algorithms| {
                        let keys = JwksKeys::new(scheme.name, source, algorithms, |what| {
                            read(match what {
                                Read::Env(name) => KeySource::Env(name),
                                Read::File(path) => KeySource::File(path),
                            })
                        })?;
                        let keys = Arc::new(keys);
                        jwks.push(keys.clone());
                        Ok(Keys::Fetched(keys))
                    }),
                    _ => read(config.key).and_then(|text| {
                        jwt_verifier(config, |algorithms| {
                            decoding_keys(algorithms, &text).map(Keys::Fixed)
                        })
                    }),
                },
                SchemeKind::ApiKey(config) => {
                    read(config.keys).and_then(|text| api_key_verifier(config, &text))
                }
                SchemeKind::Basic(config) => read(config.users)
                    .and_then(|text| basic::load(&text))
                    .map(|verifier| Verifier::Basic {
                        config,
                        verifier: Box::new(verifier),
                    }),
            };
            let verifier = match verifier {
                Ok(verifier) => verifier,
                Err(error) => {
                    errors.push(format!("auth scheme `{}`: {error}", scheme.name));
                    continue;
                }
            };
            if let SchemeKind::ApiKey(config) = scheme.kind
                && config.strip
            {
                strip_keys.push((config.location, config.name));
            }
            if let SchemeKind::Jwt(config) = scheme.kind {
                for (_, name) in config.forward_claims {
                    match HeaderName::from_bytes(name.as_bytes()) {
                        Ok(name) if !claim_headers.contains(&name) => claim_headers.push(name),
                        Ok(_) => {}
                        Err(_) => errors.push(format!(
                            "auth scheme `{}`: `{name}` is not a header name",
                            scheme.name
                        )),
                    }
                }
            }
            loaded.push((scheme.name, verifier));
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(Verifiers {
            schemes: loaded,
            jwks: JwksSet(jwks),
            claim_headers,
            strip_keys,
        })
    }

    /// The schemes whose keys come from a JWKS URL.
    pub(crate) fn jwks(&self) -> JwksSet {
        self.jwks.clone()
    }

    /// Fetches `scheme`'s JWKS again after a token named an unknown `kid`
    /// ([`Failure::UnknownKid`]), within the scheme's rate limit; concurrent callers share
    /// one fetch.
    pub(crate) async fn refetch(&self, scheme: &str) {
        if let Some(keys) = self.jwks.0.iter().find(|keys| keys.scheme == scheme) {
            keys.refetch().await;
        }
    }

    /// Does the slow part of `scheme`'s verification that `authenticate` asked for
    /// ([`Failure::UnknownKid`], [`Failure::PasswordPending`]): a JWKS refetch, or a
    /// password hash off the serving threads. `authenticate` then decides from memory.
    pub async fn settle(&self, scheme: &str, headers: &HeaderMap) {
        match self.get(scheme) {
            Some(Verifier::Basic { verifier, .. }) => verifier.check_password(headers).await,
            Some(Verifier::Jwt { .. }) => self.refetch(scheme).await,
            _ => {}
        }
    }

    /// Reads key sources from the process environment and the file system.
    pub fn load_from_env(schemes: &'static [Scheme]) -> Result<Verifiers, String> {
        Verifiers::load(schemes, |source| match source {
            KeySource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!("environment variable {name} is not set")),
            },
            KeySource::File(path) => std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read file {path}: {error}")),
            KeySource::Jwks(jwks) => Err(format!("{} is fetched, not read", jwks.url)),
        })
    }

    fn get(&self, name: &str) -> Option<&Verifier> {
        self.schemes
            .iter()
            .find(|(scheme, _)| *scheme == name)
            .map(|(_, verifier)| verifier)
    }

    /// Checks a route's requirements against the request.
    pub fn authenticate(
        &self,
        alternatives: &[&[Requirement]],
        headers: &HeaderMap,
        query: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)],
    ) -> Result<Authenticated, Failure> {
        // Each scheme is verified once per request, whatever the number of requirements
        // naming it.
        let mut seen: Vec<(&str, Result<Credential, Failure>)> = Vec::new();
        let mut worst = Failure::Missing;
        for alternative in alternatives {
            let mut granted = Vec::with_capacity(alternative.len());
            let mut failed = None;
            for requirement in *alternative {
                let outcome = match seen.iter().find(|(name, _)| *name == requirement.scheme) {
                    Some((_, outcome)) => outcome.clone(),
                    None => {
                        let outcome = match self.get(requirement.scheme) {
                            Some(verifier) => verifier.verify(requirement.scheme, headers, query),
                            // The generated table names only configured schemes.
                            None => Err(Failure::Invalid("unknown security scheme")),
                        };
                        seen.push((requirement.scheme, outcome.clone()));
                        outcome
                    }
                };
                match outcome {
                    Ok(credential) => {
                        let missing: Vec<&str> = requirement
                            .scopes
                            .iter()
                            .copied()
                            .filter(|scope| !credential.scopes.iter().any(|s| s == scope))
                            .collect();
                        if missing.is_empty() {
                            granted.push(credential);
                        } else {
                            failed = Some(Failure::InsufficientScope(requirement.scopes.join(" ")));
                            break;
                        }
                    }
                    Err(failure) => {
                        failed = Some(failure);
                        break;
                    }
                }
            }
            match failed {
                None => return Ok(granted_by(granted)),
                Some(failure) => {
                    if failure.rank() > worst.rank() {
                        worst = failure;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Removes from a client's request every header that some scheme sets from verified
    /// claims, on every route: an upstream trusts `x-user-id` wherever it comes from, so
    /// a public or API-key route of the same service must not carry the client's. Any
    /// spelling that differs only in `-` and `_` goes too: CGI-style servers read
    /// `x_user_id` as the same `HTTP_X_USER_ID`.
    pub fn strip_claim_headers(&self, headers: &mut HeaderMap) {
        if self.claim_headers.is_empty() {
            return;
        }
        // hyper bounds the number of headers (100), so this is at most 100 x the few
        // forwarded claims.
        let spoofed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                self.claim_headers
                    .iter()
                    .any(|claim| same_cgi_name(name.as_str(), claim.as_str()))
            })
            .cloned()
            .collect();
        for name in spoofed {
            headers.remove(name);
        }
    }

    /// Removes the API key of every scheme with `strip: true` (its header, its cookie or
    /// its query pair) from a request about to be forwarded, whatever the route: a client
    /// that sends its key everywhere sends it to public routes too.
    pub fn strip_api_keys(&self, parts: &mut http::request::Parts) {
        for &(location, name) in &self.strip_keys {
            match location {
                ApiKeyIn::Header => {
                    parts.headers.remove(name);
                }
                ApiKeyIn::Cookie => remove_cookie(&mut parts.headers, name),
                ApiKeyIn::Query => remove_query_pair(&mut parts.uri, name),
            }
        }
    }
}

/// What the credentials that granted access change in the forwarded request.
fn granted_by(granted: Vec<Credential>) -> Authenticated {
    let mut set = Vec::new();
    let mut strip_authorization = false;
    let mut consumer = None;
    let mut claims = None;
    for credential in granted {
        set.extend(credential.forward);
        strip_authorization |= credential.strip_authorization;
        if consumer.is_none() {
            consumer = credential.subject;
        }
        if claims.is_none() {
            claims = credential.claims;
        }
    }
    Authenticated {
        set,
        strip_authorization,
        consumer,
        claims,
    }
}

/// What a successful authentication changes in the forwarded request.
#[derive(Debug, Default)]
pub struct Authenticated {
    /// Headers set from verified claims (the client's were removed by
    /// [`Verifiers::strip_claim_headers`]).
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub strip_authorization: bool,
    /// The API key's consumer, or the token's `sub`.
    pub consumer: Option<String>,
    /// The verified claims of the first token that granted access.
    pub claims: Option<Claims>,
}

impl Authenticated {
    /// Applies the changes to the request's headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.append(name.clone(), value.clone());
        }
        if self.strip_authorization {
            headers.remove(header::AUTHORIZATION);
        }
    }
}

/// Removes the cookie `name` from every `Cookie` header, keeping the others as sent; a
/// header left empty goes. Pairs are read as `verify_api_key` reads them.
fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if !values.iter().any(|value| has_cookie(value, name)) {
        return;
    }
    headers.remove(header::COOKIE);
    for value in values {
        let Ok(text) = value.to_str() else {
            headers.append(header::COOKIE, value);
            continue;
        };
        let kept: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|pair| pair.split_once('=').is_none_or(|(key, _)| key != name))
            .filter(|pair| !pair.is_empty())
            .collect();
        if !kept.is_empty()
            && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
        {
            headers.append(header::COOKIE, value);
        }
    }
}

fn has_cookie(value: &HeaderValue, name: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|text| cookie_pairs(text).any(|(key, _)| key == name))
}

/// The `name=value` pairs of one `Cookie` header, as an API key is looked up in them.
fn cookie_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(';')
        .filter_map(|pair| pair.trim().split_once('='))
}

/// Removes every query pair whose decoded name is `name` (as the key was found), keeping
/// the others byte for byte.
fn remove_query_pair(uri: &mut http::Uri, name: &str) {
    let Some(query) = uri.query() else {
        return;
    };
    let is_key = |piece: &&str| {
        crate::check::params::parse_query(piece)
            .first()
            .is_some_and(|(key, _)| key == name)
    };
    if !query.split('&').any(|piece| is_key(&piece)) {
        return;
    }
    let kept: Vec<&str> = query.split('&').filter(|piece| !is_key(piece)).collect();
    let path = uri.path();
    let rebuilt = if kept.iter().all(|piece| piece.is_empty()) {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = http::uri::PathAndQuery::try_from(rebuilt) {
        parts.path_and_query = Some(path_and_query);
        if let Ok(stripped) = http::Uri::from_parts(parts) {
            *uri = stripped;
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No credentials for any alternative: a plain challenge.
    Missing,
    /// Credentials were sent but are unusable (malformed, duplicated).
    BadRequest(&'static str),
    /// Credentials were sent and are invalid.
    Invalid(&'static str),
    /// Valid credentials without the scopes required (space-separated).
    InsufficientScope(String),
    /// A bearer token for a JWKS scheme (named) whose first key set is not loaded yet:
    /// answered 503, since the token may well be valid.
    KeysNotLoaded(&'static str),
    /// The token names a `kid` the JWKS scheme (named) does not have, and a refetch is
    /// allowed: the server fetches the set again (`Verifiers::settle`) and retries once.
    /// Answered as an invalid token if it still stands.
    UnknownKid(&'static str),
    /// HTTP Basic credentials of the scheme (named) not verified yet: the server hashes
    /// the password (`Verifiers::settle`) and retries once. Answered as invalid
    /// credentials if it still stands.
    PasswordPending(&'static str),
}

impl Failure {
    /// Which failure is reported when every alternative failed: an invalid credential
    /// first (the client must know its token is bad), then missing scopes.
    fn rank(&self) -> u8 {
        match self {
            Failure::Missing => 0,
            Failure::InsufficientScope(_) => 1,
            Failure::BadRequest(_) => 2,
            Failure::Invalid(_) => 3,
            Failure::KeysNotLoaded(_) => 4,
            Failure::UnknownKid(_) => 5,
            Failure::PasswordPending(_) => 6,
        }
    }

    /// The status (401, 403, or 503 while keys are not loaded), the `WWW-Authenticate`
    /// value and the detail of the problem answering this failure. `challenge` is the
    /// route's plain challenge.
    pub fn answer(&self, challenge: &str) -> (http::StatusCode, String, String) {
        let bearer = challenge.starts_with("Bearer");
        let with = |error: &str, extra: &str| {
            if bearer {
                format!("{challenge}, error=\"{error}\"{extra}")
            } else {
                challenge.to_owned()
            }
        };
        match self {
            Failure::Missing => (
                http::StatusCode::UNAUTHORIZED,
                challenge.to_owned(),
                "this operation requires credentials".to_owned(),
            ),
            Failure::BadRequest(why) => (
                http::StatusCode::UNAUTHORIZED,
                with("invalid_request", ""),
                format!("the credentials are unusable: {why}"),
            ),
            Failure::Invalid(why) => (
                http::StatusCode::UNAUTHORIZED,
                with("invalid_token", ""),
                format!("the credentials are invalid: {why}"),
            ),
            Failure::UnknownKid(_) => (
                http::StatusCode::UNAUTHORIZED,
                with("invalid_token", ""),
                format!("the credentials are invalid: {UNKNOWN_KEY}"),
            ),
            Failure::PasswordPending(_) => (
                http::StatusCode::UNAUTHORIZED,
                challenge.to_owned(),
                "the credentials are invalid: the user name or password is wrong".to_owned(),
            ),
            Failure::KeysNotLoaded(scheme) => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                challenge.to_owned(),
                format!("the signing keys of `{scheme}` are not loaded yet; retry in a moment"),
            ),
            Failure::InsufficientScope(scopes) => (
                http::StatusCode::FORBIDDEN,
                with(
                    "insufficient_scope",
                    &format!(", scope=\"{}\"", scopes.replace(['"', '\\'], "")),
                ),
                format!("the credentials lack a required scope: {scopes}"),
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct Credential {
    scopes: Vec<String>,
    forward: Vec<(HeaderName, HeaderValue)>,
    strip_authorization: bool,
    subject: Option<String>,
    /// A token's verified claims (rate limits may count by one).
    claims: Option<Claims>,
}

/// The verified claims of a token, shared rather than copied.
pub type Claims = std::sync::Arc<serde_json::Map<String, serde_json::Value>>;

impl Verifier {
    fn verify(
        &self,
        scheme: &'static str,
        headers: &HeaderMap,
        query: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)],
    ) -> Result<Credential, Failure> {
        match self {
            Verifier::Jwt {
                config,
                validation,
                keys,
                verified,
            } => verify_jwt(config, validation, keys, verified, headers),
            Verifier::ApiKey { config, keys } => verify_api_key(config, keys, headers, query),
            Verifier::Basic { config, verifier } => match verifier.verify(headers) {
                Verdict::User(user) => Ok(Credential {
                    scopes: Vec::new(),
                    forward: Vec::new(),
                    strip_authorization: !config.forward_authorization,
                    subject: Some(user.to_string()),
                    claims: None,
                }),
                Verdict::Pending => Err(Failure::PasswordPending(scheme)),
                Verdict::Malformed(why) => Err(Failure::BadRequest(why)),
                Verdict::Missing => Err(Failure::Missing),
            },
        }
    }
}

/// The failure detail of a token whose key is not among the scheme's.
const UNKNOWN_KEY: &str = "the token's key is unknown";

/// Checks the scheme's algorithms, then gets its keys from `keys` (given the algorithms,
/// all of one family).
fn jwt_verifier(
    config: &'static Jwt,
    keys: impl FnOnce(&[Algorithm]) -> Result<Keys, String>,
) -> Result<Verifier, String> {
    let mut algorithms = Vec::new();
    for name in config.algorithms {
        let algorithm: Algorithm = name
            .parse()
            .map_err(|_| format!("`{name}` is not a supported JWT algorithm"))?;
        algorithms.push(algorithm);
    }
    let Some(&first) = algorithms.first() else {
        return Err("no algorithm is allowed".to_owned());
    };
    if algorithms.iter().any(|a| a.family() != first.family()) {
        return Err("the algorithms mix families".to_owned());
    }
    let keys = keys(&algorithms)?;
    let mut validation = Validation::new(first);
    validation.algorithms = algorithms;
    validation.leeway = config.leeway_secs;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.required_spec_claims = ["exp".to_owned()].into();
    if let Some(issuer) = config.issuer {
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims.insert("iss".to_owned());
    }
    if config.audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(config.audiences);
        validation.required_spec_claims.insert("aud".to_owned());
    }
    Ok(Verifier::Jwt {
        config,
        validation: Box::new(validation),
        keys,
        verified: TokenCache::new(),
    })
}

/// Parses key material for `algorithms` (all one family): a PEM key, an HMAC secret, or
/// a JWK or JWK set, whose keys are filtered as a fetched set's are.
fn decoding_keys(algorithms: &[Algorithm], text: &str) -> Result<KeyList, String> {
    let algorithm = *algorithms.first().ok_or("no algorithm is allowed")?;
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| format!("the key is not valid JSON: {e}"))?;
        let jwks: Vec<Jwk> = if value.get("keys").is_some() {
            serde_json::from_value::<JwkSet>(value)
                .map_err(|e| format!("the JWKS is invalid: {e}"))?
                .keys
        } else {
            vec![serde_json::from_value(value).map_err(|e| format!("the JWK is invalid: {e}"))?]
        };
        let mut keys = Vec::new();
        for jwk in &jwks {
            if let Some(key) = jwks::signing_key(jwk, algorithms)? {
                keys.push((jwk.common.key_id.clone(), key));
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "the JWK(S) has no key for {algorithms:?} (keys for encryption or for another algorithm are skipped)"
            ));
        }
        return Ok(keys);
    }
    let key = match algorithm.family() {
        AlgorithmFamily::Hmac => {
            if trimmed.contains("-----BEGIN") {
                return Err("an HMAC secret must not be a PEM document".to_owned());
            }
            if trimmed.len() < 32 {
                return Err("the HMAC secret is shorter than 32 bytes".to_owned());
            }
            DecodingKey::from_secret(trimmed.as_bytes())
        }
        AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(trimmed.as_bytes())
            .map_err(|e| format!("not an RSA public key in PEM: {e}"))?,
        AlgorithmFamily::Ec => DecodingKey::from_ec_pem(trimmed.as_bytes())
            .map_err(|e| format!("not an EC public key in PEM: {e}"))?,
        AlgorithmFamily::Ed => DecodingKey::from_ed_pem(trimmed.as_bytes())
            .map_err(|e| format!("not an Ed25519 public key in PEM: {e}"))?,
    };
    Ok(vec![(None, key)])
}

fn verify_jwt(
    config: &'static Jwt,
    validation: &Validation,
    keys: &Keys,
    verified: &TokenCache<Credential>,
    headers: &HeaderMap,
) -> Result<Credential, Failure> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Failure::Missing);
    };
    if values.next().is_some() {
        return Err(Failure::BadRequest("more than one Authorization header"));
    }
    let value = value.as_bytes();
    let Some((scheme, token)) = value.split_at_checked(7) else {
        return Err(Failure::Missing);
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        // Another scheme's credentials (e.g. Basic): no bearer token was sent.
        return Err(Failure::Missing);
    }
    let token = token.trim_ascii();
    if token.len() > config.max_token {
        return Err(Failure::Invalid("the token is too large"));
    }
    let token =
        std::str::from_utf8(token).map_err(|_| Failure::Invalid("the token is malformed"))?;
    let key_set: crate::edge::auth::tokens::KeySet = match keys {
        Keys::Fixed(_) => None,
        Keys::Fetched(jwks) => match jwks.current() {
            Some(list) => Some(list),
            None => return Err(Failure::KeysNotLoaded(jwks.scheme)),
        },
    };
    if let Some(credential) = verified.get(token, &key_set) {
        return Ok(credential);
    }
    let list: &KeyList = match (keys, &key_set) {
        (Keys::Fixed(list), _) => list,
        (Keys::Fetched(_), Some(list)) => list,
        (Keys::Fetched(jwks), None) => return Err(Failure::KeysNotLoaded(jwks.scheme)),
    };
    let head = jsonwebtoken::decode_header(token)
        .map_err(|_| Failure::Invalid("the token is malformed"))?;
    if !validation.algorithms.contains(&head.alg) {
        return Err(Failure::Invalid("the token's algorithm is not accepted"));
    }
    // RFC 7515 4.1.11: extensions the recipient must understand; this gateway knows none.
    if head.crit.is_some() {
        return Err(Failure::Invalid(
            "the token names critical header extensions (`crit`)",
        ));
    }
    // RFC 8725 3.11: explicit typing keeps an ID token or a logout event from being
    // replayed as an access token.
    if let Some(typ) = &head.typ
        && !config.types.iter().any(|accepted| same_type(typ, accepted))
    {
        return Err(Failure::Invalid("the token's type (`typ`) is not accepted"));
    }
    let key = match &head.kid {
        Some(kid) => list
            .iter()
            .find(|(id, _)| id.as_deref() == Some(kid.as_str()))
            .or_else(|| (list.len() == 1 && list[0].0.is_none()).then(|| &list[0])),
        None if list.len() == 1 => list.first(),
        None => None,
    };
    let Some((_, key)) = key else {
        return Err(match keys {
            // A new key may have been published since the last fetch.
            Keys::Fetched(jwks) if head.kid.is_some() && jwks.may_refetch() => {
                Failure::UnknownKid(jwks.scheme)
            }
            _ => Failure::Invalid(UNKNOWN_KEY),
        });
    };
    let data =
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, key, validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                Failure::Invalid(match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    _ => "the token is invalid",
                })
            })?;
    let claims = data.claims;
    let scopes = match (claims.get("scope"), claims.get("scp")) {
        (Some(serde_json::Value::String(scope)), _) => {
            scope.split_ascii_whitespace().map(str::to_owned).collect()
        }
        (_, Some(serde_json::Value::Array(scp))) => scp
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        (_, Some(serde_json::Value::String(scp))) => {
            scp.split_ascii_whitespace().map(str::to_owned).collect()
        }
        _ => Vec::new(),
    };
    let mut forward = Vec::new();
    for (claim, name) in config.forward_claims {
        let text = match claims.get(*claim) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&text),
        ) {
            forward.push((name, value));
        }
    }
    // `exp` is required and was just checked to be a number.
    let until = claims
        .get("exp")
        .and_then(|exp| exp.as_u64().or_else(|| exp.as_f64().map(|f| f as u64)))
        .map(|exp| exp.saturating_add(validation.leeway));
    let credential = Credential {
        scopes,
        forward,
        strip_authorization: config.strip_authorization,
        subject: claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        claims: Some(std::sync::Arc::new(claims)),
    };
    if let Some(until) = until {
        verified.insert(token, key_set.clone(), until, credential.clone());
    }
    Ok(credential)
}

fn api_key_verifier(config: &'static ApiKey, text: &str) -> Result<Verifier, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_no = number + 1;
        let Some((consumer, key)) = line.split_once(':') else {
            return Err(format!(
                "line {line_no}: expected `consumer:key` or `consumer:sha256:<hex>`"
            ));
        };
        if consumer.is_empty() || key.is_empty() {
            return Err(format!(
                "line {line_no}: the consumer and the key must not be empty"
            ));
        }
        let hash = match key.strip_prefix("sha256:") {
            Some(hex) => parse_sha256(hex).ok_or_else(|| {
                format!("line {line_no}: `sha256:` must be followed by 64 hex digits")
            })?,
            None => Sha256::digest(key.as_bytes()).into(),
        };
        keys.push((consumer.to_owned(), hash));
    }
    if keys.is_empty() {
        return Err("no API key is configured".to_owned());
    }
    Ok(Verifier::ApiKey { config, keys })
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn verify_api_key(
    config: &'static ApiKey,
    keys: &[(String, [u8; 32])],
    headers: &HeaderMap,
    query: &[(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)],
) -> Result<Credential, Failure> {
    let presented: Vec<Vec<u8>> = match config.location {
        ApiKeyIn::Header => headers
            .get_all(config.name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect(),
        ApiKeyIn::Query => query
            .iter()
            .filter(|(name, _)| name == config.name)
            .map(|(_, value)| value.as_bytes().to_vec())
            .collect(),
        ApiKeyIn::Cookie => headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie_pairs)
            .filter(|(name, _)| *name == config.name)
            .map(|(_, value)| value.as_bytes().to_vec())
            .collect(),
    };
    let key = match presented.as_slice() {
        [] => return Err(Failure::Missing),
        [key] => key,
        _ => return Err(Failure::BadRequest("more than one API key")),
    };
    let hash: [u8; 32] = Sha256::digest(key).into();
    // Every stored hash is compared, in constant time, with no early exit.
    let mut found: Option<&str> = None;
    for (consumer, stored) in keys {
        let equal = constant_time_eq(&hash, stored);
        found = if equal && found.is_none() {
            Some(consumer)
        } else {
            found
        };
    }
    match found {
        Some(consumer) => Ok(Credential {
            scopes: Vec::new(),
            forward: Vec::new(),
            strip_authorization: false,
            subject: Some(consumer.to_owned()),
            claims: None,
        }),
        None => Err(Failure::Invalid("the API key is not known")),
    }
}

/// Whether two media types name the same token type: case-insensitive, and
/// `application/` may be left out (RFC 7515 4.1.9).
fn same_type(a: &str, b: &str) -> bool {
    let bare = |t: &str| {
        let t = t.trim();
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t[12..].to_owned(),
            _ => t.to_owned(),
        }
    };
    bare(a).eq_ignore_ascii_case(&bare(b))
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}
