//! The one harness the integration tests share: an emulated org and a Bayou server running
//! in-process on 127.0.0.1:0 with a temporary data directory, and the HTTP calls tests make
//! against them.
//!
//! Why a crate of its own: the client tests and the org tests need the same org-plus-server
//! (same credentials, same wiring of the org, the engine and the admin API), and a copy per
//! test directory drifted. A dev-only crate is the one place that wiring lives in tests, so a
//! change to how Bayou is assembled is made once. It is only ever a `[dev-dependency]`: nothing
//! shipped depends on it, and it may `unwrap` and `panic!` freely — a failed call here is a
//! failed test, with the response in the message.
//!
//! - [`harness`]: start, stop and restart (same port, same data) of org + server.
//! - [`http`]: login, Bayeux POSTs, the admin API, subscribing and collecting events.
//! - [`records`]: sObject REST, so a test says `update(token, "Account", id, fields)` and not
//!   the method, the path and the expected status.
//! - [`eventually`]: polling observable state instead of sleeping for a guessed time.
//! - [`HeldAcks`]: a store whose appends are acknowledged when the test says (an [`AckGate`]).
//! - [`NatsServer`]: real `nats-server` processes for the cluster tests.

#![forbid(unsafe_code)]

mod harness;
mod held_acks;
mod http;
mod nats;
mod records;
mod wait;

pub use harness::{init_logs, start, start_with, Bayou};
pub use held_acks::{AckGate, HeldAcks};
pub use http::Session;
pub use nats::{free_port, nats_server_binary, NatsServer};
pub use wait::eventually;

/// The org's admin user, created on first start.
pub const USER: &str = "dev@example.com";
pub const PASSWORD: &str = "correct horse";
/// A second user of the same org, for what one user may see of another's.
pub const OTHER_USER: &str = "other@example.com";
pub const OTHER_PASSWORD: &str = "battery staple";
/// The connected app the users log in through.
pub const CLIENT: &str = "test-client";
pub const SECRET: &str = "test-secret";
/// The bearer token of the admin API (`/admin/...`: fault injection, overview).
pub const ADMIN: &str = "admin-secret";
