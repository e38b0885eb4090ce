//! The gRPC contracts shared by both services, generated at build time from
//! `proto/protos`. Both files have no proto package (wire compatibility with
//! the original system), so prost puts their items in one module, `_`.

#![allow(clippy::all, missing_docs)]

mod generated {
    tonic::include_proto!("_");
}

pub use generated::*;

/// Encoded `FileDescriptorSet` of inventory.proto, for server reflection.
pub const INVENTORY_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("inventory_descriptor");
/// Encoded `FileDescriptorSet` of order.proto, for server reflection.
pub const ORDER_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("order_descriptor");
