//! Appends queued on a backend's writer channel in two steps: waiting for room in the channel
//! (the queueing, which fixes the append's place in the log), then waiting for the writer's
//! answer (the acknowledgement). Both backends feed a single writer through a bounded channel,
//! so an append's order in the log is the order in which its request entered that channel.

use tokio::sync::{mpsc, oneshot};

use crate::{AppendFuture, LogError, QueuedAppend};

/// Who answers an append: the writer sends its replay ids (or why it could not) here.
pub type AppendReply = oneshot::Sender<Result<Vec<u64>, LogError>>;

/// Queues the request `make` builds around its reply channel on `requests`, waiting for room,
/// and resolves with the future of the writer's answer.
pub fn queue_on<R: Send + 'static>(
    requests: mpsc::Sender<R>,
    make: impl FnOnce(AppendReply) -> R + Send + 'static,
) -> QueuedAppend {
    Box::pin(async move {
        let permit = requests
            .reserve_owned()
            .await
            .map_err(|_| LogError::Closed)?;
        let (reply, done) = oneshot::channel();
        permit.send(make(reply));
        let answered: AppendFuture =
            Box::pin(async move { done.await.map_err(|_| LogError::Closed)? });
        Ok(answered)
    })
}

/// A queued append that is already answered (stored inline, refused, or empty).
pub fn answered(result: Result<Vec<u64>, LogError>) -> QueuedAppend {
    let answered: AppendFuture = Box::pin(std::future::ready(result));
    Box::pin(std::future::ready(Ok(answered)))
}
