//! Path templates (`/users/{id}/orders`): parsed once, strictly.
//!
//! The runtime's router matches segment by segment, so no value can cross a `/`. A segment
//! is a literal, a parameter, or a mix (`{base}...{head}`, `{name}.json`) where each
//! parameter ends at the first occurrence of the literal after it; two parameters side by
//! side (`{a}{b}`) would make that boundary a guess, and are reported.
//! Literals are kept percent-encoded, as requests carry them.

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::ir::{
    EnumType, Method, ParamIn, ParamType, PathTemplate, PathType, Piece, Route, Segment,
};

pub fn parse_template(path: &str, at: &Location, diags: &mut Diagnostics) -> Option<PathTemplate> {
    let mut key = at.clone();
    key.at_key = true;
    let fail = |diags: &mut Diagnostics, message: String, help: &str| {
        diags.push(
            Diagnostic::error("gateway::spec::malformed_path", message)
                .at(key.clone())
                .help(help.to_owned()),
        );
        None
    };
    let Some(rest) = path.strip_prefix('/') else {
        return fail(
            diags,
            format!("path `{path}` does not start with `/`"),
            "paths are written like `/users/{id}`",
        );
    };
    if rest.is_empty() {
        return Some(PathTemplate {
            segments: Vec::new(),
        });
    }
    // Some specs tell two operations of one path apart with a fragment
    // (`/oauth2/token#refresh`): clients never send one, so such a route only matches its
    // literal, percent-encoded form.
    if let Some((_, fragment)) = path.split_once('#') {
        diags.push(
            Diagnostic::warning(
                "gateway::spec::fragment_in_path",
                format!(
                    "path `{path}` contains `#`: `#{fragment}` would be a URI fragment, which clients do not send; the route matches only `{}`",
                    path.replace('#', "%23")
                ),
            )
            .at(key.clone())
            .help("give the operation a path of its own, or merge it with the operation of the path before `#`"),
        );
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, segment) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        if segment.is_empty() && !last {
            return fail(
                diags,
                format!("path `{path}` has an empty segment"),
                "remove the doubled `/`",
            );
        }
        if !segment.contains(['{', '}']) {
            if *segment == "." || *segment == ".." {
                return fail(
                    diags,
                    format!("path `{path}` has a dot segment"),
                    "remove `.` and `..` segments",
                );
            }
            segments.push(Segment::Literal(encode_literal(segment)));
            continue;
        }
        let mut pieces = Vec::new();
        let mut rest = *segment;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let name = match after.split_once('}') {
                    Some((name, tail)) if !name.is_empty() && !name.contains('{') => {
                        rest = tail;
                        name
                    }
                    _ => {
                        return fail(
                            diags,
                            format!("path `{path}` has a malformed parameter in `{segment}`"),
                            "a parameter is written `{name}`",
                        );
                    }
                };
                if matches!(pieces.last(), Some(Piece::Param(_))) {
                    return fail(
                        diags,
                        format!(
                            "path `{path}`: segment `{segment}` has two parameters side by side"
                        ),
                        "put literal text between them (`{base}...{head}`): where one would end is a guess",
                    );
                }
                if names.contains(&name) {
                    return fail(
                        diags,
                        format!("path `{path}` uses parameter `{name}` twice"),
                        "give each path parameter its own name",
                    );
                }
                names.push(name);
                pieces.push(Piece::Param(name.to_owned()));
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if literal.contains('}') {
                    return fail(
                        diags,
                        format!("path `{path}` has a stray `}}` in `{segment}`"),
                        "a parameter is written `{name}`",
                    );
                }
                pieces.push(Piece::Literal(encode_literal(literal)));
                rest = &rest[end..];
            }
        }
        segments.push(match pieces.as_slice() {
            [Piece::Param(name)] => Segment::Param(name.clone()),
            _ => Segment::Mixed(pieces),
        });
    }
    Some(PathTemplate { segments })
}

/// A literal as it appears in a request: characters outside RFC 3986 `pchar` (non-ASCII
/// letters, spaces) percent-encoded as UTF-8, so the router compares like with like.
fn encode_literal(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// Types the path parameters of the routes of one service that share a method and a
/// path shape (`/contacts/{id}` and `/contacts/{number}`), so that the router can tell
/// them apart by their values' types; `check` reports the pairs it still cannot. Other
/// routes stay untyped: a value of the wrong type is then a 400 naming the parameter,
/// not a 404.
pub fn type_apart(routes: &mut [Route], enums: &[EnumType]) {
    let mut groups: IndexMap<(Method, String), Vec<usize>> = IndexMap::new();
    for (index, route) in routes.iter().enumerate() {
        groups
            .entry((route.method, route.public_path.shape()))
            .or_default()
            .push(index);
    }
    for members in groups.values().filter(|members| members.len() > 1) {
        for &index in members {
            let route = &mut routes[index];
            route.path_types = path_types(route, enums);
        }
    }
}

/// One type per path parameter in template order; a parameter inside a mixed segment is
/// `Any` (the router does not type those).
fn path_types(route: &Route, enums: &[EnumType]) -> Vec<PathType> {
    let type_of = |name: &str| {
        let param = route
            .params
            .iter()
            .find(|p| p.location == ParamIn::Path && p.name == name);
        match param.map(|p| &p.ty) {
            Some(ParamType::Int32 | ParamType::Int64) => PathType::Integer,
            Some(ParamType::Number) => PathType::Number,
            Some(ParamType::Boolean) => PathType::Boolean,
            Some(ParamType::Uuid) => PathType::Uuid,
            Some(ParamType::Enum(at)) => PathType::Enum(
                enums
                    .get(*at)
                    .map(|e| e.variants.iter().map(|(wire, _)| wire.clone()).collect())
                    .unwrap_or_default(),
            ),
            _ => PathType::Any,
        }
    };
    let mut types = Vec::new();
    for segment in &route.public_path.segments {
        match segment {
            Segment::Literal(_) => {}
            Segment::Param(name) => types.push(type_of(name)),
            Segment::Mixed(pieces) => types.extend(
                pieces
                    .iter()
                    .filter(|p| matches!(p, Piece::Param(_)))
                    .map(|_| PathType::Any),
            ),
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Result<String, String> {
        let mut diags = Diagnostics::default();
        match parse_template(path, &Location::new("s.yaml", "/paths/x"), &mut diags) {
            Some(t) => Ok(t.to_string()),
            None => Err(diags.list[0].message.clone()),
        }
    }

    #[test]
    fn templates() {
        assert_eq!(parse("/users/{id}/orders"), Ok("/users/{id}/orders".into()));
        assert_eq!(parse("/"), Ok("/".into()));
        assert_eq!(parse("/users/"), Ok("/users/".into()));
        assert!(parse("users").is_err());
        assert!(parse("/a//b").is_err());
        assert_eq!(parse("/files/{name}.json"), Ok("/files/{name}.json".into()));
        assert_eq!(
            parse("/compare/{base}...{head}"),
            Ok("/compare/{base}...{head}".into())
        );
        assert!(
            parse("/files/{name}{ext}")
                .unwrap_err()
                .contains("side by side")
        );
        assert!(parse("/files/{name").is_err());
        assert!(parse("/files/name}").is_err());
        assert!(parse("/a/{x}/b{x}").unwrap_err().contains("twice"));
        assert!(parse("/a/{}").is_err());
        assert!(parse("/a/{x}/{x}").unwrap_err().contains("twice"));
        assert!(parse("/a/../b").is_err());
        assert_eq!(parse("/a b/ユ"), Ok("/a%20b/%E3%83%A6".into()));
    }

    #[test]
    fn a_fragment_in_a_path_is_kept_literal_with_a_warning() {
        let mut diags = Diagnostics::default();
        let at = Location::new("s.yaml", "/paths/~1oauth2~1token#refresh");
        let template = parse_template("/oauth2/token#refresh", &at, &mut diags).unwrap();
        assert_eq!(template.to_string(), "/oauth2/token%23refresh");
        assert_eq!(diags.list.len(), 1);
        assert_eq!(diags.list[0].code, "gateway::spec::fragment_in_path");
        assert!(diags.list[0].message.contains("`/oauth2/token%23refresh`"));
        let mut diags = Diagnostics::default();
        parse_template("/oauth2/token", &at, &mut diags).unwrap();
        assert!(diags.list.is_empty());
    }
}
