//! `gateway dev` end to end, run as a developer runs it: the `gateway` binary on a copy of
//! a manifest and its specs, in the shared target folder. The gateway it builds must
//! answer through its mocks with the specs' own examples, honour `Prefer`, accept the
//! credentials it prints and refuse requests without them, reload when a spec changes,
//! keep serving through a broken edit, and leave nothing running after Ctrl-C.
//!
//! Every wait polls with a deadline; none is an assertion on time.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gateway_tests::{generated_target_dir, workspace};
use serde_json::{Value, json};

/// The first build may compile the runtime's whole dependency stack (on CI's two cores).
const FIRST_BUILD: Duration = Duration::from_secs(30 * 60);
/// A reload rebuilds only the generated crate.
const RELOAD: Duration = Duration::from_secs(10 * 60);

/// This workspace's `gateway`, built by cargo (fresh when `cargo test` built it already).
fn gateway_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace())
            .args([
                "build",
                "-p",
                "openapi-gateway-compiler",
                "--bin",
                "gateway",
            ])
            .args(["--message-format=json-render-diagnostics", "--quiet"])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building gateway failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|m| {
                (m["target"]["name"] == "gateway")
                    .then(|| m["executable"].as_str().map(PathBuf::from))
                    .flatten()
            })
            .expect("cargo names the gateway executable")
    })
}

/// A scratch copy of `from` (a manifest's folder): what is under test is edited there.
fn copy_folder(from: &Path, name: &str, skip: &[&str]) -> PathBuf {
    let to = std::env::temp_dir().join(format!("gateway-dev-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    for file in gateway_tests::files_under(from) {
        let relative = file.strip_prefix(from).unwrap();
        if skip.iter().any(|s| relative.starts_with(s)) {
            continue;
        }
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    to
}

/// A running `gateway dev`, its output collected as it comes.
struct Dev {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Dev {
    fn start(manifest: &Path) -> Dev {
        let mut child = Command::new(gateway_binary())
            .arg("dev")
            .arg("--manifest")
            .arg(manifest)
            .args(["--port", "0"])
            .env("CARGO_TARGET_DIR", generated_target_dir())
            // As for every generated crate the tests build: the workspace's flags would
            // change every fingerprint of the shared target folder.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("GATEWAY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gateway dev starts");
        let collect = |stream: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let into = text.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut text = into.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
            text
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Dev { child, out, err }
    }

    fn out(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn err(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Polls until `done(stdout, stderr)`; fails with both on the deadline or on exit.
    fn wait_for(&mut self, what: &str, limit: Duration, done: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.out(), &self.err()) {
                return;
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "waiting for {what}: gateway dev {}\n--- stdout\n{}\n--- stderr\n{}",
                match exited {
                    Some(status) => format!("exited ({status})"),
                    None => "gave up".to_owned(),
                },
                self.out(),
                self.err()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text after `prefix` on the first line of stdout that has it.
    fn printed(&self, prefix: &str) -> String {
        self.out()
            .lines()
            .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest.to_owned()))
            .unwrap_or_else(|| panic!("gateway dev printed no `{prefix}`:\n{}", self.out()))
    }

    /// The base URL of the gateway (`serving <name> on http://...`).
    fn base(&self) -> String {
        let line = self.printed(" on http://");
        format!("http://{}", line.split_whitespace().next().unwrap())
    }

    fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway dev did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    /// A failed test still stops the gateway: SIGINT lets `gateway dev` stop it.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.interrupt();
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// One request; (status, body).
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    runtime().block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn yaml(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn refused(url: &str) -> bool {
    let address = url.trim_start_matches("http://");
    let address = address.split('/').next().unwrap();
    TcpStream::connect(address).is_err()
}

/// The counted response-validation failures on `/metrics` (0 when none were counted).
fn validation_failures(admin: &str) -> f64 {
    let (status, text) = send("GET", &format!("{admin}/metrics"), &[], None);
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with("gateway_response_validation_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn dev_serves_the_example_from_its_specs_and_reloads_on_changes() {
    let dir = copy_folder(
        &workspace().join("examples/ecommerce"),
        "ecommerce",
        &["generated", ".gateway"],
    );
    let orders_spec = dir.join("specs/orders.yaml");
    let mut dev = Dev::start(&dir.join("gateway.yaml"));
    dev.wait_for("the first gateway", FIRST_BUILD, |out, _| {
        out.contains("watching the manifest")
    });
    let base = dev.base();
    let admin = format!(
        "http://{}",
        dev.printed("(admin http://").split(')').next().unwrap()
    );
    let bearer = dev.printed("  token bearerAuth: ");
    let api_key = dev.printed("  api key apiKey: ");
    assert!(dev.out().contains("DEVELOPMENT ONLY"), "{}", dev.out());

    // The spec's own examples, through the gateway.
    let orders = yaml(&orders_spec);
    let product = &orders["paths"]["/products/{sku}"]["get"]["responses"];
    let book = &product["200"]["content"]["application/json"]["examples"]["book"]["value"];
    let (status, body) = send("GET", &format!("{base}/api/products/BOK-0042"), &[], None);
    assert_eq!((status, json_of(&body)), (200, book.clone()));
    let kettle = &product["200"]["content"]["application/json"]["examples"]["kettle"]["value"];
    let (status, body) = send(
        "GET",
        &format!("{base}/api/products/KIT-17000"),
        &[("Prefer", "example=kettle")],
        None,
    );
    assert_eq!((status, json_of(&body)), (200, kettle.clone()));

    // `Prefer: code=404` answers with the spec's 404 (a shared response's example).
    let not_found = &orders["components"]["responses"]["NotFound"]["content"]["application/problem+json"]
        ["example"];
    let (status, body) = send(
        "GET",
        &format!("{base}/api/products/BOK-0042"),
        &[("Prefer", "code=404")],
        None,
    );
    assert_eq!((status, json_of(&body)), (404, not_found.clone()));
    // Prism's query spelling, which the gateway passes on like any query parameter.
    let (status, body) = send(
        "GET",
        &format!("{base}/api/products/BOK-0042?__code=404"),
        &[],
        None,
    );
    assert_eq!((status, json_of(&body)), (404, not_found.clone()));

    // Secured routes: refused without the printed credentials, served with them.
    let users = yaml(&dir.join("specs/users.yaml"));
    let user = &users["components"]["schemas"]["User"]["example"];
    let url = format!("{base}/api/users/1042");
    assert_eq!(send("GET", &url, &[], None).0, 401);
    let authorization = format!("Bearer {bearer}");
    let (status, body) = send("GET", &url, &[("Authorization", &authorization)], None);
    assert_eq!((status, json_of(&body)), (200, user.clone()));
    let capture = format!("{base}/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11/capture");
    assert_eq!(send("POST", &capture, &[], None).0, 401);
    let (status, body) = send("POST", &capture, &[("X-Api-Key", &api_key)], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["status"], "authorized");
    // The HTTP Basic user it made, hashed into PROVIDER_USERS.
    let login = dev.printed("  user providerBasic: ");
    let (user, password) = login.split_once(':').unwrap();
    assert_eq!(user, "dev");
    let notifications = format!("{base}/api/payments/notifications");
    let notification = r#"{"event":"CAPTURE","paymentReference":"psp-1"}"#;
    let json = ("Content-Type", "application/json");
    let basic = |credentials: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    };
    for (credentials, expected) in [(login.clone(), 202), (format!("{user}:x{password}"), 401)] {
        let authorization = basic(&credentials);
        let headers = [json, ("Authorization", authorization.as_str())];
        let (status, body) = send("POST", &notifications, &headers, Some(notification));
        assert_eq!(status, expected, "{credentials}: {body}");
    }

    // Values made from the schemas (no example, or `dynamic=true`) keep the spec: the
    // gateway validates every response and counts what breaks it.
    let secured = [("Authorization", authorization.as_str())];
    for seed in 0..8 {
        let prefer = format!("dynamic=true, seed={seed}");
        for path in [
            "/api/products",
            "/api/products/BOK-0042",
            "/api/products/BOK-0042/reviews/3",
            "/api/orders",
            "/api/orders/5001",
            "/api/orders/5001/items",
            "/api/users/1042",
            "/api/users/1042/addresses",
            "/api/payments/3f0c8a52-6f0e-4c55-9d86-0b1f3b6f2a11",
            "/api/payment-methods?country=DE",
        ] {
            let mut headers = secured.to_vec();
            headers.push(("Prefer", &prefer));
            let (status, body) = send("GET", &format!("{base}{path}"), &headers, None);
            assert_eq!(status, 200, "{path} {prefer}: {body}");
        }
    }
    assert_eq!(
        validation_failures(&admin),
        0.0,
        "a mock answer broke its spec:\n{}",
        dev.out()
    );

    // An edit of an example is served after the reload.
    let text = std::fs::read_to_string(&orders_spec).unwrap();
    let edited = text.replace(
        "The Analytical Engine, annotated",
        "The Analytical Engine, 2nd edition",
    );
    assert_ne!(text, edited);
    std::fs::write(&orders_spec, &edited).unwrap();
    dev.wait_for("the reload", RELOAD, |out, _| out.contains("reloaded in"));
    let (status, body) = send("GET", &format!("{base}/api/products/BOK-0042"), &[], None);
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["name"], "The Analytical Engine, 2nd edition");

    // A broken spec: its diagnostic is printed and the gateway keeps serving.
    let before = dev.err().len();
    std::fs::write(&orders_spec, format!("{edited}\nbroken: {{\n")).unwrap();
    dev.wait_for("the syntax error", RELOAD, |_, err| {
        let new = &err[before.min(err.len())..];
        new.contains("gateway::spec::syntax")
            && new.contains("orders.yaml")
            && new.contains("not reloaded")
    });
    let (status, body) = send("GET", &format!("{base}/api/products/BOK-0042"), &[], None);
    assert_eq!(
        (status, json_of(&body)["name"].clone()),
        (200, json!("The Analytical Engine, 2nd edition"))
    );

    // Fixed, it reloads; a manifest error then keeps that gateway too.
    std::fs::write(&orders_spec, &edited).unwrap();
    dev.wait_for("the second reload", RELOAD, |out, _| {
        out.matches("reloaded in").count() == 2
    });
    let manifest = dir.join("gateway.yaml");
    let before = dev.err().len();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("base_path: /api", "base_path: api")).unwrap();
    dev.wait_for("the manifest error", RELOAD, |_, err| {
        let new = &err[before.min(err.len())..];
        new.contains("gateway::manifest::")
            && new.contains("gateway.yaml")
            && new.contains("not reloaded")
    });
    assert_eq!(
        send("GET", &format!("{base}/api/products/BOK-0042"), &[], None).0,
        200
    );
    let mocks: Vec<String> = dev
        .out()
        .lines()
        .filter(|l| l.contains("specs/") && l.contains("http://127.0.0.1:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(mocks.len(), 3, "{}", dev.out());

    // Ctrl-C stops gateway dev, its gateway and its mocks.
    let status = dev.interrupt();
    assert!(status.success(), "{status}\n{}", dev.err());
    assert!(dev.out().contains("gateway dev: stopped"));
    assert!(
        refused(&base),
        "the gateway still listens after gateway dev stopped"
    );
    for mock in &mocks {
        assert!(refused(mock), "the mock at {mock} still listens");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// fixtures/valid/basic reads a key file, API keys from a variable and a JWKS from a
/// literal URL, and counts rate limits in Redis: `gateway dev` starts it without any of
/// them, and each scheme takes the credential it prints (the JWKS one through the JWKS
/// `gateway dev` serves). The printed `curl` line is sent as it is.
#[test]
fn dev_gives_every_kind_of_scheme_key_material_and_a_credential() {
    let dir = copy_folder(
        &workspace().join("fixtures/valid/basic"),
        "basic",
        &["expected"],
    );
    let mut dev = Dev::start(&dir.join("gateway.yaml"));
    dev.wait_for("the first gateway", FIRST_BUILD, |out, _| {
        out.contains("watching the manifest")
    });
    let base = dev.base();
    let out = dev.out();
    assert!(
        out.contains("/jwks/partner.json in the development build"),
        "{out}"
    );
    assert!(out.contains("rate limits are counted in memory"), "{out}");
    // The printed line for POST /v1/catalog/items: its URL, headers and body, as curl
    // would send them.
    let line = out
        .lines()
        .find(|l| l.contains("curl -i -X POST") && l.contains("/v1/catalog/items'"))
        .unwrap_or_else(|| panic!("no curl line for POST /v1/catalog/items:\n{out}"));
    let parts: Vec<&str> = line.split('\'').collect();
    let url = parts[1];
    let headers: Vec<(&str, &str)> = parts
        .iter()
        .skip(3)
        .step_by(2)
        .filter_map(|h| h.split_once(": "))
        .collect();
    let body = line
        .rsplit_once(" -d '")
        .map(|(_, b)| b.trim_end_matches('\''));
    let (status, answer) = send("POST", url, &headers, body);
    assert!((200..300).contains(&status), "{line}\n{status} {answer}");
    let body_only: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .filter(|(name, _)| *name != "Authorization")
        .collect();
    assert_eq!(send("POST", url, &body_only, body).0, 401);
    // The API key goes where the printed note says (`(header `x-api-key`, ...)`).
    let key_header = out
        .split("  api key key: ")
        .nth(1)
        .and_then(|rest| rest.split('`').nth(1))
        .unwrap_or_else(|| panic!("no API key for `key`:\n{out}"))
        .to_owned();
    for scheme in ["partner", "key"] {
        let credential = if scheme == "key" {
            (key_header.clone(), dev.printed("  api key key: "))
        } else {
            (
                "Authorization".to_owned(),
                format!("Bearer {}", dev.printed("  token partner: ")),
            )
        };
        let mut with = body_only.clone();
        with.push((credential.0.as_str(), credential.1.as_str()));
        let (status, answer) = send("POST", url, &with, body);
        assert!((200..300).contains(&status), "{scheme}: {status} {answer}");
    }
    let status = dev.interrupt();
    assert!(status.success());
    assert!(refused(&base));
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/cli.md's flag table lists exactly the flags of `gateway dev --help`.
#[test]
fn the_docs_list_the_flags_of_gateway_dev() {
    let (code, help, _) = gateway_tests::gateway(&["dev", "--help"]);
    assert_eq!(code, 0);
    let mut flags: Vec<String> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && *w != "--help")
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect();
    flags.sort();
    flags.dedup();
    let doc = gateway_tests::markdown::Markdown::read("docs/cli.md");
    let table = doc.table(&["flag", "default", "meaning"]);
    let mut documented: Vec<String> = table
        .rows
        .iter()
        .map(|row| row.cells[0].trim_matches('`').to_owned())
        .collect();
    documented.sort();
    assert_eq!(
        flags, documented,
        "docs/cli.md, `gateway dev`: the flag table is stale"
    );
}
