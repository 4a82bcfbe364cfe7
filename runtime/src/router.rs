//! The public router: maps a request's raw path and method to a route of the gateway.
//!
//! Built once at start from the generated route table into a segment trie, so a lookup
//! costs one walk over the path's segments with no allocation besides the captured
//! parameters. Matching happens on the raw, still percent-encoded path: a `%2F` inside a
//! segment stays inside that segment and can never create a new one, which is what keeps
//! encoded traversal (`..%2Fadmin`) from changing the route. Captured values are decoded
//! only after the route is chosen.
//!
//! Rules: a parameter is a whole segment (`{name}`) and never matches an empty segment;
//! a literal segment wins over a parameter, with backtracking, so `/users/me` and
//! `/users/{id}/orders` can both match; trailing slashes are significant; the template
//! that matches the path decides the methods, so a wrong method is a 405 listing that
//! template's methods, not a fall-through to a less specific template.

use std::borrow::Cow;
use std::fmt;

use crate::{Gateway, Method};

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
    param: Option<Box<Node>>,
    leaf: Option<Leaf>,
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
}

fn parse_segment(template: &'static str, segment: &'static str) -> Result<Segment, BuildError> {
    if let Some(name) = segment
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        && !name.is_empty()
        && !name.contains(['{', '}'])
    {
        return Ok(Segment::Param(name));
    }
    if segment.contains(['{', '}']) {
        return Err(BuildError(format!(
            "route `{template}`: segment `{segment}` must be a whole parameter `{{name}}` or a literal"
        )));
    }
    Ok(Segment::Literal(segment))
}

/// The segment trie over every public path template.
#[derive(Debug)]
pub(crate) struct Router {
    root: Node,
    /// Parameter names of each route, in template order, indexed like `Gateway::routes`.
    param_names: Vec<Vec<&'static str>>,
    /// The most parameters any template has: the capacity a lookup reserves.
    max_params: usize,
}

impl Router {
    /// Builds the trie; refuses malformed templates and two routes with the same method
    /// on the same path shape (the compiler's checks reject both, so this is a guard).
    pub(crate) fn new(gateway: &Gateway) -> Result<Router, BuildError> {
        let mut root = Node::default();
        let mut param_names = Vec::with_capacity(gateway.routes.len());
        for (index, route) in gateway.routes.iter().enumerate() {
            let names = insert(&mut root, route.path, route.method, Endpoint::Route(index))?;
            param_names.push(names);
        }
        // The gateway's own document, unless a route has exactly this path; a template like
        // `/{name}` does not claim it, since the literal wins.
        if !gateway
            .routes
            .iter()
            .any(|route| route.path == OPENAPI_PATH)
        {
            insert(&mut root, OPENAPI_PATH, Method::Get, Endpoint::OpenApi)?;
        }
        finish(&mut root);
        let max_params = param_names.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Router {
            root,
            param_names,
            max_params,
        })
    }

    /// Finds the template matching a raw path. The captured raw values are pushed to
    /// `params` in template order (`params` is cleared first).
    pub(crate) fn find<'r, 'p>(
        &'r self,
        path: &'p str,
        params: &mut Vec<Cow<'p, str>>,
    ) -> Option<&'r Leaf> {
        params.clear();
        let rest = path.strip_prefix('/')?;
        if self.max_params > 0 {
            params.reserve(self.max_params);
        }
        walk(&self.root, rest, params)
    }

    /// The parameter names of a route, in template order.
    pub(crate) fn param_names(&self, route: usize) -> &[&'static str] {
        self.param_names.get(route).map_or(&[], Vec::as_slice)
    }
}

/// Inserts one template; returns its parameter names.
fn insert(
    root: &mut Node,
    template: &'static str,
    method: Method,
    endpoint: Endpoint,
) -> Result<Vec<&'static str>, BuildError> {
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
                names.push(name);
                node.param.get_or_insert_with(Box::default)
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
    if let Some(child) = &mut node.param {
        finish(child);
    }
}

/// Matches `rest` (the path after a `/`) below `node`. Each trie node is visited at most
/// once per lookup, so backtracking costs at most the size of the trie, whatever the path.
fn walk<'r, 'p>(node: &'r Node, rest: &'p str, params: &mut Vec<Cow<'p, str>>) -> Option<&'r Leaf> {
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
            Some(tail) => walk(child, tail, params),
            None => child.leaf.as_ref(),
        };
        if found.is_some() {
            return found;
        }
    }
    if let Some(child) = &node.param
        && !segment.is_empty()
    {
        params.push(Cow::Borrowed(segment));
        let found = match tail {
            Some(tail) => walk(child, tail, params),
            None => child.leaf.as_ref(),
        };
        if found.is_some() {
            return found;
        }
        params.pop();
    }
    None
}

/// Percent-decodes captured values in place. On invalid UTF-8, returns the index of the
/// offending parameter.
pub(crate) fn decode_params(params: &mut [Cow<'_, str>]) -> Result<(), usize> {
    for (index, value) in params.iter_mut().enumerate() {
        if !value.contains('%') {
            continue;
        }
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| index)?;
        if let Cow::Owned(decoded) = decoded {
            *value = Cow::Owned(decoded);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Forward;
    use crate::problem::Problem;
    use crate::{Auth, Request, Route, Service};
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
            handler,
        }
    }

    static SERVICES: [Service; 1] = [Service {
        name: "svc",
        env: "GATEWAY_UPSTREAM_SVC",
        urls: &["http://127.0.0.1:1"],
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    }];

    fn gateway(routes: &'static [Route]) -> Gateway {
        Gateway {
            name: "test",
            generator_version: "0",
            listen: "127.0.0.1:0",
            openapi_json: "{}",
            max_body: 1024,
            services: &SERVICES,
            routes,
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

    fn lookup(router: &Router, method: Method, path: &str) -> Option<(Endpoint, Vec<String>)> {
        let mut params = Vec::new();
        let leaf = router.find(path, &mut params)?;
        let endpoint = leaf.endpoint(method)?;
        Some((endpoint, params.iter().map(|p| p.to_string()).collect()))
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
        assert!(router.find("/users/", &mut params).is_none());
        assert!(router.find("/users//orders", &mut params).is_none());
        assert!(router.find("/users/7/orders/", &mut params).is_none());
        assert!(router.find("users", &mut params).is_none());
        assert!(router.find("*", &mut params).is_none());
        assert!(router.find("", &mut params).is_none());
        // An encoded slash stays inside its segment.
        let leaf = router.find("/users/..%2Fadmin", &mut params).unwrap();
        assert_eq!(leaf.endpoint(Method::Get), Some(Endpoint::Route(1)));
        assert_eq!(params, ["..%2Fadmin"]);
    }

    #[test]
    fn allow_lists_the_templates_methods_in_a_stable_order() {
        let router = Router::new(&gateway(&ROUTES)).unwrap();
        let mut params = Vec::new();
        let leaf = router.find("/users/7", &mut params).unwrap();
        assert_eq!(leaf.allow(), "GET, DELETE");
        assert_eq!(leaf.endpoint(Method::Head), None);
        // The literal template decides, even though `{id}` has DELETE.
        let leaf = router.find("/users/me", &mut params).unwrap();
        assert_eq!(leaf.allow(), "GET");
        assert_eq!(router.param_names(2), ["user_id"]);
    }

    #[test]
    fn a_route_can_claim_openapi_json() {
        static CLAIMED: [Route; 1] = [route(Method::Post, "/openapi.json")];
        let router = Router::new(&gateway(&CLAIMED)).unwrap();
        let mut params = Vec::new();
        let leaf = router.find("/openapi.json", &mut params).unwrap();
        assert_eq!(leaf.endpoint(Method::Get), None);
        assert_eq!(leaf.allow(), "POST");
    }

    #[test]
    fn bad_tables_are_refused() {
        static DUPLICATE: [Route; 2] = [
            route(Method::Get, "/users/{id}"),
            route(Method::Get, "/users/{name}"),
        ];
        static MIXED: [Route; 1] = [route(Method::Get, "/files/{name}.json")];
        static RELATIVE: [Route; 1] = [route(Method::Get, "users")];
        for routes in [&DUPLICATE[..], &MIXED[..], &RELATIVE[..]] {
            assert!(Router::new(&gateway(routes)).is_err());
        }
    }

    #[test]
    fn params_are_decoded_after_matching() {
        let mut params = vec![
            Cow::Borrowed("plain"),
            Cow::Borrowed("..%2Fadmin"),
            Cow::Borrowed("caf%C3%A9"),
        ];
        assert_eq!(decode_params(&mut params), Ok(()));
        assert_eq!(params, ["plain", "../admin", "café"]);
        assert!(matches!(params[0], Cow::Borrowed(_)));
        let mut params = vec![Cow::Borrowed("ok"), Cow::Borrowed("%FF")];
        assert_eq!(decode_params(&mut params), Err(1));
    }
}
