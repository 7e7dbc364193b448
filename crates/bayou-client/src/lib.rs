//! `bayou-client`: a resilient async client for Salesforce streaming (PushTopic, generic
//! streaming, platform events, Change Data Capture) and for any Bayeux/CometD server (Bayou,
//! faye, CometD).
//!
//! It exists because the usual Salesforce streaming clients fail in the same few ways
//! (reference §12): they stall silently after `reconnect: none`, re-handshake without
//! re-subscribing, lose or repeat events around a re-handshake, keep a stale replay id, and
//! let a revoked token end the stream. This client:
//!
//! - re-handshakes on `403::Unknown client` (or advice `handshake`, or a server-sent
//!   `/meta/disconnect`) and re-subscribes **every** channel with **its** last replay id;
//! - logs in again through its [`AuthProvider`] on `401::Authentication invalid` or
//!   `403::Handshake denied` with a 401 failure reason, without restarting anything;
//! - retries transport errors with capped exponential backoff and jitter;
//! - treats a `/meta/connect` unanswered past its timeout plus a grace period as a stall;
//! - reports an expired replay id as a [`Notice::ReplayGap`] and applies an
//!   [`ExpiredReplay`] policy;
//! - stores a replay id only once the application has taken the event, and drops events it
//!   has already handed over, so there are no gaps and no duplicates across any of the above.
//!
//! Where things happen: `event_loop.rs` runs the session (handshake, connect, timers),
//! `replies.rs` decides what each server reply means, `resubscribe.rs` where each channel
//! resumes, `transport/` moves bytes (long-polling, WebSocket), `auth.rs` logs in (OAuth flows,
//! SOAP), `replay.rs` keeps replay ids, `rest.rs` calls the org's REST API.
//!
//! ```no_run
//! use bayou_client::{Client, FileReplayStore, PasswordFlow};
//!
//! # async fn run() -> Result<(), bayou_client::ClientError> {
//! let client = Client::builder()
//!     .auth(PasswordFlow::new(
//!         "https://login.salesforce.com",
//!         "3MVG9…", "client-secret", "me@example.com", "password+securitytoken",
//!     ))
//!     .replay_store(FileReplayStore::open("replay.json")?)
//!     .build()?;
//! client.subscribe("/topic/AccountUpdates").await?;
//! client.subscribe("/event/Low_Ink__e").await?;
//! let mut events = client.events()?;
//! let _running = client.start()?; // dropping it stops the client
//! while let Some(event) = events.next().await {
//!     println!("{} #{:?}: {}", event.channel, event.replay_id, event.data);
//! }
//! # Ok(()) }
//! ```
//!
//! Modules, one concept each: [`auth`] (where tokens come from), [`replay`] (where positions
//! are kept), `event_loop`/`replies` (the session and its recovery), `transport`
//! (long-polling and WebSocket), [`event`] (payload shapes), [`extension`], [`notice`],
//! [`rest`] (records, platform events, generic pushes).

#![forbid(unsafe_code)]

pub mod auth;
mod backoff;
mod client;
mod commands;
mod config;
pub mod error;
pub mod event;
mod event_loop;
pub mod extension;
pub mod notice;
pub mod pubsub;
pub mod replay;
mod replies;
pub mod rest;
mod resubscribe;
mod transport;

pub use auth::{
    AuthProvider, ClientCredentials, Credentials, PasswordFlow, RefreshToken, SoapLogin,
    StaticToken,
};
pub use client::{Client, Events, Running, StopHandle};
pub use config::{ClientBuilder, DEFAULT_API_VERSION};
pub use error::{AuthError, ClientError, TransportError};
pub use event::{
    CdcPayload, ChangeEvent, ChangeEventHeader, Event, GenericEvent, PlatformEvent, PushTopicEvent,
};
pub use extension::Extension;
pub use notice::Notice;
pub use replay::{ExpiredReplay, FileReplayStore, MemoryReplayStore, ReplayFrom, ReplayStore};
pub use rest::RestClient;
pub use transport::TransportKind;
