//! Every method the running server describes through reflection is either
//! listed as a read (and answers without the token) or refused without the
//! token: a new RPC cannot be left open by forgetting a check. Calls are
//! made by path, with encoded messages, so the test needs no change when
//! the proto gains a method.

use inventory_service::READ_METHODS;
use prost::{
    Message,
    bytes::{Buf, BufMut},
};
use prost_types::FileDescriptorProto;
use proto::StockRequest;
use support::testing::Backend;
use tokio_stream::StreamExt;
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use super::TOKEN;
use crate::common::TestInventory;

/// The services reflection lists besides the guarded one: open by design,
/// as they always were (see `auth` in the crate). (Reflection v1alpha is
/// served too, for older tools, but not listed.)
const OPEN_SERVICES: [&str; 2] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
];

/// Messages as bytes both ways: a call to any method, by path.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Sends `message` to `path` (with `authorization` metadata if given) and
/// returns the first message of the answer. One request message and a
/// stream of answers fit every kind of method on the wire.
async fn call(
    channel: &Channel,
    path: &str,
    message: Vec<u8>,
    authorization: Option<&str>,
) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    let path = PathAndQuery::try_from(path.to_owned()).expect("a method path");
    let mut answers = grpc
        .server_streaming(request, path, Raw)
        .await?
        .into_inner();
    answers.message().await
}

/// A valid request for the reads that need one; an empty message (every
/// field at its default) for the rest.
fn request_for(path: &str) -> Vec<u8> {
    match path {
        "/InventoryService/CheckStock" => StockRequest {
            product: "Laptop".into(),
            quantity: 1,
        }
        .encode_to_vec(),
        _ => Vec::new(),
    }
}

/// Asks reflection one question.
async fn reflect(channel: &Channel, question: MessageRequest) -> MessageResponse {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(question),
    };
    let mut answers = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers without the token")
        .into_inner();
    let answer = answers.next().await.expect("an answer").expect("no error");
    answer.message_response.expect("a response")
}

/// The services reflection lists, and the full path of every method of
/// every other service (today `InventoryService`'s).
async fn reflected(channel: &Channel) -> (Vec<String>, Vec<String>) {
    let MessageResponse::ListServicesResponse(list) =
        reflect(channel, MessageRequest::ListServices(String::new())).await
    else {
        panic!("ListServices answered something else");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    let mut methods = Vec::new();
    for service in services
        .iter()
        .filter(|s| !OPEN_SERVICES.contains(&s.as_str()))
    {
        let MessageResponse::FileDescriptorResponse(files) = reflect(
            channel,
            MessageRequest::FileContainingSymbol(service.clone()),
        )
        .await
        else {
            panic!("no descriptor for {service}");
        };
        let files = files
            .file_descriptor_proto
            .iter()
            .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("a descriptor"));
        let mut described = false;
        for file in files {
            let package = file.package();
            for s in &file.service {
                let name = if package.is_empty() {
                    s.name().to_owned()
                } else {
                    format!("{package}.{}", s.name())
                };
                if name == *service {
                    described = true;
                    methods.extend(s.method.iter().map(|m| format!("/{name}/{}", m.name())));
                }
            }
        }
        assert!(described, "reflection does not describe {service}");
    }
    (services, methods)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_from_reflection_is_a_read_or_needs_the_token() {
    let app = TestInventory::spawn_with(Backend::Sqlite, |c| {
        c.inventory_token = Some(TOKEN.into());
    })
    .await;
    let channel = Channel::from_shared(format!("http://{}", app.server.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (services, methods) = reflected(&channel).await;
    // The one guarded service, beside the open ones, and nothing else: a
    // new service on this port would need a decision of its own.
    let mut expected: Vec<&str> = OPEN_SERVICES
        .into_iter()
        .chain(["InventoryService"])
        .collect();
    expected.sort_unstable();
    let mut listed: Vec<&str> = services.iter().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(listed, expected);
    // The read list names only methods that exist: a renamed read (now
    // refused by default) is caught here rather than left in the list.
    for read in READ_METHODS {
        assert!(
            methods.iter().any(|m| m == read),
            "{read} is not in {methods:?}"
        );
    }
    assert!(methods.len() > READ_METHODS.len(), "{methods:?}");

    let bearer = format!("Bearer {TOKEN}");
    for method in &methods {
        let without = call(&channel, method, request_for(method), None).await;
        if READ_METHODS.contains(&method.as_str()) {
            let answer = without.unwrap_or_else(|s| panic!("{method} without the token: {s:?}"));
            assert!(answer.is_some(), "{method} answered no message");
            continue;
        }
        let Err(refused) = without else {
            panic!("{method} answered without the token");
        };
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "{method}: {refused:?}"
        );
        assert_eq!(
            refused.message(),
            "this call needs metadata \"authorization: Bearer <token>\"",
            "{method}"
        );
        let Err(wrong) = call(&channel, method, request_for(method), Some("Bearer wrong")).await
        else {
            panic!("{method} answered with a wrong token");
        };
        assert_eq!(wrong.code(), Code::Unauthenticated, "{method}: {wrong:?}");
        assert_eq!(wrong.message(), "invalid token", "{method}");
    }
    // The refused calls wrote nothing.
    assert_eq!(app.stock("Laptop").await, 10);
    assert_eq!(app.reservation_rows().await, 0);

    // With the token every one of them gets past the layer, to the
    // handler (which may find the empty request invalid).
    for method in methods
        .iter()
        .filter(|m| !READ_METHODS.contains(&m.as_str()))
    {
        if let Err(s) = call(&channel, method, request_for(method), Some(&bearer)).await {
            assert_ne!(
                s.code(),
                Code::Unauthenticated,
                "{method} with the token: {s:?}"
            );
        }
    }

    // Health, like reflection above, needs no token.
    for service in ["", "InventoryService"] {
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    app.stop().await;
}
