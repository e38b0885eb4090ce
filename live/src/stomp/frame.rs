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

mod decode;
mod encode;

pub(crate) use decode::Decoder;
pub(crate) use encode::{encode, encode_message};

/// The protocol versions we speak, best first.
pub(crate) const VERSIONS: [Version; 3] = [Version::V1_2, Version::V1_1, Version::V1_0];

/// A negotiated STOMP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// STOMP 1.0: no header escaping.
    V1_0,
    /// STOMP 1.1: escaping without `\r`.
    V1_1,
    /// STOMP 1.2.
    V1_2,
}

impl Version {
    /// As in the `version` header.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }
}

/// Bounds on what a client may send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest frame, headers and body together.
    pub max_frame_bytes: usize,
    /// Most headers in one frame.
    pub max_headers: usize,
    /// Longest single header line.
    pub max_header_bytes: usize,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// `CONNECT`, `SUBSCRIBE`, … (as sent).
    pub command: String,
    /// Headers in order, unescaped; repeats are kept (the first one wins).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What [`Decoder::next`] took off the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A bare EOL: a heart-beat.
    Heartbeat,
    /// A whole frame.
    Frame(Frame),
}

/// Why the input is not STOMP.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
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
    pub(crate) fn new(command: &str) -> Self {
        Self {
            command: command.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// CONNECT and CONNECTED frames are never escaped, whatever the version.
fn never_escaped(command: &str) -> bool {
    matches!(command, "CONNECT" | "STOMP" | "CONNECTED")
}

#[cfg(test)]
mod tests;
