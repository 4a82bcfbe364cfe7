//! Request bodies that are forms.
//!
//! `application/x-www-form-urlencoded`: the body is decoded into a JSON object, each
//! property typed by the [`Shape`] of its schema (repeated keys make arrays; `encoding`
//! `explode: false` splits `a=1,2`; `style: deepObject` reads `a[x]=1`), then checked by
//! the generated validator of the schema, as a JSON body would be: failures have pointers
//! like `/quantity`.
//!
//! `multipart/form-data`: the parts are read (with `multer`, within the route's body limit)
//! to check that every required property has a part, and that a part whose `encoding`
//! names a `contentType` has one of those. Part contents are not validated.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::base::problem::{FieldError, Problem};
use crate::check::fields::{RandomState, group, grouped, too_many_problem};
use crate::check::json::{Pointer, Validate};
use crate::check::params::parse_pairs;
use crate::check::steps::step;
use crate::check::styled::Shape;

/// Longest part name echoed in an error.
const NAME_MAX: usize = 64;

/// What a form body of one media type must be.
#[derive(Debug)]
pub struct FormBody {
    pub kind: FormKind,
    /// The schema's properties and their types (`Shape::Object`).
    pub shape: &'static Shape,
    /// The properties the schema requires (checked on multipart bodies; urlencoded ones
    /// are checked by `validate`).
    pub required: &'static [&'static str],
    /// The `encoding` of properties that have one.
    pub encoding: &'static [Encoding],
    /// The generated validator of the schema (urlencoded bodies).
    pub validate: Option<Validate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    UrlEncoded,
    Multipart,
}

/// An `encoding` entry of a form media type.
#[derive(Debug)]
pub struct Encoding {
    pub property: &'static str,
    /// `explode: false`: an array is one value, comma-separated.
    pub explode: bool,
    /// `style: deepObject`: an object property written `name[key]=value`.
    pub deep_object: bool,
    /// `contentType` (multipart), split at commas and lower-cased: `image/png`, `image/*`.
    pub content_types: &'static [&'static str],
}

impl FormBody {
    fn encoding(&self, property: &str) -> Option<&Encoding> {
        self.encoding.iter().find(|e| {
            step();
            e.property == property
        })
    }

    /// Checks a whole body of this form, of at most `limit` bytes and `max_fields` pairs or
    /// parts: `Ok` if it is valid, else the 400 listing what is wrong.
    pub async fn check(
        &self,
        bytes: Bytes,
        content_type: &str,
        limit: u64,
        max_fields: usize,
    ) -> Result<(), Problem> {
        let errors = match self.kind {
            FormKind::UrlEncoded => self.check_urlencoded(&bytes, max_fields)?,
            FormKind::Multipart => {
                self.check_multipart(bytes, content_type, limit, max_fields)
                    .await?
            }
        };
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid_request(errors))
        }
    }

    /// The failures of an urlencoded body (empty if it is valid), or the 400 for too many
    /// pairs.
    fn check_urlencoded(
        &self,
        bytes: &[u8],
        max_fields: usize,
    ) -> Result<Vec<FieldError>, Problem> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Ok(vec![failure("", "the form is not UTF-8".to_owned())]);
        };
        let Some(pairs) = parse_pairs(text, max_fields) else {
            return Err(too_many_problem(
                "body",
                Some(String::new()),
                "the form",
                max_fields,
                "name=value pairs",
            ));
        };
        let mut errors = Vec::new();
        let mut properties = grouped();
        // `deepObject` properties: name -> [(key, value)].
        let mut deep: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
        for (key, value) in &pairs {
            step();
            if let Some((name, rest)) = key.split_once('[')
                && let Some(inner) = rest.strip_suffix(']')
                && let Some(encoding) = self.encoding(name).filter(|e| e.deep_object)
            {
                match deep.iter_mut().find(|(n, _)| {
                    step();
                    *n == encoding.property
                }) {
                    Some((_, entries)) => entries.push((inner, value)),
                    None => deep.push((encoding.property, vec![(inner, value)])),
                }
                continue;
            }
            group(&mut properties, Cow::Borrowed(key.as_ref()), value.as_ref());
        }
        let mut object = Map::new();
        for (name, values) in &properties {
            let shape = self.shape.property(name);
            let split =
                matches!(shape, Shape::Array(_)) && self.encoding(name).is_some_and(|e| !e.explode);
            let values: Vec<&str> = if split && values.len() == 1 {
                values[0].split(',').collect()
            } else {
                values.clone()
            };
            if values.len() > 1 && !matches!(shape, Shape::Array(_)) {
                errors.push(failure(
                    &pointer(name),
                    "must appear at most once".to_owned(),
                ));
                continue;
            }
            object.insert(name.to_string(), shape.values(&values));
        }
        for (name, entries) in deep {
            let shape = self.shape.property(name);
            let mut inner = Map::new();
            for (key, value) in entries {
                // Kept silently, the last copy would be checked while an upstream that
                // reads the first acts on one never checked.
                if inner.contains_key(key) {
                    let (outer, member) = (echo_name(name), echo_name(key));
                    let mut at = Pointer::new();
                    at.push_key(&outer);
                    at.push_key(&member);
                    errors.push(failure(&at.text(), "must appear at most once".to_owned()));
                    continue;
                }
                inner.insert(key.to_owned(), shape.property(key).scalar(value));
            }
            object.insert(name.to_owned(), Value::Object(inner));
        }
        if !errors.is_empty() {
            return Ok(errors);
        }
        let Some(validate) = self.validate else {
            return Ok(errors);
        };
        Ok(crate::check::json::check_owned(&Value::Object(object), validate).into_errors())
    }

    /// The failures of a multipart body (empty if it is valid), or the 400 for too many
    /// parts.
    async fn check_multipart(
        &self,
        bytes: Bytes,
        content_type: &str,
        limit: u64,
        max_fields: usize,
    ) -> Result<Vec<FieldError>, Problem> {
        let Ok(boundary) = multer::parse_boundary(content_type) else {
            return Ok(vec![failure(
                "",
                "a multipart body needs a `boundary` in its Content-Type".to_owned(),
            )]);
        };
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limit)
                .per_field(limit),
        );
        let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
        let mut seen = std::collections::HashSet::with_hasher(RandomState::default());
        let mut errors = Vec::new();
        let mut parts = 0;
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(error) => {
                    errors.push(failure(
                        "",
                        format!("the multipart body is malformed: {error}"),
                    ));
                    return Ok(errors);
                }
            };
            step();
            parts += 1;
            if parts > max_fields {
                return Err(too_many_problem(
                    "body",
                    Some(String::new()),
                    "the multipart body",
                    max_fields,
                    "parts",
                ));
            }
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            if let Some(encoding) = self.encoding(&name)
                && !encoding.content_types.is_empty()
            {
                let actual = field
                    .content_type()
                    .map(|m| m.essence_str().to_ascii_lowercase());
                let accepted = actual.as_deref().is_some_and(|actual| {
                    encoding
                        .content_types
                        .iter()
                        .any(|range| crate::check::media::matches(range, actual))
                });
                if !accepted {
                    errors.push(failure(
                        &pointer(&name),
                        format!(
                            "the part must be {}, got {}",
                            encoding.content_types.join(" or "),
                            actual.map_or("no Content-Type".to_owned(), |a| format!("`{a}`"))
                        ),
                    ));
                }
            }
            seen.insert(name);
        }
        for required in self.required {
            if !seen.contains(*required) {
                errors.push(failure(
                    "",
                    format!("must have the part `{}`", echo_name(required)),
                ));
            }
        }
        Ok(errors)
    }
}

fn pointer(name: &str) -> String {
    let name = echo_name(name);
    let mut at = Pointer::new();
    at.push_key(&name);
    at.text()
}

fn echo_name(name: &str) -> String {
    name.chars().take(NAME_MAX).collect()
}

fn failure(pointer: &str, message: String) -> FieldError {
    FieldError {
        location: "body",
        name: None,
        pointer: Some(pointer.to_owned()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::json::BodyErrors;
    use crate::check::json::Type;

    static ORDER: Shape = Shape::Object(&[
        ("sku", Shape::String),
        ("quantity", Shape::Integer),
        ("gift", Shape::Boolean),
        ("tags", Shape::Array(&Shape::String)),
        ("ids", Shape::Array(&Shape::Integer)),
        ("address", Shape::Object(&[("zip", Shape::Integer)])),
    ]);

    fn validate_order<'t>(
        value: crate::check::json::Value<'t>,
        at: &mut Pointer<'t>,
        errors: &mut BodyErrors,
    ) {
        if !errors.types(at, value, &[Type::Object]) {
            return;
        }
        let Some(object) = value.as_object() else {
            return;
        };
        errors.required(
            at,
            &[
                ("sku", object.contains_key("sku")),
                ("quantity", object.contains_key("quantity")),
            ],
        );
        for (key, ty) in [
            ("quantity", Type::Integer),
            ("gift", Type::Boolean),
            ("tags", Type::Array),
            ("address", Type::Object),
        ] {
            if let Some(v) = object.get(key) {
                at.push_key(key);
                errors.types(at, v, &[ty]);
                at.pop();
            }
        }
        if let Some(ids) = object
            .get("ids")
            .and_then(crate::check::json::Value::as_array)
        {
            at.push_key("ids");
            for (i, id) in ids.iter().enumerate() {
                at.push_index(i);
                errors.types(at, id, &[Type::Integer]);
                at.pop();
            }
            at.pop();
        }
    }

    static URLENCODED: FormBody = FormBody {
        kind: FormKind::UrlEncoded,
        shape: &ORDER,
        required: &["sku", "quantity"],
        encoding: &[
            Encoding {
                property: "ids",
                explode: false,
                deep_object: false,
                content_types: &[],
            },
            Encoding {
                property: "address",
                explode: true,
                deep_object: true,
                content_types: &[],
            },
        ],
        validate: Some(validate_order),
    };

    fn urlencoded(body: &str) -> Vec<(String, String)> {
        URLENCODED
            .check_urlencoded(body.as_bytes(), 1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.pointer.unwrap(), e.message))
            .collect()
    }

    #[test]
    fn urlencoded_forms_are_typed_then_validated() {
        assert_eq!(
            urlencoded(
                "sku=BOK+1%2B1&quantity=2&gift=true&tags=a&tags=b&ids=1,2&address[zip]=1234"
            ),
            []
        );
        assert_eq!(
            urlencoded("sku=x&quantity=two&gift=True&ids=1,x&address[zip]=z"),
            [
                ("/quantity".to_owned(), "must be an integer".to_owned()),
                ("/gift".to_owned(), "must be a boolean".to_owned()),
                ("/ids/1".to_owned(), "must be an integer".to_owned()),
            ]
        );
        assert_eq!(
            urlencoded("quantity=1"),
            [(String::new(), "must have the property `sku`".to_owned())]
        );
        assert_eq!(
            urlencoded("sku=a&sku=b&quantity=1"),
            [("/sku".to_owned(), "must appear at most once".to_owned())]
        );
        // A deepObject member given twice: which copy would the upstream read?
        assert_eq!(
            urlencoded("sku=a&quantity=1&address[zip]=1&address[zip]=2"),
            [(
                "/address/zip".to_owned(),
                "must appear at most once".to_owned()
            )]
        );
        assert_eq!(
            URLENCODED.check_urlencoded(b"sku=\xff", 1000).unwrap()[0].message,
            "the form is not UTF-8"
        );
        // `gateway.limits.max_fields`: refused once one pair too many is read.
        assert!(URLENCODED.check_urlencoded(b"sku=a&quantity=1", 2).is_ok());
        let problem = URLENCODED
            .check_urlencoded(b"sku=a&quantity=1&gift=true", 2)
            .unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(
            problem.detail,
            "the form has more than 2 name=value pairs, the most `gateway.limits.max_fields` allows"
        );
        assert_eq!(problem.errors[0].location, "body");
        assert_eq!(problem.errors[0].pointer.as_deref(), Some(""));
    }

    static UPLOAD: FormBody = FormBody {
        kind: FormKind::Multipart,
        shape: &Shape::Object(&[("file", Shape::String), ("note", Shape::String)]),
        required: &["file"],
        encoding: &[Encoding {
            property: "file",
            explode: true,
            deep_object: false,
            content_types: &["image/png", "image/*"],
        }],
        validate: None,
    };

    /// The failures `UPLOAD` finds in a body, once checked.
    fn upload(body: impl Into<Bytes>, content_type: &str, max_fields: usize) -> Vec<FieldError> {
        let check = UPLOAD.check(body.into(), content_type, 1 << 20, max_fields);
        match futures_util::FutureExt::now_or_never(check).unwrap() {
            Ok(()) => Vec::new(),
            Err(problem) => problem.errors,
        }
    }

    fn multipart(parts: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let mut body = String::new();
        for (name, content_type) in parts {
            body.push_str("--XyZ\r\n");
            body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"a\"\r\n"
            ));
            if let Some(ct) = content_type {
                body.push_str(&format!("Content-Type: {ct}\r\n"));
            }
            body.push_str("\r\ncontent\r\n");
        }
        body.push_str("--XyZ--\r\n");
        upload(body, "multipart/form-data; boundary=XyZ", 1000)
            .into_iter()
            .map(|e| (e.pointer.unwrap(), e.message))
            .collect()
    }

    #[test]
    fn multipart_parts_are_there_with_their_media_types() {
        assert_eq!(
            multipart(&[("file", Some("image/png")), ("note", None)]),
            []
        );
        assert_eq!(
            multipart(&[("note", Some("text/plain"))]),
            [(String::new(), "must have the part `file`".to_owned())]
        );
        assert_eq!(
            multipart(&[("file", Some("text/plain"))]),
            [(
                "/file".to_owned(),
                "the part must be image/png or image/*, got `text/plain`".to_owned()
            )]
        );
        assert!(
            multipart(&[("file", None)])[0]
                .1
                .contains("no Content-Type")
        );
        let errors = upload(&b"x"[..], "multipart/form-data", 1000);
        assert!(errors[0].message.contains("boundary"));
        let errors = upload(
            &b"--XyZ\r\nbroken"[..],
            "multipart/form-data; boundary=XyZ",
            1000,
        );
        assert!(errors[0].message.contains("malformed"), "{errors:?}");
        // `gateway.limits.max_fields`: parts, named or not, counted as they are read.
        let parts = |n: usize| {
            let part = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: image/png\r\n\r\nx\r\n";
            format!("{}--XyZ--\r\n", part.repeat(n))
        };
        assert_eq!(upload(parts(3), "multipart/form-data; boundary=XyZ", 3), []);
        let errors = upload(parts(4), "multipart/form-data; boundary=XyZ", 3);
        assert_eq!(
            errors[0].message,
            "has more than 3 parts, the most `gateway.limits.max_fields` allows"
        );
    }
}
