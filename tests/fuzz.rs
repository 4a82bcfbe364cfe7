//! Fuzzing request parsing: no input makes it panic, and the work it does is bounded by
//! the input's size.
//!
//! What is driven: the generated handlers of the example (`examples/ecommerce`) and of
//! `fixtures/valid/param-styles` (their committed source, compiled in: exactly what a
//! gateway runs), which between them read every style the runtime parses — query `form`
//! exploded or not, `spaceDelimited`, `pipeDelimited`, `deepObject`; `simple` headers and
//! paths, arrays and objects; cookies, scalar and arrays — plus the runtime's readers
//! called the way the compiler writes them for what neither crate has (object headers
//! and paths in the other `explode`, object cookies, `uniqueItems` arrays of each scalar
//! type). Path styles `label` and `matrix` have no parser: the compiler refuses them
//! (`gateway::spec::unsupported_param_style`). Bodies: every urlencoded and multipart
//! form and every JSON validator (request and response) of both crates, a validator with
//! `uniqueItems` over objects and a recursive `oneOf`, on generated bodies. Each input is
//! read as a gateway reads it (at most `gateway.limits.max_fields` pairs, parts or members
//! in one place) and with no such limit.
//!
//! Work is counted, not timed: built with the runtime's `steps` feature (this crate turns
//! it on), every loop of request parsing counts a step per item it visits, comparison it
//! makes, hash probe, and alternative of `anyOf`/`oneOf`/`not` it checks
//! (`runtime/src/check/steps.rs`). Each call must stay within `K * bytes + C` steps,
//! `bytes` being the size of the request parts it may read. A lookup
//! that compares each pair with every earlier one makes steps grow with the square of
//! the pairs: a few thousand pairs break the bound by far.
//!
//! Inputs are built from a small description (how many pairs, how their names repeat, a
//! seed), so a case holds thousands of pairs without proptest drawing each one, and a
//! failure shrinks to the fewest pairs that still break the bound. The cases come from a
//! fixed seed, the same every run (CI included); a failure's seed is also saved in
//! `fuzz.proptest-regressions` next to this file (commit it), which every run replays
//! first.

use std::borrow::Cow;

use bytes::Bytes;
use openapi_gateway_runtime::form::FormBody;
use openapi_gateway_runtime::json::{BodyErrors, Enum, Pointer, Type, Validate, Value};
use openapi_gateway_runtime::params::{self, Parse, Request};
use openapi_gateway_runtime::styled::{In, Shape, Style};
use openapi_gateway_runtime::{BodySpec, Errors};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};

#[path = "../examples/ecommerce/generated/src/orders.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod orders;
#[path = "../examples/ecommerce/generated/src/payments.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod payments;
#[path = "../examples/ecommerce/generated/src/routes.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod routes;
#[path = "../examples/ecommerce/generated/src/users.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod users;
#[path = "../fixtures/valid/param-styles/expected/src/shop.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod shop;
#[path = "../fixtures/valid/param-styles/expected/src/routes.rs"]
#[rustfmt::skip]
#[allow(dead_code, clippy::all, unreachable_pub)]
mod styles;

/// Steps allowed per byte of input. Each call reads its input a bounded number of times:
/// a handler looks each of its query parameters up by scanning the pairs (the example's
/// widest operation reads 9, a pair being at least 2 bytes), every pair is split and
/// decoded, each pair, member or part is grouped by name with one hash probe, and
/// `uniqueItems` hashes each item once. Measured over these cases: at most 1.0 a byte;
/// comparing each pair with every earlier one, as before, took 30 to 130 a byte at 3000
/// pairs.
const K: u64 = 4;
/// Steps allowed whatever the size (the schema's properties and `required` names looked
/// through once per call).
const C: u64 = 100;

/// The most pairs, parts or members a generated input holds (more than the default
/// `gateway.limits.max_fields`, 1000).
const MAX_PAIRS: usize = 3000;

/// A small random generator (SplitMix64): inputs are derived from proptest's draws, not
/// drawn one by one.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// How the names of a case's pairs repeat.
#[derive(Debug, Clone, Copy)]
enum Names {
    /// `k0`, `k1`, ...: every name new.
    Distinct,
    /// Drawn from the names the operations read.
    Known,
    /// One known name, repeated.
    Same,
    /// `filter[k0]`, `filter[k1]`, ...: members of one `deepObject`.
    Deep,
}

/// The names the example's and the fixture's operations read, and a few more.
const NAMES: &[&str] = &[
    "q",
    "tag",
    "tags",
    "ids",
    "pipes",
    "spaces",
    "range",
    "filter[size]",
    "filter[color]",
    "filter[tags]",
    "price[min]",
    "price[max]",
    "size",
    "color",
    "from",
    "to",
    "sku",
    "quantity",
    "address[zip]",
    "address[city]",
    "email",
    "name",
    "password",
    "marketing_opt_in",
    "country",
    "limit",
    "offset",
    "status",
    "category",
    "in_stock",
    "photo",
    "note",
    "session",
    "prefs",
    "app",
    "version",
    "currency",
    "filter",
];

/// Values: numbers (some equal as numbers, not as text), words, and what the splitters
/// split at.
const WORDS: &[&str] = &[
    "0",
    "-0",
    "1",
    "1.0",
    "1e3",
    "-7",
    "18446744073709551616",
    "true",
    "false",
    "red",
    "blue",
    "a",
    "",
    "x y",
    "a+b",
    "%2C",
    "%FF",
    "caf%C3%A9",
    "1,2",
    "a|b",
    "a=b",
    "..",
    "image/png",
];

/// Whether values repeat.
#[derive(Debug, Clone, Copy)]
enum Values {
    /// `v0`, `1`, ...: every value new (an array of them has no duplicate to stop at).
    Distinct,
    /// Some new, some drawn from [`WORDS`].
    Mixed,
}

/// Where the parameter readers find a case's pairs (the other places get its first few).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Query,
    Headers,
    Cookies,
    Path,
}

/// One case: pairs, rendered in one place of a request and in both kinds of form body,
/// and a JSON body.
#[derive(Debug, Clone)]
struct Case {
    pairs: usize,
    names: Names,
    values: Values,
    place: Place,
    json: Json,
    json_size: usize,
    seed: u64,
}

#[derive(Debug, Clone, Copy)]
enum Json {
    /// One object with this many distinct members.
    Members,
    /// The same, its first name given again at the end.
    Repeated,
    /// An array of distinct strings.
    Strings,
    /// An array of numbers, some equal as numbers (`1`, `1.0`).
    Numbers,
    /// Two equal objects, their members in opposite orders.
    EqualObjects,
    /// Twenty objects that differ in their last member only.
    NearlyEqualObjects,
    /// Arrays nested this deep (past the parser's limit of 128 too).
    Nested,
    /// A body cut short.
    Truncated,
    /// Objects nested in their `child` (at most 16 deep), as a recursive schema reads.
    Chain,
}

fn case() -> impl Strategy<Value = Case> {
    let names = prop_oneof![
        Just(Names::Distinct),
        Just(Names::Known),
        Just(Names::Same),
        Just(Names::Deep)
    ];
    let json = prop_oneof![
        Just(Json::Members),
        Just(Json::Repeated),
        Just(Json::Strings),
        Just(Json::Numbers),
        Just(Json::EqualObjects),
        Just(Json::NearlyEqualObjects),
        Just(Json::Nested),
        Just(Json::Truncated),
        Just(Json::Chain),
    ];
    let values = prop_oneof![Just(Values::Distinct), Just(Values::Mixed)];
    let place = prop_oneof![
        Just(Place::Query),
        Just(Place::Headers),
        Just(Place::Cookies),
        Just(Place::Path)
    ];
    (
        (0..=MAX_PAIRS, names, values, place),
        (json, 0..=MAX_PAIRS),
        any::<u64>(),
    )
        .prop_map(
            |((pairs, names, values, place), (json, json_size), seed)| Case {
                pairs,
                names,
                values,
                place,
                json,
                json_size,
                seed,
            },
        )
}

/// A case's pairs, and the request parts they make.
struct Input {
    pairs: Vec<(String, String)>,
    query: String,
    path: Vec<String>,
    headers: http::HeaderMap,
    urlencoded: String,
    multipart: String,
    json: String,
}

impl Input {
    fn new(case: &Case) -> Input {
        let mut rng = Rng(case.seed);
        let same = rng.pick(NAMES);
        let deep = rng.pick(&["filter", "price", "address"]);
        let pairs: Vec<(String, String)> = (0..case.pairs)
            .map(|i| {
                let name = match case.names {
                    Names::Distinct => format!("k{i}"),
                    Names::Known => rng.pick(NAMES).to_owned(),
                    Names::Same => same.to_owned(),
                    Names::Deep => format!("{deep}[k{i}]"),
                };
                let value = match (case.values, rng.below(3)) {
                    (_, 0) => format!("v{i}"),
                    (_, 1) => i.to_string(),
                    (Values::Distinct, _) => format!("{i}.5"),
                    (Values::Mixed, _) => rng.pick(WORDS).to_owned(),
                };
                (name, value)
            })
            .collect();
        let urlencoded = join(&pairs, |(n, v)| format!("{n}={v}"), "&");
        let few = &pairs[..pairs.len().min(3)];
        let here = |place: Place| if case.place == place { &pairs[..] } else { few };
        let query = join(here(Place::Query), |(n, v)| format!("{n}={v}"), "&");
        // Where a value is split again (`,` in headers and paths, `;` in cookies), a value
        // keeps to letters and digits so that the pairs stay pairs.
        let plain = |v: &String| -> String {
            v.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect()
        };
        let in_headers = here(Place::Headers);
        let cookies = here(Place::Cookies);
        let mut headers = http::HeaderMap::new();
        let mut header = |name: &'static str, value: String| {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        };
        header("x-list", join(in_headers, |(_, v)| plain(v), ","));
        // Numbers equal as numbers, not as text, when values repeat.
        let numbers: Vec<String> = (0..in_headers.len())
            .map(|i| match case.values {
                Values::Distinct => format!("{i}.5"),
                Values::Mixed => rng.pick(&["0", "-0", "1", "1.0", "1e0", "2"]).to_owned(),
            })
            .collect();
        header("x-numbers", numbers.join(", "));
        header(
            "x-object",
            join(in_headers, |(n, v)| format!("{n}={}", plain(v)), ","),
        );
        header(
            "x-object-list",
            join(in_headers, |(n, v)| format!("{n},{}", plain(v)), ","),
        );
        header(
            "x-client",
            join(in_headers, |(n, v)| format!("{n}={}", plain(v)), ","),
        );
        header(
            "cookie",
            join(cookies, |(n, v)| format!("{n}={}", plain(v)), "; "),
        );
        header(
            "cookie",
            format!(
                "filter={}; prefs={}",
                join(cookies, |(n, v)| format!("{n},{}", plain(v)), ","),
                join(cookies, |(_, v)| plain(v), ","),
            ),
        );
        let in_path = here(Place::Path);
        let path = vec![
            join(in_path, |(n, v)| format!("{n},{}", plain(v)), ","),
            join(in_path, |(n, v)| format!("{n}={}", plain(v)), ","),
            join(in_path, |(_, v)| plain(v), ","),
            pairs.first().map(|(_, v)| v.clone()).unwrap_or_default(),
        ];
        let multipart = {
            let mut body = String::new();
            for (name, value) in &pairs {
                body.push_str("--XyZ\r\n");
                body.push_str(&format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n"
                ));
                match rng.below(3) {
                    0 => body.push_str("Content-Type: image/png\r\n"),
                    1 => body.push_str("Content-Type: text/plain\r\n"),
                    _ => {}
                }
                body.push_str(&format!("\r\n{value}\r\n"));
            }
            body.push_str("--XyZ--\r\n");
            body
        };
        Input {
            json: json(case.json, case.json_size, &mut rng),
            urlencoded,
            pairs,
            query,
            path,
            headers,
            multipart,
        }
    }

    /// What the parameter readers may read: the query, the path values, the headers.
    fn request_bytes(&self) -> usize {
        self.query.len()
            + self.path.iter().map(String::len).sum::<usize>()
            + self
                .headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum::<usize>()
    }
}

fn join<T>(items: &[T], f: impl FnMut(&T) -> String, separator: &str) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(separator)
}

fn json(kind: Json, n: usize, rng: &mut Rng) -> String {
    let members = |order: &mut dyn Iterator<Item = usize>| {
        let members: Vec<String> = order.map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", members.join(","))
    };
    match kind {
        Json::Members => members(&mut (0..n)),
        Json::Repeated => {
            let mut text = members(&mut (0..n.max(1)));
            text.pop();
            text + ",\"k0\":\"again\"}"
        }
        Json::Strings => {
            let items: Vec<String> = (0..n).map(|i| format!("\"s{i}\"")).collect();
            format!("[{}]", items.join(","))
        }
        Json::Numbers => {
            let items: Vec<String> = (0..n)
                .map(|i| match rng.below(4) {
                    0 => format!("{i}.0"),
                    1 => format!("-{i}"),
                    2 => format!("{i}e0"),
                    _ => i.to_string(),
                })
                .collect();
            format!("[{}]", items.join(","))
        }
        Json::EqualObjects => format!("[{},{}]", members(&mut (0..n)), members(&mut (0..n).rev())),
        Json::NearlyEqualObjects => {
            let size = n / 20;
            let objects: Vec<String> = (0..20)
                .map(|last| {
                    let mut text = members(&mut (0..size));
                    text.pop();
                    format!("{text}{}\"last\":{last}}}", if size > 0 { "," } else { "" })
                })
                .collect();
            format!("[{}]", objects.join(","))
        }
        Json::Nested => {
            let depth = n % 200;
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        }
        Json::Truncated => {
            let text = members(&mut (0..n));
            let cut = rng.below(text.len() + 1);
            text[..cut].to_owned()
        }
        Json::Chain => {
            let depth = n % 17;
            format!("{}{{}}{}", "{\"child\":".repeat(depth), "}".repeat(depth))
        }
    }
}

/// Runs `f` and checks the steps it took against the bound for `bytes` of input.
fn bounded(what: &str, bytes: usize, f: impl FnOnce()) -> Result<(), TestCaseError> {
    openapi_gateway_runtime::steps::take();
    f();
    let steps = openapi_gateway_runtime::steps::take();
    let bound = K * bytes as u64 + C;
    prop_assert!(
        steps <= bound,
        "{what}: {steps} steps for {bytes} bytes of input, more than {K} per byte + {C} ({bound})"
    );
    Ok(())
}

static OBJECT: Shape = Shape::Object(&[
    ("size", Shape::Integer),
    ("color", Shape::String),
    ("tags", Shape::Array(&Shape::String)),
    ("from", Shape::Number),
    ("on", Shape::Boolean),
]);

/// An object parameter's validator, as the compiler writes one (`additionalProperties:
/// false`, one typed property).
fn validate_object<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    if !errors.types(at, value, &[Type::Object]) {
        return;
    }
    if let Some(object) = value.as_object() {
        let mut seen = [false; 1];
        for (key, member) in object.iter() {
            match key {
                "size" => errors.member(at, key, &mut seen[0], member, |v, at, e| {
                    e.types(at, v, &[Type::Integer]);
                }),
                "color" | "tags" | "from" | "on" => {}
                _ => errors.not_allowed(at, key),
            }
        }
        errors.required(at, &[("size", seen[0])]);
    }
}

static KINDS: Enum = Enum::new(r#"["a", "b", {"k0": 0}]"#);

/// `{type: array, uniqueItems: true, items: {type: object, maxProperties: 10, properties:
/// {kind: {enum: [...]}}, additionalProperties: false}}`, or that object alone.
fn validate_unique<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    match value.as_array() {
        Some(items) => {
            errors.items(at, items, None, None, true);
            errors.each_item(at, items, validate_item);
        }
        None => validate_item(value, at, errors),
    }
}

fn validate_item<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    if let Some(object) = value.as_object() {
        errors.property_count(at, object, None, Some(10));
        for (key, member) in object.iter() {
            match key {
                "kind" => {
                    at.push_key(key);
                    errors.enumeration(at, member, &KINDS);
                    at.pop();
                }
                _ => errors.not_allowed(at, key),
            }
        }
    } else if let Some(items) = value.as_array() {
        errors.items(at, items, None, None, true);
    } else {
        errors.enumeration(at, value, &KINDS);
    }
}

/// A recursive schema whose alternatives both read the same member: `Node = oneOf: [{child:
/// Node}, {child: Node, required: [x]}]` (each alternative checks the whole subtree).
fn validate_node<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    errors.one_of(at, value, &[node_child as Validate, node_child_and_x]);
}

fn node_child<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    if !errors.types(at, value, &[Type::Object]) {
        return;
    }
    if let Some(object) = value.as_object() {
        let mut seen = [false; 1];
        for (key, member) in object.iter() {
            if key == "child" {
                errors.member(at, key, &mut seen[0], member, validate_node);
            }
        }
    }
}

fn node_child_and_x<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    node_child(value, at, errors);
    if let Some(object) = value.as_object() {
        errors.required(at, &[("x", object.iter().any(|(key, _)| key == "x"))]);
    }
}

/// Every parameter reader, on one request.
fn parameters(input: &Input, max_fields: usize) -> Result<(), TestCaseError> {
    let path: Vec<Cow<'_, str>> = input
        .path
        .iter()
        .map(|p| Cow::Borrowed(p.as_str()))
        .collect();
    let bytes = input.request_bytes();
    let mut query = Vec::new();
    bounded("parse_query", bytes, || {
        query = params::parse_query(&input.query)
    })?;
    let request = Request::new(&path, &query, &input.headers, max_fields);
    let req = &request;
    for gateway in [&routes::GATEWAY, &styles::GATEWAY] {
        for route in gateway.routes {
            bounded(route.operation_id, bytes, || {
                let _ = (route.handler)(req);
            })?;
        }
    }
    let mut errors = Errors::default();
    let objects = [
        (In::Query, Style::DeepObject, "filter"),
        (In::Query, Style::Form { explode: true }, "filter"),
        (In::Query, Style::Form { explode: false }, "range"),
        (In::Query, Style::PipeDelimited, "pipes"),
        (In::Query, Style::SpaceDelimited, "spaces"),
        (In::Header, Style::Simple { explode: true }, "x-object"),
        (
            In::Header,
            Style::Simple { explode: false },
            "x-object-list",
        ),
        (In::Path(0), Style::Simple { explode: false }, "p0"),
        (In::Path(1), Style::Simple { explode: true }, "p1"),
        (In::Cookie, Style::Cookie { explode: true }, "filter"),
        (In::Cookie, Style::Cookie { explode: false }, "filter"),
    ];
    for (at, style, name) in objects {
        bounded(&format!("{at:?} {style:?} object"), bytes, || {
            let _ = errors.object(req, at, name, style, &OBJECT, validate_object as Validate);
        })?;
    }
    let string: Parse<String> = params::string;
    for name in NAMES {
        bounded(&format!("unique query strings `{name}`"), bytes, || {
            let value = errors.query_array(req, name, true, string);
            let _ = errors.items("query", name, value, None, None, true);
        })?;
    }
    bounded("unique header strings", bytes, || {
        let value = errors.header_array(req, "x-list", string);
        let _ = errors.items("header", "x-list", value, None, None, true);
    })?;
    bounded("unique header numbers", bytes, || {
        let value = errors.header_array(req, "x-numbers", params::number);
        let _ = errors.items("header", "x-numbers", value, None, None, true);
    })?;
    bounded("unique path strings", bytes, || {
        let value = errors.path_array(req, 2, "p2", string);
        let _ = errors.items("path", "p2", value, None, None, true);
    })?;
    bounded("unique cookie strings", bytes, || {
        let value = errors.cookie_array(req, "prefs", false, string);
        let _ = errors.items("cookie", "prefs", value, None, None, true);
        let value = errors.cookie_array(req, "k0", true, string);
        let _ = errors.items("cookie", "k0", value, None, None, true);
    })?;
    bounded("scalars", bytes, || {
        let _ = errors.query(req, "q", string);
        let _ = errors.query_allowing_empty(req, "q", string);
        let _ = errors.header(req, "x-list", string);
        let _ = errors.cookie(req, "session", string);
        let _ = errors.path(req, 3, "p3", params::number);
        let _ = errors.query_delimited(req, "pipes", '|', params::int32);
    })?;
    // The problem answered lists at most 20 failures, however many were found.
    let problem = errors.into_problem();
    prop_assert!(problem.errors.len() <= openapi_gateway_runtime::MAX_FIELD_ERRORS);
    Ok(())
}

/// Every form and JSON body check of both crates, and the `uniqueItems` validator.
fn bodies(input: &Input, max_fields: usize) -> Result<(), TestCaseError> {
    let json = input.json.as_bytes();
    bounded("uniqueItems over objects", json.len(), || {
        let _ = openapi_gateway_runtime::json::check(json, validate_unique);
    })?;
    bounded("recursive oneOf", json.len(), || {
        let _ = openapi_gateway_runtime::json::check(json, validate_node);
    })?;
    for gateway in [&routes::GATEWAY, &styles::GATEWAY] {
        for route in gateway.routes {
            for (form, body, content_type) in forms(route.body, input) {
                bounded(&format!("{} form", route.operation_id), body.len(), || {
                    let check = form.check(
                        Bytes::from(body.clone()),
                        content_type,
                        body.len() as u64 + 1,
                        max_fields,
                    );
                    let _ = futures_util::FutureExt::now_or_never(check)
                        .expect("a body in memory is checked without waiting");
                })?;
            }
            let validators = match route.body {
                BodySpec::Declared { validators, .. } => validators,
                BodySpec::Undeclared => &[],
            };
            let responses = route.responses.unwrap_or(&[]);
            let all = validators
                .iter()
                .map(|(_, validate)| *validate)
                .chain(responses.iter().filter_map(|r| r.validate));
            for validate in all {
                bounded(&format!("{} JSON", route.operation_id), json.len(), || {
                    let _ = openapi_gateway_runtime::json::check(json, validate);
                })?;
            }
        }
    }
    Ok(())
}

/// The forms of a route's body, each with the generated body of its kind.
fn forms(body: BodySpec, input: &Input) -> Vec<(&'static FormBody, &String, &'static str)> {
    let BodySpec::Declared { forms, .. } = body else {
        return Vec::new();
    };
    forms
        .iter()
        .map(|(media, form)| match *media {
            "multipart/form-data" => (*form, &input.multipart, "multipart/form-data; boundary=XyZ"),
            _ => (
                *form,
                &input.urlencoded,
                "application/x-www-form-urlencoded",
            ),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: RngSeed::Fixed(0x6761_7465_7761_7931),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsing_never_panics_and_its_work_is_linear_in_the_input(case in case()) {
        let input = Input::new(&case);
        prop_assert_eq!(input.pairs.len(), case.pairs);
        // As a gateway reads them (at most `gateway.limits.max_fields` pairs, parts or
        // members in one place, the default), and with no such limit: linear either way.
        for max_fields in [1000, usize::MAX] {
            parameters(&input, max_fields)?;
            bodies(&input, max_fields)?;
        }
    }
}
