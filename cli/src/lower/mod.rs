//! Stage 2, lower: the manifest and the loaded specs become the IR ([`crate::ir`]).
//!
//! Here every `$ref` a route needs is resolved, every operation gets its auth decision, and
//! every Rust name is chosen. Problems that belong to one operation are reported and the
//! operation is skipped, so one bad operation never hides the problems of another.

pub mod names;
mod openapi;
mod param_shape;
mod path;
mod schema;
mod select;

use indexmap::IndexMap;
use openapiv3::{
    OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathItem, PathStyle, QueryStyle,
    ReferenceOr, Schema, SchemaKind, SecurityScheme, StringFormat, Type, VariantOrUnknownOrEmpty,
};

use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean, pointer_push};
use crate::ir::{
    Auth, Body, Bound, BoundValue, Constraints, Cors, EnumType, Excluded, FormCheck, FormEncoding,
    Gateway, JsonFormat, Jwt, KeySource, Method, Param, ParamIn, ParamShape, ParamStyle, ParamType,
    PathTemplate, RateKey, RateLimit, Requirement, ResponseCheck, ResponseStatus, Route, Scalar,
    Scheme, SchemeKind, Segment, Service,
};
use crate::load::{AuthKind, Candidate, Loaded, LoadedSpec, OperationPolicy, ServiceConfig};
use names::Scope;
pub use path::parse_template;

/// Module names a generated crate uses itself; services get other names.
const CRATE_MODULES: &[&str] = &[
    "routes",
    "main",
    "lib",
    "schemas",
    "openapi_gateway_runtime",
];

pub fn lower(loaded: &Loaded, diags: &mut Diagnostics) -> Option<Gateway> {
    let manifest = &loaded.manifest;
    let first_new = diags.list.len();
    let mut modules = Scope::with_reserved(CRATE_MODULES);
    let mut services = Vec::new();
    let mut routes = Vec::new();
    let mut excluded = Vec::new();
    for (index, (config, spec)) in manifest.services.iter().zip(&loaded.specs).enumerate() {
        let module = modules.claim(names::snake(&config.key, "service"));
        let mut lowering = ServiceLowering {
            index,
            config,
            spec,
            manifest_file: &manifest.file,
            base_path: &manifest.base_path,
            gateway_name: &manifest.name,
            rate_limits: &manifest.rate_limits,
            gateway_rate_limit: manifest.rate_limit.as_deref(),
            validate_responses: manifest.validate_responses,
            auth_schemes: &manifest.auth,
            handlers: Scope::with_reserved(&[]),
            types: Scope::with_reserved(&[]),
            enums: Vec::new(),
            schemas: schema::Schemas::default(),
            excluded: Vec::new(),
            diags,
        };
        let mut service_routes = lowering.routes();
        path::type_apart(&mut service_routes, &lowering.enums);
        routes.extend(service_routes);
        excluded.append(&mut lowering.excluded);
        lowering.schemas.check_cycles(spec, lowering.diags);
        let enums = lowering.enums;
        let validators = lowering.schemas.validators;
        services.push(Service {
            key: config.key.clone(),
            module,
            env: names::upstream_env(&config.key),
            urls: config.urls.clone(),
            discovery: config.discovery.as_ref().map(|d| crate::ir::Discovery {
                dns: d.dns.clone(),
                port: d.port,
                record: match d.record {
                    crate::load::DnsRecord::A => crate::ir::DnsRecord::A,
                    crate::load::DnsRecord::Srv => crate::ir::DnsRecord::Srv,
                },
                interval_ms: duration_ms(d.interval),
                scheme: d.scheme.clone(),
                nameserver: d.nameserver.clone(),
            }),
            connect_timeout_ms: duration_ms(config.connect_timeout),
            request_timeout_ms: duration_ms(config.request_timeout),
            resilience: config.resilience.clone(),
            enums,
            validators,
            cors: config.cors.as_ref().map(|c| Cors {
                allow_origins: c.allow_origins.clone(),
                allow_methods: c
                    .allow_methods
                    .iter()
                    .filter_map(|m| Method::ALL.into_iter().find(|known| known.as_str() == m))
                    .collect(),
                allow_headers: c.allow_headers.clone(),
                expose_headers: c.expose_headers.clone(),
                allow_credentials: c.allow_credentials,
                max_age: c.max_age,
            }),
        });
    }
    let schemes = check_manifest_schemes(loaded, diags);
    routes.sort_by(|a: &Route, b: &Route| {
        (a.public_path.to_string(), a.method).cmp(&(b.public_path.to_string(), b.method))
    });
    let openapi = openapi::public_document(loaded, &routes, &services);
    let failed = diags.list[first_new..]
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Error);
    if failed {
        return None;
    }
    let lower_policy = |p: &crate::load::RateLimitPolicy| RateLimit {
        name: p.name.clone(),
        count: p.count,
        period_secs: p.period.as_secs(),
        burst: p.burst,
        key: match &p.key {
            crate::load::RateKey::Ip => RateKey::Ip,
            crate::load::RateKey::Header(name) => RateKey::Header(name.clone()),
            crate::load::RateKey::Consumer => RateKey::Consumer,
            crate::load::RateKey::Claim(name) => RateKey::Claim(name.clone()),
        },
        ipv6_prefix: p.ipv6_prefix,
        deny_on_store_failure: p.deny_on_store_failure,
        allowed_headers: p.allowed_headers,
    };
    let rate_limits = manifest.rate_limits.iter().map(lower_policy).collect();
    // Without a scheme there is no credential to guess.
    let auth_failures = manifest
        .auth_failures
        .as_ref()
        .filter(|_| !schemes.is_empty())
        .map(lower_policy);
    let rate_limit_store = match &manifest.rate_limit_store {
        crate::load::RateLimitStore::Memory => crate::ir::RateLimitStore::Memory,
        crate::load::RateLimitStore::Redis { url_env, timeout } => {
            crate::ir::RateLimitStore::Redis {
                url_env: url_env.clone(),
                timeout_ms: duration_ms(*timeout),
            }
        }
    };
    Some(Gateway {
        name: manifest.name.clone(),
        listen: manifest.listen.clone(),
        max_body: manifest.max_body,
        connections: crate::ir::Connections {
            header_timeout_ms: duration_ms(manifest.connections.header_timeout),
            idle_timeout_ms: duration_ms(manifest.connections.idle_timeout),
            send_timeout_ms: duration_ms(manifest.connections.send_timeout),
            max_connections: manifest.connections.max_connections,
        },
        max_fields: manifest.max_fields,
        services,
        routes,
        excluded,
        rate_limits,
        auth_failures,
        rate_limit_store,
        trusted_proxies: manifest.trusted_proxies.clone(),
        schemes,
        openapi,
        otlp_endpoint_env: manifest.otlp_endpoint_env.clone(),
        docs: manifest.docs.clone().map(|path| crate::ir::Docs {
            path,
            location: Location::new(&manifest.file, "/gateway/docs/path"),
        }),
    })
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every scheme the manifest configures must exist in some spec, with a type its
/// configuration can verify; the result is the scheme table of the generated crate.
fn check_manifest_schemes(loaded: &Loaded, diags: &mut Diagnostics) -> Vec<Scheme> {
    let declared: Vec<(&str, &SecurityScheme)> = loaded
        .specs
        .iter()
        .filter_map(|s| s.openapi.components.as_ref())
        .flat_map(|c| c.security_schemes.iter())
        .filter_map(|(name, scheme)| match scheme {
            ReferenceOr::Item(scheme) => Some((name.as_str(), scheme)),
            ReferenceOr::Reference { .. } => None,
        })
        .collect();
    let known: Vec<&str> = loaded
        .specs
        .iter()
        .filter_map(|s| s.openapi.components.as_ref())
        .flat_map(|c| c.security_schemes.keys().map(String::as_str))
        .collect();
    let mut schemes = Vec::new();
    for configured in &loaded.manifest.auth {
        let scheme = &configured.name;
        let at = Location::key(&loaded.manifest.file, pointer_push("/auth", scheme));
        if !known.contains(&scheme.as_str()) {
            diags.push(
                Diagnostic::error(
                    "gateway::manifest::unknown_scheme",
                    format!("`auth` configures `{scheme}`, which no spec declares in `components.securitySchemes`"),
                )
                .at(at)
                .help(did_you_mean(scheme, known.iter().copied()).unwrap_or_else(|| {
                    format!("schemes the specs declare: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })
                })),
            );
            continue;
        }
        let mut kind: Option<SchemeKind> = None;
        let mut failed = false;
        for (_, declared) in declared.iter().filter(|(name, _)| *name == scheme) {
            let (spec_type, compatible) = match (declared, &configured.kind) {
                (SecurityScheme::HTTP { scheme: http, .. }, kind) => (
                    format!("http {}", http.to_ascii_lowercase()),
                    match kind {
                        AuthKind::Jwt(_) => http.eq_ignore_ascii_case("bearer"),
                        AuthKind::Basic { .. } => http.eq_ignore_ascii_case("basic"),
                        AuthKind::ApiKey { .. } => false,
                    },
                ),
                (SecurityScheme::OAuth2 { .. }, kind) => {
                    ("oauth2".to_owned(), matches!(kind, AuthKind::Jwt(_)))
                }
                (SecurityScheme::OpenIDConnect { .. }, kind) => {
                    ("openIdConnect".to_owned(), matches!(kind, AuthKind::Jwt(_)))
                }
                (SecurityScheme::APIKey { .. }, kind) => {
                    ("apiKey".to_owned(), matches!(kind, AuthKind::ApiKey { .. }))
                }
            };
            if !compatible {
                let given = match configured.kind {
                    AuthKind::Jwt(_) => "jwt",
                    AuthKind::ApiKey { .. } => "api_key",
                    AuthKind::Basic { .. } => "basic",
                };
                let want = match spec_type.as_str() {
                    "apiKey" => "api_key",
                    "http basic" => "basic",
                    "http bearer" | "oauth2" | "openIdConnect" => "jwt",
                    _ => "nothing this version supports",
                };
                diags.push(
                    Diagnostic::error(
                        "gateway::manifest::scheme_type_mismatch",
                        format!("`{scheme}` is an {spec_type} scheme in its spec, which `{given}` cannot verify"),
                    )
                    .at(at.clone())
                    .help(format!("configure it with `{want}`")),
                );
                failed = true;
                break;
            }
            let this = match (&configured.kind, declared) {
                (AuthKind::Jwt(jwt), _) => SchemeKind::Jwt(Jwt {
                    algorithms: jwt.algorithms.clone(),
                    key: key_source(&jwt.key),
                    issuer: jwt.issuer.clone(),
                    audiences: jwt.audiences.clone(),
                    leeway_secs: jwt.leeway_secs,
                    max_token: jwt.max_token,
                    types: jwt.types.clone(),
                    forward_claims: jwt.forward_claims.clone(),
                    strip_authorization: jwt.strip_authorization,
                }),
                (
                    AuthKind::ApiKey { keys, strip },
                    SecurityScheme::APIKey { location, name, .. },
                ) => SchemeKind::ApiKey {
                    location: match location {
                        openapiv3::APIKeyLocation::Query => ParamIn::Query,
                        openapiv3::APIKeyLocation::Header => ParamIn::Header,
                        openapiv3::APIKeyLocation::Cookie => ParamIn::Cookie,
                    },
                    name: match location {
                        openapiv3::APIKeyLocation::Header => name.to_ascii_lowercase(),
                        _ => name.clone(),
                    },
                    keys: key_source(keys),
                    strip: *strip,
                },
                (AuthKind::ApiKey { .. }, _) => continue,
                (
                    AuthKind::Basic {
                        users,
                        forward_authorization,
                    },
                    _,
                ) => SchemeKind::Basic {
                    users: key_source(users),
                    forward_authorization: *forward_authorization,
                },
            };
            match &kind {
                None => kind = Some(this),
                Some(first) if *first != this => {
                    diags.push(
                        Diagnostic::error(
                            "gateway::manifest::scheme_type_mismatch",
                            format!("specs declare `{scheme}` differently (another place for the API key)"),
                        )
                        .at(at.clone())
                        .help("declare the scheme the same way in every spec, or give the variants their own names"),
                    );
                    failed = true;
                    break;
                }
                Some(_) => {}
            }
        }
        if !failed && kind.is_none() {
            diags.push(
                Diagnostic::error(
                    "gateway::manifest::unsupported_scheme",
                    format!("`{scheme}` is declared by a `$ref` in `components.securitySchemes`, which this version cannot follow"),
                )
                .at(at.clone())
                .help("declare the security scheme inline in the spec"),
            );
        }
        if let (false, Some(kind)) = (failed, kind) {
            schemes.push(Scheme {
                name: scheme.clone(),
                kind,
            });
        }
    }
    schemes
}

/// A parameter's type as its schema declares it, with what its parser must check.
struct Typed {
    ty: ParamType,
    default: Option<Scalar>,
    constraints: Constraints,
    item_constraints: Constraints,
}

impl Typed {
    fn unchecked() -> Typed {
        Typed {
            ty: ParamType::Unchecked,
            default: None,
            constraints: Constraints::default(),
            item_constraints: Constraints::default(),
        }
    }
}

struct ServiceLowering<'a> {
    index: usize,
    config: &'a ServiceConfig,
    spec: &'a LoadedSpec,
    manifest_file: &'a std::path::Path,
    base_path: &'a str,
    gateway_name: &'a str,
    rate_limits: &'a [crate::load::RateLimitPolicy],
    gateway_rate_limit: Option<&'a str>,
    /// `gateway.validate_responses` (a service's own setting wins).
    validate_responses: bool,
    auth_schemes: &'a [crate::load::AuthScheme],
    handlers: Scope,
    types: Scope,
    enums: Vec<EnumType>,
    schemas: schema::Schemas,
    /// Operations `include`/`exclude` leave out.
    excluded: Vec<Excluded>,
    diags: &'a mut Diagnostics,
}

impl<'a> ServiceLowering<'a> {
    fn locate(&self, pointer: &str) -> Location {
        self.spec.origins.locate(pointer)
    }

    /// Whether load already reported a broken reference at or below `pointer`.
    fn reported(&self, pointer: &str) -> bool {
        let location = self.locate(pointer);
        self.diags.list.iter().any(|d| {
            d.code == "gateway::spec::dangling_ref"
                && d.location.as_ref().is_some_and(|l| {
                    l.file == location.file && l.pointer.starts_with(&location.pointer)
                })
        })
    }

    fn manifest_at(&self, rest: &str) -> Location {
        Location::new(
            self.manifest_file,
            format!("{}{rest}", pointer_push("/services", &self.config.key)),
        )
    }

    fn routes(&mut self) -> Vec<Route> {
        let spec: &'a LoadedSpec = self.spec;
        let doc: &'a OpenAPI = &spec.openapi;
        let mut selection = select::Verdicts::new(self.config);
        let mut all_tags: std::collections::BTreeSet<String> = Default::default();
        let mut routes = Vec::new();
        let mut seen_ids: IndexMap<String, String> = IndexMap::new();
        let mut operation_pointers: Vec<String> = Vec::new();
        for (path, item) in &doc.paths.paths {
            let path_pointer = pointer_push("/paths", path);
            let item = match item {
                ReferenceOr::Item(item) => item,
                ReferenceOr::Reference { reference } => {
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::unsupported",
                            format!("path item `{path}` is a reference to `{reference}` inside the document"),
                        )
                        .at(self.locate(&path_pointer))
                        .help("write the path item in place, or reference a separate file (which is bundled)"),
                    );
                    continue;
                }
            };
            // Parsed for the first published operation: an excluded path may be one this
            // version cannot route.
            let mut template: Option<Option<PathTemplate>> = None;
            for (method, operation) in operations(item) {
                let pointer = pointer_push(&path_pointer, method.key());
                let operation_id = operation
                    .operation_id
                    .clone()
                    .unwrap_or_else(|| format!("{} {path}", method.as_str()));
                let candidate = Candidate {
                    operation_id: &operation_id,
                    tags: &operation.tags,
                    path,
                };
                all_tags.extend(operation.tags.iter().cloned());
                if let Some(reason) = selection.verdict(&candidate) {
                    if !seen_ids.contains_key(&operation_id) {
                        seen_ids.insert(operation_id.clone(), pointer.clone());
                        self.excluded.push(Excluded {
                            service: self.index,
                            method,
                            spec_path: path.clone(),
                            public_path: match format!(
                                "{}{}{}",
                                self.base_path,
                                self.config.mount,
                                path.trim_end_matches('/')
                            ) {
                                p if p.is_empty() => "/".to_owned(),
                                p => p,
                            },
                            operation_id,
                            reason,
                        });
                    }
                    continue;
                }
                let template = template.get_or_insert_with(|| {
                    path::parse_template(path, &self.locate(&path_pointer), self.diags)
                });
                let Some(template) = template.as_ref() else {
                    continue;
                };
                if let Some(first) = seen_ids.get(&operation_id) {
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::duplicate_operation_id",
                            format!(
                                "operationId `{operation_id}` is used twice in service `{}`",
                                self.config.key
                            ),
                        )
                        .at(self.locate(&pointer_push(&pointer, "operationId")))
                        .related(
                            "first used here",
                            self.locate(&pointer_push(first, "operationId")),
                        )
                        .help("operationIds must be unique within a spec: rename one"),
                    );
                    continue;
                }
                seen_ids.insert(operation_id.clone(), pointer.clone());
                if let Some(route) = self.route(
                    method,
                    path,
                    template,
                    item,
                    operation,
                    operation_id,
                    &pointer,
                ) {
                    routes.push(route);
                    operation_pointers.push(pointer);
                }
            }
        }
        // After every request schema, so that a response schema's failure (demoted to a
        // warning) can never hide a request's.
        if self
            .config
            .validate_responses
            .unwrap_or(self.validate_responses)
        {
            for (route, pointer) in routes.iter_mut().zip(&operation_pointers) {
                route.responses = Some(self.responses(&route.operation_id, pointer));
            }
        }
        let unvalidated: Vec<&str> = routes
            .iter()
            .filter(|r: &&Route| {
                r.body.as_ref().is_some_and(|b| {
                    b.validators.len() + b.forms.iter().filter(|f| !f.multipart).count()
                        < b.media_types.len()
                })
            })
            .map(|r| r.operation_id.as_str())
            .collect();
        if !unvalidated.is_empty() {
            // Named, so that a reviewer can find them; a long list is cut short.
            const NAMED: usize = 5;
            let mut which = unvalidated
                .iter()
                .take(NAMED)
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if unvalidated.len() > NAMED {
                which.push_str(&format!(" and {} more", unvalidated.len() - NAMED));
            }
            let count = unvalidated.len();
            self.diags.push(
                Diagnostic::warning(
                    "gateway::spec::body_not_validated",
                    format!(
                        "{count} operation{} of service `{}` ({which}) accept{} request bodies that are neither JSON nor urlencoded forms with a schema; this version checks their presence and media type (and a multipart body's parts) but forwards them without checking their content",
                        if count == 1 { "" } else { "s" },
                        self.config.key,
                        if count == 1 { "s" } else { "" },
                    ),
                )
                .at(Location::key(
                    self.manifest_file,
                    pointer_push("/services", &self.config.key),
                ))
                .help("the upstream must still validate those bodies; the size limit (`limits.max_body`) is enforced"),
            );
        }
        selection.report_unused(
            self.manifest_file,
            seen_ids.keys().map(String::as_str),
            &all_tags,
            self.diags,
        );
        // Policies for operations the spec does not have, or the manifest leaves out.
        for name in self.config.operations.keys() {
            if let Some(excluded) = self.excluded.iter().find(|e| e.operation_id == *name) {
                self.diags.push(
                    Diagnostic::error(
                        "gateway::manifest::excluded_operation",
                        format!(
                            "service `{}` sets a policy for `{name}`, which it does not publish ({})",
                            self.config.key, excluded.reason
                        ),
                    )
                    .at(Location::key(
                        self.manifest_file,
                        pointer_push(
                            &format!("{}/operations", pointer_push("/services", &self.config.key)),
                            name,
                        ),
                    ))
                    .help("remove the policy, or publish the operation"),
                );
            } else if !seen_ids.contains_key(name) {
                let help = did_you_mean(name, seen_ids.keys().map(String::as_str))
                    .unwrap_or_else(|| "policies are keyed by the spec's operationId".to_owned());
                self.diags.push(
                    Diagnostic::error(
                        "gateway::manifest::unknown_operation",
                        format!("service `{}` has no operation `{name}`", self.config.key),
                    )
                    .at(Location::key(
                        self.manifest_file,
                        pointer_push(
                            &format!("{}/operations", pointer_push("/services", &self.config.key)),
                            name,
                        ),
                    ))
                    .help(help),
                );
            }
        }
        routes
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        method: Method,
        spec_path: &str,
        template: &PathTemplate,
        item: &'a PathItem,
        operation: &'a Operation,
        operation_id: String,
        pointer: &str,
    ) -> Option<Route> {
        let errors_before = self.diags.list.len();
        let policy = self.policy(&operation_id, operation, pointer);
        let params = self.params(template, item, operation, pointer, &operation_id);
        let body = self.body(operation, pointer, &operation_id);
        let auth = self.auth(&operation_id, operation, &policy, pointer);
        let rate_limits = self.rate_limits(&policy, pointer);
        let failed = self.diags.list[errors_before..]
            .iter()
            .any(|d| d.severity == crate::diag::Severity::Error);
        let (params, auth) = (params?, auth?);
        if failed {
            return None;
        }
        let handler = self
            .handlers
            .claim(names::snake(&operation_id, "operation"));
        let params_type = self.types.claim(format!(
            "{}Params",
            names::camel(&operation_id, "Operation")
        ));
        let mut public_segments = Vec::new();
        for prefix in [self.base_path, self.config.mount.as_str()] {
            public_segments.extend(
                prefix
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| Segment::Literal(s.to_owned())),
            );
        }
        public_segments.extend(template.segments.iter().cloned());
        Some(Route {
            service: self.index,
            method,
            public_path: PathTemplate {
                segments: public_segments,
            },
            upstream_path: template.clone(),
            spec_path: spec_path.to_owned(),
            operation_id,
            handler,
            params_type,
            params,
            body,
            auth,
            rate_limits,
            summary: operation.summary.clone(),
            location: self.locate(pointer),
            responses: None,
            path_types: Vec::new(),
        })
    }

    /// The rate-limit policies of a route: the gateway's, the service's, the operation's.
    fn rate_limits(&mut self, policy: &OperationPolicy, pointer: &str) -> Vec<usize> {
        let names = [
            self.gateway_rate_limit,
            self.config.rate_limit.as_deref(),
            policy.rate_limit.as_deref(),
        ];
        let mut indices = Vec::new();
        for (level, name) in names.into_iter().enumerate() {
            let Some(name) = name else { continue };
            match self.rate_limits.iter().position(|p| p.name == name) {
                Some(index) => {
                    if !indices.contains(&index) {
                        indices.push(index);
                    }
                }
                // The manifest's own names were checked when it was loaded, so an
                // undefined operation policy comes from the spec's `x-gateway`.
                None if level < 2 => {}
                None => self.diags.push(
                    Diagnostic::error(
                        "gateway::manifest::unknown_rate_limit",
                        format!(
                            "`x-gateway` names rate-limit policy `{name}`, which is not defined"
                        ),
                    )
                    .at(self.locate(&pointer_push(
                        &pointer_push(pointer, "x-gateway"),
                        "rate_limit",
                    )))
                    .help(
                        did_you_mean(name, self.rate_limits.iter().map(|p| p.name.as_str()))
                            .unwrap_or_else(|| {
                                "define it in the manifest under `rate_limits.policies`".into()
                            }),
                    ),
                ),
            }
        }
        indices
    }

    /// The manifest's policy wins over the spec's `x-gateway` extension.
    fn policy(
        &mut self,
        operation_id: &str,
        operation: &Operation,
        pointer: &str,
    ) -> OperationPolicy {
        let mut policy = match operation.extensions.get("x-gateway") {
            None => OperationPolicy::default(),
            Some(value) => {
                match serde_path_to_error::deserialize::<_, OperationPolicy>(value.clone()) {
                    // Timeouts are an operator's decision: the manifest's only.
                    Ok(policy) if policy.timeouts.is_some() => {
                        self.diags.push(
                            Diagnostic::error(
                                "gateway::spec::invalid_extension",
                                "`x-gateway` cannot set `timeouts`",
                            )
                            .at(self.locate(&pointer_push(
                                &pointer_push(pointer, "x-gateway"),
                                "timeouts",
                            )))
                            .help("set them in the manifest under `operations.<operationId>.timeouts`"),
                        );
                        OperationPolicy::default()
                    }
                    Ok(policy) => policy,
                    Err(error) => {
                        let mut at = pointer_push(pointer, "x-gateway");
                        for segment in error.path().iter() {
                            if let serde_path_to_error::Segment::Map { key } = segment {
                                at = pointer_push(&at, key);
                            }
                        }
                        self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::invalid_extension",
                            format!("invalid `x-gateway` extension: {}", error.inner()),
                        )
                        .at(self.locate(&at))
                        .help("`x-gateway` takes the same keys as a manifest operation policy: public, rate_limit"),
                    );
                        OperationPolicy::default()
                    }
                }
            }
        };
        if let Some(manifest) = self.config.operations.get(operation_id) {
            if manifest.public.is_some() {
                policy.public = manifest.public;
            }
            if manifest.rate_limit.is_some() {
                policy.rate_limit.clone_from(&manifest.rate_limit);
            }
        }
        policy
    }

    fn auth(
        &mut self,
        operation_id: &str,
        operation: &Operation,
        policy: &OperationPolicy,
        pointer: &str,
    ) -> Option<Auth> {
        if policy.public == Some(true) {
            return Some(Auth::Public);
        }
        let doc = &self.spec.openapi;
        // `public: false` is a decision too: it overrides `unsecured: public` and drops
        // the "no credentials" alternative of an optional-auth operation.
        let private = policy.public == Some(false);
        let (requirements, at) = match (&operation.security, &doc.security) {
            (Some(own), _) => (own, pointer_push(pointer, "security")),
            (None, Some(global)) => (global, "/security".to_owned()),
            (None, None) if self.config.unsecured_public && !private => {
                return Some(Auth::Public);
            }
            (None, None) => {
                let message = if private {
                    format!(
                        "operation `{operation_id}` is `public: false` but its spec names no security scheme to require"
                    )
                } else {
                    format!("operation `{operation_id}` has no auth decision")
                };
                self.diags.push(
                    Diagnostic::error("gateway::check::no_auth_decision", message)
                    .at(self.locate(pointer))
                    .related("its service", self.manifest_at(""))
                    .help(format!(
                        "give it `security` in the spec, or make it public in the manifest: services.{}.operations.{operation_id}.public: true",
                        self.config.key
                    )),
                );
                return None;
            }
        };
        // An empty requirement `{}` means "no credentials needed".
        if !private && requirements.iter().any(|r| r.is_empty()) {
            return Some(Auth::Public);
        }
        // With their index in the spec, for the pointers of diagnostics.
        let requirements: Vec<(usize, &openapiv3::SecurityRequirement)> = requirements
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .collect();
        if requirements.is_empty() {
            if private {
                self.diags.push(
                    Diagnostic::error(
                        "gateway::check::no_auth_decision",
                        format!("operation `{operation_id}` is `public: false` but its spec requires no credentials"),
                    )
                    .at(self.locate(&at))
                    .help("add a security requirement to the operation"),
                );
                return None;
            }
            return Some(Auth::Public);
        }
        let schemes = doc.components.as_ref().map(|c| &c.security_schemes);
        let mut alternatives = Vec::new();
        let mut ok = true;
        for (i, requirement) in requirements {
            let mut all = Vec::new();
            for (scheme, scopes) in requirement {
                if schemes.and_then(|s| s.get(scheme)).is_none() {
                    ok = false;
                    let known = schemes
                        .map(|s| s.keys().map(String::as_str).collect::<Vec<_>>())
                        .unwrap_or_default();
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::unknown_scheme",
                            format!("operation `{operation_id}` requires the security scheme `{scheme}`, which `components.securitySchemes` does not declare"),
                        )
                        .at(self.locate(&pointer_push(&pointer_push(&at, &i.to_string()), scheme)))
                        .help(did_you_mean(scheme, known.iter().copied()).unwrap_or_else(|| "declare it under components.securitySchemes".into())),
                    );
                } else if !self.auth_schemes.iter().any(|s| s.name == *scheme) {
                    ok = false;
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::check::scheme_not_configured",
                            format!("operation `{operation_id}` requires the security scheme `{scheme}`, which the manifest's `auth` does not configure"),
                        )
                        .at(self.locate(&pointer_push(&pointer_push(&at, &i.to_string()), scheme)))
                        .help(format!("add `auth: {{ {scheme}: {{ {} }} }}` to the manifest, or make the operation public", self.entry_for(scheme))),
                    );
                }
                all.push(Requirement {
                    scheme: scheme.clone(),
                    scopes: scopes.clone(),
                });
            }
            alternatives.push(all);
        }
        if !ok {
            return None;
        }
        let challenge = self.challenge(&alternatives);
        Some(Auth::Required {
            alternatives,
            challenge,
        })
    }

    /// The `auth` entry the spec's declaration of `scheme` takes, for a help text.
    fn entry_for(&self, scheme: &str) -> &'static str {
        let declared = self
            .spec
            .openapi
            .components
            .as_ref()
            .and_then(|c| c.security_schemes.get(scheme));
        match declared {
            Some(ReferenceOr::Item(SecurityScheme::APIKey { .. })) => "api_key: { keys_env: ... }",
            Some(ReferenceOr::Item(SecurityScheme::HTTP { scheme, .. }))
                if scheme.eq_ignore_ascii_case("basic") =>
            {
                "basic: { users_env: ... }"
            }
            _ => "jwt: { algorithms: [...], key_env: ... }",
        }
    }

    /// The `WWW-Authenticate` challenge of the first alternative's first scheme. Quoted
    /// values keep visible ASCII only, with `"` and `\` escaped (RFC 9110 quoted-string),
    /// so any spec's names make a valid header value.
    fn challenge(&self, alternatives: &[Vec<Requirement>]) -> String {
        let quote = |text: &str| -> String {
            text.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect()
        };
        let realm = quote(self.gateway_name);
        let scheme = alternatives.first().and_then(|a| a.first()).and_then(|r| {
            self.spec
                .openapi
                .components
                .as_ref()
                .and_then(|c| c.security_schemes.get(&r.scheme))
        });
        match scheme {
            Some(ReferenceOr::Item(SecurityScheme::HTTP { scheme, .. }))
                if scheme.eq_ignore_ascii_case("basic") =>
            {
                format!("Basic realm=\"{realm}\"")
            }
            Some(ReferenceOr::Item(SecurityScheme::APIKey { name, .. })) => {
                format!("ApiKey realm=\"{realm}\", name=\"{}\"", quote(name))
            }
            _ => format!("Bearer realm=\"{realm}\""),
        }
    }

    fn body(&mut self, operation: &Operation, pointer: &str, operation_id: &str) -> Option<Body> {
        let body = operation.request_body.as_ref()?;
        let (body, body_pointer) = match body {
            ReferenceOr::Item(body) => (body, pointer_push(pointer, "requestBody")),
            ReferenceOr::Reference { reference } => {
                let name = reference.strip_prefix("#/components/requestBodies/")?;
                match self
                    .spec
                    .openapi
                    .components
                    .as_ref()
                    .and_then(|c| c.request_bodies.get(name))
                {
                    Some(ReferenceOr::Item(body)) => {
                        (body, pointer_push("/components/requestBodies", name))
                    }
                    _ => {
                        self.diags.push(
                            Diagnostic::error(
                                "gateway::spec::dangling_ref",
                                format!("request body reference `{reference}` does not resolve"),
                            )
                            .at(self.locate(&pointer_push(pointer, "requestBody"))),
                        );
                        return None;
                    }
                }
            }
        };
        // JSON media types with a schema get a validator; forms a validator or a check.
        let mut validators = Vec::new();
        let mut forms = Vec::new();
        for (media_type, content) in &body.content {
            let essence = crate::http::media_essence(media_type);
            let json = crate::http::is_json(&essence);
            let form =
                essence == "application/x-www-form-urlencoded" || essence == "multipart/form-data";
            if form && content.schema.is_some() {
                let at = pointer_push(&pointer_push(&body_pointer, "content"), media_type);
                if let Some(check) = self.form(&at, &essence, operation_id) {
                    forms.push(check);
                }
                continue;
            }
            if !json || content.schema.is_none() {
                continue;
            }
            let at = pointer_push(
                &pointer_push(&pointer_push(&body_pointer, "content"), media_type),
                "schema",
            );
            let mut lowering = schema::SchemaLowering {
                spec: self.spec,
                schemas: &mut self.schemas,
                names: &mut self.handlers,
                diags: self.diags,
            };
            if let Some(index) = lowering.lower(&at, &format!("{operation_id}_body")) {
                validators.push((essence, index));
            }
        }
        Some(Body {
            required: body.required,
            media_types: body.content.keys().cloned().collect(),
            validators,
            forms,
        })
    }

    /// A form media type (its pointer `at`): the shape and validator of its schema
    /// (urlencoded), or its required parts (multipart), and its `encoding`.
    fn form(&mut self, at: &str, essence: &str, operation_id: &str) -> Option<FormCheck> {
        let multipart = essence == "multipart/form-data";
        let document = &self.spec.document;
        let schema_at = pointer_push(at, "schema");
        let resolved = param_shape::resolve(document, &schema_at);
        let shape = param_shape::shape(document, &schema_at);
        let mut required: Vec<String> = Vec::new();
        let mut collect = |pointer: &str| {
            for name in document
                .pointer(pointer)
                .and_then(|s| s.get("required"))
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
            {
                if !required.iter().any(|r| r == name) {
                    required.push(name.to_owned());
                }
            }
        };
        collect(&resolved);
        let members = document
            .pointer(&pointer_push(&resolved, "allOf"))
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len);
        for index in 0..members {
            collect(&param_shape::resolve(
                document,
                &format!("{resolved}/allOf/{index}"),
            ));
        }
        let mut encoding = Vec::new();
        if let Some(entries) = document
            .pointer(&pointer_push(at, "encoding"))
            .and_then(serde_json::Value::as_object)
        {
            for (property, entry) in entries {
                let style = entry.get("style").and_then(serde_json::Value::as_str);
                let deep_object = style == Some("deepObject");
                let explode = entry
                    .get("explode")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(style.is_none_or(|s| s == "form"));
                let content_types = entry
                    .get("contentType")
                    .and_then(serde_json::Value::as_str)
                    .map(|list| {
                        list.split(',')
                            .map(crate::http::media_essence)
                            .filter(|m| !m.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                encoding.push(FormEncoding {
                    property: property.clone(),
                    explode,
                    deep_object,
                    content_types,
                });
            }
        }
        let validator = if multipart {
            None
        } else {
            let mut lowering = schema::SchemaLowering {
                spec: self.spec,
                schemas: &mut self.schemas,
                names: &mut self.handlers,
                diags: self.diags,
            };
            Some(lowering.lower(&schema_at, &format!("{operation_id}_form"))?)
        };
        Some(FormCheck {
            media_type: essence.to_owned(),
            multipart,
            shape,
            required,
            encoding,
            validator,
        })
    }

    /// The declared responses of the operation at `pointer`, each with the validator of its
    /// JSON schema. A schema the validator cannot compile is not checked, with a warning:
    /// response validation is a development aid, and must not stop a gateway that would
    /// otherwise compile.
    fn responses(&mut self, operation_id: &str, pointer: &str) -> Vec<ResponseCheck> {
        let document = &self.spec.document;
        let at = pointer_push(pointer, "responses");
        let keys: Vec<String> = document
            .pointer(&at)
            .and_then(serde_json::Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut checks = Vec::new();
        for key in keys {
            let status = match key.as_str() {
                "default" => ResponseStatus::Default,
                code => match code.as_bytes() {
                    [d @ b'1'..=b'5', b'X' | b'x', b'X' | b'x'] => {
                        ResponseStatus::Range(u16::from(d - b'0'))
                    }
                    _ => match code.parse::<u16>() {
                        Ok(code) if (100..600).contains(&code) => ResponseStatus::Code(code),
                        _ => continue,
                    },
                },
            };
            let response = param_shape::resolve(&self.spec.document, &pointer_push(&at, &key));
            let media = self
                .spec
                .document
                .pointer(&pointer_push(&response, "content"))
                .and_then(serde_json::Value::as_object)
                .and_then(|content| {
                    content.iter().find_map(|(media, value)| {
                        let json = crate::http::is_json(&crate::http::media_essence(media));
                        (json && value.get("schema").is_some()).then(|| media.clone())
                    })
                });
            let validator = media.and_then(|media| {
                let schema = pointer_push(
                    &pointer_push(&pointer_push(&response, "content"), &media),
                    "schema",
                );
                let before = self.diags.list.len();
                let mut lowering = schema::SchemaLowering {
                    spec: self.spec,
                    schemas: &mut self.schemas,
                    names: &mut self.handlers,
                    diags: self.diags,
                };
                let index = lowering.lower(&schema, &format!("{operation_id}_{key}_response"));
                let failure = self.diags.list[before..]
                    .iter()
                    .find(|d| d.severity == crate::diag::Severity::Error)
                    .map(|d| d.message.clone());
                match failure {
                    None => index,
                    Some(message) => {
                        self.diags.list.truncate(before);
                        self.diags.push(
                            Diagnostic::warning(
                                "gateway::spec::response_not_validated",
                                format!("response `{key}` of `{operation_id}` is not validated: {message}"),
                            )
                            .at(self.locate(&schema))
                            .help("its status is still checked; fix the schema to have its body checked too"),
                        );
                        None
                    }
                }
            });
            checks.push(ResponseCheck { status, validator });
        }
        checks
    }

    /// Path-level parameters overridden by operation-level ones of the same name and place.
    fn params(
        &mut self,
        template: &PathTemplate,
        item: &'a PathItem,
        operation: &'a Operation,
        pointer: &str,
        operation_id: &str,
    ) -> Option<Vec<Param>> {
        let path_pointer = pointer.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let mut merged: IndexMap<(String, ParamIn), (&'a Parameter, String)> = IndexMap::new();
        let mut ok = true;
        let sources = item
            .parameters
            .iter()
            .enumerate()
            .map(|(i, p)| (p, format!("{path_pointer}/parameters/{i}")))
            .chain(
                operation
                    .parameters
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p, format!("{pointer}/parameters/{i}"))),
            );
        for (param, at) in sources {
            let Some(param) = self.resolve_param(param, &at) else {
                ok = false;
                continue;
            };
            let data = param.parameter_data_ref();
            let location = match param {
                Parameter::Path { .. } => ParamIn::Path,
                Parameter::Query { .. } => ParamIn::Query,
                Parameter::Header { .. } => ParamIn::Header,
                Parameter::Cookie { .. } => ParamIn::Cookie,
            };
            let name = if location == ParamIn::Header {
                data.name.to_ascii_lowercase()
            } else {
                data.name.clone()
            };
            merged.insert((name, location), (param, at));
        }
        // Every template parameter needs a declaration, and every declaration a segment.
        for name in template.params() {
            if !merged.contains_key(&(name.to_owned(), ParamIn::Path)) {
                ok = false;
                self.diags.push(
                    Diagnostic::error(
                        "gateway::spec::undeclared_path_param",
                        format!("path parameter `{name}` of `{template}` is not declared by operation `{operation_id}`"),
                    )
                    .at(self.locate(pointer))
                    .help(format!("add `{{name: {name}, in: path, required: true, schema: {{type: string}}}}` to its parameters")),
                );
            }
        }
        // The generated `parse` has locals of these names; a field must not shadow them.
        let mut fields = Scope::with_reserved(&["errors", "req"]);
        let mut params = Vec::new();
        // Path parameters first, in template order: the runtime hands them over by index.
        let template_order: Vec<&str> = template.params().collect();
        let mut ordered: Vec<_> = merged.into_iter().collect();
        ordered.sort_by_key(|((name, location), _)| match location {
            ParamIn::Path => (
                0,
                template_order
                    .iter()
                    .position(|n| n == name)
                    .unwrap_or(usize::MAX),
            ),
            _ => (1, 0),
        });
        for ((name, location), (param, at)) in ordered {
            let data = param.parameter_data_ref();
            if location == ParamIn::Path && !template_order.contains(&name.as_str()) {
                ok = false;
                self.diags.push(
                    Diagnostic::error(
                        "gateway::spec::unknown_path_param",
                        format!("path parameter `{name}` does not appear in `{template}`"),
                    )
                    .at(self.locate(&at))
                    .help("remove it, or add `{name}` to the path"),
                );
                continue;
            }
            if location == ParamIn::Header {
                // OpenAPI: these header parameters "SHALL be ignored".
                if ["accept", "content-type", "authorization"].contains(&name.as_str()) {
                    continue;
                }
                if !crate::http::is_token(&name) {
                    ok = false;
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::invalid_header_name",
                            format!("header parameter `{name}` is not a valid header name"),
                        )
                        .at(self.locate(&pointer_push(&at, "name")))
                        .help("header names are tokens: letters, digits and `!#$%&'*+-.^_`|~`"),
                    );
                    continue;
                }
                if crate::http::MANAGED_HEADERS.contains(&name.as_str()) {
                    self.diags.push(
                        Diagnostic::warning(
                            "gateway::spec::header_param_managed",
                            format!("header parameter `{name}` is set or removed by the gateway, so it is not checked"),
                        )
                        .at(self.locate(&at))
                        .help("the upstream never sees the client's value of this header; remove the parameter"),
                    );
                    continue;
                }
            }
            let style = match param {
                Parameter::Query { style, .. } => match style {
                    QueryStyle::Form => ParamStyle::Form,
                    QueryStyle::DeepObject => ParamStyle::DeepObject,
                    QueryStyle::PipeDelimited => ParamStyle::PipeDelimited,
                    QueryStyle::SpaceDelimited => ParamStyle::SpaceDelimited,
                },
                Parameter::Path { style, .. } => {
                    if !matches!(style, PathStyle::Simple) {
                        ok = false;
                        let style = if matches!(style, PathStyle::Label) {
                            "label"
                        } else {
                            "matrix"
                        };
                        self.diags.push(
                            Diagnostic::error(
                                "gateway::spec::unsupported_param_style",
                                format!("path parameter `{name}` has style `{style}`, which this version does not parse or forward"),
                            )
                            .at(self.locate(&pointer_push(&at, "style")))
                            .help("use the default style `simple` (`/items/1,2,3`)"),
                        );
                        continue;
                    }
                    ParamStyle::Simple
                }
                Parameter::Header { .. } => ParamStyle::Simple,
                Parameter::Cookie { .. } => ParamStyle::Form,
            };
            let mut typed = self.param_type(param, &at, operation_id, &name);
            let explode = data.explode.unwrap_or(match param {
                Parameter::Query { style, .. } => matches!(style, QueryStyle::Form),
                Parameter::Cookie { .. } => true,
                _ => false,
            });
            if style == ParamStyle::DeepObject
                && !matches!(typed.ty, ParamType::Object { .. } | ParamType::Unchecked)
            {
                self.not_checked(&at, &name, "`deepObject` parameters that are not objects");
                typed = Typed::unchecked();
            }
            let allow_empty = matches!(
                param,
                Parameter::Query {
                    allow_empty_value: Some(true),
                    ..
                }
            );
            params.push(Param {
                field: fields.claim(names::snake(&name, "param")),
                name,
                location,
                // Path parameters are always required, whatever the spec says.
                required: data.required || location == ParamIn::Path,
                ty: typed.ty,
                explode,
                style,
                allow_empty,
                default: typed.default,
                constraints: typed.constraints,
                item_constraints: typed.item_constraints,
            });
        }
        ok.then_some(params)
    }

    /// Follows `#/components/parameters/...` references (bounded, so a cycle ends).
    fn resolve_param(
        &mut self,
        param: &'a ReferenceOr<Parameter>,
        at: &str,
    ) -> Option<&'a Parameter> {
        let spec: &'a LoadedSpec = self.spec;
        let parameters = spec.openapi.components.as_ref().map(|c| &c.parameters);
        let mut current = param;
        for _ in 0..32 {
            match current {
                ReferenceOr::Item(p) => return Some(p),
                ReferenceOr::Reference { reference } => {
                    let next = reference
                        .strip_prefix("#/components/parameters/")
                        .and_then(|name| parameters?.get(name));
                    match next {
                        Some(next) => current = next,
                        None if self.reported(at) => return None,
                        None => {
                            self.diags.push(
                                Diagnostic::error(
                                    "gateway::spec::dangling_ref",
                                    format!("`{reference}` does not resolve to a parameter"),
                                )
                                .at(self.locate(&pointer_push(at, "$ref")))
                                .help(
                                    "parameters are referenced as `#/components/parameters/<name>`",
                                ),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    fn not_checked(&mut self, at: &str, name: &str, what: &str) {
        self.diags.push(
            Diagnostic::warning(
                "gateway::spec::param_not_checked",
                format!("parameter `{name}` is forwarded unchecked: {what} are not parsed by this version"),
            )
            .at(self.locate(at))
            .help("its value reaches the upstream as the client sent it"),
        );
    }

    /// The parameter's Rust type and its default, from its schema.
    fn param_type(
        &mut self,
        param: &'a Parameter,
        at: &str,
        operation_id: &str,
        name: &str,
    ) -> Typed {
        let data = param.parameter_data_ref();
        let schema = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => schema,
            ParameterSchemaOrContent::Content(_) => {
                self.not_checked(at, name, "parameters with `content`");
                return Typed::unchecked();
            }
        };
        let schema_at = pointer_push(at, "schema");
        let Some(schema) = self.resolve_schema(schema, &schema_at) else {
            return Typed::unchecked();
        };
        let ty = match self.scalar_type(schema, operation_id, name) {
            Some(ty) => ty,
            None => match &schema.schema_kind {
                SchemaKind::Type(Type::Array(array)) => {
                    let item = array.items.as_ref().and_then(|items| match items {
                        ReferenceOr::Item(schema) => Some(schema.as_ref()),
                        ReferenceOr::Reference { reference } => self.schema_by_ref(reference),
                    });
                    match item.and_then(|item| self.scalar_type(item, operation_id, name)) {
                        Some(item) => ParamType::Array(Box::new(item)),
                        _ => {
                            self.not_checked(at, name, "arrays of this shape or in this place");
                            ParamType::Unchecked
                        }
                    }
                }
                _ => self.object_type(at, operation_id, name),
            },
        };
        let mut default = None;
        if let Some(value) = &schema.schema_data.default
            && !matches!(ty, ParamType::Unchecked | ParamType::Object { .. })
        {
            default = self.default_value(&ty, value);
            let problem = if default.is_none() {
                Some(format!(
                    "its default `{value}` is not a value of its type; it is ignored"
                ))
            } else if data.required {
                default = None;
                Some(
                    "it is required, so its default never applies; the default is ignored"
                        .to_owned(),
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                self.diags.push(
                    Diagnostic::warning(
                        "gateway::spec::invalid_default",
                        format!("parameter `{name}`: {problem}"),
                    )
                    .at(self.locate(&pointer_push(&schema_at, "default")))
                    .help("fix or remove the default"),
                );
            }
        }
        let mut constraints = Constraints::default();
        let mut item_constraints = Constraints::default();
        if !matches!(ty, ParamType::Unchecked | ParamType::Object { .. }) {
            let (own, mut unchecked) = self::constraints(schema);
            constraints = own;
            if let SchemaKind::Type(Type::Array(array)) = &schema.schema_kind
                && let Some(items) = &array.items
            {
                let item = match items {
                    ReferenceOr::Item(item) => Some(item.as_ref()),
                    ReferenceOr::Reference { reference } => self.schema_by_ref(reference),
                };
                if let Some(item) = item {
                    let (own, more) = self::constraints(item);
                    item_constraints = own;
                    unchecked.extend(more);
                }
            }
            for pattern in [&constraints.pattern, &item_constraints.pattern]
                .into_iter()
                .flatten()
            {
                match pattern_flags(pattern) {
                    Ok(flags) if !pattern_is_linear(pattern, flags) => self.diags.push(
                        backtracking_pattern(pattern, &format!("parameter `{name}`: "))
                            .at(self.locate(&schema_at)),
                    ),
                    Ok(_) => {}
                    Err(error) => self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::invalid_pattern",
                            format!("parameter `{name}`: `{pattern}` is not an ECMA-262 regular expression the gateway can compile: {error}"),
                        )
                        .at(self.locate(&schema_at))
                        .help("fix the pattern; it is compiled when the gateway is generated, not when a request arrives"),
                    ),
                }
            }
            if !unchecked.is_empty() {
                unchecked.dedup();
                self.diags.push(
                    Diagnostic::warning(
                        "gateway::spec::constraint_not_checked",
                        format!(
                            "parameter `{name}`: its type is checked, but not {}",
                            unchecked.join(", ")
                        ),
                    )
                    .at(self.locate(&schema_at))
                    .help("values that break these constraints reach the upstream; it must still check them"),
                );
            }
        }
        Typed {
            ty,
            default,
            constraints,
            item_constraints,
        }
    }

    /// An object parameter: its schema lowered to a validator (as a JSON body's would be),
    /// and the shape its text is typed by. Composed schemas that are not objects stay
    /// unchecked.
    fn object_type(&mut self, at: &str, operation_id: &str, name: &str) -> ParamType {
        let document = &self.spec.document;
        let schema_at = pointer_push(&param_shape::resolve(document, at), "schema");
        let shape = param_shape::shape(document, &schema_at);
        if !matches!(shape, ParamShape::Object(_)) {
            self.not_checked(at, name, "composed schemas that are not objects");
            return ParamType::Unchecked;
        }
        let mut lowering = schema::SchemaLowering {
            spec: self.spec,
            schemas: &mut self.schemas,
            names: &mut self.handlers,
            diags: self.diags,
        };
        match lowering.lower(&schema_at, &format!("{operation_id}_{name}_param")) {
            Some(validator) => ParamType::Object { validator, shape },
            // The schema's problems are reported.
            None => ParamType::Unchecked,
        }
    }

    fn default_value(&self, ty: &ParamType, value: &serde_json::Value) -> Option<Scalar> {
        match (ty, value) {
            (ParamType::Int32, v) => v
                .as_i64()
                .filter(|i| i32::try_from(*i).is_ok())
                .map(Scalar::Int),
            (ParamType::Int64, v) => v.as_i64().map(Scalar::Int),
            (ParamType::Number, v) => v.as_f64().map(Scalar::Number),
            (ParamType::Boolean, v) => v.as_bool().map(Scalar::Bool),
            (ParamType::String, v) => v.as_str().map(|s| Scalar::String(s.to_owned())),
            (ParamType::Enum(index), v) => {
                let wire = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.enums[*index]
                    .variants
                    .iter()
                    .position(|(w, _)| *w == wire)
                    .map(Scalar::Variant)
            }
            _ => None,
        }
    }

    fn scalar_type(
        &mut self,
        schema: &Schema,
        operation_id: &str,
        name: &str,
    ) -> Option<ParamType> {
        let SchemaKind::Type(ty) = &schema.schema_kind else {
            return None;
        };
        Some(match ty {
            Type::String(s) => {
                let values: Vec<String> = s.enumeration.iter().flatten().cloned().collect();
                if !values.is_empty() {
                    self.enum_type(operation_id, name, values)
                } else if matches!(&s.format, VariantOrUnknownOrEmpty::Unknown(f) if f == "uuid") {
                    ParamType::Uuid
                } else {
                    ParamType::String
                }
            }
            Type::Integer(i) => {
                let values: Vec<String> = i
                    .enumeration
                    .iter()
                    .flatten()
                    .map(|v| v.to_string())
                    .collect();
                if !values.is_empty() {
                    self.enum_type(operation_id, name, values)
                } else if matches!(
                    &i.format,
                    VariantOrUnknownOrEmpty::Item(openapiv3::IntegerFormat::Int32)
                ) {
                    ParamType::Int32
                } else {
                    ParamType::Int64
                }
            }
            Type::Number(_) => ParamType::Number,
            Type::Boolean(_) => ParamType::Boolean,
            Type::Object(_) | Type::Array(_) => return None,
        })
    }

    fn enum_type(&mut self, operation_id: &str, name: &str, values: Vec<String>) -> ParamType {
        let type_name = self.types.claim(format!(
            "{}{}",
            names::camel(operation_id, "Operation"),
            names::camel(name, "Param")
        ));
        let mut variants = Scope::with_reserved(&[]);
        let mut seen = Vec::new();
        let variants = values
            .into_iter()
            .filter(|v| {
                let new = !seen.contains(v);
                seen.push(v.clone());
                new
            })
            .map(|wire| {
                let rust = variants.claim(names::camel(&wire, "Value"));
                (wire, rust)
            })
            .collect();
        self.enums.push(EnumType {
            name: type_name,
            variants,
        });
        ParamType::Enum(self.enums.len() - 1)
    }

    fn resolve_schema(&mut self, schema: &'a ReferenceOr<Schema>, at: &str) -> Option<&'a Schema> {
        match schema {
            ReferenceOr::Item(schema) => Some(schema),
            ReferenceOr::Reference { reference } => {
                let found = self.schema_by_ref(reference);
                if found.is_none() && !self.reported(at) {
                    self.diags.push(
                        Diagnostic::error(
                            "gateway::spec::dangling_ref",
                            format!("`{reference}` does not resolve to a schema"),
                        )
                        .at(self.locate(at)),
                    );
                }
                found
            }
        }
    }

    /// Follows `#/components/schemas/...` references (bounded, so a cycle ends).
    fn schema_by_ref(&self, reference: &str) -> Option<&'a Schema> {
        let spec: &'a LoadedSpec = self.spec;
        let schemas = &spec.openapi.components.as_ref()?.schemas;
        let mut reference = reference;
        for _ in 0..32 {
            let name = reference.strip_prefix("#/components/schemas/")?;
            match schemas.get(name)? {
                ReferenceOr::Item(schema) => return Some(schema),
                ReferenceOr::Reference { reference: next } => reference = next.as_str(),
            }
        }
        None
    }
}

/// The flags a `pattern` compiles with: `u` (Unicode semantics, which JSON Schema means),
/// or none for the patterns real specs write that only older, non-Unicode ECMAScript
/// accepts (such as `\-` outside a class). The error is the Unicode-mode one.
pub fn pattern_flags(pattern: &str) -> Result<&'static str, regress::Error> {
    match regress::Regex::with_flags(pattern, "u") {
        Ok(_) => Ok("u"),
        Err(error) => regress::Regex::new(pattern).map(|_| "").map_err(|_| error),
    }
}

// The runtime's translation of patterns into `regex` syntax, shared as source (a symlink to
// runtime/src/check/json/linear.rs, so each packaged crate carries it): the compiler does
// not link the runtime.
#[allow(dead_code)]
mod linear;

/// Whether the runtime matches `pattern` (valid with `flags`) in time linear in the input;
/// the rest goes to a backtracking engine.
pub fn pattern_is_linear(pattern: &str, flags: &str) -> bool {
    linear::translate(pattern, flags).is_some_and(|regex| regex::Regex::new(&regex).is_ok())
}

/// `gateway::spec::backtracking_pattern`: a `pattern` a long value can make slow.
pub fn backtracking_pattern(pattern: &str, whose: &str) -> Diagnostic {
    Diagnostic::warning(
        "gateway::spec::backtracking_pattern",
        format!("{whose}`{pattern}` is matched by a backtracking engine (it has lookaround, a backreference, `\\p{{..}}`, `\\B`, or syntax only non-Unicode ECMAScript accepts): a long value can take time quadratic or exponential in its length"),
    )
    .help("rewrite the pattern without those if you can; else keep the values it sees short: `max_body` small on the routes whose bodies use it (a `maxLength` does not stop the pattern from running)")
}

/// The constraints of a parameter schema: those the generated parser enforces, and the
/// names of those it does not (a number's `multipleOf`, string formats other than `uuid`).
fn constraints(schema: &Schema) -> (Constraints, Vec<&'static str>) {
    let mut c = Constraints::default();
    let mut unchecked = Vec::new();
    let bound =
        |value: Option<BoundValue>, exclusive: bool| value.map(|value| Bound { value, exclusive });
    match &schema.schema_kind {
        SchemaKind::Type(Type::Integer(i)) => {
            c.minimum = bound(i.minimum.map(BoundValue::Int), i.exclusive_minimum);
            c.maximum = bound(i.maximum.map(BoundValue::Int), i.exclusive_maximum);
            c.multiple_of = i.multiple_of.filter(|m| *m > 0);
        }
        SchemaKind::Type(Type::Number(n)) => {
            c.minimum = bound(n.minimum.map(BoundValue::Number), n.exclusive_minimum);
            c.maximum = bound(n.maximum.map(BoundValue::Number), n.exclusive_maximum);
            if n.multiple_of.is_some() {
                unchecked.push("`multipleOf`");
            }
        }
        SchemaKind::Type(Type::String(s)) => {
            c.min_length = s.min_length;
            c.max_length = s.max_length;
            c.pattern.clone_from(&s.pattern);
            // `uuid` is a parameter type of its own; `password` constrains nothing.
            let (format, known) = match &s.format {
                VariantOrUnknownOrEmpty::Item(StringFormat::Date) => (Some(JsonFormat::Date), true),
                VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => {
                    (Some(JsonFormat::DateTime), true)
                }
                VariantOrUnknownOrEmpty::Item(StringFormat::Byte) => (Some(JsonFormat::Byte), true),
                VariantOrUnknownOrEmpty::Item(StringFormat::Password) => (None, true),
                VariantOrUnknownOrEmpty::Item(StringFormat::Binary) => (None, false),
                VariantOrUnknownOrEmpty::Unknown(f) => match f.as_str() {
                    "uuid" => (None, true),
                    "time" => (Some(JsonFormat::Time), true),
                    "email" => (Some(JsonFormat::Email), true),
                    "hostname" => (Some(JsonFormat::Hostname), true),
                    "ipv4" => (Some(JsonFormat::Ipv4), true),
                    "ipv6" => (Some(JsonFormat::Ipv6), true),
                    "uri" => (Some(JsonFormat::Uri), true),
                    _ => (None, false),
                },
                VariantOrUnknownOrEmpty::Empty => (None, true),
            };
            // An enum already pins the value down.
            if s.enumeration.is_empty() {
                c.format = format;
                if !known {
                    unchecked.push("`format`");
                }
            }
        }
        SchemaKind::Type(Type::Array(a)) => {
            c.min_items = a.min_items;
            c.max_items = a.max_items;
            c.unique_items = a.unique_items;
        }
        _ => {}
    }
    (c, unchecked)
}

fn key_source(source: &crate::load::KeySource) -> KeySource {
    match source {
        crate::load::KeySource::Env(name) => KeySource::Env(name.clone()),
        crate::load::KeySource::File(path) => KeySource::File(path.clone()),
        crate::load::KeySource::Jwks(jwks) => KeySource::Jwks(crate::ir::Jwks {
            url: match &jwks.url {
                crate::load::JwksUrl::Literal(url) => crate::ir::JwksUrl::Literal(url.clone()),
                crate::load::JwksUrl::Env(name) => crate::ir::JwksUrl::Env(name.clone()),
            },
            ca_file: jwks.ca_file.clone(),
            refresh_secs: jwks.refresh.as_secs(),
        }),
    }
}

fn operations(item: &PathItem) -> impl Iterator<Item = (Method, &Operation)> {
    [
        (Method::Get, &item.get),
        (Method::Put, &item.put),
        (Method::Post, &item.post),
        (Method::Delete, &item.delete),
        (Method::Options, &item.options),
        (Method::Head, &item.head),
        (Method::Patch, &item.patch),
        (Method::Trace, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_ref().map(|op| (method, op)))
}
