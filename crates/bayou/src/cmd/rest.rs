//! REST helpers: `bayou record create|update|delete`, `bayou event` (platform events) and
//! `bayou push` (generic streaming), with the same credentials as `subscribe`.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::connection::Connection;

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub action: RecordAction,

    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Subcommand)]
pub enum RecordAction {
    /// Create a record; prints its id.
    Create {
        /// The sObject type (Account, PushTopic, StreamingChannel, …).
        sobject: String,
        /// The fields, as JSON.
        fields: String,
    },
    /// Update fields of a record.
    Update {
        sobject: String,
        id: String,
        fields: String,
    },
    /// Delete a record.
    Delete { sobject: String, id: String },
}

#[derive(Debug, Args)]
pub struct EventArgs {
    /// The platform event type (e.g. Low_Ink__e).
    pub name: String,
    /// Its fields, as JSON.
    pub fields: String,

    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The generic streaming channel: its name (/u/…) or its StreamingChannel id (0M6…).
    pub channel: String,
    /// The payload (a string, delivered as is).
    pub payload: String,
    /// Deliver only to these users (repeatable); none: every subscriber.
    #[arg(long = "user")]
    pub users: Vec<String>,

    #[command(flatten)]
    pub connection: Connection,
}

fn json_arg(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("not JSON: {text}"))
}

pub fn record(args: RecordArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let rest = args.connection.rest()?;
        match &args.action {
            RecordAction::Create { sobject, fields } => {
                let id = rest.create(sobject, json_arg(fields)?).await?;
                println!("{id}");
            }
            RecordAction::Update {
                sobject,
                id,
                fields,
            } => rest.update(sobject, id, json_arg(fields)?).await?,
            RecordAction::Delete { sobject, id } => rest.delete(sobject, id).await?,
        }
        Ok(())
    })
}

pub fn event(args: EventArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let rest = args.connection.rest()?;
        let reply = rest
            .publish_event(&args.name, json_arg(&args.fields)?)
            .await?;
        println!("{reply}");
        Ok(())
    })
}

pub fn push(args: PushArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let rest = args.connection.rest()?;
        let reply = rest.push(&args.channel, &args.payload, &args.users).await?;
        println!("{reply}");
        Ok(())
    })
}
