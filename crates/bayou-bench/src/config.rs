//! What one run does. Every field has a default that gives a small, quick run; the named
//! scenarios (`BenchConfig::fifty_clients`, `BenchConfig::chat`) set CometD's and the
//! project's reference shapes.

use std::time::Duration;

use crate::BenchError;

/// How the clients talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    LongPolling,
    #[serde(rename = "websocket")]
    WebSocket,
    /// Subscribers read through the Pub/Sub API (gRPC, Avro); publishers publish over
    /// WebSocket Bayeux, so the same events are measured as with `websocket`.
    #[serde(rename = "pubsub")]
    PubSub,
}

impl Transport {
    /// How the subscribers read, for reports: the Bayeux connection type, or `pubsub`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::PubSub => "pubsub",
            other => other.connection_type(),
        }
    }

    /// The Bayeux connection type name (publishers of a Pub/Sub run use WebSocket).
    pub fn connection_type(self) -> &'static str {
        match self {
            Transport::LongPolling => bayou_protocol::connection_type::LONG_POLLING,
            Transport::WebSocket | Transport::PubSub => bayou_protocol::connection_type::WEBSOCKET,
        }
    }
}

/// Which channels exist and who subscribes to what.
///
/// Channels are `{prefix}/{room}` for `room` in `0..rooms`. Subscriber `i` joins rooms
/// `i·k, i·k+1, …, i·k+k-1` (mod `rooms`), with `k = rooms_per_client`, so every room gets the
/// same number of members (CometD's chat: 100 rooms, 10 per client, 1,000 clients → 100 each).
/// Publishers send each batch to the next room in turn.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Layout {
    pub prefix: String,
    pub rooms: usize,
    pub rooms_per_client: usize,
}

impl Layout {
    pub fn single(channel: &str) -> Self {
        Self {
            prefix: channel.trim_end_matches('/').to_owned(),
            rooms: 1,
            rooms_per_client: 1,
        }
    }

    /// Room `room`'s channel: `{prefix}/{room}`, or the prefix with `{room}` replaced when it
    /// has one (`/event/Bench_{room}__e`: platform event channels take no extra segment).
    pub fn channel(&self, room: usize) -> String {
        if self.prefix.contains("{room}") {
            self.prefix.replace("{room}", &room.to_string())
        } else {
            format!("{}/{room}", self.prefix)
        }
    }

    /// The room of a channel of this layout.
    pub fn room_of(&self, channel: &str) -> Option<usize> {
        match self.prefix.split_once("{room}") {
            Some((before, after)) => channel
                .strip_prefix(before)?
                .strip_suffix(after)?
                .parse()
                .ok(),
            None => channel
                .strip_prefix(&self.prefix)?
                .strip_prefix('/')?
                .parse()
                .ok(),
        }
    }

    /// The channels subscriber `index` joins.
    pub fn channels_of(&self, index: usize) -> Vec<String> {
        self.rooms_of(index)
            .into_iter()
            .map(|room| self.channel(room))
            .collect()
    }

    /// The rooms subscriber `index` joins.
    pub fn rooms_of(&self, index: usize) -> Vec<usize> {
        let k = self.rooms_per_client.min(self.rooms);
        (0..k).map(|j| (index * k + j) % self.rooms).collect()
    }

    /// How many of `subscribers` are in each room.
    pub fn members(&self, subscribers: usize) -> Vec<u64> {
        let mut members = vec![0_u64; self.rooms];
        for i in 0..subscribers {
            for room in self.rooms_of(i) {
                members[room] += 1;
            }
        }
        members
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchConfig {
    /// The server's Bayeux URL (`http://…`); WebSocket uses the same URL with `ws://`.
    pub url: String,
    pub transport: Transport,
    /// A bearer token for servers that need one (Bayou without `--anonymous`).
    #[serde(skip)]
    pub token: Option<String>,
    pub subscribers: usize,
    /// Publishing sessions, separate from the subscribers.
    pub publishers: usize,
    /// Messages per second offered, all publishers together; `None` = as fast as the server
    /// acknowledges them (each publisher keeps `max_in_flight` messages outstanding).
    pub rate: Option<f64>,
    /// Messages per publish request (one Bayeux batch, all to the same room).
    pub batch: usize,
    /// Size of each message's `data` object, in bytes.
    pub message_bytes: usize,
    pub layout: Layout,
    /// Publishing before measuring starts (latencies of these messages are not recorded,
    /// but they are checked for loss and duplication).
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Publishing while measuring.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// After publishing stops, how long to wait for the last deliveries before counting what
    /// is missing as lost.
    #[serde(with = "secs")]
    pub drain: Duration,
    /// The server's process, to read its CPU and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// Sessions set up at once.
    pub setup_concurrency: usize,
    /// Messages a publisher may have sent and not yet seen acknowledged.
    pub max_in_flight: usize,
    /// A label for the report (`50-clients`, `chat`, …).
    pub scenario: String,
    /// Extra WebSocket sessions that join rooms as the subscribers do and then never read: slow
    /// consumers, to see what they cost the server and the other subscribers. Not counted in
    /// the deliveries.
    pub stalled: usize,
    /// The Pub/Sub API (`https://127.0.0.1:7443`), for [`Transport::PubSub`].
    pub pubsub_url: Option<String>,
    /// A PEM certificate to trust for it (Bayou's generated one).
    #[serde(skip)]
    pub pubsub_ca: Option<Vec<u8>>,
}

/// Durations as seconds in the JSON results.
pub(crate) mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl BenchConfig {
    /// A small run on one channel: 10 subscribers, 1 publisher at 100 messages/s.
    pub fn new(url: impl Into<String>, transport: Transport) -> Self {
        Self {
            url: url.into(),
            transport,
            token: None,
            subscribers: 10,
            publishers: 1,
            rate: Some(100.0),
            batch: 1,
            message_bytes: 200,
            layout: Layout::single("/bench/fanout"),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            drain: Duration::from_secs(5),
            server_pid: None,
            setup_concurrency: 64,
            max_in_flight: 1_000,
            scenario: "fanout".to_owned(),
            stalled: 0,
            pubsub_url: None,
            pubsub_ca: None,
        }
    }

    /// The 50-client scenario: 50 subscribers on one channel, one publisher sending 100
    /// messages/s of 200 bytes (5,000 deliveries/s), the shape of a small live dashboard.
    pub fn fifty_clients(url: impl Into<String>, transport: Transport) -> Self {
        Self {
            subscribers: 50,
            publishers: 1,
            rate: Some(100.0),
            layout: Layout::single("/bench/fifty"),
            scenario: "50-clients".to_owned(),
            ..Self::new(url, transport)
        }
    }

    /// CometD's chat benchmark (`benchmarking.adoc`): 100 rooms, 10 rooms per client, 50-byte
    /// messages in batches of 10, 1,000 messages/s offered (its 1,000 batches × 10 every 10 ms).
    pub fn chat(url: impl Into<String>, transport: Transport, clients: usize) -> Self {
        Self {
            subscribers: clients,
            publishers: 10,
            rate: Some(1_000.0),
            batch: 10,
            message_bytes: 50,
            layout: Layout {
                prefix: "/chat/room".to_owned(),
                rooms: 100,
                rooms_per_client: 10,
            },
            scenario: "chat".to_owned(),
            ..Self::new(url, transport)
        }
    }

    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::Config(m.to_owned()));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad("the URL must start with http:// or https://");
        }
        if self.subscribers == 0 || self.publishers == 0 {
            return bad("at least one subscriber and one publisher");
        }
        if self.layout.rooms == 0 || self.layout.rooms_per_client == 0 {
            return bad("at least one room, and at least one room per client");
        }
        if self.batch == 0 || self.max_in_flight < self.batch {
            return bad("a batch holds at least one message, and max_in_flight ≥ batch");
        }
        if matches!(self.rate, Some(r) if !(r > 0.0 && r.is_finite())) {
            return bad("the rate must be a positive number of messages per second");
        }
        if self.duration.is_zero() {
            return bad("the duration must be positive");
        }
        for room in [0, self.layout.rooms - 1] {
            let name = self.layout.channel(room);
            bayou_protocol::ChannelName::parse(&name)
                .map_err(|e| BenchError::Config(format!("channel {name:?}: {e}")))?;
        }
        if self.layout.prefix.starts_with("/meta") || self.layout.prefix.starts_with("/service") {
            return bad("publish to a broadcast channel, not /meta or /service");
        }
        Ok(())
    }

    pub fn ws_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_rooms_are_evenly_filled() {
        let c = BenchConfig::chat("http://127.0.0.1:1/cometd", Transport::LongPolling, 1_000);
        let members = c.layout.members(c.subscribers);
        assert_eq!(members.len(), 100);
        assert!(members.iter().all(|&m| m == 100), "{members:?}");
        assert_eq!(c.layout.rooms_of(3), (30..40).collect::<Vec<_>>());
        c.validate().unwrap();
    }

    #[test]
    fn refuses_meaningless_settings() {
        let mut c = BenchConfig::new("127.0.0.1:8080", Transport::WebSocket);
        assert!(c.validate().is_err());
        c.url = "http://127.0.0.1:8080/cometd/66.0".into();
        c.validate().unwrap();
        assert_eq!(c.ws_url(), "ws://127.0.0.1:8080/cometd/66.0");
        c.layout = Layout::single("/meta");
        assert!(c.validate().is_err());
        c.layout = Layout::single("/bench/x");
        c.rate = Some(0.0);
        assert!(c.validate().is_err());
    }
}
