//! The public contract: each route's operation in the two public OpenAPI documents,
//! compared with oasdiff's rules. A request accepts what it accepted before or it breaks
//! clients (contravariant: narrowing is ERR); a response sends only what clients were told
//! to expect (covariant: widening is ERR).
//!
//! Schemas are compared through their `$ref`s; a pair of references already being
//! compared is not entered again, so recursive schemas end.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Found, Pairs, route_scope};
use crate::diag::{Location, pointer_push};
use crate::ir::{Gateway, Route};

pub(super) fn compare(base: &Gateway, new: &Gateway, pairs: &Pairs, found: &mut Found) {
    let new_shapes: BTreeSet<String> = new.routes.iter().map(|r| r.public_path.shape()).collect();
    for route in &pairs.removed {
        let scope = route_scope(base, route);
        let deprecated = operation(&base.openapi, route)
            .and_then(|o| o.get("deprecated"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let path_gone = !new_shapes.contains(&route.public_path.shape());
        let id = match (deprecated, path_gone) {
            (true, _) => "api-removed-with-deprecation",
            (false, true) => "api-path-removed-without-deprecation",
            (false, false) => "api-removed-without-deprecation",
        };
        found.add(
            id,
            &scope,
            format!("{} {} removed", route.method, route.public_path),
            None,
        );
    }
    for route in &pairs.added {
        found.add(
            "endpoint-added",
            &route_scope(new, route),
            format!("{} {} added", route.method, route.public_path),
            Some(route.location.clone()),
        );
    }
    for (old, route) in &pairs.both {
        let (Some(a), Some(b)) = (
            operation(&base.openapi, old),
            operation(&new.openapi, route),
        ) else {
            continue;
        };
        let mut walk = Walk {
            base: &base.openapi,
            new: &new.openapi,
            side: Side::Request,
            context: String::new(),
            stack: Vec::new(),
            out: Vec::new(),
        };
        walk.operation(a, b);
        let scope = route_scope(new, route);
        for (id, message, pointer) in walk.out {
            // A pointer into the document's components (after a `$ref`) is one into the
            // spec's own, where the route's spec keeps its components.
            let pointer = match pointer.strip_prefix('#') {
                Some(component) => component.to_owned(),
                None => format!("{}{pointer}", route.location.pointer),
            };
            let location = Location::new(route.location.file.clone(), pointer);
            found.add(&id, &scope, message, Some(location));
        }
    }
}

fn operation<'d>(document: &'d Value, route: &Route) -> Option<&'d Value> {
    document
        .get("paths")?
        .get(route.public_path.to_string())?
        .get(route.method.key())
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Request,
    Response,
}

/// What a schema is the schema of.
#[derive(Clone)]
enum Subject {
    /// `query parameter `limit``.
    Parameter(String),
    Body,
    /// The property's path from the body: `address/city`, `lines/items/sku`.
    Property(String),
}

struct Walk<'d> {
    base: &'d Value,
    new: &'d Value,
    side: Side,
    /// For responses: ` (200 application/json)`, after the subject in messages.
    context: String,
    /// The `$ref` pairs being compared.
    stack: Vec<(String, String)>,
    /// (rule id, message, pointer below the operation in the newer side, or `#` and a
    /// pointer into the document once a `$ref` was followed).
    out: Vec<(String, String, String)>,
}

/// Follows `$ref`s inside the document; returns the value and the last reference taken.
fn resolve<'d>(document: &'d Value, mut value: &'d Value) -> (&'d Value, Option<&'d str>) {
    let mut reference = None;
    for _ in 0..32 {
        let Some(r) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match r.strip_prefix('#').and_then(|p| document.pointer(p)) {
            Some(target) => {
                reference = Some(r);
                value = target;
            }
            None => break,
        }
    }
    (value, reference)
}

fn strings(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::String(s)) => BTreeSet::from([s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn show_set(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

impl<'d> Walk<'d> {
    fn emit(&mut self, id: String, message: String, pointer: &str) {
        self.out.push((id, message, pointer.to_owned()));
    }

    fn operation(&mut self, a: &'d Value, b: &'d Value) {
        self.parameters(a, b);
        self.request_body(a, b);
        self.responses(a, b);
    }

    fn parameters(&mut self, a: &'d Value, b: &'d Value) {
        let list = |document: &'d Value, op: &'d Value| {
            // (where, name) -> (its pointer, the parameter)
            let mut map: BTreeMap<(String, String), (String, &'d Value)> = BTreeMap::new();
            for (i, p) in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let (p, reference) = resolve(document, p);
                // A parameter of `components` is located there (see `schema`).
                let at = match reference.filter(|r| r.starts_with("#/")) {
                    Some(target) => target.to_owned(),
                    None => format!("/parameters/{i}"),
                };
                let place = p.get("in").and_then(Value::as_str).unwrap_or("").to_owned();
                let mut name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if place == "header" {
                    name = name.to_ascii_lowercase();
                }
                map.insert((place, name), (at, p));
            }
            map
        };
        let (was, now) = (list(self.base, a), list(self.new, b));
        let required = |p: &Value| p.get("required").and_then(Value::as_bool) == Some(true);
        for ((place, name), (pointer, p)) in &now {
            let label = format!("{place} parameter `{name}`");
            match was.get(&(place.clone(), name.clone())) {
                // A path parameter is part of the route's identity.
                None if place == "path" => {}
                None => {
                    let id = if required(p) {
                        "new-required-request-parameter"
                    } else {
                        "new-optional-request-parameter"
                    };
                    self.emit(id.into(), format!("{label} added"), pointer);
                }
                Some((_, old)) => {
                    match (required(old), required(p)) {
                        (false, true) => self.emit(
                            "request-parameter-became-required".into(),
                            format!("{label} became required"),
                            pointer,
                        ),
                        (true, false) => self.emit(
                            "request-parameter-became-optional".into(),
                            format!("{label} became optional"),
                            pointer,
                        ),
                        _ => {}
                    }
                    if let (Some(sa), Some(sb)) = (old.get("schema"), p.get("schema")) {
                        self.side = Side::Request;
                        self.context.clear();
                        self.schema(
                            sa,
                            sb,
                            &Subject::Parameter(label.clone()),
                            &format!("{pointer}/schema"),
                            0,
                        );
                    }
                }
            }
        }
        for (place, name) in was.keys() {
            if place != "path" && !now.contains_key(&(place.clone(), name.clone())) {
                self.emit(
                    "request-parameter-removed".into(),
                    format!("{place} parameter `{name}` removed"),
                    "/parameters",
                );
            }
        }
    }

    fn request_body(&mut self, a: &'d Value, b: &'d Value) {
        let body = |document: &'d Value, op: &'d Value| {
            op.get("requestBody").map(|body| resolve(document, body).0)
        };
        let required = |body: &Value| body.get("required").and_then(Value::as_bool) == Some(true);
        let pointer = "/requestBody";
        match (body(self.base, a), body(self.new, b)) {
            (None, None) => {}
            (None, Some(now)) => {
                let (id, text) = if required(now) {
                    (
                        "request-body-added-required",
                        "a required request body was added",
                    )
                } else {
                    (
                        "request-body-added-optional",
                        "an optional request body was added",
                    )
                };
                self.emit(id.into(), text.into(), pointer);
            }
            (Some(_), None) => self.emit(
                "request-body-removed".into(),
                "the request body was removed".into(),
                "",
            ),
            (Some(was), Some(now)) => {
                match (required(was), required(now)) {
                    (false, true) => self.emit(
                        "request-body-became-required".into(),
                        "the request body became required".into(),
                        pointer,
                    ),
                    (true, false) => self.emit(
                        "request-body-became-optional".into(),
                        "the request body became optional".into(),
                        pointer,
                    ),
                    _ => {}
                }
                self.side = Side::Request;
                self.content(was, now, pointer, "request-body-media-type", None);
            }
        }
    }

    /// The media types of a request body or a response (`status`), and their schemas.
    fn content(
        &mut self,
        was: &'d Value,
        now: &'d Value,
        pointer: &str,
        media_rule: &str,
        status: Option<&str>,
    ) {
        let media = |v: &'d Value| -> BTreeMap<String, &'d Value> {
            v.get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect()
        };
        let (old, new) = (media(was), media(now));
        let where_ = status.map(|s| format!(" ({s})")).unwrap_or_default();
        for name in old.keys().filter(|k| !new.contains_key(*k)) {
            self.emit(
                format!("{media_rule}-removed"),
                format!("media type `{name}` removed{where_}"),
                pointer,
            );
        }
        for name in new.keys().filter(|k| !old.contains_key(*k)) {
            self.emit(
                format!("{media_rule}-added"),
                format!("media type `{name}` added{where_}"),
                &format!("{pointer}/content{}", pointer_push("", name)),
            );
        }
        for (name, m) in &new {
            let Some(o) = old.get(name) else { continue };
            if let (Some(sa), Some(sb)) = (o.get("schema"), m.get("schema")) {
                self.context = status.map(|s| format!(" ({s} {name})")).unwrap_or_default();
                let at = format!("{pointer}/content{}/schema", pointer_push("", name));
                self.schema(sa, sb, &Subject::Body, &at, 0);
            }
        }
    }

    fn responses(&mut self, a: &'d Value, b: &'d Value) {
        let list = |op: &'d Value| -> BTreeMap<String, &'d Value> {
            op.get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect()
        };
        let (was, now) = (list(a), list(b));
        let success = |status: &str| status.starts_with('2');
        for status in was.keys().filter(|k| !now.contains_key(*k)) {
            let id = if success(status) {
                "response-success-status-removed"
            } else {
                "response-non-success-status-removed"
            };
            self.emit(id.into(), format!("status {status} removed"), "/responses");
        }
        for status in now.keys().filter(|k| !was.contains_key(*k)) {
            let id = if success(status) {
                "response-success-status-added"
            } else {
                "response-non-success-status-added"
            };
            self.emit(
                id.into(),
                format!("status {status} added"),
                &format!("/responses{}", pointer_push("", status)),
            );
        }
        for (status, response) in &now {
            let Some(old) = was.get(status) else { continue };
            let (old, _) = resolve(self.base, old);
            let (response, _) = resolve(self.new, response);
            self.side = Side::Response;
            let pointer = format!("/responses{}", pointer_push("", status));
            self.content(old, response, &pointer, "response-media-type", Some(status));
        }
    }

    fn prefix(&self, subject: &Subject) -> &'static str {
        match (self.side, subject) {
            (Side::Request, Subject::Parameter(_)) => "request-parameter",
            (Side::Request, Subject::Body) => "request-body",
            (Side::Request, Subject::Property(_)) => "request-property",
            (Side::Response, Subject::Body) => "response-body",
            (Side::Response, _) => "response-property",
        }
    }

    fn describe(&self, subject: &Subject) -> String {
        let side = match self.side {
            Side::Request => "request",
            Side::Response => "response",
        };
        let what = match subject {
            Subject::Parameter(label) => label.clone(),
            Subject::Body => format!("{side} body"),
            Subject::Property(path) => format!("{side} property `{path}`"),
        };
        format!("{what}{}", self.context)
    }

    fn child(subject: &Subject, name: &str) -> Subject {
        match subject {
            Subject::Parameter(label) => Subject::Parameter(label.clone()),
            Subject::Body => Subject::Property(name.to_owned()),
            Subject::Property(path) => Subject::Property(format!("{path}/{name}")),
        }
    }

    fn schema(
        &mut self,
        a: &'d Value,
        b: &'d Value,
        subject: &Subject,
        pointer: &str,
        depth: usize,
    ) {
        if depth > 64 {
            return;
        }
        let (a, ra) = resolve(self.base, a);
        let (b, rb) = resolve(self.new, b);
        let followed;
        let pointer = match rb.filter(|r| r.starts_with("#/")) {
            Some(target) => {
                followed = target.to_owned();
                followed.as_str()
            }
            None => pointer,
        };
        let pair = (ra.unwrap_or("").to_owned(), rb.unwrap_or("").to_owned());
        let refs = ra.is_some() || rb.is_some();
        if refs && self.stack.contains(&pair) {
            return;
        }
        if refs {
            self.stack.push(pair);
        }
        // Once the type changed, what was inside is another thing: its members are not
        // reported one by one.
        if self.keywords(a, b, subject, pointer) {
            self.composition(a, b, subject, pointer, depth);
            self.properties(a, b, subject, pointer, depth);
            if let (Some(ia), Some(ib)) = (a.get("items"), b.get("items")) {
                let items = Self::child(subject, "items");
                self.schema(ia, ib, &items, &format!("{pointer}/items"), depth + 1);
            }
        }
        if refs {
            self.stack.pop();
        }
    }

    /// Type, nullability, enum, bounds, lengths, pattern; false when the type changed.
    fn keywords(&mut self, a: &'d Value, b: &'d Value, subject: &Subject, pointer: &str) -> bool {
        let prefix = self.prefix(subject);
        let what = self.describe(subject);
        let request = self.side == Side::Request;
        let (ta, tb) = (strings(a.get("type")), strings(b.get("type")));
        let mut same_type = true;
        if !ta.is_empty() && !tb.is_empty() && ta != tb {
            // An integer is a number: accepting numbers where integers were generalizes a
            // request, and sending integers where numbers were specializes a response.
            let widened = ta.contains("integer") && tb.contains("number") && ta.len() == tb.len();
            let narrowed = ta.contains("number") && tb.contains("integer") && ta.len() == tb.len();
            let word = match (self.side, widened, narrowed) {
                (Side::Request, true, _) => "type-generalized",
                (Side::Response, _, true) => "type-specialized",
                _ => {
                    same_type = false;
                    "type-changed"
                }
            };
            self.emit(
                format!("{prefix}-{word}"),
                format!("{what}: type {} -> {}", show_set(&ta), show_set(&tb)),
                pointer,
            );
        }
        let nullable = |v: &Value| v.get("nullable").and_then(Value::as_bool) == Some(true);
        match (nullable(a), nullable(b)) {
            (true, false) => self.emit(
                format!("{prefix}-became-not-nullable"),
                if request {
                    format!("{what} no longer accepts null")
                } else {
                    format!("{what} is never null now")
                },
                pointer,
            ),
            (false, true) => self.emit(
                format!("{prefix}-became-nullable"),
                if request {
                    format!("{what} accepts null")
                } else {
                    format!("{what} may now be null")
                },
                pointer,
            ),
            _ => {}
        }
        let (ea, eb) = (a.get("enum"), b.get("enum"));
        let (va, vb) = (strings(ea), strings(eb));
        match (ea.is_some(), eb.is_some()) {
            (false, true) if request => self.emit(
                format!("{prefix}-became-enum"),
                format!("{what} is now one of: {}", show_set(&vb)),
                pointer,
            ),
            (true, true) => {
                for removed in va.difference(&vb) {
                    self.emit(
                        format!("{prefix}-enum-value-removed"),
                        format!("{what}: value {removed} removed from the enum"),
                        pointer,
                    );
                }
                for added in vb.difference(&va) {
                    self.emit(
                        format!("{prefix}-enum-value-added"),
                        format!("{what}: value {added} added to the enum"),
                        pointer,
                    );
                }
            }
            _ => {}
        }
        let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64);
        let show = |n: f64| Value::from(n).to_string().trim_end_matches(".0").to_owned();
        // (keyword, rule word, narrowing direction for requests: true when a smaller
        // value accepts less)
        for (keyword, word, smaller_is_narrower) in [
            ("maximum", "max", true),
            ("minimum", "min", false),
            ("maxLength", "max-length", true),
            ("minLength", "min-length", false),
            ("maxItems", "max-items", true),
            ("minItems", "min-items", false),
        ] {
            let (Some(x), Some(y)) = (number(a, keyword), number(b, keyword)) else {
                if let (None, Some(y)) = (number(a, keyword), number(b, keyword))
                    && request
                {
                    self.emit(
                        format!("{prefix}-{word}-set"),
                        format!("{what}: {keyword} {} set", show(y)),
                        pointer,
                    );
                }
                continue;
            };
            if x == y {
                continue;
            }
            let direction = if y < x { "decreased" } else { "increased" };
            let narrower = (y < x) == smaller_is_narrower;
            // Requests report narrowing and widening alike (the table levels them);
            // responses only what widens, which is what breaks clients.
            if request || !narrower {
                self.emit(
                    format!("{prefix}-{word}-{direction}"),
                    format!("{what}: {keyword} {} -> {}", show(x), show(y)),
                    pointer,
                );
            }
        }
        let pattern = |v: &'d Value| v.get("pattern").and_then(Value::as_str);
        let change = match (pattern(a), pattern(b)) {
            (None, Some(p)) => Some(("added", format!("pattern `{p}` added"))),
            (Some(p), None) => Some(("removed", format!("pattern `{p}` removed"))),
            (Some(p), Some(q)) if p != q => Some(("changed", format!("pattern `{p}` -> `{q}`"))),
            _ => None,
        };
        if let Some((word, text)) = change {
            self.emit(
                format!("{prefix}-pattern-{word}"),
                format!("{what}: {text}"),
                pointer,
            );
        }
        same_type
    }

    /// `oneOf`, `anyOf`, `allOf`: branches known by the schema they name (an inline one by
    /// its title or its place); the branches both sides have are compared.
    fn composition(
        &mut self,
        a: &'d Value,
        b: &'d Value,
        subject: &Subject,
        pointer: &str,
        depth: usize,
    ) {
        let prefix = self.prefix(subject);
        let what = self.describe(subject);
        for (keyword, word) in [
            ("oneOf", "one-of"),
            ("anyOf", "any-of"),
            ("allOf", "all-of"),
        ] {
            let branches = |v: &'d Value| -> BTreeMap<String, (usize, &'d Value)> {
                v.get(keyword)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, branch)| {
                        // An inline branch is known by its title, else by its place.
                        let name = match branch.get("$ref").and_then(Value::as_str) {
                            Some(r) => r.rsplit('/').next().unwrap_or(r).to_owned(),
                            None => match branch.get("title").and_then(Value::as_str) {
                                Some(title) => title.to_owned(),
                                None => format!("branch {}", i + 1),
                            },
                        };
                        (name, (i, branch))
                    })
                    .collect()
            };
            let (was, now) = (branches(a), branches(b));
            for name in was.keys().filter(|k| !now.contains_key(*k)) {
                self.emit(
                    format!("{prefix}-{word}-removed"),
                    format!("{what}: `{name}` removed from {keyword}"),
                    pointer,
                );
            }
            for (name, (i, branch)) in &now {
                let at = format!("{pointer}/{keyword}/{i}");
                match was.get(name) {
                    None => self.emit(
                        format!("{prefix}-{word}-added"),
                        format!("{what}: `{name}` added to {keyword}"),
                        &at,
                    ),
                    Some((_, old)) => self.schema(old, branch, subject, &at, depth + 1),
                }
            }
        }
    }

    fn properties(
        &mut self,
        a: &'d Value,
        b: &'d Value,
        subject: &Subject,
        pointer: &str,
        depth: usize,
    ) {
        if matches!(subject, Subject::Parameter(_)) {
            return;
        }
        let props = |v: &'d Value| -> BTreeMap<&'d str, &'d Value> {
            v.get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v))
                .collect()
        };
        let (was, now) = (props(a), props(b));
        let (ra, rb) = (strings(a.get("required")), strings(b.get("required")));
        let side = match self.side {
            Side::Request => "request",
            Side::Response => "response",
        };
        for (name, schema) in &now {
            let child = Self::child(subject, name);
            let what = self.describe(&child);
            let at = format!("{pointer}/properties{}", pointer_push("", name));
            let required_now = rb.contains(*name);
            match was.get(name) {
                None => {
                    let id = match (self.side, required_now) {
                        (Side::Request, true) => "new-required-request-property",
                        (Side::Request, false) => "new-optional-request-property",
                        (Side::Response, true) => "response-required-property-added",
                        (Side::Response, false) => "response-optional-property-added",
                    };
                    self.emit(id.into(), format!("{what} added"), &at);
                }
                Some(old) => {
                    match (ra.contains(*name), required_now) {
                        (false, true) => self.emit(
                            format!("{side}-property-became-required"),
                            format!("{what} became required"),
                            &at,
                        ),
                        (true, false) => self.emit(
                            format!("{side}-property-became-optional"),
                            format!("{what} became optional"),
                            &at,
                        ),
                        _ => {}
                    }
                    self.schema(old, schema, &child, &at, depth + 1);
                }
            }
        }
        for name in was.keys().filter(|k| !now.contains_key(*k)) {
            let what = self.describe(&Self::child(subject, name));
            let id = match (self.side, ra.contains(*name)) {
                (Side::Request, _) => "request-property-removed",
                (Side::Response, true) => "response-required-property-removed",
                (Side::Response, false) => "response-optional-property-removed",
            };
            self.emit(id.into(), format!("{what} removed"), pointer);
        }
    }
}
