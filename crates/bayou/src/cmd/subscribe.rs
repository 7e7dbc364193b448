//! `bayou subscribe <channel>…`: prints every event as one JSON line on stdout (notices on
//! stderr), until Ctrl-C or `--count` events. With `--replay-store FILE` it stores each
//! printed event's replay id and the next run resumes after it.

use std::io::Write;

use anyhow::Context;
use bayou_client::{ExpiredReplay, FileReplayStore, Notice, ReplayFrom};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::connection::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExpired {
    /// Stop with an error.
    Fail,
    /// Resume from the earliest event retained (-2).
    Earliest,
    /// Resume with new events only (-1).
    New,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// Bayeux/CometD (the Streaming API).
    Bayeux,
    /// The Pub/Sub API (gRPC, Avro): platform event and change event topics.
    Pubsub,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Channels to subscribe to (e.g. /topic/AccountUpdates /event/Low_Ink__e /chat/**).
    #[arg(required = true)]
    pub channels: Vec<String>,

    /// Where to start when no replay id is stored: -1 (new events), -2 (everything
    /// retained) or a replay id (the events after it).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub replay: i64,

    /// A file keeping the last replay id printed per channel; the next run resumes there.
    #[arg(long)]
    pub replay_store: Option<std::path::PathBuf>,

    /// What to do when the stored replay id has expired on the server.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_expired: OnExpired,

    /// Exit after this many events.
    #[arg(long)]
    pub count: Option<u64>,

    /// Print whole Bayeux messages instead of {channel, replayId, data}.
    #[arg(long)]
    pub raw: bool,

    /// Which API to read the events through.
    #[arg(long, value_enum, default_value = "bayeux")]
    pub api: Api,

    /// The Pub/Sub API's address (with --api pubsub): Bayou's, or
    /// https://api.pubsub.salesforce.com:7443.
    #[arg(
        long,
        env = "BAYOU_PUBSUB_URL",
        default_value = "https://127.0.0.1:7443"
    )]
    pub pubsub_url: String,

    /// A PEM certificate to trust for the Pub/Sub API (Bayou's `<data-dir>/pubsub-cert.pem`);
    /// the public roots otherwise.
    #[arg(long, env = "BAYOU_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub connection: Connection,
}

pub fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(subscribe(args))
}

async fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    if args.api == Api::Pubsub {
        return super::subscribe_pubsub::subscribe(args).await;
    }
    let mut builder = args
        .connection
        .client()?
        .default_replay(ReplayFrom::from_replay_id(args.replay))
        .expired_replay(match args.on_expired {
            OnExpired::Fail => ExpiredReplay::Fail,
            OnExpired::Earliest => ExpiredReplay::ResumeEarliest,
            OnExpired::New => ExpiredReplay::ResumeNew,
        });
    if let Some(path) = &args.replay_store {
        builder = builder.replay_store(FileReplayStore::open(path)?);
    }
    let client = builder.build()?;
    let mut events = client.events()?;
    let mut notices = client.notice_receiver();
    let running = client.start()?;
    let stop = client.stop_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.stop();
        }
    });
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            if let Some(line) = describe(&notice) {
                eprintln!("bayou: {line}");
            }
        }
    });
    for channel in &args.channels {
        client
            .subscribe(channel)
            .await
            .with_context(|| format!("cannot subscribe to {channel}"))?;
    }
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    while args.count.is_none_or(|count| printed < count) {
        let Some(event) = events.next().await else {
            break;
        };
        let line = if args.raw {
            event.message.to_string()
        } else {
            json!({"channel": event.channel, "replayId": event.replay_id, "data": event.data})
                .to_string()
        };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            // The reader went away (a closed pipe): stop quietly.
            break;
        }
        printed += 1;
    }
    running.stop().await?;
    Ok(())
}

/// A notice as one line for stderr; routine ones are left out.
fn describe(notice: &Notice) -> Option<String> {
    Some(match notice {
        Notice::Connected { transport, .. } => format!("connected ({transport})"),
        Notice::Subscribed {
            channel,
            replay_from,
        } => format!("subscribed to {channel} (replay from {replay_from})"),
        Notice::SubscribeFailed { channel, error } => format!("{channel}: {error}"),
        Notice::SessionLost { reason } => format!("session lost ({reason}); handshaking again"),
        Notice::Reauthenticating { reason } => format!("token refused ({reason}); logging in again"),
        Notice::TransportError { error, retry_in } => {
            format!("{error}; retrying in {} ms", retry_in.as_millis())
        }
        Notice::Stalled { waited } => {
            format!("no reply for {} s; reconnecting", waited.as_secs())
        }
        Notice::ReplayGap {
            channel,
            replay_id,
            resumed_from,
            ..
        } => match resumed_from {
            Some(from) => format!(
                "replay id {replay_id} of {channel} has expired; events may be missing; resuming from {from}"
            ),
            None => format!("replay id {replay_id} of {channel} has expired"),
        },
        Notice::Undecodable { channel, error } => format!(
            "skipped a message on {} that cannot be decoded: {error}",
            channel.as_deref().unwrap_or("an unknown channel")
        ),
        Notice::SlowConsumer { waited } => {
            format!("output is not being read ({} ms)", waited.as_millis())
        }
        Notice::Unsubscribed { .. } | Notice::Stopped { .. } => return None,
    })
}
