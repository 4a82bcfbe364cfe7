//! The example's generated validator of `createOrder` bodies (`NewOrder`) against a
//! compiled `jsonschema` validator of the same schema (taken from the example's public
//! `openapi.json`, the normalized document the gateway compiled, spelled in JSON Schema as
//! the differential test does), on a valid ~1 KB and ~100 KB order, both already parsed;
//! and, separately, what parsing with the gateway's parser costs.
//!
//! `cargo bench --manifest-path bench/validators/Cargo.toml`

#![allow(dead_code, clippy::all, unreachable_pub)]

#[path = "../../../tests/oracle.rs"]
mod oracle;
#[path = "../../../examples/ecommerce/generated/src/orders.rs"]
#[rustfmt::skip]
mod orders;
#[path = "../../../examples/ecommerce/generated/src/payments.rs"]
#[rustfmt::skip]
mod payments;
#[path = "../../../examples/ecommerce/generated/src/routes.rs"]
#[rustfmt::skip]
mod routes;
#[path = "../../../examples/ecommerce/generated/src/users.rs"]
#[rustfmt::skip]
mod users;

use std::sync::LazyLock;

use divan::{Bencher, black_box};
use gateway_runtime::json::{BodyErrors, Pointer, Validate, Value};
use serde_json::json;

fn main() {
    for (name, body) in [("1KB", &*SMALL), ("100KB", &*LARGE)] {
        assert!(gateway_valid(body), "the {name} order is valid");
        assert!(
            ORACLE.is_valid(body),
            "the {name} order is valid for jsonschema"
        );
        println!("{name} order: {} bytes", body.to_string().len());
    }
    divan::main();
}

/// An order of `items` lines and `tags` tags, with a note: valid against `NewOrder`.
fn order(items: usize, tags: usize) -> Value {
    json!({
        "items": (0..items)
            .map(|i| json!({ "sku": format!("BOK-{:04}", i % 10_000), "quantity": 1 + i % 99 }))
            .collect::<Vec<_>>(),
        "shipping_address_id": 7,
        "currency": "EUR",
        "note": "Gift wrap, please; leave at the door if nobody answers.",
        "tags": (0..tags).map(|i| format!("tag-{i:06}")).collect::<Vec<_>>(),
    })
}

/// ~1 KB: 20 lines, 10 tags.
static SMALL: LazyLock<Value> = LazyLock::new(|| order(20, 10));
/// ~100 KB: 100 lines (the schema's maximum), 7,500 unique tags.
static LARGE: LazyLock<Value> = LazyLock::new(|| order(100, 7_500));

/// The gateway's validator of `createOrder`, from its route table.
static GATEWAY: LazyLock<Validate> = LazyLock::new(|| {
    let route = routes::GATEWAY
        .routes
        .iter()
        .find(|r| r.operation_id == "createOrder")
        .unwrap();
    let gateway_runtime::BodySpec::Declared { validators, .. } = route.body else {
        unreachable!()
    };
    validators[0].1
});

fn gateway_valid(value: &Value) -> bool {
    let mut errors = BodyErrors::new();
    GATEWAY(value, &mut Pointer::new(), &mut errors);
    errors.is_empty()
}

static ORACLE: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let text = include_str!("../../../examples/ecommerce/generated/openapi.json");
    let document: Value = serde_json::from_str(text).unwrap();
    // The orders spec is OpenAPI 3.1: JSON Schema 2020-12.
    oracle::oracle(&document, "/components/schemas/NewOrder", false, "NewOrder")
});

fn input(size: &str) -> &'static Value {
    if size == "1KB" { &SMALL } else { &LARGE }
}

#[divan::bench(args = ["1KB", "100KB"])]
fn generated(bencher: Bencher, size: &str) {
    let value = input(size);
    bencher.bench(|| gateway_valid(black_box(value)));
}

#[divan::bench(args = ["1KB", "100KB"])]
fn jsonschema(bencher: Bencher, size: &str) {
    let value = input(size);
    let validator = &*ORACLE;
    bencher.bench(|| validator.is_valid(black_box(value)));
}

/// What the gateway does before validating: parse the body.
#[divan::bench(args = ["1KB", "100KB"])]
fn parse(bencher: Bencher, size: &str) {
    let text = input(size).to_string();
    bencher.bench(|| gateway_runtime::json::parse(black_box(text.as_bytes())).is_ok());
}
