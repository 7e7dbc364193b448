//! A WebSocket's sending half: frames are written into the socket's buffer as they become
//! ready, and flushed once the connection has nothing else ready to do.
//!
//! Why: flushing every frame on its own made each publish reply and each delivery its own
//! `sendto`, and on loopback a system call costs more than building the frame. Under load a
//! socket has several frames ready at once (replies of publish frames stored together, events
//! that arrived while it was busy); written into the buffer together, they leave in one system
//! call. When the connection is idle nothing waits: the flush is the first thing it does once
//! nothing else is ready, and before any step that may wait (`ready_or_flush`).
//!
//! A write or flush that takes longer than the write timeout (the client stopped reading and
//! the socket's buffers are full) fails and marks the connection stalled.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes};
use bayou_protocol::encode_array;
use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt};
use tokio::time::Instant;

use crate::metrics as m;

pub struct Outbox<S> {
    sink: S,
    timeout: Duration,
    stalled: bool,
    /// Since when frames have waited in the buffer, unflushed.
    unflushed_since: Option<Instant>,
}

impl<S> Outbox<S>
where
    S: Sink<WsMessage, Error = axum::Error> + Unpin,
{
    pub fn new(sink: S, timeout: Duration) -> Self {
        Self {
            sink,
            timeout,
            stalled: false,
            unflushed_since: None,
        }
    }

    /// Whether a write or a flush timed out: the client is not reading.
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Whether frames wait in the buffer.
    pub fn needs_flush(&self) -> bool {
        self.unflushed_since.is_some()
    }

    /// Writes `messages` as one frame into the socket's buffer (which writes to the socket when
    /// it holds more than its size), without flushing it.
    pub async fn write(&mut self, messages: &[Bytes]) -> Result<(), axum::Error> {
        metrics::counter!(m::MESSAGES_SENT, "transport" => "websocket")
            .increment(messages.len() as u64);
        let frame = encode_array(messages);
        // Every piece is JSON produced by serde_json, hence UTF-8.
        let text = Utf8Bytes::try_from(frame).map_err(axum::Error::new)?;
        self.unflushed_since.get_or_insert_with(Instant::now);
        match tokio::time::timeout(self.timeout, self.sink.feed(WsMessage::Text(text))).await {
            Ok(written) => written,
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Flushes what waits in the buffer; at once if nothing does. The timeout counts from the
    /// oldest unflushed write, so a flush dropped and started again does not extend it.
    pub async fn flush(&mut self) -> Result<(), axum::Error> {
        let Some(since) = self.unflushed_since else {
            return Ok(());
        };
        match tokio::time::timeout_at(since + self.timeout, self.sink.flush()).await {
            Ok(Ok(())) => {
                self.unflushed_since = None;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// `future`'s output, flushing first if it is not ready at once: nothing written waits
    /// in the buffer while the connection waits for something else.
    pub async fn ready_or_flush<F: Future>(&mut self, future: F) -> Result<F::Output, axum::Error> {
        let mut future = std::pin::pin!(future);
        if let Some(output) = future.as_mut().now_or_never() {
            return Ok(output);
        }
        self.flush().await?;
        Ok(future.await)
    }

    /// Sends a close frame, after whatever waits in the buffer.
    pub async fn close(&mut self, frame: Option<CloseFrame>) {
        let _ = tokio::time::timeout(self.timeout, self.sink.send(WsMessage::Close(frame))).await;
    }

    fn timed_out(&mut self) -> axum::Error {
        self.stalled = true;
        axum::Error::new("write timed out")
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A sink that records what it is asked to do; its flush never completes when `stuck`.
    #[derive(Default)]
    struct Recording {
        calls: Vec<&'static str>,
        stuck: bool,
    }

    impl Sink<WsMessage> for Recording {
        type Error = axum::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
            self.calls.push(match item {
                WsMessage::Close(_) => "close",
                _ => "frame",
            });
            Ok(())
        }

        fn poll_flush(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            if self.stuck {
                return Poll::Pending;
            }
            self.calls.push("flush");
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    fn message() -> Vec<Bytes> {
        vec![Bytes::from_static(br#"{"channel":"/a","successful":true}"#)]
    }

    #[tokio::test]
    async fn frames_written_together_are_flushed_once() {
        let mut out = Outbox::new(Recording::default(), Duration::from_secs(1));
        assert!(!out.needs_flush());
        out.flush().await.unwrap();
        assert!(
            out.sink.calls.is_empty(),
            "nothing to flush: the sink is not asked"
        );
        for _ in 0..3 {
            out.write(&message()).await.unwrap();
        }
        assert!(out.needs_flush());
        out.flush().await.unwrap();
        assert!(!out.needs_flush());
        assert_eq!(out.sink.calls, ["frame", "frame", "frame", "flush"]);
    }

    #[tokio::test]
    async fn what_is_written_is_flushed_before_waiting_for_anything_else() {
        let mut out = Outbox::new(Recording::default(), Duration::from_secs(1));
        out.write(&message()).await.unwrap();
        assert_eq!(out.ready_or_flush(async { 1 }).await.unwrap(), 1);
        assert_eq!(out.sink.calls, ["frame"], "a ready future does not flush");
        let (tell, told) = tokio::sync::oneshot::channel();
        tokio::spawn(async move { tell.send(2) });
        assert_eq!(out.ready_or_flush(told).await.unwrap(), Ok(2));
        assert_eq!(out.sink.calls, ["frame", "flush"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_the_client_never_reads_times_out_from_the_first_unflushed_write() {
        let stuck = Recording {
            stuck: true,
            ..Recording::default()
        };
        let mut out = Outbox::new(stuck, Duration::from_secs(30));
        out.write(&message()).await.unwrap();
        // A flush started and dropped (another event was ready) does not restart the clock.
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(tokio::time::timeout(Duration::from_secs(5), out.flush())
            .await
            .is_err());
        let started = Instant::now();
        assert!(out.flush().await.is_err());
        assert!(out.is_stalled());
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
