//! The manifest `init` writes: YAML text built line by line, because what matters in it
//! besides the keys is the comments — each decision the specs could not make is marked
//! `decide:` where it is made, and the operations left without an auth decision are a
//! commented list ready to uncomment. Keys come in the order of docs/manifest.md; values
//! are quoted whenever a plain scalar could be read as something else.

use super::survey::{
    Decision, Kind, PlaceholderWhy, Reason, Scheme, Service, Survey, UpstreamSource,
};

/// Comments wrap at this column.
const WIDTH: usize = 92;
/// Trailing comments start at this column (or two spaces after a longer line).
const NOTE_COLUMN: usize = 36;

/// What the header and the commands in it name.
pub struct Context<'a> {
    /// The manifest's file name (`gateway.yaml`).
    pub file: &'a str,
    /// The schema file's path relative to the manifest.
    pub schema: &'a str,
    pub gateway: &'a str,
    /// The folder `gateway generate` writes to, relative to the manifest.
    pub output: &'a str,
}

#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, indent: usize, content: &str) {
        self.0.push_str(&" ".repeat(indent));
        self.0.push_str(content);
        self.0.push('\n');
    }

    /// A line with a comment after it, aligned with its neighbours'.
    fn noted(&mut self, indent: usize, content: &str, note: &str) {
        let mut line = format!("{}{content}", " ".repeat(indent));
        let width = line.chars().count();
        line.push_str(&" ".repeat(if width + 2 <= NOTE_COLUMN {
            NOTE_COLUMN - width
        } else {
            2
        }));
        line.push_str("# ");
        line.push_str(&clean(note));
        self.0.push_str(&line);
        self.0.push('\n');
    }

    /// A comment on lines of its own, wrapped.
    fn note(&mut self, indent: usize, text: &str) {
        let prefix = format!("{}# ", " ".repeat(indent));
        let mut line = prefix.clone();
        for word in clean(text).split(' ').filter(|w| !w.is_empty()) {
            if line.len() > prefix.len() && line.len() + 1 + word.len() > WIDTH {
                self.0.push_str(&line);
                self.0.push('\n');
                line = prefix.clone();
            }
            if line.len() > prefix.len() {
                line.push(' ');
            }
            line.push_str(word);
        }
        self.0.push_str(line.trim_end());
        self.0.push('\n');
    }

    /// Another text's lines, commented out.
    fn commented(&mut self, indent: usize, other: Text) {
        for line in other.0.lines() {
            let (spaces, rest) = line.split_at(line.len() - line.trim_start().len());
            let spaces = spaces.len().max(indent);
            self.0.push_str(&" ".repeat(indent));
            self.0.push_str("# ");
            self.0.push_str(&" ".repeat(spaces - indent));
            self.0.push_str(rest);
            self.0.push('\n');
        }
    }
}

/// Comments hold one line each: control characters of spec text become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A YAML scalar for `text`: plain when nothing can misread it, else double-quoted
/// (JSON's escapes are YAML's).
pub fn scalar(text: &str) -> String {
    let plain = (text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        || text.starts_with("./")
        || text.starts_with("../"))
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':'))
        && !text.ends_with(':')
        && !["y", "n", "yes", "no", "on", "off", "true", "false", "null"]
            .contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

/// A YAML scalar for a line of text with spaces (a shell command): plain when it is
/// words of `A-Z a-z 0-9 . _ / = -` starting with a letter, else double-quoted.
pub fn scalar_text(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && !text.ends_with(' ')
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'/' | b'=' | b'-')
        });
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `https://id.example.com` for `https://id.example.com/.well-known/openid-configuration`:
/// OpenID Connect Discovery puts the configuration there, under the issuer.
fn oidc_issuer(url: &str) -> Option<&str> {
    url.strip_suffix("/.well-known/openid-configuration")
        .filter(|issuer| issuer.starts_with("https://"))
}

fn scheme_block(scheme: &Scheme) -> Text {
    let mut text = Text::default();
    let by = list(&scheme.declared_by);
    let jwt = |text: &mut Text, what: String| {
        text.noted(
            2,
            &format!("{}:", scalar(&scheme.name)),
            &format!("{what}, in {by}"),
        );
        text.line(4, "jwt:");
        text.noted(
            6,
            "algorithms: [RS256]",
            "decide: what your tokens are signed with (one family)",
        );
    };
    let scope = |text: &mut Text| {
        text.note(
            6,
            "decide: `issuer`, the `iss` of your tokens, and `audiences`, an `aud` meant for this API; without audiences `gateway validate` warns (jwt_unscoped).",
        );
    };
    match &scheme.kind {
        Kind::Bearer { format } => {
            let what = match format {
                Some(format) => format!("http bearer ({format})"),
                None => "http bearer".to_owned(),
            };
            jwt(&mut text, what);
            text.noted(
                6,
                &format!("key_env: {}_KEY", scheme.env),
                "its public key: PEM, JWK or JWK set (HS*: the secret)",
            );
            if format
                .as_deref()
                .is_some_and(|f| !f.eq_ignore_ascii_case("jwt"))
            {
                text.note(
                    6,
                    &format!(
                        "The spec's bearerFormat is `{}`: the gateway verifies JWTs only.",
                        format.as_deref().unwrap_or_default()
                    ),
                );
            }
            scope(&mut text);
            text.line(6, "# issuer:");
            text.line(6, "# audiences: []");
        }
        Kind::OAuth2 { flows } => {
            let what = if flows.is_empty() {
                "oauth2".to_owned()
            } else {
                format!("oauth2 ({})", flows.join(", "))
            };
            jwt(&mut text, what);
            text.noted(
                6,
                &format!("jwks_url_env: {}_JWKS_URL", scheme.env),
                "the URL of your provider's JWK set",
            );
            scope(&mut text);
            text.line(6, "# issuer:");
            text.line(6, "# audiences: []");
        }
        Kind::OpenIdConnect { url } => {
            jwt(&mut text, "openIdConnect".to_owned());
            text.noted(
                6,
                &format!("jwks_url_env: {}_JWKS_URL", scheme.env),
                "the `jwks_uri` of its OpenID configuration",
            );
            text.note(6, &format!("OpenID configuration: {url}"));
            scope(&mut text);
            match oidc_issuer(url) {
                Some(issuer) => text.noted(
                    6,
                    &format!("# issuer: {}", scalar(issuer)),
                    "the configuration's own `issuer` decides",
                ),
                None => text.line(6, "# issuer:"),
            }
            text.line(6, "# audiences: []");
        }
        Kind::ApiKey { location, name } => {
            text.noted(
                2,
                &format!("{}:", scalar(&scheme.name)),
                &format!("apiKey in {location} `{name}`, in {by}"),
            );
            text.line(4, "api_key:");
            text.noted(
                6,
                &format!("keys_env: {}_KEYS", scheme.env),
                "lines `consumer:key` or `consumer:sha256:<hex>`",
            );
            text.noted(
                6,
                "# strip: true",
                "decide: remove the key before forwarding it",
            );
        }
        Kind::Basic => {
            text.noted(
                2,
                &format!("{}:", scalar(&scheme.name)),
                &format!("http basic, in {by}"),
            );
            text.line(4, "basic:");
            text.noted(
                6,
                &format!("users_env: {}_USERS", scheme.env),
                "htpasswd lines `user:hash`: bcrypt (`htpasswd -nB <user>`) or argon2id",
            );
            text.noted(
                6,
                "# forward_authorization: true",
                "decide: pass the client's Authorization header (its password) upstream",
            );
        }
        Kind::Unsupported(_) => {}
    }
    text
}

fn auth(survey: &Survey, text: &mut Text) {
    if survey.schemes.is_empty() {
        return;
    }
    let live = survey
        .schemes
        .iter()
        .any(|s| s.used && s.kind.configurable());
    text.line(0, if live { "auth:" } else { "# auth:" });
    text.note(
        2,
        "How the gateway verifies each security scheme the specs declare. Key material is read from these environment variables when the gateway starts; it is never compiled in.",
    );
    for scheme in &survey.schemes {
        match &scheme.kind {
            Kind::Unsupported(why) => text.note(
                2,
                &format!(
                    "{}: {why}. The operations that require it are listed under their service to decide.",
                    scheme.name
                ),
            ),
            _ if scheme.used => {
                let block = scheme_block(scheme);
                text.0.push_str(&block.0);
            }
            _ => {
                text.note(
                    2,
                    &format!(
                        "{}: no operation requires it; uncomment to verify it anyway.",
                        scheme.name
                    ),
                );
                text.commented(2, scheme_block(scheme));
            }
        }
    }
}

fn reason(reason: &Reason) -> String {
    match reason {
        Reason::NoSecurity => "the spec names no security".to_owned(),
        Reason::PrivateWithoutScheme => {
            "x-gateway says `public: false`, but the spec requires no scheme".to_owned()
        }
        Reason::Schemes {
            unconfigurable,
            undeclared,
        } => {
            let mut parts = Vec::new();
            if !unconfigurable.is_empty() {
                parts.push(format!(
                    "requires {}, which `auth` cannot configure (see there)",
                    list(unconfigurable)
                ));
            }
            if !undeclared.is_empty() {
                parts.push(format!(
                    "requires {}, which the spec does not declare",
                    list(undeclared)
                ));
            }
            parts.join("; ")
        }
    }
}

fn service(service: &Service, schemes: &[Scheme], text: &mut Text) {
    text.line(2, &format!("{}:", service.name));
    text.line(4, &format!("spec: {}", scalar(&service.spec)));
    if let Some((other, route)) = &service.mount {
        text.noted(
            4,
            &format!("mount: /{}", service.name),
            &format!("decide: {other} has {route} too"),
        );
    }
    text.line(4, "upstream:");
    let env = format!(
        "GATEWAY_UPSTREAM_{}",
        service.name.to_ascii_uppercase().replace('-', "_")
    );
    let urls = format!("urls: [{}]", scalar(&service.upstream.url));
    match &service.upstream.source {
        UpstreamSource::Spec => text.noted(6, &urls, "the spec's first server"),
        UpstreamSource::Placeholder(why) => {
            let why = match why {
                PlaceholderWhy::NoServer => "The spec names no server.".to_owned(),
                PlaceholderWhy::Https(url) => format!(
                    "The spec's server is {url}: this version reaches upstreams over plain http, so give an http address of its instances (its path is kept)."
                ),
                PlaceholderWhy::Relative(url) => format!(
                    "The spec's server `{url}` is relative to where the spec is served (its path is kept)."
                ),
                PlaceholderWhy::Unusable(url, why) => {
                    format!("The spec's server `{url}` cannot be an upstream: {why}.")
                }
            };
            text.note(
                6,
                &format!(
                    "decide: where this service's instances run; a placeholder until then. {why} {env} overrides it when the gateway starts."
                ),
            );
            text.line(6, &urls);
        }
    }
    let count =
        |f: fn(&Decision) -> bool| service.operations.iter().filter(|o| f(&o.decision)).count();
    let secured = count(|d| matches!(d, Decision::Secured));
    let public = count(|d| matches!(d, Decision::Public(_)));
    let open = count(|d| matches!(d, Decision::Open(_)));
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    text.note(
        4,
        &format!(
            "{}: {} credentials, {} public by the spec, {} to decide.",
            plural(service.operations.len(), "operation", "operations"),
            plural(secured, "requires", "require"),
            public,
            open
        ),
    );
    let key_width = |public: bool| {
        service
            .operations
            .iter()
            .filter(|o| match o.decision {
                Decision::Public(_) => public,
                Decision::Open(_) => !public,
                Decision::Secured => false,
            })
            .map(|o| scalar(&o.key).chars().count())
            .max()
            .unwrap_or(0)
    };
    if public > 0 {
        text.note(4, "Public by the spec (forwarded without credentials):");
        let key_width = key_width(true);
        for op in &service.operations {
            if let Decision::Public(how) = &op.decision {
                text.line(
                    4,
                    &format!(
                        "#   {:<key_width$}  {} {} ({how})",
                        scalar(&op.key),
                        op.method,
                        clean(&op.path)
                    ),
                );
            }
        }
    }
    if open > 0 {
        let configured: Vec<String> = schemes
            .iter()
            .filter(|s| s.used && s.kind.configurable() && s.declared_by.contains(&service.name))
            .map(|s| s.name.clone())
            .collect();
        let alternatively = if configured.is_empty() {
            String::new()
        } else {
            format!(" (schemes: {})", configured.join(", "))
        };
        text.note(
            4,
            &format!(
                "decide: each operation below has no auth decision, and `gateway validate` fails until it has one. Uncomment `operations:` and the line of each operation that needs no credentials, or give the operation `security` in the spec{alternatively}."
            ),
        );
        if service.open {
            text.note(
                4,
                "The spec declares no security at all: `unsecured: public` instead makes every operation public.",
            );
            text.line(4, "# unsecured: public");
        }
        text.line(4, "# operations:");
        let key_width = key_width(false) + 1;
        for op in &service.operations {
            if let Decision::Open(why) = &op.decision {
                let entry = format!(
                    "{:<key_width$}  {{ public: true }}",
                    format!("{}:", scalar(&op.key))
                );
                text.noted(
                    4,
                    &format!("#   {entry}"),
                    &format!("{} {}: {}", op.method, op.path, reason(why)),
                );
            }
        }
    }
}

pub fn manifest(survey: &Survey, context: &Context<'_>) -> String {
    let mut text = Text::default();
    text.line(
        0,
        &format!("# yaml-language-server: $schema={}", context.schema),
    );
    let specs: Vec<String> = survey.services.iter().map(|s| s.spec.clone()).collect();
    text.note(
        0,
        &format!(
            "The gateway's manifest (reference: docs/manifest.md of openapi-gateway-compiler), written by `gateway init` from {}. Decisions the specs could not make are marked `decide:`; to see what is still missing, run:",
            list(&specs),
        ),
    );
    text.line(
        0,
        &format!("#   gateway validate --manifest {}", context.file),
    );
    text.line(0, "version: 1");
    text.noted(
        0,
        &format!("output: {}", scalar(context.output)),
        "where `gateway generate` writes the crate",
    );
    text.noted(
        0,
        "runtime: vendored",
        "the runtime's sources go into the crate; `registry`: from crates.io",
    );
    text.line(0, "gateway:");
    text.noted(
        2,
        &format!("name: {}", context.gateway),
        "names the generated crate and binary",
    );
    text.noted(2, "# listen: 0.0.0.0:8080", "the default public address");
    text.noted(
        2,
        "# base_path: /api",
        "decide: a prefix of every public route",
    );
    text.noted(
        2,
        "# docs: { path: /docs }",
        "an API reference page of the public API",
    );
    auth(survey, &mut text);
    text.line(0, "services:");
    for s in &survey.services {
        service(s, &survey.schemes, &mut text);
    }
    text.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_that_could_be_misread_are_quoted() {
        assert_eq!(scalar("users"), "users");
        assert_eq!(scalar("specs/users.yaml"), "specs/users.yaml");
        assert_eq!(scalar("../specs/users.yaml"), "../specs/users.yaml");
        assert_eq!(scalar(".inf"), "\".inf\"");
        assert_eq!(
            scalar("http://127.0.0.1:9001/v1"),
            "http://127.0.0.1:9001/v1"
        );
        assert_eq!(scalar("GET /users/{id}"), "\"GET /users/{id}\"");
        assert_eq!(scalar("on"), "\"on\"");
        assert_eq!(scalar("No"), "\"No\"");
        assert_eq!(scalar("1st"), "\"1st\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("key:"), "\"key:\"");
        assert_eq!(scalar("#x"), "\"#x\"");
        assert_eq!(scalar("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        // Every one reads back as the text it was made from.
        for text in [
            "GET /a/{b}",
            "on",
            "1st",
            "a: b",
            "x # y",
            "é\u{7}",
            "[x]",
            "*x",
            "&x",
            "!x",
        ] {
            let yaml = format!("key: {}\n", scalar(text));
            let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(value["key"].as_str(), Some(text), "{yaml}");
        }
    }

    #[test]
    fn comments_wrap_and_align() {
        let mut text = Text::default();
        text.noted(2, "a: 1", "one");
        text.noted(2, &"b".repeat(40), "two");
        text.note(0, &"word ".repeat(30));
        let lines: Vec<&str> = text.0.lines().collect();
        assert_eq!(lines[0].find('#'), Some(NOTE_COLUMN));
        assert!(lines[1].ends_with("  # two"));
        assert!(
            lines[2..]
                .iter()
                .all(|l| l.len() <= WIDTH && l.starts_with("# word"))
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn oidc_issuers() {
        assert_eq!(
            oidc_issuer("https://id.example.com/.well-known/openid-configuration"),
            Some("https://id.example.com")
        );
        assert_eq!(oidc_issuer("https://id.example.com/config"), None);
        assert_eq!(
            oidc_issuer("http://id.example.com/.well-known/openid-configuration"),
            None
        );
    }
}
