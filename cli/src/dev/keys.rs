//! Development key material for the manifest's `auth` schemes, and the credentials that
//! go with it: a key pair (or HMAC secret) per JWT key source, of the family the scheme's
//! `algorithms` name, a token signed with it carrying the scheme's issuer, audiences and
//! every scope its routes require, an API key per key source, and a user with a random
//! password per htpasswd source.
//!
//! The gateway reads key material where the manifest says, and `gateway dev` puts it
//! there: an `*_env` variable is set in the gateway's environment under the manifest's
//! own name; a `*_file` is written under the work folder and the scheme is pointed at it
//! (the manifest's path may be anywhere, such as /etc); a JWKS scheme fetches from the
//! JWKS this process serves on loopback (the runtime accepts plain http there), its URL
//! given through `jwks_url_env` or, for a literal `jwks_url`, compiled in instead.
//!
//! Keys live as long as the `gateway dev` process, across reloads, so tokens printed at
//! start keep working; tokens are minted again on each reload (issuers and scopes may have
//! changed). Nothing here is for anything but development: the keys are printed, and
//! written unencrypted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::ir::{self, Gateway, ParamIn};
use crate::load::{AuthKind, JwksUrl, KeySource, Manifest};

/// How long a printed token is valid.
const TOKEN_LIFETIME_SECS: u64 = 12 * 3600;
/// The `sub` of every development token.
pub const DEV_SUBJECT: &str = "dev-user";
/// The consumer name of every development API key.
pub const DEV_CONSUMER: &str = "dev";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Family {
    fn of(algorithm: &str) -> Option<Family> {
        Some(match algorithm {
            "HS256" | "HS384" | "HS512" => Family::Hmac,
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Family::Rsa,
            "ES256" => Family::P256,
            "ES384" => Family::P384,
            "EdDSA" => Family::Ed25519,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Family::Hmac => "HMAC secret (48 random bytes, hex)",
            Family::Rsa => "RSA 2048 key pair",
            Family::P256 => "ECDSA P-256 key pair",
            Family::P384 => "ECDSA P-384 key pair",
            Family::Ed25519 => "Ed25519 key pair",
        }
    }
}

/// One generated signing key.
struct SigningKey {
    family: Family,
    encoding: EncodingKey,
    /// What the gateway verifies with: a PEM public key, or the HMAC secret.
    public: String,
    /// The raw public key (Ed25519: its 32 bytes), for a JWK.
    raw_public: Vec<u8>,
    kid: String,
}

/// The public JWK of `key` for `algorithm`. jsonwebtoken describes RSA and EC keys itself;
/// an Ed25519 key from aws-lc is a PKCS#8 v2 document it does not read, so its JWK is
/// made from the raw public key (RFC 8037).
fn jwk_of(key: &SigningKey, algorithm: &str) -> Result<Jwk, String> {
    use base64::Engine;
    use jsonwebtoken::jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, KeyAlgorithm, OctetKeyPairParameters,
        OctetKeyPairType,
    };
    let mut jwk = if key.family == Family::Ed25519 {
        Jwk {
            common: CommonParameters {
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.raw_public),
            }),
        }
    } else {
        Jwk::from_encoding_key(&key.encoding, algorithm_of(algorithm)).map_err(|e| e.to_string())?
    };
    jwk.common.key_id = Some(key.kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// The keys of one `gateway dev` process, by key source.
#[derive(Default)]
pub struct Keys {
    signing: BTreeMap<String, Arc<SigningKey>>,
    api_keys: BTreeMap<String, String>,
    /// (password, htpasswd line) by source.
    passwords: BTreeMap<String, (String, String)>,
}

/// What the gateway needs, and what a developer is told, for one build.
#[derive(Default)]
pub struct Material {
    /// Variables for the gateway's environment.
    pub env: BTreeMap<String, String>,
    /// Files to write before the gateway starts (absolute path, contents).
    pub files: Vec<(std::path::PathBuf, String)>,
    /// JWK sets to serve, by scheme.
    pub jwks: BTreeMap<String, Value>,
    /// One line per key source, saying what was generated, where it went and for which
    /// schemes.
    pub notes: Vec<String>,
    /// (where, what, schemes), before they are lines.
    sources: Vec<(String, String, Vec<String>)>,
    signing: BTreeMap<String, Arc<SigningKey>>,
    api_keys: BTreeMap<String, String>,
    /// The development user's password, by scheme.
    passwords: BTreeMap<String, String>,
}

/// A credential to print, for one scheme.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    Token {
        scheme: String,
        token: String,
        scopes: Vec<String>,
    },
    ApiKey {
        scheme: String,
        key: String,
        location: ParamIn,
        name: String,
    },
    Basic {
        scheme: String,
        user: String,
        password: String,
    },
}

impl Credential {
    pub fn scheme(&self) -> &str {
        match self {
            Credential::Token { scheme, .. }
            | Credential::ApiKey { scheme, .. }
            | Credential::Basic { scheme, .. } => scheme,
        }
    }
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer)
        .map_err(|_| "the system random generator failed".to_owned())?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

fn generate(family: Family) -> Result<SigningKey, String> {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let kid = format!("dev-{}", random_hex(4)?);
    if family == Family::Hmac {
        let secret = random_hex(48)?;
        return Ok(SigningKey {
            family,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            public: secret,
            raw_public: Vec::new(),
            kid,
        });
    }
    let algorithm = match family {
        Family::Rsa => &rcgen::PKCS_RSA_SHA256,
        Family::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Family::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        _ => &rcgen::PKCS_ED25519,
    };
    let pair = rcgen::KeyPair::generate_for(algorithm)
        .map_err(|e| format!("cannot generate a key pair: {e}"))?;
    let private = pair.serialize_pem();
    let encoding = match family {
        Family::Rsa => EncodingKey::from_rsa_pem(private.as_bytes()),
        Family::P256 | Family::P384 => EncodingKey::from_ec_pem(private.as_bytes()),
        _ => EncodingKey::from_ed_pem(private.as_bytes()),
    }
    .map_err(|e| format!("cannot read the generated key: {e}"))?;
    Ok(SigningKey {
        family,
        encoding,
        public: pair.public_key_pem(),
        raw_public: pair.public_key_raw().to_vec(),
        kid,
    })
}

fn source_id(source: &KeySource) -> String {
    match source {
        KeySource::Env(name) => format!("env {name}"),
        KeySource::File(path) => format!("file {path}"),
        KeySource::Jwks(jwks) => match &jwks.url {
            JwksUrl::Env(name) => format!("jwks env {name}"),
            JwksUrl::Literal(url) => format!("jwks {url}"),
        },
    }
}

impl Keys {
    /// Generates what the manifest's schemes need (reusing this process's keys) and
    /// points the schemes' files and JWKS URLs at it. `jwks_base` is the URL the JWK sets
    /// are served under; `dir` the folder for key files.
    pub fn prepare(
        &mut self,
        manifest: &mut Manifest,
        jwks_base: &str,
        dir: &Path,
    ) -> Result<Material, String> {
        let mut material = Material::default();
        // A variable or file shared by schemes holds one key: the families must agree.
        let mut families: BTreeMap<String, (Family, String)> = BTreeMap::new();
        for scheme in &mut manifest.auth {
            match &mut scheme.kind {
                AuthKind::Jwt(jwt) => {
                    let algorithm = jwt.algorithms.first().cloned().unwrap_or_default();
                    let family = Family::of(&algorithm).ok_or_else(|| {
                        format!("auth `{}`: unknown algorithm `{algorithm}`", scheme.name)
                    })?;
                    let id = source_id(&jwt.key);
                    if let Some((other, first)) = families.get(&id)
                        && *other != family
                    {
                        return Err(format!(
                            "auth `{first}` and `{}` read their keys from the same {id} but use different algorithm families; the gateway cannot start with one key for both",
                            scheme.name
                        ));
                    }
                    families.insert(id.clone(), (family, scheme.name.clone()));
                    let key = match self.signing.get(&id).filter(|k| k.family == family) {
                        Some(key) => key.clone(),
                        None => {
                            let key = Arc::new(generate(family)?);
                            self.signing.insert(id.clone(), key.clone());
                            key
                        }
                    };
                    material.signing.insert(scheme.name.clone(), key.clone());
                    match &mut jwt.key {
                        KeySource::Env(name) => {
                            material.env.insert(name.clone(), key.public.clone());
                            material.note(
                                name,
                                format!("{} (the public half)", family.describe()),
                                &scheme.name,
                            );
                        }
                        KeySource::File(original) => {
                            let extension = if family == Family::Hmac {
                                "secret"
                            } else {
                                "pem"
                            };
                            let path = dir.join(format!("{}.{extension}", scheme.name));
                            material.note(
                                &path.display().to_string(),
                                format!(
                                    "{} (the public half; the manifest's key_file {original} is not touched)",
                                    family.describe()
                                ),
                                &scheme.name,
                            );
                            material.files.push((path.clone(), key.public.clone()));
                            *original = path.display().to_string();
                        }
                        KeySource::Jwks(jwks) => {
                            let url = format!("{jwks_base}/{}.json", scheme.name);
                            let jwk = jwk_of(&key, &algorithm).map_err(|e| {
                                format!(
                                    "cannot describe the key of `{}` as a JWK: {e}",
                                    scheme.name
                                )
                            })?;
                            let set = JwkSet { keys: vec![jwk] };
                            material.jwks.insert(
                                scheme.name.clone(),
                                serde_json::to_value(&set).unwrap_or_else(|_| json!({"keys": []})),
                            );
                            match &mut jwks.url {
                                JwksUrl::Env(name) => {
                                    material.env.insert(name.clone(), url.clone());
                                    material.note(
                                        name,
                                        format!("{url}, a JWKS of one {}", family.describe()),
                                        &scheme.name,
                                    );
                                }
                                JwksUrl::Literal(original) => {
                                    material.note(
                                        "jwks_url",
                                        format!(
                                            "{url} in the development build, a JWKS of one {} (the manifest says {original})",
                                            family.describe()
                                        ),
                                        &scheme.name,
                                    );
                                    *original = url;
                                }
                            }
                            jwks.ca_file = None;
                        }
                    }
                }
                AuthKind::ApiKey { keys, .. } => {
                    let id = source_id(keys);
                    if families.contains_key(&id) {
                        return Err(format!(
                            "auth `{}` reads API keys from the {id} a JWT scheme reads its key from",
                            scheme.name
                        ));
                    }
                    let key = match self.api_keys.get(&id) {
                        Some(key) => key.clone(),
                        None => {
                            let key = format!("dev-{}", random_hex(16)?);
                            self.api_keys.insert(id.clone(), key.clone());
                            key
                        }
                    };
                    material.api_keys.insert(scheme.name.clone(), key.clone());
                    let line = format!("{DEV_CONSUMER}:{key}\n");
                    let what = format!("one API key (consumer `{DEV_CONSUMER}`)");
                    material.place(keys, line, what, "keys_file", &scheme.name, dir);
                }
                AuthKind::Basic { users, .. } => {
                    let id = source_id(users);
                    if families.contains_key(&id) || self.api_keys.contains_key(&id) {
                        return Err(format!(
                            "auth `{}` reads its users from the {id} another scheme reads its keys from",
                            scheme.name
                        ));
                    }
                    let (password, line) = match self.passwords.get(&id) {
                        Some(known) => known.clone(),
                        None => {
                            let password = format!("dev-{}", random_hex(12)?);
                            // The lowest cost bcrypt allows: the password is printed
                            // anyway, and a debug build hashes slowly.
                            let hash = bcrypt::hash(&password, 4)
                                .map_err(|e| format!("cannot hash a password: {e}"))?;
                            let known = (password, format!("{DEV_CONSUMER}:{hash}\n"));
                            self.passwords.insert(id.clone(), known.clone());
                            known
                        }
                    };
                    material.passwords.insert(scheme.name.clone(), password);
                    let what = format!("one user `{DEV_CONSUMER}` (a bcrypt hash)");
                    material.place(users, line, what, "users_file", &scheme.name, dir);
                }
            }
        }
        material.notes = material
            .sources
            .iter()
            .map(|(place, what, schemes)| {
                let schemes: Vec<String> = schemes.iter().map(|s| format!("`{s}`")).collect();
                format!("{place}: {what}, for {}", schemes.join(", "))
            })
            .collect();
        Ok(material)
    }
}

impl Material {
    /// Puts `text` where the scheme reads it: in the variable the manifest names, or in
    /// a file under `dir` the scheme is pointed at (the manifest's own file, maybe under
    /// /etc, is not touched).
    fn place(
        &mut self,
        source: &mut KeySource,
        text: String,
        what: String,
        file_key: &str,
        scheme: &str,
        dir: &Path,
    ) {
        match source {
            KeySource::Env(name) => {
                self.env.insert(name.clone(), text);
                self.note(name, what, scheme);
            }
            KeySource::File(original) => {
                let path = dir.join(format!("{scheme}.keys"));
                self.note(
                    &path.display().to_string(),
                    format!("{what}; the manifest's {file_key} {original} is not touched"),
                    scheme,
                );
                self.files.push((path.clone(), text));
                *original = path.display().to_string();
            }
            KeySource::Jwks(_) => {}
        }
    }

    /// Records what went to `place` for `scheme`; schemes sharing a place share a line.
    fn note(&mut self, place: &str, what: String, scheme: &str) {
        match self
            .sources
            .iter_mut()
            .find(|(p, w, _)| p == place && *w == what)
        {
            Some((_, _, schemes)) => schemes.push(scheme.to_owned()),
            None => self
                .sources
                .push((place.to_owned(), what, vec![scheme.to_owned()])),
        }
    }
}

fn algorithm_of(name: &str) -> Algorithm {
    name.parse().unwrap_or(Algorithm::RS256)
}

/// Every scope the routes require of `scheme`, sorted.
fn scopes_of(gateway: &Gateway, scheme: &str) -> Vec<String> {
    let mut scopes: Vec<String> = gateway
        .routes
        .iter()
        .filter_map(|route| match &route.auth {
            ir::Auth::Required { alternatives, .. } => Some(alternatives),
            ir::Auth::Public => None,
        })
        .flatten()
        .flatten()
        .filter(|requirement| requirement.scheme == scheme)
        .flat_map(|requirement| requirement.scopes.iter().cloned())
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

impl Material {
    /// A credential per scheme of the gateway: tokens signed now, valid for 12 hours.
    pub fn credentials(&self, gateway: &Gateway, now_secs: u64) -> Result<Vec<Credential>, String> {
        let mut credentials = Vec::new();
        for scheme in &gateway.schemes {
            match &scheme.kind {
                ir::SchemeKind::Jwt(jwt) => {
                    let Some(key) = self.signing.get(&scheme.name) else {
                        continue;
                    };
                    let scopes = scopes_of(gateway, &scheme.name);
                    let token = mint(key, jwt, &scopes, now_secs)
                        .map_err(|e| format!("cannot sign a token for `{}`: {e}", scheme.name))?;
                    credentials.push(Credential::Token {
                        scheme: scheme.name.clone(),
                        token,
                        scopes,
                    });
                }
                ir::SchemeKind::ApiKey { location, name, .. } => {
                    let Some(key) = self.api_keys.get(&scheme.name) else {
                        continue;
                    };
                    credentials.push(Credential::ApiKey {
                        scheme: scheme.name.clone(),
                        key: key.clone(),
                        location: *location,
                        name: name.clone(),
                    });
                }
                ir::SchemeKind::Basic { .. } => {
                    let Some(password) = self.passwords.get(&scheme.name) else {
                        continue;
                    };
                    credentials.push(Credential::Basic {
                        scheme: scheme.name.clone(),
                        user: DEV_CONSUMER.to_owned(),
                        password: password.clone(),
                    });
                }
            }
        }
        Ok(credentials)
    }
}

fn mint(
    key: &SigningKey,
    jwt: &ir::Jwt,
    scopes: &[String],
    now: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let algorithm = algorithm_of(
        jwt.algorithms
            .first()
            .map(String::as_str)
            .unwrap_or("RS256"),
    );
    let mut header = Header::new(algorithm);
    header.kid = matches!(jwt.key, ir::KeySource::Jwks(_)).then(|| key.kid.clone());
    if !jwt.types.iter().any(|t| t.eq_ignore_ascii_case("JWT")) {
        header.typ = jwt.types.first().cloned();
    }
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!(DEV_SUBJECT));
    if let Some(issuer) = &jwt.issuer {
        claims.insert("iss".into(), json!(issuer));
    }
    match jwt.audiences.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + TOKEN_LIFETIME_SECS));
    if !scopes.is_empty() {
        claims.insert("scope".into(), json!(scopes.join(" ")));
    }
    // Claims the scheme forwards as headers get a value too, so the upstream sees them.
    for (claim, _) in &jwt.forward_claims {
        claims
            .entry(claim.clone())
            .or_insert_with(|| json!(format!("dev-{claim}")));
    }
    jsonwebtoken::encode(&header, &Value::Object(claims), &key.encoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn decoding(family: Family, public: &str) -> DecodingKey {
        match family {
            Family::Hmac => DecodingKey::from_secret(public.as_bytes()),
            Family::Rsa => DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
            Family::P256 | Family::P384 => DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
            Family::Ed25519 => DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
        }
    }

    /// Every family signs a token that its public half (as the gateway reads it) verifies,
    /// with the scheme's issuer, audience and scopes.
    #[test]
    fn tokens_of_every_family_verify_with_what_the_gateway_is_given() {
        for algorithm in ["HS256", "RS256", "PS384", "ES256", "ES384", "EdDSA"] {
            let family = Family::of(algorithm).unwrap();
            let key = generate(family).unwrap();
            let jwt = ir::Jwt {
                algorithms: vec![algorithm.into()],
                key: ir::KeySource::Env("K".into()),
                issuer: Some("https://id.example.com".into()),
                audiences: vec!["shop".into()],
                leeway_secs: 0,
                max_token: 8192,
                types: vec!["JWT".into()],
                forward_claims: vec![("tenant".into(), "x-tenant".into())],
                strip_authorization: false,
            };
            let now = jsonwebtoken::get_current_timestamp();
            let token = mint(&key, &jwt, &["a:b".into(), "c".into()], now).unwrap();
            let mut validation = Validation::new(algorithm.parse().unwrap());
            validation.set_issuer(&["https://id.example.com"]);
            validation.set_audience(&["shop"]);
            let data =
                jsonwebtoken::decode::<Value>(&token, &decoding(family, &key.public), &validation)
                    .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
            assert_eq!(data.claims["sub"], DEV_SUBJECT);
            assert_eq!(data.claims["scope"], "a:b c");
            assert_eq!(data.claims["tenant"], "dev-tenant");
            assert_eq!(data.claims["exp"].as_u64(), Some(now + TOKEN_LIFETIME_SECS));
            if family == Family::Hmac {
                assert!(key.public.len() >= 32);
            } else {
                assert!(
                    key.public.starts_with("-----BEGIN PUBLIC KEY-----"),
                    "{}",
                    key.public
                );
            }
        }
    }

    /// The served JWK verifies the token, with the `kid` the token names.
    #[test]
    fn jwks_verify_the_tokens() {
        for algorithm in ["HS384", "RS256", "ES256", "ES384", "EdDSA"] {
            let family = Family::of(algorithm).unwrap();
            let key = generate(family).unwrap();
            let token = jsonwebtoken::encode(
                &Header {
                    kid: Some(key.kid.clone()),
                    ..Header::new(algorithm_of(algorithm))
                },
                &json!({"sub": "s", "exp": jsonwebtoken::get_current_timestamp() + 60}),
                &key.encoding,
            )
            .unwrap();
            let jwk = jwk_of(&key, algorithm).unwrap_or_else(|e| panic!("{algorithm}: {e}"));
            assert_eq!(jwk.common.key_id.as_deref(), Some(key.kid.as_str()));
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(algorithm_of(algorithm));
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
                .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        }
    }
}

#[cfg(test)]
mod prepare_tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::load::Sources;

    /// fixtures/valid/basic names a key file, an API-key variable and a literal JWKS URL
    /// with a CA file: the file and the URL are pointed at development material, the
    /// variable is set, and a second call reuses the keys.
    #[test]
    fn files_variables_and_jwks_urls_get_development_material() {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/valid/basic/gateway.yaml");
        let loaded =
            crate::load::load(&manifest, &mut Sources::new(), &mut Diagnostics::default()).unwrap();
        let mut keys = Keys::default();
        let dir = Path::new("/work/keys");
        let mut patched = loaded.manifest.clone();
        let material = keys
            .prepare(&mut patched, "http://127.0.0.1:1/jwks", dir)
            .unwrap();
        let kinds: BTreeMap<&str, &AuthKind> = patched
            .auth
            .iter()
            .map(|s| (s.name.as_str(), &s.kind))
            .collect();
        let AuthKind::Jwt(bearer) = kinds["bearer"] else {
            panic!()
        };
        assert_eq!(bearer.key, KeySource::File("/work/keys/bearer.pem".into()));
        let AuthKind::Jwt(partner) = kinds["partner"] else {
            panic!()
        };
        let KeySource::Jwks(jwks) = &partner.key else {
            panic!()
        };
        assert_eq!(
            jwks.url,
            JwksUrl::Literal("http://127.0.0.1:1/jwks/partner.json".into())
        );
        assert_eq!(jwks.ca_file, None);
        assert_eq!(material.files.len(), 1);
        assert!(
            material.files[0]
                .1
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(material.env["CATALOG_API_KEYS"].starts_with("dev:dev-"));
        assert_eq!(material.jwks["partner"]["keys"][0]["crv"], "P-256");
        assert_eq!(material.notes.len(), 3, "{:#?}", material.notes);
        let again = keys
            .prepare(&mut loaded.manifest.clone(), "http://127.0.0.1:1/jwks", dir)
            .unwrap();
        assert_eq!(again.env, material.env);
        assert_eq!(again.files, material.files);
    }

    #[test]
    fn one_variable_for_two_families_is_refused() {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/valid/basic/gateway.yaml");
        let loaded =
            crate::load::load(&manifest, &mut Sources::new(), &mut Diagnostics::default()).unwrap();
        let mut patched = loaded.manifest.clone();
        for scheme in &mut patched.auth {
            if let AuthKind::Jwt(jwt) = &mut scheme.kind {
                jwt.key = KeySource::Env("SHARED".into());
            }
        }
        let error = Keys::default()
            .prepare(&mut patched, "http://x", Path::new("/k"))
            .err()
            .unwrap();
        assert!(
            error.contains("SHARED") && error.contains("families"),
            "{error}"
        );
    }
}
