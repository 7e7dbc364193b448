//! `bayou publish <channel> <json>`: one Bayeux publish; prints the server's reply (Bayou's
//! carries the event's replay id in `ext.replayId`).

use anyhow::Context;
use clap::Args;
use serde_json::Value;

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
    let running = client.start()?;
    let result = client.publish(&args.channel, data).await;
    running.stop().await?;
    let reply = result?;
    println!("{reply}");
    Ok(())
}
