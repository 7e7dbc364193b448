//! The handle applications hold: subscribe, publish, read events, start and stop.
//!
//! Everything the handle does goes to the event loop as a command, so it can be called from
//! any task, before or after the connection is up; subscriptions made before
//! [`Client::start`] are sent with the first handshake.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use futures_util::stream::BoxStream;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{ClientBuilder, Config};
use crate::error::ClientError;
use crate::event::Event;
use crate::event_loop::{Command, EventLoop};
use crate::notice::Notice;
use crate::replay::{ReplayFrom, ReplayStore};

/// A Bayeux / Salesforce streaming client. Cheap to clone; every clone drives the same
/// session.
///
/// ```no_run
/// use bayou_client::{Client, PasswordFlow};
///
/// # async fn run() -> Result<(), bayou_client::ClientError> {
/// let client = Client::builder()
///     .instance_url("http://127.0.0.1:8080")
///     .auth(PasswordFlow::new("http://127.0.0.1:8080", "client-id", "secret", "admin@bayou.local", "pw"))
///     .build()?;
/// client.subscribe("/topic/AccountUpdates").await?;
/// let mut events = client.events()?;
/// let running = client.start()?;
/// while let Some(event) = events.next().await {
///     println!("{} {}", event.channel, event.data);
/// }
/// running.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    commands: mpsc::UnboundedSender<Command>,
    parts: Mutex<Option<LoopParts>>,
    events: Mutex<Option<mpsc::Receiver<Event>>>,
    messages: broadcast::Sender<Value>,
    notices: broadcast::Sender<Notice>,
    running: Arc<AtomicBool>,
    /// `start` found the event buffer not taken and dropped it.
    events_dropped: AtomicBool,
    stop: Arc<watch::Sender<bool>>,
}

/// What `start` moves into the event loop.
struct LoopParts {
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
}

impl Client {
    /// A builder with Salesforce's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(config.buffer);
        let (messages, _) = broadcast::channel(1_024);
        let (notices, _) = broadcast::channel(256);
        let (stop, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                commands,
                parts: Mutex::new(Some(LoopParts {
                    commands: command_rx,
                    events: events_tx,
                })),
                events: Mutex::new(Some(events_rx)),
                messages,
                notices,
                running: Arc::new(AtomicBool::new(false)),
                events_dropped: AtomicBool::new(false),
                stop: Arc::new(stop),
            }),
        }
    }

    /// Subscribes to `channel` (a channel, a `*`/`**` pattern, or a filtered PushTopic
    /// subscription `/topic/X?Field='v'`). The replay position is the stored one, or the
    /// builder's default. When the client is running this waits for the server's answer;
    /// before `start` it only records the subscription.
    pub async fn subscribe(&self, channel: &str) -> Result<(), ClientError> {
        self.subscribe_inner(channel, None).await
    }

    /// Subscribes starting from `from` when no replay id is stored for the channel.
    pub async fn subscribe_from(&self, channel: &str, from: ReplayFrom) -> Result<(), ClientError> {
        self.subscribe_inner(channel, Some(from)).await
    }

    async fn subscribe_inner(
        &self,
        channel: &str,
        from: Option<ReplayFrom>,
    ) -> Result<(), ClientError> {
        bayou_protocol::Subscription::parse(channel).map_err(|e| ClientError::InvalidChannel {
            channel: channel.to_owned(),
            reason: e.to_string(),
        })?;
        if bayou_protocol::channel::kind_of(channel) == bayou_protocol::ChannelKind::Meta {
            return Err(ClientError::InvalidChannel {
                channel: channel.to_owned(),
                reason: "meta channels are read with messages(), not subscribed to".into(),
            });
        }
        let from = from.unwrap_or(self.inner.config.default_replay);
        self.request(|reply| Command::Subscribe {
            channel: channel.to_owned(),
            from,
            reply,
        })
        .await
        .map(|_| ())
    }

    /// Stops receiving `channel`. The stored replay id is kept.
    pub async fn unsubscribe(&self, channel: &str) -> Result<(), ClientError> {
        self.request(|reply| Command::Unsubscribe {
            channel: channel.to_owned(),
            reply,
        })
        .await
        .map(|_| ())
    }

    /// Publishes `data` on `channel` over Bayeux and returns the server's reply (Bayou puts
    /// the event's replay id in its `ext`). Waits for the connection if it is not up yet, at
    /// most twice the request timeout; a publish whose reply was lost with its connection
    /// reports an error and may or may not have been stored (publishes are not retried, so
    /// that none is stored twice).
    pub async fn publish(&self, channel: &str, data: Value) -> Result<Value, ClientError> {
        bayou_protocol::ChannelName::parse(channel).map_err(|e| ClientError::InvalidChannel {
            channel: channel.to_owned(),
            reason: e.to_string(),
        })?;
        if !self.inner.running.load(Ordering::SeqCst) {
            return Err(ClientError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Publish {
                channel: channel.to_owned(),
                data,
                reply: tx,
            })
            .map_err(|_| ClientError::Stopped)?;
        // Bounded: a reply lost with its connection must not leave the caller waiting.
        let limit = self.inner.config.request_timeout * 2;
        match tokio::time::timeout(limit, rx).await {
            Ok(reply) => reply.map_err(|_| ClientError::Stopped)?,
            Err(_) => Err(ClientError::Timeout(limit)),
        }
    }

    /// Sends a command; waits for its answer only while the loop runs.
    async fn request(
        &self,
        command: impl FnOnce(Option<oneshot::Sender<Result<(), ClientError>>>) -> Command,
    ) -> Result<(), ClientError> {
        if self.inner.running.load(Ordering::SeqCst) {
            let (tx, rx) = oneshot::channel();
            self.inner
                .commands
                .send(command(Some(tx)))
                .map_err(|_| ClientError::Stopped)?;
            rx.await.map_err(|_| ClientError::Stopped)?
        } else {
            self.inner
                .commands
                .send(command(None))
                .map_err(|_| ClientError::Stopped)
        }
    }

    /// The events of subscribed channels, in order, with no duplicates. Taking an event from
    /// it stores its replay id. It can be taken once, before [`Client::start`]; a client
    /// started without it delivers to [`Client::messages`] only.
    pub fn events(&self) -> Result<Events, ClientError> {
        let receiver = self.inner.events.lock().take().ok_or_else(|| {
            if self.inner.events_dropped.load(Ordering::SeqCst) {
                ClientError::Config(
                    "events() must be called before start() (events not taken by then go to \
                     messages() only)"
                        .into(),
                )
            } else {
                ClientError::EventsTaken
            }
        })?;
        Ok(Events {
            receiver,
            store: Arc::clone(&self.inner.config.replay_store),
        })
    }

    /// Every message received — meta replies, events, server-sent disconnects — after the
    /// incoming extensions ran. A tap for logging and debugging: a subscriber that falls more
    /// than 1,024 messages behind misses some (the stream yields `Err(Lagged)`).
    pub fn messages(&self) -> BoxStream<'static, Result<Value, broadcast::error::RecvError>> {
        broadcast_stream(self.inner.messages.subscribe())
    }

    /// What the client did on its own: re-handshakes, re-authentication, stalls, replay gaps.
    pub fn notices(&self) -> BoxStream<'static, Result<Notice, broadcast::error::RecvError>> {
        broadcast_stream(self.inner.notices.subscribe())
    }

    /// A receiver of notices, for `tokio::select!` loops.
    pub fn notice_receiver(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// A handle that asks the event loop to stop, from anywhere, even while it waits on a
    /// held connect.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: Arc::clone(&self.inner.stop),
        }
    }

    /// Starts the event loop on the current tokio runtime. Returns a guard: dropping it stops
    /// the loop; [`Running::stop`] stops it and waits.
    pub fn start(&self) -> Result<Running, ClientError> {
        let parts = self
            .inner
            .parts
            .lock()
            .take()
            .ok_or_else(|| ClientError::Config("the client was already started".into()))?;
        // Nobody will read events that were not asked for: dropping the buffer's receiver
        // lets the loop discard them instead of waiting on a buffer no one empties.
        if self.inner.events.lock().take().is_some() {
            self.inner.events_dropped.store(true, Ordering::SeqCst);
        }
        self.inner.running.store(true, Ordering::SeqCst);
        let event_loop = EventLoop::new(
            Arc::clone(&self.inner.config),
            parts.commands,
            parts.events,
            self.inner.messages.clone(),
            self.inner.notices.clone(),
            self.inner.stop.subscribe(),
        );
        let running = Arc::clone(&self.inner.running);
        let task = tokio::spawn(async move {
            let result = event_loop.run().await;
            running.store(false, Ordering::SeqCst);
            result
        });
        Ok(Running {
            task: Some(task),
            stop: self.stop_handle(),
        })
    }

    /// Whether the event loop is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// The replay store the client uses.
    pub fn replay_store(&self) -> Arc<dyn ReplayStore> {
        Arc::clone(&self.inner.config.replay_store)
    }
}

fn broadcast_stream<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
) -> BoxStream<'static, Result<T, broadcast::error::RecvError>> {
    Box::pin(futures_util::stream::unfold(
        receiver,
        |mut rx| async move {
            match rx.recv().await {
                Err(broadcast::error::RecvError::Closed) => None,
                item => Some((item, rx)),
            }
        },
    ))
}

/// Asks the event loop to stop; cloneable, usable from any task or a signal handler.
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// The running event loop. Dropping it asks the loop to stop (it disconnects and ends on its
/// own); [`Running::stop`] does the same and waits for it.
pub struct Running {
    task: Option<JoinHandle<Result<(), ClientError>>>,
    stop: StopHandle,
}

impl Running {
    /// Stops the loop (sending `/meta/disconnect`) and returns why it ended: `Ok` when it was
    /// asked to, the error that stopped it otherwise.
    pub async fn stop(mut self) -> Result<(), ClientError> {
        self.stop.stop();
        self.wait_inner().await
    }

    /// Waits until the loop ends by itself (an unrecoverable error) or is stopped elsewhere.
    pub async fn wait(mut self) -> Result<(), ClientError> {
        self.wait_inner().await
    }

    async fn wait_inner(&mut self) -> Result<(), ClientError> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Err(ClientError::Stopped)),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.stop.stop();
        }
    }
}

/// The events of subscribed channels. Taking one stores its replay id in the client's
/// [`ReplayStore`].
pub struct Events {
    receiver: mpsc::Receiver<Event>,
    store: Arc<dyn ReplayStore>,
}

impl Events {
    /// The next event; `None` once the client has stopped and every buffered event was taken.
    pub async fn next(&mut self) -> Option<Event> {
        let event = self.receiver.recv().await?;
        if let Some(id) = event.replay_id {
            if let Err(error) = self.store.store(&event.subscription, id).await {
                tracing::error!(%error, channel = %event.subscription, replay_id = id,
                    "cannot store the replay id; a restart would deliver this event again");
            }
        }
        Some(event)
    }

    /// As a `Stream`.
    pub fn into_stream(self) -> BoxStream<'static, Event> {
        Box::pin(futures_util::stream::unfold(
            self,
            |mut events| async move {
                let event = events.next().await?;
                Some((event, events))
            },
        ))
    }
}
