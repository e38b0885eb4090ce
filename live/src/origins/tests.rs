use super::*;

fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(o) = origin {
        h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
    }
    h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
    h
}

fn policy(entries: &[&str]) -> AllowedOrigins {
    AllowedOrigins::new(entries).unwrap()
}

fn allows(p: &AllowedOrigins, origin: &str) -> bool {
    p.allows(&headers(Some(origin), "api.internal:8080"))
}

#[test]
fn no_origin_is_allowed() {
    assert!(AllowedOrigins::default().allows(&headers(None, "localhost:8080")));
}

#[test]
fn same_origin_is_allowed() {
    let p = AllowedOrigins::default();
    assert!(p.allows(&headers(Some("http://localhost:8080"), "localhost:8080")));
    assert!(p.allows(&headers(Some("https://LOCALHOST:8080"), "localhost:8080")));
    assert!(!p.allows(&headers(Some("http://localhost:8081"), "localhost:8080")));
    assert!(!p.allows(&headers(Some("null"), "localhost:8080")));
}

#[test]
fn listed_origins_match_exactly() {
    let p = policy(&["http://localhost:4200/", "http://localhost"]);
    assert!(allows(&p, "http://localhost:4200"));
    assert!(allows(&p, "http://LocalHost:4200"));
    assert!(allows(&p, "http://localhost"));
    assert!(!allows(&p, "http://localhost:4201"));
    assert!(!allows(&p, "https://localhost"));
    assert!(!allows(&p, "http://evil.example"));
    assert!(!allows(&p, "http://localhost:4200.evil"));
}

#[test]
fn star_allows_every_origin_but_null() {
    let p = policy(&["*"]);
    assert!(allows(&p, "http://evil.example"));
    assert!(allows(&p, "https://a.b.c:8443"));
    assert!(!allows(&p, "null"));
    assert!(!allows(&p, "garbage"));
}

#[test]
fn host_wildcards_stay_in_the_host() {
    let p = policy(&["https://*.example.com"]);
    assert!(allows(&p, "https://shop.example.com"));
    assert!(allows(&p, "https://a.b.example.com"));
    assert!(!allows(&p, "https://example.com"));
    assert!(!allows(&p, "http://shop.example.com"));
    assert!(!allows(&p, "https://shop.example.com:8443"));
    assert!(!allows(&p, "https://example.com.evil.org"));
    assert!(!allows(&p, "https://evil.org/.example.com"));
}

#[test]
fn port_patterns() {
    let p = policy(&["http://localhost:[*]", "https://*.example.com:[8443,9443]"]);
    assert!(allows(&p, "http://localhost"));
    assert!(allows(&p, "http://localhost:4200"));
    assert!(!allows(&p, "http://localhost.evil:4200"));
    assert!(allows(&p, "https://a.example.com:9443"));
    assert!(!allows(&p, "https://a.example.com"));
    assert!(!allows(&p, "https://a.example.com:443"));
}

#[test]
fn a_star_is_a_whole_leading_label_or_nothing() {
    for bad in [
        "https://*example.org",
        "https://a*.b.com",
        "https://x.*.com",
        "https://*.*.com",
        "https://*.example.*",
        "https://*.",
        "http://*a",
        "a*.b.com",
    ] {
        let error = AllowedOrigins::new([bad]).unwrap_err().to_string();
        assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
    }
    let error = AllowedOrigins::new(["https://*example.org"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("whole first label"), "{error}");
    // The documented forms keep working.
    let p = policy(&["https://*.example.com", "http://*:[*]"]);
    assert!(allows(&p, "https://a.example.com"));
    assert!(!allows(&p, "https://evilexample.com"));
    assert!(allows(&p, "http://anything.at.all:8080"));
    assert!(policy(&["*"]).entries == [Entry::Any]);
}

#[test]
fn commas_inside_brackets_are_the_port_lists() {
    let p = policy(&["https://*.example.com:[8443,9443],http://localhost:4200, http://a:[1, 2]"]);
    assert_eq!(
        p.to_string(),
        "requests without Origin, the same origin, https://*.example.com:[8443,9443], http://localhost:4200, http://a:[1,2]"
    );
    assert!(allows(&p, "https://a.example.com:9443"));
    assert!(allows(&p, "https://a.example.com:8443"));
    assert!(!allows(&p, "https://evilexample.org"));
    // Unbalanced brackets make one entry that is not understood.
    assert!(AllowedOrigins::new(["http://a:[1,2,http://b"]).is_err());
    assert_eq!(
        split_list("a,,b:[1,2],[x]]],c").collect::<Vec<_>>(),
        ["a", "", "b:[1,2]", "[x]]]", "c"]
    );
}

#[test]
fn bad_entries_are_errors() {
    for bad in [
        "localhost:4200",
        "http://",
        "http://a/b",
        "http://a:[x]",
        "http://a:99999",
        "http://**.a",
    ] {
        assert!(AllowedOrigins::new([bad]).is_err(), "{bad}");
    }
    assert!(AllowedOrigins::new(["", " "]).is_ok());
}

#[test]
fn the_policy_reads_back() {
    let p = policy(&[
        "*",
        "http://localhost:[*]",
        "https://*.a.com:[1,2]",
        "http://x:1",
    ]);
    assert_eq!(
        p.to_string(),
        "requests without Origin, the same origin, *, http://localhost:[*], https://*.a.com:[1,2], http://x:1"
    );
}
