//! A TCP proxy in front of inventory that injects network faults: it can
//! hold back inventory's answers (a slow network or server: the request
//! arrives and is applied, the answer comes late), for a time or until
//! told, or refuse connections (inventory down), while the services on
//! both sides stay real.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

#[derive(Clone)]
pub(crate) struct FaultyProxy {
    pub addr: std::net::SocketAddr,
    delay_ms: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    // True while answers are held until released.
    paused: watch::Sender<bool>,
    // Bumped to cut every open connection.
    cut: watch::Sender<u64>,
}

impl FaultyProxy {
    pub(crate) async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            delay_ms: Arc::default(),
            down: Arc::default(),
            paused: watch::channel(false).0,
            cut: watch::channel(0).0,
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let p = p.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    p.pipe(client, server).await;
                });
            }
        });
        proxy
    }

    /// Holds every chunk inventory sends back for `delay`.
    pub(crate) fn delay_answers(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Holds every answer inventory sends back (`true`) until released
    /// (`false`): a call in flight stays in flight as long as a test needs.
    pub(crate) fn pause_answers(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Refuses new connections and cuts the open ones (inventory "down").
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut.send_modify(|n| *n += 1);
        }
    }

    async fn pipe(&self, client: TcpStream, server: TcpStream) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let mut cut = self.cut.subscribe();
        let upstream = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = client_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let delay_ms = self.delay_ms.clone();
        let mut paused = self.paused.subscribe();
        let downstream = async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = server_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                let delay = delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    // The fault itself, not a wait for anything: a slow
                    // network holds each answer this long.
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                if paused.wait_for(|p| !p).await.is_err() {
                    return;
                }
                if client_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = upstream => {}
            () = downstream => {}
            _ = cut.changed() => {}
        }
    }
}
