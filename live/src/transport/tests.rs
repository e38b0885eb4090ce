//! The one origin policy, over real sockets: the WebSocket upgrade and every
//! SockJS request refuse the same origins and allow the same ones.

use support::testing::ws;

use super::testing::{ALLOWED, App, EVIL, config, echo, within};

#[tokio::test]
async fn disallowed_origins_get_403_everywhere() {
    let app = App::spawn(config(), echo()).await;
    let refused = ws::connect(&app.ws_url(""), &[("origin", EVIL)]).await;
    assert_eq!(refused.err(), Some(403));
    for (method, path) in [
        (reqwest::Method::GET, "/info"),
        (reqwest::Method::POST, "/1/evil/xhr"),
        (reqwest::Method::POST, "/1/evil/xhr_streaming"),
        (reqwest::Method::GET, "/1/evil/eventsource"),
        (reqwest::Method::OPTIONS, "/1/evil/xhr_send"),
    ] {
        let r = within(
            app.http
                .request(method, app.url(path))
                .header("origin", EVIL)
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    // An allowed origin is echoed with credentials; no Origin is allowed.
    let r = within(
        app.http
            .get(app.url("/info"))
            .header("origin", ALLOWED)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = within(app.http.get(app.url("/info")).send()).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn allowed_and_same_origin_websockets_are_accepted() {
    let app = App::spawn(config(), echo()).await;
    let same = format!("http://{}", app.addr);
    for origin in [ALLOWED, same.as_str()] {
        let accepted = ws::connect(&app.ws_url(""), &[("origin", origin)]).await;
        assert!(accepted.is_ok(), "{origin}");
    }
}
