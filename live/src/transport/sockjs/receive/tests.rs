//! The receiving transports over real sockets: xhr polling, xhr_streaming
//! (and its byte limit), eventsource, htmlfile, heart-beats, a stalled
//! reader.

use std::time::Duration;

use support::testing::ws;
use tokio::sync::mpsc;

use crate::transport::{
    TransportConfig,
    testing::{
        ALLOWED, App, config, echo, flood, flood_when_asked, read_until, rest_of_body, within,
    },
};

#[tokio::test]
async fn xhr_streaming_with_xhr_send_echoes() {
    let app = App::spawn(config(), echo()).await;
    let mut stream = within(
        app.http
            .post(app.url("/000/s1/xhr_streaming"))
            .header("origin", ALLOWED)
            .send(),
    )
    .await
    .unwrap();
    let h = stream.headers();
    assert_eq!(h["content-type"], "application/javascript;charset=UTF-8");
    assert_eq!(
        h["cache-control"],
        "no-store, no-cache, no-transform, must-revalidate, max-age=0"
    );
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    assert!(h["set-cookie"].to_str().unwrap().starts_with("JSESSIONID="));
    let mut buffer = String::new();
    let prelude = read_until(&mut stream, &mut buffer, "\n").await;
    assert_eq!(prelude, format!("{}\n", "h".repeat(2048)));
    assert_eq!(read_until(&mut stream, &mut buffer, "\n").await, "o\n");

    let sent = app.post("/000/s1/xhr_send", r#"["x","é\u2029"]"#).await;
    assert_eq!(sent.status(), 204);
    assert_eq!(sent.headers()["content-type"], "text/plain;charset=UTF-8");
    let mut got = String::new();
    while !got.contains("\\u2029") {
        got.push_str(&read_until(&mut stream, &mut buffer, "\n").await);
    }
    assert!(
        got == "a[\"x\"]\na[\"é\\u2029\"]\n" || got == "a[\"x\",\"é\\u2029\"]\n",
        "{got}"
    );
}

#[tokio::test]
async fn streaming_responses_end_after_the_byte_limit_and_the_next_one_continues() {
    let config = TransportConfig {
        streaming_bytes_limit: 4096,
        ..config()
    };
    let app = App::spawn(config, echo()).await;
    let mut stream = app.post("/000/lim/xhr_streaming", "").await;
    let mut buffer = String::new();
    read_until(&mut stream, &mut buffer, "o\n").await;
    let message = format!("[\"{}\"]", "x".repeat(3000));
    // The first frame fits under the limit...
    assert_eq!(app.post("/000/lim/xhr_send", &message).await.status(), 204);
    read_until(&mut stream, &mut buffer, "\"]\n").await;
    // ...the second passes it, and the response ends after it.
    assert_eq!(app.post("/000/lim/xhr_send", &message).await.status(), 204);
    let rest = rest_of_body(&mut stream, &mut buffer).await;
    assert!(
        rest.starts_with("a[\"xxx") && rest.ends_with("\"]\n"),
        "{rest}"
    );
    assert_eq!(rest.lines().count(), 1, "{rest}");
    // The session lives on for the next request.
    let r = app.post("/000/lim/xhr_send", r#"["next"]"#).await;
    assert_eq!(r.status(), 204);
    let mut stream = app.post("/000/lim/xhr_streaming", "").await;
    let mut buffer = String::new();
    read_until(&mut stream, &mut buffer, "a[\"next\"]\n").await;
}

#[tokio::test]
async fn a_stalled_streaming_reader_is_dropped_after_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_millis(300),
        outgoing_capacity: 16,
        // Only the time budget here: the bytes never run out.
        send_buffer_bytes: usize::MAX,
        streaming_bytes_limit: usize::MAX,
        ..config()
    };
    let app = App::spawn(config, flood(dropped_tx)).await;
    // Headers only: the body is never read, so the socket backs up.
    let response = app.post("/000/stall/xhr_streaming", "").await;
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("a stalled client was never dropped");
    drop(response);
    assert_eq!(
        app.text("/000/stall/xhr", "").await.1,
        "c[3000,\"Go away!\"]\n"
    );
}

#[tokio::test]
async fn xhr_polling_with_xhr_send_echoes_in_order() {
    let app = App::spawn(config(), echo()).await;
    let r = app.post("/000/p1/xhr", "").await;
    assert_eq!(
        r.headers()["content-type"],
        "application/javascript;charset=UTF-8"
    );
    assert_eq!(within(r.text()).await.unwrap(), "o\n");
    // Sent while no poll is waiting: queued for the next one.
    assert_eq!(app.text("/000/p1/xhr_send", r#"["a"]"#).await.0, 204);
    assert_eq!(app.text("/000/p1/xhr_send", r#"["b"]"#).await.0, 204);
    let mut got = String::new();
    while !got.contains("\"b\"") {
        let (status, body) = app.text("/000/p1/xhr", "").await;
        assert_eq!(status, 200);
        got.push_str(&body);
    }
    assert!(
        got == "a[\"a\"]\na[\"b\"]\n" || got == "a[\"a\",\"b\"]\n",
        "{got}"
    );
    // Any content type, or none, is read.
    let r = within(
        app.http
            .post(app.url("/000/p1/xhr_send"))
            .header("content-type", "text/plain")
            .body(r#"["c"]"#)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.text("/000/p1/xhr", "").await,
        (200, "a[\"c\"]\n".into())
    );
}

#[tokio::test]
async fn eventsource_streams_frames() {
    let app = App::spawn(config(), echo()).await;
    let mut stream = within(app.http.get(app.url("/000/es/eventsource")).send())
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"],
        "text/event-stream;charset=UTF-8"
    );
    let mut buffer = String::new();
    assert_eq!(read_until(&mut stream, &mut buffer, "\r\n").await, "\r\n");
    let open = read_until(&mut stream, &mut buffer, "\r\n\r\n").await;
    assert_eq!(open, "data: o\r\n\r\n");
    assert_eq!(app.text("/000/es/xhr_send", r#"["x"]"#).await.0, 204);
    let frame = read_until(&mut stream, &mut buffer, "\r\n\r\n").await;
    assert_eq!(frame, "data: a[\"x\"]\r\n\r\n");
}

#[tokio::test]
async fn htmlfile_checks_its_callback_and_streams_scripts() {
    let app = App::spawn(config(), echo()).await;
    for query in ["", "?c=", "?c=alert(1)", "?c=%3Cscript%3E"] {
        let r = within(
            app.http
                .get(app.url(&format!("/000/hf/htmlfile{query}")))
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 500, "{query}");
        assert!(
            within(r.text())
                .await
                .unwrap()
                .contains("\"callback\" parameter")
        );
    }
    let mut stream = within(app.http.get(app.url("/000/hf/htmlfile?c=cb.x_1")).send())
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/html;charset=UTF-8");
    let mut buffer = String::new();
    let mut prelude = read_until(&mut stream, &mut buffer, "</script>").await;
    prelude += &read_until(&mut stream, &mut buffer, "\r\n").await;
    assert!(prelude.contains("var c = parent.cb.x_1;"));
    assert!(prelude.len() > 1024, "{}", prelude.len());
    let open = read_until(&mut stream, &mut buffer, "</script>\r\n").await;
    assert_eq!(open, "<script>\np(\"o\");\n</script>\r\n");
    assert_eq!(app.text("/000/hf/xhr_send", r#"["x"]"#).await.0, 204);
    let frame = read_until(&mut stream, &mut buffer, "</script>\r\n").await;
    assert_eq!(frame, "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n");
}

#[tokio::test]
async fn an_open_receiver_gets_heartbeats() {
    let config = TransportConfig {
        sockjs_heartbeat: Duration::from_millis(100),
        ..config()
    };
    let app = App::spawn(config, echo()).await;
    assert_eq!(app.text("/000/hb/xhr", "").await.1, "o\n");
    assert_eq!(app.text("/000/hb/xhr", "").await.1, "h\n");
    let (mut ws, _) = ws::connect(&app.ws_url("/000/hb/websocket"), &[])
        .await
        .unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "o");
    assert_eq!(ws::next_text(&mut ws).await, "h");
}

/// Between two polls the messages wait in the session's queue: a client
/// that stops polling is dropped once they pass the byte budget, long
/// before the session would time out, and later polls get the close frame.
#[tokio::test]
async fn a_session_whose_client_stops_polling_is_closed_by_bytes() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_secs(3600),
        disconnect_delay: Duration::from_secs(3600),
        ..config()
    };
    let app = App::spawn(config, flood_when_asked(dropped_tx)).await;
    assert_eq!(app.text("/000/poll/xhr", "").await.1, "o\n");
    assert_eq!(app.text("/000/poll/xhr_send", "[\"go\"]").await.0, 204);
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("the session was kept with its queue full");
    assert_eq!(
        app.text("/000/poll/xhr", "").await.1,
        "c[3000,\"Go away!\"]\n"
    );
}

#[tokio::test]
async fn a_stalled_streaming_reader_is_dropped_by_bytes_before_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_secs(3600),
        streaming_bytes_limit: usize::MAX,
        ..config()
    };
    let app = App::spawn(config, flood(dropped_tx)).await;
    // Headers only: the body is never read, so the socket backs up.
    let response = app.post("/000/stall/xhr_streaming", "").await;
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("a stalled client was kept for the send timeout");
    // Closed at once, though its stalled request is still attached.
    assert_eq!(
        app.text("/000/stall/xhr", "").await.1,
        "c[3000,\"Go away!\"]\n"
    );
    drop(response);
}
