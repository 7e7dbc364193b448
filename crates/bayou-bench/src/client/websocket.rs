//! Sessions over WebSocket: each frame a JSON array of Bayeux messages, as CometD and faye
//! send them. The handshake goes over the socket too (CometD's way; faye's server accepts it).
//! Deliveries arrive whenever the server pushes them; a new connect is sent as soon as the
//! previous one is answered.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{client_id, subscribed, ConnectOutcome, Pacer, Phase};
use super::{PublisherState, Receiver, SharedRef};
use crate::wire;
use crate::BenchError;

const CONNECTION_TYPE: &str = bayou_protocol::connection_type::WEBSOCKET;

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open socket: frames to send go through `tx` to a writer task.
pub struct Socket {
    tx: mpsc::UnboundedSender<Message>,
    rx: SplitStream<Stream>,
}

/// A session with its socket.
pub struct Session {
    pub id: String,
    socket: Socket,
}

async fn dial(shared: &SharedRef) -> Result<Socket, BenchError> {
    let config = &shared.config;
    let url = config.ws_url();
    let ws_error = |e| BenchError::WebSocket {
        url: url.clone(),
        source: Box::new(e),
    };
    let mut request = url.as_str().into_client_request().map_err(ws_error)?;
    if let Some(token) = &config.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| BenchError::Config("the token is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    // Small buffers: 10,000 sockets in this process must not cost a gigabyte.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 20));
    let (stream, _) = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true)
        .await
        .map_err(ws_error)?;
    let (sink, rx) = stream.split();
    let (tx, outgoing) = mpsc::unbounded_channel();
    tokio::spawn(write_frames(sink, outgoing));
    Ok(Socket { tx, rx })
}

/// Sends queued frames, flushing once per burst rather than once per frame.
async fn write_frames(
    mut sink: SplitSink<Stream, Message>,
    mut outgoing: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(frame) = outgoing.recv().await {
        if sink.feed(frame).await.is_err() {
            return;
        }
        while let Ok(frame) = outgoing.try_recv() {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

impl Socket {
    fn send(&self, text: String) -> Result<(), BenchError> {
        self.tx
            .send(Message::text(text))
            .map_err(|_| BenchError::Protocol("the socket closed".into()))
    }

    /// The next text frame (pings and pongs skipped); `None` once the socket is closed.
    async fn next_text(&mut self) -> Option<Result<bytes::Bytes, String>> {
        loop {
            match self.rx.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(bytes::Bytes::from(text))),
                Ok(Message::Binary(data)) => return Some(Ok(data)),
                Ok(Message::Close(frame)) => {
                    return Some(Err(format!("closed by the server: {frame:?}")));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }

    /// Reads frames until `done` says the replies it waits for have all come.
    async fn until(
        &mut self,
        what: &'static str,
        mut done: impl FnMut(&[wire::Incoming<'_>]) -> Result<bool, BenchError>,
    ) -> Result<(), BenchError> {
        let wait = async {
            loop {
                let frame = self
                    .next_text()
                    .await
                    .unwrap_or_else(|| Err("closed".into()))
                    .map_err(BenchError::Protocol)?;
                let messages = wire::decode(&frame).map_err(BenchError::Protocol)?;
                if done(&messages)? {
                    return Ok(());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .map_err(|_| BenchError::Timeout(format!("no reply to {what} in 30 s")))?
    }
}

/// Connects, handshakes and subscribes, and sends the first connect.
pub async fn open(shared: &SharedRef, channels: &[String]) -> Result<Session, BenchError> {
    let mut socket = dial(shared).await?;
    socket.send(wire::handshake(&[CONNECTION_TYPE]))?;
    let mut id = None;
    socket
        .until("the handshake", |messages| {
            if messages.iter().any(|m| m.channel == "/meta/handshake") {
                id = Some(client_id(messages)?);
            }
            Ok(id.is_some())
        })
        .await?;
    let id = id.unwrap_or_default();
    if !channels.is_empty() {
        socket.send(wire::subscribe(&id, channels))?;
        let mut confirmed = 0;
        socket
            .until("the subscriptions", |messages| {
                confirmed += subscribed(messages)?;
                Ok(confirmed >= channels.len())
            })
            .await?;
    }
    socket.send(wire::connect(&id, CONNECTION_TYPE, 1))?;
    Ok(Session { id, socket })
}

/// Reads frames until the run stops, recording deliveries, answering each connect reply with
/// a new connect, and giving back one `in_flight` slot per publish reply.
pub async fn read_loop(
    shared: SharedRef,
    mut session: Session,
    mut receiver: Receiver,
    in_flight: Option<Arc<Semaphore>>,
) {
    let mut n = 1_u64;
    loop {
        let frame = tokio::select! {
            frame = session.socket.next_text() => frame,
            _ = shared.reached(Phase::Stop) => break,
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(why)) => return lost(&shared, why),
            None => return lost(&shared, "the socket closed".into()),
        };
        let absorbed = match receiver.absorb(&shared, &frame) {
            Ok(absorbed) => absorbed,
            Err(e) => {
                shared.recorder.error(format!("undecodable frame: {e}"));
                continue;
            }
        };
        if let Some(in_flight) = &in_flight {
            in_flight.add_permits(absorbed.publish_replies);
        }
        match absorbed.connect {
            Some(ConnectOutcome::Ok) => {
                n += 1;
                if session
                    .socket
                    .send(wire::connect(&session.id, CONNECTION_TYPE, n))
                    .is_err()
                {
                    return lost(&shared, "the socket closed".into());
                }
            }
            Some(ConnectOutcome::Lost(why)) => return lost(&shared, why),
            None => {}
        }
    }
    let _ = session.socket.send(wire::disconnect(&session.id));
    let _ = session.socket.tx.send(Message::Close(None));
    // Give the disconnect a moment to leave; the writer task ends with the last sender.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(_)) = session.socket.next_text().await {}
    })
    .await;
}

fn lost(shared: &SharedRef, why: String) {
    if *shared.phase.borrow() >= Phase::Stop {
        return;
    }
    shared.recorder.sessions_lost.fetch_add(1, Relaxed);
    shared.recorder.error(format!("session lost: {why}"));
}

/// A slow consumer: holds its socket open and never reads another frame until the run stops,
/// so the server's writes to it back up (its queue bound or write timeout then end it).
pub async fn hold_unread(shared: SharedRef, session: Session) {
    shared.reached(Phase::Stop).await;
    drop(session);
}

/// A publisher: its session's frames are read by `read_loop` (which frees in-flight slots
/// on publish replies) while this task writes batches on schedule.
pub async fn publish(shared: SharedRef, session: Session, index: usize) {
    let config = &shared.config;
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let tx = session.socket.tx.clone();
    let id = session.id.clone();
    let reader = tokio::spawn(read_loop(
        Arc::clone(&shared),
        session,
        Receiver::new(index),
        Some(Arc::clone(&in_flight)),
    ));
    shared.reached(Phase::Publish).await;
    let mut state = PublisherState::new(index, config.layout.rooms);
    let batch = config.batch as u32;
    let pacer = Pacer::new(&shared, index);
    loop {
        if !pacer.until_due(&shared, state.batches_sent()).await {
            break;
        }
        let Ok(permit) = in_flight.acquire_many(batch).await else {
            break;
        };
        // The slots come back through `add_permits` when the replies arrive.
        permit.forget();
        let next = state.next(&shared);
        let body = wire::publish(&id, &next.channel, &next.body_messages, next.first_id);
        if tx.send(Message::text(body)).is_err() {
            super::publish_failed(
                &shared,
                &next.channel,
                u64::from(batch),
                "the socket closed",
            );
            break;
        }
    }
    let all = config.max_in_flight as u32;
    let _ = tokio::time::timeout(config.drain, in_flight.acquire_many(all)).await;
    drop(tx);
    let _ = reader.await;
}
