//! The Rust files of a generated crate, built with quote and printed by prettyplease.
//!
//! The output is data and straight-line code over the precompiled runtime: a route table
//! (`routes.rs`), and per service a module with one parameters struct and one handler per
//! operation. No async, no generics, no axum or tower types: the crate rebuilds in about a
//! second after an edit. Paths are fully qualified (`::std::string::String`) so that no
//! user-chosen name (`Result`, `std`, `String`) can shadow what the code means.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{
    Auth, Bound, BoundValue, Constraints, EnumType, Gateway, KeySource, Param, ParamIn, ParamShape,
    ParamStyle, ParamType, PathType, Piece, RateKey, RateLimit, RateLimitStore, ResponseStatus,
    Route, Scalar, Scheme, SchemeKind, Segment, Service,
};

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// Formats one file's items, with the do-not-edit header first.
pub fn file(header: &str, tokens: TokenStream) -> String {
    let formatted = match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(parsed) => prettyplease::unparse(&parsed),
        // Only reachable through a bug in this module; keep the output inspectable.
        Err(error) => format!("compile_error!({:?});\n{tokens}\n", error.to_string()),
    };
    format!("// {header}\n{formatted}")
}

pub fn main_rs(gateway: &Gateway) -> TokenStream {
    let lib = ident(&gateway.lib_name());
    quote! {
        #![doc = " Starts the gateway: everything it does is in the route table and the runtime."]
        #![forbid(unsafe_code)]

        fn main() -> ::std::process::ExitCode {
            ::openapi_gateway_runtime::run(&#lib::routes::GATEWAY)
        }
    }
}

pub fn lib_rs(gateway: &Gateway) -> TokenStream {
    let doc = format!(
        " The `{}` gateway: one module per service, one handler per operation.",
        gateway.name
    );
    let modules = gateway.services.iter().map(|s| {
        let module = ident(&s.module);
        let doc = format!(" Operations of service `{}`.", s.key);
        quote! {
            #[doc = #doc]
            pub mod #module;
        }
    });
    quote! {
        #![doc = #doc]
        #![forbid(unsafe_code)]

        pub mod routes;
        #(#modules)*
    }
}

pub fn routes_rs(gateway: &Gateway) -> TokenStream {
    let name = &gateway.name;
    let listen = &gateway.listen;
    let max_body = Literal::u64_unsuffixed(gateway.max_body);
    let max_fields = Literal::usize_unsuffixed(gateway.max_fields);
    let version = crate::VERSION;
    let services = gateway.services.iter().map(service_entry);
    let routes = gateway.routes.iter().map(|r| route_entry(gateway, r));
    let rate_limits = gateway.rate_limits.iter().map(rate_limit_entry);
    let schemes = gateway.schemes.iter().map(scheme_entry);
    let auth_failures = match &gateway.auth_failures {
        Some(limit) => {
            let limit = rate_limit_entry(limit);
            quote!(::std::option::Option::Some(&#limit))
        }
        None => quote!(::std::option::Option::None),
    };
    let store = match &gateway.rate_limit_store {
        RateLimitStore::Memory => quote!(::openapi_gateway_runtime::Store::Memory),
        RateLimitStore::Redis {
            url_env,
            timeout_ms,
        } => {
            let timeout = Literal::u64_unsuffixed(*timeout_ms);
            quote! {
                ::openapi_gateway_runtime::Store::Redis(&::openapi_gateway_runtime::RedisStore {
                    url_env: #url_env,
                    timeout: ::std::time::Duration::from_millis(#timeout),
                })
            }
        }
    };
    let connections = {
        let limits = &gateway.connections;
        let header = Literal::u64_unsuffixed(limits.header_timeout_ms);
        let idle = Literal::u64_unsuffixed(limits.idle_timeout_ms);
        let send = Literal::u64_unsuffixed(limits.send_timeout_ms);
        let max = match limits.max_connections {
            Some(max) => {
                let max = Literal::u32_unsuffixed(max);
                quote!(::std::option::Option::Some(#max))
            }
            None => quote!(::std::option::Option::None),
        };
        quote! {
            ::openapi_gateway_runtime::Connections {
                header_timeout: ::std::time::Duration::from_millis(#header),
                idle_timeout: ::std::time::Duration::from_millis(#idle),
                send_timeout: ::std::time::Duration::from_millis(#send),
                max_connections: #max,
            }
        }
    };
    let trusted_proxies = &gateway.trusted_proxies;
    let otlp = match &gateway.otlp_endpoint_env {
        Some(name) => quote!(::std::option::Option::Some(#name)),
        None => quote!(::std::option::Option::None),
    };
    let docs = match &gateway.docs {
        Some(docs) => {
            let path = &docs.path;
            quote!(::std::option::Option::Some(#path))
        }
        None => quote!(::std::option::Option::None),
    };
    quote! {
        #![doc = " The route table: every public route, its service and its compiled auth decision."]

        /// The whole gateway, as compiled.
        pub static GATEWAY: ::openapi_gateway_runtime::Gateway = ::openapi_gateway_runtime::Gateway {
            name: #name,
            generator_version: #version,
            listen: #listen,
            connections: #connections,
            openapi_json: ::std::include_str!("../openapi.json"),
            docs: #docs,
            max_body: #max_body,
            max_fields: #max_fields,
            services: &[#(#services),*],
            routes: &[#(#routes),*],
            rate_limits: &[#(#rate_limits),*],
            auth_failures: #auth_failures,
            schemes: &[#(#schemes),*],
            rate_limit_store: #store,
            trusted_proxies: &[#(#trusted_proxies),*],
            otlp_endpoint_env: #otlp,
        };
    }
}

fn key_source(source: &KeySource) -> TokenStream {
    match source {
        KeySource::Env(name) => quote!(::openapi_gateway_runtime::auth::KeySource::Env(#name)),
        KeySource::File(path) => quote!(::openapi_gateway_runtime::auth::KeySource::File(#path)),
        KeySource::Jwks(jwks) => {
            let url = match &jwks.url {
                crate::ir::JwksUrl::Literal(url) => {
                    quote!(::openapi_gateway_runtime::auth::JwksUrl::Literal(#url))
                }
                crate::ir::JwksUrl::Env(name) => {
                    quote!(::openapi_gateway_runtime::auth::JwksUrl::Env(#name))
                }
            };
            let ca_file = match &jwks.ca_file {
                Some(path) => quote!(::std::option::Option::Some(#path)),
                None => quote!(::std::option::Option::None),
            };
            let refresh = Literal::u64_unsuffixed(jwks.refresh_secs);
            quote! {
                ::openapi_gateway_runtime::auth::KeySource::Jwks(&::openapi_gateway_runtime::auth::Jwks {
                    url: #url,
                    ca_file: #ca_file,
                    refresh: ::std::time::Duration::from_secs(#refresh),
                    refetch_interval: ::openapi_gateway_runtime::auth::DEFAULT_JWKS_REFETCH_INTERVAL,
                })
            }
        }
    }
}

/// A security scheme: names of where its key material is, never the material.
fn scheme_entry(scheme: &Scheme) -> TokenStream {
    let name = &scheme.name;
    let kind = match &scheme.kind {
        SchemeKind::Jwt(jwt) => {
            let algorithms = &jwt.algorithms;
            let key = key_source(&jwt.key);
            let issuer = match &jwt.issuer {
                Some(issuer) => quote!(::std::option::Option::Some(#issuer)),
                None => quote!(::std::option::Option::None),
            };
            let audiences = &jwt.audiences;
            let leeway = Literal::u64_unsuffixed(jwt.leeway_secs);
            let max_token =
                Literal::usize_unsuffixed(usize::try_from(jwt.max_token).unwrap_or(usize::MAX));
            let claims = jwt
                .forward_claims
                .iter()
                .map(|(claim, header)| quote!((#claim, #header)));
            let strip = jwt.strip_authorization;
            let types = &jwt.types;
            quote! {
                ::openapi_gateway_runtime::auth::SchemeKind::Jwt(&::openapi_gateway_runtime::auth::Jwt {
                    algorithms: &[#(#algorithms),*],
                    key: #key,
                    issuer: #issuer,
                    audiences: &[#(#audiences),*],
                    leeway_secs: #leeway,
                    max_token: #max_token,
                    types: &[#(#types),*],
                    forward_claims: &[#(#claims),*],
                    strip_authorization: #strip,
                })
            }
        }
        SchemeKind::ApiKey {
            location,
            name,
            keys,
            strip,
        } => {
            let location = match location {
                ParamIn::Query => quote!(Query),
                ParamIn::Cookie => quote!(Cookie),
                _ => quote!(Header),
            };
            let keys = key_source(keys);
            quote! {
                ::openapi_gateway_runtime::auth::SchemeKind::ApiKey(&::openapi_gateway_runtime::auth::ApiKey {
                    location: ::openapi_gateway_runtime::auth::ApiKeyIn::#location,
                    name: #name,
                    keys: #keys,
                    strip: #strip,
                })
            }
        }
        SchemeKind::Basic {
            users,
            forward_authorization,
        } => {
            let users = key_source(users);
            quote! {
                ::openapi_gateway_runtime::auth::SchemeKind::Basic(&::openapi_gateway_runtime::auth::Basic {
                    users: #users,
                    forward_authorization: #forward_authorization,
                })
            }
        }
    };
    quote! {
        ::openapi_gateway_runtime::auth::Scheme {
            name: #name,
            kind: #kind,
        }
    }
}

fn rate_limit_entry(policy: &RateLimit) -> TokenStream {
    let name = &policy.name;
    let count = Literal::u64_unsuffixed(policy.count);
    let period = Literal::u64_unsuffixed(policy.period_secs);
    let burst = Literal::u64_unsuffixed(policy.burst);
    let key = match &policy.key {
        RateKey::Ip => quote!(::openapi_gateway_runtime::RateKey::Ip),
        RateKey::Header(header) => quote!(::openapi_gateway_runtime::RateKey::Header(#header)),
        RateKey::Consumer => quote!(::openapi_gateway_runtime::RateKey::Consumer),
        RateKey::Claim(claim) => quote!(::openapi_gateway_runtime::RateKey::Claim(#claim)),
    };
    let ipv6_prefix = Literal::u8_unsuffixed(policy.ipv6_prefix);
    let on_store_failure = if policy.deny_on_store_failure {
        quote!(Deny)
    } else {
        quote!(Allow)
    };
    let allowed_headers = policy.allowed_headers;
    quote! {
        ::openapi_gateway_runtime::RateLimit {
            name: #name,
            count: #count,
            period: ::std::time::Duration::from_secs(#period),
            burst: #burst,
            key: #key,
            ipv6_prefix: #ipv6_prefix,
            on_store_failure: ::openapi_gateway_runtime::OnStoreFailure::#on_store_failure,
            allowed_headers: #allowed_headers,
        }
    }
}

fn service_entry(service: &Service) -> TokenStream {
    let name = &service.key;
    let env = &service.env;
    let urls = &service.urls;
    let connect = Literal::u64_unsuffixed(service.connect_timeout_ms);
    let request = Literal::u64_unsuffixed(service.request_timeout_ms);
    let cors = match &service.cors {
        None => quote!(::std::option::Option::None),
        Some(cors) => {
            let origins = &cors.allow_origins;
            let methods = cors.allow_methods.iter().map(|m| {
                let variant = ident(m.variant());
                quote!(::openapi_gateway_runtime::Method::#variant)
            });
            let headers = &cors.allow_headers;
            let expose = &cors.expose_headers;
            let credentials = cors.allow_credentials;
            let max_age = match cors.max_age {
                Some(age) => {
                    let age = Literal::u64_unsuffixed(age);
                    quote!(::std::option::Option::Some(#age))
                }
                None => quote!(::std::option::Option::None),
            };
            quote! {
                ::std::option::Option::Some(&::openapi_gateway_runtime::Cors {
                    allow_origins: &[#(#origins),*],
                    allow_methods: &[#(#methods),*],
                    allow_headers: &[#(#headers),*],
                    expose_headers: &[#(#expose),*],
                    allow_credentials: #credentials,
                    max_age: #max_age,
                })
            }
        }
    };
    let resilience = super::upstream::policy(&service.resilience);
    let discovery = match &service.discovery {
        None => quote!(::std::option::Option::None),
        Some(d) => {
            let dns = &d.dns;
            let port = Literal::u16_unsuffixed(d.port);
            let record = match d.record {
                crate::ir::DnsRecord::A => quote!(::openapi_gateway_runtime::DnsRecord::A),
                crate::ir::DnsRecord::Srv => quote!(::openapi_gateway_runtime::DnsRecord::Srv),
            };
            let interval = Literal::u64_unsuffixed(d.interval_ms);
            let scheme = &d.scheme;
            let nameserver = match &d.nameserver {
                Some(ns) => quote!(::std::option::Option::Some(#ns)),
                None => quote!(::std::option::Option::None),
            };
            quote! {
                ::std::option::Option::Some(&::openapi_gateway_runtime::Discovery {
                    name: #dns,
                    port: #port,
                    record: #record,
                    interval: ::std::time::Duration::from_millis(#interval),
                    scheme: #scheme,
                    nameserver: #nameserver,
                })
            }
        }
    };
    quote! {
        ::openapi_gateway_runtime::Service {
            name: #name,
            env: #env,
            urls: &[#(#urls),*],
            discovery: #discovery,
            connect_timeout: ::std::time::Duration::from_millis(#connect),
            request_timeout: ::std::time::Duration::from_millis(#request),
            cors: #cors,
            resilience: #resilience,
        }
    }
}

fn route_entry(gateway: &Gateway, route: &Route) -> TokenStream {
    let method = ident(route.method.variant());
    let path = route.public_path.to_string();
    let upstream = route.upstream_path.to_string();
    let service = Literal::usize_unsuffixed(route.service);
    let operation_id = &route.operation_id;
    let module = ident(&gateway.services[route.service].module);
    let handler = ident(&route.handler);
    let auth = match &route.auth {
        Auth::Public => quote!(::openapi_gateway_runtime::Auth::Public),
        Auth::Required {
            alternatives,
            challenge,
        } => {
            let alternatives = alternatives.iter().map(|all| {
                let all = all.iter().map(|r| {
                    let scheme = &r.scheme;
                    let scopes = &r.scopes;
                    quote!(::openapi_gateway_runtime::Requirement { scheme: #scheme, scopes: &[#(#scopes),*] })
                });
                quote!(&[#(#all),*])
            });
            quote! {
                ::openapi_gateway_runtime::Auth::Required {
                    challenge: #challenge,
                    alternatives: &[#(#alternatives),*],
                }
            }
        }
    };
    let rate_limits = route
        .rate_limits
        .iter()
        .map(|&index| Literal::usize_unsuffixed(index));
    let responses = responses_entry(gateway, route);
    let body = match &route.body {
        None => quote!(::openapi_gateway_runtime::BodySpec::Undeclared),
        Some(body) => {
            let required = body.required;
            let media: Vec<String> = body
                .media_types
                .iter()
                .map(|m| crate::http::media_essence(m))
                .collect();
            let module = ident(&gateway.services[route.service].module);
            let validators = body.validators.iter().map(|(media, index)| {
                let function = ident(&gateway.services[route.service].validators[*index].function);
                quote!((#media, crate::#module::#function))
            });
            let forms = body.forms.iter().map(|form| {
                let media = &form.media_type;
                let kind = if form.multipart {
                    quote!(::openapi_gateway_runtime::form::FormKind::Multipart)
                } else {
                    quote!(::openapi_gateway_runtime::form::FormKind::UrlEncoded)
                };
                let shape = shape_tokens(&form.shape);
                let required = &form.required;
                let encoding = form.encoding.iter().map(|e| {
                    let property = &e.property;
                    let (explode, deep) = (e.explode, e.deep_object);
                    let content_types = &e.content_types;
                    quote! {
                        ::openapi_gateway_runtime::form::Encoding {
                            property: #property,
                            explode: #explode,
                            deep_object: #deep,
                            content_types: &[#(#content_types),*],
                        }
                    }
                });
                let validate = match form.validator {
                    Some(index) => {
                        let function =
                            ident(&gateway.services[route.service].validators[index].function);
                        quote!(::std::option::Option::Some(crate::#module::#function))
                    }
                    None => quote!(::std::option::Option::None),
                };
                quote! {
                    (#media, &::openapi_gateway_runtime::form::FormBody {
                        kind: #kind,
                        shape: &#shape,
                        required: &[#(#required),*],
                        encoding: &[#(#encoding),*],
                        validate: #validate,
                    })
                }
            });
            quote! {
                ::openapi_gateway_runtime::BodySpec::Declared {
                    required: #required,
                    media_types: &[#(#media),*],
                    validators: &[#(#validators),*],
                    forms: &[#(#forms),*],
                }
            }
        }
    };
    let path_types = route.path_types.iter().map(|ty| match ty {
        PathType::Any => quote!(::openapi_gateway_runtime::PathType::Any),
        PathType::Enum(values) => {
            quote!(::openapi_gateway_runtime::PathType::Enum(&[#(#values),*]))
        }
        PathType::Boolean => quote!(::openapi_gateway_runtime::PathType::Boolean),
        PathType::Uuid => quote!(::openapi_gateway_runtime::PathType::Uuid),
        PathType::Integer => quote!(::openapi_gateway_runtime::PathType::Integer),
        PathType::Number => quote!(::openapi_gateway_runtime::PathType::Number),
    });
    quote! {
        ::openapi_gateway_runtime::Route {
            method: ::openapi_gateway_runtime::Method::#method,
            path: #path,
            upstream_path: #upstream,
            service: #service,
            operation_id: #operation_id,
            auth: #auth,
            body: #body,
            rate_limits: &[#(#rate_limits),*],
            handler: crate::#module::#handler,
            responses: #responses,
            path_types: &[#(#path_types),*],
        }
    }
}

/// The declared responses of a route whose service validates responses.
fn responses_entry(gateway: &Gateway, route: &Route) -> TokenStream {
    let Some(responses) = &route.responses else {
        return quote!(::std::option::Option::None);
    };
    let module = ident(&gateway.services[route.service].module);
    let entries = responses.iter().map(|r| {
        let status = match r.status {
            ResponseStatus::Code(code) => {
                let code = Literal::u16_unsuffixed(code);
                quote!(::openapi_gateway_runtime::responses::Status::Code(#code))
            }
            ResponseStatus::Range(digit) => {
                let digit = Literal::u16_unsuffixed(digit);
                quote!(::openapi_gateway_runtime::responses::Status::Range(#digit))
            }
            ResponseStatus::Default => {
                quote!(::openapi_gateway_runtime::responses::Status::Default)
            }
        };
        let validate = match r.validator {
            Some(index) => {
                let function = ident(&gateway.services[route.service].validators[index].function);
                quote!(::std::option::Option::Some(crate::#module::#function))
            }
            None => quote!(::std::option::Option::None),
        };
        quote! {
            ::openapi_gateway_runtime::responses::ResponseSpec {
                status: #status,
                validate: #validate,
            }
        }
    });
    quote!(::std::option::Option::Some(&[#(#entries),*]))
}

pub fn service_rs(gateway: &Gateway, index: usize) -> TokenStream {
    let service = &gateway.services[index];
    let doc = format!(
        " Handlers of service `{}`: each parses and checks its operation's parameters, then names the upstream path.",
        service.key
    );
    let enums = service.enums.iter().map(enum_type);
    let handlers = gateway
        .routes
        .iter()
        .filter(|r| r.service == index)
        .map(|r| handler(service, r));
    let validators = service
        .validators
        .iter()
        .map(|v| super::validate::validator(service, v));
    quote! {
        #![doc = #doc]
        #(#enums)*
        #(#handlers)*
        #(#validators)*
    }
}

fn enum_type(e: &EnumType) -> TokenStream {
    let name = ident(&e.name);
    let variants: Vec<Ident> = e.variants.iter().map(|(_, rust)| ident(rust)).collect();
    let wires: Vec<&String> = e.variants.iter().map(|(wire, _)| wire).collect();
    let variant_docs = wires.iter().map(|w| format!(" `{w}`"));
    let expected = format!(
        "expected one of {}",
        wires
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let doc = format!(
        " The values the spec allows: {}.",
        wires
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum #name {
            #(#[doc = #variant_docs] #variants,)*
        }

        impl #name {
            /// The value as on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    #(Self::#variants => #wires,)*
                }
            }

            /// Parses a wire value; the error is the message for the client.
            pub fn parse(raw: &str) -> ::std::result::Result<Self, ::std::string::String> {
                match raw {
                    #(#wires => ::std::result::Result::Ok(Self::#variants),)*
                    _ => ::std::result::Result::Err(::std::string::String::from(#expected)),
                }
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::openapi_gateway_runtime::params::Item for #name {
            fn hash_item(&self, state: &mut dyn ::std::hash::Hasher) {
                state.write(self.as_str().as_bytes());
            }
        }
    }
}

/// Parameters a handler parses (unchecked query/header/cookie ones travel as sent).
fn parsed(route: &Route) -> impl Iterator<Item = &Param> {
    route
        .params
        .iter()
        .filter(|p| p.location == ParamIn::Path || p.ty != ParamType::Unchecked)
}

fn rust_type(service: &Service, ty: &ParamType) -> TokenStream {
    match ty {
        ParamType::Int32 => quote!(i32),
        ParamType::Int64 => quote!(i64),
        ParamType::Number => quote!(f64),
        ParamType::Boolean => quote!(bool),
        ParamType::String | ParamType::Unchecked => quote!(::std::string::String),
        ParamType::Uuid => quote!(::openapi_gateway_runtime::Uuid),
        ParamType::Enum(i) => {
            let name = ident(&service.enums[*i].name);
            quote!(#name)
        }
        ParamType::Array(item) => {
            let item = rust_type(service, item);
            quote!(::std::vec::Vec<#item>)
        }
        ParamType::Object { .. } => quote!(::openapi_gateway_runtime::json::OwnedValue),
    }
}

/// The runtime's `Shape` of an object parameter, as a constant expression.
fn shape_tokens(shape: &ParamShape) -> TokenStream {
    match shape {
        ParamShape::String => quote!(::openapi_gateway_runtime::styled::Shape::String),
        ParamShape::Integer => quote!(::openapi_gateway_runtime::styled::Shape::Integer),
        ParamShape::Number => quote!(::openapi_gateway_runtime::styled::Shape::Number),
        ParamShape::Boolean => quote!(::openapi_gateway_runtime::styled::Shape::Boolean),
        ParamShape::Any => quote!(::openapi_gateway_runtime::styled::Shape::Any),
        ParamShape::Array(item) => {
            let item = shape_tokens(item);
            quote!(::openapi_gateway_runtime::styled::Shape::Array(&#item))
        }
        ParamShape::Object(properties) => {
            let properties = properties.iter().map(|(name, shape)| {
                let shape = shape_tokens(shape);
                quote!((#name, #shape))
            });
            quote!(::openapi_gateway_runtime::styled::Shape::Object(&[#(#properties),*]))
        }
    }
}

/// `errors.object(...)`: reads an object parameter in its style and checks it.
fn read_object(
    service: &Service,
    param: &Param,
    path_index: usize,
    validator: usize,
    shape: &ParamShape,
) -> TokenStream {
    let name = &param.name;
    let explode = param.explode;
    let at = match param.location {
        ParamIn::Path => {
            let index = Literal::usize_unsuffixed(path_index);
            quote!(::openapi_gateway_runtime::styled::In::Path(#index))
        }
        ParamIn::Query => quote!(::openapi_gateway_runtime::styled::In::Query),
        ParamIn::Header => quote!(::openapi_gateway_runtime::styled::In::Header),
        ParamIn::Cookie => quote!(::openapi_gateway_runtime::styled::In::Cookie),
    };
    let style = match (param.location, param.style) {
        (ParamIn::Query, ParamStyle::DeepObject) => {
            quote!(::openapi_gateway_runtime::styled::Style::DeepObject)
        }
        (ParamIn::Query, ParamStyle::PipeDelimited) => {
            quote!(::openapi_gateway_runtime::styled::Style::PipeDelimited)
        }
        (ParamIn::Query, ParamStyle::SpaceDelimited) => {
            quote!(::openapi_gateway_runtime::styled::Style::SpaceDelimited)
        }
        (ParamIn::Query, _) => {
            quote!(::openapi_gateway_runtime::styled::Style::Form { explode: #explode })
        }
        (ParamIn::Cookie, _) => {
            quote!(::openapi_gateway_runtime::styled::Style::Cookie { explode: #explode })
        }
        _ => quote!(::openapi_gateway_runtime::styled::Style::Simple { explode: #explode }),
    };
    let shape = shape_tokens(shape);
    let function = ident(&service.validators[validator].function);
    quote! {{
        static SHAPE: ::openapi_gateway_runtime::styled::Shape = #shape;
        errors.object(req, #at, #name, #style, &SHAPE, self::#function)
    }}
}

fn parser(service: &Service, ty: &ParamType) -> TokenStream {
    match ty {
        ParamType::Int32 => quote!(::openapi_gateway_runtime::params::int32),
        ParamType::Int64 => quote!(::openapi_gateway_runtime::params::int64),
        ParamType::Number => quote!(::openapi_gateway_runtime::params::number),
        ParamType::Boolean => quote!(::openapi_gateway_runtime::params::boolean),
        ParamType::String | ParamType::Unchecked => {
            quote!(::openapi_gateway_runtime::params::string)
        }
        ParamType::Uuid => quote!(::openapi_gateway_runtime::params::uuid),
        ParamType::Enum(i) => {
            let name = ident(&service.enums[*i].name);
            quote!(#name::parse)
        }
        ParamType::Array(item) => parser(service, item),
        ParamType::Object { .. } => quote!(::openapi_gateway_runtime::params::string),
    }
}

fn field_type(service: &Service, param: &Param) -> TokenStream {
    let ty = rust_type(service, &param.ty);
    if param.required || param.default.is_some() {
        ty
    } else {
        quote!(::std::option::Option<#ty>)
    }
}

fn default_tokens(service: &Service, param: &Param, value: &Scalar) -> TokenStream {
    match value {
        Scalar::Int(i) => {
            let lit = Literal::i64_unsuffixed(*i);
            quote!(v.unwrap_or(#lit))
        }
        Scalar::Number(n) => {
            let lit = Literal::f64_unsuffixed(*n);
            quote!(v.unwrap_or(#lit))
        }
        Scalar::Bool(b) => quote!(v.unwrap_or(#b)),
        Scalar::String(s) => quote!(v.unwrap_or_else(|| ::std::string::String::from(#s))),
        Scalar::Variant(i) => {
            let ParamType::Enum(e) = &param.ty else {
                return quote!(v.unwrap_or_default());
            };
            let e = &service.enums[*e];
            let name = ident(&e.name);
            let variant = ident(&e.variants[*i].1);
            quote!(v.unwrap_or(#name::#variant))
        }
    }
}

/// The expression that reads one parameter: `Option<field type>`, `None` on error.
/// The constraints checked on one parsed scalar (an array's items included).
fn scalar_constraints(param: &Param) -> &Constraints {
    match param.ty {
        ParamType::Array(_) => &param.item_constraints,
        _ => &param.constraints,
    }
}

/// The checks of `constraints` on a parsed `value` of type `ty`, as statements.
fn checks(ty: &ParamType, c: &Constraints) -> Vec<TokenStream> {
    let int_bound = |b: &Option<Bound>| match b {
        Some(Bound {
            value: BoundValue::Int(v),
            exclusive,
        }) => {
            let v = Literal::i64_suffixed(*v);
            quote!(::std::option::Option::Some((#v, #exclusive)))
        }
        _ => quote!(::std::option::Option::None),
    };
    let number_bound = |b: &Option<Bound>| match b {
        Some(Bound {
            value: BoundValue::Number(v),
            exclusive,
        }) => {
            let v = Literal::f64_suffixed(*v);
            quote!(::std::option::Option::Some((#v, #exclusive)))
        }
        _ => quote!(::std::option::Option::None),
    };
    let usize_option = |n: Option<usize>| match n {
        Some(n) => {
            let n = Literal::usize_unsuffixed(n);
            quote!(::std::option::Option::Some(#n))
        }
        None => quote!(::std::option::Option::None),
    };
    let mut out = Vec::new();
    match ty {
        ParamType::Int32 | ParamType::Int64 => {
            let value = if *ty == ParamType::Int32 {
                quote!(i64::from(value))
            } else {
                quote!(value)
            };
            if c.minimum.is_some() || c.maximum.is_some() {
                let (min, max) = (int_bound(&c.minimum), int_bound(&c.maximum));
                out.push(
                    quote!(::openapi_gateway_runtime::params::int_range(#value, #min, #max)?;),
                );
            }
            if let Some(m) = c.multiple_of {
                let m = Literal::i64_suffixed(m);
                out.push(quote!(::openapi_gateway_runtime::params::int_multiple_of(#value, #m)?;));
            }
        }
        ParamType::Number if c.minimum.is_some() || c.maximum.is_some() => {
            let (min, max) = (number_bound(&c.minimum), number_bound(&c.maximum));
            out.push(quote!(::openapi_gateway_runtime::params::number_range(value, #min, #max)?;));
        }
        ParamType::String | ParamType::Enum(_) => {
            let text = if *ty == ParamType::String {
                quote!(&value)
            } else {
                quote!(value.as_str())
            };
            if c.min_length.is_some() || c.max_length.is_some() {
                let (min, max) = (usize_option(c.min_length), usize_option(c.max_length));
                out.push(quote!(::openapi_gateway_runtime::params::length(#text, #min, #max)?;));
            }
            if let Some(pattern) = &c.pattern {
                let flags = crate::lower::pattern_flags(pattern).unwrap_or("u");
                out.push(quote! {
                    static PATTERN: ::openapi_gateway_runtime::json::Pattern =
                        ::openapi_gateway_runtime::json::Pattern::new(#pattern, #flags);
                    PATTERN.check(#text)?;
                });
            }
            if let Some(format) = c.format {
                let format = super::validate::format_path(format);
                out.push(quote!(#format.check(#text)?;));
            }
        }
        _ => {}
    }
    out
}

/// `parse_<field>`: parses one value and checks its constraints. `None` when the plain
/// parser does all there is to do.
fn checked_parser(service: &Service, param: &Param) -> Option<TokenStream> {
    let item = match &param.ty {
        ParamType::Array(item) => item.as_ref(),
        ty => ty,
    };
    let checks = checks(item, scalar_constraints(param));
    if checks.is_empty() {
        return None;
    }
    let name = format_ident!("parse_{}", param.field.trim_end_matches('_'));
    let ty = rust_type(service, item);
    let parse = parser(service, item);
    let doc = format!(
        " Parses {} parameter `{}` and checks its schema's constraints.",
        param.location.as_str(),
        param.name
    );
    Some(quote! {
        #[doc = #doc]
        fn #name(raw: &str) -> ::std::result::Result<#ty, ::std::string::String> {
            let value = #parse(raw)?;
            #(#checks)*
            ::std::result::Result::Ok(value)
        }
    })
}

fn read(service: &Service, param: &Param, path_index: usize) -> TokenStream {
    let name = &param.name;
    let parse = if checked_parser(service, param).is_some() {
        let parse = format_ident!("parse_{}", param.field.trim_end_matches('_'));
        quote!(Self::#parse)
    } else {
        parser(service, &param.ty)
    };
    let location = param.location.as_str();
    let raw = match (param.location, &param.ty) {
        (_, ParamType::Object { validator, shape }) => {
            read_object(service, param, path_index, *validator, shape)
        }
        (ParamIn::Path, ParamType::Array(_)) => {
            let index = Literal::usize_unsuffixed(path_index);
            quote!(errors.path_array(req, #index, #name, #parse))
        }
        (ParamIn::Path, _) => {
            let index = Literal::usize_unsuffixed(path_index);
            // A value that a literal ends in a mixed segment was checked against it by the
            // router, whatever its type.
            return quote!(errors.path(req, #index, #name, #parse));
        }
        (ParamIn::Query, ParamType::Array(_)) => match param.style {
            ParamStyle::PipeDelimited => quote!(errors.query_delimited(req, #name, '|', #parse)),
            ParamStyle::SpaceDelimited => quote!(errors.query_delimited(req, #name, ' ', #parse)),
            _ => {
                let explode = param.explode;
                quote!(errors.query_array(req, #name, #explode, #parse))
            }
        },
        (ParamIn::Query, _) if param.allow_empty => {
            quote!(errors.query_allowing_empty(req, #name, #parse))
        }
        (ParamIn::Query, _) => quote!(errors.query(req, #name, #parse)),
        (ParamIn::Cookie, ParamType::Array(_)) => {
            let explode = param.explode;
            quote!(errors.cookie_array(req, #name, #explode, #parse))
        }
        (ParamIn::Cookie, _) => quote!(errors.cookie(req, #name, #parse)),
        (_, ParamType::Array(_)) => quote!(errors.header_array(req, #name, #parse)),
        _ => quote!(errors.header(req, #name, #parse)),
    };
    let c = &param.constraints;
    let raw = if matches!(param.ty, ParamType::Array(_))
        && (c.min_items.is_some() || c.max_items.is_some() || c.unique_items)
    {
        let opt = |n: Option<usize>| match n {
            Some(n) => {
                let n = Literal::usize_unsuffixed(n);
                quote!(::std::option::Option::Some(#n))
            }
            None => quote!(::std::option::Option::None),
        };
        let (min, max, unique) = (opt(c.min_items), opt(c.max_items), c.unique_items);
        quote! {{
            let value = #raw;
            errors.items(#location, #name, value, #min, #max, #unique)
        }}
    } else {
        raw
    };
    if let Some(default) = &param.default {
        let default = default_tokens(service, param, default);
        quote!(#raw.map(|v| #default))
    } else if param.required {
        quote! {{
            let value = #raw;
            errors.require(#location, #name, value)
        }}
    } else {
        raw
    }
}

fn handler(service: &Service, route: &Route) -> TokenStream {
    let handler = ident(&route.handler);
    let params_type = ident(&route.params_type);
    let doc = format!(
        " `{} {}` -> `{}`: operation `{}`.{}",
        route.method,
        route.public_path,
        route.upstream_path,
        route.operation_id,
        route
            .summary
            .as_deref()
            .map(|s| format!(" {}", s.lines().next().unwrap_or_default()))
            .unwrap_or_default()
    );
    let params: Vec<&Param> = parsed(route).collect();

    // The upstream path: literal runs merged, parameters from the parsed values.
    let mut pieces_out = Vec::new();
    let mut literal = String::new();
    // Path values go upstream as the client wrote them (decoded, then re-encoded), not
    // re-rendered from their parsed form: `1e3` stays `1e3`, `007` stays `007`.
    let template_params: Vec<&str> = route.upstream_path.params().collect();
    let param = |name: &str| {
        let index = template_params.iter().position(|p| *p == name).unwrap_or(0);
        Literal::usize_unsuffixed(index)
    };
    for segment in &route.upstream_path.segments {
        literal.push('/');
        let pieces: Vec<Piece> = match segment {
            Segment::Literal(text) => vec![Piece::Literal(text.clone())],
            Segment::Param(name) => vec![Piece::Param(name.clone())],
            Segment::Mixed(pieces) => pieces.clone(),
        };
        for piece in pieces {
            match piece {
                Piece::Literal(text) => literal.push_str(&text),
                Piece::Param(name) => {
                    pieces_out.push(quote!(.literal(#literal)));
                    literal.clear();
                    let index = param(&name);
                    pieces_out.push(quote!(.param(&req.path_param(#index).unwrap_or_default())));
                }
            }
        }
    }
    if route.upstream_path.segments.is_empty() {
        literal.push('/');
    }
    if !literal.is_empty() {
        pieces_out.push(quote!(.literal(#literal)));
    }
    let forward = quote! {
        ::std::result::Result::Ok(::openapi_gateway_runtime::UpstreamPath::new() #(#pieces_out)* .forward())
    };

    if params.is_empty() {
        return quote! {
            #[doc = #doc]
            pub fn #handler(
                _req: &::openapi_gateway_runtime::Request<'_>,
            ) -> ::std::result::Result<::openapi_gateway_runtime::Forward, ::openapi_gateway_runtime::Problem> {
                #forward
            }
        };
    }

    let fields = params.iter().map(|p| {
        let field = ident(&p.field);
        let ty = field_type(service, p);
        let doc = format!(" {} parameter `{}`", p.location.as_str(), p.name);
        quote! {
            #[doc = #doc]
            pub #field: #ty
        }
    });
    let mut path_index = 0;
    let reads = params.iter().map(|p| {
        let field = ident(&p.field);
        let read = read(service, p, path_index);
        if p.location == ParamIn::Path {
            path_index += 1;
        }
        quote!(let #field = #read;)
    });
    let reads: Vec<TokenStream> = reads.collect();
    let names: Vec<Ident> = params.iter().map(|p| ident(&p.field)).collect();
    let destructure = if names.len() == 1 {
        let name = &names[0];
        quote! {
            let ::std::option::Option::Some(#name) = #name else {
                return ::std::result::Result::Err(errors.into_problem());
            };
        }
    } else {
        quote! {
            let (#(::std::option::Option::Some(#names)),*) = (#(#names),*) else {
                return ::std::result::Result::Err(errors.into_problem());
            };
        }
    };
    let checked: Vec<TokenStream> = params
        .iter()
        .filter_map(|p| checked_parser(service, p))
        .collect();
    let struct_doc = format!(" The parameters of operation `{}`.", route.operation_id);
    quote! {
        #[doc = #struct_doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #params_type {
            #(#fields,)*
        }

        impl #params_type {
            /// Parses every parameter, reporting all failures at once.
            pub fn parse(
                req: &::openapi_gateway_runtime::Request<'_>,
            ) -> ::std::result::Result<Self, ::openapi_gateway_runtime::Problem> {
                let mut errors = ::openapi_gateway_runtime::Errors::default();
                #(#reads)*
                #destructure
                ::std::result::Result::Ok(Self { #(#names),* })
            }

            #(#checked)*
        }

        #[doc = #doc]
        pub fn #handler(
            req: &::openapi_gateway_runtime::Request<'_>,
        ) -> ::std::result::Result<::openapi_gateway_runtime::Forward, ::openapi_gateway_runtime::Problem> {
            #params_type::parse(req)?;
            #forward
        }
    }
}
