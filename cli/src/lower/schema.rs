//! Request body schemas -> validators ([`crate::ir::Validator`]): each JSON Schema of a
//! JSON request body, with every subschema it reaches, becomes a function of the service's
//! module.
//!
//! Schemas are read from the bundled, normalized document (OpenAPI 3.0 shape) rather than
//! from openapiv3's types, which drop what they do not model (keywords on schemas without a
//! `type`, `enum` values of other types) — a validator must see exactly what the spec says.
//! Every schema is lowered once per service, keyed by its place in the document, so a
//! component shared by several bodies (or referring to itself) is one function.
//! What cannot be enforced is a diagnostic: an error when the construct is unsupported, a
//! `constraint_not_checked` warning when only a keyword (a format, a fractional
//! `multipleOf`) goes unchecked.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Diagnostics, pointer_push};
use crate::ir::{
    Additional, Bound, BoundValue, Discriminator, JsonFormat, JsonSchema, JsonType, Validator,
};
use crate::load::LoadedSpec;
use crate::load::spec::SpecVersion;

use super::names::{self, Scope};

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "example",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "$comment",
    "$schema",
    "$id",
    "contentMediaType",
    "contentEncoding",
];

/// Formats that constrain nothing a JSON value can break: `password` is a UI hint,
/// `binary` is any string in JSON, `double` is any JSON number the parser accepts.
const NO_CHECK_FORMATS: &[&str] = &["double", "password", "binary"];

/// The per-service state of schema lowering, kept across operations.
#[derive(Debug, Default)]
pub struct Schemas {
    pub validators: Vec<Validator>,
    /// Document pointer of a lowered schema -> its validator.
    by_pointer: BTreeMap<String, usize>,
    /// Validators still being lowered (their schema is a placeholder until they finish).
    unfinished: Vec<usize>,
}

impl Schemas {
    /// A schema that reaches itself through `allOf`/`anyOf`/`oneOf`/`not` alone would
    /// check the same value forever: an error (a cycle through `properties` or `items`
    /// descends into the value, and ends with it).
    pub fn check_cycles(&self, spec: &LoadedSpec, diags: &mut Diagnostics) {
        let same_value = |index: usize| {
            let s = &self.validators[index].schema;
            s.all_of
                .iter()
                .chain(&s.any_of)
                .chain(&s.one_of)
                .chain(&s.not)
                .copied()
                .collect::<Vec<usize>>()
        };
        for start in 0..self.validators.len() {
            let mut stack = same_value(start);
            let mut seen = vec![false; self.validators.len()];
            while let Some(next) = stack.pop() {
                if next == start {
                    diags.push(
                        Diagnostic::error(
                            "gateway::spec::unsupported_schema",
                            "request body schema: a schema that refers to itself through `allOf`, `anyOf`, `oneOf` or `not` alone is not supported".to_owned(),
                        )
                        .at(spec.origins.locate(&self.validators[start].origin))
                        .help("such a schema never reaches a decision; break the cycle"),
                    );
                    break;
                }
                if !std::mem::replace(&mut seen[next], true) {
                    stack.extend(same_value(next));
                }
            }
        }
    }
}

/// A schema that refers to no other validator.
fn is_leaf(schema: &JsonSchema) -> bool {
    schema.items.is_none()
        && schema.properties.is_empty()
        && !matches!(schema.additional, Additional::Schema(_))
        && schema.all_of.is_empty()
        && schema.any_of.is_empty()
        && schema.one_of.is_empty()
        && schema.not.is_none()
}

/// The JSON pointer of a reference into this document (`#/components/schemas/Tag/allOf/0`,
/// `#/paths/~1users/post/requestBody/content/application~1json/schema`), its URI
/// percent-encoding undone; `None` for anything else.
fn local_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    let pointer = percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .ok()?
        .into_owned();
    (pointer.starts_with('/') && pointer.len() > 1).then_some(pointer)
}

pub struct SchemaLowering<'s> {
    pub spec: &'s LoadedSpec,
    pub schemas: &'s mut Schemas,
    pub names: &'s mut Scope,
    pub diags: &'s mut Diagnostics,
}

impl SchemaLowering<'_> {
    /// The validator of the schema at `pointer` of the document, named after `hint` (or
    /// after its component); `None` after an error diagnostic.
    pub fn lower(&mut self, pointer: &str, hint: &str) -> Option<usize> {
        let (pointer, hint) = self.resolve(pointer, hint)?;
        if let Some(&index) = self.schemas.by_pointer.get(&pointer) {
            return Some(index);
        }
        let value = self.spec.document.pointer(&pointer)?;
        let Value::Object(map) = value else {
            self.unsupported(
                &pointer,
                "a schema that is not an object (such as `true` or `false`)",
                "write `{}` for any value, or `not: {}` for none",
            );
            return None;
        };
        // Reserved before the subschemas, so a recursive reference finds it.
        let index = self.schemas.validators.len();
        let function = self
            .names
            .claim(format!("validate_{}", names::snake(&hint, "body")));
        self.schemas.validators.push(Validator {
            function: function.clone(),
            origin: pointer.clone(),
            schema: JsonSchema::default(),
        });
        self.schemas.by_pointer.insert(pointer.clone(), index);
        self.schemas.unfinished.push(index);
        let schema = self.schema(map, &pointer, &function);
        self.schemas.unfinished.pop();
        let schema = schema?;
        // An inline schema with no subschemas of its own that equals one already lowered
        // (`{type: integer, format: int64}` in two places) shares its validator rather
        // than getting a twin function. Components keep their own, named function.
        let component = pointer
            .strip_prefix("/components/schemas/")
            .is_some_and(|name| !name.contains('/'));
        if is_leaf(&schema) && !component {
            let unfinished = &self.schemas.unfinished;
            let twin = self.schemas.validators[..index]
                .iter()
                .enumerate()
                .position(|(i, v)| v.schema == schema && !unfinished.contains(&i));
            if let Some(twin) = twin {
                // A leaf lowered no subschemas: this one is still the last.
                self.schemas.validators.pop();
                self.schemas.by_pointer.insert(pointer, twin);
                return Some(twin);
            }
        }
        self.schemas.validators[index].schema = schema;
        Some(index)
    }

    /// Follows `$ref`s to the schema itself: its pointer, and the name hint (the
    /// component's name when it is one).
    fn resolve(&mut self, pointer: &str, hint: &str) -> Option<(String, String)> {
        let mut pointer = pointer.to_owned();
        let mut hint = hint.to_owned();
        for _ in 0..32 {
            let value = self.spec.document.pointer(&pointer);
            let Some(reference) = value.and_then(|v| v.get("$ref")).and_then(Value::as_str) else {
                if value.is_none() {
                    self.unsupported(
                        &pointer,
                        "a schema that does not exist",
                        "fix the reference",
                    );
                    return None;
                }
                return Some((pointer, hint));
            };
            let Some(target) = local_pointer(reference) else {
                self.unsupported(
                    &pointer_push(&pointer, "$ref"),
                    &format!("the reference `{reference}` (a reference inside the document, `#/...`, is expected once the spec is bundled)"),
                    "refer to a schema of this document or of a file beside it",
                );
                return None;
            };
            // A whole component is named after itself; a part of one, or a schema under a
            // parameter or response, after its last place (`Tag/allOf/0` is `Tag_allOf_0`).
            hint = match target.strip_prefix("/components/schemas/") {
                Some(name) if !name.contains('/') => name.replace("~1", "/").replace("~0", "~"),
                _ => target
                    .split('/')
                    .skip(2)
                    .map(|t| t.replace("~1", "_").replace("~0", "~"))
                    .collect::<Vec<_>>()
                    .join("_"),
            };
            pointer = target;
        }
        self.unsupported(
            &pointer,
            "a chain of references that never reaches a schema",
            "break the cycle of `$ref`s",
        );
        None
    }

    fn unsupported(&mut self, pointer: &str, what: &str, help: &str) {
        self.diags.push(
            Diagnostic::error(
                "gateway::spec::unsupported_schema",
                format!("request body schema: {what} is not supported"),
            )
            .at(self.spec.origins.locate(pointer))
            .help(help.to_owned()),
        );
    }

    fn invalid(&mut self, pointer: &str, key: &str, what: &str) {
        self.diags.push(
            Diagnostic::error(
                "gateway::spec::invalid_schema",
                format!("`{key}` must be {what}"),
            )
            .at(self.spec.origins.locate(&pointer_push(pointer, key)))
            .help("fix the keyword's value; the gateway enforces it on request bodies"),
        );
    }

    /// Whether the property `name` of the schema `map` is `readOnly` (through `$ref`s).
    fn read_only(&self, map: &Map<String, Value>, name: &str) -> bool {
        map.get("properties")
            .and_then(|p| p.get(name))
            .is_some_and(|schema| self.is_read_only(schema, 32))
    }

    /// `readOnly` on a schema, through `$ref`s and `allOf` entries (a 3.1 `$ref` with
    /// siblings arrives as `allOf: [{$ref}]`).
    fn is_read_only(&self, schema: &Value, depth: usize) -> bool {
        if depth == 0 {
            return false;
        }
        if schema.get("readOnly").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        let target = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| self.spec.document.pointer(p));
        if let Some(target) = target {
            return self.is_read_only(target, depth - 1);
        }
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|all| all.iter().any(|s| self.is_read_only(s, depth - 1)))
    }

    /// `discriminator` beside `oneOf`/`anyOf`: the value of the property names the one
    /// alternative to check (by `mapping`, else by the component name of each `$ref`
    /// alternative). Without `oneOf`/`anyOf` (a base schema of `allOf` inheritance) it only
    /// annotates.
    fn discriminator(
        &mut self,
        value: &Value,
        map: &Map<String, Value>,
        pointer: &str,
        s: &JsonSchema,
    ) -> Option<Discriminator> {
        let at = pointer_push(pointer, "discriminator");
        let Some(property) = value.get("propertyName").and_then(Value::as_str) else {
            self.invalid(pointer, "discriminator", "an object with a `propertyName`");
            return None;
        };
        let (key, alternatives) = if !s.one_of.is_empty() {
            ("oneOf", &s.one_of)
        } else if !s.any_of.is_empty() {
            ("anyOf", &s.any_of)
        } else {
            return None;
        };
        let mut mapping: Vec<(String, usize)> = Vec::new();
        if let Some(explicit) = value.get("mapping").and_then(Value::as_object) {
            for (name, target) in explicit {
                let Some(target) = target.as_str() else {
                    self.invalid(&at, "mapping", "an object of schema names or references");
                    return None;
                };
                let reference = if target.starts_with('#') {
                    target.to_owned()
                } else {
                    format!("#/components/schemas/{target}")
                };
                let Some(component) = reference.strip_prefix("#/components/schemas/") else {
                    self.unsupported(
                        &pointer_push(&pointer_push(&at, "mapping"), name),
                        &format!("the discriminator mapping to `{target}`"),
                        "map to `#/components/schemas/<name>`",
                    );
                    return None;
                };
                let index = self.lower(
                    &pointer_push(
                        "/components/schemas",
                        &component.replace("~1", "/").replace("~0", "~"),
                    ),
                    component,
                )?;
                mapping.push((name.clone(), index));
            }
        }
        // Implicit names: each alternative that is a component is named after it.
        if let Some(Value::Array(list)) = map.get(key) {
            for item in list {
                let Some(name) = item
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                else {
                    continue;
                };
                let index = self.lower(
                    &pointer_push(
                        "/components/schemas",
                        &name.replace("~1", "/").replace("~0", "~"),
                    ),
                    name,
                )?;
                let mapped = mapping.iter().any(|(n, _)| n == name);
                if !mapped {
                    mapping.push((name.to_owned(), index));
                }
            }
        }
        let covered = alternatives
            .iter()
            .all(|a| mapping.iter().any(|(_, i)| i == a));
        if !covered || mapping.iter().any(|(_, i)| !alternatives.contains(i)) {
            self.diags.push(
                Diagnostic::warning(
                    "gateway::spec::discriminator_not_used",
                    format!("the discriminator `{property}` does not name every alternative of `{key}` (and only those): `{key}` alone decides"),
                )
                .at(self.spec.origins.locate(&at))
                .help(format!("make every alternative of `{key}` a `$ref` to a component (or map a value to each) to check only the one the discriminator names")),
            );
            return None;
        }
        Some(Discriminator {
            property: property.to_owned(),
            mapping,
        })
    }

    fn count(&mut self, map: &Map<String, Value>, pointer: &str, key: &str) -> Option<usize> {
        let value = map.get(key)?;
        match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.invalid(pointer, key, "a non-negative integer");
                None
            }
        }
    }

    fn schema(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
        function: &str,
    ) -> Option<JsonSchema> {
        let errors_before = self.diags.list.len();
        let base = function
            .strip_prefix("validate_")
            .unwrap_or(function)
            .to_owned();
        let mut s = JsonSchema::default();
        let mut unchecked: Vec<String> = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "type" => {
                    let names: Vec<&Value> = match value {
                        Value::Array(list) => list.iter().collect(),
                        one => vec![one],
                    };
                    let mut types = Vec::new();
                    for name in names {
                        let ty = match name.as_str() {
                            Some("null") => JsonType::Null,
                            Some("boolean") => JsonType::Boolean,
                            Some("object") => JsonType::Object,
                            Some("array") => JsonType::Array,
                            Some("number") => JsonType::Number,
                            // 1.0 is an integer in 2020-12, not in draft 4 (OpenAPI 3.0).
                            Some("integer") if self.spec.version == SpecVersion::V30 => {
                                JsonType::IntegerLiteral
                            }
                            Some("integer") => JsonType::Integer,
                            Some("string") => JsonType::String,
                            _ => {
                                self.invalid(pointer, key, "a JSON Schema type name");
                                continue;
                            }
                        };
                        types.push(ty);
                    }
                    s.types = Some(types);
                }
                "nullable" => s.nullable = value.as_bool().unwrap_or(false),
                "enum" => match value {
                    Value::Array(_) => s.enumeration = Some(value.clone()),
                    _ => self.invalid(pointer, key, "an array"),
                },
                // Not an OpenAPI 3.0 keyword, but unambiguous: the one allowed value (3.1's
                // `const` became an `enum` in load already).
                "const" => {}
                "minimum" | "maximum" => {
                    let bound = match value {
                        Value::Number(n) => match n.as_i64() {
                            Some(i) => Some(BoundValue::Int(i)),
                            None => n.as_f64().map(BoundValue::Number),
                        },
                        _ => None,
                    };
                    let Some(bound) = bound else {
                        self.invalid(pointer, key, "a number");
                        continue;
                    };
                    let exclusive_key = if key == "minimum" {
                        "exclusiveMinimum"
                    } else {
                        "exclusiveMaximum"
                    };
                    let exclusive = map
                        .get(exclusive_key)
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let bound = Some(Bound {
                        value: bound,
                        exclusive,
                    });
                    if key == "minimum" {
                        s.minimum = bound;
                    } else {
                        s.maximum = bound;
                    }
                }
                "exclusiveMinimum" | "exclusiveMaximum" if !value.is_boolean() => {
                    self.invalid(pointer, key, "a boolean (OpenAPI 3.0)");
                }
                "multipleOf" => match value.as_f64().filter(|n| *n > 0.0).and_then(decimal) {
                    Some(factor) => s.multiple_of = Some(factor),
                    None => self.invalid(pointer, key, "a number greater than 0"),
                },
                "minLength" => s.min_length = self.count(map, pointer, key),
                "maxLength" => s.max_length = self.count(map, pointer, key),
                "minItems" => s.min_items = self.count(map, pointer, key),
                "maxItems" => s.max_items = self.count(map, pointer, key),
                "minProperties" => s.min_properties = self.count(map, pointer, key),
                "maxProperties" => s.max_properties = self.count(map, pointer, key),
                "uniqueItems" => s.unique_items = value.as_bool().unwrap_or(false),
                "pattern" => {
                    let Some(pattern) = value.as_str() else {
                        self.invalid(pointer, key, "a string");
                        continue;
                    };
                    let flags = match super::pattern_flags(pattern) {
                        Ok(flags) => flags,
                        Err(error) => {
                            self.diags.push(
                            Diagnostic::error(
                                "gateway::spec::invalid_pattern",
                                format!("`{pattern}` is not an ECMA-262 regular expression the gateway can compile: {error}"),
                            )
                            .at(self.spec.origins.locate(&pointer_push(pointer, key)))
                            .help("fix the pattern; it is compiled when the gateway is generated, not when a request arrives"),
                        );
                            continue;
                        }
                    };
                    if !super::pattern_is_linear(pattern, flags) {
                        self.diags.push(
                            super::backtracking_pattern(pattern, "")
                                .at(self.spec.origins.locate(&pointer_push(pointer, key))),
                        );
                    }
                    s.pattern = Some(pattern.to_owned());
                }
                "format" => match value.as_str() {
                    Some("uuid") => s.format = Some(JsonFormat::Uuid),
                    Some("date") => s.format = Some(JsonFormat::Date),
                    Some("date-time") => s.format = Some(JsonFormat::DateTime),
                    Some("time") => s.format = Some(JsonFormat::Time),
                    Some("email") => s.format = Some(JsonFormat::Email),
                    Some("hostname") => s.format = Some(JsonFormat::Hostname),
                    Some("ipv4") => s.format = Some(JsonFormat::Ipv4),
                    Some("ipv6") => s.format = Some(JsonFormat::Ipv6),
                    Some("uri") => s.format = Some(JsonFormat::Uri),
                    Some("byte") => s.format = Some(JsonFormat::Byte),
                    Some("float") => float_bounds(&mut s),
                    Some("int32") => int_bounds(&mut s, i64::from(i32::MIN), i64::from(i32::MAX)),
                    Some("int64") => int_bounds(&mut s, i64::MIN, i64::MAX),
                    Some(f) if NO_CHECK_FORMATS.contains(&f) => {}
                    Some(f) => unchecked.push(format!("`format: {f}`")),
                    None => self.invalid(pointer, key, "a string"),
                },
                "items" => {
                    if value.is_array() {
                        self.unsupported(
                            &pointer_push(pointer, key),
                            "`items` as a list of schemas (tuple validation)",
                            "give `items` one schema",
                        );
                        continue;
                    }
                    s.items = self.lower(&pointer_push(pointer, key), &format!("{base}_item"));
                }
                "properties" => {
                    let Some(properties) = value.as_object() else {
                        self.invalid(pointer, key, "an object of schemas");
                        continue;
                    };
                    let at = pointer_push(pointer, key);
                    for name in properties.keys() {
                        let hint = format!("{base}_{}", names::snake(name, "property"));
                        if let Some(index) = self.lower(&pointer_push(&at, name), &hint) {
                            s.properties.push((name.clone(), index));
                        }
                    }
                }
                "required" => match value.as_array() {
                    Some(list) if list.iter().all(Value::is_string) => {
                        // A required `readOnly` property is required in responses only
                        // (OpenAPI 3.0): a request may leave it out.
                        s.required = list
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .filter(|name| !self.read_only(map, name))
                            .collect();
                    }
                    _ => self.invalid(pointer, key, "an array of property names"),
                },
                "additionalProperties" => match value {
                    Value::Bool(true) => {}
                    Value::Bool(false) => s.additional = Additional::Forbidden,
                    _ => {
                        if let Some(index) =
                            self.lower(&pointer_push(pointer, key), &format!("{base}_value"))
                        {
                            s.additional = Additional::Schema(index);
                        }
                    }
                },
                "allOf" | "anyOf" | "oneOf" => {
                    let Some(list) = value.as_array() else {
                        self.invalid(pointer, key, "an array of schemas");
                        continue;
                    };
                    let at = pointer_push(pointer, key);
                    let word = names::snake(key, "of");
                    let mut indices = Vec::new();
                    for i in 0..list.len() {
                        let hint = format!("{base}_{word}_{i}");
                        if let Some(index) = self.lower(&pointer_push(&at, &i.to_string()), &hint) {
                            indices.push(index);
                        }
                    }
                    match key.as_str() {
                        "allOf" => s.all_of = indices,
                        "anyOf" => s.any_of = indices,
                        _ => s.one_of = indices,
                    }
                }
                "not" => s.not = self.lower(&pointer_push(pointer, key), &format!("{base}_not")),
                "discriminator" => {} // After the alternatives it dispatches to.
                "$ref" => {}          // Its siblings are ignored, as OpenAPI 3.0 says (load warns).
                key if key.starts_with("x-") || ANNOTATIONS.contains(&key) => {}
                // Load has reported the keywords it knows to be unsupported; any other key
                // is not a JSON Schema keyword, and so constrains nothing.
                _ => {}
            }
        }
        if let Some(constant) = map.get("const") {
            let allowed = match &s.enumeration {
                Some(Value::Array(values)) => {
                    values.iter().filter(|v| *v == constant).cloned().collect()
                }
                _ => vec![constant.clone()],
            };
            s.enumeration = Some(Value::Array(allowed));
        }
        if let Some(discriminator) = map.get("discriminator") {
            s.discriminator = self.discriminator(discriminator, map, pointer, &s);
        }
        if !unchecked.is_empty() {
            self.diags.push(
                Diagnostic::warning(
                    "gateway::spec::constraint_not_checked",
                    format!(
                        "request body schema: its type and other keywords are checked, but not {}",
                        unchecked.join(", ")
                    ),
                )
                .at(self.spec.origins.locate(pointer))
                .help("values that break these constraints reach the upstream; it must still check them"),
            );
        }
        let failed = self.diags.list[errors_before..]
            .iter()
            .any(|d| d.severity == crate::diag::Severity::Error);
        (!failed).then_some(s)
    }
}

/// A positive number as `mantissa × 10^exponent`, from the shortest decimal of its `f64`
/// (the number as the spec wrote it, up to 17 significant digits).
fn decimal(f: f64) -> Option<(u64, i32)> {
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: u64 = format!("{whole}{fraction}").parse().ok()?;
    let mut exponent = exponent.parse::<i32>().ok()? - i32::try_from(fraction.len()).ok()?;
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        exponent += 1;
    }
    (digits != 0).then_some((digits, exponent))
}

/// `format: float`: within the range of an IEEE 754 single, where the schema sets no
/// tighter bound.
fn float_bounds(s: &mut JsonSchema) {
    let max = f64::from(f32::MAX);
    if s.minimum.is_none() {
        s.minimum = Some(Bound {
            value: BoundValue::Number(-max),
            exclusive: false,
        });
    }
    if s.maximum.is_none() {
        s.maximum = Some(Bound {
            value: BoundValue::Number(max),
            exclusive: false,
        });
    }
}

/// The range an integer format implies, where the schema sets no tighter bound.
fn int_bounds(s: &mut JsonSchema, low: i64, high: i64) {
    let keep = |b: &Option<Bound>, tighter: fn(i64, i64) -> bool, limit: i64| match b {
        Some(Bound {
            value: BoundValue::Int(v),
            ..
        }) => tighter(*v, limit),
        Some(Bound {
            value: BoundValue::Number(v),
            ..
        }) => tighter(*v as i64, limit),
        None => false,
    };
    if !keep(&s.minimum, |v, l| v >= l, low) {
        s.minimum = Some(Bound {
            value: BoundValue::Int(low),
            exclusive: false,
        });
    }
    if !keep(&s.maximum, |v, l| v <= l, high) {
        s.maximum = Some(Bound {
            value: BoundValue::Int(high),
            exclusive: false,
        });
    }
}
