//! A client for Salesforce's Pub/Sub API (gRPC `eventbus.v1.PubSub`, Avro events), against a
//! real org (`api.pubsub.salesforce.com:7443`) or Bayou (`bayou serve`, port 7443).
//!
//! It logs in with any [`AuthProvider`](crate::AuthProvider) (the org id for the `tenantid`
//! header comes from the OpenID Connect `userinfo` of the login's instance unless given), sends
//! Salesforce's `accesstoken`/`instanceurl`/`tenantid` headers on every call, decodes events
//! into JSON with the schema `GetSchema` returns (cached by id; a change event's bitmap fields
//! become field names), keeps a subscription's credits topped up, and encodes what it
//! publishes with the topic's current schema.
//!
//! A subscription recovers as Bayou's Bayeux client does: when its stream fails with an error
//! worth retrying (`UNAVAILABLE`: a dropped connection, a restarting server or node), it
//! subscribes again after the last replay id it saw, with capped exponential backoff; when the
//! token is refused, it logs in again first. Errors that retrying cannot fix (an unknown topic,
//! a replay id no longer retained, the daily allocation used up) end it with the error, never
//! a silent gap. Each recovery is reported as a [`PubSubNotice`].
//!
//! ```no_run
//! use bayou_client::pubsub::{PubSubClient, Replay};
//! use bayou_client::PasswordFlow;
//!
//! # async fn run() -> Result<(), bayou_client::pubsub::PubSubError> {
//! let mut client = PubSubClient::builder("https://api.pubsub.salesforce.com:7443")
//!     .auth(PasswordFlow::new("https://login.salesforce.com", "3MVG9…", "secret", "me@example.com", "password"))
//!     .connect()
//!     .await?;
//! let mut events = client.subscribe("/event/Low_Ink__e", Replay::Latest).await?;
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     println!("{} {}", event.replay_id, event.payload);
//! }
//! # Ok(())
//! # }
//! ```

pub mod avro;
mod session;
mod subscription;

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use bayou_pubsub_proto::session::SessionClient;
use bayou_pubsub_proto::{ProducerEvent, PublishRequest, SchemaRequest, TopicRequest};
use parking_lot::Mutex;
use serde_json::{Map, Value};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::auth::AuthProvider;
use crate::error::AuthError;
use session::{NoticeHandler, Session};

pub use subscription::{PubSubEvent, PubSubSubscription, Replay};

/// What a client did to keep going, reported to [`PubSubBuilder::on_notice`].
#[derive(Debug, Clone, PartialEq)]
pub enum PubSubNotice {
    /// A subscription's stream failed and was opened again: after `after` (the last replay id
    /// it saw), or from where it first started when it had seen none. `gap_possible` is true
    /// when that start was LATEST: events published while it was down were then not read.
    Resubscribed {
        topic: String,
        after: Option<u64>,
        gap_possible: bool,
        reason: String,
    },
    /// The server refused the token; the client logged in again.
    Reauthenticated { reason: String },
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot reach the Pub/Sub API: {0}")]
    Connect(String),
    /// A call failed: its gRPC status, and Salesforce's `error-code` trailer when there is one.
    #[error("{code:?}: {message}{}", error_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        code: tonic::Code,
        error_code: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Avro(String),
    #[error("publish refused: {0}")]
    Publish(String),
}

impl From<tonic::Status> for PubSubError {
    fn from(status: tonic::Status) -> Self {
        PubSubError::Status {
            code: status.code(),
            error_code: status
                .metadata()
                .get("error-code")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            message: status.message().to_owned(),
        }
    }
}

pub(crate) type GrpcClient = SessionClient;

/// Schemas by id, shared by a client and its subscriptions.
pub(crate) type Schemas = Arc<Mutex<HashMap<String, Arc<Schema>>>>;

/// A connected Pub/Sub API client. Cloning it is cheap (one HTTP/2 connection is shared).
#[derive(Clone)]
pub struct PubSubClient {
    session: Arc<Session>,
    schemas: Schemas,
}

/// Settings for [`PubSubClient`].
pub struct PubSubBuilder {
    endpoint: String,
    auth: Option<Arc<dyn AuthProvider>>,
    ca_pem: Option<Vec<u8>>,
    instance_url: Option<String>,
    tenant_id: Option<String>,
    on_notice: Option<NoticeHandler>,
}

impl PubSubClient {
    /// A client of the API at `endpoint` (`https://host:port`, or `http://` for a plaintext
    /// server).
    pub fn builder(endpoint: impl Into<String>) -> PubSubBuilder {
        PubSubBuilder {
            endpoint: endpoint.into(),
            auth: None,
            ca_pem: None,
            instance_url: None,
            tenant_id: None,
            on_notice: None,
        }
    }

    /// The topic's current schema id, and whether it takes publishes.
    pub async fn topic(&mut self, name: &str) -> Result<(String, bool), PubSubError> {
        let topic = self
            .session
            .call(|mut grpc| async move {
                grpc.get_topic(TopicRequest {
                    topic_name: name.to_owned(),
                })
                .await
            })
            .await?;
        Ok((topic.schema_id, topic.can_publish))
    }

    /// The schema with id `id` (fetched once).
    pub async fn schema(&mut self, id: &str) -> Result<Arc<Schema>, PubSubError> {
        schema(&self.session, &self.schemas, id).await
    }

    /// Subscribes to `topic` from `replay`.
    pub async fn subscribe(
        &mut self,
        topic: &str,
        replay: Replay,
    ) -> Result<PubSubSubscription, PubSubError> {
        PubSubSubscription::open(
            Arc::clone(&self.session),
            Arc::clone(&self.schemas),
            topic,
            replay,
        )
        .await
    }

    /// Publishes one event with `fields` (its custom fields; `CreatedDate` and `CreatedById`
    /// are filled in) on `topic`; its replay id.
    pub async fn publish(
        &mut self,
        topic: &str,
        fields: &Map<String, Value>,
    ) -> Result<u64, PubSubError> {
        let (schema_id, _) = self.topic(topic).await?;
        let schema = self.schema(&schema_id).await?;
        let mut all = fields.clone();
        all.entry("CreatedDate")
            .or_insert_with(|| Value::from(bayou_protocol::time::now_millis()));
        all.entry("CreatedById").or_insert_with(|| Value::from(""));
        let payload = avro::encode(&schema, &all).map_err(PubSubError::Avro)?;
        let reply = self
            .session
            .call(|mut grpc| {
                let request = PublishRequest {
                    topic_name: topic.to_owned(),
                    events: vec![ProducerEvent {
                        id: String::new(),
                        schema_id: schema_id.clone(),
                        payload: payload.clone().into(),
                        headers: Vec::new(),
                    }],
                    auth_refresh: String::new(),
                };
                async move { grpc.publish(request).await }
            })
            .await?;
        let result = reply
            .results
            .into_iter()
            .next()
            .ok_or_else(|| PubSubError::Publish("no result".into()))?;
        if let Some(error) = result.error {
            return Err(PubSubError::Publish(error.msg));
        }
        subscription::replay_id(&result.replay_id)
            .ok_or_else(|| PubSubError::Publish("the replay id is not 8 bytes".into()))
    }
}

pub(crate) async fn schema(
    session: &Session,
    schemas: &Schemas,
    id: &str,
) -> Result<Arc<Schema>, PubSubError> {
    if let Some(known) = schemas.lock().get(id) {
        return Ok(Arc::clone(known));
    }
    let info = session
        .call(|mut grpc| async move {
            grpc.get_schema(SchemaRequest {
                schema_id: id.to_owned(),
            })
            .await
        })
        .await?;
    let parsed = Arc::new(
        Schema::parse_str(&info.schema_json).map_err(|e| PubSubError::Avro(e.to_string()))?,
    );
    schemas.lock().insert(id.to_owned(), Arc::clone(&parsed));
    Ok(parsed)
}

impl PubSubBuilder {
    /// How to log in.
    pub fn auth(mut self, auth: impl AuthProvider) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// How to log in, shared with other clients.
    pub fn auth_shared(mut self, auth: Arc<dyn AuthProvider>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Trust this certificate (PEM) instead of the public roots: Bayou's generated
    /// `pubsub-cert.pem`, or your own CA.
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The org's base URL, when the login does not say it (a static token).
    pub fn instance_url(mut self, url: impl Into<String>) -> Self {
        self.instance_url = Some(url.into());
        self
    }

    /// The org id for the `tenantid` header; asked of `userinfo` otherwise.
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// Called with each recovery (a resubscription, a new login), as it happens.
    pub fn on_notice(mut self, handler: impl Fn(&PubSubNotice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(Arc::new(handler));
        self
    }

    /// Logs in and opens the connection.
    pub async fn connect(self) -> Result<PubSubClient, PubSubError> {
        let auth = self
            .auth
            .ok_or_else(|| AuthError::Refused("the Pub/Sub API needs credentials".into()))?;
        let http = reqwest::Client::new();
        let credentials = auth.authenticate(&http, false).await?;
        let instance_url = credentials
            .instance_url
            .clone()
            .or(self.instance_url)
            .ok_or_else(|| AuthError::Refused("the login gave no instance URL".into()))?;
        let tenant = match self.tenant_id {
            Some(id) => id,
            None => org_id(&http, &instance_url, &credentials.access_token).await?,
        };
        let mut endpoint = Channel::from_shared(self.endpoint.clone())
            .map_err(|e| PubSubError::Connect(format!("{}: {e}", self.endpoint)))?;
        if self.endpoint.starts_with("https://") {
            let tls = match &self.ca_pem {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| PubSubError::Connect(e.to_string()))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| PubSubError::Connect(format!("{}: {e}", self.endpoint)))?;
        let session = Session::new(
            channel,
            auth,
            http,
            instance_url,
            tenant,
            &credentials.access_token,
            self.on_notice,
        )?;
        Ok(PubSubClient {
            session: Arc::new(session),
            schemas: Arc::default(),
        })
    }
}

/// The org id, from `GET {instance}/services/oauth2/userinfo`.
async fn org_id(
    http: &reqwest::Client,
    instance_url: &str,
    token: &str,
) -> Result<String, AuthError> {
    let url = format!(
        "{}/services/oauth2/userinfo",
        instance_url.trim_end_matches('/')
    );
    let reply = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
    if !reply.status().is_success() {
        return Err(AuthError::Refused(format!(
            "{url}: HTTP {}",
            reply.status()
        )));
    }
    let info: Value = reply
        .json()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
    info["organization_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| AuthError::Refused(format!("{url} gave no organization_id")))
}
