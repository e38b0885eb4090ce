//! The decoder under random and adversarial input: it never panics, never
//! buffers past its limit, and its work stays linear in what it is fed.

use super::super::*;
use super::{LIMITS, feed, frames};

/// Feeds thousands of random and mutated inputs in random chunks: the
/// parser must never panic, and never hold more than the frame limit plus
/// one chunk.
#[test]
fn random_input_never_panics_nor_overbuffers() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid: &[u8] =
        b"SUBSCRIBE\nid:0\ndestination:/topic/orders\nreceipt:r\\c1\ncontent-length:2\n\n{}\0\n";
    let alphabet = b"\0\n\r:\\cnrABCSENDxyz0123456789-";
    for _ in 0..5000 {
        let mut input = valid.repeat((next() % 3) as usize + 1);
        for _ in 0..(next() % 8) {
            let pos = (next() as usize) % input.len();
            match next() % 3 {
                0 => input[pos] = alphabet[(next() as usize) % alphabet.len()],
                1 => input.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                _ => {
                    input.remove(pos);
                }
            }
        }
        if next() % 10 == 0 {
            input = (0..(next() % 6000)).map(|_| next() as u8).collect();
        }
        let mut decoder = Decoder::new(LIMITS);
        let mut rest = input.as_slice();
        'feed: while !rest.is_empty() {
            let n = ((next() % 64) as usize + 1).min(rest.len());
            decoder.extend(&rest[..n]);
            rest = &rest[n..];
            loop {
                match decoder.next(Version::V1_2) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            assert!(
                decoder.buffered() <= LIMITS.max_frame_bytes + 64,
                "buffered {} bytes",
                decoder.buffered()
            );
        }
    }
}

/// The limits a session has by default.
const SESSION_LIMITS: Limits = Limits {
    max_frame_bytes: 64 * 1024,
    max_headers: 32,
    max_header_bytes: 4096,
};

/// Feeds `input` one byte per call, as a client sending one byte per
/// WebSocket message would, and returns its frames and the bytes examined.
fn byte_at_a_time(input: &[u8]) -> (Vec<Frame>, u64) {
    let mut decoder = Decoder::new(SESSION_LIMITS);
    let items = feed(&mut decoder, input.chunks(1), Version::V1_2).unwrap();
    assert_eq!(decoder.buffered(), 0);
    (frames(items), decoder.examined())
}

/// Counts work rather than timing it. Parsing from the start of the buffer
/// on every message, as the decoder's predecessor did, examined 1.7 to 1.9
/// billion bytes for each of these frames but the one with
/// `content-length`, and 6.3 million (107 per byte) for that one.
#[test]
fn work_is_linear_in_the_bytes_received_however_they_are_split() {
    let body = vec![b'x'; 58_600];
    let head = b"SEND\ndestination:/topic/orders\n".to_vec();
    let without_length = [head.as_slice(), b"\n", &body, b"\0"].concat();
    let with_length = [
        head.as_slice(),
        format!("content-length:{}\n\n", body.len()).as_bytes(),
        &body,
        b"\0",
    ]
    .concat();
    // Header lines as long as allowed, and as many as allowed.
    let mut long_lines = b"SEND\n".to_vec();
    for i in 0..15 {
        let name = format!("h{i:02}:");
        long_lines.extend_from_slice(name.as_bytes());
        long_lines.resize(long_lines.len() + 4096 - name.len(), b'v');
        long_lines.push(b'\n');
    }
    long_lines.extend_from_slice(b"\n\0");
    let mut many_lines = b"SEND\n".to_vec();
    for i in 0..32 {
        let name = format!("h{i:02}:");
        many_lines.extend_from_slice(name.as_bytes());
        many_lines.resize(many_lines.len() + 1900 - name.len(), b'v');
        many_lines.push(b'\n');
    }
    many_lines.extend_from_slice(b"\n\0");

    for (name, input, headers) in [
        ("without content-length", &without_length, 1),
        ("with content-length", &with_length, 2),
        ("long header lines", &long_lines, 15),
        ("many header lines", &many_lines, 32),
    ] {
        assert!(input.len() > 58_000 && input.len() < 64 * 1024, "{name}");
        let (frames, examined) = byte_at_a_time(input);
        assert_eq!(frames.len(), 1, "{name}");
        assert_eq!(frames[0].headers.len(), headers, "{name}");
        let fed = input.len() as u64;
        assert!(
            examined <= 3 * fed,
            "{name}: examined {examined} bytes for {fed} fed"
        );
    }
    assert_eq!(byte_at_a_time(&with_length).0[0].body, body);
}
