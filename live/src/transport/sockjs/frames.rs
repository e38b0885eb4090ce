//! SockJS framing: `o` (open), `h` (heart-beat), `a[…]` (messages),
//! `c[code,"reason"]` (close); the JSON string quoting the protocol asks
//! for; what clients send; and how each HTTP transport wraps a frame.
//! Pure functions, so every rule is unit-tested here.

use std::borrow::Cow;

use crate::transport::outgoing::Queued;

/// The frame that opens a session.
pub(super) const OPEN: &str = "o";
/// The heart-beat frame.
pub(super) const HEARTBEAT: &str = "h";
/// The close frame of a session that ended normally (handler done, timed
/// out, shut down).
pub(super) const GO_AWAY: &str = "c[3000,\"Go away!\"]";
/// The close frame of a session ended because the service stops: the
/// transports' restart code and reason (`RESTART_CODE`, in
/// `transport.rs`), which tell the client to reconnect.
pub(super) const RESTART: &str = "c[1012,\"Server restarting, please reconnect\"]";
/// The answer to a second receiving request on one session.
pub(super) const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]";
/// The close frame of a session whose receiving request was aborted by
/// the client: messages may have been lost, so the session is over.
pub(super) const INTERRUPTED: &str = "c[1002,\"Connection interrupted\"]";

/// Characters the protocol requires a server to send as `\uXXXX`: browsers
/// mangle or drop them on some transports (sockjs-protocol's
/// `escapable_by_server`). Control characters are escaped by serde_json
/// already; surrogates (U+D800–U+DFFF) cannot occur in a Rust string.
fn escapable(c: char) -> bool {
    matches!(c,
        '\u{200c}'..='\u{200f}'
        | '\u{2028}'..='\u{202f}'
        | '\u{2060}'..='\u{206f}'
        | '\u{fff0}'..='\u{ffff}')
}

/// JSON-quotes a string as SockJS clients need it: serde_json's encoding,
/// with the protocol's escapable characters as `\uXXXX`.
fn quote(s: &str) -> String {
    let json = serde_json::Value::String(s.to_owned()).to_string();
    escape_chars(json, escapable)
}

/// Replaces each character of `json` for which `escape` holds with its
/// `\uXXXX` form (only ever called with characters outside ASCII quotes and
/// backslashes, so the JSON stays valid).
fn escape_chars(json: String, escape: impl Fn(char) -> bool) -> String {
    if !json.chars().any(&escape) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An `a[…]` frame holding `messages`.
fn messages(messages: &[String]) -> String {
    let mut out = String::from("a[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(m));
    }
    out.push(']');
    out
}

/// Messages sent in one `a[…]` frame at most, so a burst cannot build an
/// arbitrarily large frame (and a streaming response ends near its limit).
const MAX_BATCH: usize = 64;

/// An `a[…]` frame of `first` and whatever else is already queued in
/// `queue` (up to [`MAX_BATCH`] messages and the queue's byte budget, so
/// one write holds no more than the queue did): one write for a burst.
pub(super) fn batch(first: String, queue: &mut Queued) -> String {
    let mut bytes = first.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < queue.limit() {
        match queue.try_recv() {
            Some(m) => {
                bytes += m.len();
                batch.push(m);
            }
            None => break,
        }
    }
    messages(&batch)
}

/// What a client sends: a JSON array of strings, or one JSON string.
/// `None` when it is anything else (the caller answers "Broken JSON").
pub(super) fn parse_client(text: &str) -> Option<Vec<String>> {
    let text = replace_lone_surrogates(text);
    match serde_json::from_str::<serde_json::Value>(&text).ok()? {
        serde_json::Value::String(s) => Some(vec![s]),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// JavaScript strings may hold unpaired surrogates, which browsers send as
/// `\udXXX` escapes; serde_json refuses them (a Rust string cannot hold
/// them), which would turn one odd character into a broken batch. They
/// become U+FFFD, as any UTF-8 decoder would make of them.
fn replace_lone_surrogates(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u") {
        return Cow::Borrowed(json);
    }
    let b = json.as_bytes();
    let unit_at = |i: usize| -> Option<u16> {
        let hex = json.get(i + 2..i + 6)?;
        (b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u'))
            .then(|| u16::from_str_radix(hex, 16).ok())
            .flatten()
    };
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = unit_at(i) else {
            i += 2; // any other escape, `\\` included, is two bytes
            continue;
        };
        let pair = (0xd800..0xdc00).contains(&unit)
            && unit_at(i + 6).is_some_and(|low| (0xdc00..0xe000).contains(&low));
        if pair {
            i += 12;
        } else if (0xd800..0xe000).contains(&unit) {
            out.push_str(&json[copied..i]);
            out.push_str("\\ufffd");
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(json);
    }
    out.push_str(json.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// How an HTTP transport writes one frame into its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wrapper {
    /// xhr and xhr_streaming: the frame and `\n`.
    Newline,
    /// eventsource: `data: <frame>\r\n\r\n` (a frame never holds a raw
    /// newline: JSON escapes them).
    EventSource,
    /// htmlfile: a script calling `p("<frame>")`.
    HtmlFile,
}

impl Wrapper {
    /// The frame as written on the wire.
    pub(super) fn wrap(self, frame: &str) -> String {
        match self {
            Wrapper::Newline => format!("{frame}\n"),
            Wrapper::EventSource => format!("data: {frame}\r\n\r\n"),
            Wrapper::HtmlFile => {
                format!("<script>\np({});\n</script>\r\n", quote_for_script(frame))
            }
        }
    }
}

/// Quotes a frame for an inline `<script>`: as [`quote`], and `<`, `>` and
/// `&` escaped too, so a message holding `</script>` cannot end the script
/// block and run as HTML.
fn quote_for_script(frame: &str) -> String {
    escape_chars(quote(frame), |c| matches!(c, '<' | '>' | '&'))
}

/// The htmlfile transport's page head, padded past 1 KiB so browsers start
/// rendering (and running the scripts) at once. `callback` has been
/// checked against `[a-zA-Z0-9_.]+`.
pub(super) fn htmlfile_prelude(callback: &str) -> String {
    let mut page = format!(
        "<!doctype html>\n<html><head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n</head><body><h2>Don't panic!</h2>\n  \
         <script>\n    document.domain = document.domain;\n    var c = parent.{callback};\n    c.start();\n    \
         function p(d) {{c.message(d);}};\n    window.onload = function() {{c.stop();}};\n  </script>"
    );
    let padding = 1025usize.saturating_sub(page.len());
    page.extend(std::iter::repeat_n(' ', padding));
    page.push_str("\r\n");
    page
}

#[cfg(test)]
mod tests;
