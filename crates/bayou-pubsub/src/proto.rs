//! The messages and the service generated from Salesforce's `pubsub_api.proto` (see `build.rs`).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("eventbus.v1");
