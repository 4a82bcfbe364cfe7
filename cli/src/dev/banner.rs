//! What `gateway dev` tells the developer once the gateway answers: the mocks, the
//! development credentials, the routes, and ready `curl` lines for the first few, each
//! with the parameters, headers, body and credentials its route requires, taken from the
//! spec's examples (or made from its schemas) so the gateway lets it through.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::keys::Credential;
use super::mock::generate::{example_of, resolve};
use crate::ir::{Auth, Gateway, ParamIn, Route};

/// How many routes get a `curl` line.
pub const CURL_LINES: usize = 6;
/// How many routes are listed before "and N more".
const LISTED: usize = 40;

/// Characters left as they are in a path segment or query value (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Wraps `text` in single quotes for a POSIX shell.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A parameter's value as text: its example, else its schema's (or one made from it).
fn param_value(doc: &Value, param: &Value) -> Value {
    example_of(doc, param).unwrap_or(Value::String("value".into()))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The operation of `route` in its spec, and its parameters (path item's and its own,
/// the operation's winning), `$ref`s resolved.
fn operation<'a>(doc: &'a Value, route: &Route) -> Option<(&'a Value, Vec<&'a Value>)> {
    let item = resolve(doc, doc.get("paths")?.get(&route.spec_path)?);
    let operation = item.get(route.method.key())?;
    let mut params: Vec<&Value> = Vec::new();
    let listed = |v: &'a Value| -> Vec<&'a Value> {
        v.get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|p| resolve(doc, p)).collect())
            .unwrap_or_default()
    };
    for param in listed(operation).into_iter().chain(listed(item)) {
        let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
        if !params.iter().any(|p| key(p) == key(param)) {
            params.push(param);
        }
    }
    Some((operation, params))
}

/// A `curl` command for `route` that the gateway lets through.
pub fn curl(
    gateway: &Gateway,
    doc: &Value,
    route: &Route,
    base: &str,
    credentials: &[Credential],
) -> String {
    let (operation, params) = operation(doc, route).unwrap_or((&Value::Null, Vec::new()));
    let find = |name: &str, place: &str| {
        params.iter().find(|p| {
            p.get("name").and_then(Value::as_str) == Some(name)
                && p.get("in").and_then(Value::as_str) == Some(place)
        })
    };
    let mut path = String::new();
    let template = route.public_path.to_string();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}').map(|c| c + open) else {
            break;
        };
        let name = &rest[open + 1..close];
        let value = find(name, "path").map_or(Value::String("1".into()), |p| param_value(doc, p));
        let value = match value {
            Value::Array(items) => items.first().map(scalar).unwrap_or_default(),
            other => scalar(&other),
        };
        path.push_str(&utf8_percent_encode(&value, UNRESERVED).to_string());
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    let mut query: Vec<String> = Vec::new();
    let mut headers: Vec<String> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for param in &params {
        if param.get("required") != Some(&Value::Bool(true)) {
            continue;
        }
        let name = param
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = param_value(doc, param);
        match param.get("in").and_then(Value::as_str) {
            Some("query") => {
                let explode = param
                    .get("explode")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let encode = |v: &Value| utf8_percent_encode(&scalar(v), UNRESERVED).to_string();
                match &value {
                    Value::Array(items) if explode => {
                        query.extend(items.iter().map(|item| format!("{name}={}", encode(item))))
                    }
                    Value::Array(items) => query.push(format!(
                        "{name}={}",
                        items.iter().map(encode).collect::<Vec<_>>().join(",")
                    )),
                    other => query.push(format!("{name}={}", encode(other))),
                }
            }
            Some("header") => headers.push(format!("{name}: {}", scalar(&value))),
            Some("cookie") => cookies.push(format!("{name}={}", scalar(&value))),
            _ => {}
        }
    }
    // Credentials of the route's first alternative.
    let mut login = None;
    if let Auth::Required { alternatives, .. } = &route.auth
        && let Some(first) = alternatives.first()
    {
        for requirement in first {
            match credentials
                .iter()
                .find(|c| c.scheme() == requirement.scheme)
            {
                Some(Credential::Token { token, .. }) => {
                    headers.push(format!("Authorization: Bearer {token}"))
                }
                Some(Credential::ApiKey {
                    key,
                    location,
                    name,
                    ..
                }) => match location {
                    ParamIn::Query => query.push(format!("{name}={key}")),
                    ParamIn::Cookie => cookies.push(format!("{name}={key}")),
                    _ => headers.push(format!("{name}: {key}")),
                },
                Some(Credential::Basic { user, password, .. }) => {
                    login = Some(format!("{user}:{password}"));
                }
                None => {}
            }
        }
    }
    let mut line = String::from("curl -i");
    if !matches!(route.method, crate::ir::Method::Get) {
        let _ = write!(line, " -X {}", route.method);
    }
    let mut url = format!("{base}{path}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let _ = write!(line, " {}", quote(&url));
    for header in &headers {
        let _ = write!(line, " -H {}", quote(header));
    }
    if !cookies.is_empty() {
        let _ = write!(line, " -b {}", quote(&cookies.join("; ")));
    }
    if let Some(login) = login {
        let _ = write!(line, " -u {}", quote(&login));
    }
    if let Some((media, body)) = request_body(doc, operation) {
        let _ = write!(
            line,
            " -H {} -d {}",
            quote(&format!("Content-Type: {media}")),
            quote(&body)
        );
    }
    let _ = gateway;
    line
}

/// The request body to send: the JSON (or urlencoded) media type's example, else one made
/// from its schema.
fn request_body(doc: &Value, operation: &Value) -> Option<(String, String)> {
    let body = resolve(doc, operation.get("requestBody")?);
    let content = body.get("content")?.as_object()?;
    let (media, entry) = content
        .iter()
        .find(|(m, _)| {
            let m = m.to_ascii_lowercase();
            m.starts_with("application/json") || m.contains("+json")
        })
        .or_else(|| {
            content
                .iter()
                .find(|(m, _)| m.starts_with("application/x-www-form-urlencoded"))
        })?;
    let value = example_of(doc, entry)?;
    if media.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<String> = value
            .as_object()?
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, UNRESERVED),
                    utf8_percent_encode(&scalar(v), UNRESERVED)
                )
            })
            .collect();
        return Some((media.clone(), pairs.join("&")));
    }
    Some((media.clone(), serde_json::to_string(&value).ok()?))
}

/// The route table: method, public path, service, auth.
pub fn routes(gateway: &Gateway) -> String {
    let width = gateway
        .routes
        .iter()
        .take(LISTED)
        .map(|r| r.public_path.to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for route in gateway.routes.iter().take(LISTED) {
        let _ = writeln!(
            text,
            "  {:<7} {:<width$}  {:<10} {}",
            route.method.as_str(),
            route.public_path.to_string(),
            gateway.services[route.service].key,
            crate::emit::auth_summary(&route.auth),
        );
    }
    if gateway.routes.len() > LISTED {
        let _ = writeln!(
            text,
            "  ... and {} more (`gateway routes` lists them all)",
            gateway.routes.len() - LISTED
        );
    }
    text
}

/// The credentials block, loudly marked.
pub fn credentials(notes: &[String], credentials: &[Credential]) -> String {
    if notes.is_empty() && credentials.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "DEVELOPMENT ONLY: keys and credentials generated by `gateway dev` for this session.\n\
         They are printed and written unencrypted: never use them anywhere else.\n",
    );
    for note in notes {
        let _ = writeln!(text, "  {note}");
    }
    for credential in credentials {
        match credential {
            Credential::Token {
                scheme,
                token,
                scopes,
            } => {
                let scopes = if scopes.is_empty() {
                    "no scopes".to_owned()
                } else {
                    format!("scopes {}", scopes.join(" "))
                };
                let _ = writeln!(text, "  token {scheme}: {token}");
                let _ = writeln!(
                    text,
                    "    (sub {}, {scopes}, valid 12 h)",
                    super::keys::DEV_SUBJECT
                );
            }
            Credential::ApiKey {
                scheme,
                key,
                location,
                name,
            } => {
                let _ = writeln!(text, "  api key {scheme}: {key}");
                let _ = writeln!(
                    text,
                    "    ({} `{name}`, consumer {})",
                    location.as_str(),
                    super::keys::DEV_CONSUMER
                );
            }
            Credential::Basic {
                scheme,
                user,
                password,
            } => {
                let _ = writeln!(text, "  user {scheme}: {user}:{password}");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("{\"a\":1}"), "'{\"a\":1}'");
    }
}
