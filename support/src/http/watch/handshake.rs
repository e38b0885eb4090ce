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
mod tests {
    use super::Handshake;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn settings(payload: usize) -> Vec<u8> {
        let mut frame = vec![0, 0, u8::try_from(payload).unwrap(), 4, 0, 0, 0, 0, 0];
        frame.resize(9 + payload, 0);
        frame
    }

    #[test]
    fn complete_after_the_preface_and_the_settings_frame() {
        let mut wire = PREFACE.to_vec();
        wire.extend(settings(12));
        wire.extend(b"more frames");
        let end = PREFACE.len() + 9 + 12;
        // Whatever the split points, it completes on the SETTINGS' last byte.
        for split in 0..wire.len() {
            let mut h = Handshake::default();
            let first = h.feed(&wire[..split]);
            let second = h.feed(&wire[split..]);
            assert!(first ^ second, "once, at split {split}");
            assert_eq!(first, split >= end, "split {split}");
            assert!(!h.feed(b"x"), "never again");
        }
    }

    #[test]
    fn a_preface_alone_is_not_a_handshake() {
        let mut h = Handshake::default();
        assert!(!h.feed(PREFACE));
        assert!(!h.feed(&settings(6)[..9]), "header without its payload");
        let mut h = Handshake::default();
        assert!(!h.feed(PREFACE));
        assert!(h.feed(&settings(0)), "an empty SETTINGS is complete");
    }
}
