//! The `observability` section: where the gateway sends its telemetry.
//!
//! The collector's address differs per deployment, so the manifest names only the
//! environment variable that holds it; this checks that it is a name a shell can set.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObservability {
    pub(super) otlp_endpoint_env: Option<String>,
}

/// An environment variable name as shells write them: letters, digits, `_`, not starting
/// with a digit.
pub(super) fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
