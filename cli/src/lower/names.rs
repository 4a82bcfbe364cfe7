//! Rust names for wire names: sanitizing, and one pass over all names of a scope at once.
//!
//! Wire names can be anything (`type`, `self`, `x-request-id`, `1st`, `ユーザー`); Rust
//! names must be identifiers that are not keywords and do not collide. Collisions are
//! settled in a fixed order (first come keeps the name, later ones get `_2`, `_3`, ...) so
//! the output depends only on the input's order, never on a hash.

use std::collections::BTreeSet;

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Keywords of every edition, and names a generated crate already uses at its root.
const RESERVED: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "union", "_",
];

/// Only ASCII letters and digits survive; everything else separates words.
fn ascii_words(wire: &str) -> String {
    wire.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect()
}

fn finish(mut name: String, fallback: &str, digit_prefix: &str) -> String {
    if name.is_empty() {
        name = fallback.to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, digit_prefix);
    }
    if RESERVED.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// `getUser`, `get-user`, `GET /users` -> `get_user`; a snake-case identifier.
pub fn snake(wire: &str, fallback: &str) -> String {
    finish(ascii_words(wire).to_snake_case(), fallback, "n")
}

/// `order-status` -> `OrderStatus`; a camel-case identifier (`Self` becomes `SelfType`,
/// since a trailing `_` would not be camel case).
pub fn camel(wire: &str, fallback: &str) -> String {
    let name = ascii_words(wire).to_upper_camel_case();
    if name == "Self" {
        return "SelfType".to_owned();
    }
    finish(name, fallback, "N")
}

/// Names handed out in one scope (a module, a struct's fields, an enum's variants).
#[derive(Debug, Default)]
pub struct Scope {
    taken: BTreeSet<String>,
}

impl Scope {
    /// A scope where some names are already used (e.g. module names of the crate root).
    pub fn with_reserved(names: &[&str]) -> Scope {
        Scope {
            taken: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    /// `candidate` if free, else `candidate_2`, `candidate_3`, ... (`Candidate2` style for
    /// camel-case names).
    pub fn claim(&mut self, candidate: String) -> String {
        let camel = candidate.starts_with(|c: char| c.is_ascii_uppercase());
        let mut name = candidate.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = if camel {
                format!("{candidate}{n}")
            } else {
                format!("{candidate}_{n}")
            };
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// `GATEWAY_UPSTREAM_<SERVICE>`: the key upper-cased, non-alphanumerics as `_`.
pub fn upstream_env(key: &str) -> String {
    let suffix: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("GATEWAY_UPSTREAM_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_identifiers() {
        assert_eq!(snake("getUser", "op"), "get_user");
        assert_eq!(snake("type", "op"), "type_");
        assert_eq!(snake("self", "op"), "self_");
        assert_eq!(snake("x-request-id", "p"), "x_request_id");
        assert_eq!(snake("1st", "p"), "n1st");
        assert_eq!(snake("ユーザー", "op"), "op");
        assert_eq!(camel("Self", "T"), "SelfType");
        assert_eq!(camel("result", "T"), "Result");
        assert_eq!(camel("2fa", "T"), "N2fa");
    }

    #[test]
    fn collisions_get_suffixes_in_order() {
        let mut scope = Scope::with_reserved(&["routes"]);
        assert_eq!(scope.claim(snake("get-user", "op")), "get_user");
        assert_eq!(scope.claim(snake("get_user", "op")), "get_user_2");
        assert_eq!(scope.claim(snake("getUser", "op")), "get_user_3");
        assert_eq!(scope.claim("routes".into()), "routes_2");
        assert_eq!(scope.claim("Status".into()), "Status");
        assert_eq!(scope.claim("Status".into()), "Status2");
    }

    #[test]
    fn env_names() {
        assert_eq!(
            upstream_env("user-profiles"),
            "GATEWAY_UPSTREAM_USER_PROFILES"
        );
    }
}
