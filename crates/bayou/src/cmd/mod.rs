//! Subcommands, one file each. The client commands are built on `bayou-client`: `subscribe`,
//! `publish`, and the REST helpers (`record`, `event`, `push`); `connection` turns flags and
//! `BAYOU_*` variables into a client, the same way for every command. `bench` is the load
//! generator (`bayou-bench`).

pub mod bench;
pub mod connection;
pub mod publish;
pub mod rest;
pub mod subscribe;
mod subscribe_pubsub;

/// A small runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
