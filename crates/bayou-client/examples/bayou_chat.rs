//! Two clients on a plain Bayeux server: one subscribes to `/chat/**`, the other publishes.
//! Run Bayou with `bayou serve --anonymous` (or any Bayeux server: pass its URL, e.g.
//! `http://127.0.0.1:8000/faye`).
//!
//! ```sh
//! cargo run -p bayou-client --example bayou_chat -- http://127.0.0.1:8080/cometd/66.0
//! ```

use bayou_client::{Client, TransportKind};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/cometd/66.0".into());

    let listener = Client::builder()
        .bayeux_url(&url)
        .transport(TransportKind::WebSocket)
        .build()?;
    let mut events = listener.events()?;
    let _listening = listener.start()?;
    listener.subscribe("/chat/**").await?;

    let talker = Client::builder()
        .bayeux_url(&url)
        .transport(TransportKind::LongPolling)
        .build()?;
    let _talking = talker.start()?;
    for text in ["hello", "from", "bayou-client"] {
        let reply = talker
            .publish("/chat/room1", json!({ "text": text }))
            .await?;
        println!("published {text:?}: {reply}");
    }

    for _ in 0..3 {
        if let Some(event) = events.next().await {
            println!("received on {}: {}", event.channel, event.data["text"]);
        }
    }
    Ok(())
}
