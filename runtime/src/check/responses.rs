//! Response validation, for development (`validate_responses: true` in the manifest): an
//! upstream's answer is checked against the operation's declared responses — its status,
//! and a JSON body against the schema of that status — with the same generated validators
//! request bodies use. A response that breaks the spec is logged (a warning naming the
//! operation, the pointer and the message) and counted
//! (`gateway_response_validation_failures_total`); it is returned to the client unchanged,
//! byte for byte.
//!
//! Only bodies whose size is known (`Content-Length`) and at most [`MAX_VALIDATED`] are
//! read and checked; others stream through and are counted as skipped
//! (`gateway_response_validation_skipped_total`). Routes of services that do not validate
//! responses have no table here and cost nothing.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, header};
use http_body::Body as _;
use hyper::body::Incoming;
use tracing::warn;

use crate::base::bodies::ResponseBody;
use crate::base::problem::Problem;
use crate::base::prometheus::{Escaped, family};
use crate::check::json::Validate;

/// Largest response body read and validated; larger ones are skipped (and counted).
pub const MAX_VALIDATED: u64 = 1024 * 1024;

/// Which statuses a declared response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `"200"`.
    Code(u16),
    /// `"2XX"`: the hundreds digit.
    Range(u16),
    /// `default`: any status no other entry declares.
    Default,
}

/// One declared response of an operation.
#[derive(Debug)]
pub struct ResponseSpec {
    pub status: Status,
    /// The generated validator of its `application/json` (or `+json`) schema, if any.
    pub validate: Option<Validate>,
}

/// The declared response that covers `status`: an exact code first, then its range, then
/// `default`.
pub fn find(specs: &[ResponseSpec], status: u16) -> Option<&ResponseSpec> {
    specs
        .iter()
        .find(|s| s.status == Status::Code(status))
        .or_else(|| {
            specs
                .iter()
                .find(|s| s.status == Status::Range(status / 100))
        })
        .or_else(|| specs.iter().find(|s| s.status == Status::Default))
}

/// What checking one response found.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Valid,
    /// `(pointer, message)` of each failure (the first few), and how many there were.
    Invalid(Vec<(String, String)>, usize),
    /// The body was not checked (unknown or too large a size).
    Skipped,
}

/// Checks a whole JSON body with `validate`.
pub fn check_body(bytes: &[u8], validate: Validate) -> Verdict {
    let errors = crate::check::json::check(bytes, validate);
    if errors.is_empty() {
        return Verdict::Valid;
    }
    let count = errors.count();
    let found = errors
        .into_errors()
        .into_iter()
        .map(|e| (e.pointer.unwrap_or_default(), e.message))
        .collect();
    Verdict::Invalid(found, count)
}

/// Whether a `Content-Type` is JSON (`application/json` or `*/*+json`).
fn is_json(response: &Response<Incoming>) -> bool {
    let Some(value) = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case("+json"))
}

/// Checks an upstream response of route `index` against `specs` and hands it on unchanged. A
/// body read for the check must arrive within `budget` (the service's request timeout):
/// else 504, and 502 if the upstream breaks it off, as for a response that streams.
pub(crate) async fn check(
    counters: &Counters,
    index: usize,
    specs: &'static [ResponseSpec],
    response: Response<Incoming>,
    budget: Duration,
) -> Result<Response<ResponseBody>, Problem> {
    let Some(route) = counters.routes.get(index) else {
        return Ok(response.map(ResponseBody::Upstream));
    };
    let status = response.status().as_u16();
    let Some(spec) = find(specs, status) else {
        report(
            counters,
            index,
            status,
            &Verdict::Invalid(
                vec![(
                    String::new(),
                    format!("status {status} is not a response the operation declares"),
                )],
                1,
            ),
        );
        return Ok(response.map(ResponseBody::Upstream));
    };
    let Some(validate) = spec.validate else {
        return Ok(response.map(ResponseBody::Upstream));
    };
    if !is_json(&response) {
        return Ok(response.map(ResponseBody::Upstream));
    }
    let size = response.body().size_hint().exact();
    if size.is_none_or(|size| size > MAX_VALIDATED) {
        report(counters, index, status, &Verdict::Skipped);
        return Ok(response.map(ResponseBody::Upstream));
    }
    let (parts, body) = response.into_parts();
    let bytes: Bytes =
        match tokio::time::timeout(budget, http_body_util::BodyExt::collect(body)).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) => {
                warn!(%error, operation = route.operation, "the upstream broke off its response");
                return Err(Problem::bad_gateway("the upstream broke off its response"));
            }
            Err(_) => {
                return Err(Problem::gateway_timeout(format!(
                    "the upstream's response did not arrive within {} ms",
                    budget.as_millis()
                )));
            }
        };
    let verdict = check_body(&bytes, validate);
    report(counters, index, status, &verdict);
    Ok(Response::from_parts(parts, ResponseBody::full(bytes)))
}

fn report(counters: &Counters, index: usize, status: u16, verdict: &Verdict) {
    let Some(route) = counters.routes.get(index) else {
        return;
    };
    let service = route.service;
    match verdict {
        Verdict::Valid => {}
        Verdict::Skipped => counters.skipped(index),
        Verdict::Invalid(failures, count) => {
            counters.failed(index);
            for (pointer, message) in failures {
                warn!(
                    service,
                    operation = route.operation,
                    status,
                    pointer = pointer.as_str(),
                    detail = message.as_str(),
                    failures = count,
                    "response does not match the operation's spec"
                );
            }
        }
    }
}

/// Whose responses are counted: a route's service and operation, the labels of its
/// series, and whether its responses are checked at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) validated: bool,
}

/// Per route: responses that broke the spec, and responses not checked.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Indexed like the gateway's routes.
    routes: Vec<Operation>,
    failures: Vec<AtomicU64>,
    skipped: Vec<AtomicU64>,
}

impl Counters {
    pub(crate) fn new(routes: Vec<Operation>) -> Counters {
        let zeros = || routes.iter().map(|_| AtomicU64::new(0)).collect();
        Counters {
            failures: zeros(),
            skipped: zeros(),
            routes,
        }
    }

    fn failed(&self, index: usize) {
        if let Some(counter) = self.failures.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn skipped(&self, index: usize) {
        if let Some(counter) = self.skipped.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The two counter families, if any route validates responses.
    pub(crate) fn render(&self, out: &mut String) {
        if self.routes.iter().all(|r| !r.validated) {
            return;
        }
        for (name, help, counters) in [
            (
                "gateway_response_validation_failures_total",
                "Upstream responses that broke the operation's spec (undeclared status or invalid JSON body), by service and operation; they were returned unchanged.",
                &self.failures,
            ),
            (
                "gateway_response_validation_skipped_total",
                "Upstream JSON responses not validated because their size was unknown or over the bound, by service and operation.",
                &self.skipped,
            ),
        ] {
            family(out, name, "counter", help);
            for (route, counter) in self.routes.iter().zip(counters) {
                let value = counter.load(Ordering::Relaxed);
                if value > 0 {
                    let _ = writeln!(
                        out,
                        "{name}{{service=\"{}\",operation=\"{}\"}} {value}",
                        Escaped(route.service),
                        Escaped(route.operation)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::json::Type;
    use crate::check::json::{BodyErrors, Pointer};

    fn object<'t>(
        value: crate::check::json::Value<'t>,
        at: &mut Pointer<'t>,
        errors: &mut BodyErrors,
    ) {
        if errors.types(at, value, &[Type::Object])
            && let Some(object) = value.as_object()
        {
            errors.required(at, &[("id", object.contains_key("id"))]);
        }
    }

    #[test]
    fn statuses_find_their_declaration() {
        let specs = [
            ResponseSpec {
                status: Status::Code(201),
                validate: Some(object),
            },
            ResponseSpec {
                status: Status::Range(2),
                validate: None,
            },
            ResponseSpec {
                status: Status::Default,
                validate: None,
            },
        ];
        assert_eq!(find(&specs, 201).unwrap().status, Status::Code(201));
        assert_eq!(find(&specs, 204).unwrap().status, Status::Range(2));
        assert_eq!(find(&specs, 500).unwrap().status, Status::Default);
        assert!(find(&specs[..2], 500).is_none());
    }

    const ORDERS: Operation = Operation {
        service: "orders",
        operation: "getOrder",
        validated: true,
    };

    /// A writer into a shared buffer, for the log lines of one test.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn violations_are_logged_with_operation_and_pointer_and_counted() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        let counters = Counters::new(vec![ORDERS]);
        tracing::subscriber::with_default(subscriber, || {
            let verdict = check_body(br#"{"items": []}"#, object);
            report(&counters, 0, 200, &verdict);
            report(&counters, 0, 200, &Verdict::Skipped);
            report(&counters, 0, 200, &Verdict::Valid);
        });
        let logged = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["operation"], "getOrder");
        assert_eq!(line["service"], "orders");
        assert_eq!(line["pointer"], "");
        assert_eq!(line["detail"], "must have the property `id`");
        assert_eq!(
            line["message"],
            "response does not match the operation's spec"
        );
        assert_eq!(logged.lines().count(), 1, "{logged}");
        let mut metrics = String::new();
        counters.render(&mut metrics);
        assert!(metrics.contains(
            "gateway_response_validation_failures_total{service=\"orders\",operation=\"getOrder\"} 1\n"
        ));
        assert!(metrics.contains(
            "gateway_response_validation_skipped_total{service=\"orders\",operation=\"getOrder\"} 1\n"
        ));
    }

    #[test]
    fn bodies_are_checked_with_pointers() {
        assert_eq!(check_body(br#"{"id": 1}"#, object), Verdict::Valid);
        assert_eq!(
            check_body(br#"{"name": 1}"#, object),
            Verdict::Invalid(
                vec![(String::new(), "must have the property `id`".to_owned())],
                1
            )
        );
        assert!(matches!(check_body(b"{", object), Verdict::Invalid(_, 1)));
    }
}
