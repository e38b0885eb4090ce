//! Tells when an HTTP/2 client's handshake has arrived: the connection
//! preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, 24 bytes) and the frame
//! that must follow it, the client's SETTINGS (a 9-byte header whose first
//! three bytes are the payload's length, then the payload).
//!
//! Only counts bytes: whether they are what they should be is hyper's to
//! judge (it closes the connection otherwise). Until the count is reached,
//! the connection is under the header timeout, so a client that opens a
//! socket and sends nothing, or a preface alone, is closed like a client
//! that sends half a request head.

/// The preface's length.
const PREFACE: usize = 24;
/// A frame header's length.
const FRAME_HEADER: usize = 9;

/// Bytes of the handshake seen so far.
#[derive(Debug, Default)]
pub(super) struct Handshake {
    seen: usize,
    /// The SETTINGS frame's payload length, once its header has arrived.
    length: Option<usize>,
    /// The first bytes of that header.
    header: [u8; 3],
    done: bool,
}

impl Handshake {
    /// Counts `bytes` just received; true exactly once, when the handshake
    /// is complete.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        for &b in bytes {
            let at = self.seen;
            self.seen += 1;
            if (PREFACE..PREFACE + 3).contains(&at) {
                self.header[at - PREFACE] = b;
            }
            if self.seen == PREFACE + FRAME_HEADER {
                let [a, b, c] = self.header;
                self.length = Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
            }
            if let Some(length) = self.length
                && self.seen >= PREFACE + FRAME_HEADER + length
            {
                self.done = true;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
