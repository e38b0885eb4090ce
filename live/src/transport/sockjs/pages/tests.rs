use std::time::{Duration, SystemTime};

use super::*;
use crate::transport::testing::{App, config, echo, within};

/// What the constants cannot promise by themselves: the page goes out
/// as cacheable HTML that loads the client, under one ETag whatever its
/// name, and a cached copy is revalidated with a bodiless 304.
#[tokio::test]
async fn the_iframe_page_is_cached_for_a_year_and_revalidated() {
    let app = App::spawn(config(), echo()).await;
    let get = async |page: &str, if_none_match: Option<&str>| {
        let mut request = app.http.get(app.url(page));
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        let r = within(request.send()).await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, within(r.text()).await.unwrap())
    };
    let (status, headers, page) = get("/iframe.html", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html;charset=UTF-8");
    assert_eq!(headers["cache-control"], "public, max-age=31536000");
    let expires = httpdate::parse_http_date(headers["expires"].to_str().unwrap()).unwrap();
    let ahead = expires.duration_since(SystemTime::now()).unwrap();
    let year = Duration::from_secs(365 * 86_400);
    assert!(
        ahead > year - Duration::from_secs(60) && ahead <= year,
        "{ahead:?}"
    );
    let script = concat!("<script src=\"", sockjs_client_url!(), "\"></script>");
    assert!(page.contains(script), "{page}");
    let etag = headers["etag"].to_str().unwrap().to_owned();

    let (status, headers, _) = get("/iframe-1.6.1.html", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"], etag.as_str());

    let (status, headers, body) = get("/iframe-1.6.1.html", Some(&etag)).await;
    assert_eq!(status, 304);
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(body, "");

    let (status, _, body) = get("/iframe.html", Some("\"stale\"")).await;
    assert_eq!(status, 200);
    assert_eq!(body, page);
}

#[test]
fn entropy_varies() {
    let values: std::collections::HashSet<u32> = (0..8).map(|_| entropy()).collect();
    assert!(values.len() > 1);
}
