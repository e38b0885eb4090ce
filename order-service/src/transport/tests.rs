//! End-to-end tests over real sockets: the router served on 127.0.0.1:0,
//! with an echo handler, talked to as clients do (tokio-tungstenite for
//! WebSockets, reqwest for the SockJS HTTP transports).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message, client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode,
};
use tokio_util::sync::CancellationToken;

use super::{Connection, Handler, TransportConfig, router};
use crate::origins::AllowedOrigins;

const ALLOWED: &str = "http://allowed.example";
const EVIL: &str = "http://evil.example";

/// Fails the test instead of hanging when something never arrives.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

fn config() -> TransportConfig {
    TransportConfig {
        allowed_origins: AllowedOrigins::new([ALLOWED]).unwrap(),
        ..Default::default()
    }
}

/// Sends every message back.
fn echo() -> Handler {
    Arc::new(|mut c: Connection| {
        Box::pin(async move {
            while let Some(m) = c.incoming.recv().await {
                if c.outgoing.send(m).await.is_err() {
                    break;
                }
            }
        })
    })
}

/// Echoes, and reports on `ended` when `incoming` yields `None`.
fn echo_reporting_end(ended: mpsc::Sender<()>) -> Handler {
    Arc::new(move |mut c: Connection| {
        let ended = ended.clone();
        Box::pin(async move {
            while let Some(m) = c.incoming.recv().await {
                let _ = c.outgoing.send(m).await;
            }
            let _ = ended.send(()).await;
        })
    })
}

struct App {
    addr: SocketAddr,
    http: reqwest::Client,
    _shutdown: tokio_util::sync::DropGuard,
}

impl App {
    async fn spawn(config: TransportConfig, handler: Handler) -> App {
        let shutdown = CancellationToken::new();
        let app: axum::Router = router(config, handler, shutdown.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        App {
            addr,
            http: reqwest::Client::new(),
            _shutdown: shutdown.drop_guard(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/ws-orders{path}", self.addr)
    }

    fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/ws-orders{path}", self.addr)
    }

    async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        within(self.http.post(self.url(path)).body(body.to_owned()).send())
            .await
            .unwrap()
    }

    async fn text(&self, path: &str, body: &str) -> (u16, String) {
        let r = self.post(path, body).await;
        (r.status().as_u16(), within(r.text()).await.unwrap())
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket offering `protocols`; returns it and the chosen one.
async fn ws_connect(url: &str, protocols: Option<&str>) -> (Ws, Option<String>) {
    let mut request = url.into_client_request().unwrap();
    if let Some(p) = protocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_str(p).unwrap());
    }
    let (ws, response) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads the next close frame's code (skipping text).
async fn close_code(ws: &mut Ws) -> CloseCode {
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("error before close: {e}"),
        }
    }
}

/// Reads a streaming body until `buffer` holds `needle`; returns what came
/// before and including it, keeping the rest.
async fn read_until(response: &mut reqwest::Response, buffer: &mut String, needle: &str) -> String {
    while !buffer.contains(needle) {
        let chunk = within(response.chunk())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stream ended before {needle:?}; got {buffer:?}"));
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let end = buffer.find(needle).unwrap() + needle.len();
    buffer.drain(..end).collect()
}

async fn rest_of_body(response: &mut reqwest::Response, buffer: &mut String) -> String {
    while let Some(chunk) = within(response.chunk()).await.unwrap() {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    std::mem::take(buffer)
}

#[tokio::test]
async fn raw_websocket_echoes_and_negotiates_the_highest_stomp_version() {
    let app = App::spawn(config(), echo()).await;
    let (mut ws, chosen) =
        ws_connect(&app.ws_url(""), Some("v10.stomp, v11.stomp, v12.stomp")).await;
    assert_eq!(chosen.as_deref(), Some("v12.stomp"));
    ws.send(Message::text("CONNECT\n\n\0")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "CONNECT\n\n\0");
    // Binary that is UTF-8 is a text message too.
    ws.send(Message::binary(b"SEND".to_vec())).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "SEND");

    let (_, chosen) = ws_connect(&app.ws_url("/websocket"), Some("v10.stomp, v11.stomp")).await;
    assert_eq!(chosen.as_deref(), Some("v11.stomp"));
    let (mut ws, chosen) = ws_connect(&app.ws_url("/websocket"), None).await;
    assert_eq!(chosen, None);
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "hi");
    // tungstenite's client refuses an answer without the protocol it
    // asked for, so this one is checked on the raw handshake.
    let head = raw_handshake(app.addr, "mqtt").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
}

/// Sends a WebSocket upgrade offering `protocols` over plain TCP and
/// returns the response head.
async fn raw_handshake(addr: SocketAddr, protocols: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let request = format!(
        "GET /ws-orders HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(tcp.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn raw_websocket_refuses_bad_input_with_close_codes() {
    let app = App::spawn(config(), echo()).await;
    let (mut ws, _) = ws_connect(&app.ws_url(""), None).await;
    ws.send(Message::binary(vec![0xff, 0xfe])).await.unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::Invalid);

    let (mut ws, _) = ws_connect(&app.ws_url(""), None).await;
    let big = "x".repeat(config().max_message_bytes + 1);
    ws.send(Message::text(big)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::Size);
}

#[tokio::test]
async fn raw_websocket_closes_when_the_handler_drops_its_sender() {
    let app = App::spawn(config(), Arc::new(|c| Box::pin(async move { drop(c) }))).await;
    let (mut ws, _) = ws_connect(&app.ws_url(""), None).await;
    assert_eq!(close_code(&mut ws).await, CloseCode::Normal);
}

/// Reports on its channel when dropped.
struct OnDrop(mpsc::Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// Sends big messages until the transport drops the connection, then
/// reports on `dropped`: when its sender fails (SockJS HTTP), or when the
/// transport drops the handler itself (WebSocket).
fn flood(dropped: mpsc::Sender<()>) -> Handler {
    Arc::new(move |c: Connection| {
        let guard = OnDrop(dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            let message = "x".repeat(60 * 1024);
            while c.outgoing.send(message.clone()).await.is_ok() {}
        })
    })
}

#[tokio::test]
async fn a_stalled_websocket_reader_is_dropped_after_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_millis(300),
        ..config()
    };
    let app = App::spawn(config, flood(dropped_tx)).await;
    let (_ws, _) = ws_connect(&app.ws_url(""), None).await;
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("a stalled client was never dropped");
}

#[tokio::test]
async fn a_stalled_streaming_reader_is_dropped_after_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_millis(300),
        outgoing_capacity: 16,
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
async fn disallowed_origins_get_403_everywhere() {
    let app = App::spawn(config(), echo()).await;
    let mut request = app.ws_url("").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static(EVIL));
    match within(tokio_tungstenite::connect_async(request)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
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
async fn sockjs_websocket_opens_echoes_and_closes() {
    let app = App::spawn(config(), echo()).await;
    let (mut ws, _) = ws_connect(&app.ws_url("/000/abc/websocket"), None).await;
    assert_eq!(next_text(&mut ws).await, "o");
    ws.send(Message::text(r#"["a","b\u2028"]"#)).await.unwrap();
    // One message per frame or batched, in order.
    let mut got = String::new();
    while !got.contains("\\u2028") {
        got.push_str(&next_text(&mut ws).await);
    }
    assert!(
        got == r#"a["a"]a["b\u2028"]"# || got == r#"a["a","b\u2028"]"#,
        "{got}"
    );
    ws.send(Message::text(r#""single""#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"a["single"]"#);
    // Broken JSON ends the connection.
    ws.send(Message::text("[\"a")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::Invalid);

    let app = App::spawn(config(), Arc::new(|c| Box::pin(async move { drop(c) }))).await;
    let (mut ws, _) = ws_connect(&app.ws_url("/000/abc/websocket"), None).await;
    assert_eq!(next_text(&mut ws).await, "o");
    assert_eq!(next_text(&mut ws).await, r#"c[3000,"Go away!"]"#);
    assert_eq!(u16::from(close_code(&mut ws).await), 3000);
}

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
async fn xhr_send_refuses_bad_requests() {
    let app = App::spawn(config(), echo()).await;
    assert_eq!(app.text("/000/nobody/xhr_send", r#"["a"]"#).await.0, 404);
    assert_eq!(app.text("/000/bad/xhr", "").await.1, "o\n");
    let (status, body) = app.text("/000/bad/xhr_send", "[\"a").await;
    assert_eq!((status, body.as_str()), (500, "Broken JSON encoding."));
    let (status, body) = app.text("/000/bad/xhr_send", "").await;
    assert_eq!((status, body.as_str()), (500, "Payload expected."));
    let big = format!("[\"{}\"]", "x".repeat(config().max_message_bytes));
    assert_eq!(app.text("/000/bad/xhr_send", &big).await.0, 413);
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
async fn a_second_receiver_gets_2010_and_a_closed_session_3000() {
    let app = App::spawn(config(), echo()).await;
    let mut first = app.post("/000/two/xhr_streaming", "").await;
    let mut buffer = String::new();
    read_until(&mut first, &mut buffer, "o\n").await;
    let (status, body) = app.text("/000/two/xhr", "").await;
    assert_eq!(status, 200);
    assert_eq!(body, "c[2010,\"Another connection still open\"]\n");

    let app = App::spawn(config(), Arc::new(|c| Box::pin(async move { drop(c) }))).await;
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
async fn an_open_receiver_gets_heartbeats() {
    let config = TransportConfig {
        sockjs_heartbeat: Duration::from_millis(100),
        ..config()
    };
    let app = App::spawn(config, echo()).await;
    assert_eq!(app.text("/000/hb/xhr", "").await.1, "o\n");
    assert_eq!(app.text("/000/hb/xhr", "").await.1, "h\n");
    let (mut ws, _) = ws_connect(&app.ws_url("/000/hb/websocket"), None).await;
    assert_eq!(next_text(&mut ws).await, "o");
    assert_eq!(next_text(&mut ws).await, "h");
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
