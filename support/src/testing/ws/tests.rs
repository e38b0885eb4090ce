use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{
    handshake::server::{ErrorResponse, Request, Response},
    protocol::CloseFrame,
};

use super::*;

/// The handshake answer: 403 to origin `http://evil.example`, else the
/// first subprotocol offered.
#[allow(
    clippy::result_large_err,
    reason = "the signature tungstenite's callback has"
)]
fn answer(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let headers = request.headers();
    if headers
        .get("origin")
        .is_some_and(|o| o == "http://evil.example")
    {
        let mut refused = ErrorResponse::new(None);
        *refused.status_mut() = 403.try_into().expect("a status");
        return Err(refused);
    }
    if let Some(offered) = headers.get(PROTOCOLS).and_then(|v| v.to_str().ok()) {
        let first = offered.split(',').next().unwrap_or_default().trim();
        let value = HeaderValue::from_str(first).expect("a subprotocol");
        response.headers_mut().insert(PROTOCOLS, value);
    }
    Ok(response)
}

/// A server that answers the handshake with [`answer`], sends a STOMP
/// heart-beat, a SockJS one and `MESSAGE`, then closes with 1000.
async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, answer).await else {
                    return;
                };
                for text in ["\n", "h", "MESSAGE"] {
                    let _ = ws.send(Message::text(text)).await;
                }
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                };
                let _ = ws.send(Message::Close(Some(close))).await;
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    format!("ws://{addr}/")
}

#[tokio::test]
async fn connects_reads_frames_and_close_codes() {
    let url = server().await;
    let (mut ws, chosen) = connect(&url, &[(PROTOCOLS, "v12.stomp, v11.stomp")])
        .await
        .expect("accepted");
    assert_eq!(chosen.as_deref(), Some("v12.stomp"));
    assert_eq!(next_text(&mut ws).await, "\n");
    assert_eq!(next_frame(&mut ws).await, "MESSAGE");
    assert_eq!(close_code(&mut ws).await, CloseCode::Normal);

    let (mut ws, chosen) = connect(&url, &[]).await.expect("accepted");
    assert_eq!(chosen, None);
    assert!(ends_within(&mut ws, PATIENCE).await);

    let refused = connect(&url, &[("origin", "http://evil.example")]).await;
    assert_eq!(refused.err(), Some(403));
}
