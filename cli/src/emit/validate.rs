//! Body validators as Rust: one function per [`Validator`], straight-line calls of
//! `openapi_gateway_runtime::json` helpers, one per keyword the schema has. A keyword that applies
//! to one JSON type is checked only on values of that type, as JSON Schema says.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use crate::ir::{Additional, Bound, BoundValue, JsonFormat, JsonType, Service, Validator};

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

fn usize_option(n: Option<usize>) -> TokenStream {
    match n {
        Some(n) => {
            let n = Literal::usize_unsuffixed(n);
            quote!(::std::option::Option::Some(#n))
        }
        None => quote!(::std::option::Option::None),
    }
}

fn bound(b: &Option<Bound>) -> TokenStream {
    match b {
        Some(Bound { value, exclusive }) => {
            let value = match value {
                BoundValue::Int(v) => {
                    let v = Literal::i64_suffixed(*v);
                    quote!(::openapi_gateway_runtime::json::Bound::Int(#v))
                }
                BoundValue::Number(v) => {
                    let v = Literal::f64_suffixed(*v);
                    quote!(::openapi_gateway_runtime::json::Bound::Float(#v))
                }
            };
            quote!(::std::option::Option::Some((#value, #exclusive)))
        }
        None => quote!(::std::option::Option::None),
    }
}

fn json_type(ty: JsonType) -> TokenStream {
    let name = ident(match ty {
        JsonType::Null => "Null",
        JsonType::Boolean => "Boolean",
        JsonType::Object => "Object",
        JsonType::Array => "Array",
        JsonType::Number => "Number",
        JsonType::Integer => "Integer",
        JsonType::IntegerLiteral => "IntegerLiteral",
        JsonType::String => "String",
    });
    quote!(::openapi_gateway_runtime::json::Type::#name)
}

/// The function of one validator of `service`.
pub fn validator(service: &Service, v: &Validator) -> TokenStream {
    let function = ident(&v.function);
    let call = |index: usize| ident(&service.validators[index].function);
    let s = &v.schema;
    let mut checks: Vec<TokenStream> = Vec::new();
    // `nullable: true` accepts null whatever else the schema says (with or without a
    // `type`: the common reading of `allOf: [$ref] + nullable`).
    if s.nullable && !s.is_trivial() {
        checks.push(quote! {
            if value.is_null() {
                return;
            }
        });
    }
    // The type check as the last statement (nothing after it to skip), if it is.
    let mut types_only = None;
    if let Some(types) = &s.types {
        let types: Vec<TokenStream> = types.iter().map(|t| json_type(*t)).collect();
        checks.push(quote! {
            if !errors.types(at, value, &[#(#types),*]) {
                return;
            }
        });
        types_only = Some(quote!(errors.types(at, value, &[#(#types),*]);));
    }
    let after_types = checks.len();
    if let Some(values) = &s.enumeration {
        let text = values.to_string();
        checks.push(quote! {
            static ENUM: ::openapi_gateway_runtime::json::Enum = ::openapi_gateway_runtime::json::Enum::new(#text);
            errors.enumeration(at, value, &ENUM);
        });
    }
    // Strings.
    let mut string = Vec::new();
    if s.min_length.is_some() || s.max_length.is_some() {
        let (min, max) = (usize_option(s.min_length), usize_option(s.max_length));
        string.push(quote!(errors.length(at, text, #min, #max);));
    }
    if let Some(pattern) = &s.pattern {
        let flags = crate::lower::pattern_flags(pattern).unwrap_or("u");
        string.push(quote! {
            static PATTERN: ::openapi_gateway_runtime::json::Pattern =
                ::openapi_gateway_runtime::json::Pattern::new(#pattern, #flags);
            errors.pattern(at, text, &PATTERN);
        });
    }
    if let Some(format) = s.format {
        let format = format_path(format);
        string.push(quote!(errors.format(at, text, #format);));
    }
    if !string.is_empty() {
        checks.push(quote! {
            if let ::std::option::Option::Some(text) = value.as_str() {
                #(#string)*
            }
        });
    }
    // Numbers.
    let mut number = Vec::new();
    if s.minimum.is_some() || s.maximum.is_some() {
        let (min, max) = (bound(&s.minimum), bound(&s.maximum));
        number.push(quote!(errors.range(at, &number, #min, #max);));
    }
    if let Some((mantissa, exponent)) = s.multiple_of {
        let mantissa = Literal::u64_suffixed(mantissa);
        let exponent = Literal::i32_suffixed(exponent);
        number.push(quote!(errors.multiple_of(at, &number, #mantissa, #exponent);));
    }
    if !number.is_empty() {
        checks.push(quote! {
            if let ::std::option::Option::Some(number) = value.as_number() {
                #(#number)*
            }
        });
    }
    // Arrays.
    let mut array = Vec::new();
    if s.min_items.is_some() || s.max_items.is_some() || s.unique_items {
        let (min, max, unique) = (
            usize_option(s.min_items),
            usize_option(s.max_items),
            s.unique_items,
        );
        array.push(quote!(errors.items(at, items, #min, #max, #unique);));
    }
    if let Some(item) = s.items
        && !service.validators[item].schema.is_trivial()
    {
        let item = call(item);
        array.push(quote!(errors.each_item(at, items, #item);));
    }
    if !array.is_empty() {
        checks.push(quote! {
            if let ::std::option::Option::Some(items) = value.as_array() {
                #(#array)*
            }
        });
    }
    // Objects: one pass over the members, each dispatched by name.
    if let Some(block) = object_checks(service, s) {
        checks.push(block);
    }
    // Combinators.
    for index in &s.all_of {
        let check = call(*index);
        checks.push(quote!(#check(value, at, errors);));
    }
    // With a discriminator, an object is checked against the one alternative its
    // property names; anything else goes through `oneOf`/`anyOf` as usual.
    let dispatch = s.discriminator.as_ref().map(|d| {
        let property = &d.property;
        let names = d.mapping.iter().map(|(name, _)| name);
        let functions = d.mapping.iter().map(|(_, index)| call(*index));
        quote!(errors.discriminator(at, value, #property, &[#((#names, #functions as ::openapi_gateway_runtime::json::Validate)),*]))
    });
    let combinator = |check: TokenStream| match &dispatch {
        Some(dispatch) => quote! {
            if !#dispatch {
                #check
            }
        },
        None => check,
    };
    if !s.any_of.is_empty() {
        let all = s.any_of.iter().map(|i| call(*i));
        checks.push(combinator(quote!(errors.any_of(at, value, &[#(#all),*]);)));
    }
    if !s.one_of.is_empty() {
        let all = s.one_of.iter().map(|i| call(*i));
        checks.push(combinator(quote!(errors.one_of(at, value, &[#(#all),*]);)));
    }
    if let Some(index) = s.not {
        let check = call(index);
        checks.push(quote!(errors.not(at, value, #check);));
    }
    if checks.len() == after_types
        && let Some(statement) = types_only
    {
        checks.pop();
        checks.push(statement);
    }
    let doc = format!(" Checks a value against the schema at `{}`.", v.origin);
    let (value, at, errors) = if checks.is_empty() {
        (ident("_value"), ident("_at"), ident("_errors"))
    } else {
        (ident("value"), ident("at"), ident("errors"))
    };
    quote! {
        #[doc = #doc]
        pub fn #function<'t>(
            #value: ::openapi_gateway_runtime::json::Value<'t>,
            #at: &mut ::openapi_gateway_runtime::json::Pointer<'t>,
            #errors: &mut ::openapi_gateway_runtime::json::BodyErrors,
        ) {
            #(#checks)*
        }
    }
}

/// The object keywords of `s` (counts, `properties`, `required`, `additionalProperties`):
/// the members are read once, each matched by name. A name the schema checks or requires
/// is tracked in `seen` (for `required`); `json::parse` has refused names given twice.
fn object_checks(service: &Service, s: &crate::ir::JsonSchema) -> Option<TokenStream> {
    let call = |index: usize| ident(&service.validators[index].function);
    let mut block = Vec::new();
    if s.min_properties.is_some() || s.max_properties.is_some() {
        let (min, max) = (
            usize_option(s.min_properties),
            usize_option(s.max_properties),
        );
        block.push(quote!(errors.property_count(at, object, #min, #max);));
    }
    // The names to track: checked properties, then required names, each once.
    let mut tracked: Vec<(&str, Option<usize>)> = Vec::new();
    for (name, index) in &s.properties {
        if !service.validators[*index].schema.is_trivial() {
            tracked.push((name, Some(*index)));
        }
    }
    for name in &s.required {
        if !tracked.iter().any(|(n, _)| n == name) {
            tracked.push((name, None));
        }
    }
    let mut uses_value = false;
    // What is done with a member the schema does not declare.
    let other = match s.additional {
        Additional::Allowed => None,
        Additional::Forbidden => Some(quote!(errors.not_allowed(at, key);)),
        Additional::Schema(index) if service.validators[index].schema.is_trivial() => None,
        Additional::Schema(index) => {
            uses_value = true;
            let check = call(index);
            Some(quote! {
                at.push_key(key);
                #check(property, at, errors);
                at.pop();
            })
        }
    };
    // Each arm: the name matched, and what is done with the member.
    let mut arms: Vec<(TokenStream, TokenStream)> = Vec::new();
    for (i, (name, index)) in tracked.iter().enumerate() {
        let i = Literal::usize_unsuffixed(i);
        let body = match index {
            Some(index) => {
                uses_value = true;
                let check = call(*index);
                quote!(errors.member(at, key, &mut seen[#i], property, #check);)
            }
            // Required but not declared: still an additional property.
            None if !s.properties.iter().any(|(n, _)| n == name) => {
                let other = other.clone().unwrap_or_default();
                quote! {
                    seen[#i] = true;
                    #other
                }
            }
            None => quote!(seen[#i] = true;),
        };
        arms.push((quote!(#name), body));
    }
    // Declared properties with nothing to check are still not "additional".
    let untracked: Vec<&str> = s
        .properties
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !tracked.iter().any(|(n, _)| n == name))
        .collect();
    if other.is_some() && !untracked.is_empty() {
        arms.push((quote!(#(#untracked)|*), TokenStream::new()));
    }
    let member = if uses_value {
        quote!((key, property))
    } else {
        quote!((key, _))
    };
    let each = match (arms.as_slice(), other) {
        ([], None) => None,
        ([], Some(other)) => Some(other),
        // One name alone: an `if` (clippy's single_match).
        ([(name, body)], None) => Some(quote! {
            if key == #name {
                #body
            }
        }),
        (arms, other) => {
            let (names, bodies): (Vec<_>, Vec<_>) = arms.iter().cloned().unzip();
            let other = other.unwrap_or_default();
            Some(quote! {
                match key {
                    #(#names => { #bodies })*
                    _ => { #other }
                }
            })
        }
    };
    if let Some(each) = each {
        if !tracked.is_empty() {
            let n = Literal::usize_unsuffixed(tracked.len());
            block.push(quote!(let mut seen = [false; #n];));
        }
        block.push(quote! {
            for #member in object.iter() {
                #each
            }
        });
    }
    if !s.required.is_empty() {
        let required = s.required.iter().map(|name| {
            let i = tracked
                .iter()
                .position(|(n, _)| n == name)
                .unwrap_or_default();
            let i = Literal::usize_unsuffixed(i);
            quote!((#name, seen[#i]))
        });
        block.push(quote!(errors.required(at, &[#(#required),*]);));
    }
    if block.is_empty() {
        return None;
    }
    Some(quote! {
        if let ::std::option::Option::Some(object) = value.as_object() {
            #(#block)*
        }
    })
}

/// `::openapi_gateway_runtime::json::Format::<name>`, for bodies and parameters alike.
pub(super) fn format_path(format: JsonFormat) -> TokenStream {
    let name = ident(match format {
        JsonFormat::Uuid => "Uuid",
        JsonFormat::Date => "Date",
        JsonFormat::DateTime => "DateTime",
        JsonFormat::Time => "Time",
        JsonFormat::Email => "Email",
        JsonFormat::Hostname => "Hostname",
        JsonFormat::Ipv4 => "Ipv4",
        JsonFormat::Ipv6 => "Ipv6",
        JsonFormat::Uri => "Uri",
        JsonFormat::Byte => "Byte",
    });
    quote!(::openapi_gateway_runtime::json::Format::#name)
}
