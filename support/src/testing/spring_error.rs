//! Checking an error answer's body as a client of the original reads it.

use std::time::{Duration, SystemTime};

use serde_json::Value;

/// How far a body's `timestamp` may be from now: the answer was just
/// received, so only the time to check it separates the two.
const CLOCK_SLACK: Duration = Duration::from_secs(60);

/// Asserts that `body` is Spring's error body for `status` on `path`:
/// `timestamp` (now, RFC 3339 UTC with milliseconds), `status`, `error`
/// (the reason phrase), `path` and a non-empty `message`, nothing else.
pub fn assert_spring_error(body: &Value, status: u16, path: &str) {
    let fields: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["error", "message", "path", "status", "timestamp"],
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    assert_eq!(body["error"].as_str(), reason, "{body}");
    assert_eq!(body["path"], path, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    assert_eq!(timestamp.len(), "2026-11-25T03:58:48.925Z".len(), "{body}");
    let at = humantime::parse_rfc3339(timestamp).unwrap_or_else(|e| panic!("{e}: {body}"));
    let now = SystemTime::now();
    let apart = now
        .duration_since(at)
        .or_else(|_| at.duration_since(now))
        .unwrap_or_default();
    assert!(apart < CLOCK_SLACK, "{body}");
}
