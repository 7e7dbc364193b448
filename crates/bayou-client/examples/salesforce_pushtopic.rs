//! Streams PushTopic and platform events from a Salesforce org (or from Bayou, which speaks
//! the same), resuming after restarts from `replay.json`.
//!
//! ```sh
//! export SF_LOGIN_URL=https://login.salesforce.com      # or test.salesforce.com, My Domain, http://127.0.0.1:8080
//! export SF_CLIENT_ID=3MVG9… SF_CLIENT_SECRET=… SF_USERNAME=me@example.com SF_PASSWORD=password+securitytoken
//! cargo run -p bayou-client --example salesforce_pushtopic -- /topic/AccountUpdates /event/Low_Ink__e
//! ```
//! (https endpoints need the crate's `rustls` feature: add `--features rustls`.)

use bayou_client::{Client, ExpiredReplay, FileReplayStore, Notice, PasswordFlow, PushTopicEvent};
use serde_json::Value;

fn env(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let channels: Vec<String> = std::env::args().skip(1).collect();
    if channels.is_empty() {
        return Err("give one or more channels, e.g. /topic/AccountUpdates".into());
    }
    let client = Client::builder()
        .auth(PasswordFlow::new(
            env("SF_LOGIN_URL")?,
            env("SF_CLIENT_ID")?,
            env("SF_CLIENT_SECRET")?,
            env("SF_USERNAME")?,
            env("SF_PASSWORD")?,
        ))
        .replay_store(FileReplayStore::open("replay.json")?)
        .expired_replay(ExpiredReplay::ResumeEarliest)
        .build()?;
    for channel in &channels {
        client.subscribe(channel).await?;
    }
    let mut events = client.events()?;
    let mut notices = client.notice_receiver();
    let running = client.start()?;

    // Recovery is automatic; the notices say what happened.
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            match notice {
                Notice::ReplayGap {
                    channel, replay_id, ..
                } => {
                    eprintln!("events of {channel} after {replay_id} may be missing")
                }
                other => eprintln!("{other:?}"),
            }
        }
    });
    let stop = client.stop_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.stop();
    });

    while let Some(event) = events.next().await {
        if event.channel.starts_with("/topic/") {
            let change: PushTopicEvent<Value> = event.pushtopic()?;
            println!(
                "{} {}: {}",
                change.event.change_type, event.channel, change.sobject
            );
        } else {
            println!("{} #{:?}: {}", event.channel, event.replay_id, event.data);
        }
    }
    running.stop().await?;
    Ok(())
}
