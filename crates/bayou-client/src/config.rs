//! The client's settings, and the builder that produces them.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::AuthProvider;
use crate::client::Client;
use crate::error::ClientError;
use crate::extension::Extension;
use crate::replay::{ExpiredReplay, MemoryReplayStore, ReplayFrom, ReplayStore};
use crate::transport::TransportKind;

/// The API version used when none is given.
pub const DEFAULT_API_VERSION: &str = bayou_protocol::errors::CURRENT_API_VERSION;

pub(crate) struct Config {
    pub bayeux_url: Option<String>,
    pub instance_url: Option<String>,
    /// Several nodes of one Bayou cluster (instance URLs): the client uses the first and moves
    /// to the next when a connection fails. Empty: `instance_url` / `bayeux_url` alone.
    pub servers: Vec<String>,
    pub api_version: String,
    pub auth: Option<Arc<dyn AuthProvider>>,
    pub transport: TransportKind,
    pub replay_store: Arc<dyn ReplayStore>,
    pub default_replay: ReplayFrom,
    pub expired_replay: ExpiredReplay,
    pub buffer: usize,
    pub extensions: Vec<Arc<dyn Extension>>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub stall_grace: Duration,
    pub request_timeout: Duration,
    pub slow_consumer_warning: Duration,
    pub http: reqwest::Client,
}

impl Config {
    /// The Bayeux endpoint: server number `server` (counted round the list) of
    /// [`servers`](Self::servers), else the explicit URL, else `<instance>/cometd/<version>`.
    pub fn endpoint(
        &self,
        instance_from_login: Option<&str>,
        server: usize,
    ) -> Result<String, ClientError> {
        let listed = (!self.servers.is_empty()).then(|| &self.servers[server % self.servers.len()]);
        if listed.is_none() {
            if let Some(url) = &self.bayeux_url {
                return Ok(url.clone());
            }
        }
        let instance = listed
            .map(String::as_str)
            .or(self.instance_url.as_deref())
            .or(instance_from_login)
            .ok_or_else(|| {
                ClientError::Config(
                    "no endpoint: give instance_url or bayeux_url, or an auth provider that \
                     returns an instance URL"
                        .into(),
                )
            })?;
        Ok(format!(
            "{}/cometd/{}",
            instance.trim_end_matches('/'),
            self.api_version
        ))
    }
}

/// Builds a [`Client`].
///
/// ```no_run
/// use std::time::Duration;
/// use bayou_client::{Client, ExpiredReplay, FileReplayStore, PasswordFlow, TransportKind};
///
/// # fn main() -> Result<(), bayou_client::ClientError> {
/// let client = Client::builder()
///     .auth(PasswordFlow::new(
///         "https://login.salesforce.com",
///         "3MVG9…", "secret", "me@example.com", "password+securitytoken",
///     ))
///     .api_version("66.0")
///     .transport(TransportKind::LongPolling)
///     .replay_store(FileReplayStore::open("replay.json")?)
///     .expired_replay(ExpiredReplay::ResumeEarliest)
///     .buffer(1_000)
///     .backoff(Duration::from_millis(500), Duration::from_secs(30))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    config: Config,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    pub fn new() -> Self {
        Self {
            config: Config {
                bayeux_url: None,
                instance_url: None,
                servers: Vec::new(),
                api_version: DEFAULT_API_VERSION.to_owned(),
                auth: None,
                transport: TransportKind::Auto,
                replay_store: Arc::new(MemoryReplayStore::new()),
                default_replay: ReplayFrom::New,
                expired_replay: ExpiredReplay::Fail,
                buffer: 1_024,
                extensions: Vec::new(),
                backoff_initial: Duration::from_millis(500),
                backoff_max: Duration::from_secs(30),
                stall_grace: Duration::from_secs(15),
                request_timeout: Duration::from_secs(30),
                slow_consumer_warning: Duration::from_secs(20),
                http: reqwest::Client::new(),
            },
        }
    }

    /// The org's (or Bayou's) base URL, e.g. `https://example.my.salesforce.com` or
    /// `http://127.0.0.1:8080`; the streaming endpoint is `<url>/cometd/<api_version>`. Without
    /// it the instance URL returned by the login is used.
    pub fn instance_url(mut self, url: impl Into<String>) -> Self {
        self.config.instance_url = Some(url.into());
        self
    }

    /// The nodes of a Bayou cluster (their base URLs, like [`instance_url`](Self::instance_url)):
    /// the client starts with the first and, when a connection to one fails, moves to the
    /// next, handshakes there and resumes every subscription from the last replay id it
    /// handed over — so a node that dies costs a reconnect, not events.
    pub fn servers<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.config.servers = urls.into_iter().map(Into::into).collect();
        self
    }

    /// The complete Bayeux URL, for servers that are not Salesforce-shaped (a faye server at
    /// `http://host:8000/faye`, a CometD server at `/cometd`).
    pub fn bayeux_url(mut self, url: impl Into<String>) -> Self {
        self.config.bayeux_url = Some(url.into());
        self
    }

    /// The API version in the endpoint path (default: the current one, `66.0`).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.config.api_version = version.into();
        self
    }

    /// How to log in; without one no `Authorization` header is sent (a plain Bayeux server).
    pub fn auth(mut self, provider: impl AuthProvider) -> Self {
        self.config.auth = Some(Arc::new(provider));
        self
    }

    /// An auth provider already shared with other parts of the application.
    pub fn auth_shared(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.config.auth = Some(provider);
        self
    }

    /// Long-polling, WebSocket, or `Auto` (the default: WebSocket, falling back to long-polling).
    pub fn transport(mut self, kind: TransportKind) -> Self {
        self.config.transport = kind;
        self
    }

    /// Where replay ids are kept (default: in memory).
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.config.replay_store = Arc::new(store);
        self
    }

    /// A replay store shared with the application.
    pub fn replay_store_shared(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.config.replay_store = store;
        self
    }

    /// Where a subscription with no stored replay id starts (default: new events only).
    pub fn default_replay(mut self, from: ReplayFrom) -> Self {
        self.config.default_replay = from;
        self
    }

    /// What to do when a stored replay id has expired on the server (default: fail).
    pub fn expired_replay(mut self, policy: ExpiredReplay) -> Self {
        self.config.expired_replay = policy;
        self
    }

    /// How many events may wait for the application (default 1,024). When the buffer is full
    /// the client stops reading from the server until the application catches up.
    pub fn buffer(mut self, events: usize) -> Self {
        self.config.buffer = events.max(1);
        self
    }

    /// Adds an extension; extensions run in the order added.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.config.extensions.push(Arc::new(extension));
        self
    }

    /// Retry delays after failures: `initial`, doubling up to `max`, with jitter.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max.max(initial);
        self
    }

    /// How long past the advised `timeout` a `/meta/connect` may stay unanswered before the
    /// client calls it a stall and reconnects (default 15 s).
    pub fn stall_grace(mut self, grace: Duration) -> Self {
        self.config.stall_grace = grace;
        self
    }

    /// How long to wait for a handshake, subscribe or publish reply (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// After how long with a full buffer a [`Notice::SlowConsumer`](crate::Notice) is sent
    /// (default 20 s, half of Salesforce's 40 s reconnect window).
    pub fn slow_consumer_warning(mut self, after: Duration) -> Self {
        self.config.slow_consumer_warning = after;
        self
    }

    /// The HTTP client to use (proxies, TLS settings).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.config.http = http;
        self
    }

    /// The settings alone, for unit tests of the event loop.
    #[cfg(test)]
    pub(crate) fn into_config(self) -> Config {
        self.config
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let config = self.config;
        if config.bayeux_url.is_none() && config.instance_url.is_none() && config.auth.is_none() {
            return Err(ClientError::Config(
                "no endpoint: give instance_url, bayeux_url or an auth provider".into(),
            ));
        }
        for url in [&config.bayeux_url, &config.instance_url]
            .into_iter()
            .flatten()
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ClientError::Config(format!(
                    "{url} is not an http:// or https:// URL"
                )));
            }
        }
        Ok(Client::from_config(config))
    }
}
