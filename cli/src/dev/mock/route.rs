//! Finding the operation of a request in an upstream spec: method and path template, the
//! way the gateway forwards it (the spec's own path under the upstream's base URL).

use regex::Regex;
use serde_json::Value;

use super::generate::resolve;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of the spec.
#[derive(Debug)]
pub struct Operation {
    /// Upper case.
    pub method: String,
    /// The path template as written (`/users/{userId}`).
    pub path: String,
    /// The operation object, for [`super::pick::answer`].
    pub operation: Value,
    pattern: Regex,
    /// Literal characters in the template: the more, the more specific.
    literals: usize,
}

/// What a request finds.
#[derive(Debug)]
pub enum Found<'a> {
    Operation(&'a Operation),
    /// The path exists with these other methods.
    OtherMethods(Vec<&'a str>),
    Nothing,
}

/// Every operation of a document, most specific paths first.
#[derive(Debug, Default)]
pub struct Routes {
    operations: Vec<Operation>,
}

impl Routes {
    pub fn new(doc: &Value) -> Routes {
        let mut operations = Vec::new();
        let paths = doc.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            let item = resolve(doc, item);
            let Some(pattern) = template_pattern(path) else {
                continue;
            };
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        path: path.clone(),
                        operation: operation.clone(),
                        pattern: pattern.clone(),
                        literals: literal_length(path),
                    });
                }
            }
        }
        // Literal segments win over parameters, as in the gateway's router.
        operations.sort_by(|a, b| {
            b.literals
                .cmp(&a.literals)
                .then_with(|| a.path.cmp(&b.path))
        });
        Routes { operations }
    }

    pub fn find(&self, method: &str, path: &str) -> Found<'_> {
        let mut others = Vec::new();
        for operation in &self.operations {
            if operation.pattern.is_match(path) {
                if operation.method.eq_ignore_ascii_case(method) {
                    return Found::Operation(operation);
                }
                others.push(operation.method.as_str());
            }
        }
        if others.is_empty() {
            Found::Nothing
        } else {
            Found::OtherMethods(others)
        }
    }
}

/// `/users/{id}/x{n}.json` as an anchored pattern: each parameter one or more characters
/// other than `/`, literals as written.
fn template_pattern(path: &str) -> Option<Regex> {
    let mut pattern = String::from("^");
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        pattern.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..].find('}')? + open;
        pattern.push_str("[^/]+?");
        rest = &rest[close + 1..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    Regex::new(&pattern).ok()
}

fn literal_length(path: &str) -> usize {
    let mut count = 0;
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => inside = true,
            '}' => inside = false,
            _ if !inside => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_win_and_other_methods_are_listed() {
        let doc = json!({"paths": {
            "/users/{id}": {"get": {"operationId": "get"}, "delete": {"operationId": "delete"}},
            "/users/me": {"get": {"operationId": "me"}},
            "/files/{name}.{ext}": {"get": {"operationId": "file"}}
        }});
        let routes = Routes::new(&doc);
        assert_eq!(routes.operations.len(), 4);
        let id = |m: &str, p: &str| match routes.find(m, p) {
            Found::Operation(op) => op.operation["operationId"].as_str().unwrap().to_owned(),
            Found::OtherMethods(methods) => format!("405 {methods:?}"),
            Found::Nothing => "404".to_owned(),
        };
        assert_eq!(id("GET", "/users/me"), "me");
        assert_eq!(id("GET", "/users/42"), "get");
        assert_eq!(id("DELETE", "/users/42"), "delete");
        assert_eq!(id("POST", "/users/42"), "405 [\"GET\", \"DELETE\"]");
        assert_eq!(id("GET", "/users/42/x"), "404");
        assert_eq!(id("GET", "/users/"), "404");
        assert_eq!(id("GET", "/files/a.tar.gz"), "file");
        assert_eq!(id("GET", "/files/readme"), "404");
    }
}
