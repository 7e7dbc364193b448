//! Command-line arguments. Every `serve` setting can also come from a `BAYOU_*` environment
//! variable or the TOML file given by `--config`; a flag wins over the environment, which wins
//! over the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "bayou",
    version,
    about = "The Salesforce Streaming API, self-hosted"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (a working dev setup with no arguments).
    Serve(Box<ServeArgs>),
    /// Inject faults into a running Bayou through its admin API (needs --admin-token there).
    Admin(AdminArgs),
    /// Print the events of channels as JSON lines (resumable with --replay-store).
    Subscribe(Box<crate::cmd::subscribe::SubscribeArgs>),
    /// Publish one event over Bayeux.
    Publish(Box<crate::cmd::publish::PublishArgs>),
    /// Create, update or delete a record over REST.
    Record(Box<crate::cmd::rest::RecordArgs>),
    /// Publish a platform event over REST.
    Event(Box<crate::cmd::rest::EventArgs>),
    /// Push to a generic streaming channel over REST.
    Push(Box<crate::cmd::rest::PushArgs>),
    /// Load any Bayeux server (Bayou, faye, CometD) and measure latency, throughput and loss.
    Bench(Box<crate::cmd::bench::BenchArgs>),
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the Bayou server.
    #[arg(long, env = "BAYOU_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// The server's admin token.
    #[arg(long, env = "BAYOU_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,

    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// List the live sessions.
    Sessions,
    /// Forget a session (or all): its next request gets 403::Unknown client.
    ExpireSession {
        /// The session's clientId.
        #[arg(required_unless_present = "all")]
        client_id: Option<String>,
        /// Every session.
        #[arg(long)]
        all: bool,
    },
    /// Revoke every token of a user: 401::Authentication invalid, advice none.
    InvalidateTokens { username: String },
    /// Answer every held connect now and close every WebSocket.
    DropConnections,
    /// Deliver events this many milliseconds late (0 turns it off).
    DelayDeliveries { ms: u64 },
    /// Remove events up to this replay id, as retention would.
    ExpireLog { replay_id: u64 },
    /// Select an object for Change Data Capture (or, with --disable, deselect it).
    Cdc {
        /// The object, e.g. Account or Invoice__c.
        entity: String,
        #[arg(long)]
        disable: bool,
    },
    /// Show what the org's allocations stand at.
    Allocations,
    /// End a session (or all) from the server's side, as Hyperforce autoscaling does: a bare
    /// /meta/disconnect (API 64.0 and later), then 403::Unknown client, advice handshake.
    ServerDisconnect {
        /// The session's clientId.
        #[arg(required_unless_present = "all")]
        client_id: Option<String>,
        /// Every session.
        #[arg(long)]
        all: bool,
    },
    /// Refuse the next COUNT handshakes with the concurrent-client limit.
    RefuseHandshakes { count: u64 },
    /// Reach a daily delivery allocation now (see `bayou admin allocations` for the names).
    UseUpAllocation { allocation: String },
    /// Send a Change Data Capture gap or overflow event for an entity selected for CDC.
    CdcGap {
        /// The entity, e.g. Account.
        entity: String,
        /// GAP_CREATE, GAP_UPDATE, GAP_DELETE, GAP_UNDELETE or GAP_OVERFLOW.
        change_type: String,
        /// The records the gap is about (not for GAP_OVERFLOW).
        record_ids: Vec<String>,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Durability of acknowledged publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Sync,
    Relaxed,
}

/// An allocation profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocations {
    Unlimited,
    Salesforce,
}

/// A transport name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    LongPolling,
    Websocket,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with settings (flags and BAYOU_* variables override it).
    #[arg(long, env = "BAYOU_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BAYOU_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Directory for durable data [default: ./bayou-data].
    #[arg(long, env = "BAYOU_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// How long a /meta/connect is held, in milliseconds (advice timeout) [default: 110000].
    #[arg(long, env = "BAYOU_TIMEOUT")]
    pub timeout: Option<u64>,

    /// Advised pause between connects, in milliseconds (advice interval) [default: 0].
    #[arg(long, env = "BAYOU_INTERVAL")]
    pub interval: Option<u64>,

    /// A session with no connect for this many milliseconds is removed [default: 40000].
    #[arg(long, env = "BAYOU_MAX_INTERVAL")]
    pub max_interval: Option<u64>,

    /// Messages a session may have queued before it is closed [default: 100000].
    #[arg(long, env = "BAYOU_MAX_QUEUE")]
    pub max_queue: Option<usize>,

    /// Bytes of messages a session may have queued before it is closed [default: 16777216].
    #[arg(long, env = "BAYOU_MAX_QUEUE_BYTES")]
    pub max_queue_bytes: Option<usize>,

    /// Longest a write to a WebSocket may take, in milliseconds, before the socket and its
    /// session are closed (the client is not reading) [default: 30000].
    #[arg(long, env = "BAYOU_WRITE_TIMEOUT")]
    pub write_timeout: Option<u64>,

    /// Most streaming sessions one user may hold at once [default: 2000; 0: no limit].
    #[arg(long, env = "BAYOU_MAX_SESSIONS_PER_USER")]
    pub max_sessions_per_user: Option<usize>,

    /// Most streaming sessions one client address may hold at once [default: no limit].
    #[arg(long, env = "BAYOU_MAX_SESSIONS_PER_ADDRESS")]
    pub max_sessions_per_address: Option<usize>,

    /// Most subscriptions one session may hold [default: 1000].
    #[arg(long, env = "BAYOU_MAX_SUBSCRIPTIONS_PER_SESSION")]
    pub max_subscriptions_per_session: Option<usize>,

    /// Origins whose pages may open WebSockets besides the server's own, comma-separated
    /// (e.g. `https://app.example.com`; `*` for any) [default: none].
    #[arg(long, env = "BAYOU_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,

    /// Longest a client may take to send a request's headers, in milliseconds, before its
    /// connection is closed [default: 30000].
    #[arg(long, env = "BAYOU_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,

    /// The kernel's send buffer for each connection, in bytes: a client that stops reading is
    /// found out after about this much [default: 262144; 0: the kernel's own sizing].
    #[arg(long, env = "BAYOU_SOCKET_SEND_BUFFER")]
    pub socket_send_buffer: Option<usize>,

    /// The oldest Streaming API version `/cometd/{version}` accepts, down to 23.0 to emulate an
    /// org before versions 23.0-36.0 were retired (with their behaviour: no replay below 37.0,
    /// no deleted/undeleted notifications below 29.0) [default: 37.0].
    #[arg(long, env = "BAYOU_MIN_API_VERSION")]
    pub min_api_version: Option<f64>,

    /// Failed logins after which a username is locked out [default: 10].
    #[arg(long, env = "BAYOU_MAX_LOGIN_FAILURES")]
    pub max_login_failures: Option<u32>,

    /// How long a login lockout lasts, in seconds [default: 900].
    #[arg(long, env = "BAYOU_LOGIN_LOCKOUT")]
    pub login_lockout: Option<u64>,

    /// Largest request body or WebSocket message, in bytes [default: 32768].
    #[arg(long, env = "BAYOU_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Most messages in one request [default: 500].
    #[arg(long, env = "BAYOU_MAX_BATCH_MESSAGES")]
    pub max_batch_messages: Option<usize>,

    /// Most queued messages in one connect reply or WebSocket frame [default: 1000].
    #[arg(long, env = "BAYOU_MAX_MESSAGES_PER_REPLY")]
    pub max_messages_per_reply: Option<usize>,

    /// Longest wait, in milliseconds, before delivering events that arrive right after a
    /// busy delivery round, so that they share each subscriber's next write [default: 10;
    /// 0: deliver every round at once].
    #[arg(long, env = "BAYOU_MAX_COALESCE")]
    pub max_coalesce: Option<u64>,

    /// Transports to offer, comma-separated [default: websocket,long-polling].
    /// `long-polling` alone is Salesforce's behaviour: WebSocket upgrades get HTTP 405.
    #[arg(long, env = "BAYOU_TRANSPORTS", value_delimiter = ',')]
    pub transports: Option<Vec<Transport>>,

    /// When a publish is acknowledged: `sync` after fdatasync (survives power loss), `relaxed`
    /// once written to the OS (survives a crash of Bayou only) [default: sync].
    #[arg(long, env = "BAYOU_DURABILITY")]
    pub durability: Option<Durability>,

    /// Retention rule `PATTERN=AGE[:MAX_BYTES]`, e.g. `/chat/**=48h` or `/logs/*=7d:1000000000`;
    /// repeatable (comma-separated in BAYOU_RETENTION), tried in order before the defaults
    /// (24h for /topic/** and /u/**, 72h for /event/** and /data/**, 24h for the rest).
    #[arg(long, env = "BAYOU_RETENTION", value_delimiter = ',')]
    pub retention: Option<Vec<String>>,

    /// How often expired events are removed, e.g. `60s` [default: 60s].
    #[arg(long, env = "BAYOU_RETENTION_INTERVAL")]
    pub retention_interval: Option<String>,

    /// Admit streaming clients that bring no token (a plain Bayeux server). Without it, every
    /// handshake needs an access token, as on Salesforce.
    #[arg(long, env = "BAYOU_ANONYMOUS")]
    pub anonymous: bool,

    /// An unused access token expires after this long, e.g. `2h` [default: 2h].
    #[arg(long, env = "BAYOU_SESSION_TIMEOUT")]
    pub session_timeout: Option<String>,

    /// The base URL clients are told to use (`instance_url`), e.g. `https://bayou.example.com`
    /// [default: http://<Host header>].
    #[arg(long, env = "BAYOU_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Bayeux publish rule `PATTERN=allow|deny`, e.g. `/u/**=allow` or `/chat/**=deny`;
    /// repeatable (comma-separated in BAYOU_BAYEUX_PUBLISH), tried in order before the default
    /// (Salesforce's namespaces /topic, /u, /event, /data refused, everything else allowed).
    #[arg(long, env = "BAYOU_BAYEUX_PUBLISH", value_delimiter = ',')]
    pub bayeux_publish: Option<Vec<String>>,

    /// Allocations: `unlimited` (default) or `salesforce` (a Developer Edition org's limits:
    /// 20 concurrent clients, 40 PushTopics, 200 streaming channels, 10,000 deliveries a day
    /// each for PushTopic, generic and platform/change events). The --max-* flags override.
    #[arg(long, env = "BAYOU_ALLOCATIONS")]
    pub allocations: Option<Allocations>,

    /// Most streaming clients (sessions) at once.
    #[arg(long, env = "BAYOU_MAX_CLIENTS")]
    pub max_clients: Option<usize>,

    /// Most PushTopics in the org.
    #[arg(long, env = "BAYOU_MAX_PUSH_TOPICS")]
    pub max_push_topics: Option<usize>,

    /// Most StreamingChannels (generic streaming channels) in the org.
    #[arg(long, env = "BAYOU_MAX_STREAMING_CHANNELS")]
    pub max_streaming_channels: Option<usize>,

    /// PushTopic events delivered per rolling 24 hours (counted per subscriber).
    #[arg(long, env = "BAYOU_MAX_DAILY_TOPIC_EVENTS")]
    pub max_daily_topic_events: Option<u64>,

    /// Generic streaming (/u/) events delivered per rolling 24 hours.
    #[arg(long, env = "BAYOU_MAX_DAILY_GENERIC_EVENTS")]
    pub max_daily_generic_events: Option<u64>,

    /// Platform and change events (/event/, /data/) delivered per rolling 24 hours.
    #[arg(long, env = "BAYOU_MAX_DAILY_PLATFORM_EVENTS")]
    pub max_daily_platform_events: Option<u64>,

    /// Create a /u/ StreamingChannel when a client subscribes to one that does not exist
    /// (Salesforce's "Enable Dynamic Streaming Channel Creation"; off by default, as there).
    #[arg(long, env = "BAYOU_DYNAMIC_CHANNELS")]
    pub dynamic_channels: bool,

    /// Objects whose changes publish Change Data Capture events, comma-separated
    /// (e.g. `Account,Invoice__c`); more can be selected through the admin API.
    #[arg(long, env = "BAYOU_CDC_ENTITIES", value_delimiter = ',')]
    pub cdc_entities: Option<Vec<String>>,

    /// Token for the admin API (fault injection); the API is off without one.
    #[arg(long, env = "BAYOU_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Token `/metrics` requires (`Authorization: Bearer <token>`); open without one.
    #[arg(long, env = "BAYOU_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Username of the org's user (overrides the one created at first start).
    #[arg(long, env = "BAYOU_USERNAME")]
    pub username: Option<String>,

    /// Password of the org's user.
    #[arg(long, env = "BAYOU_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Client id of the org's connected app.
    #[arg(long, env = "BAYOU_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Client secret of the org's connected app.
    #[arg(long, env = "BAYOU_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// Run as a node of a cluster on NATS JetStream: NATS server URLs, comma-separated
    /// (`nats://127.0.0.1:4222,nats://127.0.0.1:4223`). Without it, everything is kept in the
    /// data directory. See docs/cluster.md.
    #[arg(
        long,
        env = "BAYOU_CLUSTER",
        value_delimiter = ',',
        help_heading = "Cluster"
    )]
    pub cluster: Option<Vec<String>>,

    /// NATS credentials file (JWT and NKey seed, as `nsc` writes it).
    #[arg(long, env = "BAYOU_CLUSTER_CREDENTIALS", help_heading = "Cluster")]
    pub cluster_credentials: Option<PathBuf>,

    /// NATS authentication token.
    #[arg(
        long,
        env = "BAYOU_CLUSTER_TOKEN",
        hide_env_values = true,
        help_heading = "Cluster"
    )]
    pub cluster_token: Option<String>,

    /// PEM file of the CA certificates NATS's TLS certificate is checked against.
    #[arg(long, env = "BAYOU_CLUSTER_TLS_CA", help_heading = "Cluster")]
    pub cluster_tls_ca: Option<PathBuf>,

    /// Refuse to talk to NATS without TLS.
    #[arg(long, env = "BAYOU_CLUSTER_TLS", help_heading = "Cluster")]
    pub cluster_tls: bool,

    /// Copies JetStream keeps of Bayou's streams and buckets [default: 3 when the NATS
    /// cluster has at least 3 servers, else 1].
    #[arg(long, env = "BAYOU_CLUSTER_REPLICAS", help_heading = "Cluster")]
    pub cluster_replicas: Option<usize>,

    /// Prefix of Bayou's streams, buckets and subjects, so several orgs can share one NATS
    /// [default: bayou].
    #[arg(long, env = "BAYOU_CLUSTER_PREFIX", help_heading = "Cluster")]
    pub cluster_prefix: Option<String>,

    /// This node's name in the cluster [default: <host name>-<process id>].
    #[arg(long, env = "BAYOU_NODE_ID", help_heading = "Cluster")]
    pub node_id: Option<String>,

    /// Address of the Pub/Sub API (gRPC), or `off` [default: the --listen host, port 7443;
    /// an ephemeral port when --listen's port is 0].
    #[arg(long, env = "BAYOU_PUBSUB_LISTEN", help_heading = "Pub/Sub API")]
    pub pubsub_listen: Option<String>,

    /// Serve the Pub/Sub API without TLS (plaintext HTTP/2), for clients that have a
    /// plaintext switch.
    #[arg(long, env = "BAYOU_PUBSUB_PLAINTEXT", help_heading = "Pub/Sub API")]
    pub pubsub_plaintext: bool,

    /// PEM certificate (chain) of the Pub/Sub API [default: a self-signed one generated into
    /// the data directory].
    #[arg(long, env = "BAYOU_TLS_CERT", help_heading = "Pub/Sub API")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BAYOU_TLS_KEY", help_heading = "Pub/Sub API")]
    pub tls_key: Option<PathBuf>,

    /// Longest a subscription owed events goes without a response before an empty keepalive
    /// one (e.g. 270s, Salesforce's) [default: 270s].
    #[arg(long, env = "BAYOU_PUBSUB_KEEPALIVE", help_heading = "Pub/Sub API")]
    pub pubsub_keepalive: Option<String>,

    /// A subscription that requests no events for this long is closed [default: 60s].
    #[arg(long, env = "BAYOU_PUBSUB_IDLE_TIMEOUT", help_heading = "Pub/Sub API")]
    pub pubsub_idle_timeout: Option<String>,

    /// Log format [default: text].
    #[arg(long, env = "BAYOU_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log filter, in tracing's EnvFilter syntax [default: info].
    #[arg(long, env = "BAYOU_LOG")]
    pub log: Option<String>,
}
