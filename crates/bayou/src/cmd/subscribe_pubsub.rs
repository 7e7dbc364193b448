//! `bayou subscribe --api pubsub <topic>…`: the same JSON lines as over CometD
//! (`{"channel","replayId","data"}`, plus `schemaId` and `id`), read through the Pub/Sub API
//! (gRPC, Avro) — of Bayou (`--pubsub-url`, default `https://127.0.0.1:7443`, trusting the
//! certificate given with `--ca-cert`) or of a Salesforce org.

use std::io::Write;

use anyhow::Context;
use bayou_client::pubsub::{PubSubClient, PubSubNotice, Replay};
use serde_json::json;
use tokio::sync::mpsc;

use super::subscribe::SubscribeArgs;

pub async fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    if args.replay_store.is_some() || args.raw {
        anyhow::bail!("--replay-store and --raw are for --api bayeux");
    }
    let auth = args.connection.auth()?.ok_or_else(|| {
        anyhow::anyhow!("the Pub/Sub API needs credentials: --token, or --username/--password …")
    })?;
    let mut builder = PubSubClient::builder(&args.pubsub_url)
        .auth_shared(auth)
        .instance_url(args.connection.first_url())
        .on_notice(|notice| eprintln!("bayou: {}", describe(notice)));
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        builder = builder.ca_certificate(pem);
    }
    let client = builder
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", args.pubsub_url))?;
    let replay = match args.replay {
        -1 => Replay::Latest,
        -2 => Replay::Earliest,
        id => Replay::After(u64::try_from(id).context("--replay must be -1, -2 or a replay id")?),
    };
    // One stream per topic, merged into one output.
    let (lines, mut printed_lines) = mpsc::channel::<anyhow::Result<String>>(64);
    for topic in args.channels.clone() {
        let mut client = client.clone();
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut subscription = match client.subscribe(&topic, replay).await {
                Ok(subscription) => subscription,
                Err(e) => {
                    let _ = lines
                        .send(Err(anyhow::anyhow!("cannot subscribe to {topic}: {e}")))
                        .await;
                    return;
                }
            };
            eprintln!("bayou: subscribed to {topic} (Pub/Sub API)");
            while let Some(event) = subscription.next().await {
                let line = event
                    .map(|event| {
                        json!({
                            "channel": topic, "replayId": event.replay_id, "schemaId": event.schema_id,
                            "id": event.id, "data": event.payload
                        })
                        .to_string()
                    })
                    .map_err(|e| anyhow::anyhow!("{topic}: {e}"));
                let failed = line.is_err();
                if lines.send(line).await.is_err() || failed {
                    return;
                }
            }
            let _ = lines
                .send(Err(anyhow::anyhow!("{topic}: the server ended the stream")))
                .await;
        });
    }
    drop(lines);
    let mut printed = 0u64;
    while args.count.is_none_or(|count| printed < count) {
        let line = tokio::select! {
            line = printed_lines.recv() => match line {
                Some(line) => line?,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break; // the reader went away
        }
        printed += 1;
    }
    Ok(())
}

/// A recovery, as one line on stderr.
fn describe(notice: &PubSubNotice) -> String {
    match notice {
        PubSubNotice::Resubscribed {
            topic,
            after: Some(id),
            reason,
            ..
        } => format!("resubscribed to {topic} after replay id {id} ({reason})"),
        PubSubNotice::Resubscribed {
            topic,
            after: None,
            gap_possible,
            reason,
        } => format!(
            "resubscribed to {topic} from where it started ({reason}){}",
            if *gap_possible {
                "; it had started at LATEST and seen no event, so events published while it was down were not read"
            } else {
                ""
            }
        ),
        PubSubNotice::Reauthenticated { reason } => format!("logged in again ({reason})"),
    }
}
