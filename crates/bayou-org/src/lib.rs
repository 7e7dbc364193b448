//! The emulated Salesforce org.
//!
//! Real Salesforce clients log in here instead of at `login.salesforce.com` and then stream
//! from Bayou unchanged. The org never delivers anything itself: it writes records and the
//! events they cause to the log (`bayou_log::RecordStore`), and the engine follows the log.
//!
//! Where things happen:
//!
//! - logging in: `auth/oauth.rs` (token endpoint, identity URL, revoke), `auth/soap.rs` (SOAP
//!   `login()`), `auth/userinfo.rs` (OpenID Connect); tokens are made in `tokens.rs` and kept in
//!   the storage layer's `TokenStore`; users and the connected app in `identity.rs`, shown as
//!   the read-only `User` and `Organization` sObjects by `records/identity_objects.rs`;
//! - who may stream what: `auth/streaming.rs`, the org's `SecurityPolicy` (live token,
//!   PushTopic and StreamingChannel exist, Salesforce namespaces closed to Bayeux publishes);
//! - REST: `rest/` — `sobjects.rs`, `composite.rs`, `query.rs` (SOQL, bounded work per step in
//!   `work_budget.rs`), `describe.rs`, `limits.rs`, `versions.rs`; errors shaped like
//!   Salesforce's in `rest/errors.rs`;
//! - a record change and the events it causes, written in one atomic batch:
//!   `records/write.rs`;
//! - a PushTopic evaluated against a change: `pushtopic/evaluate.rs`; its filtered
//!   subscriptions: `pushtopic/delivery_filter.rs`;
//! - generic streaming (`/u/` channels, the push resource): `streaming_channel/`;
//! - platform events: `events/`; Change Data Capture: `cdc/` (gap and overflow events on demand
//!   in `cdc/gap.rs`); what the changes of one REST request share: `transaction.rs`;
//! - fault injection and the admin API: `admin.rs`; the operator view's figures:
//!   `overview.rs`; record ids: `ids.rs`.

#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod cdc;
mod cluster;
pub mod events;
pub mod identity;
pub mod ids;
pub mod managed;
pub mod overview;
pub mod pushtopic;
pub mod records;
pub mod rest;
pub mod streaming_channel;
pub mod tokens;
pub mod transaction;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use bayou_log::{RecordStore, Storage};
use bayou_server::Engine;

use identity::{CredentialOverrides, Identity, NewCredentials};
use tokens::Tokens;

/// Errors setting up or running the org.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("{0}")]
    Internal(String),
}

/// Settings of the org.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    /// An access token unused for this long expires (Salesforce's default is 2 hours).
    pub session_timeout: Duration,
    /// Whether streaming clients without a token are admitted.
    pub allow_anonymous: bool,
    /// The base URL clients are told to use (`instance_url`, `serverUrl`); by default the
    /// `Host` of each request over http.
    pub public_url: Option<String>,
    /// Which channels Bayeux clients may publish to, tried in order before the defaults (the
    /// Salesforce namespaces `/topic`, `/u`, `/event`, `/data` refused, everything else allowed).
    pub publish_rules: Vec<PublishRule>,
    /// Platform event types from the configuration.
    pub platform_events: Vec<events::EventType>,
    /// Most PushTopics the org may have (Salesforce's allocation); `None`: no limit.
    pub max_push_topics: Option<usize>,
    /// Most StreamingChannels the org may have; `None`: no limit.
    pub max_streaming_channels: Option<usize>,
    /// Whether subscribing to a `/u/` channel that does not exist creates it.
    pub dynamic_channels: bool,
    /// Objects whose changes publish Change Data Capture events (more can be selected at run
    /// time through the admin API).
    pub cdc_entities: Vec<String>,
    /// Failed logins after which a username is locked out (Salesforce's default: 10).
    pub max_login_failures: u32,
    /// How long a lockout lasts (Salesforce's default: 15 minutes).
    pub login_lockout: Duration,
}

/// Whether Bayeux clients may publish on channels matching a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRule {
    pub pattern: bayou_protocol::ChannelName,
    pub allow: bool,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(2 * 3_600),
            allow_anonymous: false,
            public_url: None,
            publish_rules: Vec::new(),
            platform_events: Vec::new(),
            max_push_topics: None,
            max_streaming_channels: None,
            dynamic_channels: false,
            cdc_entities: Vec::new(),
            max_login_failures: 10,
            login_lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// The emulated org.
pub struct Org {
    identity: RwLock<Identity>,
    org_id: String,
    pub(crate) tokens: Tokens,
    /// Open query cursors (`nextRecordsUrl`).
    pub(crate) query_cursors: parking_lot::Mutex<rest::query_cursor::QueryCursors>,
    /// Password and secret checks, throttled.
    pub(crate) passwords: auth::passwords::PasswordChecks,
    pub(crate) config: OrgConfig,
    /// Records live in the event log's store, so changes and events commit together.
    pub(crate) store: Arc<dyn RecordStore>,
    /// The PushTopics (active or not), kept parsed.
    pub(crate) topics: RwLock<Vec<Arc<pushtopic::PushTopic>>>,
    /// Serialises record changes (read, modify, write with events).
    pub(crate) writes: tokio::sync::Mutex<()>,
    /// Field types, inferred from the values stored.
    pub(crate) schema: RwLock<records::schema::Schema>,
    /// Platform event types by lower-cased name.
    pub(crate) event_types: RwLock<std::collections::HashMap<String, events::EventType>>,
    /// Avro schemas of platform events, current and earlier, by schema id.
    pub(crate) event_schemas: events::avro::SchemaRegistry,
    /// The StreamingChannels (generic streaming).
    pub(crate) channels: RwLock<Vec<streaming_channel::StreamingChannel>>,
    /// Objects selected for Change Data Capture.
    pub(crate) cdc: RwLock<BTreeSet<String>>,
    /// The last `commitNumber` given to a change.
    commit_number: AtomicU64,
    /// How far other nodes' record writes have been read into the caches above (the
    /// `through` of the last [`bayou_log::RecordChanges`] reloaded; see `cluster.rs`).
    pub(crate) changes_read: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Org")
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

impl Org {
    /// Opens the org kept in `data_dir` and `storage`, creating a dev org on first start.
    /// Returns the plain-text credentials when it created them, to show once.
    pub async fn open(
        data_dir: &Path,
        overrides: &CredentialOverrides,
        config: OrgConfig,
        storage: &Storage,
    ) -> Result<(Arc<Self>, Option<NewCredentials>), OrgError> {
        let (identity, created) = Identity::load_or_create(data_dir, overrides)?;
        let store = Arc::clone(&storage.log);
        let (identity, created) = if store.record_changes().is_some() {
            cluster::shared_identity(store.as_ref(), identity, created, overrides).await?
        } else {
            (identity, created)
        };
        let org_id = identity.org_id.clone();
        let topics = load_topics(store.as_ref()).await?;
        let schema = load_schema(store.as_ref()).await?;
        let event_types = events::publish::load(store.as_ref(), &config.platform_events)
            .await
            .map_err(|e| OrgError::Internal(format!("platform events: {e}")))?
            .into_iter()
            .map(|t| (t.name.to_ascii_lowercase(), t))
            .collect();
        let channels = streaming_channel::load(store.as_ref())
            .await
            .map_err(|e| OrgError::Internal(format!("streaming channels: {e}")))?;
        let cdc = cdc::load(store.as_ref(), &config.cdc_entities)
            .await
            .map_err(OrgError::Internal)?;
        let org = Self {
            channels: RwLock::new(channels),
            cdc: RwLock::new(cdc),
            commit_number: AtomicU64::new(0),
            tokens: Tokens::new(&org_id, Arc::clone(&storage.tokens)),
            query_cursors: parking_lot::Mutex::new(Default::default()),
            passwords: auth::passwords::PasswordChecks::new(
                config.max_login_failures,
                config.login_lockout,
            ),
            identity: RwLock::new(identity),
            org_id,
            config,
            store,
            topics: RwLock::new(topics),
            writes: tokio::sync::Mutex::new(()),
            schema: RwLock::new(schema),
            event_types: RwLock::new(event_types),
            event_schemas: Default::default(),
            changes_read: tokio::sync::watch::Sender::new(0),
        };
        org.remember_current_schemas()
            .await
            .map_err(|e| OrgError::Internal(format!("platform event schemas: {e}")))?;
        let org = Arc::new(org);
        cluster::follow_changes(&org);
        Ok((org, created))
    }

    /// Reads again what another node's writes of `keys` made stale (everything when `None`).
    pub(crate) async fn reload(&self, keys: Option<&[Vec<u8>]>) -> Result<(), OrgError> {
        let stale = keys.map_or_else(cluster::Stale::all, cluster::Stale::of);
        let store = self.store.as_ref();
        let internal = |what: &str, e: String| OrgError::Internal(format!("{what}: {e}"));
        if stale.identity {
            if let Some(stored) = store
                .record(cluster::IDENTITY_KEY)
                .await
                .map_err(|e| internal("identity", e.to_string()))?
            {
                let identity: Identity = serde_json::from_slice(&stored)
                    .map_err(|e| internal("identity", e.to_string()))?;
                *self.identity.write() = identity;
            }
        }
        if stale.topics {
            *self.topics.write() = load_topics(store).await?;
        }
        if stale.event_types {
            let types = events::publish::load(store, &self.config.platform_events)
                .await
                .map_err(|e| internal("platform events", e))?;
            *self.event_types.write() = types
                .into_iter()
                .map(|t| (t.name.to_ascii_lowercase(), t))
                .collect();
            self.remember_current_schemas()
                .await
                .map_err(|e| internal("platform event schemas", e))?;
        }
        if stale.channels {
            *self.channels.write() = streaming_channel::load(store)
                .await
                .map_err(|e| internal("streaming channels", e))?;
        }
        if stale.cdc {
            *self.cdc.write() = cdc::load(store, &self.config.cdc_entities)
                .await
                .map_err(|e| internal("change data capture", e))?;
        }
        if keys.is_none() {
            *self.schema.write() = load_schema(store).await?;
        }
        for key in &stale.records {
            let Some(value) = store
                .record(key)
                .await
                .map_err(|e| internal("records", e.to_string()))?
            else {
                continue;
            };
            let key = String::from_utf8_lossy(key);
            if let (Some((object, _)), Ok(fields)) = (
                key.split_once('/'),
                serde_json::from_slice::<records::Fields>(&value),
            ) {
                self.schema.write().learn(object, &fields);
            }
        }
        Ok(())
    }

    /// The next `commitNumber`: increasing, microseconds since the epoch when the clock allows.
    pub(crate) fn next_commit_number(&self) -> u64 {
        let now = u64::try_from(bayou_protocol::time::now_millis()).unwrap_or(0) * 1_000;
        let previous = self
            .commit_number
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or_default();
        now.max(previous + 1)
    }

    pub(crate) fn topics(&self) -> Vec<Arc<pushtopic::PushTopic>> {
        self.topics.read().clone()
    }

    /// The org's settings.
    pub fn config(&self) -> &OrgConfig {
        &self.config
    }

    /// The user of a live access token (using it extends its session), for the org's other
    /// endpoints (the Pub/Sub API).
    pub fn user_of_token(&self, token: &str) -> Option<String> {
        self.tokens.validate_access(token)
    }

    /// [`Self::user_of_token`], asked again once this node has caught up with the other nodes
    /// of its cluster when it does not know the token: one issued through another node a
    /// moment ago is let in, not refused.
    pub async fn user_of_token_settled(&self, token: &str) -> Option<String> {
        if let Some(user) = self.tokens.validate_access(token) {
            return Some(user);
        }
        self.settle_tokens().await;
        self.tokens.validate_access(token)
    }

    /// The 18-character organization id.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    pub(crate) fn identity(&self) -> RwLockReadGuard<'_, Identity> {
        self.identity.read()
    }

    /// Revokes every token of the user `username` (fault injection: "invalidate a user's
    /// tokens"). Returns how many were revoked.
    pub async fn revoke_user_tokens(&self, username: &str) -> Result<usize, OrgError> {
        let user_id = self.identity().user_by_name(username).map(|u| u.id.clone());
        match user_id {
            None => Ok(0),
            Some(id) => self
                .tokens
                .revoke_user(&id)
                .await
                .map_err(|e| OrgError::Internal(format!("cannot revoke tokens: {e}"))),
        }
    }

    /// The client id of the org's first connected app: what the dashboard logs in with
    /// (the password flow needs no secret). A client id is public in OAuth.
    pub fn default_client_id(&self) -> Option<String> {
        self.identity().apps.first().map(|a| a.client_id.clone())
    }

    /// The base URL to give clients.
    pub(crate) fn instance_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|host| is_authority(host))
            .unwrap_or("127.0.0.1:8080");
        format!("http://{host}")
    }

    /// The login and REST routes. A few REST replies report on streaming (who is online on a
    /// generic streaming channel, concurrent clients in `limits`): they read it from `engine`,
    /// which the org itself never holds — the org only writes to the log the engine follows.
    pub fn router(self: &Arc<Self>, engine: &Arc<Engine>) -> Router {
        Router::new()
            .route("/services/oauth2/token", post(auth::oauth::token))
            .route(
                "/services/oauth2/revoke",
                post(auth::oauth::revoke).get(auth::oauth::revoke),
            )
            .route("/id/{org}/{user}", get(auth::oauth::identity_url))
            .route(
                "/services/oauth2/userinfo",
                get(auth::userinfo::userinfo).post(auth::userinfo::userinfo),
            )
            .route("/services/Soap/u/{*rest}", post(auth::soap::login))
            .merge(rest::router())
            .with_state(HttpState {
                org: Arc::clone(self),
                engine: Arc::clone(engine),
            })
    }
}

/// What the org's HTTP handlers are given. Most take only the org (`State<Arc<Org>>`).
#[derive(Clone)]
pub(crate) struct HttpState {
    org: Arc<Org>,
    engine: Arc<Engine>,
}

impl FromRef<HttpState> for Arc<Org> {
    fn from_ref(state: &HttpState) -> Self {
        Arc::clone(&state.org)
    }
}

impl FromRef<HttpState> for Arc<Engine> {
    fn from_ref(state: &HttpState) -> Self {
        Arc::clone(&state.engine)
    }
}

/// Field types learnt from every stored record.
async fn load_schema(store: &dyn RecordStore) -> Result<records::schema::Schema, OrgError> {
    let mut schema = records::schema::Schema::new();
    let stored = store
        .records(b"")
        .await
        .map_err(|e| OrgError::Internal(format!("cannot read records: {e}")))?;
    for (key, value) in stored {
        let key = String::from_utf8_lossy(&key);
        let Some((object, _)) = key.split_once('/') else {
            continue;
        };
        if [
            "EventType",
            "EventSchema",
            "CdcEntity",
            "ManagedEventSubscription",
        ]
        .contains(&object)
        {
            // Platform event types, their schemas, CDC selections, managed subscriptions.
            continue;
        }
        if let Ok(fields) = serde_json::from_slice::<records::Fields>(&value) {
            schema.learn(object, &fields);
        }
    }
    Ok(schema)
}

/// The stored PushTopics, parsed (a stored topic that no longer parses is skipped, with a
/// warning).
async fn load_topics(store: &dyn RecordStore) -> Result<Vec<Arc<pushtopic::PushTopic>>, OrgError> {
    let stored = store
        .records(b"PushTopic/")
        .await
        .map_err(|e| OrgError::Internal(format!("cannot read PushTopics: {e}")))?;
    let mut topics = Vec::new();
    for (key, value) in stored {
        let Ok(fields) = serde_json::from_slice::<records::Fields>(&value) else {
            tracing::warn!(key = %String::from_utf8_lossy(&key), "unreadable PushTopic record skipped");
            continue;
        };
        if records::field(&fields, "IsDeleted") == Some(&serde_json::Value::Bool(true)) {
            continue;
        }
        let id = records::field(&fields, "Id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        match pushtopic::PushTopic::from_record(&id, &fields) {
            Ok(topic) => topics.push(Arc::new(topic)),
            Err(e) => tracing::warn!(id, error = %e.message, "stored PushTopic skipped"),
        }
    }
    Ok(topics)
}

/// Whether a `Host` header is a plain `host[:port]` (a name, an IPv4 address or a bracketed IPv6
/// address): it is echoed into `instance_url`, the identity URL and SOAP's `serverUrl`, so
/// anything else (quotes, markup, paths, credentials) is not used.
fn is_authority(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    };
    port_ok && name_ok
}

/// The token of an `Authorization: Bearer|OAuth <token>` header (or a bare token).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let credentials = bayou_server::Credentials {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        remote_addr: None,
    };
    credentials.token().map(str::to_owned)
}

/// The client's IP address, when the server was started with connection info (as `bayou serve`
/// is); `None` otherwise.
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let connect = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Self(connect.map(|info| info.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::is_authority;

    #[test]
    fn only_plain_authorities_are_echoed() {
        for host in [
            "127.0.0.1:8080",
            "localhost",
            "bayou.example.com:443",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_authority(host), "{host}");
        }
        for host in [
            "",
            "evil.com/path",
            "a\"><script>",
            "user@host",
            "host:80:80",
            "host:",
            "host:123456",
            "[not-v6]:80",
            "::1",
        ] {
            assert!(!is_authority(host), "{host}");
        }
    }
}
