//! SockJS over real sockets: the greeting, `/info` and the iframe page,
//! preflights, xhr_send, the session lifecycle and the websocket
//! transport; and the htmlfile callback rule.

use std::time::Duration;

use futures::SinkExt;
use support::testing::ws;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use super::htmlfile_callback;
use crate::transport::{
    TransportConfig,
    testing::{ALLOWED, App, config, echo, echo_reporting_end, hang_up, read_until, within},
};

#[test]
fn checks_htmlfile_callbacks() {
    assert_eq!(
        htmlfile_callback(Some("c=%63allback")),
        Ok("callback".into())
    );
    assert_eq!(htmlfile_callback(Some("t=1&c=a.b_1")), Ok("a.b_1".into()));
    assert_eq!(
        htmlfile_callback(None),
        Err("\"callback\" parameter required")
    );
    assert_eq!(
        htmlfile_callback(Some("c=")),
        Err("\"callback\" parameter required")
    );
    for bad in ["c=%20", "c=*", "c=abc(", "c=abc%28", "c=a-b"] {
        assert_eq!(
            htmlfile_callback(Some(bad)),
            Err("invalid \"callback\" parameter"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn greeting_info_and_iframe() {
    let app = App::spawn(config(), echo()).await;
    for path in ["", "/"] {
        let r = within(app.http.get(app.url(path)).send()).await.unwrap();
        assert_eq!(r.headers()["content-type"], "text/plain;charset=UTF-8");
        assert_eq!(within(r.text()).await.unwrap(), "Welcome to SockJS!\n");
    }
    let r = within(app.http.get(app.url("/info")).send()).await.unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache")
    );
    let info: serde_json::Value = within(r.json()).await.unwrap();
    assert_eq!(info["websocket"], true);
    assert_eq!(info["cookie_needed"], true);
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    assert!(info["entropy"].is_u64());

    let preflight = within(
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/info"))
            .header("origin", ALLOWED)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "OPTIONS, GET"
    );

    let r = within(app.http.get(app.url("/iframe-1.6.1.html")).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].clone();
    assert!(
        within(r.text())
            .await
            .unwrap()
            .contains("SockJS.bootstrap_iframe()")
    );
    let r = within(
        app.http
            .get(app.url("/iframe.html"))
            .header("if-none-match", etag)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 304);
    let r = within(app.http.get(app.url("/IFRAME.HTML")).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn xhr_preflights_echo_the_requested_headers() {
    let app = App::spawn(config(), echo()).await;
    for transport in ["xhr", "xhr_send", "xhr_streaming"] {
        let r = within(
            app.http
                .request(
                    reqwest::Method::OPTIONS,
                    app.url(&format!("/000/pf/{transport}")),
                )
                .header("origin", ALLOWED)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "a, b")
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 204);
        let h = r.headers();
        assert_eq!(h["access-control-allow-methods"], "OPTIONS, POST");
        assert_eq!(h["access-control-allow-headers"], "a, b");
        assert_eq!(h["access-control-allow-origin"], ALLOWED);
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(
            h["access-control-max-age"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 1_000_000
        );
    }
}

#[tokio::test]
async fn xhr_send_refuses_bad_requests() {
    let app = App::spawn(config(), echo()).await;
    assert_eq!(app.text("/000/nobody/xhr_send", r#"["a"]"#).await.0, 404);
    assert_eq!(app.text("/000/bad/xhr", "").await.1, "o\n");
    let (status, body) = app.text("/000/bad/xhr_send", "[\"a").await;
    assert_eq!((status, body.as_str()), (500, "Broken JSON encoding."));
    let (status, body) = app.text("/000/bad/xhr_send", "").await;
    assert_eq!((status, body.as_str()), (500, "Payload expected."));
    let big = format!("[\"{}\"]", "x".repeat(config().max_message_bytes));
    let r = app.post("/000/bad/xhr_send", &big).await;
    assert_eq!(r.status(), 413);
    // The body is left unread, so the server says it closes the connection.
    assert_eq!(r.headers()["connection"], "close");
    within(r.text()).await.unwrap();
    // The session survived all of that.
    assert_eq!(app.text("/000/bad/xhr_send", r#"["ok"]"#).await.0, 204);
    assert_eq!(app.text("/000/bad/xhr", "").await.1, "a[\"ok\"]\n");
    // Paths and transports that do not exist.
    for path in [
        "/000/a.b/xhr",
        "/0.0/ab/xhr",
        "/000/ab/jsonp",
        "/000/ab/nothing",
    ] {
        assert_eq!(app.text(path, "").await.0, 404, "{path}");
    }
    let r = within(app.http.get(app.url("/000/ab/xhr")).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn a_second_receiver_gets_2010_and_a_closed_session_3000() {
    let app = App::spawn(config(), echo()).await;
    let mut first = app.post("/000/two/xhr_streaming", "").await;
    let mut buffer = String::new();
    read_until(&mut first, &mut buffer, "o\n").await;
    let (status, body) = app.text("/000/two/xhr", "").await;
    assert_eq!(status, 200);
    assert_eq!(body, "c[2010,\"Another connection still open\"]\n");

    let app = App::spawn(config(), hang_up()).await;
    assert_eq!(app.text("/000/gone/xhr", "").await.1, "o\n");
    for _ in 0..2 {
        assert_eq!(
            app.text("/000/gone/xhr", "").await.1,
            "c[3000,\"Go away!\"]\n"
        );
    }
}

#[tokio::test]
async fn a_session_without_receiver_times_out_and_ends_incoming() {
    let (ended_tx, mut ended) = mpsc::channel(1);
    let config = TransportConfig {
        // Also how long the closed session lingers for the last check.
        disconnect_delay: Duration::from_secs(1),
        ..config()
    };
    let app = App::spawn(config, echo_reporting_end(ended_tx)).await;
    assert_eq!(app.text("/000/idle/xhr", "").await.1, "o\n");
    within(ended.recv()).await.expect("incoming never ended");
    assert_eq!(
        app.text("/000/idle/xhr", "").await.1,
        "c[3000,\"Go away!\"]\n"
    );
    assert_eq!(app.text("/000/idle/xhr_send", r#"["a"]"#).await.0, 404);
}

#[tokio::test]
async fn sockjs_websocket_opens_echoes_and_closes() {
    let app = App::spawn(config(), echo()).await;
    let (mut ws, _) = ws::connect(&app.ws_url("/000/abc/websocket"), &[])
        .await
        .unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "o");
    ws.send(Message::text(r#"["a","b\u2028"]"#)).await.unwrap();
    // One message per frame or batched, in order.
    let mut got = String::new();
    while !got.contains("\\u2028") {
        got.push_str(&ws::next_text(&mut ws).await);
    }
    assert!(
        got == r#"a["a"]a["b\u2028"]"# || got == r#"a["a","b\u2028"]"#,
        "{got}"
    );
    ws.send(Message::text(r#""single""#)).await.unwrap();
    assert_eq!(ws::next_text(&mut ws).await, r#"a["single"]"#);
    // Broken JSON ends the connection.
    ws.send(Message::text("[\"a")).await.unwrap();
    assert_eq!(ws::close_code(&mut ws).await, CloseCode::Invalid);

    let app = App::spawn(config(), hang_up()).await;
    let (mut ws, _) = ws::connect(&app.ws_url("/000/abc/websocket"), &[])
        .await
        .unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "o");
    assert_eq!(ws::next_text(&mut ws).await, r#"c[3000,"Go away!"]"#);
    assert_eq!(u16::from(ws::close_code(&mut ws).await), 3000);
}
