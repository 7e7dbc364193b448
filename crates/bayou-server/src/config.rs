//! Engine settings, named as CometD names them (`timeout`, `interval`, `maxInterval`,
//! `maxQueue`) so that users who know CometD know what they do.

use std::time::Duration;

/// Which transports the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    LongPolling,
    WebSocket,
}

impl TransportKind {
    /// The name used in `supportedConnectionTypes` and `connectionType`.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::LongPolling => bayou_protocol::connection_type::LONG_POLLING,
            TransportKind::WebSocket => bayou_protocol::connection_type::WEBSOCKET,
        }
    }

    /// Reads a connection type name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            bayou_protocol::connection_type::LONG_POLLING => Some(TransportKind::LongPolling),
            bayou_protocol::connection_type::WEBSOCKET => Some(TransportKind::WebSocket),
            _ => None,
        }
    }
}

/// Everything the engine and the transports need to know.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a `/meta/connect` is held when nothing is queued (advice `timeout`).
    pub timeout: Duration,
    /// How long a client should wait between a connect reply and its next connect (advice
    /// `interval`).
    pub interval: Duration,
    /// A session that has sent no connect for this long is removed (`maxInterval`).
    pub max_interval: Duration,
    /// How many messages may wait in one session's queue; past this the session is closed and
    /// the client must handshake again (`maxQueue`).
    pub max_queue: usize,
    /// How many bytes of messages may wait in one session's queue; past this the session is
    /// closed like past `max_queue`.
    pub max_queue_bytes: usize,
    /// The longest a write to a WebSocket may take; a client that does not read for this long
    /// has its socket and session closed (it handshakes again and resumes by replay).
    pub write_timeout: Duration,
    /// How many queued messages one connect reply (or one WebSocket frame) carries at most.
    pub max_messages_per_reply: usize,
    /// The largest request body (or WebSocket message) accepted, in bytes.
    pub max_request_bytes: usize,
    /// How many messages one request may carry.
    pub max_batch_messages: usize,
    /// Transports offered, in order of preference.
    pub transports: Vec<TransportKind>,
    /// Whether the server is reached over https (decides the cookie's `Secure` flag).
    pub secure_cookies: bool,
    /// Most sessions at once (Salesforce's "concurrent clients" allocation); `None`: no limit.
    pub max_sessions: Option<usize>,
    /// Most sessions one user may hold at once; `None`: no limit.
    pub max_sessions_per_user: Option<usize>,
    /// Most sessions one client address may hold at once; `None`: no limit.
    pub max_sessions_per_address: Option<usize>,
    /// Most subscriptions one session may hold.
    pub max_subscriptions_per_session: usize,
    /// The longest a client may take to send a request's headers (or the first bytes of one)
    /// before its connection is closed: slow or silent sockets cannot pile up.
    pub header_read_timeout: Duration,
    /// The kernel's send buffer for each accepted socket, in bytes; zero: the kernel's own
    /// sizing (which grows to `tcp_wmem`'s maximum, 4 MiB on Linux). Bounded, a client that
    /// stops reading is found out — its writes stall — after that much instead of megabytes,
    /// and costs the kernel no more than that.
    pub socket_send_buffer: usize,
    /// Origins (`https://app.example.com`, or `*`) whose pages may open WebSockets besides the
    /// server's own; an upgrade from any other `Origin` gets HTTP 403.
    pub allowed_origins: Vec<String>,
    /// Daily delivery allocations by kind of channel; empty: no limit.
    pub delivery_allocations: Vec<crate::engine::DeliveryAllocation>,
    /// The longest the dispatcher waits, after a round that woke many sessions, before the
    /// next round, so that events arriving meanwhile share each session's next write (see
    /// `engine/dispatcher.rs`); zero: never wait.
    pub max_coalesce: Duration,
    /// The oldest API version `/cometd/{version}` accepts: 37.0 as Salesforce today, down to
    /// 23.0 to emulate an org before the older versions were retired (their behaviour in
    /// `bayou_protocol::api_version`).
    pub min_api_version: f64,
}

impl Default for EngineConfig {
    /// Salesforce's values: 110 s hold, 40 s session expiry, 32,768-byte requests.
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(110_000),
            interval: Duration::ZERO,
            max_interval: Duration::from_millis(40_000),
            max_queue: 100_000,
            max_queue_bytes: 16 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            max_messages_per_reply: 1_000,
            max_request_bytes: 32_768,
            max_batch_messages: 500,
            transports: vec![TransportKind::WebSocket, TransportKind::LongPolling],
            secure_cookies: false,
            max_sessions: None,
            // Salesforce's largest concurrent-client allocation (2,000 per org), for one user.
            max_sessions_per_user: Some(2_000),
            max_sessions_per_address: None,
            max_subscriptions_per_session: 1_000,
            allowed_origins: Vec::new(),
            header_read_timeout: Duration::from_secs(30),
            socket_send_buffer: 256 * 1024,
            delivery_allocations: Vec::new(),
            max_coalesce: Duration::from_millis(10),
            min_api_version: bayou_protocol::errors::MIN_API_VERSION,
        }
    }
}

impl EngineConfig {
    /// How long a connect is actually held: a little under `timeout`, so that a client whose
    /// own request timeout is exactly the advised `timeout` (aio_sf_streaming) still gets the
    /// reply in time.
    pub fn hold_duration(&self) -> Duration {
        let margin = (self.timeout / 20).min(Duration::from_secs(1));
        self.timeout - margin
    }

    /// Whether `kind` is offered.
    pub fn offers(&self, kind: TransportKind) -> bool {
        self.transports.contains(&kind)
    }
}
