//! The encoder: lengths, and `encode_message` agreeing with `encode`.

use super::super::*;

#[test]
fn encoded_frames_carry_content_length() {
    let text = encode(
        &Frame::new("MESSAGE")
            .header("destination", "/topic/orders")
            .body("{\"id\":1}"),
        Version::V1_2,
    );
    assert_eq!(
        text,
        "MESSAGE\ndestination:/topic/orders\ncontent-length:8\n\n{\"id\":1}\0"
    );
    assert_eq!(
        encode(
            &Frame::new("RECEIPT").header("receipt-id", "7"),
            Version::V1_2
        ),
        "RECEIPT\nreceipt-id:7\n\n\0"
    );
}

#[test]
fn encode_message_is_encode_of_the_same_frame() {
    for version in VERSIONS {
        for (seq, trace_id) in [
            (None, None),
            (Some(42), None),
            (Some(43), Some("0af7651916cd43dd8448eb211c80319c")),
        ] {
            let mut frame = Frame::new("MESSAGE")
                .header("destination", "/topic/orders")
                .header("content-type", "application/json")
                .header("subscription", "sub:1\nx")
                .header("message-id", "abc-7");
            if let Some(seq) = seq {
                frame = frame.header("seq", seq.to_string());
            }
            if let Some(trace_id) = trace_id {
                frame = frame.header("trace_id", trace_id);
            }
            let frame = frame.body(br#"{"id":1,"product":"Laptop"}"#.to_vec());
            let direct = encode_message(
                "/topic/orders",
                "sub:1\nx",
                ("abc", 7),
                (seq, trace_id),
                r#"{"id":1,"product":"Laptop"}"#,
                version,
            );
            assert_eq!(direct, encode(&frame, version), "{version:?}");
        }
    }
}
