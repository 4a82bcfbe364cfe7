//! Which answer a mock gives to one operation: the status, the media type and the body,
//! following Prism's decision rules (docs/dev.md, "Mock upstreams").
//!
//! - Status: `Prefer: code=N` takes the response declared for N, else the `NXX` range,
//!   else `default` (answered with N); none of them is a 404 problem. Without a code: the
//!   lowest 2xx, else `default` (as 200), else the first response declared.
//! - Media type: the first of the response's that the request's `Accept` takes, else
//!   `application/json`, else a `+json` one, else the first.
//! - Body: `example=<name>` takes that entry of the media type's `examples` (a 404 problem
//!   when there is none); `dynamic=true` a random value of its schema; otherwise the first
//!   of its `examples`, else its `example`, else a value made from its schema (the schema's
//!   own example first, see [`super::generate`]); no schema, no body.
//! - Headers: each header the response declares, from its example or schema.

use serde_json::{Value, json};

use super::generate::{Generator, Rng, example_of, resolve};
use super::prefer::Preferences;

/// A mock's answer, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The media type and the body, when there is one.
    pub body: Option<(String, Value)>,
}

impl Answer {
    /// A problem+json answer of the mock itself (not from the spec).
    pub fn problem(status: u16, kind: &str, title: &str, detail: String) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Some((
                "application/problem+json".to_owned(),
                json!({
                    "type": format!("urn:gateway:dev:mock:{kind}"),
                    "title": title,
                    "status": status,
                    "detail": detail,
                }),
            )),
        }
    }

    /// The body's bytes: JSON for JSON media types, a string's text for the others.
    pub fn body_bytes(&self) -> Option<(String, Vec<u8>)> {
        let (media, value) = self.body.as_ref()?;
        let bytes = match value {
            Value::String(text) if !is_json(media) => text.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap_or_default(),
        };
        let media = if media.contains('*') {
            "text/plain".to_owned()
        } else {
            media.clone()
        };
        Some((media, bytes))
    }
}

fn is_json(media: &str) -> bool {
    let essence = media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The answer to a request for `operation` (an operation object of `doc`).
pub fn answer(
    doc: &Value,
    operation: &Value,
    preferences: &Preferences,
    accept: Option<&str>,
    seed: u64,
) -> Answer {
    let responses = operation.get("responses").and_then(Value::as_object);
    let responses: Vec<(&String, &Value)> =
        responses.map(|r| r.iter().collect()).unwrap_or_default();
    let chosen = match preferences.code {
        Some(code) => {
            let exact = code.to_string();
            let range = format!("{}XX", code / 100);
            responses
                .iter()
                .find(|(key, _)| **key == exact)
                .or_else(|| {
                    responses
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(&range))
                })
                .or_else(|| responses.iter().find(|(key, _)| *key == "default"))
                .map(|(_, response)| (code, *response))
        }
        None => {
            let lowest_2xx = responses
                .iter()
                .filter_map(|(key, response)| Some((status_of(key)?, *response)))
                .filter(|(status, _)| (200..300).contains(status))
                .min_by_key(|(status, _)| *status);
            lowest_2xx
                .or_else(|| {
                    responses
                        .iter()
                        .find(|(key, _)| *key == "default")
                        .map(|(_, response)| (200, *response))
                })
                .or_else(|| {
                    responses
                        .first()
                        .and_then(|(key, response)| Some((status_of(key)?, *response)))
                })
        }
    };
    let Some((status, response)) = chosen else {
        return match preferences.code {
            Some(code) => Answer::problem(
                404,
                "no-such-status",
                "Not Found",
                format!("Requested status code {code} is not defined in the document."),
            ),
            None => Answer::problem(
                500,
                "no-response",
                "No response defined",
                "The operation declares no response.".to_owned(),
            ),
        };
    };
    let response = resolve(doc, response);
    let headers = headers(doc, response);
    let content = response.get("content").and_then(Value::as_object);
    let media = content.and_then(|content| choose_media(content, accept));
    let Some((media_type, media)) = media else {
        return Answer {
            status,
            headers,
            body: None,
        };
    };
    if status == 204 || status == 304 {
        return Answer {
            status,
            headers,
            body: None,
        };
    }
    let schema = media.get("schema");
    let body = if let Some(name) = &preferences.example {
        match media
            .get("examples")
            .and_then(|examples| examples.get(name.as_str()))
            .map(|example| resolve(doc, example))
            .and_then(|example| example.get("value"))
        {
            Some(value) => value.clone(),
            None => {
                return Answer::problem(
                    404,
                    "no-such-example",
                    "Not Found",
                    format!(
                        "Response for contentType: {media_type} and exampleKey: {name} does not exist."
                    ),
                );
            }
        }
    } else if preferences.dynamic {
        match schema {
            Some(schema) => Generator::random(doc, seed).value(schema),
            None => {
                return Answer::problem(
                    500,
                    "no-schema",
                    "No schema",
                    format!(
                        "Tried to force a dynamic response for: {media_type} but schema is not defined."
                    ),
                );
            }
        }
    } else {
        let first_example = media
            .get("examples")
            .and_then(Value::as_object)
            .and_then(|examples| {
                examples
                    .values()
                    .map(|e| resolve(doc, e))
                    .find_map(|e| e.get("value"))
            });
        match first_example.or_else(|| media.get("example")) {
            Some(example) => example.clone(),
            None => match schema {
                Some(schema) => Generator::fixed(doc).value(schema),
                None => {
                    return Answer {
                        status,
                        headers,
                        body: None,
                    };
                }
            },
        }
    };
    Answer {
        status,
        headers,
        body: Some((media_type.clone(), body)),
    }
}

/// `200` and `2XX` (as 200); `None` for `default`.
fn status_of(key: &str) -> Option<u16> {
    if let Ok(code) = key.parse::<u16>() {
        return Some(code);
    }
    let bytes = key.as_bytes();
    (bytes.len() == 3 && bytes[0].is_ascii_digit() && key[1..].eq_ignore_ascii_case("XX"))
        .then(|| u16::from(bytes[0] - b'0') * 100)
}

fn choose_media<'a>(
    content: &'a serde_json::Map<String, Value>,
    accept: Option<&str>,
) -> Option<(&'a String, &'a Value)> {
    let ranges: Vec<String> = accept
        .unwrap_or_default()
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (!essence.is_empty() && essence != "*/*" && !refused).then_some(essence)
        })
        .collect();
    let matches = |range: &str, media: &str| {
        let media = media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match range.strip_suffix("/*") {
            Some(kind) => media.split('/').next() == Some(kind),
            None => media == range,
        }
    };
    ranges
        .iter()
        .find_map(|range| content.iter().find(|(media, _)| matches(range, media)))
        .or_else(|| {
            content
                .iter()
                .find(|(media, _)| matches("application/json", media))
        })
        .or_else(|| content.iter().find(|(media, _)| is_json(media)))
        .or_else(|| content.iter().next())
}

fn headers(doc: &Value, response: &Value) -> Vec<(String, String)> {
    let Some(declared) = response.get("headers").and_then(Value::as_object) else {
        return Vec::new();
    };
    declared
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
        .map(|(name, header)| {
            let header = resolve(doc, header);
            let value = example_of(doc, header).unwrap_or(Value::String(String::new()));
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// A fresh seed per request when the client gave none: answers vary, as Prism's do.
pub fn seed_for(preferences: &Preferences, counter: u64) -> u64 {
    match &preferences.seed {
        Some(seed) => Rng::seed_of(seed),
        None => Rng::seed_of(&counter.to_string()) ^ 0x5bd1_e995,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "components": {
                "schemas": {"Pet": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "minimum": 1}}}},
                "examples": {"Rex": {"value": {"id": 7, "name": "Rex"}}},
                "responses": {"NotFound": {"description": "no", "content": {"application/problem+json": {"example": {"status": 404}}}}}
            },
            "paths": {}
        })
    }

    fn op() -> Value {
        json!({"responses": {
            "404": {"$ref": "#/components/responses/NotFound"},
            "201": {"description": "made", "headers": {"Location": {"schema": {"type": "string", "example": "/pets/1"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"},
                                                      "examples": {"first": {"value": {"id": 1}}, "rex": {"$ref": "#/components/examples/Rex"}}},
                                "application/xml": {"example": "<pet/>"}}},
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
            "default": {"description": "error", "content": {"application/json": {"example": {"error": true}}}}
        }})
    }

    fn body(answer: &Answer) -> Value {
        answer
            .body
            .as_ref()
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn the_lowest_2xx_with_its_schema_when_it_has_no_example() {
        let a = answer(&doc(), &op(), &Preferences::default(), None, 1);
        assert_eq!((a.status, body(&a)), (200, json!({"id": 1})));
        assert_eq!(a.body.as_ref().unwrap().0, "application/json");
    }

    #[test]
    fn a_code_takes_its_response_then_default_then_a_404() {
        let pick = |code: u16| {
            answer(
                &doc(),
                &op(),
                &Preferences {
                    code: Some(code),
                    ..Default::default()
                },
                None,
                1,
            )
        };
        let a = pick(201);
        assert_eq!((a.status, body(&a)), (201, json!({"id": 1})));
        assert_eq!(
            a.headers,
            vec![("Location".to_owned(), "/pets/1".to_owned())]
        );
        let a = pick(404);
        assert_eq!((a.status, body(&a)), (404, json!({"status": 404})));
        assert_eq!(a.body.as_ref().unwrap().0, "application/problem+json");
        let a = pick(503);
        assert_eq!((a.status, body(&a)), (503, json!({"error": true})));
        let without_default = json!({"responses": {"200": {"description": "ok"}}});
        let a = answer(
            &doc(),
            &without_default,
            &Preferences {
                code: Some(418),
                ..Default::default()
            },
            None,
            1,
        );
        assert_eq!(a.status, 404);
        assert!(
            body(&a)["detail"].as_str().unwrap().contains("418"),
            "{a:?}"
        );
    }

    #[test]
    fn named_examples_accept_and_dynamic() {
        let prefs = |example: Option<&str>, dynamic: bool| Preferences {
            code: Some(201),
            example: example.map(str::to_owned),
            dynamic,
            seed: None,
        };
        let a = answer(&doc(), &op(), &prefs(Some("rex"), false), None, 1);
        assert_eq!(body(&a), json!({"id": 7, "name": "Rex"}));
        let a = answer(&doc(), &op(), &prefs(Some("nope"), false), None, 1);
        assert_eq!(a.status, 404);
        let a = answer(
            &doc(),
            &op(),
            &prefs(None, false),
            Some("application/xml;q=0.9, */*"),
            1,
        );
        assert_eq!(
            a.body_bytes(),
            Some(("application/xml".to_owned(), b"<pet/>".to_vec()))
        );
        let a = answer(&doc(), &op(), &prefs(None, true), None, 42);
        let id = body(&a)["id"].as_i64().unwrap();
        assert!(id >= 1, "{a:?}");
        assert_eq!(a, answer(&doc(), &op(), &prefs(None, true), None, 42));
    }

    #[test]
    fn no_content_no_body() {
        let op = json!({"responses": {"204": {"description": "gone"}}});
        let a = answer(&doc(), &op, &Preferences::default(), None, 1);
        assert_eq!((a.status, a.body), (204, None));
        let op = json!({"responses": {"2XX": {"description": "fine"}}});
        assert_eq!(
            answer(&doc(), &op, &Preferences::default(), None, 1).status,
            200
        );
    }
}
