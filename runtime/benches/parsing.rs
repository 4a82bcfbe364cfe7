//! What parsing costs as a request grows: CPU time per pair, part, member or item of
//! forms, object parameters, `uniqueItems` arrays and JSON objects of 1,000 to 200,000
//! distinct names. Read with no `max_fields` limit, the hashed lookups alone are measured:
//! linear cost shows as a flat time per pair. With the default limit (1000) a large
//! request costs what its first 1001 pairs do.
//!
//! `cargo bench -p openapi-gateway-runtime --bench parsing [-- urlencoded]` (plain `main`, no
//! harness: each case runs about a second of calls after a warm-up; a name filters).

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use openapi_gateway_runtime::Errors;
use openapi_gateway_runtime::form::{FormBody, FormKind};
use openapi_gateway_runtime::json::{BodyErrors, Pointer, Type, Value};
use openapi_gateway_runtime::params::{self, Request};
use openapi_gateway_runtime::styled::{In, Shape, Style};

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 200_000];
/// The default of `gateway.limits.max_fields`.
const DEFAULT_MAX_FIELDS: usize = 1000;

fn any_object<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    errors.types(at, value, &[Type::Object]);
}

/// `uniqueItems: true` over an array of objects.
fn unique<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    if let Some(items) = value.as_array() {
        errors.items(at, items, None, None, true);
    }
}

static ANY: Shape = Shape::Object(&[]);

static URLENCODED: FormBody = FormBody {
    kind: FormKind::UrlEncoded,
    shape: &ANY,
    required: &[],
    encoding: &[],
    validate: Some(any_object),
};

static MULTIPART: FormBody = FormBody {
    kind: FormKind::Multipart,
    shape: &ANY,
    required: &[],
    encoding: &[],
    validate: None,
};

/// `k0<sep>k1...` with each name rendered by `item`.
fn list(n: usize, separator: &str, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(separator)
}

/// This process's user + system CPU time (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `f` for about a second (after a warm-up) and prints the time per call and per
/// pair.
fn measure(case: &str, n: usize, mut f: impl FnMut()) {
    let start = Instant::now();
    f();
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let calls = ((1.0 / once) as u32).clamp(3, 100_000);
    for _ in 0..calls / 10 {
        f();
    }
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    for _ in 0..calls {
        f();
    }
    let wall = start.elapsed().as_secs_f64() / f64::from(calls);
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(before), Some(after)) => (after - before) / f64::from(calls),
        _ => wall,
    };
    println!(
        "{case:<34} {n:>7} | {:>10.1} µs CPU a call | {:>7.1} ns a pair | {calls} calls",
        cpu * 1e6,
        cpu * 1e9 / n as f64,
    );
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |case: &str| only.is_empty() || only.iter().any(|o| case.contains(o.as_str()));
    let form = |body: &FormBody, bytes: &Bytes, content_type: &str, max_fields: usize| {
        let check = body.check(bytes.clone(), content_type, u64::MAX, max_fields);
        let _ = black_box(futures_util::FutureExt::now_or_never(check).expect("in memory"));
    };
    for n in SIZES {
        if wanted("urlencoded") {
            let body = Bytes::from(list(n, "&", |i| format!("k{i}=1")));
            let ct = "application/x-www-form-urlencoded";
            measure("urlencoded form", n, || {
                form(&URLENCODED, &body, ct, usize::MAX)
            });
            measure("urlencoded form, max_fields 1000", n, || {
                form(&URLENCODED, &body, ct, DEFAULT_MAX_FIELDS)
            });
        }
        if wanted("multipart") {
            let parts = list(n, "", |i| {
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"k{i}\"\r\n\r\n1\r\n")
            });
            let body = Bytes::from(parts + "--XyZ--\r\n");
            let ct = "multipart/form-data; boundary=XyZ";
            measure("multipart form", n, || {
                form(&MULTIPART, &body, ct, usize::MAX)
            });
        }
        if wanted("object") {
            let mut headers = HeaderMap::new();
            let members = list(n, ",", |i| format!("k{i}=1"));
            headers.insert("x-filter", HeaderValue::from_str(&members).unwrap());
            measure("header object (simple, explode)", n, || {
                let req = Request::new(&[], &[], &headers, usize::MAX);
                let style = Style::Simple { explode: true };
                let mut errors = Errors::default();
                black_box(errors.object(&req, In::Header, "x-filter", style, &ANY, any_object));
            });
            let query = list(n, "&", |i| format!("filter[k{i}]=1"));
            let pairs = params::parse_query(&query);
            measure("query deepObject", n, || {
                let req = Request::new(&[], &pairs, &headers, usize::MAX);
                let mut errors = Errors::default();
                let style = Style::DeepObject;
                black_box(errors.object(&req, In::Query, "filter", style, &ANY, any_object));
            });
        }
        if wanted("unique") {
            let query = list(n, "&", |i| format!("tag=t{i}"));
            let pairs = params::parse_query(&query);
            let headers = HeaderMap::new();
            measure("uniqueItems query strings", n, || {
                let req = Request::new(&[], &pairs, &headers, usize::MAX);
                let mut errors = Errors::default();
                let value = errors.query_array(&req, "tag", true, params::string);
                black_box(errors.items("query", "tag", value, None, None, true));
            });
        }
        if wanted("json") {
            let object = |order: &mut dyn Iterator<Item = usize>| {
                let members: Vec<String> = order.map(|i| format!("\"k{i}\":{i}")).collect();
                format!("{{{}}}", members.join(","))
            };
            let body = format!("[{},{}]", object(&mut (0..n)), object(&mut (0..n).rev()));
            measure("JSON uniqueItems, 2 equal objects", n, || {
                black_box(openapi_gateway_runtime::json::check(
                    body.as_bytes(),
                    unique,
                ));
            });
        }
    }
}
