//! The attack suite of credential verification: every way a token or key can be wrong is
//! refused, with the right failure; right ones pass with their scopes and claims.

use std::borrow::Cow;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use openapi_gateway_runtime::Requirement;
use openapi_gateway_runtime::auth::{
    ApiKey, ApiKeyIn, Failure, Jwt, KeySource, Scheme, SchemeKind, Verifiers,
};
use openapi_gateway_runtime::params::parse_query;
use serde_json::json;

const RSA_PRIVATE: &str = include_str!("keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("keys/rsa_public.pem");
const HS_SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";
/// RFC 7515 appendix A.1: the HS256 example key (a JWK) and token (its `exp` is 2011).
const RFC7515_JWK: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
const RFC7515_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static RS: Jwt = Jwt {
    algorithms: &["RS256"],
    key: KeySource::Env("RSA"),
    issuer: Some("https://id.example.com"),
    audiences: &["shop"],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[("sub", "x-user-id")],
    strip_authorization: true,
};
static JWKS: Jwt = Jwt {
    algorithms: &["RS256"],
    key: KeySource::Env("JWKS"),
    issuer: None,
    audiences: &[],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[],
    strip_authorization: false,
};
static HS: Jwt = Jwt {
    algorithms: &["HS256"],
    key: KeySource::Env("HS"),
    issuer: None,
    audiences: &[],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[],
    strip_authorization: false,
};
static RFC: Jwt = Jwt {
    algorithms: &["HS256"],
    key: KeySource::Env("RFC"),
    issuer: None,
    audiences: &[],
    leeway_secs: 0,
    max_token: 8192,
    types: &["JWT", "at+jwt"],
    forward_claims: &[],
    strip_authorization: false,
};
static HEADER_KEY: ApiKey = ApiKey {
    location: ApiKeyIn::Header,
    name: "x-api-key",
    keys: KeySource::Env("KEYS"),
    strip: false,
};
static QUERY_KEY: ApiKey = ApiKey {
    location: ApiKeyIn::Query,
    name: "api_key",
    keys: KeySource::Env("KEYS"),
    strip: true,
};
static COOKIE_KEY: ApiKey = ApiKey {
    location: ApiKeyIn::Cookie,
    name: "key",
    keys: KeySource::Env("KEYS"),
    strip: true,
};

static SCHEMES: [Scheme; 7] = [
    Scheme {
        name: "rs",
        kind: SchemeKind::Jwt(&RS),
    },
    Scheme {
        name: "jwks",
        kind: SchemeKind::Jwt(&JWKS),
    },
    Scheme {
        name: "hs",
        kind: SchemeKind::Jwt(&HS),
    },
    Scheme {
        name: "rfc",
        kind: SchemeKind::Jwt(&RFC),
    },
    Scheme {
        name: "headerKey",
        kind: SchemeKind::ApiKey(&HEADER_KEY),
    },
    Scheme {
        name: "queryKey",
        kind: SchemeKind::ApiKey(&QUERY_KEY),
    },
    Scheme {
        name: "cookieKey",
        kind: SchemeKind::ApiKey(&COOKIE_KEY),
    },
];

/// sha256("hashed-secret-key")
fn keys_file() -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(b"hashed-secret-key");
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("# consumers\nmobile:plain-secret-key\n\nbilling:sha256:{hex}\n")
}

/// The RSA public key as a JWKS with `kid: key-1`.
const JWKS_DOCUMENT: &str = include_str!("keys/jwks.json");

fn verifiers() -> Verifiers {
    Verifiers::load(&SCHEMES, |source| match source {
        KeySource::Env("RSA") => Ok(RSA_PUBLIC.to_owned()),
        KeySource::Env("JWKS") => Ok(JWKS_DOCUMENT.to_owned()),
        KeySource::Env("HS") => Ok(HS_SECRET.to_owned()),
        KeySource::Env("RFC") => Ok(RFC7515_JWK.to_owned()),
        KeySource::Env("KEYS") => Ok(keys_file()),
        other => Err(format!("{other} is not set")),
    })
    .expect("the test keys load")
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> serde_json::Value {
    json!({
        "sub": "user-42",
        "iss": "https://id.example.com",
        "aud": "shop",
        "exp": now() + 600,
        "scope": "orders:read orders:write",
    })
}

fn rs_token(claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

const NO_QUERY: &[(Cow<'static, str>, Cow<'static, str>)] = &[];

fn check(
    scheme: &'static str,
    scopes: &'static [&'static str],
    headers: &HeaderMap,
) -> Result<(), Failure> {
    let requirement: &'static [Requirement] = Box::leak(Box::new([Requirement { scheme, scopes }]));
    let alternatives = [requirement];
    verifiers()
        .authenticate(&alternatives, headers, NO_QUERY)
        .map(|_| ())
}

fn invalid(result: Result<(), Failure>) {
    assert!(
        matches!(result, Err(Failure::Invalid(_))),
        "expected an invalid credential, got {result:?}"
    );
}

#[test]
fn a_valid_rs256_token_passes_and_forwards_its_subject() {
    let verifiers = verifiers();
    let mut headers = bearer(&rs_token(&claims()));
    headers.insert("x-user-id", HeaderValue::from_static("admin"));
    let required = [Requirement {
        scheme: "rs",
        scopes: &["orders:read"],
    }];
    let alternatives: [&[Requirement]; 1] = [&required];
    // As the listener does with every request, before anything reads it.
    verifiers.strip_claim_headers(&mut headers);
    let granted = verifiers
        .authenticate(&alternatives, &headers, NO_QUERY)
        .expect("a valid token");
    granted.apply(&mut headers);
    let users: Vec<_> = headers.get_all("x-user-id").iter().collect();
    assert_eq!(users, ["user-42"], "the client's copy is replaced");
    assert!(
        headers.get(header::AUTHORIZATION).is_none(),
        "strip_authorization"
    );
    assert_eq!(granted.consumer.as_deref(), Some("user-42"));
}

#[test]
fn claim_headers_are_stripped_in_every_spelling_and_nothing_else() {
    let verifiers = verifiers();
    let mut headers = HeaderMap::new();
    for name in [
        "x-user-id",
        "x_user_id",
        "x-user_id",
        "x-api-key",
        "x-user-idx",
    ] {
        headers.append(name, HeaderValue::from_static("victim"));
    }
    headers.append("x-user-id", HeaderValue::from_static("again"));
    verifiers.strip_claim_headers(&mut headers);
    let mut left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["x-api-key", "x-user-idx"]);
}

#[test]
fn alg_none_is_refused() {
    let payload = claims().to_string();
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&payload)
    );
    invalid(check("rs", &[], &bearer(&token)));
    invalid(check("hs", &[], &bearer(&token)));
}

#[test]
fn algorithm_confusion_is_refused() {
    // An HS256 token "signed" with the RSA public key's PEM bytes as the HMAC secret.
    let key = EncodingKey::from_secret(RSA_PUBLIC.as_bytes());
    let token = encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
    invalid(check("rs", &[], &bearer(&token)));
    invalid(check("jwks", &[], &bearer(&token)));
}

#[test]
fn the_rfc_7515_example_verifies_but_has_expired() {
    assert_eq!(
        check("rfc", &[], &bearer(RFC7515_TOKEN)),
        Err(Failure::Invalid("the token has expired"))
    );
    // With another key its signature does not verify.
    invalid(check("hs", &[], &bearer(RFC7515_TOKEN)));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let mut expired = claims();
    expired["exp"] = json!(now() - 10);
    assert_eq!(
        check("rs", &[], &bearer(&rs_token(&expired))),
        Err(Failure::Invalid("the token has expired"))
    );
    let mut early = claims();
    early["nbf"] = json!(now() + 300);
    assert_eq!(
        check("rs", &[], &bearer(&rs_token(&early))),
        Err(Failure::Invalid("the token is not valid yet"))
    );
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    invalid(check("rs", &[], &bearer(&rs_token(&no_exp))));
}

#[test]
fn wrong_issuer_and_audience_are_refused() {
    let mut iss = claims();
    iss["iss"] = json!("https://evil.example.com");
    assert_eq!(
        check("rs", &[], &bearer(&rs_token(&iss))),
        Err(Failure::Invalid("the token's issuer is not accepted"))
    );
    let mut aud = claims();
    aud["aud"] = json!(["other"]);
    assert_eq!(
        check("rs", &[], &bearer(&rs_token(&aud))),
        Err(Failure::Invalid("the token's audience is not accepted"))
    );
    let mut none = claims();
    none.as_object_mut().unwrap().remove("aud");
    invalid(check("rs", &[], &bearer(&rs_token(&none))));
}

#[test]
fn tampered_tokens_are_refused() {
    let token = rs_token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload = claims();
    payload["sub"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(
        check("rs", &[], &bearer(&forged)),
        Err(Failure::Invalid("the token's signature is invalid"))
    );
    let mut signature = engine.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], engine.encode(signature));
    assert_eq!(
        check("rs", &[], &bearer(&flipped)),
        Err(Failure::Invalid("the token's signature is invalid"))
    );
}

#[test]
fn keys_are_selected_by_kid() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-1".to_owned());
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(check("jwks", &[], &bearer(&token)), Ok(()));
    header.kid = Some("key-2".to_owned());
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(
        check("jwks", &[], &bearer(&token)),
        Err(Failure::Invalid("the token's key is unknown"))
    );
}

/// RFC 7515 4.1.11: a `crit` header names extensions the recipient must understand; this
/// gateway understands none, so any token that has one is refused.
#[test]
fn a_crit_header_is_refused() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    for crit in [vec!["exp".to_owned()], vec!["b64".to_owned()], vec![]] {
        let mut header = Header::new(Algorithm::RS256);
        header.crit = Some(crit);
        let token = encode(&header, &claims(), &key).unwrap();
        invalid(check("rs", &[], &bearer(&token)));
    }
}

/// RFC 8725 3.11: explicit typing keeps tokens of one kind (an ID token, a logout event)
/// from being replayed as another.
#[test]
fn a_typ_other_than_an_access_token_is_refused() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let token = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = typ.map(str::to_owned);
        encode(&header, &claims(), &key).unwrap()
    };
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("at+jwt"),
        Some("application/at+jwt"),
    ] {
        assert_eq!(check("rs", &[], &bearer(&token(typ))), Ok(()), "{typ:?}");
    }
    for typ in ["secevent+jwt", "logout+jwt", "dpop+jwt", "JOSE", ""] {
        invalid(check("rs", &[], &bearer(&token(Some(typ)))));
    }
}

/// A JWK set given as a static key (`key_env`/`key_file`) gets the filtering of a fetched
/// one: keys for encryption or for another algorithm never verify a signature.
#[test]
fn static_jwk_sets_keep_only_signing_keys_of_the_schemes_algorithms() {
    static ONE: [Scheme; 1] = [Scheme {
        name: "jwks",
        kind: SchemeKind::Jwt(&JWKS),
    }];
    let load = |document: String| Verifiers::load(&ONE, move |_| Ok(document.clone()));
    assert!(load(JWKS_DOCUMENT.to_owned()).is_ok());
    let encryption = JWKS_DOCUMENT.replace(r#""use": "sig""#, r#""use": "enc""#);
    assert_ne!(encryption, JWKS_DOCUMENT);
    let error = load(encryption).unwrap_err();
    assert!(error.contains("no key"), "{error}");
    let other_algorithm = JWKS_DOCUMENT.replace(r#""alg": "RS256""#, r#""alg": "RS512""#);
    assert_ne!(other_algorithm, JWKS_DOCUMENT);
    let error = load(other_algorithm).unwrap_err();
    assert!(error.contains("no key"), "{error}");
}

/// An HMAC secret given as a JWK (`kty: oct`) is held to the 32-byte minimum of a plain one.
#[test]
fn a_short_oct_jwk_is_a_start_error() {
    static ONE: [Scheme; 1] = [Scheme {
        name: "hs",
        kind: SchemeKind::Jwt(&HS),
    }];
    // 16 bytes.
    let short = r#"{"kty":"oct","k":"c2l4dGVlbi1ieXRlcy0xMjM"}"#;
    let error = Verifiers::load(&ONE, |_| Ok(short.to_owned())).unwrap_err();
    assert!(error.contains("32 bytes"), "{error}");
    let set = format!(r#"{{"keys":[{short}]}}"#);
    let error = Verifiers::load(&ONE, move |_| Ok(set.clone())).unwrap_err();
    assert!(error.contains("32 bytes"), "{error}");
    assert!(Verifiers::load(&ONE, |_| Ok(RFC7515_JWK.to_owned())).is_ok());
}

#[test]
fn oversized_and_malformed_tokens_are_refused() {
    let mut big = claims();
    big["padding"] = json!("x".repeat(9000));
    assert_eq!(
        check("rs", &[], &bearer(&rs_token(&big))),
        Err(Failure::Invalid("the token is too large"))
    );
    invalid(check("rs", &[], &bearer("not.a.token")));
    invalid(check("rs", &[], &bearer("e30!.e30.e30")));
    invalid(check("rs", &[], &bearer("only-one-part")));
}

#[test]
fn duplicated_authorization_headers_are_refused() {
    let token = rs_token(&claims());
    let mut headers = bearer(&token);
    headers.append(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    assert!(matches!(
        check("rs", &[], &headers),
        Err(Failure::BadRequest(_))
    ));
}

#[test]
fn no_credentials_or_another_scheme_is_missing() {
    assert_eq!(check("rs", &[], &HeaderMap::new()), Err(Failure::Missing));
    let mut basic = HeaderMap::new();
    basic.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic dTpw"),
    );
    assert_eq!(check("rs", &[], &basic), Err(Failure::Missing));
}

#[test]
fn scopes_must_all_be_granted() {
    let token = rs_token(&claims());
    assert_eq!(
        check("rs", &["orders:read", "orders:write"], &bearer(&token)),
        Ok(())
    );
    assert_eq!(
        check("rs", &["orders:read", "admin"], &bearer(&token)),
        Err(Failure::InsufficientScope("orders:read admin".to_owned()))
    );
    // `scp` as an array.
    let mut scp = claims();
    scp.as_object_mut().unwrap().remove("scope");
    scp["scp"] = json!(["admin"]);
    assert_eq!(check("rs", &["admin"], &bearer(&rs_token(&scp))), Ok(()));
}

#[test]
fn alternatives_are_ored_and_requirements_anded() {
    let verifiers = verifiers();
    let mut headers = bearer(&rs_token(&claims()));
    let rs_admin = [Requirement {
        scheme: "rs",
        scopes: &["admin"],
    }];
    let key = [Requirement {
        scheme: "headerKey",
        scopes: &[],
    }];
    let both = [
        Requirement {
            scheme: "rs",
            scopes: &[],
        },
        Requirement {
            scheme: "headerKey",
            scopes: &[],
        },
    ];
    // OR: the token lacks `admin`, and there is no key: 403 wins over "missing".
    let or: [&[Requirement]; 2] = [&rs_admin, &key];
    assert_eq!(
        verifiers.authenticate(&or, &headers, NO_QUERY).err(),
        Some(Failure::InsufficientScope("admin".to_owned()))
    );
    let and: [&[Requirement]; 1] = [&both];
    assert_eq!(
        verifiers.authenticate(&and, &headers, NO_QUERY).err(),
        Some(Failure::Missing)
    );
    headers.insert("x-api-key", HeaderValue::from_static("plain-secret-key"));
    assert!(verifiers.authenticate(&or, &headers, NO_QUERY).is_ok());
    assert!(verifiers.authenticate(&and, &headers, NO_QUERY).is_ok());
    headers.insert("x-api-key", HeaderValue::from_static("wrong"));
    assert!(matches!(
        verifiers.authenticate(&and, &headers, NO_QUERY),
        Err(Failure::Invalid(_))
    ));
}

#[test]
fn api_keys_plain_and_hashed() {
    let verifiers = verifiers();
    let required = [Requirement {
        scheme: "headerKey",
        scopes: &[],
    }];
    let alternatives: [&[Requirement]; 1] = [&required];
    let with = |key: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static(key));
        verifiers.authenticate(&alternatives, &headers, NO_QUERY)
    };
    assert_eq!(
        with("plain-secret-key").unwrap().consumer.as_deref(),
        Some("mobile")
    );
    assert_eq!(
        with("hashed-secret-key").unwrap().consumer.as_deref(),
        Some("billing")
    );
    assert!(matches!(with("plain-secret-kez"), Err(Failure::Invalid(_))));
    // The stored hash itself is not a key.
    assert!(matches!(with("sha256:abc"), Err(Failure::Invalid(_))));
}

#[test]
fn api_keys_are_read_where_the_scheme_says() {
    let verifiers = verifiers();
    let in_query = [Requirement {
        scheme: "queryKey",
        scopes: &[],
    }];
    let in_header = [Requirement {
        scheme: "headerKey",
        scopes: &[],
    }];
    let query = parse_query("api_key=plain-secret-key");
    let mut headers = HeaderMap::new();
    assert!(
        verifiers
            .authenticate(&[&in_query], &headers, &query)
            .is_ok()
    );
    assert_eq!(
        verifiers
            .authenticate(&[&in_header], &headers, &query)
            .err(),
        Some(Failure::Missing)
    );
    headers.insert("x-api-key", HeaderValue::from_static("plain-secret-key"));
    assert_eq!(
        verifiers
            .authenticate(&[&in_query], &headers, NO_QUERY)
            .err(),
        Some(Failure::Missing)
    );
}

/// `strip: true` removes the key where its scheme reads it, on every forwarded request
/// (whichever scheme, if any, granted access), and nothing else: the other query pairs and
/// cookies go upstream as sent.
#[test]
fn stripped_api_keys_are_removed_before_forwarding() {
    let verifiers = verifiers();
    let forwarded = |uri: &str, cookie: Option<&str>| {
        let mut request = http::Request::builder().uri(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request = request.header("x-api-key", "plain-secret-key");
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        verifiers.strip_api_keys(&mut parts);
        parts
    };
    let parts = forwarded("/p?a=1&api_key=plain-secret-key&b=%20+", None);
    assert_eq!(parts.uri.to_string(), "/p?a=1&b=%20+");
    // However the name is encoded.
    let parts = forwarded("/p?api%5Fkey=plain-secret-key", None);
    assert_eq!(parts.uri.to_string(), "/p");
    let parts = forwarded("/p", Some("session=abc; key=plain-secret-key;theme=dark"));
    assert_eq!(parts.headers[header::COOKIE], "session=abc; theme=dark");
    let parts = forwarded("/p", Some("key=plain-secret-key"));
    assert!(parts.headers.get(header::COOKIE).is_none());
    // A scheme without `strip` leaves its key.
    assert_eq!(parts.headers["x-api-key"], "plain-secret-key");
    let parts = forwarded("/p?other=x", None);
    assert_eq!(parts.uri.to_string(), "/p?other=x");
}

#[test]
fn failures_answer_401_or_403_with_rfc_6750_challenges() {
    let challenge = "Bearer realm=\"shop\"";
    let (status, value, _) = Failure::Missing.answer(challenge);
    assert_eq!(
        (status, value.as_str()),
        (StatusCode::UNAUTHORIZED, challenge)
    );
    let (status, value, _) = Failure::Invalid("x").answer(challenge);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(value, "Bearer realm=\"shop\", error=\"invalid_token\"");
    let (status, value, _) = Failure::InsufficientScope("a b".into()).answer(challenge);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        value,
        "Bearer realm=\"shop\", error=\"insufficient_scope\", scope=\"a b\""
    );
}

#[test]
fn bad_key_material_is_a_start_error() {
    static BAD: [Scheme; 1] = [Scheme {
        name: "rs",
        kind: SchemeKind::Jwt(&RS),
    }];
    let error = Verifiers::load(&BAD, |_| Ok("not a key".to_owned())).unwrap_err();
    assert!(error.contains("auth scheme `rs`"), "{error}");
    let error = Verifiers::load(&BAD, |s| Err(format!("{s} is not set"))).unwrap_err();
    assert!(error.contains("environment variable RSA"), "{error}");
    static HMAC: [Scheme; 1] = [Scheme {
        name: "hs",
        kind: SchemeKind::Jwt(&HS),
    }];
    // A PEM public key is never accepted as an HMAC secret.
    assert!(Verifiers::load(&HMAC, |_| Ok(RSA_PUBLIC.to_owned())).is_err());
    static KEYS: [Scheme; 1] = [Scheme {
        name: "k",
        kind: SchemeKind::ApiKey(&HEADER_KEY),
    }];
    assert!(Verifiers::load(&KEYS, |_| Ok("mobile:sha256:xyz".to_owned())).is_err());
    assert!(Verifiers::load(&KEYS, |_| Ok("no-colon".to_owned())).is_err());
    // Every scheme's problem is told at once, not one per restart.
    let error = Verifiers::load(&SCHEMES, |s| Err(format!("{s} is not set"))).unwrap_err();
    for variable in ["RSA", "JWKS", "HS", "RFC", "KEYS"] {
        assert!(
            error.contains(&format!("environment variable {variable} is not set")),
            "{error}"
        );
    }
}
