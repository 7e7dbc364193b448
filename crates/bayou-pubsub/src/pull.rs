//! A response stream whose producer runs inside the stream: each `poll_next` polls the
//! producing future, which hands over one item at a time through a [`Yielder`].
//!
//! Why not a task feeding a channel: tonic (hyper) already runs every HTTP/2 response body as
//! a task of its own. A subscription task in front of it made each response two task wake-ups
//! and a channel hand-off, for a stream that has only one consumer. Here the producer runs when
//! the body is polled — which hyper does only while the client's flow-control window has room —
//! so a client that stops reading holds at most one response, and when the call ends (the
//! client resets it, or the connection closes) the body is dropped and the producer with it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use parking_lot::Mutex;

/// The producer's side: hands items to the stream.
pub(crate) struct Yielder<T> {
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> Yielder<T> {
    /// Hands `item` to the stream; resolves once the stream has taken it (on the poll after
    /// the one that returned it).
    pub(crate) async fn send(&self, item: T) {
        *self.slot.lock() = Some(item);
        // No waker is needed: the stream returns the item from this very poll, and its reader
        // polls again for the next one.
        std::future::poll_fn(|_| {
            if self.slot.lock().is_some() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }
}

/// The stream: the items `producer` sends, ending when it returns.
pub(crate) struct Pull<T, F> {
    slot: Arc<Mutex<Option<T>>>,
    producer: Option<Pin<Box<F>>>,
}

/// A stream of what the future `produce` makes sends through the [`Yielder`] it is given.
pub(crate) fn pull<T, F>(produce: impl FnOnce(Yielder<T>) -> F) -> Pull<T, F>
where
    F: Future<Output = ()>,
{
    let slot = Arc::new(Mutex::new(None));
    let producer = produce(Yielder {
        slot: Arc::clone(&slot),
    });
    Pull {
        slot,
        producer: Some(Box::pin(producer)),
    }
}

impl<T, F: Future<Output = ()>> Stream for Pull<T, F> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // `Pull` is `Unpin`: the producer is boxed.
        let this = self.get_mut();
        let Some(producer) = this.producer.as_mut() else {
            return Poll::Ready(None);
        };
        let finished = producer.as_mut().poll(cx).is_ready();
        if finished {
            this.producer = None;
        }
        match this.slot.lock().take() {
            Some(item) => Poll::Ready(Some(item)),
            None if finished => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_the_stream_ends_with_its_producer() {
        let stream = pull(|out| async move {
            for i in 0..3 {
                out.send(i).await;
            }
        });
        assert_eq!(stream.collect::<Vec<_>>().await, vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn the_producer_runs_only_as_far_as_the_reader_has_read() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let mut stream = pull(|out| async move {
            for i in 0.. {
                counter.fetch_add(1, SeqCst);
                out.send(i).await;
            }
        });
        assert_eq!(stream.next().await, Some(0));
        assert_eq!(stream.next().await, Some(1));
        assert_eq!(made.load(SeqCst), 2, "nothing made ahead of the reader");
    }

    #[tokio::test]
    async fn a_waiting_producer_wakes_the_reader() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let mut stream = pull(|out| async move {
            out.send(rx.await.unwrap()).await;
        });
        let reader = tokio::spawn(async move { stream.next().await });
        tokio::task::yield_now().await;
        tx.send(7).unwrap();
        assert_eq!(reader.await.unwrap(), Some(7));
    }

    #[tokio::test]
    async fn dropping_the_stream_drops_the_producer() {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let flag = Flag(Arc::clone(&dropped));
        let mut stream = pull(|out| async move {
            let _flag = flag;
            out.send(1).await;
            std::future::pending::<()>().await;
        });
        assert_eq!(stream.next().await, Some(1));
        drop(stream);
        assert_eq!(dropped.load(SeqCst), 1);
    }
}
