//! PostgreSQL stopped under an idle inventory-service: readiness (REST,
//! the gRPC health service overall and `InventoryService`, the
//! `healthcheck` subcommand) goes DOWN / NOT_SERVING, though no request
//! fails to tell it, and comes back by itself once the database does.

use std::{process::ExitCode, time::Duration};

use inventory_service::{Config, Server};
use serde_json::{Value, json};
use support::testing::{PrivatePostgres, grpc_health, wait_until};
use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

/// How long a change may take to show: the probe's interval (1 s) and
/// timeout (2 s), and room for a loaded machine.
const SHOWS_WITHIN: Duration = Duration::from_secs(20);

async fn rest(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Every readiness report agrees on `up`.
async fn reports(http: &reqwest::Client, base: &str, health: &HealthClient<Channel>, up: bool) {
    let (status, word, serving) = if up {
        (200, "UP", ServingStatus::Serving)
    } else {
        (503, "DOWN", ServingStatus::NotServing)
    };
    let what = format!("readiness {word}");
    wait_until(&what, SHOWS_WITHIN, async || {
        let actuator = rest(http, &format!("{base}/actuator/health/readiness")).await;
        let ready = rest(http, &format!("{base}/health/ready")).await;
        actuator == (status, json!({"status": word}))
            && ready == (status, json!({"status": word, "database": word}))
            && grpc_health(health, "").await == serving
            && grpc_health(health, "InventoryService").await == serving
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn readiness_follows_the_database_away_and_back() {
    let pg = PrivatePostgres::new().await;
    let server = Server::start(&Config::for_tests(pg.url())).await.unwrap();
    let base = format!("http://{}", server.http_addr);
    let channel = Channel::from_shared(format!("http://{}", server.grpc_addr)).unwrap();
    let health = HealthClient::new(channel.connect().await.unwrap());
    let http = reqwest::Client::new();
    reports(&http, &base, &health, true).await;
    pg.stop().await;
    reports(&http, &base, &health, false).await;
    // The compose file's health check (the `healthcheck` subcommand) too.
    let healthcheck = async || inventory_service::healthcheck(server.grpc_addr.port()).await;
    assert_eq!(healthcheck().await, ExitCode::FAILURE);
    let (status, whole) = rest(&http, &format!("{base}/actuator/health")).await;
    assert_eq!(status, 503);
    assert_eq!(whole["components"]["db"]["status"], "DOWN", "{whole}");
    pg.start().await;
    reports(&http, &base, &health, true).await;
    assert_eq!(healthcheck().await, ExitCode::SUCCESS);
    server.stop().await.unwrap();
}
