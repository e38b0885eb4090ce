//! The shared token over real gRPC, on SQLite and PostgreSQL: with a token
//! configured the mutating RPCs need it and write nothing without it; reads
//! stay open; with no (or an empty) token everything is open as before, and
//! start-up warns which RPCs that leaves open. `every_method` holds every
//! method the server describes to the rule: a read, or refused.

mod every_method;

use proto::{
    ListProductsRequest, ReleaseStockRequest, ReservationOutcome, ReserveStockBatchRequest,
    ReserveStockRequest, RestockRequest, StockRequest, UpdateStockRequest, WatchStockRequest,
};
use serde_json::Value;
use support::testing::Backend;
use tokio_stream::StreamExt;
use tonic::{Code, Request};

use crate::common::TestInventory;

const TOKEN: &str = "s3cret-inventory-token";

/// `message` with `authorization: <value>` metadata, or none.
fn with_auth<T>(message: T, value: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(v) = value {
        r.metadata_mut().insert("authorization", v.parse().unwrap());
    }
    r
}

fn reserve(key: &str, quantity: i32) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_key: key.into(),
        product: "Laptop".into(),
        quantity,
    }
}

fn release(key: &str) -> ReleaseStockRequest {
    ReleaseStockRequest {
        reservation_key: key.into(),
    }
}

fn restock(quantity: i32) -> RestockRequest {
    RestockRequest {
        product: "Laptop".into(),
        quantity,
    }
}

fn update(quantity: i32) -> UpdateStockRequest {
    UpdateStockRequest {
        product: "Laptop".into(),
        quantity,
    }
}

async fn writes_need_the_token_and_reads_do_not(backend: Backend) {
    let app = TestInventory::spawn_with(backend, |c| {
        c.inventory_token = Some(TOKEN.into());
    })
    .await;
    let mut c = app.grpc.clone();
    let wrong_token = format!("Bearer {TOKEN}x");
    let no_scheme = TOKEN.to_owned();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(wrong_token.as_str()),
        Some(no_scheme.as_str()),
        Some("Basic czNjcmV0"),
    ] {
        let cases = [
            c.update_stock(with_auth(update(1), auth)).await.map(drop),
            c.reserve_stock(with_auth(reserve("k1", 2), auth))
                .await
                .map(drop),
            c.reserve_stock_batch(with_auth(
                ReserveStockBatchRequest {
                    reservations: vec![reserve("k1", 2)],
                },
                auth,
            ))
            .await
            .map(drop),
            c.release_stock(with_auth(release("k1"), auth))
                .await
                .map(drop),
            c.restock(with_auth(restock(5), auth)).await.map(drop),
            // Refused before validation: an invalid request says nothing
            // about its validity to a caller without the token.
            c.restock(with_auth(restock(0), auth)).await.map(drop),
        ];
        for (i, r) in cases.into_iter().enumerate() {
            let e = r.unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{auth:?} case {i}: {e:?}");
            assert!(!e.message().contains(TOKEN), "{e:?}");
        }
    }
    // Nothing was written: stock as seeded, no reservation, not even a tombstone.
    assert_eq!(app.stock("Laptop").await, 10);
    assert_eq!(app.reservation_rows().await, 0);

    // Reads need no token.
    let listed = c
        .list_products(ListProductsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.products.len(), 5);
    let checked = c
        .check_stock(StockRequest {
            product: "Laptop".into(),
            quantity: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(checked.available);
    let mut watch = c
        .watch_stock(WatchStockRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(watch.next().await.unwrap().is_ok());
    drop(watch);

    // With the token every write works, and the key that was refused
    // earlier is still free.
    let bearer = format!("Bearer {TOKEN}");
    let auth = Some(bearer.as_str());
    let r = c
        .reserve_stock(with_auth(reserve("k1", 2), auth))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::Reserved);
    assert_eq!(r.stock_quantity, 8);
    let r = c
        .release_stock(with_auth(release("k1"), auth))
        .await
        .unwrap()
        .into_inner();
    assert!(r.returned_stock);
    let r = c
        .restock(with_auth(restock(5), auth))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.stock_quantity, 15);
    // The scheme is case-insensitive.
    let lower = format!("bearer {TOKEN}");
    let r = c
        .update_stock(with_auth(update(1), Some(&lower)))
        .await
        .unwrap()
        .into_inner();
    assert!(r.available);
    assert_eq!(app.stock("Laptop").await, 14);
    app.stop().await;
}

async fn without_a_token_everything_is_open(backend: Backend) {
    // An empty INVENTORY_TOKEN means unset, as if the variable were absent.
    let app = TestInventory::spawn_with(backend, |c| {
        c.inventory_token = Some(String::new());
    })
    .await;
    let mut c = app.grpc.clone();
    let r = c
        .reserve_stock(reserve("open", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::Reserved);
    assert!(
        c.release_stock(release("open"))
            .await
            .unwrap()
            .into_inner()
            .returned_stock
    );
    c.restock(restock(2)).await.unwrap();
    // A token sent to a server that needs none is ignored.
    let r = c
        .update_stock(with_auth(update(2), Some("Bearer whatever")))
        .await
        .unwrap()
        .into_inner();
    assert!(r.available);
    assert_eq!(app.stock("Laptop").await, 10);
    app.stop().await;
}

/// Started without a token, the service says so at once, naming what is
/// open; with one, it does not. Run as the real binary, so that its own
/// log output is read (in-process log capture would share the process's
/// subscribers with every other test of this binary).
#[tokio::test]
async fn without_a_token_start_up_warns_what_is_open() {
    let open = start_up_lines(None).await;
    let warned: Vec<&Value> = open.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(warned.len(), 1, "{open:?}");
    let message = warned[0]["message"].as_str().unwrap();
    assert!(message.contains("INVENTORY_TOKEN"), "{message}");
    assert_eq!(
        warned[0]["open"],
        "UpdateStock, ReserveStock, ReserveStockBatch, ReleaseStock, Restock"
    );

    let closed = start_up_lines(Some(TOKEN)).await;
    let warned: Vec<&Value> = closed.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(warned, Vec::<&Value>::new());
}

/// The JSON log lines of an inventory-service process up to its "ready".
async fn start_up_lines(token: Option<&str>) -> Vec<Value> {
    use tokio::io::AsyncBufReadExt;
    let db = support::testing::TestDatabase::create(Backend::Sqlite, "start_up").await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inventory-service"));
    command
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("HTTP_PORT", "0")
        .env("GRPC_PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("INVENTORY_TOKEN", token);
    }
    let mut child = command.spawn().expect("start inventory-service");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(json) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let ready = json["message"] == "ready";
            seen.push(json);
            if ready {
                return;
            }
        }
        panic!("inventory-service exited before it was ready: {seen:?}");
    })
    .await
    .expect("inventory-service ready within 30 s");
    child.kill().await.unwrap();
    seen
}

support::both_backends!(
    writes_need_the_token_and_reads_do_not,
    without_a_token_everything_is_open,
);
