//! `gateway diff`: what changes at the edge between two gateways (docs/diff.md).
//!
//! Both sides come out of the same stages as `generate` (load -> lower -> check), so the
//! comparison sees what the gateway does, not what the files say: the auth each operation
//! ends up with, the effective timeouts and limits, the public OpenAPI document with every
//! `$ref` across files bundled. `policy` compares the gateway's own behaviour (auth,
//! limits, timeouts, upstreams, CORS); `contract` compares the public documents operation by
//! operation with oasdiff's rules (requests contravariant, responses covariant); `report`
//! writes the result in four formats. Rules and levels are one table (`rules`).

mod contract;
mod policy;
pub mod report;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::Location;
use crate::ir::{Gateway, Method, Route};
pub use rules::{Family, Level, RULES, Rule};

/// What a change is about: one route, one service, or the whole gateway.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Gateway,
    Service(String),
    /// The route's public path (as the newer side writes it when it has the route).
    Route {
        path: String,
        method: Method,
        service: String,
    },
}

impl Scope {
    /// `POST /api/orders (orders)`, `service orders`, `gateway`.
    pub fn title(&self) -> String {
        match self {
            Scope::Gateway => "gateway".into(),
            Scope::Service(key) => format!("service {key}"),
            Scope::Route {
                path,
                method,
                service,
            } => format!("{method} {path} ({service})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub rule: &'static Rule,
    pub scope: Scope,
    pub message: String,
    /// Where to look in the newer side's files (none for what it no longer has).
    pub location: Option<Location>,
}

/// Every change, grouped by scope (the gateway, then services, then routes by path and
/// method), the most severe first within a scope.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<Change>,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.changes
            .iter()
            .filter(|c| c.rule.level == level)
            .count()
    }

    /// The most severe level reported, if any.
    pub fn worst(&self) -> Option<Level> {
        self.changes.iter().map(|c| c.rule.level).max()
    }
}

/// Collects changes; an id the table lacks is a bug caught by the tests, never reported.
struct Found<'a> {
    changes: &'a mut Vec<Change>,
    /// (rule, scope, message) of every change so far.
    said: BTreeSet<(&'static str, Scope, String)>,
}

impl Found<'_> {
    fn add(
        &mut self,
        id: &str,
        scope: &Scope,
        message: impl Into<String>,
        location: Option<Location>,
    ) {
        let message = message.into();
        let Some(rule) = rules::rule(id) else {
            return;
        };
        // A body schema shared by several media types would say the same once per type.
        if self.said.insert((rule.id, scope.clone(), message.clone())) {
            self.changes.push(Change {
                rule,
                scope: scope.clone(),
                message,
                location,
            });
        }
    }
}

/// A route's identity across the two sides: its method, its public path with the
/// parameter names left out (renaming `{id}` to `{userId}` is the same route to a client),
/// and the types the router tells it apart from its siblings by (`/contacts/{id}` of a
/// UUID and `/contacts/{number}` are two routes; a route that is the untyped one of its
/// shape is the same route whether or not it has typed siblings).
fn route_key(route: &Route) -> (String, Method, Vec<String>) {
    let mut types: Vec<String> = route
        .path_types
        .iter()
        .map(|ty| match ty {
            crate::ir::PathType::Any => String::new(),
            typed => typed.to_string(),
        })
        .collect();
    if types.iter().all(String::is_empty) {
        types.clear();
    }
    (route.public_path.shape(), route.method, types)
}

/// The two sides' routes, matched.
struct Pairs<'g> {
    both: Vec<(&'g Route, &'g Route)>,
    removed: Vec<&'g Route>,
    added: Vec<&'g Route>,
}

fn pair_routes<'g>(base: &'g Gateway, new: &'g Gateway) -> Pairs<'g> {
    let new_by_key: BTreeMap<_, &Route> = new.routes.iter().map(|r| (route_key(r), r)).collect();
    let base_by_key: BTreeMap<_, &Route> = base.routes.iter().map(|r| (route_key(r), r)).collect();
    let mut pairs = Pairs {
        both: Vec::new(),
        removed: Vec::new(),
        added: Vec::new(),
    };
    for route in &base.routes {
        match new_by_key.get(&route_key(route)) {
            Some(other) => pairs.both.push((route, other)),
            None => pairs.removed.push(route),
        }
    }
    for route in &new.routes {
        if !base_by_key.contains_key(&route_key(route)) {
            pairs.added.push(route);
        }
    }
    pairs
}

fn route_scope(gateway: &Gateway, route: &Route) -> Scope {
    Scope::Route {
        path: route.public_path.to_string(),
        method: route.method,
        service: gateway.services[route.service].key.clone(),
    }
}

/// Compares two gateways. `manifest` is the newer side's manifest: policy changes point
/// into it.
pub fn diff(base: &Gateway, new: &Gateway, manifest: &Path) -> Report {
    let mut changes = Vec::new();
    let mut found = Found {
        changes: &mut changes,
        said: BTreeSet::new(),
    };
    let pairs = pair_routes(base, new);
    policy::compare(base, new, &pairs, manifest, &mut found);
    contract::compare(base, new, &pairs, &mut found);
    changes.sort_by(|a, b| {
        (
            &a.scope,
            std::cmp::Reverse(a.rule.level),
            a.rule.id,
            &a.message,
        )
            .cmp(&(
                &b.scope,
                std::cmp::Reverse(b.rule.level),
                b.rule.id,
                &b.message,
            ))
    });
    Report { changes }
}

/// A location in the manifest.
fn in_manifest(manifest: &Path, pointer: String) -> Option<Location> {
    Some(Location::new(PathBuf::from(manifest), pointer))
}
