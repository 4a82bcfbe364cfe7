//! The API reference page (`gateway.docs`) of the example gateway, in a real browser:
//! Debian's Chromium, headless, driven over the DevTools protocol (chromiumoxide).
//!
//! The page must load under its own Content-Security-Policy with no console error, no
//! exception and no policy violation, request nothing but the gateway on loopback, and
//! show every operation of the public OpenAPI document the gateway serves (read from
//! `/openapi.json`, never listed here). The screenshot in docs/images/api-reference.png is
//! taken here: written under the shared target folder on every run, and over the checked-in
//! copy with `GATEWAY_BLESS=1` (pixels are never compared: fonts and versions vary).
//!
//! Chromium runs as root in CI with no user namespaces: it needs `--no-sandbox`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt as _;
use gateway_tests::{
    bless, cargo, example_key_material, free_port, generated_target_dir, workspace,
};

/// The page's path in examples/ecommerce/gateway.yaml (`gateway.docs.path`).
const DOCS: &str = "/docs";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 1000;

/// The example gateway, built in the shared target folder (a no-op when tests/e2e.rs built
/// it already in this run), on free loopback ports. Its upstreams answer nothing: the page
/// needs none.
struct Gateway {
    child: Child,
    base: String,
    admin: String,
}

impl Gateway {
    fn start() -> Gateway {
        let manifest = workspace().join("examples/ecommerce/generated/Cargo.toml");
        let built = cargo("build", &manifest, &["--quiet"]);
        assert!(
            built.status.success(),
            "building the example gateway failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let (port, admin_port) = (free_port(), free_port());
        let nowhere = format!("http://127.0.0.1:{}", free_port());
        let child = Command::new(generated_target_dir().join("debug/shop-gateway"))
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEWAY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("GATEWAY_UPSTREAM_USERS", &nowhere)
            .env("GATEWAY_UPSTREAM_ORDERS", &nowhere)
            .env("GATEWAY_UPSTREAM_PAYMENTS", &nowhere)
            .env("GATEWAY_LOG", "warn")
            .envs(example_key_material())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example gateway starts");
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = |url: &str| std::net::TcpStream::connect(&url["http://".len()..]).is_ok();
        while !(listening(&gateway.base) && listening(&gateway.admin)) {
            assert!(Instant::now() < deadline, "the gateway did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium from `PATH` (Debian's package installs `chromium`).
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .expect("chromium is not on PATH: install Debian's `chromium` package (.ci/run does)")
}

/// Every operation of a public OpenAPI document: (METHOD, path, operationId).
fn operations(document: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in methods {
            if let Some(operation) = item.get(method) {
                let id = operation["operationId"].as_str().unwrap_or_default();
                found.insert((method.to_uppercase(), path.clone(), id.to_owned()));
            }
        }
    }
    found
}

/// What a test collects from the browser while the page loads.
#[derive(Default)]
struct Seen {
    /// Console errors and warnings, log entries of level error/warning (CSP violations are
    /// reported there, with source `security`), uncaught exceptions.
    problems: Vec<String>,
    requests: Vec<String>,
}

/// Forwards each event of type `E` the page emits, described by `describe`, into `sink`.
async fn collect<E, F>(
    page: &chromiumoxide::Page,
    seen: &Arc<Mutex<Seen>>,
    describe: F,
) -> tokio::task::JoinHandle<()>
where
    E: chromiumoxide::cdp::IntoEventKind + Unpin + Send + Sync + std::fmt::Debug + 'static,
    F: Fn(&E, &mut Seen) + Send + 'static,
{
    let mut events = page
        .event_listener::<E>()
        .await
        .expect("listen to the page");
    let seen = seen.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            describe(&event, &mut seen.lock().unwrap());
        }
    })
}

/// The rendered operations: (METHOD, path, operationId) of each `.opblock`.
const RENDERED: &str = r#"Array.from(document.querySelectorAll('.opblock')).map(block => [
    (block.querySelector('.opblock-summary-method') || {}).textContent || '',
    (block.querySelector('.opblock-summary-path') || { getAttribute: () => '' }).getAttribute('data-path') || '',
    (block.querySelector('.opblock-summary-operation-id') || {}).textContent || ''
])"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_renders_every_public_operation_under_its_policy() {
    let gateway = Gateway::start();
    let client = reqwest::Client::new();
    let document: serde_json::Value = client
        .get(format!("{}/openapi.json", gateway.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = operations(&document);
    assert!(expected.len() >= 10, "{expected:?}");

    let out = generated_target_dir().join("reference-page");
    let profile = out.join(format!("profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(chromium())
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(&profile)
        .window_size(WIDTH, HEIGHT)
        .viewport(Viewport {
            width: WIDTH,
            height: HEIGHT,
            ..Viewport::default()
        })
        .arg("--hide-scrollbars")
        .build()
        .unwrap();
    let (mut browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
    let driver = tokio::spawn(async move { while handler.next().await.is_some() {} });

    let page = browser.new_page("about:blank").await.unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listeners = [
        collect::<EventConsoleApiCalled, _>(&page, &seen, |event, seen| {
            if matches!(
                event.r#type,
                ConsoleApiCalledType::Error | ConsoleApiCalledType::Warning
            ) {
                let args: Vec<String> = event
                    .args
                    .iter()
                    .map(|arg| {
                        arg.value
                            .as_ref()
                            .map(ToString::to_string)
                            .or_else(|| arg.description.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                seen.problems
                    .push(format!("console {:?}: {}", event.r#type, args.join(" ")));
            }
        })
        .await,
        collect::<EventEntryAdded, _>(&page, &seen, |event, seen| {
            let entry = &event.entry;
            let level = format!("{:?}", entry.level);
            if level != "Verbose" && level != "Info" {
                seen.problems
                    .push(format!("log {level} {:?}: {}", entry.source, entry.text));
            }
        })
        .await,
        collect::<EventExceptionThrown, _>(&page, &seen, |event, seen| {
            seen.problems
                .push(format!("exception: {:?}", event.exception_details));
        })
        .await,
        collect::<EventRequestWillBeSent, _>(&page, &seen, |event, seen| {
            seen.requests.push(event.request.url.clone());
        })
        .await,
    ];
    // The document's own report of each violation, besides the log entry.
    page.evaluate_on_new_document(
        "window.__violations = []; document.addEventListener('securitypolicyviolation', \
         e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));",
    )
    .await
    .unwrap();

    let url = format!("{}{DOCS}", gateway.base);
    page.goto(url.as_str()).await.expect("the page loads");
    // Swagger UI fetches the document and renders after the load: wait for every
    // operation (or a generous deadline, after which the comparison below says what is
    // missing).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rendered: Vec<(String, String, String)> = Vec::new();
    while Instant::now() < deadline {
        rendered = page.evaluate(RENDERED).await.unwrap().into_value().unwrap();
        if rendered.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rendered: BTreeSet<(String, String, String)> = rendered
        .into_iter()
        .map(|(method, path, id)| (method.to_uppercase(), path, id))
        .collect();
    assert_eq!(
        rendered, expected,
        "the page must show every operation of /openapi.json, and only those"
    );
    let title: String = page
        .evaluate("document.querySelector('.info .title').textContent")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    let info_title = document["info"]["title"].as_str().unwrap();
    assert!(title.starts_with(info_title), "{title:?} vs {info_title:?}");

    let png = page
        .screenshot(
            ScreenshotParams::builder()
                .format(CaptureScreenshotFormat::Png)
                .build(),
        )
        .await
        .unwrap();
    let violations: Vec<String> = page
        .evaluate("window.__violations")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    driver.abort();
    for listener in listeners {
        listener.abort();
    }
    let _ = std::fs::remove_dir_all(&profile);

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        violations.is_empty() && seen.problems.is_empty(),
        "CSP violations: {violations:#?}\nthe browser reported: {:#?}",
        seen.problems
    );
    let mut requested: BTreeSet<&str> = BTreeSet::new();
    for request in &seen.requests {
        let local = request.starts_with(&format!("{}/", gateway.base))
            || request.starts_with("data:")
            || request == "about:blank";
        assert!(local, "the page requested {request}, not the gateway");
        requested.insert(request.as_str());
    }
    // The page, its four files and the document: what the checks above ran on.
    assert!(
        requested.contains(format!("{}/openapi.json", gateway.base).as_str())
            && requested.iter().filter(|r| r.contains("/docs")).count() == 5,
        "{requested:#?}"
    );

    // A PNG of the viewport: width and height are the IHDR's first two fields.
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (WIDTH, HEIGHT));
    write_screenshot(&out, &png);

    // Counted like /openapi.json: one series under the page's path.
    let metrics = client
        .get(format!("{}/metrics", gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served =
        format!("gateway_requests_total{{route=\"{DOCS}\",method=\"GET\",status_class=\"2xx\"}} ");
    let count: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(&served))
        .unwrap_or_else(|| panic!("no {served} in:\n{metrics}"))
        .parse()
        .unwrap();
    assert!(count >= 5, "{count}");
}

fn write_screenshot(out: &Path, png: &[u8]) {
    std::fs::write(out.join("api-reference.png"), png).unwrap();
    if bless() {
        std::fs::write(workspace().join("docs/images/api-reference.png"), png).unwrap();
    }
}

/// The page's headers, as any client sees them: the policy, caching by version and by
/// `ETag`, and 405 for other methods.
#[tokio::test]
async fn the_page_and_its_files_are_cached_and_locked_down() {
    let gateway = Gateway::start();
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}{DOCS}", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} not in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = page.text().await.unwrap();

    // The renderer's files are named by its version: cached for good.
    let bundle = html
        .split('"')
        .find(|part| part.starts_with("docs/swagger-ui-") && part.ends_with(".js"))
        .unwrap_or_else(|| panic!("no bundle in {html}"));
    let response = client
        .get(format!("{}/{bundle}", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = response.headers()["etag"].clone();
    assert!(response.bytes().await.unwrap().len() > 1_000_000);
    let revalidated = client
        .get(format!("{}/{bundle}", gateway.base))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], etag);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    // Public like /openapi.json, and like it only for GET.
    let post = client
        .post(format!("{}{DOCS}", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET");
    let missing = client
        .get(format!("{}{DOCS}/nothing.js", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
