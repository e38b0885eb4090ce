use super::{Refusal, Write, answer};

#[test]
fn only_a_response_to_no_request_is_hypers() {
    let mut r = Refusal::default();
    assert_eq!(
        r.classify(b"HTTP/1.1 400 Bad Request\r\n", 0),
        Write::HypersRefusal
    );
    assert_eq!(
        r.classify(b"HTTP/1.1 400 Bad Request\r\n", 1),
        Write::Response
    );
    assert_eq!(r.classify(b"HTTP/1.1 200 OK\r\n", 1), Write::Response);
    assert_eq!(r.classify(b"HTTP/1.1 100 Continue\r\n", 1), Write::Other);
    assert_eq!(r.classify(b"{\"message\":1}", 1), Write::Other);
    r.responded();
    // The second request's head did not parse.
    assert_eq!(
        r.classify(b"HTTP/1.1 431 Request Header Fields Too Large\r\n", 1),
        Write::HypersRefusal
    );
    // A handler's own 400 answers a request.
    assert_eq!(
        r.classify(b"HTTP/1.1 400 Bad Request\r\n", 2),
        Write::Response
    );
}

#[test]
fn answers_keep_the_status_and_are_json() {
    for (status, line) in [
        (400, "HTTP/1.1 400 Bad Request\r\n"),
        (431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (414, "HTTP/1.1 414 URI Too Long\r\n"),
        (505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        (200, "HTTP/1.1 400 Bad Request\r\n"),
    ] {
        let a = answer(status);
        assert!(a.starts_with(line), "{a}");
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{a}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["message"].is_string());
    }
}
