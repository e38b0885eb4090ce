//! order-service's database (PostgreSQL) stopped while the service is
//! idle: readiness (`/actuator/health/readiness`, the gRPC health service
//! overall and `OrderService`, the `healthcheck` subcommand) goes DOWN /
//! NOT_SERVING, though no request fails to tell it, and comes back by
//! itself with the database.

use std::{process::ExitCode, time::Duration};

use serde_json::{Value, json};
use support::testing::{Backend, PrivatePostgres, TestDatabase, grpc_health, wait_until};
use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

/// How long a change may take to show: the probe's interval (1 s) and
/// timeout (2 s), and room for a loaded machine.
const SHOWS_WITHIN: Duration = Duration::from_secs(20);

async fn rest(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Readiness over REST and gRPC agrees on `up`.
async fn reports(http: &reqwest::Client, base: &str, health: &HealthClient<Channel>, up: bool) {
    let (status, word, serving) = if up {
        (200, "UP", ServingStatus::Serving)
    } else {
        (503, "DOWN", ServingStatus::NotServing)
    };
    let url = format!("{base}/actuator/health/readiness");
    wait_until(&format!("readiness {word}"), SHOWS_WITHIN, async || {
        rest(http, &url).await == (status, json!({"status": word}))
            && grpc_health(health, "").await == serving
            && grpc_health(health, "OrderService").await == serving
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn readiness_follows_the_database_away_and_back() {
    let pg = PrivatePostgres::new().await;
    let inventory_db = TestDatabase::create(Backend::Sqlite, "inventory").await;
    let inventory =
        inventory_service::Server::start(&inventory_service::Config::for_tests(&inventory_db.url))
            .await
            .unwrap();
    let config =
        order_service::Config::for_tests(pg.url(), format!("http://{}", inventory.grpc_addr));
    let orders = order_service::Server::start(&config).await.unwrap();
    let base = format!("http://{}", orders.http_addr);
    let channel = Channel::from_shared(format!("http://{}", orders.grpc_addr)).unwrap();
    let health = HealthClient::new(channel.connect().await.unwrap());
    let http = reqwest::Client::new();
    reports(&http, &base, &health, true).await;
    pg.stop().await;
    reports(&http, &base, &health, false).await;
    // The compose file's health check (the `healthcheck` subcommand) too.
    let healthcheck = async || order_service::healthcheck(orders.http_addr.port()).await;
    assert_eq!(healthcheck().await, ExitCode::FAILURE);
    // The whole says why: the database, not inventory.
    let (status, whole) = rest(&http, &format!("{base}/actuator/health")).await;
    assert_eq!(status, 503);
    assert_eq!(whole["components"]["db"]["status"], "DOWN", "{whole}");
    assert_eq!(whole["components"]["inventory"]["status"], "UP", "{whole}");
    pg.start().await;
    reports(&http, &base, &health, true).await;
    assert_eq!(healthcheck().await, ExitCode::SUCCESS);
    orders.stop().await.unwrap();
    inventory.stop().await.unwrap();
    inventory_db.cleanup().await;
}
