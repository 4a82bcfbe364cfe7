//! The gateway's log lines (JSON, one per event) made short for a terminal: the access log
//! as `GET /api/users/{userId} 200 1.3 ms`, other events as their level, message and
//! fields. Lines that are not JSON pass through as they are.

use serde_json::Value;

/// Fields that say nothing to someone watching a terminal.
const QUIET: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "target",
    "request_id",
    "client_ip",
];

pub fn format(line: &str) -> String {
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let text = |key: &str| match event.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let access =
        event.get("target").and_then(Value::as_str) == Some("openapi_gateway_runtime::access");
    if access {
        let route = event
            .get("route")
            .and_then(Value::as_str)
            .unwrap_or("(no route)");
        let duration = event
            .get("duration_ms")
            .and_then(Value::as_f64)
            .unwrap_or_default();
        return format!(
            "{} {route} {} {duration:.1} ms",
            text("method"),
            text("status")
        );
    }
    let mut out = format!("{} {}", text("level").to_ascii_lowercase(), text("message"));
    for (key, value) in &event {
        if QUIET.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" {key}={value}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_are_one_short_line_and_others_keep_their_fields() {
        let access = r#"{"timestamp":"t","level":"INFO","message":"request","request_id":"r","method":"GET","route":"/api/users/{userId}","status":200,"duration_ms":1.234,"upstream":"127.0.0.1:1","attempts":1,"client_ip":"127.0.0.1","target":"openapi_gateway_runtime::access"}"#;
        assert_eq!(format(access), "GET /api/users/{userId} 200 1.2 ms");
        let warn = r#"{"timestamp":"t","level":"WARN","message":"response breaks the spec","service":"users","pointer":"/id","target":"x"}"#;
        assert_eq!(
            format(warn),
            "warn response breaks the spec service=users pointer=/id"
        );
        assert_eq!(format("plain text"), "plain text");
    }
}
