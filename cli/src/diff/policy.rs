//! The gateway's own behaviour: auth per route, rate limits, timeouts, upstreams, retries
//! and resilience per service, CORS, size limits, schemes, trusted proxies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::{Found, Pairs, Scope, in_manifest, route_scope};
use crate::diag::pointer_push;
use crate::ir::{Auth, Cors, Gateway, RateLimit, Route, SchemeKind, Service};
use crate::upstream::show_duration;

pub(super) fn compare(
    base: &Gateway,
    new: &Gateway,
    pairs: &Pairs,
    manifest: &Path,
    found: &mut Found,
) {
    gateway_wide(base, new, manifest, found);
    for service in &new.services {
        if let Some(old) = base.services.iter().find(|s| s.key == service.key) {
            per_service(old, service, manifest, found);
        }
    }
    for (old, route) in &pairs.both {
        per_route(base, old, new, route, manifest, found);
    }
}

fn gateway_wide(base: &Gateway, new: &Gateway, manifest: &Path, found: &mut Found) {
    let scope = Scope::Gateway;
    let limits = [
        (
            "max_body",
            base.max_body,
            new.max_body,
            "/gateway/limits/max_body",
        ),
        (
            "max_fields",
            base.max_fields as u64,
            new.max_fields as u64,
            "/gateway/limits/max_fields",
        ),
    ];
    for (name, old, now, pointer) in limits {
        let id = match now.cmp(&old) {
            std::cmp::Ordering::Less => "gateway-body-limit-decreased",
            std::cmp::Ordering::Greater => "gateway-body-limit-increased",
            std::cmp::Ordering::Equal => continue,
        };
        let show = |n: u64| match name {
            "max_body" => bytes(n),
            _ => n.to_string(),
        };
        found.add(
            id,
            &scope,
            format!("`{name}` {} -> {}", show(old), show(now)),
            in_manifest(manifest, pointer.into()),
        );
    }
    for scheme in &new.schemes {
        let Some(old) = base.schemes.iter().find(|s| s.name == scheme.name) else {
            continue;
        };
        let what = scheme_differences(&old.kind, &scheme.kind);
        if !what.is_empty() {
            found.add(
                "gateway-scheme-changed",
                &scope,
                format!("`{}`: {} changed", scheme.name, what.join(", ")),
                in_manifest(manifest, pointer_push("/auth", &scheme.name)),
            );
        }
    }
    if base.trusted_proxies != new.trusted_proxies {
        found.add(
            "gateway-trusted-proxies-changed",
            &scope,
            format!(
                "[{}] -> [{}]",
                base.trusted_proxies.join(", "),
                new.trusted_proxies.join(", ")
            ),
            in_manifest(manifest, "/gateway/trusted_proxies".into()),
        );
    }
}

/// `16MiB`, `64KiB`, `1000B`: the manifest's units when exact.
fn bytes(n: u64) -> String {
    match n {
        0 => "0B".into(),
        _ if n.is_multiple_of(1 << 30) => format!("{}GiB", n >> 30),
        _ if n.is_multiple_of(1 << 20) => format!("{}MiB", n >> 20),
        _ if n.is_multiple_of(1 << 10) => format!("{}KiB", n >> 10),
        _ => format!("{n}B"),
    }
}

/// The settings of a scheme that differ, by name.
fn scheme_differences(old: &SchemeKind, new: &SchemeKind) -> Vec<&'static str> {
    match (old, new) {
        (SchemeKind::Jwt(a), SchemeKind::Jwt(b)) => [
            ("algorithms", a.algorithms != b.algorithms),
            ("keys", a.key != b.key),
            ("issuer", a.issuer != b.issuer),
            ("audiences", a.audiences != b.audiences),
            ("leeway", a.leeway_secs != b.leeway_secs),
            ("max_token", a.max_token != b.max_token),
            ("token types", a.types != b.types),
            ("forwarded claims", a.forward_claims != b.forward_claims),
            (
                "strip_authorization",
                a.strip_authorization != b.strip_authorization,
            ),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect(),
        (
            SchemeKind::ApiKey {
                location: l1,
                name: n1,
                keys: k1,
                strip: s1,
            },
            SchemeKind::ApiKey {
                location: l2,
                name: n2,
                keys: k2,
                strip: s2,
            },
        ) => [
            ("where the key is sent", l1 != l2 || n1 != n2),
            ("keys", k1 != k2),
            ("strip", s1 != s2),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect(),
        (
            SchemeKind::Basic {
                users: u1,
                forward_authorization: f1,
            },
            SchemeKind::Basic {
                users: u2,
                forward_authorization: f2,
            },
        ) => [("users", u1 != u2), ("forward_authorization", f1 != f2)]
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect(),
        _ => vec!["kind"],
    }
}

fn per_service(old: &Service, new: &Service, manifest: &Path, found: &mut Found) {
    let scope = Scope::Service(new.key.clone());
    let at = |rest: &str| in_manifest(manifest, pointer_push("/services", &new.key) + rest);
    let (a, b) = (instances(old), instances(new));
    if a != b {
        found.add(
            "gateway-upstream-changed",
            &scope,
            format!("instances {a} -> {b}"),
            at("/upstream"),
        );
    }
    if old.connect_timeout_ms != new.connect_timeout_ms {
        let id = if new.connect_timeout_ms < old.connect_timeout_ms {
            "gateway-timeout-decreased"
        } else {
            "gateway-timeout-increased"
        };
        found.add(
            id,
            &scope,
            format!(
                "connect timeout {} -> {}",
                show_duration(Duration::from_millis(old.connect_timeout_ms)),
                show_duration(Duration::from_millis(new.connect_timeout_ms))
            ),
            at("/upstream/timeouts/connect"),
        );
    }
    let zero = Duration::ZERO;
    let before: BTreeMap<_, _> = old.resilience.summary(zero, zero).into_iter().collect();
    for (label, now) in new.resilience.summary(zero, zero) {
        // Timeouts are compared per route, where they take effect.
        if label == "timeouts" {
            continue;
        }
        let Some(was) = before.get(label) else {
            continue;
        };
        if *was != now {
            let id = if label == "retries" {
                "gateway-retries-changed"
            } else {
                "gateway-resilience-changed"
            };
            found.add(
                id,
                &scope,
                format!("{label}: {was} -> {now}"),
                at("/upstream"),
            );
        }
    }
    cors(
        old.cors.as_ref(),
        new.cors.as_ref(),
        &scope,
        at("/cors"),
        found,
    );
}

/// A service's instances, in one line.
fn instances(service: &Service) -> String {
    match &service.discovery {
        None => service.urls.join(", "),
        Some(d) => format!("DNS {} via {}://", d.summary(), d.scheme),
    }
}

fn cors(
    old: Option<&Cors>,
    new: Option<&Cors>,
    scope: &Scope,
    at: Option<crate::diag::Location>,
    found: &mut Found,
) {
    let origins = |c: Option<&Cors>| -> BTreeSet<String> {
        c.map(|c| c.allow_origins.iter().cloned().collect())
            .unwrap_or_default()
    };
    let (was, now) = (origins(old), origins(new));
    for origin in was.difference(&now) {
        found.add(
            "gateway-cors-origin-removed",
            scope,
            format!("origin `{origin}` no longer allowed"),
            at.clone(),
        );
    }
    for origin in now.difference(&was) {
        found.add(
            "gateway-cors-origin-added",
            scope,
            format!("origin `{origin}` allowed"),
            at.clone(),
        );
    }
    if let (Some(a), Some(b)) = (old, new) {
        let mut what = Vec::new();
        if a.allow_methods != b.allow_methods {
            what.push("allowed methods");
        }
        if a.allow_headers != b.allow_headers {
            what.push("allowed headers");
        }
        if a.expose_headers != b.expose_headers {
            what.push("exposed headers");
        }
        if a.allow_credentials != b.allow_credentials {
            what.push("credentials");
        }
        if a.max_age != b.max_age {
            what.push("max age");
        }
        if !what.is_empty() {
            found.add(
                "gateway-cors-changed",
                scope,
                format!("{} changed", what.join(", ")),
                at,
            );
        }
    }
}

fn per_route(
    base: &Gateway,
    old: &Route,
    new_gateway: &Gateway,
    new: &Route,
    manifest: &Path,
    found: &mut Found,
) {
    let scope = route_scope(new_gateway, new);
    let old_service = &base.services[old.service];
    let service = &new_gateway.services[new.service];
    let operation = pointer_push(
        &pointer_push(&pointer_push("/services", &service.key), "operations"),
        &new.operation_id,
    );
    let at = |rest: &str| in_manifest(manifest, format!("{operation}{rest}"));
    if old_service.key != service.key {
        found.add(
            "gateway-route-service-changed",
            &scope,
            format!("served by `{}`, was `{}`", service.key, old_service.key),
            in_manifest(manifest, pointer_push("/services", &service.key)),
        );
    }
    if old.upstream_path != new.upstream_path {
        found.add(
            "gateway-upstream-path-changed",
            &scope,
            format!(
                "forwarded to {}, was {}",
                new.upstream_path, old.upstream_path
            ),
            at(""),
        );
    }
    auth(&old.auth, &new.auth, &scope, at(""), found);
    rate_limits(base, old, new_gateway, new, &scope, manifest, found);
    let (old_try, old_total) = old_service.resilience.timeouts_of(
        &old.operation_id,
        Duration::from_millis(old_service.request_timeout_ms),
    );
    let (new_try, new_total) = service.resilience.timeouts_of(
        &new.operation_id,
        Duration::from_millis(service.request_timeout_ms),
    );
    let own = service
        .resilience
        .operations
        .iter()
        .any(|(id, _, _)| *id == new.operation_id);
    let timeouts_at = if own {
        at("/timeouts")
    } else {
        in_manifest(
            manifest,
            pointer_push("/services", &service.key) + "/upstream/timeouts",
        )
    };
    let show = |d: Option<Duration>| d.map_or("unbounded".to_owned(), show_duration);
    for (name, was, now) in [
        ("per-try timeout", Some(old_try), Some(new_try)),
        ("total timeout", old_total, new_total),
    ] {
        if was == now {
            continue;
        }
        // `None` is unbounded: longer than any duration.
        let shorter = match (was, now) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b < a,
        };
        let id = if shorter {
            "gateway-timeout-decreased"
        } else {
            "gateway-timeout-increased"
        };
        found.add(
            id,
            &scope,
            format!("{name} {} -> {}", show(was), show(now)),
            timeouts_at.clone(),
        );
    }
}

fn auth(
    old: &Auth,
    new: &Auth,
    scope: &Scope,
    at: Option<crate::diag::Location>,
    found: &mut Found,
) {
    let summary = crate::emit::auth_summary;
    match (old, new) {
        (Auth::Public, Auth::Public) => {}
        (Auth::Public, Auth::Required { .. }) => found.add(
            "gateway-route-became-secured",
            scope,
            format!("now requires {}", summary(new)),
            at,
        ),
        (Auth::Required { .. }, Auth::Public) => found.add(
            "gateway-route-became-public",
            scope,
            format!("was {}, now public", summary(old)),
            at,
        ),
        (
            Auth::Required {
                alternatives: a, ..
            },
            Auth::Required {
                alternatives: b, ..
            },
        ) => {
            // An alternative is known by its schemes; its scopes are compared per scheme.
            type Alternative = BTreeMap<String, BTreeSet<String>>;
            let index = |alternatives: &Vec<Vec<crate::ir::Requirement>>| {
                alternatives
                    .iter()
                    .map(|all| {
                        let schemes: Alternative = all
                            .iter()
                            .map(|r| (r.scheme.clone(), r.scopes.iter().cloned().collect()))
                            .collect();
                        (
                            schemes.keys().cloned().collect::<Vec<_>>().join(" + "),
                            schemes,
                        )
                    })
                    .collect::<BTreeMap<String, Alternative>>()
            };
            let (was, now) = (index(a), index(b));
            for (name, schemes) in &was {
                let Some(current) = now.get(name) else {
                    found.add(
                        "gateway-auth-alternative-removed",
                        scope,
                        format!("`{name}` no longer accepted"),
                        at.clone(),
                    );
                    continue;
                };
                for (scheme, scopes) in schemes {
                    let empty = BTreeSet::new();
                    let current = current.get(scheme).unwrap_or(&empty);
                    for added in current.difference(scopes) {
                        found.add(
                            "gateway-auth-scope-added",
                            scope,
                            format!("`{scheme}` requires scope `{added}`"),
                            at.clone(),
                        );
                    }
                    for removed in scopes.difference(current) {
                        found.add(
                            "gateway-auth-scope-removed",
                            scope,
                            format!("`{scheme}` no longer requires scope `{removed}`"),
                            at.clone(),
                        );
                    }
                }
            }
            for name in now.keys().filter(|name| !was.contains_key(*name)) {
                found.add(
                    "gateway-auth-alternative-added",
                    scope,
                    format!("`{name}` accepted"),
                    at.clone(),
                );
            }
        }
    }
}

fn rate_limits(
    base: &Gateway,
    old: &Route,
    new_gateway: &Gateway,
    new: &Route,
    scope: &Scope,
    manifest: &Path,
    found: &mut Found,
) {
    let policies = |g: &'_ Gateway, r: &Route| -> BTreeMap<String, RateLimit> {
        r.rate_limits
            .iter()
            .filter_map(|i| g.rate_limits.get(*i))
            .map(|p| (p.name.clone(), p.clone()))
            .collect()
    };
    let (was, now) = (policies(base, old), policies(new_gateway, new));
    let service = &new_gateway.services[new.service].key;
    let operation = format!(
        "{}/operations{}",
        pointer_push("/services", service),
        pointer_push("", &new.operation_id)
    );
    for (name, policy) in &now {
        let at = in_manifest(manifest, pointer_push("/rate_limits/policies", name));
        match was.get(name) {
            None => found.add(
                "gateway-rate-limit-added",
                scope,
                format!("`{name}`: {}", describe(policy)),
                in_manifest(manifest, format!("{operation}/rate_limit")),
            ),
            Some(before) if before != policy => {
                let looser = policy.key == before.key
                    && policy.ipv6_prefix == before.ipv6_prefix
                    && policy.burst >= before.burst
                    && policy.count * before.period_secs >= before.count * policy.period_secs;
                let id = if looser {
                    "gateway-rate-limit-loosened"
                } else {
                    "gateway-rate-limit-tightened"
                };
                found.add(
                    id,
                    scope,
                    format!("`{name}`: {} -> {}", describe(before), describe(policy)),
                    at,
                );
            }
            Some(_) => {}
        }
    }
    for (name, policy) in was.iter().filter(|(name, _)| !now.contains_key(*name)) {
        found.add(
            "gateway-rate-limit-removed",
            scope,
            format!("`{name}` ({}) no longer applies", describe(policy)),
            in_manifest(manifest, operation.clone()),
        );
    }
}

fn describe(policy: &RateLimit) -> String {
    let key = match &policy.key {
        crate::ir::RateKey::Ip => "ip".to_owned(),
        crate::ir::RateKey::Header(h) => format!("header {h}"),
        crate::ir::RateKey::Consumer => "consumer".to_owned(),
        crate::ir::RateKey::Claim(c) => format!("claim {c}"),
    };
    format!(
        "{} per {}, burst {}, by {key}",
        policy.count,
        show_duration(Duration::from_secs(policy.period_secs)),
        policy.burst
    )
}
