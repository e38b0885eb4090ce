//! The decoder: bytes as received in, [`Item`]s out.

use bytes::{Buf, BytesMut};

use super::{Frame, FrameError, Item, Limits, Version, never_escaped};

/// Splits the bytes a client sends into [`Item`]s, however the transport
/// cut them into messages.
///
/// It owns the read buffer and remembers how far it has looked, so every
/// byte is examined a bounded number of times: parsing from the start of
/// the buffer on each message made a frame sent one byte per message cost
/// time quadratic in its size.
#[derive(Debug)]
pub(crate) struct Decoder {
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
    pub(crate) fn new(limits: Limits) -> Self {
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
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held: part of a frame, or items not yet taken.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes looked at so far, each pass over a byte counted once (the
    /// header block's parse and the body's copy are a pass each): what a
    /// test pins to stay linear in the bytes received.
    #[cfg(test)]
    pub(crate) fn examined(&self) -> u64 {
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
    pub(crate) fn next(&mut self, version: Version) -> Result<Option<Item>, FrameError> {
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
