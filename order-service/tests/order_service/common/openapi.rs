//! Reading the OpenAPI document and holding answers to it, for
//! the `openapi` tests.

use std::collections::BTreeSet;

use serde_json::Value;

use super::TestSystem;

/// `GET /openapi.json`, checked to be JSON.
pub(crate) async fn document(sys: &TestSystem) -> Value {
    let response = sys.http.get(sys.url("/openapi.json")).send().await;
    let response = response.expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

/// Follows a local `$ref`.
pub(crate) fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} resolves")),
        None => value,
    }
}

/// Every `$ref` anywhere in `value`.
pub(crate) fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                found.push(r);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// The operation `method path`, which must be documented.
pub(crate) fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is documented");
    op
}

/// The statuses documented for `method path`.
pub(crate) fn statuses(doc: &Value, method: &str, path: &str) -> BTreeSet<String> {
    let responses = operation(doc, method, path)["responses"].as_object();
    responses.expect("responses").keys().cloned().collect()
}

/// `items` as owned strings, for comparisons.
pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Sends `request` and checks the answer against the description of its
/// operation at `path`: a documented status, a documented content type,
/// every required header; for an Order, the schema's fields; for an
/// error, Spring's error body on the path asked.
pub(crate) async fn exchange(
    sys: &TestSystem,
    doc: &Value,
    path: &str,
    request: reqwest::RequestBuilder,
) -> (u16, Value) {
    let request = request.build().expect("request");
    let method = request.method().as_str().to_ascii_lowercase();
    let asked = request.url().path().to_owned();
    let response = sys.http.execute(request).await.expect("answer");
    let status = response.status().as_u16();
    let described = &operation(doc, &method, path)["responses"][status.to_string()];
    assert!(described.is_object(), "{method} {path} answered {status}");
    let described = resolve(doc, described);
    for (name, header) in described["headers"].as_object().into_iter().flatten() {
        if header["required"] == true {
            assert!(response.headers().contains_key(name.as_str()), "{name}");
        }
    }
    let content_type = response.headers()["content-type"].to_str().expect("ASCII");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let content = &described["content"][&essence];
    assert!(
        content.is_object(),
        "{method} {path} {status}: {content_type}"
    );
    let body = if essence == "application/json" {
        response.json().await.expect("JSON body")
    } else {
        Value::String(response.text().await.expect("text"))
    };
    let schema = &content["schema"];
    if schema["$ref"] == "#/components/schemas/Error" {
        support::testing::assert_spring_error(&body, status, &asked);
    }
    if schema["$ref"] == "#/components/schemas/Order" {
        let order = &doc["components"]["schemas"]["Order"];
        for field in body.as_object().expect("an object").keys() {
            assert!(order["properties"][field].is_object(), "{field}");
        }
        for field in order["required"].as_array().expect("required") {
            assert!(body.get(field.as_str().expect("name")).is_some(), "{field}");
        }
    }
    (status, body)
}
