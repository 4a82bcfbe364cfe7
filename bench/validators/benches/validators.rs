//! The example's generated validator of `createOrder` bodies (`NewOrder`) against a
//! compiled `jsonschema` validator of the same schema (taken from the example's public
//! `openapi.json`, the normalized document the gateway compiled, spelled in JSON Schema as
//! the differential test does), on a valid ~1 KB and ~100 KB order: each on the body as
//! its library parsed it (`generated`, `jsonschema`), and each from the body's bytes,
//! parsing included (`generated_from_bytes`: the gateway's tape; `jsonschema_from_bytes`:
//! `serde_json::Value`), which is what a gateway pays per request.
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
use openapi_gateway_runtime::json::{BodyErrors, Document, Pointer, Validate};
use serde_json::{Value, json};

fn main() {
    for size in ["1KB", "100KB"] {
        let (value, text, _) = input(size);
        assert!(gateway_valid(&parsed(size)), "the {size} order is valid");
        assert!(
            ORACLE.is_valid(value),
            "the {size} order is valid for jsonschema"
        );
        println!("{size} order: {} bytes", text.len());
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

/// An order as a `serde_json::Value` (what `jsonschema` reads), as text (a request body),
/// and parsed by the gateway.
type Input = (Value, String, Document<'static>);

fn prepared(value: Value) -> Input {
    let text = value.to_string();
    let copy: &'static mut Vec<u8> = Box::leak(Box::default());
    let document = openapi_gateway_runtime::json::parse(text.as_bytes(), copy).unwrap();
    (value, text, document)
}

/// ~1 KB: 20 lines, 10 tags.
static SMALL: LazyLock<Input> = LazyLock::new(|| prepared(order(20, 10)));
/// ~100 KB: 100 lines (the schema's maximum), 7,500 unique tags.
static LARGE: LazyLock<Input> = LazyLock::new(|| prepared(order(100, 7_500)));

fn input(size: &str) -> &'static Input {
    if size == "1KB" { &SMALL } else { &LARGE }
}

fn parsed(size: &str) -> &'static Document<'static> {
    &input(size).2
}

/// The gateway's validator of `createOrder`, from its route table.
static GATEWAY: LazyLock<Validate> = LazyLock::new(|| {
    let route = routes::GATEWAY
        .routes
        .iter()
        .find(|r| r.operation_id == "createOrder")
        .unwrap();
    let openapi_gateway_runtime::BodySpec::Declared { validators, .. } = route.body else {
        unreachable!()
    };
    validators[0].1
});

fn gateway_valid(document: &Document<'_>) -> bool {
    let mut errors = BodyErrors::new();
    GATEWAY(document.root(), &mut Pointer::new(), &mut errors);
    errors.is_empty()
}

static ORACLE: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let text = include_str!("../../../examples/ecommerce/generated/openapi.json");
    let document: Value = serde_json::from_str(text).unwrap();
    // The orders spec is OpenAPI 3.1: JSON Schema 2020-12.
    oracle::oracle(&document, "/components/schemas/NewOrder", false, "NewOrder")
});

/// The generated validator on a parsed body.
#[divan::bench(args = ["1KB", "100KB"])]
fn generated(bencher: Bencher, size: &str) {
    let document = parsed(size);
    bencher.bench(|| gateway_valid(black_box(document)));
}

/// `jsonschema` on a parsed body (`serde_json::Value`).
#[divan::bench(args = ["1KB", "100KB"])]
fn jsonschema(bencher: Bencher, size: &str) {
    let value = &input(size).0;
    let validator = &*ORACLE;
    bencher.bench(|| validator.is_valid(black_box(value)));
}

/// What the gateway does with a body: parse it, then validate it.
#[divan::bench(args = ["1KB", "100KB"])]
fn generated_from_bytes(bencher: Bencher, size: &str) {
    let text = &input(size).1;
    bencher.bench(|| {
        let mut copy = Vec::new();
        let document = openapi_gateway_runtime::json::parse(black_box(text.as_bytes()), &mut copy).unwrap();
        gateway_valid(&document)
    });
}

/// The same with `jsonschema`: `serde_json::from_slice`, then `is_valid`.
#[divan::bench(args = ["1KB", "100KB"])]
fn jsonschema_from_bytes(bencher: Bencher, size: &str) {
    let text = &input(size).1;
    let validator = &*ORACLE;
    bencher.bench(|| {
        let value: Value = serde_json::from_slice(black_box(text.as_bytes())).unwrap();
        validator.is_valid(&value)
    });
}

/// The gateway's parse alone.
#[divan::bench(args = ["1KB", "100KB"])]
fn parse(bencher: Bencher, size: &str) {
    let text = &input(size).1;
    bencher.bench(|| {
        let mut copy = Vec::new();
        openapi_gateway_runtime::json::parse(black_box(text.as_bytes()), &mut copy).is_ok()
    });
}
