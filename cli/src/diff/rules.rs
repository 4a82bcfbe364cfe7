//! Every change `gateway diff` reports, with its level: one table, so the docs' table
//! (docs/diff.md) and the code cannot drift apart (tests/docs.rs compares them).
//!
//! The public contract's rules are oasdiff's (checker/rules.go), same ids and levels, so a
//! team that knows oasdiff reads this report without a glossary. The gateway's own
//! policies have no oasdiff counterpart; their ids start with `gateway-` and their levels
//! follow the same reading: ERR when a client that worked may now be refused, WARN when
//! the change cannot be judged from the inputs or widens what is exposed, INFO otherwise.

use serde::Serialize;

/// How much a change matters to the gateway's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    #[serde(rename = "INFO")]
    Info,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "ERR")]
    Err,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Err => "ERR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

/// What a change is about: the gateway's own behaviour or the API it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Policy,
    Contract,
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub level: Level,
    pub family: Family,
    /// `request`, `response` or `-` (neither: the operation or the gateway itself).
    pub side: &'static str,
    pub what: &'static str,
}

macro_rules! rules {
    ($($family:ident $level:ident $side:literal $id:literal $what:literal;)*) => {
        /// Every rule, in the order docs/diff.md lists them.
        pub const RULES: &[Rule] = &[$(Rule {
            id: $id,
            level: Level::$level,
            family: Family::$family,
            side: $side,
            what: $what,
        }),*];
    };
}

rules! {
    // Operations.
    Contract Info "-" "endpoint-added" "an operation was added";
    Contract Err "-" "api-removed-without-deprecation" "an operation was removed (its path stays) without being deprecated first";
    Contract Info "-" "api-removed-with-deprecation" "a deprecated operation was removed";
    Contract Err "-" "api-path-removed-without-deprecation" "a path and its operations were removed without being deprecated first";
    // Parameters.
    Contract Err "request" "new-required-request-parameter" "a required parameter was added";
    Contract Info "request" "new-optional-request-parameter" "an optional parameter was added";
    Contract Warn "request" "request-parameter-removed" "a parameter was removed: clients still sending it may be refused or ignored";
    Contract Err "request" "request-parameter-became-required" "an optional parameter became required";
    Contract Info "request" "request-parameter-became-optional" "a required parameter became optional";
    Contract Err "request" "request-parameter-type-changed" "a parameter's type changed";
    Contract Info "request" "request-parameter-type-generalized" "a parameter accepts numbers where it accepted integers";
    Contract Err "request" "request-parameter-became-enum" "a parameter is now limited to an enum";
    Contract Err "request" "request-parameter-enum-value-removed" "a value was removed from a parameter's enum";
    Contract Info "request" "request-parameter-enum-value-added" "a value was added to a parameter's enum";
    Contract Err "request" "request-parameter-max-decreased" "a parameter's maximum was lowered";
    Contract Warn "request" "request-parameter-max-set" "a parameter gained a maximum";
    Contract Err "request" "request-parameter-min-increased" "a parameter's minimum was raised";
    Contract Err "request" "request-parameter-max-length-decreased" "a parameter's maxLength was lowered";
    Contract Err "request" "request-parameter-max-items-decreased" "a parameter's maxItems was lowered";
    Contract Err "request" "request-parameter-pattern-added" "a parameter gained a pattern";
    Contract Warn "request" "request-parameter-pattern-changed" "a parameter's pattern changed (the spec cannot say whether it narrowed)";
    // Request bodies.
    Contract Err "request" "request-body-added-required" "a required request body was added";
    Contract Info "request" "request-body-added-optional" "an optional request body was added";
    Contract Err "request" "request-body-removed" "the request body was removed";
    Contract Err "request" "request-body-became-required" "the request body became required";
    Contract Info "request" "request-body-became-optional" "the request body became optional";
    Contract Info "request" "request-body-media-type-added" "a request media type was added";
    Contract Err "request" "request-body-media-type-removed" "a request media type was removed";
    Contract Err "request" "request-body-type-changed" "the request body's type changed";
    // Request properties (in bodies, at any depth: `a/b`, `items/c`).
    Contract Err "request" "new-required-request-property" "a required request property was added";
    Contract Info "request" "new-optional-request-property" "an optional request property was added";
    Contract Warn "request" "request-property-removed" "a request property was removed: clients still sending it may be refused or ignored";
    Contract Err "request" "request-property-became-required" "a request property became required";
    Contract Info "request" "request-property-became-optional" "a request property became optional";
    Contract Err "request" "request-property-type-changed" "a request property's type changed";
    Contract Info "request" "request-property-type-generalized" "a request property accepts numbers where it accepted integers";
    Contract Err "request" "request-property-became-enum" "a request property is now limited to an enum";
    Contract Err "request" "request-property-enum-value-removed" "a value was removed from a request property's enum";
    Contract Info "request" "request-property-enum-value-added" "a value was added to a request property's enum";
    Contract Err "request" "request-property-max-decreased" "a request property's maximum was lowered";
    Contract Err "request" "request-property-min-increased" "a request property's minimum was raised";
    Contract Warn "request" "request-property-max-set" "a request property gained a maximum";
    Contract Err "request" "request-property-max-length-decreased" "a request property's maxLength was lowered";
    Contract Warn "request" "request-property-max-length-set" "a request property gained a maxLength";
    Contract Err "request" "request-property-min-length-increased" "a request property's minLength was raised";
    Contract Err "request" "request-property-min-items-increased" "a request property's minItems was raised";
    Contract Err "request" "request-property-pattern-added" "a request property gained a pattern";
    Contract Warn "request" "request-property-pattern-changed" "a request property's pattern changed (the spec cannot say whether it narrowed)";
    Contract Err "request" "request-property-became-not-nullable" "a request property no longer accepts null";
    Contract Info "request" "request-property-became-nullable" "a request property accepts null";
    // Composition (requests: a removed branch refuses what it accepted; responses: an
    // added branch sends what clients do not expect).
    Contract Info "request" "request-body-one-of-added" "a branch was added to the request body's oneOf";
    Contract Err "request" "request-body-one-of-removed" "a branch was removed from the request body's oneOf";
    Contract Err "request" "request-property-one-of-removed" "a branch was removed from a request property's oneOf";
    Contract Err "request" "request-body-any-of-removed" "a branch was removed from the request body's anyOf";
    Contract Err "request" "request-body-all-of-added" "a schema was added to the request body's allOf";
    Contract Err "response" "response-body-one-of-added" "a branch was added to the response body's oneOf";
    Contract Info "response" "response-body-one-of-removed" "a branch was removed from the response body's oneOf";
    Contract Err "response" "response-property-one-of-added" "a branch was added to a response property's oneOf";
    // Responses.
    Contract Err "response" "response-success-status-removed" "a success (2xx) status was removed";
    Contract Info "response" "response-success-status-added" "a success (2xx) status was added";
    Contract Info "response" "response-non-success-status-removed" "a non-success status was removed";
    Contract Info "response" "response-non-success-status-added" "a non-success status was added";
    Contract Err "response" "response-media-type-removed" "a response media type was removed";
    Contract Info "response" "response-media-type-added" "a response media type was added";
    Contract Err "response" "response-body-type-changed" "a response body's type changed";
    // Response properties.
    Contract Err "response" "response-required-property-removed" "a required response property was removed";
    Contract Warn "response" "response-optional-property-removed" "an optional response property was removed";
    Contract Info "response" "response-optional-property-added" "an optional response property was added";
    Contract Info "response" "response-required-property-added" "a required response property was added";
    Contract Err "response" "response-property-became-optional" "a response property became optional";
    Contract Info "response" "response-property-became-required" "a response property became required";
    Contract Err "response" "response-property-became-nullable" "a response property may now be null";
    Contract Info "response" "response-property-became-not-nullable" "a response property is never null now";
    Contract Err "response" "response-property-type-changed" "a response property's type changed";
    Contract Warn "response" "response-property-enum-value-added" "a response property's enum gained a value clients may not handle";
    Contract Info "response" "response-property-enum-value-removed" "a value was removed from a response property's enum";
    Contract Err "response" "response-property-max-length-increased" "a response property's maxLength was raised";
    Contract Err "response" "response-property-max-increased" "a response property's maximum was raised";
    // The gateway's own policies, per route.
    Policy Err "-" "gateway-route-became-secured" "a public route now requires credentials";
    Policy Warn "-" "gateway-route-became-public" "a route that required credentials is now public";
    Policy Err "-" "gateway-auth-alternative-removed" "a way of authenticating a route accepted is refused now";
    Policy Info "-" "gateway-auth-alternative-added" "a route accepts another way of authenticating";
    Policy Err "-" "gateway-auth-scope-added" "a route requires another scope";
    Policy Warn "-" "gateway-auth-scope-removed" "a route requires a scope less";
    Policy Warn "-" "gateway-route-service-changed" "a route is served by another service";
    Policy Warn "-" "gateway-upstream-path-changed" "a route is forwarded to another upstream path";
    Policy Warn "-" "gateway-rate-limit-added" "a route is rate limited by another policy";
    Policy Warn "-" "gateway-rate-limit-removed" "a route is no longer rate limited by a policy";
    Policy Warn "-" "gateway-rate-limit-tightened" "a rate-limit policy allows less, or counts by another key";
    Policy Info "-" "gateway-rate-limit-loosened" "a rate-limit policy allows more";
    Policy Warn "-" "gateway-timeout-decreased" "a timeout was shortened: slow answers that arrived in time now fail";
    Policy Info "-" "gateway-timeout-increased" "a timeout was lengthened (or lifted)";
    // Per service.
    Policy Warn "-" "gateway-upstream-changed" "a service's instances (URLs or DNS discovery) changed";
    Policy Info "-" "gateway-retries-changed" "a service's retry policy changed";
    Policy Info "-" "gateway-resilience-changed" "a service's balancing, health check, outlier detection, breaker or concurrency limit changed";
    Policy Err "-" "gateway-cors-origin-removed" "a browser origin is no longer allowed";
    Policy Warn "-" "gateway-cors-origin-added" "a browser origin is allowed";
    Policy Warn "-" "gateway-cors-changed" "CORS methods, headers, credentials or max age changed";
    // For the whole gateway.
    Policy Err "-" "gateway-body-limit-decreased" "a request size limit (`max_body`, `max_fields`) was lowered";
    Policy Info "-" "gateway-body-limit-increased" "a request size limit (`max_body`, `max_fields`) was raised";
    Policy Warn "-" "gateway-scheme-changed" "how a security scheme verifies credentials changed";
    Policy Warn "-" "gateway-trusted-proxies-changed" "the proxies whose X-Forwarded-For is believed changed";
}

/// The rule with this id, if the table has it.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_policies_are_prefixed() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "{} twice", r.id);
            assert_eq!(
                r.id.starts_with("gateway-"),
                r.family == Family::Policy,
                "{}",
                r.id
            );
        }
    }
}
