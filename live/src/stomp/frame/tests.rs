//! The decoder, the encoder and their limits, on fixed inputs; the
//! encoder's two paths and the decoder under random and adversarial input
//! are in `tests/`.

use super::*;

const LIMITS: Limits = Limits {
    max_frame_bytes: 4096,
    max_headers: 16,
    max_header_bytes: 256,
};

fn parse_all(input: &[u8], version: Version) -> Result<Vec<Item>, FrameError> {
    let mut decoder = Decoder::new(LIMITS);
    decoder.extend(input);
    let mut items = Vec::new();
    while let Some(item) = decoder.next(version)? {
        items.push(item);
    }
    Ok(items)
}

/// Feeds `input` in `chunks`, taking every item after each: what a session does.
fn feed<'a>(
    decoder: &mut Decoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    version: Version,
) -> Result<Vec<Item>, FrameError> {
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.extend(chunk);
        while let Some(item) = decoder.next(version)? {
            items.push(item);
        }
    }
    Ok(items)
}

fn frames(items: Vec<Item>) -> Vec<Frame> {
    items
        .into_iter()
        .filter_map(|i| match i {
            Item::Frame(f) => Some(f),
            Item::Heartbeat => None,
        })
        .collect()
}

#[test]
fn parses_a_connect_frame() {
    let items = parse_all(
        b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0",
        Version::V1_2,
    )
    .unwrap();
    assert_eq!(
        items,
        vec![Item::Frame(
            Frame::new("CONNECT")
                .header("accept-version", "1.2")
                .header("host", "localhost")
        )]
    );
}

#[test]
fn crlf_line_ends_and_heartbeats_between_frames() {
    let input =
        b"\n\r\nSUBSCRIBE\r\nid:0\r\ndestination:/topic/orders\r\n\r\n\0\n\nDISCONNECT\n\n\0\r\n";
    let items = parse_all(input, Version::V1_2).unwrap();
    let beats = items.iter().filter(|i| **i == Item::Heartbeat).count();
    assert_eq!(beats, 5);
    let f = frames(items);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].get("destination"), Some("/topic/orders"));
    assert_eq!(f[1].command, "DISCONNECT");
}

#[test]
fn content_length_bodies_may_hold_nul() {
    let input = b"SEND\ndestination:/topic/x\ncontent-length:5\n\na\0b\0c\0";
    let f = frames(parse_all(input, Version::V1_2).unwrap());
    assert_eq!(f[0].body, b"a\0b\0c");
}

#[test]
fn body_without_content_length_ends_at_nul() {
    let f = frames(parse_all(b"SEND\ndestination:/q\n\nhello\0", Version::V1_2).unwrap());
    assert_eq!(f[0].body, b"hello");
}

#[test]
fn a_frame_split_at_every_byte_parses_the_same() {
    let input: &[u8] = b"SEND\ndestination:/topic/a\\cb\ncontent-length:3\nx:1\n\n\0\0\0\0\nMESSAGE\nk:v\n\nbody\0";
    let whole = parse_all(input, Version::V1_2).unwrap();
    for split in 0..input.len() {
        let mut decoder = Decoder::new(LIMITS);
        let items = feed(
            &mut decoder,
            [&input[..split], &input[split..]],
            Version::V1_2,
        )
        .unwrap();
        assert_eq!(items, whole, "split at {split}");
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn one_byte_at_a_time_parses_the_same() {
    let inputs: [&[u8]; 3] = [
        b"SEND\ndestination:/topic/a\\cb\ncontent-length:3\nx:1\n\n\0\0\0\0\nMESSAGE\nk:v\n\nbody\0",
        b"\n\r\nSUBSCRIBE\r\nid:0\r\ndestination:/topic/orders\r\n\r\n\0\n\nDISCONNECT\n\n\0\r\n",
        b"\r\n\rX\n\n\0",
    ];
    for input in inputs {
        let whole = parse_all(input, Version::V1_2);
        let mut decoder = Decoder::new(LIMITS);
        let items = feed(&mut decoder, input.chunks(1), Version::V1_2);
        assert_eq!(items, whole, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn a_version_change_mid_frame_unescapes_as_if_whole() {
    // `\r` is an escape in 1.2 only.
    let mut decoder = Decoder::new(LIMITS);
    decoder.extend(b"SEND\nh:a\\rb\n\n");
    assert_eq!(decoder.next(Version::V1_2), Ok(None));
    decoder.extend(b"x");
    assert_eq!(decoder.next(Version::V1_1), Err(FrameError::BadEscape));
    // The stream is not STOMP after an error: it stays one.
    decoder.extend(b"\0");
    assert_eq!(decoder.next(Version::V1_2), Err(FrameError::BadEscape));

    let mut decoder = Decoder::new(LIMITS);
    decoder.extend(b"SEND\nh:a\\cb\n\n");
    assert_eq!(decoder.next(Version::V1_0), Ok(None));
    decoder.extend(b"\0");
    let f = frames(vec![decoder.next(Version::V1_2).unwrap().unwrap()]);
    assert_eq!(f[0].get("h"), Some("a:b"));
}

#[test]
fn escaping_round_trips_in_1_2_and_1_1() {
    let tricky = "a:b\\c\nd";
    for version in [Version::V1_2, Version::V1_1] {
        let frame = Frame::new("MESSAGE")
            .header("subscription", tricky)
            .body("{}");
        let text = encode(&frame, version);
        assert!(text.contains("subscription:a\\cb\\\\c\\nd\n"), "{text:?}");
        let back = frames(parse_all(text.as_bytes(), version).unwrap());
        assert_eq!(back[0].get("subscription"), Some(tricky));
        assert_eq!(back[0].body, b"{}");
    }
    let with_cr = encode(&Frame::new("MESSAGE").header("h", "a\rb"), Version::V1_2);
    assert!(with_cr.contains("h:a\\rb\n"));
}

#[test]
fn connect_frames_and_1_0_are_not_unescaped() {
    let f = frames(parse_all(b"CONNECT\nlogin:a\\cb\n\n\0", Version::V1_2).unwrap());
    assert_eq!(f[0].get("login"), Some("a\\cb"));
    let f = frames(parse_all(b"SUBSCRIBE\ndestination:a\\nb\n\n\0", Version::V1_0).unwrap());
    assert_eq!(f[0].get("destination"), Some("a\\nb"));
    let text = encode(
        &Frame::new("CONNECTED").header("server", "x:y"),
        Version::V1_2,
    );
    assert!(text.contains("server:x:y\n"));
}

#[test]
fn first_repeated_header_wins() {
    let f = frames(parse_all(b"MESSAGE\nfoo:1\nfoo:2\n\n\0", Version::V1_2).unwrap());
    assert_eq!(f[0].get("foo"), Some("1"));
}

#[test]
fn malformed_input_is_an_error() {
    let cases: Vec<(&[u8], FrameError)> = vec![
        (b"connect\n\n\0", FrameError::BadCommand),
        (b"CON NECT\n\n\0", FrameError::BadCommand),
        (b"SEND\nno-colon\n\n\0", FrameError::BadHeader),
        (b"SEND\nh:a\\tb\n\n\0", FrameError::BadEscape),
        (b"SEND\nh:a\\\n\n\0", FrameError::BadEscape),
        (
            b"SEND\ncontent-length:abc\n\n\0",
            FrameError::BadContentLength,
        ),
        (
            b"SEND\ncontent-length:-1\n\n\0",
            FrameError::BadContentLength,
        ),
        (b"SEND\ncontent-length:2\n\nabc\0", FrameError::MissingNul),
        (
            b"SEND\ncontent-length:99999999\n\n",
            FrameError::TooLarge(4096),
        ),
        (b"SEND\n\xff\xfe:x\n\n\0", FrameError::BadHeader),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_all(input, Version::V1_2),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // \r is not an escape in 1.1.
    assert_eq!(
        parse_all(b"SEND\nh:a\\rb\n\n\0", Version::V1_1),
        Err(FrameError::BadEscape)
    );
}

#[test]
fn limits_are_enforced_while_buffering() {
    let mut many = b"SEND\n".to_vec();
    for i in 0..20 {
        many.extend_from_slice(format!("h{i}:v\n").as_bytes());
    }
    many.extend_from_slice(b"\n\0");
    assert_eq!(
        parse_all(&many, Version::V1_2),
        Err(FrameError::TooManyHeaders(16))
    );
    // A header line that never ends is refused before the frame completes.
    let endless = [b"SEND\nh:".as_slice(), &[b'x'; 300]].concat();
    assert_eq!(
        parse_all(&endless, Version::V1_2),
        Err(FrameError::HeaderTooLong(256))
    );
    // A body that never ends is refused at the frame limit.
    let body = [b"SEND\n\n".as_slice(), &[b'x'; 5000]].concat();
    assert_eq!(
        parse_all(&body, Version::V1_2),
        Err(FrameError::TooLarge(4096))
    );
}

mod encode;
mod robustness;
