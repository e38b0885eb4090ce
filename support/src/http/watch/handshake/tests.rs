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
