//! Differential test: the example's generated body validators against the `jsonschema`
//! crate as an oracle, on proptest-driven instances of every JSON request body schema of
//! `examples/ecommerce`.
//!
//! The validators are the committed example's own source files, compiled into this test
//! and reached through its route table (`routes::GATEWAY`), so they are exactly what the
//! gateway runs. The oracle never sees the compiler's rewrite of OpenAPI 3.1 into 3.0 shape
//! (`cli/src/load/spec/normalize.rs`), so a bug there cannot be shared by both sides:
//! for a 3.1 spec it gets the spec file as written (JSON Schema 2020-12; its internal refs
//! resolved by `jsonschema` itself), for a 3.0 spec the bundled document `gateway` reads
//! (draft 4). Either way the OpenAPI-only keywords are spelled in JSON Schema (`nullable`
//! as `anyOf` with `null`, `int32`/`int64`/`float` as bounds, a required `readOnly`
//! property as not required in a request), and formats are checked
//! (`should_validate_formats`).
//!
//! Instances are built from the schema (near-valid: required properties, enum values,
//! pattern-shaped strings, in-range numbers), each node replaced with some probability by
//! a random JSON value, so that both verdicts occur (asserted). Each run draws a new seed
//! (or takes `PROPTEST_RNG_SEED`) and a failure names it, so it can be replayed.

#![allow(dead_code, clippy::all, unreachable_pub)]

#[path = "../examples/ecommerce/generated/src/orders.rs"]
#[rustfmt::skip]
mod orders;
#[path = "../examples/ecommerce/generated/src/payments.rs"]
#[rustfmt::skip]
mod payments;
#[path = "../examples/ecommerce/generated/src/routes.rs"]
#[rustfmt::skip]
mod routes;
#[path = "../examples/ecommerce/generated/src/users.rs"]
#[rustfmt::skip]
mod users;

mod oracle;

use openapi_gateway_runtime::json::{BodyErrors, Pointer};
use oracle::resolve;
use proptest::prelude::Rng;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Map, Value, json};

pub struct Body {
    pub operation_id: String,
    /// The document as `gateway` read it (3.0-shaped): what instances are generated from.
    pub document: Value,
    /// What the oracle reads: for a 3.1 spec the file as written, never normalized.
    pub oracle_document: Value,
    pub pointer: String,
    pub draft4: bool,
}

/// An OpenAPI 3.1 spec file as written: parsed, not bundled, not normalized. The example's
/// 3.1 spec is one file; a `$ref` to another file would need bundling, which is the
/// compiler's code again, so it is refused here.
fn as_written(file: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let document: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    fn external_ref(value: &Value) -> Option<&str> {
        match value {
            Value::Object(map) => map
                .get("$ref")
                .and_then(Value::as_str)
                .filter(|r| !r.starts_with('#'))
                .or_else(|| map.values().find_map(external_ref)),
            Value::Array(items) => items.iter().find_map(external_ref),
            _ => None,
        }
    }
    if let Some(reference) = external_ref(&document) {
        panic!(
            "{}: `$ref: {reference}` points into another file; the differential test reads 3.1 \
             specs as written and does not bundle them",
            file.display()
        );
    }
    document
}

pub fn bodies() -> Vec<Body> {
    gateway_tests::set_workspace_cwd();
    let mut sources = openapi_gateway_compiler::load::Sources::new();
    let mut diags = openapi_gateway_compiler::diag::Diagnostics::default();
    let loaded = openapi_gateway_compiler::load::load(
        std::path::Path::new("examples/ecommerce/gateway.yaml"),
        &mut sources,
        &mut diags,
    )
    .expect("the example loads");
    let mut bodies = Vec::new();
    for spec in &loaded.specs {
        let draft4 = spec.version == openapi_gateway_compiler::load::spec::SpecVersion::V30;
        let oracle_document = if draft4 {
            spec.document.clone()
        } else {
            as_written(&spec.file)
        };
        let paths = spec.document["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let Some(content) = operation
                    .get("requestBody")
                    .and_then(|b| b.get("content"))
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                if content
                    .get("application/json")
                    .and_then(|c| c.get("schema"))
                    .is_none()
                {
                    continue;
                }
                let escaped = path.replace('~', "~0").replace('/', "~1");
                let pointer = format!(
                    "/paths/{escaped}/{method}/requestBody/content/application~1json/schema"
                );
                assert!(
                    oracle_document.pointer(&pointer).is_some(),
                    "{}: no {pointer} in the spec as written",
                    spec.file.display()
                );
                bodies.push(Body {
                    operation_id: operation["operationId"].as_str().unwrap().to_owned(),
                    document: spec.document.clone(),
                    oracle_document: oracle_document.clone(),
                    pointer,
                    draft4,
                });
            }
        }
    }
    bodies
}

fn gateway_verdict(operation_id: &str, instance: &Value) -> bool {
    let route = routes::GATEWAY
        .routes
        .iter()
        .find(|r| r.operation_id == operation_id)
        .unwrap();
    let openapi_gateway_runtime::BodySpec::Declared { validators, .. } = route.body else {
        panic!("{operation_id} has no body");
    };
    let (_, validate) = validators
        .iter()
        .find(|(media, _)| *media == "application/json")
        .unwrap();
    // Parsed from text by the gateway's own parser, as a request body is.
    let text = instance.to_string();
    let mut copy = Vec::new();
    let value = openapi_gateway_runtime::json::parse(text.as_bytes(), &mut copy).unwrap();
    let mut errors = BodyErrors::new();
    validate(value.root(), &mut Pointer::new(), &mut errors);
    errors.is_empty()
}

/// Instances of a schema: near-valid, each node replaced by a random value with
/// probability `noise`.
struct Generator<'a> {
    runner: &'a mut TestRunner,
    document: &'a Value,
    noise: u64,
}

impl Generator<'_> {
    fn below(&mut self, n: u64) -> u64 {
        self.runner.rng().next_u64() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn regex(&mut self, pattern: &str) -> String {
        let strategy = proptest::string::string_regex(pattern).unwrap();
        strategy.new_tree(self.runner).unwrap().current()
    }

    fn random(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.chance(50)),
            2 => json!(self.below(2000) as i64 - 1000),
            3 => [
                json!(0.5),
                json!(1.0),
                json!(1e30),
                json!(-0.25),
                json!(19.99),
                json!(2147483648u64),
                json!(1e300),
            ][self.below(7) as usize]
                .clone(),
            4 => json!(self.regex("[a-zA-Z0-9 é@.:-]{0,12}")),
            5 => json!(
                ["", "ABC-1234", "a@b.co", "2024-01-01T00:00:00Z", "x"][self.below(5) as usize]
            ),
            6 => Value::Array((0..self.below(3)).map(|_| self.random(depth + 1)).collect()),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(3) {
                    let key = self.regex("[a-z_]{1,8}");
                    let value = self.random(depth + 1);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        }
    }

    fn instance(&mut self, schema: &Value, depth: usize) -> Value {
        if self.chance(self.noise) || depth > 8 {
            return self.random(depth);
        }
        let document = self.document;
        let schema = resolve(document, schema);
        if let Some(Value::Array(values)) = schema.get("enum") {
            return values[self.below(values.len() as u64) as usize].clone();
        }
        if schema.get("nullable") == Some(&json!(true)) && self.chance(10) {
            return Value::Null;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(list)) = schema.get(key) {
                let pick = &list[self.below(list.len() as u64) as usize];
                return self.instance(pick, depth + 1);
            }
        }
        if let Some(Value::Array(list)) = schema.get("allOf") {
            let mut merged = Map::new();
            for part in list {
                match self.instance(part, depth + 1) {
                    Value::Object(map) => merged.extend(map),
                    other => return other,
                }
            }
            if let Value::Object(own) = self.object(schema, depth) {
                merged.extend(own);
            }
            return Value::Object(merged);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.object(schema, depth),
            Some("array") => {
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let max = schema
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(min + 3);
                let n = min + self.below(max.min(min + 3) - min + 1);
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                Value::Array((0..n).map(|_| self.instance(&items, depth + 1)).collect())
            }
            Some("string") => json!(self.string(schema)),
            Some("integer") => {
                let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(-5);
                let max = schema
                    .get("maximum")
                    .and_then(Value::as_i64)
                    .unwrap_or(min + 100);
                let span = (max - min).clamp(0, 1000) as u64;
                json!(min + self.below(span + 1) as i64)
            }
            Some("number") => {
                let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
                json!(min + self.below(10_000) as f64 / 100.0)
            }
            Some("boolean") => json!(self.chance(50)),
            _ => self.random(depth),
        }
    }

    fn object(&mut self, schema: &Value, depth: usize) -> Value {
        let mut map = Map::new();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                if required.contains(&name.as_str()) || self.chance(50) {
                    let value = self.instance(property, depth + 1);
                    map.insert(name.clone(), value);
                }
            }
        }
        if self.chance(self.noise) {
            map.insert("unexpected".into(), json!(1));
        }
        Value::Object(map)
    }

    fn string(&mut self, schema: &Value) -> String {
        let pattern = match schema.get("format").and_then(Value::as_str) {
            Some("email") => "[a-z]{1,8}@[a-z]{1,8}\\.(com|org)".to_owned(),
            Some("uuid") => "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}".to_owned(),
            Some("date-time") => "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|\\+0[0-9]:00)".to_owned(),
            Some("date") => "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])".to_owned(),
            Some("uri") => "https://[a-z]{1,8}\\.(com|org)/[a-z0-9]{0,8}".to_owned(),
            _ => match schema.get("pattern").and_then(Value::as_str) {
                Some(pattern) => pattern.trim_start_matches('^').trim_end_matches('$').to_owned(),
                None => {
                    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                    let max = schema.get("maxLength").and_then(Value::as_u64).unwrap_or(min + 12);
                    format!("[a-zA-Z0-9 é]{{{min},{}}}", max.min(min + 12))
                }
            },
        };
        self.regex(&pattern)
    }
}

/// These tests run the committed example: it must be what the compiler generates today.
#[test]
fn the_committed_example_is_up_to_date() {
    gateway_tests::assert_example_up_to_date();
}

#[test]
fn generated_validators_agree_with_jsonschema() {
    let bodies = bodies();
    assert!(
        bodies.len() >= 6,
        "the example's JSON bodies: {}",
        bodies.len()
    );
    // Every run draws new instances; a failure names its seed, and PROPTEST_RNG_SEED=<seed>
    // replays exactly that run.
    let config = Config::default();
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    println!("seed {seed} (PROPTEST_RNG_SEED={seed} replays this run)");
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..config
    });
    let (mut valid, mut invalid) = (0, 0);
    let mut disagreements = Vec::new();
    let mut counts = Vec::new();
    for body in &bodies {
        let oracle = oracle::oracle(
            &body.oracle_document,
            &body.pointer,
            body.draft4,
            &body.operation_id,
        );
        let schema = body.document.pointer(&body.pointer).unwrap().clone();
        let (mut body_valid, mut body_invalid) = (0, 0);
        for i in 0..400u64 {
            let mut generator = Generator {
                runner: &mut runner,
                document: &body.document,
                noise: [0, 2, 5, 10][(i % 4) as usize],
            };
            let instance = generator.instance(&schema, 0);
            let expected = oracle.is_valid(&instance);
            let actual = gateway_verdict(&body.operation_id, &instance);
            if expected {
                body_valid += 1;
            } else {
                body_invalid += 1;
            }
            if expected != actual {
                disagreements.push(format!(
                    "{}: {instance}: jsonschema says {expected}, the gateway {actual}",
                    body.operation_id
                ));
            }
        }
        println!(
            "{}: {body_valid} valid, {body_invalid} invalid instances",
            body.operation_id
        );
        counts.push((&body.operation_id, body_valid, body_invalid));
        valid += body_valid;
        invalid += body_invalid;
    }
    println!("{valid} valid and {invalid} invalid instances in all");
    assert!(
        disagreements.is_empty(),
        "{} disagreements (replay with PROPTEST_RNG_SEED={seed}):\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    for (operation_id, body_valid, body_invalid) in counts {
        assert!(
            body_valid > 0 && body_invalid > 0,
            "{operation_id}: both verdicts must occur ({body_valid} valid, {body_invalid} invalid; \
             replay with PROPTEST_RNG_SEED={seed})"
        );
    }
}
