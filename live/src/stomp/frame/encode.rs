//! The encoder: server frames as text.

use std::fmt::Write as _;

use super::{Frame, Version, never_escaped};

fn escape_into(out: &mut String, s: &str, version: Version) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ':' => out.push_str("\\c"),
            '\r' if version == Version::V1_2 => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Encodes a server frame as text (bodies here are JSON or plain text),
/// always with `content-length` when there is a body.
pub(crate) fn encode(frame: &Frame, version: Version) -> String {
    let body = String::from_utf8_lossy(&frame.body);
    let mut out = String::with_capacity(64 + frame.headers.len() * 32 + body.len());
    out.push_str(&frame.command);
    out.push('\n');
    let escaped = !never_escaped(&frame.command) && version != Version::V1_0;
    for (name, value) in &frame.headers {
        push_header(&mut out, name, value, escaped, version);
    }
    end_with_body(&mut out, &body);
    out
}

/// A MESSAGE frame encoded straight from its parts, the same bytes as
/// [`encode`] of the equivalent [`Frame`]: the fan-out's hot path, where
/// every subscriber gets its own copy, makes one allocation instead of a
/// dozen. The message id is ours (session id and counter) and never needs
/// escaping; `seq` is the event's place in its log, when it has one, and
/// `trace_id` the trace of the request that caused it, when known.
pub(crate) fn encode_message(
    destination: &str,
    subscription: &str,
    message_id: (&str, u64),
    (seq, trace_id): (Option<i64>, Option<&str>),
    body: &str,
    version: Version,
) -> String {
    let mut out = String::with_capacity(
        128 + destination.len() + subscription.len() + message_id.0.len() + body.len(),
    );
    let escaped = version != Version::V1_0;
    out.push_str("MESSAGE\n");
    push_header(&mut out, "destination", destination, escaped, version);
    out.push_str("content-type:application/json\n");
    push_header(&mut out, "subscription", subscription, escaped, version);
    let _ = writeln!(out, "message-id:{}-{}", message_id.0, message_id.1);
    if let Some(seq) = seq {
        let _ = writeln!(out, "seq:{seq}");
    }
    if let Some(trace_id) = trace_id {
        push_header(&mut out, TRACE_ID, trace_id, escaped, version);
    }
    end_with_body(&mut out, body);
    out
}

/// The MESSAGE header naming the trace behind an event, so a browser's log
/// can be matched with the services' logs.
pub(crate) const TRACE_ID: &str = "trace_id";

fn push_header(out: &mut String, name: &str, value: &str, escaped: bool, version: Version) {
    if escaped {
        escape_into(out, name, version);
        out.push(':');
        escape_into(out, value, version);
    } else {
        // Unescaped versions cannot carry EOLs in values: drop them.
        out.extend(
            name.chars()
                .filter(|c| *c != '\n' && *c != '\r' && *c != ':'),
        );
        out.push(':');
        out.extend(value.chars().filter(|c| *c != '\n' && *c != '\r'));
    }
    out.push('\n');
}

fn end_with_body(out: &mut String, body: &str) {
    if !body.is_empty() {
        let _ = writeln!(out, "content-length:{}", body.len());
    }
    out.push('\n');
    out.push_str(body);
    out.push('\0');
}
