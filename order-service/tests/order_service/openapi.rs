//! The published OpenAPI contract (`/openapi.json`, `/v3/api-docs`) against
//! the running service: it is OpenAPI 3.1, lists every route the router
//! serves with exactly the methods it serves, describes the headers and the
//! constraints, and what the service answers is what it says.
//! (scripts/fuzz-api checks the same with Schemathesis, far more broadly.)

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::{
    TestSystem,
    openapi::{document, exchange, operation, refs, resolve, set, statuses},
};

/// Every REST route and its methods; `{id}` is requested as 1.
const ROUTES: [(&str, &[&str]); 15] = [
    ("/orders", &["get", "post"]),
    ("/orders/{id}", &["get"]),
    ("/orders/{id}/cancel", &["post"]),
    ("/products", &["get"]),
    ("/health", &["get"]),
    ("/health/live", &["get"]),
    ("/health/ready", &["get"]),
    ("/actuator/health", &["get"]),
    ("/actuator/health/liveness", &["get"]),
    ("/actuator/health/readiness", &["get"]),
    ("/actuator/info", &["get"]),
    ("/metrics", &["get"]),
    ("/actuator/prometheus", &["get"]),
    ("/openapi.json", &["get"]),
    ("/v3/api-docs", &["get"]),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_the_same_at_both_paths() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let doc = document(&sys).await;
    assert!(
        doc["openapi"]
            .as_str()
            .expect("openapi")
            .starts_with("3.1.")
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["title"].as_str().expect("title").is_empty());
    let description = doc["info"]["description"].as_str().expect("description");
    assert!(description.contains("/ws-orders"), "{description}");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in found {
        resolve(&doc, &json!({ "$ref": r }));
    }

    let first = sys.http.get(sys.url("/openapi.json")).send().await;
    let first = first.expect("GET").bytes().await.expect("body");
    let spring = sys.http.get(sys.url("/v3/api-docs")).send().await;
    let spring = spring.expect("GET /v3/api-docs");
    assert_eq!(spring.status(), 200);
    assert_eq!(spring.headers()["content-type"], "application/json");
    assert_eq!(spring.bytes().await.expect("body"), first);
    sys.stop().await;
}

/// The document's paths are the route list and its methods per path the
/// router's own (its `Allow` on a 405): a method served without a
/// description, or a description without its route, fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_with_exactly_the_methods_it_serves() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let doc = document(&sys).await;
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<_> = paths.keys().cloned().collect();
    assert_eq!(
        documented,
        ROUTES.iter().map(|(p, _)| (*p).to_owned()).collect()
    );
    for (path, methods) in ROUTES {
        let item = paths[path].as_object().expect("path item");
        let described: BTreeSet<_> = METHODS
            .iter()
            .filter(|m| item.contains_key(**m))
            .map(|m| (*m).to_owned())
            .collect();
        assert_eq!(described, set(methods), "{path}");

        let url = sys.url(&path.replace("{id}", "1"));
        let response = sys.http.delete(url).send().await.expect("DELETE");
        assert_eq!(response.status(), 405, "{path} is routed");
        let allow = response.headers()["allow"].to_str().expect("ASCII");
        let served: BTreeSet<_> = allow
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| m != "head")
            .collect();
        assert_eq!(served, set(methods), "{path}: Allow {allow}");
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_headers_and_links_are_described() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let doc = document(&sys).await;
    let expected = [
        (
            "post",
            "/orders",
            &[
                "200", "400", "403", "408", "409", "413", "415", "422", "500", "503",
            ][..],
        ),
        ("get", "/orders", &["200", "400", "500", "503"]),
        ("get", "/orders/{id}", &["200", "400", "404", "500", "503"]),
        (
            "post",
            "/orders/{id}/cancel",
            &["200", "400", "403", "404", "409", "500", "503"],
        ),
        ("get", "/products", &["200", "503"]),
        ("get", "/metrics", &["200", "503"]),
    ];
    for (method, path, codes) in expected {
        assert_eq!(statuses(&doc, method, path), set(codes), "{method} {path}");
    }
    // Every operation: a 503 with Retry-After, errors as Spring's body.
    for (path, methods) in ROUTES {
        for method in methods {
            let responses = &operation(&doc, method, path)["responses"];
            let unavailable = resolve(&doc, &responses["503"]);
            assert!(
                unavailable["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            for (code, response) in responses.as_object().expect("responses") {
                let schema = &resolve(&doc, response)["content"]["application/json"]["schema"];
                if code.starts_with('4') {
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/Error",
                        "{path} {code}"
                    );
                }
            }
        }
    }
    // Spring Boot's error body.
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(
        error["required"],
        json!(["timestamp", "status", "error", "path", "message"])
    );
    for field in ["timestamp", "error", "path", "message"] {
        assert_eq!(error["properties"][field]["type"], "string", "{field}");
    }
    assert_eq!(error["properties"]["timestamp"]["format"], "date-time");
    assert_eq!(error["properties"]["status"]["type"], "integer");

    let key = &operation(&doc, "post", "/orders")["parameters"][0];
    assert_eq!(
        (&key["name"], &key["in"]),
        (&json!("Idempotency-Key"), &json!("header"))
    );
    assert_eq!(key["required"], false);
    assert_eq!(
        (&key["schema"]["minLength"], &key["schema"]["maxLength"]),
        (&json!(1), &json!(255))
    );
    assert_eq!(key["schema"]["pattern"], "^[!-~]+$");

    // The W3C trace context: optional on every traced operation, absent
    // from probes.
    let traceparent = |method: &str, path: &str| {
        operation(&doc, method, path)["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "traceparent" && p["in"] == "header" && p["required"] == false)
    };
    for (method, path) in [
        ("post", "/orders"),
        ("get", "/orders"),
        ("get", "/orders/{id}"),
        ("post", "/orders/{id}/cancel"),
        ("get", "/products"),
    ] {
        assert!(traceparent(method, path), "{method} {path}");
    }
    assert!(!traceparent("get", "/health/ready"));

    let page = &operation(&doc, "get", "/orders")["responses"]["200"];
    assert_eq!(page["headers"]["Event-Seq"]["required"], true);
    assert!(
        page["headers"]["Link"]["description"]
            .as_str()
            .expect("Link")
            .contains("rel=\"next\"")
    );
    let products = &operation(&doc, "get", "/products")["responses"]["200"];
    assert!(products["headers"]["Event-Seq"].is_object());

    let links = &operation(&doc, "post", "/orders")["responses"]["200"]["links"];
    for (link, target, path, method) in [
        ("GetOrder", "getOrder", "/orders/{id}", "get"),
        ("CancelOrder", "cancelOrder", "/orders/{id}/cancel", "post"),
    ] {
        assert_eq!(links[link]["operationId"], target);
        assert_eq!(links[link]["parameters"]["id"], "$response.body#/id");
        assert_eq!(operation(&doc, method, path)["operationId"], target);
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schemas_carry_the_constraints_the_code_enforces() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let doc = document(&sys).await;
    let schemas = &doc["components"]["schemas"];
    let order = &schemas["Order"];
    assert_eq!(
        order["required"],
        json!(["id", "product", "quantity", "status", "createdAt"])
    );
    let props = &order["properties"];
    assert_eq!(props["id"]["minimum"], 1);
    assert_eq!(props["createdAt"]["format"], "date-time");
    let status = resolve(&doc, &props["status"]);
    assert_eq!(
        status["enum"],
        json!(["PENDING", "CREATED", "REJECTED", "CANCELLED"])
    );
    assert_eq!(
        props["reason"]["enum"],
        json!([
            "Insufficient stock",
            "Unknown product",
            "Inventory unavailable",
            "Interrupted before confirmation"
        ])
    );
    let create = &schemas["CreateOrder"];
    assert_eq!(create["required"], json!(["product", "quantity"]));
    for props in [props, &create["properties"]] {
        let (product, quantity) = (&props["product"], &props["quantity"]);
        assert_eq!(
            (&product["minLength"], &product["maxLength"]),
            (&json!(1), &json!(100))
        );
        assert!(product["pattern"].is_string());
        assert_eq!(
            (&quantity["minimum"], &quantity["maximum"]),
            (&json!(1), &json!(1000))
        );
        assert_eq!(quantity["type"], "integer");
    }
    let params = &operation(&doc, "get", "/orders")["parameters"];
    let [limit, before] = [0, 1].map(|i| &params[i]);
    assert_eq!(
        (&limit["name"], &before["name"]),
        (&json!("limit"), &json!("before"))
    );
    assert_eq!(
        limit["schema"],
        json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 1000, "default": 100})
    );
    assert_eq!(before["schema"]["minimum"], 1);
    let id = &operation(&doc, "get", "/orders/{id}")["parameters"][0];
    assert_eq!(
        (&id["in"], &id["required"], &id["schema"]["minimum"]),
        (&json!("path"), &json!(true), &json!(1))
    );
    let product = &schemas["Product"];
    assert_eq!(product["required"], json!(["id", "name", "stockQuantity"]));
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_what_the_document_says() {
    let mut sys = TestSystem::spawn(Backend::Sqlite).await;
    let doc = document(&sys).await;
    let http = sys.http.clone();
    let post = |body: Value| http.post(sys.url("/orders")).json(&body);
    let laptop = json!({"product": "Laptop", "quantity": 1});

    let (status, order) = exchange(&sys, &doc, "/orders", post(laptop.clone())).await;
    assert_eq!((status, &order["status"]), (200, &json!("CREATED")));
    // JSON Schema's integer: a whole number written as a float is one.
    let whole = post(json!({"product": "Toaster", "quantity": 2.0}));
    let (status, rejected) = exchange(&sys, &doc, "/orders", whole).await;
    assert_eq!(
        (status, &rejected["reason"]),
        (200, &json!("Unknown product"))
    );
    let half = post(json!({"product": "Laptop", "quantity": 2.5}));
    assert_eq!(exchange(&sys, &doc, "/orders", half).await.0, 400);
    let text = http.post(sys.url("/orders")).body("{}");
    assert_eq!(exchange(&sys, &doc, "/orders", text).await.0, 415);
    let large = post(json!({"product": "x".repeat(20_000), "quantity": 1}));
    assert_eq!(exchange(&sys, &doc, "/orders", large).await.0, 413);
    let foreign = post(laptop.clone()).header("origin", "http://evil.example");
    assert_eq!(exchange(&sys, &doc, "/orders", foreign).await.0, 403);
    let keyed = |body: Value| post(body).header("idempotency-key", "k-1");
    assert_eq!(
        exchange(&sys, &doc, "/orders", keyed(laptop.clone()))
            .await
            .0,
        200
    );
    let other = keyed(json!({"product": "Phone", "quantity": 1}));
    assert_eq!(exchange(&sys, &doc, "/orders", other).await.0, 422);
    let bad_key = post(laptop.clone()).header("idempotency-key", "a b");
    assert_eq!(exchange(&sys, &doc, "/orders", bad_key).await.0, 400);

    let page = http.get(sys.url("/orders?limit=1"));
    let (status, orders) = exchange(&sys, &doc, "/orders", page).await;
    assert_eq!((status, orders.as_array().map(Vec::len)), (200, Some(1)));
    let zero = http.get(sys.url("/orders?limit=0"));
    assert_eq!(exchange(&sys, &doc, "/orders", zero).await.0, 400);

    let id = order["id"].as_i64().expect("id");
    for (path, code) in [
        (format!("/orders/{id}"), 200),
        ("/orders/999999".into(), 404),
    ] {
        let get = http.get(sys.url(&path));
        assert_eq!(exchange(&sys, &doc, "/orders/{id}", get).await.0, code);
    }
    // Not UTF-8: axum's own rejection would be plain text.
    for bad in ["abc", "0", "%FF"] {
        let get = http.get(sys.url(&format!("/orders/{bad}")));
        assert_eq!(
            exchange(&sys, &doc, "/orders/{id}", get).await.0,
            400,
            "{bad}"
        );
    }
    for code in [200, 409] {
        let cancel = http.post(sys.url(&format!("/orders/{id}/cancel")));
        assert_eq!(
            exchange(&sys, &doc, "/orders/{id}/cancel", cancel).await.0,
            code
        );
    }
    for path in [
        "/products",
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        let get = http.get(sys.url(path));
        assert_eq!(exchange(&sys, &doc, path, get).await.0, 200, "{path}");
    }

    sys.stop_inventory().await;
    let http = sys.http.clone();
    let products = http.get(sys.url("/products"));
    assert_eq!(exchange(&sys, &doc, "/products", products).await.0, 503);
    let ready = http.get(sys.url("/health/ready"));
    assert_eq!(exchange(&sys, &doc, "/health/ready", ready).await.0, 503);
    let place = http.post(sys.url("/orders")).json(&laptop);
    assert_eq!(exchange(&sys, &doc, "/orders", place).await.0, 503);
    sys.start_inventory().await;
    sys.stop().await;
}
