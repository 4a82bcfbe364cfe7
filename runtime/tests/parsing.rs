//! What a hostile request costs to parse, end to end in-process: the pairs, parts and
//! members one place of a request may hold (`gateway.limits.max_fields`, 1000 here as by
//! default), refused with a 400 as soon as they are counted, while other clients are served.

mod support;

use std::time::Duration;

use openapi_gateway_runtime::form::{FormBody, FormKind};
use openapi_gateway_runtime::json::{BodyErrors, Pointer, Type, Value};
use openapi_gateway_runtime::params::{self, Request};
use openapi_gateway_runtime::styled::{In, Shape, Style};
use openapi_gateway_runtime::{
    Auth, BodySpec, Errors, Forward, Gateway, Method, Problem, Route, UpstreamPath,
};
use support::*;

/// Any object: the limit, not the schema, is what these routes test.
fn any_object<'t>(value: Value<'t>, at: &mut Pointer<'t>, errors: &mut BodyErrors) {
    errors.types(at, value, &[Type::Object]);
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

fn upload(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/upload").forward())
}

/// An object header (`simple`, exploded) and a cookie, read as generated code reads them.
fn objects(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let filter = errors.object(
        req,
        In::Header,
        "x-filter",
        Style::Simple { explode: true },
        &ANY,
        any_object,
    );
    let session = errors.cookie(req, "session", params::string);
    let (Some(_), Some(_)) = (filter, session) else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new().literal("/objects").forward())
}

fn plain(_req: &Request<'_>) -> Result<Forward, Problem> {
    Ok(UpstreamPath::new().literal("/plain").forward())
}

const fn route(
    method: Method,
    path: &'static str,
    body: BodySpec,
    handler: fn(&Request<'_>) -> Result<Forward, Problem>,
) -> Route {
    Route {
        method,
        path,
        upstream_path: path,
        service: USERS,
        operation_id: "op",
        auth: Auth::Public,
        body,
        rate_limits: &[],
        handler,
        responses: None,
        path_types: &[],
    }
}

static ROUTES: [Route; 3] = [
    route(
        Method::Post,
        "/api/form",
        BodySpec::Declared {
            required: true,
            media_types: &["application/x-www-form-urlencoded", "multipart/form-data"],
            validators: &[],
            forms: &[
                ("application/x-www-form-urlencoded", &URLENCODED),
                ("multipart/form-data", &MULTIPART),
            ],
        },
        upload,
    ),
    route(Method::Get, "/api/objects", BodySpec::Undeclared, objects),
    route(Method::Get, "/api/plain", BodySpec::Undeclared, plain),
];

static FIELDS: Gateway = Gateway {
    routes: &ROUTES,
    ..GATEWAY
};

async fn start_fields(upstream: &Mock) -> Running {
    start(
        &FIELDS,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await
}

/// `k0=1&k1=1&...`: `n` distinct names.
fn pairs(n: usize, separator: &str) -> String {
    (0..n)
        .map(|i| format!("k{i}=1"))
        .collect::<Vec<_>>()
        .join(separator)
}

fn multipart(parts: usize) -> String {
    let mut body = String::new();
    for i in 0..parts {
        body.push_str(&format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"k{i}\"\r\n\r\n1\r\n"
        ));
    }
    body + "--XyZ--\r\n"
}

async fn post(gw: &Running, content_type: &str, body: String) -> Answer {
    request(
        "POST",
        &gw.url("/api/form"),
        &[("content-type", content_type)],
        full(body),
    )
    .await
}

const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART_TYPE: &str = "multipart/form-data; boundary=XyZ";

/// The 400 of a place holding more than the limit: `in` names the place, the detail and
/// the message the limit and its manifest key.
fn refused(answer: &Answer, place: &str) -> serde_json::Value {
    let problem = answer.problem(400);
    assert_eq!(problem["type"], "urn:gateway:problem:invalid-request");
    let error = &problem["errors"][0];
    assert_eq!(error["in"], place, "{problem}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("more than 1000") && message.contains("`gateway.limits.max_fields`"),
        "{problem}"
    );
    problem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_past_max_fields_are_refused() {
    let upstream = mock("a").await;
    let gw = start_fields(&upstream).await;
    let answer = get(&gw.url(&format!("/api/plain?{}", pairs(1000, "&")))).await;
    assert_eq!(answer.status, 200);
    let answer = get(&gw.url(&format!("/api/plain?{}&marker=over", pairs(1000, "&")))).await;
    let problem = refused(&answer, "query");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("query string") && detail.contains("`gateway.limits.max_fields`"),
        "{problem}"
    );
    assert!(upstream.seen().iter().all(|uri| !uri.contains("over")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_past_max_fields_are_refused() {
    let upstream = mock("a").await;
    let gw = start_fields(&upstream).await;
    assert_eq!(post(&gw, FORM, pairs(1000, "&")).await.status, 200);
    let problem = refused(&post(&gw, FORM, pairs(1001, "&")).await, "body");
    assert_eq!(problem["errors"][0]["pointer"], "");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("`gateway.limits.max_fields`"),
        "{problem}"
    );
    assert_eq!(post(&gw, MULTIPART_TYPE, multipart(1000)).await.status, 200);
    refused(&post(&gw, MULTIPART_TYPE, multipart(1001)).await, "body");
    assert_eq!(upstream.seen().len(), 2, "only the forms within the limit");
}

/// The attack: a form of 200,000 distinct names (1.6 MB) took minutes of CPU to
/// group by name. It is refused once its 1001st pair is read, and a request sent at the
/// same time is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_of_200k_distinct_names_is_refused_while_others_are_served() {
    let upstream = mock("a").await;
    let gw = start_fields(&upstream).await;
    let url = gw.url("/api/plain?marker=meanwhile");
    let attack = post(&gw, FORM, pairs(200_000, "&"));
    let other = get(&url);
    let (attack, other) = tokio::join!(attack, other);
    refused(&attack, "body");
    assert_eq!(other.status, 200);
    assert_eq!(upstream.seen(), ["/plain?marker=meanwhile"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_members_and_cookie_pairs_past_max_fields_are_refused() {
    let upstream = mock("a").await;
    let gw = start_fields(&upstream).await;
    let url = gw.url("/api/objects");
    let within = request(
        "GET",
        &url,
        &[
            ("x-filter", &pairs(1000, ",")),
            ("cookie", &format!("session=s; {}", pairs(999, "; "))),
        ],
        empty(),
    )
    .await;
    assert_eq!(within.status, 200);
    let members = request(
        "GET",
        &url,
        &[("x-filter", &pairs(1001, ",")), ("cookie", "session=s")],
        empty(),
    )
    .await;
    let problem = refused(&members, "header");
    assert_eq!(problem["errors"][0]["name"], "x-filter");
    let cookies = request(
        "GET",
        &url,
        &[
            ("x-filter", "a=1"),
            ("cookie", &format!("session=s; {}", pairs(1000, "; "))),
        ],
        empty(),
    )
    .await;
    let problem = refused(&cookies, "cookie");
    assert_eq!(problem["errors"][0]["name"], "session");
    assert_eq!(upstream.seen().len(), 1);
}

// ---- Values in mixed path segments ------------------------------------------------------

static RANGE: Shape = Shape::Object(&[("from", Shape::Integer), ("to", Shape::Integer)]);

/// `/compare/{range}...{head}`, `range` an object (`simple`, not exploded), as generated
/// code reads and forwards it.
fn compare(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let range = errors.object(
        req,
        In::Path(0),
        "range",
        Style::Simple { explode: false },
        &RANGE,
        any_object,
    );
    let head = errors.path(req, 1, "head", params::int64);
    let (Some(_), Some(_)) = (range, head) else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/compare/")
        .param(&req.path_param(0).unwrap_or_default())
        .literal("...")
        .param(&req.path_param(1).unwrap_or_default())
        .forward())
}

/// `/diff/{base}...{head}`, `base` a string.
fn diff(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let base = errors.path(req, 0, "base", params::string);
    let head = errors.path(req, 1, "head", params::int64);
    let (Some(_), Some(_)) = (base, head) else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/diff/")
        .param(&req.path_param(0).unwrap_or_default())
        .literal("...")
        .param(&req.path_param(1).unwrap_or_default())
        .forward())
}

/// `/lists/{ids}.json`, `ids` an array of strings.
fn list(req: &Request<'_>) -> Result<Forward, Problem> {
    let mut errors = Errors::default();
    let ids = errors.path_array(req, 0, "ids", params::string);
    let Some(Some(_)) = ids else {
        return Err(errors.into_problem());
    };
    Ok(UpstreamPath::new()
        .literal("/lists/")
        .param(&req.path_param(0).unwrap_or_default())
        .literal(".json")
        .forward())
}

static PATH_ROUTES: [Route; 3] = [
    route(
        Method::Get,
        "/api/compare/{range}...{head}",
        BodySpec::Undeclared,
        compare,
    ),
    route(
        Method::Get,
        "/api/diff/{base}...{head}",
        BodySpec::Undeclared,
        diff,
    ),
    route(
        Method::Get,
        "/api/lists/{ids}.json",
        BodySpec::Undeclared,
        list,
    ),
];

static PATHS: Gateway = Gateway {
    routes: &PATH_ROUTES,
    ..GATEWAY
};

/// docs/runtime.md: "a value in a mixed segment may not contain the literal that ends it".
/// The router ends a value at the first occurrence of the literal in the raw path, so a
/// value that holds it once decoded (`%2E%2E%2E`), or that forms it with the literal after
/// it (`a.` before `...`), goes upstream as a path the upstream splits elsewhere: the
/// upstream would read other values than the gateway checked. Whatever the value's type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_value_may_not_hold_or_form_the_literal_that_ends_it() {
    let upstream = mock("a").await;
    let gw = start(
        &PATHS,
        &[("users", vec![upstream.url()])],
        Duration::from_secs(5),
    )
    .await;
    for (path, forwarded) in [
        (
            "/api/compare/from,1,to,2...7",
            "/compare/from%2C1%2Cto%2C2...7",
        ),
        ("/api/diff/main...7", "/diff/main...7"),
        ("/api/diff/a.b...7", "/diff/a.b...7"),
        ("/api/lists/a,b.json", "/lists/a%2Cb.json"),
    ] {
        let answer = get(&gw.url(path)).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["uri"], forwarded, "{path}");
    }
    for (path, name, literal) in [
        // An object holding the literal: upstream, `range` would be `from,1`.
        ("/api/compare/from,1%2E%2E%2E,to,2...7", "range", "..."),
        // A string forming it with the literal: upstream, `a....7` is `a` and `.7`.
        ("/api/diff/a%2E...7", "base", "..."),
        ("/api/diff/a%2E%2E...7", "base", "..."),
        // An array holding it: upstream, `a.json.json` is `a` and more.
        ("/api/lists/a%2Ejson.json", "ids", ".json"),
    ] {
        let problem = get(&gw.url(path)).await.problem(400);
        let error = &problem["errors"][0];
        assert_eq!(error["in"], "path", "{path}: {problem}");
        assert_eq!(error["name"], name, "{path}: {problem}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("must not contain `{literal}`")),
            "{path}: {problem}"
        );
    }
    assert_eq!(
        upstream.seen().len(),
        4,
        "only the valid paths went upstream"
    );
}
