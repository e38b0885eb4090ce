//! Compiles `protos/*.proto` with protox (a protobuf compiler written in Rust),
//! so neither a fresh machine nor a Docker build needs a `protoc` binary.
//! Besides the code, writes one descriptor set per file, so each service's
//! reflection lists only the services it really serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["inventory.proto", "order.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed=protos/{p}");
    }
    let all = protox::compile(protos, ["protos"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    for p in &protos {
        let mut one = all.clone();
        one.file.retain(|f| f.name() == *p);
        let stem = p.trim_end_matches(".proto");
        fs::write(
            out.join(format!("{stem}_descriptor.bin")),
            one.encode_to_vec(),
        )?;
    }
    tonic_prost_build::configure()
        .skip_protoc_run()
        .compile_fds(all)?;
    Ok(())
}
