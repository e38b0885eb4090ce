//! SockJS framing: `o` (open), `h` (heart-beat), `a[…]` (messages),
//! `c[code,"reason"]` (close), and how each HTTP transport wraps a frame.

/// The close frame of a session that ended normally.
pub const GO_AWAY: &str = "c[3000,\"Go away!\"]";
/// The answer to a second receiving request on one session.
pub const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]";

/// JSON-quotes a string, escaping every non-ASCII character as `\uXXXX`.
/// The protocol requires escaping some Unicode ranges that browsers mangle
/// (U+2028, U+200C…, U+FFF0…); escaping all of them is simpler and as valid.
pub fn quote(s: &str) -> String {
    let json = serde_json::Value::String(s.to_owned()).to_string();
    if json.is_ascii() {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// An `a[…]` frame holding `messages`.
pub fn messages(messages: &[String]) -> String {
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

/// What a client sends: a JSON array of strings (or one string). `None`
/// when it is anything else.
pub fn parse_client(text: &str) -> Option<Vec<String>> {
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
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

/// How an HTTP transport writes one frame into its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapper {
    /// xhr and xhr_streaming: the frame and `\n`.
    Newline,
    /// eventsource: `data: <frame>\r\n\r\n`.
    EventSource,
    /// htmlfile: a script calling `p("<frame>")`.
    HtmlFile,
}

impl Wrapper {
    /// The frame as written on the wire.
    pub fn wrap(self, frame: &str) -> String {
        match self {
            Wrapper::Newline => format!("{frame}\n"),
            Wrapper::EventSource => format!("data: {frame}\r\n\r\n"),
            Wrapper::HtmlFile => format!("<script>\np({});\n</script>\r\n", quote(frame)),
        }
    }
}

/// The htmlfile transport's page head, padded to 1 KiB so browsers start
/// rendering (and running the scripts) at once.
pub fn htmlfile_prelude(callback: &str) -> String {
    let mut page = format!(
        "<!doctype html>\n<html><head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n</head><body><h2>Don't panic!</h2>\n  \
         <script>\n    document.domain = document.domain;\n    var c = parent.{callback};\n    c.start();\n    \
         function p(d) {{c.message(d);}};\n    window.onload = function() {{c.stop();}};\n  </script>"
    );
    while page.len() < 1024 {
        page.push(' ');
    }
    page.push_str("\r\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_unicode_as_escapes() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote("\u{2028}é"), "\"\\u2028\\u00e9\"");
        assert_eq!(quote("😀"), "\"\\ud83d\\ude00\"");
    }

    #[test]
    fn encodes_message_frames() {
        assert_eq!(
            messages(&["x".into(), "CONNECTED\n\n\0".into()]),
            "a[\"x\",\"CONNECTED\\n\\n\\u0000\"]"
        );
    }

    #[test]
    fn parses_client_frames() {
        assert_eq!(
            parse_client("[\"a\",\"b\"]"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_client("\"a\""), Some(vec!["a".into()]));
        assert_eq!(parse_client("[1]"), None);
        assert_eq!(parse_client("[\"a\""), None);
        assert_eq!(parse_client("{}"), None);
    }

    #[test]
    fn wraps_frames_per_transport() {
        assert_eq!(Wrapper::Newline.wrap("o"), "o\n");
        assert_eq!(Wrapper::EventSource.wrap("o"), "data: o\r\n\r\n");
        assert_eq!(
            Wrapper::HtmlFile.wrap("o"),
            "<script>\np(\"o\");\n</script>\r\n"
        );
        assert!(htmlfile_prelude("cb").len() >= 1024);
    }
}
