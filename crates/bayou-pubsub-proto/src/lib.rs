//! Salesforce's Pub/Sub API (`eventbus.v1`): the messages, the server trait and the client,
//! generated at build time from Salesforce's published `pubsub_api.proto` (see `build.rs`).
//! A crate of its own so that the server (`bayou-pubsub`) and the client (`bayou-client`)
//! share one generated copy, and the client does not depend on the server.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("eventbus.v1");
