//! Media types: the essence of a `Content-Type` and whether it is in a declared range.

/// The lower-case essence of a `Content-Type` value (`application/json`), without parameters.
pub(crate) fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type (lower-case essence) is in a range (`image/*`, `*/*`, exact).
pub(crate) fn matches(range: &str, essence: &str) -> bool {
    if range == "*/*" || range == essence {
        return true;
    }
    match range.strip_suffix("/*") {
        Some(kind) => essence.split_once('/').is_some_and(|(ty, _)| ty == kind),
        None => false,
    }
}
