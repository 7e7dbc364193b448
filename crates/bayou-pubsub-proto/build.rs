//! Generates the `eventbus.v1.PubSub` service and messages from Salesforce's published
//! `pubsub_api.proto` (forcedotcom/pub-sub-api @ 0ba4701, CC0), unchanged, with the `protoc`
//! that `protoc-bin-vendored` ships: nothing to install on the build machine.
//!
//! Payloads and replay ids are `bytes::Bytes`, so an event's Avro datum, made once, is shared
//! by every subscriber's response instead of copied into a `Vec` each time.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build finds protoc through the environment; a build script is one thread.
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure()
        .bytes(".eventbus.v1")
        .compile_protos(&["proto/pubsub_api.proto"], &["proto"])?;
    Ok(())
}
