use super::*;

#[test]
fn quotes_the_protocols_escapable_characters_only() {
    assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    assert_eq!(quote("é😀"), "\"é😀\"");
    assert_eq!(
        quote("\u{2028}\u{2029}\u{200c}\u{200f}\u{2060}\u{fff0}\u{ffff}"),
        "\"\\u2028\\u2029\\u200c\\u200f\\u2060\\ufff0\\uffff\""
    );
    assert_eq!(quote("\u{0}"), "\"\\u0000\"");
}

#[test]
fn encodes_message_frames() {
    assert_eq!(
        messages(&["x".into(), "CONNECTED\n\n\0".into()]),
        "a[\"x\",\"CONNECTED\\n\\n\\u0000\"]"
    );
    assert_eq!(messages(&[]), "a[]");
}

#[test]
fn parses_client_frames() {
    assert_eq!(
        parse_client("[\"a\",\"b\"]"),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(parse_client("\"a\""), Some(vec!["a".into()]));
    assert_eq!(parse_client("[]"), Some(vec![]));
    assert_eq!(parse_client("[1]"), None);
    assert_eq!(parse_client("[\"a\""), None);
    assert_eq!(parse_client("{}"), None);
    assert_eq!(parse_client(""), None);
}

#[test]
fn lone_surrogates_become_replacement_characters() {
    assert_eq!(
        parse_client(r#"["a\ud800b","\udc00","\ud83d\ude00","\\ud800"]"#),
        Some(vec![
            "a\u{fffd}b".into(),
            "\u{fffd}".into(),
            "😀".into(),
            "\\ud800".into()
        ])
    );
    assert_eq!(parse_client(r#"["\ud83d"]"#), Some(vec!["\u{fffd}".into()]));
}

#[test]
fn wraps_frames_per_transport() {
    assert_eq!(Wrapper::Newline.wrap("o"), "o\n");
    assert_eq!(Wrapper::EventSource.wrap("o"), "data: o\r\n\r\n");
    assert_eq!(
        Wrapper::HtmlFile.wrap("a[\"x\"]"),
        "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
    );
    let prelude = htmlfile_prelude("cb");
    assert!(prelude.len() > 1024 && prelude.contains("parent.cb;"));
}

#[test]
fn htmlfile_frames_cannot_close_the_script() {
    let wrapped = Wrapper::HtmlFile.wrap(&messages(&["</script><b>&".into()]));
    assert!(!wrapped.contains("</script><b>"), "{wrapped}");
    assert!(wrapped.contains("\\u003c/script\\u003e\\u003cb\\u003e\\u0026"));
}
