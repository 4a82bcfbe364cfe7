//! JWT signing keys fetched from a JWKS URL over HTTPS, cached, refreshed and rotated.
//!
//! A scheme whose manifest names a `jwks_url` gets one [`JwksKeys`]: the keys it last
//! fetched, as an immutable list swapped whole (a request clones an `Arc` and never sees a
//! half-updated set), a background task that refreshes them (every `refresh`, or as the
//! response's `Cache-Control: max-age` says, within bounds), and a refetch on demand when
//! a token names a `kid` the list lacks. Refetches are rate-limited (at most one per
//! `refetch_interval`) and single-flight: concurrent misses wait on one fetch, then look
//! again. A failed fetch (network, TLS, status, size, JSON) keeps the keys already held;
//! it is logged and counted (`gateway_jwks_refresh_total{scheme,outcome}`).
//!
//! Until the first key set is loaded, `/readyz` answers 503 and requests carrying a bearer
//! token for the scheme get 503 (the gateway cannot tell a good token from a bad one yet),
//! never a 401.
//!
//! Keys that cannot serve the scheme are dropped when a set is loaded: another family than
//! the scheme's algorithms (an RSA key never verifies an `HS*` token: that would be
//! algorithm confusion), an `alg` the scheme does not allow, `use` other than `sig`,
//! symmetric (`oct`) keys, and keys this build cannot parse.
//!
//! Fetches go through hyper-rustls with rustls on the aws-lc provider (the one jsonwebtoken
//! uses), the webpki root certificates plus an optional extra CA bundle (`jwks_ca_file`),
//! a connect timeout, a total timeout, and a size cap on the response.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use tracing::{info, warn};

use crate::base::prometheus::{Escaped, family};

/// A JWT scheme's JWKS endpoint, as the generated crate describes it.
#[derive(Debug)]
pub struct Jwks {
    pub url: JwksUrl,
    /// A PEM file of CA certificates trusted for this fetch besides the webpki roots
    /// (a private identity provider, a test server).
    pub ca_file: Option<&'static str>,
    /// How often the keys are refreshed when the response has no `max-age`. A `max-age`
    /// is honoured within `[min(refresh, 1m), max(refresh, 1h)]`.
    pub refresh: Duration,
    /// Smallest interval between two fetches caused by tokens with an unknown `kid`.
    pub refetch_interval: Duration,
}

/// Where the JWKS URL is.
#[derive(Debug, Clone, Copy)]
pub enum JwksUrl {
    /// Written in the manifest (a URL is not a secret).
    Literal(&'static str),
    /// Read from this environment variable at start-up.
    Env(&'static str),
}

impl fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksUrl::Literal(url) => write!(f, "JWKS URL {url}"),
            JwksUrl::Env(name) => write!(f, "JWKS URL from environment variable {name}"),
        }
    }
}

/// `Jwks::refetch_interval` of generated gateways: at most one unknown-`kid` refetch per
/// 10 s per scheme.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Largest JWKS response accepted.
pub const MAX_JWKS_SIZE: usize = 1024 * 1024;
/// Bound on establishing the connection (TCP and TLS handshake included in the total).
pub const JWKS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a whole fetch: connect, TLS, response head and body.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// `max-age` is honoured down to `min(refresh, MIN_REFRESH)`...
const MIN_REFRESH: Duration = Duration::from_secs(60);
/// ...and up to `max(refresh, MAX_REFRESH)`.
const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// First retry delay after a failed fetch; it doubles up to `min(refresh, MAX_RETRY)`.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// (kid, key); a key without `kid` matches a token without one when it is alone.
pub(crate) type KeyList = Vec<(Option<String>, DecodingKey)>;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The fetched keys of one scheme, and how to fetch them again.
pub(crate) struct JwksKeys {
    pub(crate) scheme: &'static str,
    config: &'static Jwks,
    url: http::Uri,
    algorithms: Vec<Algorithm>,
    client: HttpsClient,
    current: RwLock<Option<Arc<KeyList>>>,
    /// Held for the duration of a fetch: fetches never overlap.
    fetching: tokio::sync::Mutex<()>,
    epoch: Instant,
    /// When the last refetch for an unknown `kid` ended, in ms since `epoch`, plus one;
    /// 0: never.
    last_refetch: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeys")
            .field("scheme", &self.scheme)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What `read` (see `Verifiers::load`) is asked for: an environment variable or a file.
pub(crate) enum Read {
    Env(&'static str),
    File(&'static str),
}

impl JwksKeys {
    /// Resolves the URL, reads the extra CA bundle and builds the HTTPS client; errors
    /// when any of that is unusable (a start error). Fetches nothing yet.
    pub(crate) fn new(
        scheme: &'static str,
        config: &'static Jwks,
        algorithms: &[Algorithm],
        read: impl Fn(Read) -> Result<String, String>,
    ) -> Result<JwksKeys, String> {
        if algorithms
            .iter()
            .any(|a| a.family() == AlgorithmFamily::Hmac)
        {
            return Err("HMAC secrets are never fetched from a JWKS URL".to_owned());
        }
        let url = match config.url {
            JwksUrl::Literal(url) => url.to_owned(),
            JwksUrl::Env(name) => read(Read::Env(name))?.trim().to_owned(),
        };
        let url = check_url(&url)?;
        let extra = match config.ca_file {
            Some(path) => Some(read(Read::File(path))?),
            None => None,
        };
        let client = https_client(extra.as_deref())?;
        Ok(JwksKeys {
            scheme,
            config,
            url,
            algorithms: algorithms.to_vec(),
            client,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            epoch: Instant::now(),
            last_refetch: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// The keys in force; `None` until the first set is loaded.
    pub(crate) fn current(&self) -> Option<Arc<KeyList>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a token with an unknown `kid` may cause a fetch now.
    pub(crate) fn may_refetch(&self) -> bool {
        match self.last_refetch.load(Ordering::Acquire) {
            0 => true,
            last => {
                let since = self.now_ms().saturating_sub(last - 1);
                u128::from(since) >= self.config.refetch_interval.as_millis()
            }
        }
    }

    /// Fetches again because a token named an unknown `kid`, unless such a refetch ended
    /// less than `refetch_interval` ago. Callers arriving while a fetch runs wait for it,
    /// then find the refetch recent and do not fetch again.
    pub(crate) async fn refetch(&self) {
        let _fetching = self.fetching.lock().await;
        if self.may_refetch() {
            let _ = self.fetch_locked().await;
            self.last_refetch
                .store(self.now_ms().saturating_add(1), Ordering::Release);
        }
    }

    /// One fetch, whoever asks; `Ok` with the response's `max-age`, if any.
    async fn fetch(&self) -> Result<Option<Duration>, ()> {
        let _fetching = self.fetching.lock().await;
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<Option<Duration>, ()> {
        match self.download().await {
            Ok((keys, max_age)) => {
                let count = keys.len();
                let keys = Arc::new(keys);
                let first = match self.current.write() {
                    Ok(mut guard) => guard.replace(keys).is_none(),
                    Err(poisoned) => poisoned.into_inner().replace(keys).is_none(),
                };
                self.succeeded.fetch_add(1, Ordering::Relaxed);
                if first {
                    info!(scheme = self.scheme, url = %self.url, keys = count, "JWKS loaded");
                } else {
                    tracing::debug!(scheme = self.scheme, keys = count, "JWKS refreshed");
                }
                Ok(max_age)
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                warn!(
                    scheme = self.scheme,
                    url = %self.url,
                    %error,
                    loaded = self.current().is_some(),
                    "JWKS fetch failed; the keys held so far stay in force"
                );
                Err(())
            }
        }
    }

    /// GET the URL, check status and size, parse and filter the keys.
    async fn download(&self) -> Result<(KeyList, Option<Duration>), String> {
        let request = http::Request::get(self.url.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .body(Empty::new())
            .map_err(|error| format!("cannot build the request: {error}"))?;
        let fetched = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| format!("cannot fetch: {}", chain(&error)))?;
            let status = response.status();
            if status != http::StatusCode::OK {
                return Err(format!("the server answered {status}"));
            }
            let max_age = max_age(response.headers());
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > MAX_JWKS_SIZE as u64) {
                return Err(format!("the response is larger than {MAX_JWKS_SIZE} bytes"));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_SIZE)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        format!("the response is larger than {MAX_JWKS_SIZE} bytes")
                    } else {
                        format!("cannot read the response: {error}")
                    }
                })?
                .to_bytes();
            Ok((body, max_age))
        };
        let (body, max_age) = tokio::time::timeout(JWKS_FETCH_TIMEOUT, fetched)
            .await
            .map_err(|_| format!("no complete answer within {JWKS_FETCH_TIMEOUT:?}"))??;
        let keys = usable_keys(&body, &self.algorithms)?;
        Ok((keys, max_age))
    }

    /// The wait before the next scheduled refresh after a successful fetch.
    fn next_refresh(&self, max_age: Option<Duration>) -> Duration {
        let refresh = self.config.refresh;
        match max_age {
            None => refresh,
            Some(age) => age.clamp(refresh.min(MIN_REFRESH), refresh.max(MAX_REFRESH)),
        }
    }

    /// Fetches now, then keeps the keys fresh; never returns.
    async fn keep_fresh(self: Arc<Self>) {
        let max_retry = self.config.refresh.min(MAX_RETRY).max(FIRST_RETRY);
        let mut retry = FIRST_RETRY;
        loop {
            let wait = match self.fetch().await {
                Ok(max_age) => {
                    retry = FIRST_RETRY;
                    self.next_refresh(max_age)
                }
                Err(()) => {
                    let wait = retry;
                    retry = (retry * 2).min(max_retry);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The JWKS schemes of a gateway: for readiness, metrics and the refresh tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct JwksSet(pub(crate) Vec<Arc<JwksKeys>>);

impl JwksSet {
    /// The schemes whose first key set is not loaded yet.
    pub(crate) fn not_loaded(&self) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|keys| keys.current().is_none())
            .map(|keys| keys.scheme)
            .collect()
    }

    /// Starts one refresh task per scheme; they stop when the returned value is dropped.
    pub(crate) fn start(&self) -> Refreshers {
        Refreshers(
            self.0
                .iter()
                .map(|keys| tokio::spawn(keys.clone().keep_fresh()))
                .collect(),
        )
    }

    /// `gateway_jwks_refresh_total`, in the Prometheus text format; nothing without a
    /// JWKS scheme.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.0.is_empty() {
            return;
        }
        let name = "gateway_jwks_refresh_total";
        family(
            out,
            name,
            "counter",
            "JWKS fetches (start, refresh and unknown-kid refetch) by outcome.",
        );
        for keys in &self.0 {
            for (outcome, count) in [("success", &keys.succeeded), ("failure", &keys.failed)] {
                let _ = writeln!(
                    out,
                    "{name}{{scheme=\"{}\",outcome=\"{outcome}\"}} {}",
                    Escaped(keys.scheme),
                    count.load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// The refresh tasks; aborted when dropped.
pub(crate) struct Refreshers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Refreshers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// `https://` anywhere; plain `http://` only to a loopback host (a local identity
/// provider or sidecar), since keys fetched in the clear could be replaced on the way.
/// A URL with credentials is refused without being printed: the URL is logged with every
/// fetch, and a JWKS is public anyway.
pub(crate) fn check_url(url: &str) -> Result<http::Uri, String> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    if let Some((_, host)) = authority.rsplit_once('@') {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        return Err(format!(
            "the JWKS URL `{scheme}://***@{host}/...` has credentials: a JWK set is public, fetch it without"
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|error| format!("`{url}` is not a URL: {error}"))?;
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") => Ok(uri),
        Some("http") => Err(format!(
            "`{url}`: a JWKS is fetched over https (plain http only from a loopback host)"
        )),
        _ => Err(format!("`{url}` is not an https URL")),
    }
}

/// An HTTPS (and loopback-HTTP) client trusting the webpki roots and the certificates of
/// `extra_ca` (PEM).
fn https_client(extra_ca: Option<&str>) -> Result<HttpsClient, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let certificate = certificate
                .map_err(|error| format!("the CA file is not PEM certificates: {error}"))?;
            roots
                .add(certificate)
                .map_err(|error| format!("a certificate of the CA file is unusable: {error}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA file holds no certificate".to_owned());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(JWKS_CONNECT_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// `max-age` of `Cache-Control`; `no-cache`/`no-store` count as 0 (then the lower bound).
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return Some(Duration::ZERO);
        }
        if let Some((name, seconds)) = directive.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
            && let Ok(seconds) = seconds.trim().trim_matches('"').parse::<u64>()
        {
            age = Some(Duration::from_secs(seconds));
        }
    }
    age
}

/// The keys of a JWKS document that can verify tokens of `algorithms` (all one family,
/// never HMAC). Keys that do not fit are skipped; none fitting is an error.
pub(crate) fn usable_keys(body: &[u8], algorithms: &[Algorithm]) -> Result<KeyList, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document = serde_json::from_slice(body)
        .map_err(|error| format!("the response is not a JWK set: {error}"))?;
    let Some(family) = algorithms.first().map(|a| a.family()) else {
        return Err("no algorithm is allowed".to_owned());
    };
    let mut keys = KeyList::new();
    for value in document.keys {
        // A key of a type this build does not know is skipped, not fatal to the set.
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        // So is one it cannot use; and a fetched set never gives an HMAC secret.
        if let Ok(Some(key)) = signing_key(&jwk, algorithms)
            && key.family() == family
            && family != AlgorithmFamily::Hmac
        {
            keys.push((jwk.common.key_id.clone(), key));
        }
    }
    if keys.is_empty() {
        return Err(format!("the JWK set has no key usable with {algorithms:?}"));
    }
    Ok(keys)
}

/// The key of `jwk` if it may verify tokens of `algorithms` (all one family), whether the
/// set was fetched or given as a static key: none for a key meant for encryption (`use`,
/// `key_ops`), declared for an algorithm the scheme does not allow (`alg`), or of another
/// family. An error for a key that cannot be read, or an HMAC secret (`kty: oct`) shorter
/// than the 32 bytes a plain one must have.
pub(crate) fn signing_key(
    jwk: &Jwk,
    algorithms: &[Algorithm],
) -> Result<Option<DecodingKey>, String> {
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Ok(None);
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Ok(None);
    }
    if let Some(alg) = common.key_algorithm {
        let alg = alg.to_string();
        if !algorithms.iter().any(|a| format!("{a:?}") == alg) {
            return Ok(None);
        }
    }
    let Some(family) = algorithms.first().map(|a| a.family()) else {
        return Ok(None);
    };
    if let AlgorithmParameters::OctetKey(oct) = &jwk.algorithm {
        // Base64url without padding: 6 bits a character.
        let bytes = oct.value.trim_end_matches('=').len() * 6 / 8;
        if family == AlgorithmFamily::Hmac && bytes < 32 {
            return Err("the HMAC secret (a `oct` JWK) is shorter than 32 bytes".to_owned());
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a JWK is unusable: {e}"))?;
    Ok((key.family() == family).then_some(key))
}

/// An error and its sources, `: `-separated (hyper's own messages are terse).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(check_url("https://id.example.com/.well-known/jwks.json").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://[::1]:9/jwks").is_ok());
        assert!(check_url("http://id.example.com/jwks").is_err());
        assert!(check_url("ftp://id.example.com/jwks").is_err());
        assert!(check_url("/jwks").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=600, must-revalidate".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(600)));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
        headers.insert(header::CACHE_CONTROL, "max-age=soon".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn keys_that_do_not_fit_the_scheme_are_skipped() {
        crate::edge::auth::install_crypto_provider();
        let rsa = r#"{"kty":"RSA","kid":"r","n":"tCVR38dgY8RnUm4Ew4GXRRYWqePb5ZXXaQXhqe6Opp8sJEgelr-ZAj4HLurBTJw4t7BjB-4toLhPfROZLpFzLMSYj4S5in05zSXpGiZV7t2THlb-4p3MkwQzxnVMztxNufgMiuSITHxfYQStibHVWvb2aqzmGyAuFHafmSpMkWCh9oprzBvblOccq0JoM2Vr_ZfH2kySC46GQTLhjYg9zJIoaPG8muT69VV9P9G2PhhBUfjdSjM2ufB90274hA4sLrKFXlLZQ-hEDVSdhB216yT6gfiEfoqE5S4bXt_n5Oqy4bHo_73lsQ2DmD5dozx3WA4C3OY9JzwiIm3oY5Lp8w","e":"AQAB"}"#;
        let doc = |key: &str| format!(r#"{{"keys":[{key}]}}"#);
        let rs = [Algorithm::RS256];
        assert_eq!(usable_keys(doc(rsa).as_bytes(), &rs).unwrap().len(), 1);
        // The same key declared for encryption, or for another algorithm, is skipped.
        let enc = rsa.replace(r#""kid":"r""#, r#""kid":"r","use":"enc""#);
        assert!(usable_keys(doc(&enc).as_bytes(), &rs).is_err());
        let ps = rsa.replace(r#""kid":"r""#, r#""kid":"r","alg":"PS256""#);
        assert!(usable_keys(doc(&ps).as_bytes(), &rs).is_err());
        // An RSA key never serves an EC scheme; an `oct` key never serves any.
        assert!(usable_keys(doc(rsa).as_bytes(), &[Algorithm::ES256]).is_err());
        let oct = r#"{"kty":"oct","kid":"s","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}"#;
        assert!(usable_keys(doc(oct).as_bytes(), &[Algorithm::HS256]).is_err());
        // An unknown key type is skipped, the rest of the set kept.
        let both = format!(r#"{{"keys":[{{"kty":"XYZ"}},{rsa},{oct}]}}"#);
        assert_eq!(usable_keys(both.as_bytes(), &rs).unwrap().len(), 1);
        assert!(usable_keys(b"{\"keys\": 3}", &rs).is_err());
    }
}
