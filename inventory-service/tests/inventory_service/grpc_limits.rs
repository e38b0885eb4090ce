//! The gRPC port under the same discipline as HTTP: the HTTP/2 handshake
//! within the header timeout, an idle timeout for connections without
//! streams, a connection cap shared fairly by client addresses, streams per
//! connection capped, and WatchStock streams capped per client and in all.

use std::{net::SocketAddr, time::Duration};

use proto::{StockRequest, WatchStockRequest, inventory_service_client::InventoryServiceClient};
use support::testing::Backend;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::{Code, transport::Channel};

use crate::common::{PATIENCE, TestInventory, eventually};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: the rest of a client's handshake.
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

const FLOODER: [u8; 4] = [127, 0, 0, 1];
const SOMEONE_ELSE: [u8; 4] = [127, 0, 0, 2];

async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    support::testing::tcp_from(from, to).await.unwrap()
}

/// A gRPC client whose connections come from `from`.
async fn client_from(from: [u8; 4], to: SocketAddr) -> InventoryServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{to}"))
        .unwrap()
        .local_address(Some(from.into()))
        .connect()
        .await
        .expect("gRPC connects");
    InventoryServiceClient::new(channel)
}

async fn check_stock(client: &mut InventoryServiceClient<Channel>) -> Result<i32, tonic::Status> {
    let request = StockRequest {
        product: "Laptop".into(),
        quantity: 1,
    };
    let answer = tokio::time::timeout(PATIENCE, client.check_stock(request))
        .await
        .expect("an answer in time")?;
    Ok(answer.into_inner().stock_quantity)
}

/// Reads until the server closes the connection; fails after `PATIENCE`.
async fn closed(tcp: &mut TcpStream) {
    let mut sink = vec![0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closed the connection");
}

/// Whether the server keeps the connection open for `period`.
async fn stays_open(tcp: &mut TcpStream, period: Duration) -> bool {
    let mut sink = vec![0u8; 4096];
    tokio::time::timeout(period, async {
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_err()
}

/// A connection that has done its HTTP/2 handshake and opens no stream.
async fn handshaken(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let mut tcp = connect_from(from, to).await;
    tcp.write_all(PREFACE).await.unwrap();
    tcp.write_all(&SETTINGS).await.unwrap();
    tcp
}

#[tokio::test]
async fn a_handshake_must_arrive_within_the_header_timeout() {
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.http.http_header_timeout_ms = 300;
    })
    .await;
    let addr = inv.server.grpc_addr;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut preface_only = TcpStream::connect(addr).await.unwrap();
    preface_only.write_all(PREFACE).await.unwrap();
    let mut complete = handshaken(FLOODER, addr).await;
    closed(&mut silent).await;
    closed(&mut preface_only).await;
    // A finished handshake is idle now, not late: well past the header
    // timeout it is still open (the idle timeout is minutes).
    assert!(stays_open(&mut complete, Duration::from_millis(1_500)).await);
    inv.stop().await;
}

#[tokio::test]
async fn a_connection_without_streams_is_closed_when_idle_and_clients_reconnect() {
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.grpc.grpc_idle_timeout_ms = 300;
    })
    .await;
    let addr = inv.server.grpc_addr;
    let mut idle = handshaken(FLOODER, addr).await;
    closed(&mut idle).await;
    // A client whose connection was closed while idle just reconnects.
    let mut client = client_from(SOMEONE_ELSE, addr).await;
    assert_eq!(check_stock(&mut client).await.unwrap(), 10);
    // Inherent, not a wait for something: the client stays silent for well
    // over the idle timeout (300 ms), so the server closes its connection
    // and the client must see that by itself. Nothing a test can poll
    // tells when the client has.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(check_stock(&mut client).await.unwrap(), 10);
    // A stream is not idle: a watch outlives the idle timeout. A
    // connection opened after the watch began, and closed for idleness,
    // shows the timeout has passed.
    let mut watch = client
        .watch_stock(WatchStockRequest { from_seq: None })
        .await
        .unwrap()
        .into_inner();
    let mut witness = handshaken(FLOODER, addr).await;
    closed(&mut witness).await;
    let mut writer = inv.grpc.clone();
    writer
        .update_stock(proto::UpdateStockRequest {
            product: "Phone".into(),
            quantity: 1,
        })
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, async {
        while let Some(change) = watch.message().await.expect("the watch goes on") {
            if !change.snapshot && change.product == "Phone" {
                return change.stock_quantity;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the change in time");
    assert_eq!(seen, 19);
    inv.stop().await;
}

#[tokio::test]
async fn the_server_caps_streams_per_connection() {
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.grpc.grpc_max_concurrent_streams = 7;
    })
    .await;
    let mut tcp = handshaken(FLOODER, inv.server.grpc_addr).await;
    // The server's first frame is its SETTINGS: (id u16, value u32) pairs.
    let mut header = [0u8; 9];
    tokio::time::timeout(PATIENCE, tcp.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header[3], 4, "a SETTINGS frame");
    let length =
        usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; length];
    tcp.read_exact(&mut payload).await.unwrap();
    let max_streams = payload
        .chunks(6)
        .find(|s| s[..2] == [0, 3])
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(max_streams, Some(7));
    inv.stop().await;
}

#[tokio::test]
async fn beyond_the_connection_caps_a_flood_is_closed_and_others_get_in() {
    // A share as large as the cap: only shedding keeps the others in.
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.grpc.max_grpc_connections = 8;
        c.grpc.max_grpc_connections_per_client = 8;
    })
    .await;
    let addr = inv.server.grpc_addr;
    // The test's own client holds one connection from the flooder's address.
    let mut flood = Vec::new();
    for _ in 0..7 {
        flood.push(connect_from(FLOODER, addr).await);
    }
    // Full: the flooder's next connection is closed at once.
    let mut refused = connect_from(FLOODER, addr).await;
    closed(&mut refused).await;
    // Someone else takes one of its unused connections' seats.
    let mut client = client_from(SOMEONE_ELSE, addr).await;
    assert_eq!(check_stock(&mut client).await.unwrap(), 10);
    inv.stop().await;
}

#[tokio::test]
async fn one_address_gets_its_share_of_connections() {
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.grpc.max_grpc_connections = 64;
        c.grpc.max_grpc_connections_per_client = 4;
    })
    .await;
    let addr = inv.server.grpc_addr;
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.push(connect_from(SOMEONE_ELSE, addr).await);
    }
    let mut refused = connect_from(SOMEONE_ELSE, addr).await;
    closed(&mut refused).await;
    let mut client = client_from([127, 0, 0, 3], addr).await;
    assert_eq!(check_stock(&mut client).await.unwrap(), 10);
    inv.stop().await;
}

#[tokio::test]
async fn watch_streams_are_capped_per_client_and_in_all() {
    let inv = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.max_watch_streams = 3;
        c.max_watch_streams_per_client = 2;
    })
    .await;
    let addr = inv.server.grpc_addr;
    let watch = |mut client: InventoryServiceClient<Channel>| async move {
        let request = WatchStockRequest { from_seq: None };
        client
            .watch_stock(request)
            .await
            .map(tonic::Response::into_inner)
    };
    let a = client_from(FLOODER, addr).await;
    let _a1 = watch(a.clone()).await.expect("first watch");
    let a2 = watch(a.clone()).await.expect("second watch");
    let refused = watch(a.clone())
        .await
        .expect_err("beyond the client's share");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("too many WatchStock streams")
            && refused.message().contains("per client"),
        "{}",
        refused.message()
    );
    let _b = watch(client_from(SOMEONE_ELSE, addr).await)
        .await
        .expect("another client's watch");
    let full = watch(client_from([127, 0, 0, 3], addr).await)
        .await
        .expect_err("beyond the cap");
    assert_eq!(full.code(), Code::ResourceExhausted);
    assert!(full.message().contains("in all"), "{}", full.message());
    // A watch that ends gives its seat back.
    drop(a2);
    let again = eventually("the seat coming back", PATIENCE, || {
        let a = a.clone();
        async move { watch(a).await.ok() }
    })
    .await;
    drop(again);
    inv.stop().await;
}
