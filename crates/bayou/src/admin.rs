//! `bayou admin …`: the admin API (fault injection) from the command line.

use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::{AdminAction, AdminArgs};

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let reply = runtime.block_on(call(&args))?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}

/// `{"clientId": …}`, or `{"all": true}`.
fn one_or_all(client_id: &Option<String>, all: bool) -> Value {
    if all {
        json!({"all": true})
    } else {
        json!({"clientId": client_id})
    }
}

async fn call(args: &AdminArgs) -> anyhow::Result<Value> {
    let base = args.url.trim_end_matches('/');
    let http = reqwest::Client::new();
    let (path, body) = match &args.action {
        AdminAction::Sessions => ("sessions".to_owned(), None),
        AdminAction::ExpireSession { client_id, all } => (
            "faults/expire-session".to_owned(),
            Some(one_or_all(client_id, *all)),
        ),
        AdminAction::ServerDisconnect { client_id, all } => (
            "faults/server-disconnect".to_owned(),
            Some(one_or_all(client_id, *all)),
        ),
        AdminAction::RefuseHandshakes { count } => (
            "faults/refuse-handshakes".to_owned(),
            Some(json!({"count": count})),
        ),
        AdminAction::UseUpAllocation { allocation } => (
            "faults/use-up-allocation".to_owned(),
            Some(json!({"allocation": allocation})),
        ),
        AdminAction::CdcGap {
            entity,
            change_type,
            record_ids,
        } => (
            "faults/cdc-gap".to_owned(),
            Some(json!({"entity": entity, "changeType": change_type, "recordIds": record_ids})),
        ),
        AdminAction::InvalidateTokens { username } => (
            "faults/invalidate-tokens".to_owned(),
            Some(json!({"username": username})),
        ),
        AdminAction::DropConnections => ("faults/drop-connections".to_owned(), Some(json!({}))),
        AdminAction::DelayDeliveries { ms } => (
            "faults/delay-deliveries".to_owned(),
            Some(json!({"ms": ms})),
        ),
        AdminAction::ExpireLog { replay_id } => (
            "faults/expire-log".to_owned(),
            Some(json!({"replayId": replay_id})),
        ),
        AdminAction::Cdc { entity, disable } => (
            "cdc".to_owned(),
            Some(json!({"entity": entity, "enabled": !disable})),
        ),
        AdminAction::Allocations => ("allocations".to_owned(), None),
    };
    let url = format!("{base}/admin/{path}");
    let request = match body {
        Some(body) => http.post(&url).body(body.to_string()),
        None => http.get(&url),
    };
    let response = request
        .bearer_auth(&args.token)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.context("cannot read the reply")?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned);
        anyhow::bail!(
            "{url}: HTTP {status}: {}",
            message.unwrap_or_else(|| value.to_string())
        );
    }
    Ok(value)
}
