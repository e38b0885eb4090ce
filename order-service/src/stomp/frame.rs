//! STOMP frames: an incremental decoder and an encoder. No I/O.
//!
//! Shaped like mini-redis's framing: a [`Decoder`] holds what was received
//! so far, which may be part of a frame, several frames, or heart-beat EOLs,
//! and either takes one item off its front or says that more bytes are
//! needed. Unlike mini-redis, which checks its buffer from the start after
//! every read, it resumes where it stopped: a client may send a frame one
//! byte per WebSocket message, and starting over on each one made the work
//! quadratic in the frame's size. It never buffers more than the limits
//! allow: a client cannot make us hold a frame larger than
//! `max_frame_bytes`.
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

/// What [`Decoder::next`] took off the buffer.
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

/// Splits the bytes a client sends into [`Item`]s, however the transport
/// cut them into messages.
///
/// It owns the read buffer and remembers how far it has looked, so every
/// byte is examined a bounded number of times: parsing from the start of
/// the buffer on each message made a frame sent one byte per message cost
/// time quadratic in its size.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limits: Limits,
    /// While looking for the header block's end: how far `buf` has been
    /// scanned (0 before a frame starts, where heart-beats may come)…
    scanned: usize,
    /// …and where the line being scanned starts.
    line_start: usize,
    /// The current frame's header block, once complete.
    head: Option<Head>,
    /// Set by the first error; the stream is not STOMP after it.
    failed: Option<FrameError>,
    examined: u64,
}

/// A parsed header block, kept while its body arrives.
#[derive(Debug)]
struct Head {
    command: String,
    headers: Vec<(String, String)>,
    content_length: Option<usize>,
    /// The version the headers were unescaped with.
    version: Version,
    /// End of the header block in the buffer (before its last line's EOL).
    end: usize,
    body_start: usize,
    /// Without `content-length`: how far the body has been searched for NUL.
    searched: usize,
}

impl Decoder {
    /// An empty decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            scanned: 0,
            line_start: 0,
            head: None,
            failed: None,
            examined: 0,
        }
    }

    /// Appends bytes as they were received.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held: part of a frame, or items not yet taken.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes looked at so far, each pass over a byte counted once (the
    /// header block's parse and the body's copy are a pass each): what a
    /// test pins to stay linear in the bytes received.
    #[cfg(test)]
    pub fn examined(&self) -> u64 {
        self.examined
    }

    /// Takes the next item off the front of the buffer, `Ok(None)` when more
    /// bytes are needed.
    ///
    /// `version` decides how headers are unescaped; it may change between
    /// calls (after CONNECT), and a header block already parsed under
    /// another version is parsed again, so the result is the same as if the
    /// whole frame had arrived in this call. After an error every call
    /// returns that error.
    pub fn next(&mut self, version: Version) -> Result<Option<Item>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let item = self.step(version);
        if let Err(e) = &item {
            self.failed = Some(e.clone());
        }
        item
    }

    fn step(&mut self, version: Version) -> Result<Option<Item>, FrameError> {
        let mut head = match self.head.take() {
            Some(head) if head.version == version => head,
            Some(old) => Head {
                searched: old.searched,
                ..self.parse_head(old.end, old.body_start, version)?
            },
            None => {
                if self.scanned == 0 {
                    // Heart-beats (and the optional EOLs after a frame's
                    // NUL) come only between frames.
                    let front = &self.buf[..self.buf.len().min(2)];
                    self.examined += front.len() as u64;
                    match front {
                        [b'\n', ..] => {
                            self.buf.advance(1);
                            return Ok(Some(Item::Heartbeat));
                        }
                        [b'\r', b'\n'] => {
                            self.buf.advance(2);
                            return Ok(Some(Item::Heartbeat));
                        }
                        // A lone `\r` may be the start of a `\r\n`.
                        [] | [b'\r'] => return Ok(None),
                        _ => {}
                    }
                }
                let Some((end, body_start)) = self.scan_head()? else {
                    return Ok(None);
                };
                self.parse_head(end, body_start, version)?
            }
        };
        let Some(body_end) = self.find_body_end(&mut head)? else {
            self.head = Some(head);
            return Ok(None);
        };
        let body = self.buf[head.body_start..body_end].to_vec();
        self.examined += body.len() as u64;
        self.buf.advance(body_end + 1);
        self.scanned = 0;
        self.line_start = 0;
        Ok(Some(Item::Frame(Frame {
            command: head.command,
            headers: head.headers,
            body,
        })))
    }

    /// Scans on for the empty line ending the headers: (end of the header
    /// block, start of the body). Checks line lengths as it goes, so an
    /// endless header line is refused early.
    fn scan_head(&mut self) -> Result<Option<(usize, usize)>, FrameError> {
        let max = self.limits.max_header_bytes;
        let from = self.scanned;
        for (offset, b) in self.buf[from..].iter().enumerate() {
            let i = from + offset;
            if *b != b'\n' {
                if i - self.line_start > max {
                    self.examined += offset as u64 + 1;
                    return Err(FrameError::HeaderTooLong(max));
                }
                continue;
            }
            let line = &self.buf[self.line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // The command line cannot be empty: a bare EOL there is a
            // heart-beat.
            if line.is_empty() && self.line_start > 0 {
                self.examined += offset as u64 + 1;
                // The header block ends before the previous line's EOL.
                let end = self.line_start - 1;
                let end = if end >= 1 && self.buf[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                return Ok(Some((end, i + 1)));
            }
            self.line_start = i + 1;
        }
        let len = self.buf.len();
        self.examined += (len - from) as u64;
        self.scanned = len;
        if len - self.line_start > max {
            return Err(FrameError::HeaderTooLong(max));
        }
        if len > self.limits.max_frame_bytes {
            return Err(FrameError::TooLarge(self.limits.max_frame_bytes));
        }
        Ok(None)
    }

    /// Parses the header block `buf[..end]`, once per frame (and version).
    fn parse_head(
        &mut self,
        end: usize,
        body_start: usize,
        version: Version,
    ) -> Result<Head, FrameError> {
        self.examined += end as u64;
        let limits = &self.limits;
        let text = std::str::from_utf8(&self.buf[..end]).map_err(|_| FrameError::BadHeader)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
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
        let content_length = match headers.iter().find(|(n, _)| n == "content-length") {
            Some((_, v)) => {
                let len: usize = v.trim().parse().map_err(|_| FrameError::BadContentLength)?;
                // Refused before its body arrives.
                if body_start.saturating_add(len) >= limits.max_frame_bytes {
                    return Err(FrameError::TooLarge(limits.max_frame_bytes));
                }
                Some(len)
            }
            None => None,
        };
        Ok(Head {
            command: command.to_owned(),
            headers,
            content_length,
            version,
            end,
            body_start,
            searched: body_start,
        })
    }

    /// Where the body ends (at its NUL), searching only bytes not searched
    /// before.
    fn find_body_end(&mut self, head: &mut Head) -> Result<Option<usize>, FrameError> {
        let max = self.limits.max_frame_bytes;
        let body_end = match head.content_length {
            Some(len) => {
                // `parse_head` bounded this below `max_frame_bytes`.
                let end = head.body_start + len;
                let Some(&nul) = self.buf.get(end) else {
                    return Ok(None);
                };
                self.examined += 1;
                if nul != 0 {
                    return Err(FrameError::MissingNul);
                }
                end
            }
            None => {
                let from = head.searched;
                let rest = &self.buf[from..];
                match rest.iter().position(|b| *b == 0) {
                    Some(nul) => {
                        self.examined += nul as u64 + 1;
                        from + nul
                    }
                    None => {
                        self.examined += rest.len() as u64;
                        head.searched = self.buf.len();
                        if self.buf.len() > max {
                            return Err(FrameError::TooLarge(max));
                        }
                        return Ok(None);
                    }
                }
            }
        };
        if body_end >= max {
            return Err(FrameError::TooLarge(max));
        }
        Ok(Some(body_end))
    }
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
