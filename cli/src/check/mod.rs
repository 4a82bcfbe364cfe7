//! Stage 3, check: semantic checks over the whole IR, across services.
//!
//! `lower` already reported what one operation can get wrong on its own; here are the
//! problems between operations: two routes that answer the same requests (an error, naming
//! both sides, unless they are of one service and their parameters' types tell them apart) and, across services, a literal segment that takes requests a parameter
//! route of another service would otherwise get (a warning: the runtime's router prefers
//! literals, which may surprise when the two routes belong to different teams). And the
//! API reference page (`gateway.docs`) against the routes: the page and its files are
//! answered before any route, so a route that could match them is an error.

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Gateway, Piece, Route, Segment};

pub fn check(gateway: &Gateway, diags: &mut Diagnostics) {
    route_conflicts(gateway, diags);
    docs_conflicts(gateway, diags);
}

/// Routes whose template matches the page's path, or a path one segment below it (where
/// the page's files are). A mixed segment is taken to match: whether it does depends on
/// the literals, and the page would win either way.
fn docs_conflicts(gateway: &Gateway, diags: &mut Diagnostics) {
    let Some(docs) = &gateway.docs else { return };
    let page: Vec<&str> = docs.path.split('/').skip(1).collect();
    for route in &gateway.routes {
        let segments = &route.public_path.segments;
        let depth = segments.len();
        if depth != page.len() && depth != page.len() + 1 {
            continue;
        }
        let prefix_matches = segments
            .iter()
            .zip(&page)
            .all(|(segment, literal)| match segment {
                Segment::Literal(text) => text == literal,
                Segment::Param(_) | Segment::Mixed(_) => true,
            });
        if !prefix_matches {
            continue;
        }
        let what = if depth == page.len() {
            "the reference page's path"
        } else {
            "the reference page's files"
        };
        diags.push(
            Diagnostic::error(
                "gateway::check::docs_conflict",
                format!(
                    "{} can match {what} (`gateway.docs.path` is `{}`)",
                    describe(gateway, route),
                    docs.path
                ),
            )
            .at(docs.location.clone())
            .related(format!("matched by {}", route.operation_id), route.location.clone())
            .help("serve the page at a path no route can match, e.g. under a prefix of its own like `/reference/docs`"),
        );
    }
}

enum Overlap {
    /// Every request of one matches the other.
    Same,
    /// They overlap; `.0` has a literal where `.1` has a parameter.
    Shadows(bool),
    Disjoint,
}

fn overlap(a: &Route, b: &Route) -> Overlap {
    let (a, b) = (&a.public_path.segments, &b.public_path.segments);
    if a.len() != b.len() {
        return Overlap::Disjoint;
    }
    // How specific a segment is: the router tries literals, then mixed segments, then
    // whole parameters.
    let rank = |s: &Segment| match s {
        Segment::Literal(_) => 0,
        Segment::Mixed(_) => 1,
        Segment::Param(_) => 2,
    };
    let mut a_literal_first = None;
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Segment::Literal(x), Segment::Literal(y)) if x != y => return Overlap::Disjoint,
            (Segment::Mixed(x), Segment::Mixed(y)) if !same_shape(x, y) => {
                // Both may match one segment; the route table's order decides.
                a_literal_first.get_or_insert(true);
            }
            _ if rank(x) != rank(y) => {
                a_literal_first.get_or_insert(rank(x) < rank(y));
            }
            _ => {}
        }
    }
    match a_literal_first {
        None => Overlap::Same,
        Some(first) => Overlap::Shadows(first),
    }
}

/// Whether some path parameter's types tell every value's route (`lower::path::type_apart`
/// typed both).
fn typed_apart(a: &Route, b: &Route) -> bool {
    a.path_types
        .iter()
        .zip(&b.path_types)
        .any(|(x, y)| x.apart(y))
}

/// Same literals at the same places, whatever the parameters are called.
fn same_shape(a: &[Piece], b: &[Piece]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Piece::Literal(x), Piece::Literal(y)) => x == y,
            (Piece::Param(_), Piece::Param(_)) => true,
            _ => false,
        })
}

fn describe(gateway: &Gateway, route: &Route) -> String {
    format!(
        "{} {} (operation `{}` of service `{}`)",
        route.method, route.public_path, route.operation_id, gateway.services[route.service].key
    )
}

fn route_conflicts(gateway: &Gateway, diags: &mut Diagnostics) {
    let routes = &gateway.routes;
    for (i, a) in routes.iter().enumerate() {
        for b in &routes[i + 1..] {
            if a.method != b.method {
                continue;
            }
            match overlap(a, b) {
                Overlap::Disjoint => {}
                // Within one service the router tries the narrower type first.
                Overlap::Same if a.service == b.service && typed_apart(a, b) => {}
                Overlap::Same => diags.push(
                    Diagnostic::error(
                        "gateway::check::route_conflict",
                        format!(
                            "{} and {} match the same requests",
                            describe(gateway, a),
                            describe(gateway, b)
                        ),
                    )
                    .at(a.location.clone())
                    .related(
                        format!("conflicts with {}", b.operation_id),
                        b.location.clone(),
                    )
                    .help(if a.service == b.service {
                        "within one service, parameters of types the router can tell apart (uuid, integer, number, boolean, disjoint enums, against each other or a string) decide; otherwise publish one of them only (`services.<s>.exclude: { operations: [<id>] }`), or rename one path"
                    } else {
                        "change a service's `mount` in the manifest, publish one of them only (`services.<s>.exclude: { operations: [<id>] }`), or rename one path"
                    }),
                ),
                // Within one spec, `/users/me` beside `/users/{id}` is deliberate.
                Overlap::Shadows(_) if a.service == b.service => {}
                Overlap::Shadows(a_literal) => {
                    let (literal, param) = if a_literal { (a, b) } else { (b, a) };
                    diags.push(
                        Diagnostic::warning(
                            "gateway::check::route_shadowed",
                            format!(
                                "{} takes the requests that {} would also match",
                                describe(gateway, literal),
                                describe(gateway, param)
                            ),
                        )
                        .at(param.location.clone())
                        .related(format!("shadowed by {}", literal.operation_id), literal.location.clone())
                        .help("literal segments win over parameters; make sure no parameter value needs to equal the literal"),
                    );
                }
            }
        }
    }
}
