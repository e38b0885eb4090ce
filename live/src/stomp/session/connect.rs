//! CONNECT: version negotiation, the connection budget, heart-beats.

use std::time::Duration;

use tokio::time::Instant;

use super::{
    End, Session,
    frame::{Frame, VERSIONS},
};

impl Session {
    pub(super) async fn connect(
        &mut self,
        f: &Frame,
        beat: &mut tokio::time::Interval,
    ) -> Option<End> {
        let offered = f.get("accept-version").unwrap_or("1.0");
        let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
        let Some(version) = VERSIONS.into_iter().find(|v| offered.contains(&v.as_str())) else {
            let _ = self
                .send_frame(
                    Frame::new("ERROR")
                        .header("version", "1.0,1.1,1.2")
                        .header("message", "unsupported version"),
                )
                .await;
            return Some(End::Quietly);
        };
        if !self.conn.admission.admit() {
            tracing::info!(peer = ?self.conn.peer, "refusing a STOMP client: connection limit reached");
            return Some(End::Error(
                "too many connections".into(),
                "the server has no room for another client; retry later".into(),
            ));
        }
        self.version = Some(version);
        let (cx, cy) = parse_heartbeat(f.get("heart-beat"));
        let sx = self.config.server_heartbeat;
        let sy = self.config.min_client_heartbeat;
        // Per the spec: we send every max(sx, cy) if both are set, and
        // expect something every max(cx, sy) if both are set.
        self.send_every = (!cy.is_zero() && !sx.is_zero()).then(|| cy.max(sx));
        self.expect_every = (!cx.is_zero() && !sy.is_zero()).then(|| cx.max(sy));
        if let Some(every) = self.send_every {
            *beat = tokio::time::interval_at(Instant::now() + every, every);
        }
        let connected = Frame::new("CONNECTED")
            .header("version", version.as_str())
            .header(
                "heart-beat",
                format!("{},{}", sx.as_millis(), sy.as_millis()),
            )
            .header("session", self.id.clone())
            .header("server", self.config.server.clone());
        if !self.send_frame(connected).await {
            return Some(End::Quietly);
        }
        if let Some(receipt) = f.get("receipt") {
            let _ = self
                .send_frame(Frame::new("RECEIPT").header("receipt-id", receipt))
                .await;
        }
        None
    }
}

fn parse_heartbeat(value: Option<&str>) -> (Duration, Duration) {
    let mut parts = value
        .unwrap_or("0,0")
        .split(',')
        .map(|p| p.trim().parse::<u64>().unwrap_or(0));
    let cx = parts.next().unwrap_or(0);
    let cy = parts.next().unwrap_or(0);
    (Duration::from_millis(cx), Duration::from_millis(cy))
}
