//! Prism's conventions for choosing a mock answer: the `Prefer` header (`code=404`,
//! `example=<name>`, `dynamic=true`, `seed=<text>`), or without one the query parameters
//! `__code`, `__example`, `__dynamic`, `__seed`. Clients written against Prism work
//! against these mocks unchanged.
//!
//! As in Prism, a `Prefer` header wins over the query entirely, a `code` must be three
//! digits and `dynamic` `true` or `false` (anything else is a 422), and preferences it
//! does not know are ignored (RFC 7240 asks servers to ignore what they do not support).

use percent_encoding::percent_decode_str;

/// What the client asked the mock for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preferences {
    /// `code`: the status whose response to answer with.
    pub code: Option<u16>,
    /// `example`: the name of an entry of the media type's `examples`.
    pub example: Option<String>,
    /// `dynamic`: a value generated at random from the schema, examples ignored.
    pub dynamic: bool,
    /// `seed`: makes a dynamic answer repeatable.
    pub seed: Option<String>,
}

/// Reads the preferences of a request from its `Prefer` header or, without one, its query.
pub fn parse(prefer: Option<&str>, query: Option<&str>) -> Result<Preferences, String> {
    let pairs: Vec<(String, String)> = match prefer {
        Some(header) => header_pairs(header),
        None => query_pairs(query.unwrap_or_default()),
    };
    let mut preferences = Preferences::default();
    for (key, value) in pairs {
        match key.as_str() {
            "code" => {
                let code = (value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<u16>().ok())
                    .flatten()
                    .filter(|code| (100..600).contains(code))
                    .ok_or_else(|| {
                        format!("`code` must be an HTTP status of three digits, got `{value}`")
                    })?;
                preferences.code = Some(code);
            }
            "example" => preferences.example = Some(value),
            "dynamic" => {
                preferences.dynamic = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "`dynamic` must be `true` or `false`, got `{value}`"
                        ));
                    }
                }
            }
            "seed" => preferences.seed = Some(value),
            _ => {}
        }
    }
    Ok(preferences)
}

/// `code=404, example="not found"; dynamic=false`: preferences are separated by commas
/// (RFC 7240) and, as Prism's parser also accepts, semicolons; names are case-insensitive.
fn header_pairs(header: &str) -> Vec<(String, String)> {
    header
        .split([',', ';'])
        .filter_map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return None;
            }
            let (key, value) = item.split_once('=').unwrap_or((item, "true"));
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((key.trim().to_ascii_lowercase(), value.to_owned()))
        })
        .collect()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = key.strip_prefix("__")?;
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(key), decode(value)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_code_example_dynamic_and_seed() {
        let p = parse(
            Some("code=404, example=\"not found\"; Dynamic=true, seed=abc"),
            None,
        )
        .unwrap();
        assert_eq!(
            p,
            Preferences {
                code: Some(404),
                example: Some("not found".into()),
                dynamic: true,
                seed: Some("abc".into()),
            }
        );
        assert_eq!(parse(None, None).unwrap(), Preferences::default());
        // Unknown preferences (RFC 7240's own) are ignored.
        assert_eq!(
            parse(Some("return=minimal, respond-async"), None).unwrap(),
            Preferences::default()
        );
    }

    #[test]
    fn the_query_is_read_only_without_a_header() {
        let query = Some("a=1&__code=201&__example=dog%20one&__dynamic=false");
        let p = parse(None, query).unwrap();
        assert_eq!(p.code, Some(201));
        assert_eq!(p.example.as_deref(), Some("dog one"));
        assert!(!p.dynamic);
        let p = parse(Some("code=500"), query).unwrap();
        assert_eq!((p.code, p.example), (Some(500), None));
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for bad in [
            "code=40",
            "code=4044",
            "code=abc",
            "code=999",
            "dynamic=yes",
        ] {
            let error = parse(Some(bad), None).unwrap_err();
            assert!(error.contains('`'), "{bad}: {error}");
        }
    }
}
