//! What verifying one bearer token costs, without the network: `Verifiers::authenticate`
//! on an HS256 and an RS256 token (RSA 2048), as a secured route calls it per request.
//!
//! `cargo bench -p openapi-gateway-runtime --bench verify [-- hs|rs]` (plain `main`, no harness:
//! it prints the mean wall and CPU time per call over ITERATIONS calls (a tenth for
//! RS256), after a warm-up, per token).

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use openapi_gateway_runtime::Requirement;
use openapi_gateway_runtime::auth::{Jwt, KeySource, Scheme, SchemeKind, Verifiers};

const ITERATIONS: u32 = 500_000;
const HS_SECRET: &str = "bench-hs256-secret-of-at-least-32-bytes!";
const RSA_PRIVATE: &str = include_str!("../tests/keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/keys/rsa_public.pem");

const fn jwt(algorithm: &'static str, env: &'static str) -> Jwt {
    Jwt {
        algorithms: match algorithm.as_bytes()[0] {
            b'H' => &["HS256"],
            _ => &["RS256"],
        },
        key: KeySource::Env(env),
        issuer: Some("https://id.example.com"),
        audiences: &["bench"],
        leeway_secs: 0,
        max_token: 8192,
        types: &["JWT", "at+jwt"],
        forward_claims: &[("sub", "x-user-id")],
        strip_authorization: false,
    }
}

static HS: Jwt = jwt("HS256", "HS");
static RS: Jwt = jwt("RS256", "RS");
static SCHEMES: [Scheme; 2] = [
    Scheme {
        name: "hs",
        kind: SchemeKind::Jwt(&HS),
    },
    Scheme {
        name: "rs",
        kind: SchemeKind::Jwt(&RS),
    },
];

/// This process's user + system CPU time (Linux `/proc/self/stat`, 100 Hz ticks): unlike
/// wall time, not inflated when other processes share the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // Fields 14 and 15 of the file; the comm (field 2) is cut, so indices 11 and 12 here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let verifiers = Verifiers::load(&SCHEMES, |source| match source {
        KeySource::Env("HS") => Ok(HS_SECRET.to_owned()),
        KeySource::Env("RS") => Ok(RSA_PUBLIC.to_owned()),
        other => Err(format!("{other}?")),
    })
    .expect("bench keys");
    let claims = serde_json::json!({
        "sub": "bench-user",
        "iss": "https://id.example.com",
        "aud": "bench",
        "exp": jsonwebtoken::get_current_timestamp() + 3600,
        "scope": "read",
    });
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap();
    let rs = encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    let query: &[(Cow<'_, str>, Cow<'_, str>)] = &[];
    // `cargo bench ... -- hs` runs only the HS256 case.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (scheme, token) in [("hs", hs), ("rs", rs)] {
        if !only.is_empty() && !only.iter().any(|o| o == scheme) {
            continue;
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let requirement = [Requirement {
            scheme,
            scopes: &["read"],
        }];
        let alternatives: [&[Requirement]; 1] = [&requirement];
        let iterations = if scheme == "rs" {
            ITERATIONS / 10
        } else {
            ITERATIONS
        };
        for _ in 0..iterations / 10 {
            black_box(verifiers.authenticate(&alternatives, &headers, query)).unwrap();
        }
        let start = Instant::now();
        let cpu_start = cpu_seconds();
        for _ in 0..iterations {
            black_box(verifiers.authenticate(black_box(&alternatives), &headers, query)).unwrap();
        }
        let per_call = start.elapsed() / iterations;
        let cpu = match (cpu_start, cpu_seconds()) {
            (Some(before), Some(after)) => format!(
                "{:.2} µs CPU",
                (after - before) * 1e6 / f64::from(iterations)
            ),
            _ => "CPU time unknown".to_owned(),
        };
        println!("{scheme}: {per_call:?} wall, {cpu} per authenticate ({iterations} calls)");
    }
}
