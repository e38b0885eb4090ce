//! STOMP frames: an incremental parser and an encoder. Pure functions, no I/O.
//!
//! Shaped like mini-redis's framing: [`parse`] looks at a buffer that may hold
//! part of a frame, several frames, or heart-beat EOLs, and either takes one
//! item off its front or says that more bytes are needed. It never buffers
//! more than the limits allow: a client cannot make us hold a frame larger
//! than `max_frame_bytes`.
//!
//! Header escaping follows the spec: STOMP 1.2 escapes `\\`, `\n`, `\r` and
//! `:`; 1.1 the same without `\r`; 1.0 nothing; and CONNECT/CONNECTED frames
//! are never escaped (so a 1.0 client's CONNECT parses the same as a 1.2 one).

use std::fmt::Write as _;

use bytes::{Buf, BytesMut};

/// The protocol versions we speak, best first.
pub const VERSIONS: [Version; 3] = [Version::V1_2, Version::V1_1, Version::V1_0];

/// A negotiated STOMP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// STOMP 1.0: no header escaping.
    V1_0,
    /// STOMP 1.1: escaping without `\r`.
    V1_1,
    /// STOMP 1.2.
    V1_2,
}

impl Version {
    /// As in the `version` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }
}

/// Bounds on what a client may send.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame, headers and body together.
    pub max_frame_bytes: usize,
    /// Most headers in one frame.
    pub max_headers: usize,
    /// Longest single header line.
    pub max_header_bytes: usize,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `CONNECT`, `SUBSCRIBE`, … (as sent).
    pub command: String,
    /// Headers in order, unescaped; repeats are kept (the first one wins).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What [`parse`] took off the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A bare EOL: a heart-beat.
    Heartbeat,
    /// A whole frame.
    Frame(Frame),
}

/// Why the input is not STOMP.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Over `max_frame_bytes`.
    #[error("frame larger than {0} bytes")]
    TooLarge(usize),
    /// Over `max_headers`.
    #[error("more than {0} headers")]
    TooManyHeaders(usize),
    /// A header line over `max_header_bytes`.
    #[error("header line longer than {0} bytes")]
    HeaderTooLong(usize),
    /// The command line is empty or not a word.
    #[error("invalid command line")]
    BadCommand,
    /// A header line without `:`, or not UTF-8.
    #[error("invalid header line")]
    BadHeader,
    /// An escape sequence the spec does not define.
    #[error("invalid escape sequence in a header")]
    BadEscape,
    /// `content-length` that is not a number.
    #[error("invalid content-length")]
    BadContentLength,
    /// A `content-length` body not followed by NUL.
    #[error("frame body not terminated by NUL")]
    MissingNul,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: &str) -> Self {
        Self {
            command: command.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn never_escaped(command: &str) -> bool {
    matches!(command, "CONNECT" | "STOMP" | "CONNECTED")
}

/// Takes one item off the front of `buf`, `Ok(None)` when more bytes are needed.
pub fn parse(
    buf: &mut BytesMut,
    version: Version,
    limits: &Limits,
) -> Result<Option<Item>, FrameError> {
    // Heart-beats (and the optional EOLs after a frame's NUL).
    if buf.first() == Some(&b'\n') {
        buf.advance(1);
        return Ok(Some(Item::Heartbeat));
    }
    if buf.starts_with(b"\r\n") {
        buf.advance(2);
        return Ok(Some(Item::Heartbeat));
    }
    if buf.len() == 1 && buf[0] == b'\r' {
        return Ok(None);
    }
    let Some(header_end) = find_blank_line(buf, limits)? else {
        return if buf.len() > limits.max_frame_bytes {
            Err(FrameError::TooLarge(limits.max_frame_bytes))
        } else {
            Ok(None)
        };
    };
    let (head, body_start) = header_end;
    let head_text = std::str::from_utf8(&buf[..head]).map_err(|_| FrameError::BadHeader)?;
    let mut lines = head_text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    let command = lines.next().unwrap_or_default();
    if command.is_empty() || !command.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(FrameError::BadCommand);
    }
    let escaped = !never_escaped(command) && version != Version::V1_0;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == limits.max_headers {
            return Err(FrameError::TooManyHeaders(limits.max_headers));
        }
        let (name, value) = line.split_once(':').ok_or(FrameError::BadHeader)?;
        if escaped {
            headers.push((unescape(name, version)?, unescape(value, version)?));
        } else {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let content_length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.trim());
    let body_end = match content_length {
        Some(len) => {
            let len: usize = len.parse().map_err(|_| FrameError::BadContentLength)?;
            if body_start.saturating_add(len) >= limits.max_frame_bytes {
                return Err(FrameError::TooLarge(limits.max_frame_bytes));
            }
            if buf.len() <= body_start + len {
                return Ok(None);
            }
            if buf[body_start + len] != 0 {
                return Err(FrameError::MissingNul);
            }
            body_start + len
        }
        None => match buf[body_start..].iter().position(|b| *b == 0) {
            Some(nul) => body_start + nul,
            None if buf.len() > limits.max_frame_bytes => {
                return Err(FrameError::TooLarge(limits.max_frame_bytes));
            }
            None => return Ok(None),
        },
    };
    if body_end >= limits.max_frame_bytes {
        return Err(FrameError::TooLarge(limits.max_frame_bytes));
    }
    let frame = Frame {
        command: command.to_owned(),
        headers,
        body: buf[body_start..body_end].to_vec(),
    };
    buf.advance(body_end + 1);
    Ok(Some(Item::Frame(frame)))
}

/// Finds the empty line ending the headers: (end of the header block, start
/// of the body). Checks line lengths as it scans, so an endless header line
/// is refused early.
fn find_blank_line(buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, FrameError> {
    let mut line_start = 0;
    let mut first = true;
    for (i, b) in buf.iter().enumerate() {
        if *b != b'\n' {
            if i - line_start > limits.max_header_bytes {
                return Err(FrameError::HeaderTooLong(limits.max_header_bytes));
            }
            continue;
        }
        let line = &buf[line_start..i];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && !first {
            // The header block ends before this empty line's own EOL.
            let head_end = line_start.saturating_sub(1);
            let head_end = if head_end >= 1 && buf[head_end - 1] == b'\r' {
                head_end - 1
            } else {
                head_end
            };
            return Ok(Some((head_end, i + 1)));
        }
        first = false;
        line_start = i + 1;
    }
    if buf.len() - line_start > limits.max_header_bytes {
        return Err(FrameError::HeaderTooLong(limits.max_header_bytes));
    }
    Ok(None)
}

fn unescape(s: &str, version: Version) -> Result<String, FrameError> {
    if !s.contains('\\') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            Some('r') if version == Version::V1_2 => out.push('\r'),
            _ => return Err(FrameError::BadEscape),
        }
    }
    Ok(out)
}

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
pub fn encode(frame: &Frame, version: Version) -> String {
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
/// escaping.
pub fn encode_message(
    destination: &str,
    subscription: &str,
    message_id: (&str, u64),
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
    end_with_body(&mut out, body);
    out
}

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

#[cfg(test)]
mod tests;
