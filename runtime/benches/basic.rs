//! HTTP Basic: what a password check costs, and whether an unknown user answers in the
//! time of a wrong password (it must: the time must not tell which users exist).
//!
//! `cargo bench -p openapi-gateway-runtime --bench basic` (plain `main`, no harness): users
//! hashed with bcrypt at cost 10 (`htpasswd -B`'s default is 5; 10-12 is usual), then
//! ROUNDS rounds that each time one wrong password of a known user and one unknown user,
//! alternating which goes first; it prints the mean CPU and wall time per check of each,
//! their ratio, and the cost of a remembered credential.

use std::borrow::Cow;
use std::time::Instant;

use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use openapi_gateway_runtime::Requirement;
use openapi_gateway_runtime::auth::{Basic, KeySource, Scheme, SchemeKind, Verifiers};

const ROUNDS: u32 = 40;
const COST: u32 = 10;

static BASIC: Basic = Basic {
    users: KeySource::Env("USERS"),
    forward_authorization: false,
};
static SCHEMES: [Scheme; 1] = [Scheme {
    name: "basic",
    kind: SchemeKind::Basic(&BASIC),
}];
static REQUIRE: [&[Requirement]; 1] = [&[Requirement {
    scheme: "basic",
    scopes: &[],
}]];

/// This process's user + system CPU time, all threads (the hash runs on the blocking pool).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn login(credentials: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
    );
    headers
}

fn main() {
    let users: String = ["alice", "bob", "carol"]
        .iter()
        .map(|user| {
            format!(
                "{user}:{}\n",
                bcrypt::hash(format!("{user}-pw"), COST).unwrap()
            )
        })
        .collect();
    let verifiers = Verifiers::load(&SCHEMES, |_| Ok(users.clone())).expect("bench users");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let query: &[(Cow<'_, str>, Cow<'_, str>)] = &[];
    let check = |headers: &HeaderMap| {
        runtime.block_on(verifiers.settle("basic", headers));
        verifiers.authenticate(&REQUIRE, headers, query).is_ok()
    };
    let time = |headers: &HeaderMap| {
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let granted = check(headers);
        (cpu_seconds() - cpu, wall.elapsed().as_secs_f64(), granted)
    };
    let wrong = login("bob:bob-pw!");
    let unknown = login("mallory:bob-pw");
    // Warm-up: the blocking pool's threads, the caches.
    for _ in 0..3 {
        assert!(!check(&wrong) && !check(&unknown));
    }
    let (mut wrong_total, mut unknown_total) = ((0.0, 0.0), (0.0, 0.0));
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            [(&wrong, &mut wrong_total), (&unknown, &mut unknown_total)]
        } else {
            [(&unknown, &mut unknown_total), (&wrong, &mut wrong_total)]
        };
        for (headers, total) in order {
            let (cpu, wall, granted) = time(headers);
            assert!(!granted);
            total.0 += cpu;
            total.1 += wall;
        }
    }
    let per = |total: (f64, f64)| (total.0 / ROUNDS as f64 * 1e3, total.1 / ROUNDS as f64 * 1e3);
    let (wrong_cpu, wrong_wall) = per(wrong_total);
    let (unknown_cpu, unknown_wall) = per(unknown_total);
    println!("bcrypt cost {COST}, {ROUNDS} rounds, per check:");
    println!("  wrong password  {wrong_cpu:7.2} ms CPU  {wrong_wall:7.2} ms wall");
    println!("  unknown user    {unknown_cpu:7.2} ms CPU  {unknown_wall:7.2} ms wall");
    println!(
        "  unknown / wrong  CPU {:.3}  wall {:.3}",
        unknown_cpu / wrong_cpu,
        unknown_wall / wrong_wall
    );
    let right = login("alice:alice-pw");
    let (_, first, granted) = time(&right);
    assert!(granted);
    let calls = 100_000;
    let wall = Instant::now();
    for _ in 0..calls {
        assert!(verifiers.authenticate(&REQUIRE, &right, query).is_ok());
    }
    println!(
        "  right password: first check {:.2} ms wall, then remembered {:.2} µs per request",
        first * 1e3,
        wall.elapsed().as_secs_f64() * 1e6 / calls as f64
    );
}
