//! What a `pattern` costs on a hostile value as the value grows: the engine the runtime
//! picks (`Pattern`) against `regress`, which matched every such pattern before issue 11.
//! Backtracking shows as a time per byte that grows with the value; linear matching as a
//! flat one.
//!
//! `cargo bench -p openapi-gateway-runtime --bench pattern` (plain `main`, no harness: each case
//! runs at least 0.3 s of calls, or one call if that is longer).

use std::hint::black_box;
use std::time::{Duration, Instant};

use openapi_gateway_runtime::json::Pattern;

/// Patterns and values that make a backtracking engine try each start with each split.
const CASES: [(&str, &str, char); 3] = [
    ("email-like", r"^\S+@\S+\.\S+$", 'a'),
    ("digits then x", r"[0-9]+x", '1'),
    ("nested plus", r"(a+)+b", 'a'),
];

const SIZES: [usize; 5] = [1 << 10, 1 << 13, 1 << 14, 1 << 15, 1 << 20];
/// `regress` past this size would run for minutes (extrapolated in bench/README.md).
const BACKTRACKING_MAX: usize = 1 << 15;

/// Seconds a call takes, averaged over at least 0.3 s.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed() < Duration::from_millis(300) {
        f();
        calls += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(calls)
}

fn main() {
    println!("| pattern | bytes | engine | time a call | ns a byte | backtracking (regress) |");
    println!("|---|---:|---|---:|---:|---:|");
    for (name, source, fill) in CASES {
        // Exponential for `(a+)+b`: only short values are measured on `regress` there.
        let backtracking_max = if name == "nested plus" {
            24
        } else {
            BACKTRACKING_MAX
        };
        let pattern = Pattern::new(source, "u");
        let regress = regress::Regex::with_flags(source, "u").unwrap();
        for size in SIZES {
            let value: String = std::iter::repeat_n(fill, size).collect();
            let after = time(|| {
                black_box(pattern.is_match(black_box(&value)));
            });
            let before = if size <= backtracking_max {
                let before = time(|| {
                    black_box(regress.find(black_box(&value)).is_some());
                });
                format!("{:.3} ms", before * 1e3)
            } else {
                "-".to_owned()
            };
            println!(
                "| `{source}` | {size} | {:?} | {:.3} ms | {:.2} | {before} |",
                pattern.engine(),
                after * 1e3,
                after * 1e9 / size as f64
            );
        }
    }
    // `(a+)+b` on `regress`: time doubles with each character.
    let regress = regress::Regex::with_flags(r"(a+)+b", "u").unwrap();
    for n in [12, 14, 16, 18] {
        let value = "a".repeat(n);
        let t = time(|| {
            black_box(regress.find(black_box(&value)).is_some());
        });
        println!("regress `(a+)+b` on {n} a's: {:.3} ms", t * 1e3);
    }
}
