//! Values made from a JSON schema, for mock answers whose spec gives no example.
//!
//! Fixed mode is deterministic: the same schema always gives the same value, so a mock's
//! answers can be asserted on and diffed. Where the schema has one, it takes the schema's
//! own `example` (3.1 `examples` arrive normalized to it), then its `default`, then the
//! first `enum` value; otherwise a value of the schema's type that keeps its bounds,
//! lengths, `multipleOf`, `format` and (as far as `regex-syntax` reads it) `pattern`.
//! Objects get every property (`writeOnly` ones only when required), arrays one item or
//! `minItems`. `allOf` is merged before generating, `oneOf`/`anyOf` take their first
//! alternative (and set the `discriminator` property to name it).
//!
//! Random mode (`Prefer: dynamic=true`) ignores examples and defaults and draws every
//! choice from a seeded generator: optional properties, array lengths, alternatives,
//! numbers within bounds, strings within lengths. Nothing here is cryptographic.
//!
//! Unlike Prism's static mode, a `nullable` schema is given a value, not `null`: a value
//! shows more of the API. Recursion is cut at a fixed depth, past which only required
//! properties and `minItems` items are made.

use std::collections::BTreeSet;

use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value, json};

/// Past this depth objects get only their required properties and arrays `minItems`.
const SHALLOW_DEPTH: usize = 4;
/// Past this depth (a schema that requires itself) a value is cut off with `null`.
const MAX_DEPTH: usize = 16;
/// Most `$ref` hops followed from one schema.
const MAX_HOPS: usize = 32;

/// A small seeded generator (SplitMix64): fast, repeatable from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from text (`Prefer: seed=...`), FNV-1a.
    pub fn seed_of(text: &str) -> u64 {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (u128::from(self.next()) % span) as i128) as i64
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The value of a parameter, header or media type object (`entry`): its `example`, else
/// the first of its `examples`, else one made from its `schema`.
pub fn example_of(doc: &Value, entry: &Value) -> Option<Value> {
    entry
        .get("example")
        .or_else(|| {
            entry
                .get("examples")
                .and_then(Value::as_object)?
                .values()
                .map(|e| resolve(doc, e))
                .find_map(|e| e.get("value"))
        })
        .cloned()
        .or_else(|| entry.get("schema").map(|s| Generator::fixed(doc).value(s)))
}

/// Follows `$ref`s (local pointers into `doc`, the bundled document) to the schema itself.
pub fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..MAX_HOPS {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return value;
        };
        let pointer = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
        match doc.pointer(&pointer) {
            Some(target) => value = target,
            None => return value,
        }
    }
    value
}

/// Makes values from the schemas of one document.
pub struct Generator<'d> {
    doc: &'d Value,
    rng: Option<Rng>,
}

impl<'d> Generator<'d> {
    /// Deterministic values (examples first).
    pub fn fixed(doc: &'d Value) -> Generator<'d> {
        Generator { doc, rng: None }
    }

    /// Random values from `seed`, examples ignored.
    pub fn random(doc: &'d Value, seed: u64) -> Generator<'d> {
        Generator {
            doc,
            rng: Some(Rng::new(seed)),
        }
    }

    pub fn value(&mut self, schema: &Value) -> Value {
        self.at(schema, 0, 0)
    }

    /// `salt` varies leaf values, so the items of a `uniqueItems` array differ.
    fn at(&mut self, schema: &Value, depth: usize, salt: usize) -> Value {
        let doc = self.doc;
        let schema = resolve(doc, schema);
        let Some(map) = schema.as_object() else {
            return Value::Null;
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if self.rng.is_none() {
            if let Some(example) = map.get("example") {
                return example.clone();
            }
            if let Some(first) = map
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
            {
                return first.clone();
            }
            if let Some(default) = map.get("default") {
                return default.clone();
            }
        }
        if let Some(rng) = &mut self.rng
            && map.get("nullable") == Some(&Value::Bool(true))
            && rng.chance(8)
        {
            return Value::Null;
        }
        if let Some(values) = map
            .get("enum")
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
        {
            let index = match &mut self.rng {
                Some(rng) => rng.below(values.len() as u64) as usize,
                None => {
                    // Prefer a value over a `null` a nullable enum lists first.
                    let first = values.iter().position(|v| !v.is_null()).unwrap_or(0);
                    (first + salt) % values.len()
                }
            };
            return values[index].clone();
        }
        if map.contains_key("allOf") {
            let merged = merge_all_of(doc, map, 0);
            return self.at(&Value::Object(merged), depth, salt);
        }
        let alternatives = map
            .get("oneOf")
            .or_else(|| map.get("anyOf"))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        if let Some(alternatives) = alternatives {
            return self.alternative(map, alternatives, depth, salt);
        }
        match schema_type(map) {
            "object" => self.object(map, depth, salt),
            "array" => self.array(map, depth, salt),
            "string" => Value::String(self.string(map, salt)),
            "integer" => self.integer(map, salt),
            "number" => self.number(map, salt),
            "boolean" => Value::Bool(match &mut self.rng {
                Some(rng) => rng.chance(2),
                None => true,
            }),
            "null" => Value::Null,
            _ => json!({}),
        }
    }

    fn alternative(
        &mut self,
        map: &Map<String, Value>,
        alternatives: &[Value],
        depth: usize,
        salt: usize,
    ) -> Value {
        let index = match &mut self.rng {
            Some(rng) => rng.below(alternatives.len() as u64) as usize,
            None => 0,
        };
        let chosen = &alternatives[index];
        let mut value = self.at(chosen, depth + 1, salt);
        // Properties beside the alternatives belong to every one of them.
        if map.contains_key("properties")
            && let Value::Object(own) = {
                let mut rest = map.clone();
                rest.remove("oneOf");
                rest.remove("anyOf");
                rest.remove("discriminator");
                self.at(&Value::Object(rest), depth + 1, salt)
            }
            && let Value::Object(fields) = &mut value
        {
            for (key, v) in own {
                fields.entry(key).or_insert(v);
            }
        }
        if let Some(property) = map
            .get("discriminator")
            .and_then(|d| d.get("propertyName"))
            .and_then(Value::as_str)
            && let Value::Object(fields) = &mut value
        {
            let reference = chosen
                .get("$ref")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mapped = map
                .get("discriminator")
                .and_then(|d| d.get("mapping"))
                .and_then(Value::as_object)
                .and_then(|mapping| {
                    mapping
                        .iter()
                        .find(|(_, target)| target.as_str() == Some(reference))
                        .map(|(name, _)| name.clone())
                });
            let name = mapped.or_else(|| reference.rsplit('/').next().map(str::to_owned));
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                fields.insert(property.to_owned(), Value::String(name));
            }
        }
        value
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize, salt: usize) -> Value {
        let required: BTreeSet<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(properties) = map.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let is_required = required.contains(name.as_str());
                let write_only =
                    resolve(self.doc, property).get("writeOnly") == Some(&Value::Bool(true));
                let wanted = is_required
                    || (!write_only
                        && depth < SHALLOW_DEPTH
                        && match &mut self.rng {
                            Some(rng) => rng.chance(2),
                            None => true,
                        });
                if wanted {
                    let value = self.at(property, depth + 1, salt);
                    out.insert(name.clone(), value);
                }
            }
        }
        // Required names without a property schema, and `minProperties`, take extra members
        // where the schema allows them.
        let additional = map.get("additionalProperties");
        let extra_allowed = additional != Some(&Value::Bool(false));
        let extra_schema = additional
            .filter(|a| a.is_object())
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        for name in &required {
            if !out.contains_key(*name) && extra_allowed {
                let value = self.at(&extra_schema, depth + 1, salt);
                out.insert((*name).to_owned(), value);
            }
        }
        let min = map
            .get("minProperties")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let wants_one =
            out.is_empty() && additional.is_some_and(Value::is_object) && depth < SHALLOW_DEPTH;
        let mut n = 1;
        while extra_allowed && (out.len() < min || (wants_one && out.is_empty())) {
            let value = self.at(&extra_schema, depth + 1, salt);
            out.insert(format!("property{n}"), value);
            n += 1;
        }
        Value::Object(out)
    }

    fn array(&mut self, map: &Map<String, Value>, depth: usize, salt: usize) -> Value {
        let min = map.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = map
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let count = if depth >= SHALLOW_DEPTH {
            min
        } else {
            match &mut self.rng {
                Some(rng) => {
                    let hi = max.min(min.max(1) + 2);
                    rng.between(min as i64, hi as i64) as u64
                }
                None => min.max(1).min(max),
            }
        };
        let items = map.get("items").cloned().unwrap_or(json!({}));
        let unique = map.get("uniqueItems") == Some(&Value::Bool(true));
        let values = (0..count as usize)
            .map(|i| self.at(&items, depth + 1, if unique { salt + i } else { salt }))
            .collect();
        Value::Array(values)
    }

    fn string(&mut self, map: &Map<String, Value>, salt: usize) -> String {
        let min = map.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = map
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str)
            && let Some(text) = from_pattern(pattern, self.rng.as_mut())
        {
            return text;
        }
        let format = map
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text = match &mut self.rng {
            None => fixed_format(format, salt),
            Some(rng) => random_format(format, rng, min, max),
        };
        fit_length(text, min, max)
    }

    fn integer(&mut self, map: &Map<String, Value>, salt: usize) -> Value {
        let (lo, hi) = int_bounds(map);
        let step = map
            .get("multipleOf")
            .and_then(Value::as_i64)
            .filter(|m| *m > 0)
            .unwrap_or(1);
        let value = match &mut self.rng {
            Some(rng) => {
                let lo = lo.unwrap_or(if hi.is_some_and(|h| h < 0) {
                    hi.unwrap_or(0) - 1000
                } else {
                    0
                });
                let hi = hi.unwrap_or(lo.saturating_add(1000));
                rng.between(lo, hi)
            }
            None => {
                let base = lo.unwrap_or(if hi.is_some_and(|h| h < 0) {
                    hi.unwrap_or(0)
                } else {
                    0
                });
                base.saturating_add(salt as i64 * step)
            }
        };
        // Up to the next multiple, unless that leaves the bounds.
        let rounded = value.div_euclid(step).saturating_mul(step);
        let rounded = if rounded < value {
            rounded.saturating_add(step)
        } else {
            rounded
        };
        let value = if hi.is_some_and(|h| rounded > h) {
            rounded - step
        } else {
            rounded
        };
        let value = match hi {
            Some(h) if value > h => h,
            _ => value,
        };
        Value::from(value)
    }

    fn number(&mut self, map: &Map<String, Value>, salt: usize) -> Value {
        let (lo, lo_exclusive) = bound(map, "minimum", "exclusiveMinimum");
        let (hi, hi_exclusive) = bound(map, "maximum", "exclusiveMaximum");
        let value = match &mut self.rng {
            Some(rng) => {
                let lo = lo.unwrap_or(if hi.is_some_and(|h| h < 0.0) {
                    hi.unwrap_or(0.0) - 1000.0
                } else {
                    0.0
                });
                let hi = hi.unwrap_or(lo + 1000.0);
                // Two decimals read like prices and amounts, and stay within bounds.
                ((lo + (hi - lo) * rng.unit()) * 100.0).round() / 100.0
            }
            None => {
                let start = lo.unwrap_or(if hi.is_some_and(|h| h < 0.0) {
                    hi.unwrap_or(0.0)
                } else {
                    0.0
                });
                start + salt as f64
            }
        };
        let mut value = value;
        if lo_exclusive && lo.is_some_and(|l| value <= l) {
            let l = lo.unwrap_or_default();
            value = match hi {
                Some(h) if h <= l + 1.0 => (l + h) / 2.0,
                _ => l + 1.0,
            };
        }
        if let Some(h) = hi
            && (value > h || (hi_exclusive && value >= h))
        {
            value = if hi_exclusive {
                h - (h - lo.unwrap_or(h - 2.0)) / 2.0
            } else {
                h
            };
        }
        if let Some(step) = map
            .get("multipleOf")
            .and_then(Value::as_f64)
            .filter(|s| *s > 0.0)
        {
            value = (value / step).ceil() * step;
        }
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// The schema's type: the first non-null one listed, else what its keywords imply.
fn schema_type(map: &Map<String, Value>) -> &str {
    match map.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or_else(|| types.iter().filter_map(Value::as_str).next())
            .unwrap_or("object"),
        _ if map.contains_key("properties") || map.contains_key("additionalProperties") => "object",
        _ if map.contains_key("items") => "array",
        _ if ["minLength", "maxLength", "pattern", "format"]
            .iter()
            .any(|k| map.contains_key(*k)) =>
        {
            "string"
        }
        _ if ["minimum", "maximum", "multipleOf"]
            .iter()
            .any(|k| map.contains_key(*k)) =>
        {
            "number"
        }
        _ => "object",
    }
}

/// `allOf` folded into one schema: properties and `required` united, other keywords from
/// the first that has them. Subschemas' examples and defaults are dropped: each describes
/// only a part of the whole.
fn merge_all_of(doc: &Value, map: &Map<String, Value>, depth: usize) -> Map<String, Value> {
    let mut merged = map.clone();
    let parts = merged
        .remove("allOf")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    for part in parts {
        let part = resolve(doc, &part);
        let Some(part) = part.as_object() else {
            continue;
        };
        let part = if part.contains_key("allOf") && depth < MAX_HOPS {
            merge_all_of(doc, part, depth + 1)
        } else {
            part.clone()
        };
        for (key, value) in part {
            match key.as_str() {
                "example" | "examples" | "default" => {}
                "properties" => {
                    let into = merged.entry("properties").or_insert_with(|| json!({}));
                    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), value) {
                        for (name, schema) in from {
                            into.entry(name).or_insert(schema);
                        }
                    }
                }
                "required" => {
                    let into = merged.entry("required").or_insert_with(|| json!([]));
                    if let (Some(into), Value::Array(from)) = (into.as_array_mut(), value) {
                        for name in from {
                            if !into.contains(&name) {
                                into.push(name);
                            }
                        }
                    }
                }
                _ => {
                    merged.entry(key).or_insert(value);
                }
            }
        }
    }
    merged
}

/// The inclusive integer bounds of a schema (3.0 `exclusiveMinimum: true`, or a 3.1 number).
fn int_bounds(map: &Map<String, Value>) -> (Option<i64>, Option<i64>) {
    let (lo, lo_exclusive) = bound(map, "minimum", "exclusiveMinimum");
    let (hi, hi_exclusive) = bound(map, "maximum", "exclusiveMaximum");
    let lo = lo.map(|l| {
        if lo_exclusive {
            l.floor() as i64 + 1
        } else {
            l.ceil() as i64
        }
    });
    let hi = hi.map(|h| {
        if hi_exclusive {
            h.ceil() as i64 - 1
        } else {
            h.floor() as i64
        }
    });
    (lo, hi)
}

/// A bound and whether it is exclusive.
fn bound(map: &Map<String, Value>, inclusive: &str, exclusive: &str) -> (Option<f64>, bool) {
    match map.get(exclusive) {
        Some(Value::Number(n)) => (n.as_f64(), true),
        Some(Value::Bool(true)) => (map.get(inclusive).and_then(Value::as_f64), true),
        _ => (map.get(inclusive).and_then(Value::as_f64), false),
    }
}

fn fixed_format(format: &str, salt: usize) -> String {
    match format {
        "date-time" => format!("2024-01-{:02}T09:30:00Z", 1 + salt % 28),
        "date" => format!("2024-01-{:02}", 1 + salt % 28),
        "time" => format!("09:30:{:02}Z", salt % 60),
        "email" | "idn-email" => format!("user{}@example.com", suffix(salt)),
        "uuid" => format!(
            "3fa85f64-5717-4562-b3fc-2c963f66{:04x}",
            0xafa6 + salt % 0x5000
        ),
        "uri" | "iri" | "url" => format!("https://example.com/{}", suffix(salt)),
        "uri-reference" | "iri-reference" => format!("/resource{}", suffix(salt)),
        "hostname" | "idn-hostname" => format!("host{}.example.com", suffix(salt)),
        "ipv4" => format!("192.0.2.{}", 1 + salt % 254),
        "ipv6" => format!("2001:db8::{:x}", 1 + salt),
        "byte" => "c3RyaW5n".to_owned(),
        "password" => "password".to_owned(),
        _ => format!("string{}", suffix(salt)),
    }
}

fn suffix(salt: usize) -> String {
    if salt == 0 {
        String::new()
    } else {
        salt.to_string()
    }
}

fn random_format(format: &str, rng: &mut Rng, min: usize, max: Option<usize>) -> String {
    let hex = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    };
    match format {
        "date-time" => format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            rng.between(15, 30),
            rng.between(1, 12),
            rng.between(1, 28),
            rng.between(0, 23),
            rng.between(0, 59),
            rng.between(0, 59)
        ),
        "date" => format!(
            "20{:02}-{:02}-{:02}",
            rng.between(15, 30),
            rng.between(1, 12),
            rng.between(1, 28)
        ),
        "time" => format!(
            "{:02}:{:02}:{:02}Z",
            rng.between(0, 23),
            rng.between(0, 59),
            rng.between(0, 59)
        ),
        "email" | "idn-email" => format!("{}@example.com", word(rng, 4, 10)),
        "uuid" => {
            let variant = ['8', '9', 'a', 'b'][rng.below(4) as usize];
            format!(
                "{}-{}-4{}-{variant}{}-{}",
                hex(rng, 8),
                hex(rng, 4),
                hex(rng, 3),
                hex(rng, 3),
                hex(rng, 12)
            )
        }
        "uri" | "iri" | "url" => format!("https://example.com/{}", word(rng, 3, 10)),
        "uri-reference" | "iri-reference" => format!("/{}", word(rng, 3, 10)),
        "hostname" | "idn-hostname" => format!("{}.example.com", word(rng, 3, 10)),
        "ipv4" => format!("192.0.2.{}", rng.between(1, 254)),
        "ipv6" => format!("2001:db8::{:x}", rng.between(1, 0xffff)),
        "byte" => "c3RyaW5n".to_owned(),
        _ => {
            let lo = min.max(1);
            let hi = max.unwrap_or(lo + 11).max(lo).min(lo + 11);
            word(rng, lo, hi)
        }
    }
}

fn word(rng: &mut Rng, min: usize, max: usize) -> String {
    let length = rng.between(min as i64, max as i64) as usize;
    (0..length)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect()
}

/// Pads with `x` or cuts to the schema's lengths (in code points).
fn fit_length(mut text: String, min: usize, max: Option<usize>) -> String {
    let length = text.chars().count();
    if length < min {
        text.extend(std::iter::repeat_n('x', min - length));
    }
    if let Some(max) = max
        && text.chars().count() > max
    {
        text = text.chars().take(max).collect();
    }
    text
}

/// A string the pattern matches, from `regex-syntax`'s reading of it (ECMA-262 patterns
/// of the usual kind read alike); `None` when it cannot read it. Fixed mode takes each
/// repetition's minimum and each class's first printable character.
pub fn from_pattern(pattern: &str, rng: Option<&mut Rng>) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut out = String::new();
    let mut rng = rng;
    walk(&hir, &mut rng, &mut out, 0)?;
    Some(out)
}

fn walk(hir: &Hir, rng: &mut Option<&mut Rng>, out: &mut String, depth: usize) -> Option<()> {
    if depth > 64 || out.len() > 4096 {
        return None;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(std::str::from_utf8(&literal.0).ok()?),
        HirKind::Class(class) => out.push(class_char(class, rng)?),
        HirKind::Repetition(repetition) => {
            let min = repetition.min;
            let count = match rng {
                Some(rng) => {
                    let hi = repetition.max.unwrap_or(min + 3).min(min + 3);
                    rng.between(i64::from(min), i64::from(hi)) as u32
                }
                None => min,
            };
            for _ in 0..count {
                walk(&repetition.sub, rng, out, depth + 1)?;
            }
        }
        HirKind::Capture(capture) => walk(&capture.sub, rng, out, depth + 1)?,
        HirKind::Concat(parts) => {
            for part in parts {
                walk(part, rng, out, depth + 1)?;
            }
        }
        HirKind::Alternation(alternatives) => {
            let index = match rng {
                Some(rng) => rng.below(alternatives.len() as u64) as usize,
                None => 0,
            };
            walk(alternatives.get(index)?, rng, out, depth + 1)?;
        }
    }
    Some(())
}

/// A character of the class: a letter or digit where it has one (a negated class such as
/// `[^/]` starts at NUL), else its first.
fn class_char(class: &Class, rng: &mut Option<&mut Rng>) -> Option<char> {
    let ranges: Vec<(char, char)> = match class {
        Class::Unicode(unicode) => unicode.iter().map(|r| (r.start(), r.end())).collect(),
        Class::Bytes(bytes) => bytes
            .iter()
            .map(|r| (char::from(r.start()), char::from(r.end())))
            .collect(),
    };
    let contains = |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
    if let Some(rng) = rng {
        for _ in 0..16 {
            let c = char::from(b'!' + rng.below(94) as u8);
            if contains(c) && c.is_ascii_alphanumeric() {
                return Some(c);
            }
        }
    }
    "aA0-_. "
        .chars()
        .find(|c| contains(*c))
        .or_else(|| ('!'..='~').find(|c| contains(*c)))
        .or_else(|| ranges.first().map(|(lo, _)| *lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(doc: &Value, schema: Value) -> Value {
        Generator::fixed(doc).value(&schema)
    }

    #[test]
    fn examples_then_defaults_then_enums_come_first() {
        let doc = json!({});
        assert_eq!(
            fixed(
                &doc,
                json!({"type": "string", "example": "ex", "default": "d"})
            ),
            json!("ex")
        );
        assert_eq!(
            fixed(
                &doc,
                json!({"type": "string", "default": "d", "enum": ["a", "d"]})
            ),
            json!("d")
        );
        assert_eq!(
            fixed(&doc, json!({"type": "string", "enum": [null, "b"]})),
            json!("b")
        );
        assert_eq!(fixed(&doc, json!({"examples": [1, 2]})), json!(1));
    }

    #[test]
    fn objects_follow_refs_required_properties_and_formats() {
        let doc = json!({"components": {"schemas": {
            "Id": {"type": "string", "format": "uuid"},
            "Item": {"type": "object", "required": ["id", "when", "secret"], "properties": {
                "id": {"$ref": "#/components/schemas/Id"},
                "when": {"type": "string", "format": "date-time"},
                "secret": {"type": "string", "writeOnly": true},
                "hint": {"type": "string", "writeOnly": true},
                "count": {"type": "integer", "minimum": 3, "maximum": 9, "multipleOf": 2}
            }}
        }}});
        let value = fixed(&doc, json!({"$ref": "#/components/schemas/Item"}));
        assert_eq!(
            value,
            json!({
                "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                "when": "2024-01-01T09:30:00Z",
                "secret": "string",
                "count": 4
            })
        );
    }

    #[test]
    fn bounds_lengths_and_patterns_are_kept() {
        let doc = json!({});
        assert_eq!(
            fixed(
                &doc,
                json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true})
            ),
            json!(1)
        );
        assert_eq!(
            fixed(&doc, json!({"type": "integer", "maximum": -5})),
            json!(-5)
        );
        assert_eq!(
            fixed(&doc, json!({"type": "number", "exclusiveMinimum": 0})),
            json!(1.0)
        );
        assert_eq!(
            fixed(&doc, json!({"type": "string", "minLength": 8})),
            json!("stringxx")
        );
        assert_eq!(
            fixed(&doc, json!({"type": "string", "maxLength": 3})),
            json!("str")
        );
        assert_eq!(
            fixed(
                &doc,
                json!({"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4,8}$"})
            ),
            json!("AAA-0000")
        );
        assert_eq!(
            fixed(&doc, json!({"type": "string", "pattern": "^SUP-[0-9]+$"})),
            json!("SUP-0")
        );
        assert_eq!(
            fixed(&doc, json!({"type": "string", "pattern": "^[^/]+$"})),
            json!("a")
        );
        // Unique items differ.
        assert_eq!(
            fixed(
                &doc,
                json!({"type": "array", "minItems": 3, "uniqueItems": true, "items": {"type": "string", "enum": ["x", "y", "z"]}})
            ),
            json!(["x", "y", "z"])
        );
    }

    #[test]
    fn combinators_merge_or_choose_and_name_the_alternative() {
        let doc = json!({"components": {"schemas": {
            "Cat": {"type": "object", "required": ["kind", "lives"], "properties": {"kind": {"type": "string"}, "lives": {"type": "integer", "example": 9}}},
            "Dog": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}},
            "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}, "example": {"id": 99}}
        }}});
        let pet = json!({
            "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
            "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat"}}
        });
        assert_eq!(fixed(&doc, pet), json!({"kind": "cat", "lives": 9}));
        let all = json!({"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"name": {"type": "string"}}, "required": ["name"]}]});
        // The part's example is not the whole's.
        assert_eq!(fixed(&doc, all), json!({"id": 0, "name": "string"}));
    }

    #[test]
    fn recursion_is_cut_off() {
        let doc = json!({"components": {"schemas": {"Node": {"type": "object", "required": ["next"], "properties": {"next": {"$ref": "#/components/schemas/Node"}}}}}});
        let value = fixed(&doc, json!({"$ref": "#/components/schemas/Node"}));
        let text = value.to_string();
        assert!(text.contains("null") && text.len() < 2000, "{text}");
    }

    #[test]
    fn random_values_are_repeatable_from_their_seed_and_keep_the_schema() {
        let doc = json!({});
        let schema = json!({"type": "object", "required": ["n", "s", "id"], "properties": {
            "n": {"type": "integer", "minimum": 10, "maximum": 20},
            "s": {"type": "string", "minLength": 2, "maxLength": 4},
            "id": {"type": "string", "format": "uuid", "example": "not used"},
            "p": {"type": "string", "pattern": "^[a-c]{2}[0-9]$"}
        }});
        let mut seen = BTreeSet::new();
        let pattern = regex::Regex::new("^[a-c]{2}[0-9]$").unwrap();
        for seed in 0..50 {
            let value = Generator::random(&doc, seed).value(&schema);
            assert_eq!(value, Generator::random(&doc, seed).value(&schema));
            let n = value["n"].as_i64().unwrap();
            assert!((10..=20).contains(&n), "{value}");
            let s = value["s"].as_str().unwrap().chars().count();
            assert!((2..=4).contains(&s), "{value}");
            let id = value["id"].as_str().unwrap();
            assert!(id.len() == 36 && id.as_bytes()[14] == b'4', "{value}");
            if let Some(p) = value.get("p").and_then(Value::as_str) {
                assert!(pattern.is_match(p), "{value}");
            }
            seen.insert(value.to_string());
        }
        assert!(seen.len() > 40, "random values repeat: {}", seen.len());
    }
}
