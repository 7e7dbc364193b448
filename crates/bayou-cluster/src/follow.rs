//! Following a KV bucket for as long as the node lives: every change applied in order, across
//! NATS reconnects and server restarts. A watch that ends, or a reconnection to NATS, starts a
//! new watch from the revision after the last one applied — nothing skipped, nothing applied
//! twice (a revision at or below the last is ignored).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use tokio::sync::watch;

/// Applies every entry of `bucket` with `apply`; `loaded` is sent once the entries that existed
/// when following began have been applied.
pub(crate) async fn follow_bucket(
    bucket: kv::Store,
    reconnects: Arc<watch::Sender<u64>>,
    mut apply: impl FnMut(kv::Entry) + Send,
    loaded: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut loaded = loaded;
    let mut last_revision = 0_u64;
    let mut reconnected = reconnects.subscribe();
    reconnected.borrow_and_update();
    loop {
        let watch = if last_revision == 0 {
            bucket.watch_with_history(">").await
        } else {
            bucket.watch_all_from_revision(last_revision + 1).await
        };
        let mut watch = match watch {
            Ok(watch) => watch,
            Err(e) => {
                tracing::debug!(bucket = %bucket.name, "cannot watch the bucket yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if last_revision == 0 {
            let empty = bucket
                .status()
                .await
                .map(|status| status.values() == 0)
                .unwrap_or(false);
            if empty {
                if let Some(loaded) = loaded.take() {
                    let _ = loaded.send(());
                }
            }
        }
        loop {
            tokio::select! {
                entry = watch.next() => match entry {
                    Some(Ok(entry)) => {
                        if entry.revision <= last_revision {
                            continue;
                        }
                        last_revision = entry.revision;
                        let current = entry.delta == 0;
                        apply(entry);
                        if current {
                            if let Some(loaded) = loaded.take() {
                                let _ = loaded.send(());
                            }
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(bucket = %bucket.name, "watch failed: {e}");
                        break;
                    }
                    None => break,
                },
                _ = reconnected.changed() => break,
            }
        }
    }
}
