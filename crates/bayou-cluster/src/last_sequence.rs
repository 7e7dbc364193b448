//! A stream's last sequence, asked of JetStream once for every caller waiting at the time.
//!
//! A node that is about to refuse something as unknown (a token, a channel, a record) first
//! catches up with the cluster, and catching up starts with asking JetStream for the stream's
//! last sequence. Asked once per refusal, a flood of bad tokens or missing channels would be a
//! flood of NATS requests. Here one request is in flight at a time, and it answers every caller
//! that arrived before it was sent: callers that arrive while it is out wait for the next one
//! (the one in flight may have been sent before what they are looking for was written). So
//! NATS sees at most one request per round trip, however many refusals are waiting.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Requests made one at a time, each shared by every caller that arrived before it was sent.
#[derive(Default)]
pub(crate) struct LastSequence {
    /// Callers so far; a caller's ticket is its number.
    arrived: AtomicU64,
    /// One request at a time.
    asking: tokio::sync::Mutex<()>,
    /// The last request's answer, and the last ticket it covers.
    answered: Mutex<Option<(u64, Result<u64, String>)>>,
}

impl LastSequence {
    /// The answer of a request sent after this call began: from a request made now, or from one
    /// another caller made meanwhile.
    pub(crate) async fn get<F, Fut>(&self, ask: F) -> Result<u64, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, String>>,
    {
        let ticket = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.asking.lock().await;
        if let Some((covers, answer)) = &*self.answered.lock() {
            if *covers >= ticket {
                return answer.clone();
            }
        }
        // Every ticket handed out before this line arrived before the request is sent.
        let covers = self.arrived.load(Ordering::SeqCst);
        let answer = ask().await;
        *self.answered.lock() = Some((covers, answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn callers_waiting_together_share_one_request() {
        let last = Arc::new(LastSequence::default());
        let requests = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let sent = Arc::new(Notify::new());
        let ask = |value: u64| {
            let (requests, release, sent) = (
                Arc::clone(&requests),
                Arc::clone(&release),
                Arc::clone(&sent),
            );
            move || async move {
                requests.fetch_add(1, Ordering::SeqCst);
                sent.notify_one();
                release.notified().await;
                Ok(value)
            }
        };
        // The first caller's request is out and held.
        let first = tokio::spawn({
            let (last, ask) = (Arc::clone(&last), ask(1));
            async move { last.get(ask).await }
        });
        sent.notified().await;
        // A hundred callers arrive while it is out: the answer to a request sent before them
        // would not do, so they wait for the next one, and all share it.
        let later: Vec<_> = (0..100)
            .map(|_| {
                let (last, ask) = (Arc::clone(&last), ask(2));
                tokio::spawn(async move { last.get(ask).await })
            })
            .collect();
        while last.arrived.load(Ordering::SeqCst) < 101 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.unwrap(), Ok(1));
        sent.notified().await;
        release.notify_one();
        for caller in later {
            assert_eq!(caller.await.unwrap(), Ok(2));
        }
        assert_eq!(requests.load(Ordering::SeqCst), 2, "one request per wave");
    }

    #[tokio::test]
    async fn a_caller_after_an_answer_asks_again_and_failures_are_shared_too() {
        let last = LastSequence::default();
        assert_eq!(last.get(|| async { Ok(5) }).await, Ok(5));
        assert_eq!(
            last.get(|| async { Ok(6) }).await,
            Ok(6),
            "not the old answer"
        );
        let failed = last.get(|| async { Err("no NATS".to_owned()) }).await;
        assert_eq!(failed, Err("no NATS".to_owned()));
        assert_eq!(last.get(|| async { Ok(7) }).await, Ok(7));
    }
}
