use super::*;

#[test]
fn echoes_a_valid_session_cookie_only() {
    let cookie = |value: &str| {
        let mut request = HeaderMap::new();
        request.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        let mut out = HeaderMap::new();
        session_cookie(&request, &mut out);
        out[header::SET_COOKIE].to_str().unwrap().to_owned()
    };
    assert_eq!(cookie("a=b; JSESSIONID=abc"), "JSESSIONID=abc;path=/");
    assert_eq!(cookie("JSESSIONID=a,b"), "JSESSIONID=dummy;path=/");
    let mut out = HeaderMap::new();
    session_cookie(&HeaderMap::new(), &mut out);
    assert_eq!(out[header::SET_COOKIE], "JSESSIONID=dummy;path=/");
}
