//! HTTP Basic credentials (RFC 7617) checked against an htpasswd file's password hashes.
//!
//! A password hash is slow on purpose (bcrypt at cost 10 is ~70 ms of one core), so it
//! never runs on the threads that serve requests: [`BasicVerifier::verify`] answers from
//! the credentials already verified, and a miss is [`Verdict::Pending`] (the caller's
//! `Failure::PasswordPending`), which the server settles with
//! [`BasicVerifier::check_password`] on the blocking pool, with at most half the cores
//! hashing at once, then asks again. A request from an address that failed too often is
//! refused before any of this (`rate_limits.auth_failures`).
//!
//! Verified credentials are remembered by a keyed hash (HMAC-SHA-256 with a key drawn at
//! start) of the header value, never the password itself; a bounded number of them, like
//! verified tokens. Failures are never remembered. An unknown user is hashed against a
//! stand-in with the cost most users' hashes have, so the time of an answer does not tell
//! which user names exist while the hashes are alike; `load` warns when they are not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use base64::Engine;
use http::{HeaderMap, header};

/// What the request's Basic credentials are, as far as memory tells.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// None sent (or another scheme's).
    Missing,
    /// Unusable: why.
    Malformed(&'static str),
    /// Not verified yet: `check_password` decides.
    Pending,
    /// Verified: the user.
    User(Arc<str>),
}

/// Most credentials remembered per scheme (each ~100 bytes); past it, the memory starts
/// afresh, as the token cache does.
const REMEMBERED: usize = 10_000;

/// Longest `Authorization` value read: a user name and password of ~3 KiB between them.
const MAX_HEADER: usize = 4096;

#[derive(Debug, Clone)]
enum Hash {
    Bcrypt(String),
    Argon2id(String),
}

pub(super) struct BasicVerifier {
    users: HashMap<String, Hash>,
    /// What an unknown user's password is hashed against.
    stand_in: Hash,
    remembered: Mutex<HashMap<[u8; 32], Arc<str>>>,
    key: hmac::Key,
    hashing: tokio::sync::Semaphore,
}

/// Reads an htpasswd text; the error names the line and what to do.
pub(super) fn load(text: &str) -> Result<BasicVerifier, String> {
    let mut users = HashMap::new();
    // Users by the cost of their hash (algorithm and parameters), in line order.
    let mut costs: Vec<(String, Hash, usize)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_no = number + 1;
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {line_no}: expected `user:hash`"));
        };
        if user.is_empty() {
            return Err(format!("line {line_no}: the user name is empty"));
        }
        let hash =
            parse_hash(hash).map_err(|why| format!("line {line_no} (user `{user}`): {why}"))?;
        if users.insert(user.to_owned(), hash.clone()).is_some() {
            return Err(format!("line {line_no}: user `{user}` is listed twice"));
        }
        let cost = hash.cost();
        match costs.iter_mut().find(|(c, _, _)| *c == cost) {
            Some((_, _, count)) => *count += 1,
            None => costs.push((cost, hash, 1)),
        }
    }
    // An unknown user costs what most users cost. Users of another cost answer a wrong
    // password in another time than an unknown name: which they are can be told.
    let Some(common) = (0..costs.len()).max_by_key(|&i| (costs[i].2, std::cmp::Reverse(i))) else {
        return Err("no user is configured".to_owned());
    };
    if costs.len() > 1 {
        let classes: Vec<String> = costs
            .iter()
            .map(|(cost, _, count)| format!("{count} with {cost}"))
            .collect();
        tracing::warn!(
            "the users' password hashes differ in cost ({}): a failed check's time tells a user of a rarer cost from an unknown name; hash them all alike",
            classes.join(", ")
        );
    }
    let stand_in = costs.swap_remove(common).1;
    let key = hmac::Key::generate(hmac::HMAC_SHA256, &aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| "no random key for the credentials' memory".to_owned())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(BasicVerifier {
        users,
        stand_in,
        remembered: Mutex::new(HashMap::new()),
        key,
        hashing: tokio::sync::Semaphore::new((cores / 2).max(1)),
    })
}

impl Hash {
    /// The algorithm and the parameters that decide how long a check takes.
    fn cost(&self) -> String {
        match self {
            Hash::Bcrypt(hash) => hash.parse::<bcrypt::HashParts>().map_or_else(
                |_| "bcrypt".to_owned(),
                |p| format!("bcrypt cost {}", p.get_cost()),
            ),
            Hash::Argon2id(hash) => argon2::PasswordHash::new(hash).map_or_else(
                |_| "argon2id".to_owned(),
                |p| format!("argon2id {}", p.params),
            ),
        }
    }
}

fn parse_hash(hash: &str) -> Result<Hash, String> {
    const REHASH: &str = "hash the password with bcrypt (`htpasswd -nB <user>`) or argon2id";
    if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        hash.parse::<bcrypt::HashParts>()
            .map_err(|e| format!("not a bcrypt hash: {e}"))?;
        Ok(Hash::Bcrypt(hash.to_owned()))
    } else if hash.starts_with("$argon2id$") {
        argon2::PasswordHash::new(hash).map_err(|e| format!("not an argon2id hash: {e}"))?;
        Ok(Hash::Argon2id(hash.to_owned()))
    } else if hash.starts_with("{SHA}") {
        Err(format!(
            "`{{SHA}}` is one unsalted SHA-1, which is broken; {REHASH}"
        ))
    } else if let Some(prefix) = ["$apr1$", "$1$"].iter().find(|p| hash.starts_with(**p)) {
        Err(format!(
            "`{prefix}` is MD5-crypt, which is broken; {REHASH}"
        ))
    } else if hash.starts_with("$argon2") {
        Err(format!("only the argon2id variant is accepted; {REHASH}"))
    } else if hash.starts_with('$') {
        Err(format!("this hash scheme is not supported; {REHASH}"))
    } else {
        // Plain text, or crypt(3)'s DES, which looks the same and is as weak.
        Err(format!(
            "not a password hash (a plain-text password or DES crypt?); {REHASH}"
        ))
    }
}

/// A request's Basic credentials.
struct Presented<'a> {
    /// The whole header value, what verified credentials are remembered by.
    value: &'a [u8],
    user: String,
    password: String,
}

/// `Ok(None)` when the request sends no Basic credentials (or another scheme's); the error
/// says why they are unusable.
fn credentials(headers: &HeaderMap) -> Result<Option<Presented<'_>>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value.as_bytes();
    let Some((scheme, encoded)) = value.split_at_checked(6) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return Ok(None);
    }
    if value.len() > MAX_HEADER {
        return Err("the credentials are too large");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_ascii())
        .map_err(|_| "the Basic credentials are not base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "the Basic credentials are not UTF-8")?;
    let Some((user, password)) = decoded.split_once(':') else {
        return Err("the Basic credentials have no `:` between user and password");
    };
    if user.is_empty() {
        return Err("the Basic credentials name no user");
    }
    Ok(Some(Presented {
        value,
        user: user.to_owned(),
        password: password.to_owned(),
    }))
}

impl BasicVerifier {
    /// From memory only.
    pub(super) fn verify(&self, headers: &HeaderMap) -> Verdict {
        let presented = match credentials(headers) {
            Ok(Some(presented)) => presented,
            Ok(None) => return Verdict::Missing,
            Err(why) => return Verdict::Malformed(why),
        };
        let tag = self.tag(presented.value);
        let remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        match remembered.get(&tag) {
            Some(user) => Verdict::User(user.clone()),
            None => Verdict::Pending,
        }
    }

    /// Hashes the request's password on the blocking pool and remembers it when right.
    pub(super) async fn check_password(&self, headers: &HeaderMap) {
        let Ok(Some(Presented {
            value,
            user,
            password,
        })) = credentials(headers)
        else {
            return;
        };
        let tag = self.tag(value);
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.stand_in.clone(), false),
        };
        let Ok(_permit) = self.hashing.acquire().await else {
            return;
        };
        let right = tokio::task::spawn_blocking(move || matches(&hash, &password))
            .await
            .unwrap_or(false);
        if right && known {
            let mut remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
            if remembered.len() >= REMEMBERED {
                remembered.clear();
            }
            remembered.insert(tag, user.into());
        }
    }

    fn tag(&self, value: &[u8]) -> [u8; 32] {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.key, value).as_ref());
        tag
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.remembered.lock().unwrap().len()
    }
}

/// Both libraries compare in constant time.
fn matches(hash: &Hash, password: &str) -> bool {
    match hash {
        Hash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        Hash::Argon2id(hash) => {
            use argon2::PasswordVerifier;
            argon2::PasswordHash::new(hash).is_ok_and(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argon2id(password: &str) -> String {
        use argon2::PasswordHasher;
        let salt = argon2::password_hash::SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn users() -> String {
        format!(
            "# the shop's partners\nalice:{}\n\nbob:{}\n",
            bcrypt::hash("alice-secret", 4).unwrap(),
            argon2id("bob-secret")
        )
    }

    fn basic(raw: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            http::HeaderValue::from_bytes(raw).unwrap(),
        );
        headers
    }

    fn login(user: &str, password: &str) -> HeaderMap {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        basic(format!("Basic {encoded}").as_bytes())
    }

    #[test]
    fn weak_or_unknown_hashes_are_refused_naming_the_line() {
        for (line, expected) in [
            (
                "carol:plain-password",
                "line 2 (user `carol`): not a password hash",
            ),
            (
                "carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                "line 2 (user `carol`): `{SHA}`",
            ),
            (
                "carol:$apr1$abc$defghijklmnopqrstuvwxy",
                "line 2 (user `carol`): `$apr1$` is MD5-crypt",
            ),
            (
                "carol:$argon2i$v=19$m=16,t=2,p=1$c2FsdA$aGFzaA",
                "only the argon2id variant",
            ),
            ("carol:$6$salt$hash", "this hash scheme is not supported"),
            (
                "carol:$2y$10$short",
                "line 2 (user `carol`): not a bcrypt hash",
            ),
            ("no colon here", "line 2: expected `user:hash`"),
        ] {
            let text = format!("# header\n{line}\n");
            let error = load(&text).err().unwrap();
            assert!(error.contains(expected), "{line}: {error}");
        }
        assert_eq!(load("# nobody\n").err().unwrap(), "no user is configured");
        let twice = format!("{}{}", users(), users().lines().nth(1).unwrap());
        assert!(load(&twice).err().unwrap().contains("listed twice"));
    }

    #[tokio::test]
    async fn a_right_password_is_hashed_once_then_remembered() {
        let verifier = load(&users()).unwrap();
        for (user, password) in [("alice", "alice-secret"), ("bob", "bob-secret")] {
            let headers = login(user, password);
            assert_eq!(verifier.verify(&headers), Verdict::Pending);
            verifier.check_password(&headers).await;
            assert_eq!(verifier.verify(&headers), Verdict::User(user.into()));
        }
        assert_eq!(verifier.remembered(), 2);
    }

    #[test]
    fn an_unknown_user_costs_what_most_users_cost() {
        let cheap = |user: &str| format!("{user}:{}\n", bcrypt::hash("pw", 4).unwrap());
        let dear = |user: &str| format!("{user}:{}\n", bcrypt::hash("pw", 5).unwrap());
        let text = [dear("a"), cheap("b"), cheap("c"), dear("d"), cheap("e")].concat();
        let verifier = load(&text).unwrap();
        assert_eq!(verifier.stand_in.cost(), "bcrypt cost 4");
        let verifier = load(&[dear("a"), cheap("b")].concat()).unwrap();
        assert_eq!(
            verifier.stand_in.cost(),
            "bcrypt cost 5",
            "a tie: the first"
        );
        assert!(argon2id("x").starts_with("$argon2id$"));
        let argon = load(&format!("x:{}\n", argon2id("x"))).unwrap();
        assert!(
            argon.stand_in.cost().starts_with("argon2id m="),
            "{}",
            argon.stand_in.cost()
        );
    }

    #[tokio::test]
    async fn wrong_passwords_and_unknown_users_are_never_remembered() {
        let verifier = load(&users()).unwrap();
        for headers in [
            login("alice", "wrong"),
            login("alice", "alice-secret "),
            login("mallory", "alice-secret"),
            login("ALICE", "alice-secret"),
        ] {
            verifier.check_password(&headers).await;
            assert_eq!(verifier.verify(&headers), Verdict::Pending);
        }
        assert_eq!(verifier.remembered(), 0);
    }

    #[test]
    fn malformed_credentials_are_bad_requests_and_other_schemes_are_missing() {
        let verifier = load(&users()).unwrap();
        let verdict = |headers: HeaderMap| verifier.verify(&headers);
        assert_eq!(verdict(HeaderMap::new()), Verdict::Missing);
        assert_eq!(verdict(basic(b"Bearer abc.def.ghi")), Verdict::Missing);
        assert_eq!(verdict(basic(b"Basi")), Verdict::Missing);
        assert!(
            matches!(verdict(basic(b"Basic !!!not-base64")), Verdict::Malformed(why) if why.contains("base64"))
        );
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert!(
            matches!(verdict(basic(format!("Basic {no_colon}").as_bytes())), Verdict::Malformed(why) if why.contains("`:`"))
        );
        let latin1 = base64::engine::general_purpose::STANDARD.encode(b"j\xf6rg:pw");
        assert!(
            matches!(verdict(basic(format!("basic {latin1}").as_bytes())), Verdict::Malformed(why) if why.contains("UTF-8"))
        );
        let no_user = base64::engine::general_purpose::STANDARD.encode(":pw");
        assert!(matches!(
            verdict(basic(format!("Basic {no_user}").as_bytes())),
            Verdict::Malformed(_)
        ));
        let huge = format!("Basic {}", "QUFB".repeat(300_000));
        assert!(
            matches!(verdict(basic(huge.as_bytes())), Verdict::Malformed(why) if why.contains("too large"))
        );
        let mut twice = login("alice", "alice-secret");
        twice.append(
            header::AUTHORIZATION,
            http::HeaderValue::from_static("Basic YTpi"),
        );
        assert!(matches!(verdict(twice), Verdict::Malformed(why) if why.contains("more than one")));
    }
}
