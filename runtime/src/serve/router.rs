//! The public router: maps a request's raw path and method to a route of the gateway.
//!
//! Built once at start from the generated route table into a segment trie, so a lookup
//! costs one walk over the path's segments with no allocation besides the captured
//! parameters. Matching happens on the raw, still percent-encoded path: a `%2F` inside a
//! segment stays inside that segment and can never create a new one, which is what keeps
//! encoded traversal (`..%2Fadmin`) from changing the route. Captured values are decoded
//! only after the route is chosen.
//!
//! Rules: a parameter never matches an empty value; a segment is a literal, a whole
//! parameter (`{name}`), or a pattern of literals and parameters (`{base}...{head}`, where
//! each parameter ends at the first occurrence of the literal after it); literals win over
//! patterns and patterns over whole parameters, with backtracking, so `/users/me` and
//! `/users/{id}/orders` can both match; trailing slashes are significant; the template
//! that matches the path decides the methods, so a wrong method is a 405 listing that
//! template's methods, not a fall-through to a less specific template.
//!
//! Typed parameters ([`PathType`]) are the one exception to that last rule: where two
//! templates of a service differ only in their parameters' types (`/contacts/{id}` with a
//! UUID and `/contacts/{number}` with any string), a node holds one parameter child per
//! type, tried narrowest first; a value that fits a narrower type but whose template lacks
//! the method goes on to the wider ones, since it fits those too.
//!
//! A value that a literal ends in a mixed segment may not contain that literal once
//! decoded, nor form it with the literal after it (`a%2E` before `...`): the value is
//! forwarded re-encoded (`.` is not encoded) and the upstream, splitting at the first
//! `...`, would read other values than the gateway checked. This holds for values of any
//! type, so it is the router's rule, checked as the values are decoded.

use std::borrow::Cow;
use std::fmt;

use crate::base::method::Method;
use crate::base::problem::FieldError;
use crate::gateway::{Gateway, PathType};

/// Every `Method`, in the order `Allow` lists them (the order of an OpenAPI path item).
const METHODS: [Method; 8] = [
    Method::Get,
    Method::Put,
    Method::Post,
    Method::Delete,
    Method::Options,
    Method::Head,
    Method::Patch,
    Method::Trace,
];

/// The path the gateway serves its own OpenAPI document at.
pub(crate) const OPENAPI_PATH: &str = "/openapi.json";

/// What a matched path and method lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Index into `Gateway::routes`.
    Route(usize),
    /// `GET /openapi.json`, answered by the gateway itself.
    OpenApi,
}

/// A path template's methods: the end of a trie walk.
#[derive(Debug)]
pub(crate) struct Leaf {
    /// Indexed by `Method as usize`.
    endpoints: [Option<Endpoint>; 8],
    /// The `Allow` value for a 405, computed once.
    allow: String,
}

impl Leaf {
    pub(crate) fn endpoint(&self, method: Method) -> Option<Endpoint> {
        self.endpoints[method as usize]
    }

    pub(crate) fn allow(&self) -> &str {
        &self.allow
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Sorted by segment, for binary search.
    literals: Vec<(&'static str, Node)>,
    /// In the order the route table lists them.
    patterns: Vec<(Pattern, Node)>,
    /// Whole-segment parameters by type, narrowest first (one, untyped, in most tries).
    params: Vec<(PathType, Node)>,
    leaf: Option<Leaf>,
}

/// One piece of a pattern segment.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Literal(&'static str),
    Param(&'static str),
}

/// A segment mixing literals and parameters, such as `{base}...{head}` or `v{major}`.
/// Two parameters never touch (the compiler refuses `{a}{b}`: where one ends would be a
/// guess).
#[derive(Debug, Clone)]
struct Pattern {
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Same literals at the same places: the same pattern, whatever the parameter names.
    fn same_shape(&self, other: &Pattern) -> bool {
        self.pieces.len() == other.pieces.len()
            && self
                .pieces
                .iter()
                .zip(&other.pieces)
                .all(|pair| match pair {
                    (Piece::Literal(a), Piece::Literal(b)) => a == b,
                    (Piece::Param(_), Piece::Param(_)) => true,
                    _ => false,
                })
    }

    /// The values of the parameters in `segment`, or `None` when it does not match. Each
    /// parameter takes at least one byte and ends at the first occurrence of the literal
    /// that follows it.
    fn captures<'p>(&self, segment: &'p str, out: &mut Vec<Cow<'p, str>>) -> bool {
        let start = out.len();
        let mut rest = segment;
        let mut pieces = self.pieces.iter().peekable();
        while let Some(piece) = pieces.next() {
            match piece {
                Piece::Literal(literal) => match rest.strip_prefix(literal) {
                    Some(after) => rest = after,
                    None => {
                        out.truncate(start);
                        return false;
                    }
                },
                Piece::Param(_) => {
                    let end = match pieces.peek() {
                        Some(Piece::Literal(next)) => rest
                            .get(1..)
                            .and_then(|tail| tail.find(next))
                            .map(|at| at + 1),
                        _ => (!rest.is_empty()).then_some(rest.len()),
                    };
                    let Some(end) = end else {
                        out.truncate(start);
                        return false;
                    };
                    out.push(Cow::Borrowed(&rest[..end]));
                    rest = &rest[end..];
                }
            }
        }
        if rest.is_empty() {
            true
        } else {
            out.truncate(start);
            false
        }
    }
}

/// A route table the router refuses to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One segment of a template.
enum Segment {
    Literal(&'static str),
    Param(&'static str),
    Pattern(Pattern),
}

fn parse_segment(template: &'static str, segment: &'static str) -> Result<Segment, BuildError> {
    if !segment.contains(['{', '}']) {
        return Ok(Segment::Literal(segment));
    }
    let bad = || {
        BuildError(format!(
            "route `{template}`: segment `{segment}` is not a literal, a parameter `{{name}}` or a pattern of both"
        ))
    };
    let mut pieces = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let (name, tail) = after.split_once('}').ok_or_else(bad)?;
            if name.is_empty()
                || name.contains('{')
                || matches!(pieces.last(), Some(Piece::Param(_)))
            {
                return Err(bad());
            }
            pieces.push(Piece::Param(name));
            rest = tail;
        } else {
            let end = rest.find('{').unwrap_or(rest.len());
            let literal = &rest[..end];
            if literal.contains('}') {
                return Err(bad());
            }
            pieces.push(Piece::Literal(literal));
            rest = &rest[end..];
        }
    }
    match pieces.as_slice() {
        [Piece::Param(name)] => Ok(Segment::Param(name)),
        _ => Ok(Segment::Pattern(Pattern { pieces })),
    }
}

/// A path parameter of a route.
#[derive(Debug)]
pub(crate) struct PathParam {
    pub(crate) name: &'static str,
    /// In a mixed segment, the literal that ends the value, decoded.
    pub(crate) until: Option<String>,
}

/// The segment trie over every public path template.
#[derive(Debug)]
pub(crate) struct Router {
    root: Node,
    /// Path parameters of each route, in template order, indexed like `Gateway::routes`.
    params: Vec<Vec<PathParam>>,
    /// The most parameters any template has: the capacity a lookup reserves.
    max_params: usize,
}

impl Router {
    /// Builds the trie; refuses malformed templates and two routes with the same method
    /// on the same path shape (the compiler's checks reject both, so this is a guard).
    pub(crate) fn new(gateway: &Gateway) -> Result<Router, BuildError> {
        let mut root = Node::default();
        let mut params = Vec::with_capacity(gateway.routes.len());
        for (index, route) in gateway.routes.iter().enumerate() {
            params.push(insert(
                &mut root,
                route.path,
                route.path_types,
                route.method,
                Endpoint::Route(index),
            )?);
        }
        // The gateway's own document, unless a route has exactly this path; a template like
        // `/{name}` does not claim it, since the literal wins.
        if !gateway
            .routes
            .iter()
            .any(|route| route.path == OPENAPI_PATH)
        {
            insert(&mut root, OPENAPI_PATH, &[], Method::Get, Endpoint::OpenApi)?;
        }
        finish(&mut root);
        let max_params = params.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Router {
            root,
            params,
            max_params,
        })
    }

    /// Finds the template matching a raw path (for `method`, where typed parameters leave
    /// a choice). The captured raw values are pushed to `params` in template order
    /// (`params` is cleared first).
    pub(crate) fn find<'r, 'p>(
        &'r self,
        path: &'p str,
        method: Option<Method>,
        params: &mut Vec<Cow<'p, str>>,
    ) -> Option<&'r Leaf> {
        params.clear();
        let rest = path.strip_prefix('/')?;
        if self.max_params > 0 {
            params.reserve(self.max_params);
        }
        walk(&self.root, rest, method, params)
    }

    /// The path parameters of a route, in template order.
    pub(crate) fn params(&self, route: usize) -> &[PathParam] {
        self.params.get(route).map_or(&[], Vec::as_slice)
    }

    /// Percent-decodes the values `find` captured for `route` in place, each checked
    /// against the literal that ends it; the failure of the first that is refused.
    pub(crate) fn decode(
        &self,
        route: usize,
        values: &mut [Cow<'_, str>],
    ) -> Result<(), FieldError> {
        let params = self.params(route);
        for (index, value) in values.iter_mut().enumerate() {
            let param = params.get(index);
            let refuse = |message: String| FieldError {
                location: "path",
                name: param.map(|p| p.name.to_owned()),
                pointer: None,
                message,
            };
            if value.contains('%') {
                let decoded = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| refuse("must be valid UTF-8 once percent-decoded".to_owned()))?;
                if let Cow::Owned(decoded) = decoded {
                    *value = Cow::Owned(decoded);
                }
            }
            if let Some(literal) = param.and_then(|p| p.until.as_deref())
                && !ends_at_its_literal(value, literal)
            {
                return Err(refuse(format!(
                    "must not contain `{literal}`, nor form it with the `{literal}` that follows"
                )));
            }
        }
        Ok(())
    }
}

/// Whether `value` followed by `literal` is split back right after `value`: the first
/// occurrence of `literal` is the one that follows.
fn ends_at_its_literal(value: &str, literal: &str) -> bool {
    format!("{value}{literal}").find(literal) == Some(value.len())
}

/// Inserts one template; returns its path parameters.
fn insert(
    root: &mut Node,
    template: &'static str,
    types: &[PathType],
    method: Method,
    endpoint: Endpoint,
) -> Result<Vec<PathParam>, BuildError> {
    let Some(rest) = template.strip_prefix('/') else {
        return Err(BuildError(format!(
            "route `{template}`: a path template must start with `/`"
        )));
    };
    let mut names = Vec::new();
    let mut node = root;
    for segment in rest.split('/') {
        node = match parse_segment(template, segment)? {
            Segment::Literal(literal) => {
                match node.literals.binary_search_by(|(s, _)| s.cmp(&literal)) {
                    Ok(at) => &mut node.literals[at].1,
                    Err(at) => {
                        node.literals.insert(at, (literal, Node::default()));
                        &mut node.literals[at].1
                    }
                }
            }
            Segment::Param(name) => {
                let ty = types.get(names.len()).copied().unwrap_or(PathType::Any);
                names.push(PathParam { name, until: None });
                let at = match node.params.iter().position(|(t, _)| *t == ty) {
                    Some(at) => at,
                    None => {
                        let at = node.params.partition_point(|(t, _)| t.rank() <= ty.rank());
                        node.params.insert(at, (ty, Node::default()));
                        at
                    }
                };
                &mut node.params[at].1
            }
            Segment::Pattern(pattern) => {
                for (at, piece) in pattern.pieces.iter().enumerate() {
                    if let Piece::Param(name) = piece {
                        let until = match pattern.pieces.get(at + 1) {
                            Some(Piece::Literal(literal)) => Some(
                                percent_encoding::percent_decode_str(literal)
                                    .decode_utf8_lossy()
                                    .into_owned(),
                            ),
                            _ => None,
                        };
                        names.push(PathParam { name, until });
                    }
                }
                match node
                    .patterns
                    .iter()
                    .position(|(p, _)| p.same_shape(&pattern))
                {
                    Some(at) => &mut node.patterns[at].1,
                    None => {
                        node.patterns.push((pattern, Node::default()));
                        let last = node.patterns.len() - 1;
                        &mut node.patterns[last].1
                    }
                }
            }
        };
    }
    let leaf = node.leaf.get_or_insert_with(|| Leaf {
        endpoints: [None; 8],
        allow: String::new(),
    });
    let slot = &mut leaf.endpoints[method as usize];
    if slot.is_some() {
        return Err(BuildError(format!(
            "route `{} {template}` is defined twice (possibly under other parameter names)",
            method.as_str()
        )));
    }
    *slot = Some(endpoint);
    Ok(names)
}

/// Computes every leaf's `Allow` value.
fn finish(node: &mut Node) {
    if let Some(leaf) = &mut node.leaf {
        let methods: Vec<&str> = METHODS
            .iter()
            .filter(|method| leaf.endpoints[**method as usize].is_some())
            .map(|method| method.as_str())
            .collect();
        leaf.allow = methods.join(", ");
    }
    for (_, child) in &mut node.literals {
        finish(child);
    }
    for (_, child) in &mut node.patterns {
        finish(child);
    }
    for (_, child) in &mut node.params {
        finish(child);
    }
}

/// Matches `rest` (the path after a `/`) below `node`. Each trie node is visited at most
/// once per lookup, so backtracking costs at most the size of the trie, whatever the path.
fn walk<'r, 'p>(
    node: &'r Node,
    rest: &'p str,
    method: Option<Method>,
    params: &mut Vec<Cow<'p, str>>,
) -> Option<&'r Leaf> {
    let (segment, tail) = match rest.split_once('/') {
        Some((segment, tail)) => (segment, Some(tail)),
        None => (rest, None),
    };
    if let Ok(at) = node
        .literals
        .binary_search_by(|(literal, _)| (*literal).cmp(segment))
    {
        let child = &node.literals[at].1;
        let found = match tail {
            Some(tail) => walk(child, tail, method, params),
            None => child.leaf.as_ref(),
        };
        if found.is_some() {
            return found;
        }
    }
    for (pattern, child) in &node.patterns {
        let start = params.len();
        if pattern.captures(segment, params) {
            let found = match tail {
                Some(tail) => walk(child, tail, method, params),
                None => child.leaf.as_ref(),
            };
            if found.is_some() {
                return found;
            }
            params.truncate(start);
        }
    }
    if segment.is_empty() {
        return None;
    }
    // A leaf of a typed parameter that lacks the method, kept for the 405 in case no
    // wider type has the method either.
    let mut without_method = None;
    let last = node.params.len().saturating_sub(1);
    for (index, (ty, child)) in node.params.iter().enumerate() {
        if !ty.accepts(segment) {
            continue;
        }
        let start = params.len();
        params.push(Cow::Borrowed(segment));
        let found = match tail {
            Some(tail) => walk(child, tail, method, params),
            None => child.leaf.as_ref(),
        };
        match found {
            Some(leaf) if index == last || method.is_some_and(|m| leaf.endpoint(m).is_some()) => {
                return Some(leaf);
            }
            Some(leaf) => {
                without_method.get_or_insert(leaf);
            }
            None => {}
        }
        params.truncate(start);
    }
    without_method
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::problem::Problem;
    use crate::check::params::Forward;
    use crate::{Auth, BodySpec, Request, Route, Service};
    use std::time::Duration;

    fn handler(_: &Request<'_>) -> Result<Forward, Problem> {
        Ok(Forward { path: "/".into() })
    }

    const fn route(method: Method, path: &'static str) -> Route {
        Route {
            method,
            path,
            upstream_path: path,
            service: 0,
            operation_id: "op",
            auth: Auth::Public,
            body: BodySpec::Undeclared,
            rate_limits: &[],
            handler,
            responses: None,
            path_types: &[],
        }
    }

    static SERVICES: [Service; 1] = [Service {
        name: "svc",
        env: "GATEWAY_UPSTREAM_SVC",
        urls: &["http://127.0.0.1:1"],
        discovery: None,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        cors: None,
        resilience: crate::upstream::Policy::DEFAULT,
    }];

    fn gateway(routes: &'static [Route]) -> Gateway {
        Gateway {
            name: "test",
            generator_version: "0",
            listen: "127.0.0.1:0",
            connections: crate::gateway::Connections::DEFAULT,
            openapi_json: "{}",
            docs: None,
            max_body: 1024,
            max_fields: 1000,
            services: &SERVICES,
            routes,
            rate_limits: &[],
            schemes: &[],
            auth_failures: None,
            rate_limit_store: crate::Store::Memory,
            trusted_proxies: &[],
            otlp_endpoint_env: None,
        }
    }

    static ROUTES: [Route; 7] = [
        route(Method::Get, "/users/me"),
        route(Method::Get, "/users/{id}"),
        route(Method::Delete, "/users/{user_id}"),
        route(Method::Get, "/users/{id}/orders"),
        route(Method::Post, "/users"),
        route(Method::Get, "/"),
        route(Method::Get, "/{any}/x/{y}"),
    ];

    fn names(router: &Router, route: usize) -> Vec<&'static str> {
        router.params(route).iter().map(|p| p.name).collect()
    }

    fn lookup(router: &Router, method: Method, path: &str) -> Option<(Endpoint, Vec<String>)> {
        let mut params = Vec::new();
        let leaf = router.find(path, Some(method), &mut params)?;
        let endpoint = leaf.endpoint(method)?;
        Some((endpoint, params.iter().map(|p| p.to_string()).collect()))
    }

    const fn typed(method: Method, path: &'static str, types: &'static [PathType]) -> Route {
        let mut route = route(method, path);
        route.path_types = types;
        route
    }

    static TYPED: [Route; 6] = [
        typed(Method::Get, "/contacts/{number}", &[PathType::Any]),
        typed(Method::Get, "/contacts/{id}", &[PathType::Uuid]),
        typed(Method::Delete, "/contacts/{number}", &[PathType::Any]),
        typed(Method::Get, "/contacts/{n}/notes", &[PathType::Integer]),
        typed(Method::Get, "/flags/{on}", &[PathType::Boolean]),
        typed(
            Method::Get,
            "/flags/{state}",
            &[PathType::Enum(&["on", "off", "a b"])],
        ),
    ];

    #[test]
    fn typed_parameters_are_tried_narrowest_first() {
        let router = Router::new(&gateway(&TYPED)).unwrap();
        let uuid = "3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11";
        let route = |method, path: &str| lookup(&router, method, path).map(|(e, _)| e);
        assert_eq!(
            route(Method::Get, &format!("/contacts/{uuid}")),
            Some(Endpoint::Route(1))
        );
        assert_eq!(
            route(Method::Get, "/contacts/+4930123"),
            Some(Endpoint::Route(0))
        );
        // Not quite a UUID: the string route.
        assert_eq!(
            route(Method::Get, &format!("/contacts/{uuid}0")),
            Some(Endpoint::Route(0))
        );
        assert_eq!(
            route(Method::Get, &format!("/contacts/{}", &uuid[1..])),
            Some(Endpoint::Route(0))
        );
        // A UUID is a string too: DELETE has only the string template.
        assert_eq!(
            route(Method::Delete, &format!("/contacts/{uuid}")),
            Some(Endpoint::Route(2))
        );
        // Deeper, the integer branch goes on; anything else has no `notes`.
        assert_eq!(
            route(Method::Get, "/contacts/42/notes"),
            Some(Endpoint::Route(3))
        );
        assert_eq!(route(Method::Get, "/contacts/x42/notes"), None);
        // Values are typed as their parsers read them: decoded.
        assert_eq!(
            route(Method::Get, "/contacts/%34%32/notes"),
            Some(Endpoint::Route(3))
        );
        assert_eq!(
            route(Method::Get, &format!("/contacts/%33{}", &uuid[1..])),
            Some(Endpoint::Route(1))
        );
        assert_eq!(
            route(Method::Get, &format!("/contacts/{}", "%39".repeat(300))),
            Some(Endpoint::Route(0))
        );
        let mut params = Vec::new();
        let leaf = router
            .find(&format!("/contacts/{uuid}"), Some(Method::Put), &mut params)
            .unwrap();
        // Every template takes it, the string one last: its methods answer the 405.
        assert_eq!(leaf.allow(), "GET, DELETE");
        assert_eq!(route(Method::Get, "/flags/true"), Some(Endpoint::Route(4)));
        assert_eq!(route(Method::Get, "/flags/off"), Some(Endpoint::Route(5)));
        assert_eq!(route(Method::Get, "/flags/a%20b"), Some(Endpoint::Route(5)));
        assert_eq!(route(Method::Get, "/flags/maybe"), None);
        // A long segment is refused by length, not scanned.
        assert_eq!(
            route(Method::Get, &format!("/contacts/{}", "9".repeat(1 << 20))),
            Some(Endpoint::Route(0))
        );
    }

    #[test]
    fn path_types_accept_their_values_only() {
        for (ty, yes, no) in [
            (
                PathType::Integer,
                &["0", "-12", "9223372036854775807"][..],
                &["", "-", "1.5", "12345678901234567890", "+1", "1e3"][..],
            ),
            (
                PathType::Number,
                &["0", "-1.5", "2e10", "1E-3"][..],
                &["", "abc", "inf", "NaN", "0x10"][..],
            ),
            (
                PathType::Boolean,
                &["true", "false"][..],
                &["True", "1", ""][..],
            ),
            (
                PathType::Uuid,
                &["3F0C8A52-6f0e-4c55-9d86-0b1f3b6f2a11"][..],
                &[
                    "3f0c8a526f0e4c559d860b1f3b6f2a11",
                    "3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a1g",
                ][..],
            ),
        ] {
            for value in yes {
                assert!(ty.accepts(value), "{ty:?} {value}");
            }
            for value in no {
                assert!(!ty.accepts(value), "{ty:?} {value}");
            }
        }
    }

    #[test]
    fn literals_win_and_backtrack() {
        let router = Router::new(&gateway(&ROUTES)).unwrap();
        assert_eq!(
            lookup(&router, Method::Get, "/users/me"),
            Some((Endpoint::Route(0), vec![]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/users/7"),
            Some((Endpoint::Route(1), vec!["7".into()]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/users/me/orders"),
            Some((Endpoint::Route(3), vec!["me".into()]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/users/x/y"),
            Some((Endpoint::Route(6), vec!["users".into(), "y".into()]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/"),
            Some((Endpoint::Route(5), vec![]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/openapi.json"),
            Some((Endpoint::OpenApi, vec![]))
        );
    }

    #[test]
    fn strict_paths() {
        let router = Router::new(&gateway(&ROUTES)).unwrap();
        let mut params = Vec::new();
        assert!(router.find("/users/", None, &mut params).is_none());
        assert!(router.find("/users//orders", None, &mut params).is_none());
        assert!(router.find("/users/7/orders/", None, &mut params).is_none());
        assert!(router.find("users", None, &mut params).is_none());
        assert!(router.find("*", None, &mut params).is_none());
        assert!(router.find("", None, &mut params).is_none());
        // An encoded slash stays inside its segment.
        let leaf = router.find("/users/..%2Fadmin", None, &mut params).unwrap();
        assert_eq!(leaf.endpoint(Method::Get), Some(Endpoint::Route(1)));
        assert_eq!(params, ["..%2Fadmin"]);
    }

    #[test]
    fn allow_lists_the_templates_methods_in_a_stable_order() {
        let router = Router::new(&gateway(&ROUTES)).unwrap();
        let mut params = Vec::new();
        let leaf = router.find("/users/7", None, &mut params).unwrap();
        assert_eq!(leaf.allow(), "GET, DELETE");
        assert_eq!(leaf.endpoint(Method::Head), None);
        // The literal template decides, even though `{id}` has DELETE.
        let leaf = router.find("/users/me", None, &mut params).unwrap();
        assert_eq!(leaf.allow(), "GET");
        assert_eq!(names(&router, 2), ["user_id"]);
    }

    #[test]
    fn a_route_can_claim_openapi_json() {
        static CLAIMED: [Route; 1] = [route(Method::Post, "/openapi.json")];
        let router = Router::new(&gateway(&CLAIMED)).unwrap();
        let mut params = Vec::new();
        let leaf = router.find("/openapi.json", None, &mut params).unwrap();
        assert_eq!(leaf.endpoint(Method::Get), None);
        assert_eq!(leaf.allow(), "POST");
    }

    #[test]
    fn bad_tables_are_refused() {
        static DUPLICATE: [Route; 2] = [
            route(Method::Get, "/users/{id}"),
            route(Method::Get, "/users/{name}"),
        ];
        static ADJACENT: [Route; 1] = [route(Method::Get, "/files/{name}{ext}")];
        static UNCLOSED: [Route; 1] = [route(Method::Get, "/files/{name.json")];
        static RELATIVE: [Route; 1] = [route(Method::Get, "users")];
        for routes in [&DUPLICATE[..], &ADJACENT[..], &UNCLOSED[..], &RELATIVE[..]] {
            assert!(Router::new(&gateway(routes)).is_err());
        }
    }

    #[test]
    fn patterns_capture_between_their_literals() {
        static PATTERNS: [Route; 5] = [
            route(Method::Get, "/compare/{base}...{head}"),
            route(Method::Get, "/files/{name}.json"),
            route(Method::Get, "/files/{name}"),
            route(Method::Get, "/files/index.json"),
            route(Method::Get, "/v{major}/x"),
        ];
        let router = Router::new(&gateway(&PATTERNS)).unwrap();
        assert_eq!(
            lookup(&router, Method::Get, "/compare/main...feature"),
            Some((Endpoint::Route(0), vec!["main".into(), "feature".into()]))
        );
        // The first `...` after at least one byte ends `base`.
        assert_eq!(
            lookup(&router, Method::Get, "/compare/a......b"),
            Some((Endpoint::Route(0), vec!["a".into(), "...b".into()]))
        );
        assert_eq!(lookup(&router, Method::Get, "/compare/...b"), None);
        assert_eq!(lookup(&router, Method::Get, "/compare/a..."), None);
        assert_eq!(
            lookup(&router, Method::Get, "/files/report.json"),
            Some((Endpoint::Route(1), vec!["report".into()]))
        );
        // Literal beats pattern beats parameter.
        assert_eq!(
            lookup(&router, Method::Get, "/files/index.json"),
            Some((Endpoint::Route(3), vec![]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/files/report.csv"),
            Some((Endpoint::Route(2), vec!["report.csv".into()]))
        );
        assert_eq!(
            lookup(&router, Method::Get, "/v2/x"),
            Some((Endpoint::Route(4), vec!["2".into()]))
        );
        assert_eq!(names(&router, 0), ["base", "head"]);
    }

    #[test]
    fn params_are_decoded_after_matching() {
        static THREE: [Route; 1] = [route(Method::Get, "/{a}/{b}/{c}")];
        let router = Router::new(&gateway(&THREE)).unwrap();
        let mut params = vec![
            Cow::Borrowed("plain"),
            Cow::Borrowed("..%2Fadmin"),
            Cow::Borrowed("caf%C3%A9"),
        ];
        assert_eq!(router.decode(0, &mut params), Ok(()));
        assert_eq!(params, ["plain", "../admin", "café"]);
        assert!(matches!(params[0], Cow::Borrowed(_)));
        let mut params = vec![
            Cow::Borrowed("ok"),
            Cow::Borrowed("%FF"),
            Cow::Borrowed("x"),
        ];
        let error = router.decode(0, &mut params).unwrap_err();
        assert_eq!(error.name.as_deref(), Some("b"));
        assert_eq!(error.message, "must be valid UTF-8 once percent-decoded");
    }

    /// The upstream gets `value + literal + ...` and ends the value at the first literal:
    /// it must be the one after the value.
    #[test]
    fn a_value_may_not_hold_or_form_the_literal_that_ends_it() {
        static MIXED: [Route; 2] = [
            route(Method::Get, "/compare/{base}...{head}"),
            route(Method::Get, "/files/{name}.json"),
        ];
        let router = Router::new(&gateway(&MIXED)).unwrap();
        assert_eq!(router.params(0)[0].until.as_deref(), Some("..."));
        assert_eq!(router.params(0)[1].until, None);
        let decode = |route: usize, raw: &[&'static str]| {
            let mut values: Vec<Cow<'_, str>> = raw.iter().map(|v| Cow::Borrowed(*v)).collect();
            router
                .decode(route, &mut values)
                .map_err(|e| (e.name.unwrap(), e.message))
        };
        for ok in [
            ["main", "x"],
            ["a.b", "..."],
            ["%2E%2Ea", "7"],
            ["a..b", "7"],
        ] {
            assert_eq!(decode(0, &ok), Ok(()), "{ok:?}");
        }
        for bad in [
            ["a%2E%2E%2Eb", "7"],
            ["a%2E", "7"],
            ["a..", "7"],
            ["...", "7"],
        ] {
            assert_eq!(
                decode(0, &bad),
                Err((
                    "base".to_owned(),
                    "must not contain `...`, nor form it with the `...` that follows".to_owned()
                )),
                "{bad:?}"
            );
        }
        assert_eq!(decode(1, &["a.b"]), Ok(()));
        assert_eq!(
            decode(1, &["a."]),
            Ok(()),
            "`a..json` ends `a.` where it should"
        );
        assert!(decode(1, &["a%2Ejson"]).is_err());
    }
}
