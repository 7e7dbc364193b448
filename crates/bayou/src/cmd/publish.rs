//! `bayou publish <channel> <json>`: one Bayeux publish; prints the server's reply (Bayou's
//! carries the event's replay id in `ext.replayId`).

use anyhow::Context;
use bayou_client::Notice;
use clap::Args;
use serde_json::Value;
use tokio::sync::broadcast;

use super::connection::Connection;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The channel (e.g. /chat/room1).
    pub channel: String,

    /// The event's data, as JSON (e.g. '{"text":"hello"}').
    pub data: String,

    #[command(flatten)]
    pub connection: Connection,
}

pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(publish(args))
}

async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let data: Value = serde_json::from_str(&args.data)
        .with_context(|| format!("the data is not JSON: {}", args.data))?;
    let client = args.connection.client()?.build()?;
    let mut notices = client.notice_receiver();
    let running = client.start()?;
    // One attempt: a command run by hand (or a script) should fail at once with the reason,
    // not retry the way a long-running subscriber does.
    let result = tokio::select! {
        result = client.publish(&args.channel, data) => result.map_err(anyhow::Error::from),
        cause = first_transport_error(&mut notices) => Err(anyhow::anyhow!(cause)),
    };
    let stopped = running.stop().await;
    // A client stopped by an error (wrong credentials) has the better explanation.
    stopped?;
    let reply = result?;
    println!("{reply}");
    Ok(())
}

async fn first_transport_error(notices: &mut broadcast::Receiver<Notice>) -> String {
    loop {
        match notices.recv().await {
            Ok(Notice::TransportError { error, .. }) => return error,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
