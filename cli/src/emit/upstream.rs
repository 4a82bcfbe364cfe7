//! A service's resilience policy as a `openapi_gateway_runtime::upstream::Policy` expression:
//! `Policy::DEFAULT` when the manifest changes nothing, else every field spelled out so
//! that a reviewer sees exactly what is compiled in.

use std::time::Duration;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::upstream::{Balance, HashOn, Resilience};

fn millis(duration: Duration) -> TokenStream {
    let ms = Literal::u64_unsuffixed(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    quote!(::std::time::Duration::from_millis(#ms))
}

fn option_millis(duration: Option<Duration>) -> TokenStream {
    match duration {
        Some(d) => {
            let d = millis(d);
            quote!(::std::option::Option::Some(#d))
        }
        None => quote!(::std::option::Option::None),
    }
}

fn u32_lit(n: u32) -> Literal {
    Literal::u32_unsuffixed(n)
}

pub(super) fn policy(resilience: &Resilience) -> TokenStream {
    let mut normalized = resilience.clone();
    if normalized.weights.iter().all(|w| *w == 1) {
        normalized.weights.clear();
    }
    if normalized == Resilience::default() {
        return quote!(::openapi_gateway_runtime::upstream::Policy::DEFAULT);
    }
    let r = &normalized;
    let balance = match &r.balance {
        Balance::RoundRobin => quote!(::openapi_gateway_runtime::upstream::Balance::RoundRobin),
        Balance::Weighted => quote!(::openapi_gateway_runtime::upstream::Balance::Weighted),
        Balance::LeastRequests => {
            quote!(::openapi_gateway_runtime::upstream::Balance::LeastRequests)
        }
        Balance::ConsistentHash(on) => {
            let on = match on {
                HashOn::Header(name) => {
                    quote!(::openapi_gateway_runtime::upstream::HashOn::Header(#name))
                }
                HashOn::Cookie(name) => {
                    quote!(::openapi_gateway_runtime::upstream::HashOn::Cookie(#name))
                }
                HashOn::Ip => quote!(::openapi_gateway_runtime::upstream::HashOn::Ip),
            };
            quote!(::openapi_gateway_runtime::upstream::Balance::ConsistentHash(#on))
        }
    };
    let weights = r.weights.iter().map(|w| u32_lit(*w));
    let total = option_millis(r.total_timeout);
    let retries = {
        let attempts = u32_lit(r.retries.attempts);
        let budget = u32_lit(r.retries.budget_percent);
        let min = u32_lit(r.retries.min_per_second);
        let backoff = millis(r.retries.backoff);
        let max_backoff = millis(r.retries.max_backoff);
        quote! {
            ::openapi_gateway_runtime::upstream::Retries {
                attempts: #attempts,
                budget_percent: #budget,
                min_per_second: #min,
                backoff: #backoff,
                max_backoff: #max_backoff,
            }
        }
    };
    let health_check = match &r.health_check {
        None => quote!(::std::option::Option::None),
        Some(h) => {
            let path = &h.path;
            let interval = millis(h.interval);
            let timeout = millis(h.timeout);
            let expected = h
                .expected_status
                .iter()
                .map(|s| Literal::u16_unsuffixed(*s));
            let healthy = u32_lit(h.healthy_threshold);
            let unhealthy = u32_lit(h.unhealthy_threshold);
            quote! {
                ::std::option::Option::Some(::openapi_gateway_runtime::upstream::HealthCheck {
                    path: #path,
                    interval: #interval,
                    timeout: #timeout,
                    expected_status: &[#(#expected),*],
                    healthy_threshold: #healthy,
                    unhealthy_threshold: #unhealthy,
                })
            }
        }
    };
    let outlier = {
        let failures = u32_lit(r.outlier.consecutive_failures);
        let base = millis(r.outlier.base_ejection);
        let max = u32_lit(r.outlier.max_ejection_percent);
        quote! {
            ::openapi_gateway_runtime::upstream::Outlier {
                consecutive_failures: #failures,
                base_ejection: #base,
                max_ejection_percent: #max,
            }
        }
    };
    let breaker = match &r.breaker {
        None => quote!(::std::option::Option::None),
        Some(b) => {
            let ratio = Literal::f64_unsuffixed(b.failure_ratio);
            let min = u32_lit(b.min_requests);
            let window = millis(b.window);
            let consecutive = u32_lit(b.consecutive_failures);
            let open_for = millis(b.open_for);
            let probes = u32_lit(b.half_open_probes);
            quote! {
                ::std::option::Option::Some(::openapi_gateway_runtime::upstream::Breaker {
                    failure_ratio: #ratio,
                    min_requests: #min,
                    window: #window,
                    consecutive_failures: #consecutive,
                    open_for: #open_for,
                    half_open_probes: #probes,
                })
            }
        }
    };
    let max_in_flight = u32_lit(r.max_in_flight);
    let operations = r.operations.iter().map(|(id, request, total)| {
        let request = option_millis(*request);
        let total = option_millis(*total);
        quote! {
            ::openapi_gateway_runtime::upstream::OperationTimeouts {
                operation_id: #id,
                request: #request,
                total: #total,
            }
        }
    });
    quote! {
        ::openapi_gateway_runtime::upstream::Policy {
            balance: #balance,
            weights: &[#(#weights),*],
            total_timeout: #total,
            retries: #retries,
            health_check: #health_check,
            outlier: #outlier,
            breaker: #breaker,
            max_in_flight: #max_in_flight,
            operations: &[#(#operations),*],
        }
    }
}
