use std::{
    collections::BTreeSet,
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use prost::Message;
use proto::inventory_service_server::InventoryServiceServer;
use tonic::Code;
use tower::{Layer, ServiceExt};

use super::*;

fn with(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", value.parse().expect("ascii"));
    headers
}

#[test]
fn only_the_right_bearer_token_passes() {
    let auth = Auth::new(Some("s3cret"));
    assert!(auth.is_required());
    assert!(auth.check(&with("Bearer s3cret")).is_ok());
    assert!(auth.check(&with("bearer s3cret")).is_ok());
    for wrong in [
        "Bearer s3cre",
        "Bearer s3cret2",
        "Bearer S3CRET",
        "Bearer ",
        "s3cret",
        "Basic s3cret",
        "",
    ] {
        let e = auth.check(&with(wrong)).unwrap_err();
        assert!(matches!(e, Error::Unauthenticated(_)), "{wrong:?}");
    }
    assert!(auth.check(&HeaderMap::new()).is_err());
}

#[test]
fn no_or_empty_token_leaves_everything_open() {
    for auth in [Auth::new(None), Auth::new(Some(""))] {
        assert!(!auth.is_required());
        assert!(auth.check(&HeaderMap::new()).is_ok());
        assert!(auth.check(&with("Bearer anything")).is_ok());
    }
}

#[test]
fn the_token_is_not_in_debug_output() {
    let shown = format!("{:?}", Auth::new(Some("s3cret")));
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn comparison_is_exact() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(!constant_time_eq(b"abcabc", b"abc"));
    assert!(!constant_time_eq(b"", b"abc"));
}

/// What became of a call through the layer.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// It reached the service.
    Passed,
    /// The layer answered it with this status.
    Refused(Code, String),
}

/// Sends a call of `path`, with `authorization` metadata if given, through
/// the layer for `token` to a service that only counts its calls.
async fn call(token: Option<&str>, path: &str, authorization: Option<&str>) -> Outcome {
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let service = tower::service_fn(move |_: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Body::default())) }
    });
    let guarded = RequireToken::new(Auth::new(token)).layer(service);
    let mut request = Request::builder().uri(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = guarded
        .oneshot(request.body(()).expect("a request"))
        .await
        .expect("infallible");
    match tonic::Status::from_header_map(response.headers()) {
        None => {
            assert_eq!(reached.load(Ordering::SeqCst), 1, "{path}");
            Outcome::Passed
        }
        Some(status) => {
            assert_eq!(
                reached.load(Ordering::SeqCst),
                0,
                "{path} refused, yet served"
            );
            Outcome::Refused(status.code(), status.message().to_owned())
        }
    }
}

#[tokio::test]
async fn reads_pass_without_the_token_and_every_other_method_needs_it() {
    let token = Some("s3cret");
    for read in READ_METHODS {
        assert_eq!(call(token, read, None).await, Outcome::Passed, "{read}");
        assert_eq!(
            call(token, read, Some("Bearer wrong")).await,
            Outcome::Passed,
            "{read}"
        );
    }
    let missing = Outcome::Refused(
        Code::Unauthenticated,
        "this call needs metadata \"authorization: Bearer <token>\"".into(),
    );
    let invalid = Outcome::Refused(Code::Unauthenticated, "invalid token".into());
    // Deny by default: not only today's writes, any path not listed as a
    // read, however close to one.
    for path in [
        "/InventoryService/UpdateStock",
        "/InventoryService/Restock",
        "/InventoryService/SomeFutureRpc",
        "/InventoryService/checkstock",
        "/InventoryService/CheckStock/",
        "/InventoryService/CheckStockX",
        "/",
    ] {
        assert_eq!(call(token, path, None).await, missing, "{path}");
        assert_eq!(
            call(token, path, Some("Bearer wrong")).await,
            invalid,
            "{path}"
        );
        assert_eq!(
            call(token, path, Some("Bearer s3cret")).await,
            Outcome::Passed,
            "{path}"
        );
    }
}

#[tokio::test]
async fn without_a_token_every_method_passes() {
    for token in [None, Some("")] {
        for path in READ_METHODS.into_iter().chain([
            "/InventoryService/Restock",
            "/InventoryService/SomeFutureRpc",
        ]) {
            assert_eq!(call(token, path, None).await, Outcome::Passed, "{path}");
        }
    }
}

#[test]
fn the_guarded_service_keeps_its_name_and_the_reads_are_its_methods() {
    type Served = Guarded<InventoryServiceServer<crate::grpc::Inventory>>;
    assert_eq!(<Served as NamedService>::NAME, "InventoryService");
    for read in READ_METHODS {
        assert!(read.starts_with("/InventoryService/"), "{read}");
    }
}

/// The start-up warning's list against the proto (the layer does not use
/// it: it needs no list of what to guard). The integration test
/// `every_method` checks the running server, through reflection.
#[test]
fn the_guarded_list_is_every_method_of_the_proto_but_the_reads() {
    let set = prost_types::FileDescriptorSet::decode(proto::INVENTORY_DESCRIPTOR_SET)
        .expect("the embedded descriptor set decodes");
    let methods: BTreeSet<String> = set
        .file
        .iter()
        .flat_map(|f| &f.service)
        .filter(|s| s.name() == "InventoryService")
        .flat_map(|s| &s.method)
        .map(|m| m.name().to_owned())
        .collect();
    let reads: BTreeSet<String> = READ_METHODS
        .iter()
        .map(|r| r.trim_start_matches("/InventoryService/").to_owned())
        .collect();
    let guarded: BTreeSet<String> = GUARDED_RPCS.split(", ").map(str::to_owned).collect();
    assert!(
        reads.is_subset(&methods),
        "{reads:?} not all in {methods:?}"
    );
    let rest: BTreeSet<String> = methods.difference(&reads).cloned().collect();
    assert_eq!(guarded, rest);
}
