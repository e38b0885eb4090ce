//! The published OpenAPI contract of the REST listing (`/openapi.json`,
//! `/v3/api-docs`) against the running service: OpenAPI 3.1, every route
//! with exactly the methods it serves, the constraints, and answers that
//! are what it says. (scripts/fuzz-api also runs Schemathesis on it.)

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::TestInventory;

/// Every REST route; each serves GET only.
const ROUTES: [&str; 12] = [
    "/inventory/products",
    "/health",
    "/health/live",
    "/health/ready",
    "/actuator/health",
    "/actuator/health/liveness",
    "/actuator/health/readiness",
    "/actuator/info",
    "/metrics",
    "/actuator/prometheus",
    "/openapi.json",
    "/v3/api-docs",
];

async fn spawn() -> TestInventory {
    TestInventory::spawn(Backend::Sqlite).await
}

async fn get(inventory: &TestInventory, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", inventory.base_url);
    inventory.http.get(url).send().await.expect("GET")
}

async fn document(inventory: &TestInventory) -> Value {
    let response = get(inventory, "/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_the_same_at_both_paths() {
    let inventory = spawn().await;
    let doc = document(&inventory).await;
    assert!(
        doc["openapi"]
            .as_str()
            .expect("openapi")
            .starts_with("3.1.")
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["title"].as_str().expect("title").is_empty());
    let first = get(&inventory, "/openapi.json").await.bytes().await;
    let spring = get(&inventory, "/v3/api-docs").await;
    assert_eq!(spring.status(), 200);
    assert_eq!(spring.headers()["content-type"], "application/json");
    assert_eq!(spring.bytes().await.expect("body"), first.expect("body"));
    inventory.stop().await;
}

/// The document's paths are the route list and its methods per path the
/// router's own (its `Allow` on a 405): a method served without a
/// description, or a description without its route, fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_with_exactly_the_methods_it_serves() {
    let inventory = spawn().await;
    let doc = document(&inventory).await;
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<_> = paths.keys().map(String::as_str).collect();
    assert_eq!(documented, ROUTES.into_iter().collect());
    for path in ROUTES {
        let methods: Vec<_> = paths[path].as_object().expect("item").keys().collect();
        assert_eq!(methods, ["get"], "{path}");
        let url = format!("{}{path}", inventory.base_url);
        let response = inventory.http.delete(url).send().await.expect("DELETE");
        assert_eq!(response.status(), 405, "{path} is routed");
        assert_eq!(response.headers()["allow"], "GET,HEAD", "{path}");
        let body: Value = response.json().await.expect("JSON");
        support::testing::assert_spring_error(&body, 405, path);
    }
    inventory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_is_described_with_its_constraints_and_matches_it() {
    let inventory = spawn().await;
    let doc = document(&inventory).await;
    let listing = &doc["paths"]["/inventory/products"]["get"]["responses"];
    let statuses: Vec<_> = listing.as_object().expect("responses").keys().collect();
    assert_eq!(statuses, ["200", "500", "503"]);
    let unavailable = &doc["components"]["responses"]["Unavailable"];
    assert_eq!(listing["503"]["$ref"], "#/components/responses/Unavailable");
    assert_eq!(unavailable["headers"]["Retry-After"]["required"], true);
    let health = &doc["paths"]["/health"]["get"]["responses"]["503"];
    assert!(health["headers"]["Retry-After"].is_object());

    let product = &doc["components"]["schemas"]["Product"];
    assert_eq!(product["required"], json!(["id", "name", "stockQuantity"]));
    let props = &product["properties"];
    assert_eq!(
        (&props["name"]["minLength"], &props["name"]["maxLength"]),
        (&json!(1), &json!(100))
    );
    assert_eq!(
        (
            &props["stockQuantity"]["minimum"],
            &props["stockQuantity"]["maximum"]
        ),
        (&json!(0), &json!(i32::MAX))
    );

    let response = get(&inventory, "/inventory/products").await;
    assert_eq!(response.status(), 200);
    let products: Value = response.json().await.expect("JSON");
    for p in products.as_array().expect("an array") {
        let fields: BTreeSet<_> = p.as_object().expect("object").keys().collect();
        let described: BTreeSet<_> = props.as_object().expect("props").keys().collect();
        assert_eq!(fields, described);
        assert!(p["stockQuantity"].as_i64().is_some_and(|s| s >= 0));
    }
    let response = get(&inventory, "/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"status": "UP", "database": "UP"}));
    let described = &doc["components"]["schemas"]["Health"]["required"];
    assert_eq!(described, &json!(["status", "database"]));
    // Errors: Spring Boot's body.
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(
        error["required"],
        json!(["timestamp", "status", "error", "path", "message"])
    );
    inventory.stop().await;
}
