//! What the loaded specs say about the decisions a manifest makes: a name, an upstream and
//! perhaps a mount per service, how each declared security scheme can be verified, and
//! which operations already have an auth decision.
//!
//! Operations are judged as `lower` judges them (its `auth`, with no manifest policy yet):
//! the operations this module leaves open are exactly those `gateway validate` reports
//! (`no_auth_decision`, `scheme_not_configured`, `unknown_scheme`) on the written manifest,
//! so that the list `init` writes and the errors `validate` prints line up.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use openapiv3::{APIKeyLocation, OpenAPI, Operation, PathItem, ReferenceOr, SecurityScheme};

use crate::diag::{Diagnostics, Location};
use crate::ir::{Method, Piece, Segment};
use crate::load::{LoadedSpec, OperationPolicy};

/// Everything the manifest is written from, in the specs' order.
pub struct Survey {
    pub services: Vec<Service>,
    /// Every scheme of every spec's `components.securitySchemes`, by name, in the order
    /// they are first declared.
    pub schemes: Vec<Scheme>,
}

pub struct Service {
    /// The service key: lowercase letters, digits and `-`, unique.
    pub name: String,
    /// The spec's path as the manifest writes it (relative to the manifest's folder).
    pub spec: String,
    pub upstream: Upstream,
    /// `/<name>` when some route of this service would take the requests of another
    /// service's route; the other service and the route, for the comment.
    pub mount: Option<(String, String)>,
    pub operations: Vec<Op>,
    /// The spec has no `security` anywhere: `unsecured: public` would settle it at once.
    pub open: bool,
}

pub struct Upstream {
    /// An http URL the loader accepts.
    pub url: String,
    pub source: UpstreamSource,
}

pub enum UpstreamSource {
    /// The spec's first server, as it is (variables at their defaults).
    Spec,
    /// A loopback placeholder, keeping the path of the spec's server when it has one.
    Placeholder(PlaceholderWhy),
}

pub enum PlaceholderWhy {
    NoServer,
    /// The server's URL, which is `https` (upstreams are reached over plain http).
    Https(String),
    /// The server's URL, which is relative to where the spec is served.
    Relative(String),
    /// The server's URL and why it cannot be an upstream URL.
    Unusable(String, String),
}

pub struct Op {
    /// The manifest's key for it: the operationId, or `METHOD /path` as `lower` names it.
    pub key: String,
    pub method: &'static str,
    pub path: String,
    pub decision: Decision,
}

pub enum Decision {
    /// Every scheme its requirements name can be configured.
    Secured,
    /// Public by the spec itself: how (`security: []`, `x-gateway`).
    Public(&'static str),
    /// `gateway validate` fails on it until the manifest decides.
    Open(Reason),
}

pub enum Reason {
    NoSecurity,
    /// `x-gateway: { public: false }` on an operation whose spec requires no scheme.
    PrivateWithoutScheme,
    /// Schemes it requires that the manifest cannot configure (see their `Kind`), and
    /// schemes it requires that its spec does not declare.
    Schemes {
        unconfigurable: Vec<String>,
        undeclared: Vec<String>,
    },
}

pub struct Scheme {
    pub name: String,
    /// `SCREAMING_SNAKE` of the name, unique among the schemes: the stem of its `*_env`.
    pub env: String,
    pub kind: Kind,
    /// The services whose specs declare it.
    pub declared_by: Vec<String>,
    /// Some operation that is not public requires it.
    pub used: bool,
}

pub enum Kind {
    Bearer {
        format: Option<String>,
    },
    OAuth2 {
        flows: Vec<&'static str>,
    },
    OpenIdConnect {
        url: String,
    },
    ApiKey {
        location: &'static str,
        name: String,
    },
    Basic,
    /// What the manifest cannot configure, and why.
    Unsupported(String),
}

impl Kind {
    pub fn configurable(&self) -> bool {
        !matches!(self, Kind::Unsupported(_))
    }
}

/// Names that say nothing about a service: skipped when naming one from a file, a folder
/// or a title (`specs/payments/openapi.yaml` is `payments`, "Conduit API" is `conduit`).
const GENERIC: &[&str] = &[
    "openapi",
    "swagger",
    "api",
    "apis",
    "spec",
    "specs",
    "specification",
    "schema",
    "index",
    "main",
    "root",
    "definition",
    "definitions",
    "doc",
    "docs",
    "service",
    "services",
    "rest",
    "http",
    "json",
    "yaml",
    "the",
];

/// The words of a name, lowercase ASCII, without the generic ones and version numbers;
/// at most three.
fn name_words(text: &str) -> Vec<String> {
    // Not split at case changes: `GitHub` stays one word.
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    ascii
        .split(' ')
        .filter(|w| !w.is_empty())
        .filter(|w| !GENERIC.contains(w))
        .filter(|w| !w.bytes().all(|b| b.is_ascii_digit()))
        .filter(|w| {
            !(w.starts_with('v') && w.len() > 1 && w[1..].bytes().all(|b| b.is_ascii_digit()))
        })
        .take(3)
        .map(str::to_owned)
        .collect()
}

/// A service key from the spec's file name, else its folder's, else its title.
fn service_name(spec: &LoadedSpec) -> String {
    let stem = spec
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    let folder = spec
        .file
        .parent()
        .and_then(|p| std::path::absolute(p).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    [stem, folder, Some(spec.openapi.info.title.clone())]
        .into_iter()
        .flatten()
        .map(|text| name_words(&text).join("-"))
        .find(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
        .unwrap_or_else(|| "service".to_owned())
}

/// `name`, else `name-2`, `name-3`, ...
fn claim(taken: &mut Vec<String>, name: String, separator: char) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}{separator}{n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// The first server's URL with its variables at their defaults.
fn server_url(spec: &OpenAPI) -> Option<String> {
    let server = spec.servers.first()?;
    let mut url = server.url.clone();
    for (name, variable) in server.variables.iter().flatten() {
        url = url.replace(&format!("{{{name}}}"), &variable.default);
    }
    Some(url)
}

/// Where the service's instances are: the spec's server when the loader takes it as an
/// upstream URL, else a loopback placeholder (port 9001 for the first service, 9002 for the
/// second...) that keeps the server's path, since the spec's paths are relative to it.
fn upstream(spec: &OpenAPI, index: usize) -> Upstream {
    let port = 9001 + index;
    let placeholder = |path: &str, why| {
        let with_path = format!("http://127.0.0.1:{port}{}", path.trim_end_matches('/'));
        let url = if crate::load::manifest::upstream_url(&with_path).is_ok() {
            with_path
        } else {
            format!("http://127.0.0.1:{port}")
        };
        Upstream {
            url,
            source: UpstreamSource::Placeholder(why),
        }
    };
    let Some(url) = server_url(spec) else {
        return placeholder("", PlaceholderWhy::NoServer);
    };
    let trimmed = url.trim_end_matches('/');
    if url.contains(['{', '}']) {
        let why = "a variable without a default".to_owned();
        return placeholder("", PlaceholderWhy::Unusable(url, why));
    }
    if crate::load::manifest::upstream_url(trimmed).is_ok() {
        return Upstream {
            url: trimmed.to_owned(),
            source: UpstreamSource::Spec,
        };
    }
    match url::Url::parse(&url) {
        Ok(parsed) if parsed.scheme() == "https" && parsed.host_str().is_some() => {
            let path = parsed.path().to_owned();
            placeholder(&path, PlaceholderWhy::Https(url))
        }
        Ok(parsed) => {
            let why = crate::load::manifest::upstream_url(trimmed)
                .err()
                .unwrap_or_default();
            let path = if parsed.scheme() == "http" {
                parsed.path().to_owned()
            } else {
                String::new()
            };
            placeholder(&path, PlaceholderWhy::Unusable(url.clone(), why))
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            // `/api` or `v1`: relative to where the document is served.
            let path = url.split(['?', '#']).next().unwrap_or_default();
            let path =
                if path.starts_with('/') && url::Url::parse(&format!("http://h{path}")).is_ok() {
                    path.to_owned()
                } else {
                    String::new()
                };
            placeholder(&path, PlaceholderWhy::Relative(url))
        }
        Err(error) => placeholder("", PlaceholderWhy::Unusable(url, error.to_string())),
    }
}

/// `x-gateway: { public: ... }`, read as `lower` reads it (a malformed extension, or one
/// with `timeouts`, is an error there and counts as no policy).
fn extension_public(operation: &Operation) -> Option<bool> {
    let value = operation.extensions.get("x-gateway")?;
    let policy: OperationPolicy = serde_json::from_value(value.clone()).ok()?;
    if policy.timeouts.is_some() {
        return None;
    }
    policy.public
}

fn methods_of(item: &PathItem) -> impl Iterator<Item = (Method, &Operation)> {
    Method::ALL.into_iter().filter_map(move |method| {
        let operation = match method {
            Method::Get => &item.get,
            Method::Put => &item.put,
            Method::Post => &item.post,
            Method::Delete => &item.delete,
            Method::Options => &item.options,
            Method::Head => &item.head,
            Method::Patch => &item.patch,
            Method::Trace => &item.trace,
        };
        operation.as_ref().map(|op| (method, op))
    })
}

/// How `lower` decides an operation's auth, given which schemes the manifest configures.
fn decide(operation: &Operation, spec: &OpenAPI, configurable: &dyn Fn(&str) -> bool) -> Decision {
    let public = extension_public(operation);
    if public == Some(true) {
        return Decision::Public("x-gateway public");
    }
    let private = public == Some(false);
    let Some(requirements) = operation.security.as_ref().or(spec.security.as_ref()) else {
        return Decision::Open(if private {
            Reason::PrivateWithoutScheme
        } else {
            Reason::NoSecurity
        });
    };
    if !private && requirements.iter().any(|r| r.is_empty()) {
        return Decision::Public(if requirements.len() == 1 {
            "security: [{}]"
        } else {
            "an empty alternative in `security`"
        });
    }
    let named: Vec<_> = requirements.iter().filter(|r| !r.is_empty()).collect();
    if named.is_empty() {
        return if private {
            Decision::Open(Reason::PrivateWithoutScheme)
        } else {
            Decision::Public("security: []")
        };
    }
    let declared = spec.components.as_ref().map(|c| &c.security_schemes);
    let (mut unconfigurable, mut undeclared) = (Vec::new(), Vec::new());
    for scheme in named.iter().flat_map(|r| r.keys()) {
        let list = if declared.is_none_or(|d| !d.contains_key(scheme)) {
            &mut undeclared
        } else if !configurable(scheme) {
            &mut unconfigurable
        } else {
            continue;
        };
        if !list.contains(scheme) {
            list.push(scheme.clone());
        }
    }
    if unconfigurable.is_empty() && undeclared.is_empty() {
        Decision::Secured
    } else {
        Decision::Open(Reason::Schemes {
            unconfigurable,
            undeclared,
        })
    }
}

/// A scheme's kind from one declaration.
fn kind(scheme: &SecurityScheme) -> Kind {
    match scheme {
        SecurityScheme::HTTP {
            scheme,
            bearer_format,
            ..
        } if scheme.eq_ignore_ascii_case("bearer") => Kind::Bearer {
            format: bearer_format.clone(),
        },
        SecurityScheme::HTTP { scheme, .. } if scheme.eq_ignore_ascii_case("basic") => Kind::Basic,
        SecurityScheme::HTTP { scheme, .. } => Kind::Unsupported(format!(
            "HTTP `{scheme}` is not supported (only `bearer` tokens, verified as JWTs, and `basic`)"
        )),
        SecurityScheme::OAuth2 { flows, .. } => Kind::OAuth2 {
            flows: [
                (flows.authorization_code.is_some(), "authorizationCode"),
                (flows.client_credentials.is_some(), "clientCredentials"),
                (flows.implicit.is_some(), "implicit"),
                (flows.password.is_some(), "password"),
            ]
            .into_iter()
            .filter_map(|(present, name)| present.then_some(name))
            .collect(),
        },
        SecurityScheme::OpenIDConnect {
            open_id_connect_url,
            ..
        } => Kind::OpenIdConnect {
            url: open_id_connect_url.clone(),
        },
        SecurityScheme::APIKey { location, name, .. } => Kind::ApiKey {
            location: match location {
                APIKeyLocation::Header => "header",
                APIKeyLocation::Query => "query",
                APIKeyLocation::Cookie => "cookie",
            },
            name: name.clone(),
        },
    }
}

/// One kind for every declaration of a scheme name, as the loader requires: JWT kinds go
/// together; an API key must be read from one place; anything else is a conflict.
fn merged_kind(declarations: &[(String, &ReferenceOr<SecurityScheme>)]) -> Kind {
    let mut first: Option<(Kind, &str)> = None;
    for (service, declaration) in declarations {
        let ReferenceOr::Item(scheme) = declaration else {
            return Kind::Unsupported(format!(
                "{service} declares it by a `$ref`, which this version cannot follow: declare it in place"
            ));
        };
        let this = kind(scheme);
        if let Kind::Unsupported(_) = this {
            return this;
        }
        match &first {
            None => first = Some((this, service)),
            Some((kind, other)) => {
                let jwt = |k: &Kind| {
                    matches!(
                        k,
                        Kind::Bearer { .. } | Kind::OAuth2 { .. } | Kind::OpenIdConnect { .. }
                    )
                };
                let same = match (kind, &this) {
                    (
                        Kind::ApiKey { location, name },
                        Kind::ApiKey {
                            location: l2,
                            name: n2,
                        },
                    ) => {
                        location == l2
                            && if *location == "header" {
                                name.eq_ignore_ascii_case(n2)
                            } else {
                                name == n2
                            }
                    }
                    (Kind::Basic, Kind::Basic) => true,
                    (a, b) => jwt(a) && jwt(b),
                };
                if !same {
                    return Kind::Unsupported(format!(
                        "{other} and {service} declare it differently; the gateway verifies one scheme per name: rename one"
                    ));
                }
            }
        }
    }
    // Every name in `declared` has a declaration.
    first.map_or_else(|| Kind::Unsupported(String::new()), |(kind, _)| kind)
}

/// A route's shape: its segments with parameters unnamed. Two routes of one method with
/// one shape take the same requests (`gateway::check::route_conflict`).
fn shape(path: &str) -> Option<String> {
    let mut ignored = Diagnostics::default();
    let template = crate::lower::parse_template(path, &Location::new("", ""), &mut ignored)?;
    let segments: Vec<String> = template
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => text.clone(),
            Segment::Param(_) => "{}".to_owned(),
            Segment::Mixed(pieces) => pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Literal(text) => text.as_str(),
                    Piece::Param(_) => "{}",
                })
                .collect(),
        })
        .collect();
    Some(segments.join("/"))
}

/// Surveys the loaded specs; `relative_specs` are their paths as the manifest writes them.
pub fn survey(specs: &[LoadedSpec], relative_specs: &[String]) -> Survey {
    let mut taken = Vec::new();
    let names: Vec<String> = specs
        .iter()
        .map(|spec| claim(&mut taken, service_name(spec), '-'))
        .collect();

    // Schemes, by name, with every declaration.
    let mut declared: IndexMap<String, Vec<(String, &ReferenceOr<SecurityScheme>)>> =
        IndexMap::new();
    for (spec, service) in specs.iter().zip(&names) {
        for (name, scheme) in spec
            .openapi
            .components
            .iter()
            .flat_map(|c| c.security_schemes.iter())
        {
            declared
                .entry(name.clone())
                .or_default()
                .push((service.clone(), scheme));
        }
    }
    let mut env_taken = Vec::new();
    let mut schemes: Vec<Scheme> = declared
        .iter()
        .map(|(name, declarations)| {
            let mut env = heck::ToShoutySnakeCase::to_shouty_snake_case(
                name.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
                    .collect::<String>()
                    .as_str(),
            );
            if !env.starts_with(|c: char| c.is_ascii_uppercase()) {
                env.insert_str(0, if env.is_empty() { "AUTH" } else { "AUTH_" });
            }
            let mut declared_by: Vec<String> = Vec::new();
            for (service, _) in declarations {
                if !declared_by.contains(service) {
                    declared_by.push(service.clone());
                }
            }
            Scheme {
                name: name.clone(),
                env: claim(&mut env_taken, env, '_'),
                kind: merged_kind(declarations),
                declared_by,
                used: false,
            }
        })
        .collect();
    let configurable = |name: &str| {
        schemes
            .iter()
            .any(|s| s.name == name && s.kind.configurable())
    };

    let mut services = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    // Per service: (method, route shape) -> the route as written, for mounts.
    let mut shapes: Vec<IndexMap<(Method, String), String>> = Vec::new();
    for (index, (spec, name)) in specs.iter().zip(&names).enumerate() {
        let doc = &spec.openapi;
        let mut operations: Vec<Op> = Vec::new();
        let mut keys = BTreeSet::new();
        let mut routes = IndexMap::new();
        for (path, item) in &doc.paths.paths {
            // `lower` skips these (and reports them); they get no route and no decision.
            let ReferenceOr::Item(item) = item else {
                continue;
            };
            let Some(route_shape) = shape(path) else {
                continue;
            };
            for (method, operation) in methods_of(item) {
                let key = operation
                    .operation_id
                    .clone()
                    .unwrap_or_else(|| format!("{} {path}", method.as_str()));
                // A second use of an operationId is an error of its own, and skipped.
                if !keys.insert(key.clone()) {
                    continue;
                }
                let decision = decide(operation, doc, &configurable);
                if let Decision::Secured = decision {
                    for requirement in operation
                        .security
                        .as_ref()
                        .or(doc.security.as_ref())
                        .into_iter()
                        .flatten()
                    {
                        used.extend(requirement.keys().cloned());
                    }
                }
                routes.insert(
                    (method, route_shape.clone()),
                    format!("{} {path}", method.as_str()),
                );
                operations.push(Op {
                    key,
                    method: method.as_str(),
                    path: path.clone(),
                    decision,
                });
            }
        }
        let open = doc.security.is_none()
            && doc
                .paths
                .paths
                .values()
                .filter_map(|item| item.as_item())
                .flat_map(methods_of)
                .all(|(_, op)| op.security.is_none());
        shapes.push(routes);
        services.push(Service {
            name: name.clone(),
            spec: relative_specs[index].clone(),
            upstream: upstream(doc, index),
            mount: None,
            operations,
            open,
        });
    }
    for scheme in &mut schemes {
        scheme.used = used.contains(&scheme.name);
    }

    // Two services with a route of the same shape would conflict: each is mounted under
    // its own name.
    for i in 0..services.len() {
        for j in i + 1..services.len() {
            let Some(route) = shapes[i]
                .iter()
                .find(|(key, _)| shapes[j].contains_key(*key))
                .map(|(_, route)| route.clone())
            else {
                continue;
            };
            let (a, b) = (services[i].name.clone(), services[j].name.clone());
            services[i].mount.get_or_insert((b, route.clone()));
            services[j].mount.get_or_insert((a, route));
        }
    }
    Survey { services, schemes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_skip_generic_words() {
        assert_eq!(name_words("openapi"), Vec::<String>::new());
        assert_eq!(
            name_words("RealWorld Conduit API"),
            ["realworld", "conduit"]
        );
        assert_eq!(name_words("Users service"), ["users"]);
        assert_eq!(name_words("GitHub v3 REST API"), ["github"]);
        assert_eq!(name_words("users.v2"), ["users"]);
        assert_eq!(name_words("Swagger Petstore - OpenAPI 3.0"), ["petstore"]);
        assert_eq!(name_words("ユーザー"), Vec::<String>::new());
        assert_eq!(name_words("a b c d"), ["a", "b", "c"]);
    }

    #[test]
    fn names_are_claimed_once() {
        let mut taken = Vec::new();
        assert_eq!(claim(&mut taken, "users".into(), '-'), "users");
        assert_eq!(claim(&mut taken, "users".into(), '-'), "users-2");
        assert_eq!(claim(&mut taken, "users".into(), '-'), "users-3");
    }

    #[test]
    fn shapes_ignore_parameter_names() {
        assert_eq!(shape("/users/{id}"), shape("/users/{userId}"));
        assert_ne!(shape("/users/{id}"), shape("/users/me"));
        assert_eq!(shape("/f/{a}.json"), shape("/f/{b}.json"));
        assert_eq!(shape("users"), None);
    }
}
