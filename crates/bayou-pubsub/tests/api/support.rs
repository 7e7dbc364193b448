//! An org with a platform event type, its Bayeux server, and the Pub/Sub API beside it; a
//! client that sends Salesforce's metadata headers; Avro decoding with the schema `GetSchema`
//! returns (apache-avro reading what the server wrote, not the server's own decoder).

use std::net::SocketAddr;
use std::time::Duration;

use apache_avro::types::Value as Avro;
use bayou_org::OrgConfig;
use bayou_pubsub::proto::session::{self, SessionClient, SessionHeaders};
use bayou_pubsub::proto::{FetchRequest, FetchResponse, SchemaRequest};
use bayou_pubsub::{PubSubConfig, PubSubService};
use bayou_testkit::{AckGate, Bayou};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

pub const TOPIC: &str = "/event/Low_Ink__e";

pub type Client = SessionClient;

/// The headers Salesforce's clients send: `accesstoken`, `instanceurl`, `tenantid`.
pub fn headers(token: &str, tenant: &str) -> SessionHeaders {
    SessionHeaders::new(token, "https://localhost", tenant).unwrap()
}

/// An org and both APIs; the Pub/Sub API stops when this is dropped.
pub struct Api {
    pub bayou: Bayou,
    pub addr: SocketAddr,
    pub token: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts everything with `Low_Ink__e` defined, the Pub/Sub API in plaintext.
pub async fn start(config: PubSubConfig) -> Api {
    start_with(config, bayou_server::EngineConfig::default()).await
}

/// [`start`] with an engine configured (allocations, say).
pub async fn start_with(config: PubSubConfig, engine: bayou_server::EngineConfig) -> Api {
    let bayou = bayou_testkit::start_with(OrgConfig::default(), engine).await;
    serve_beside(bayou, config).await
}

/// [`start`] over a log that acknowledges event appends only through the gate returned.
pub async fn start_holding_acks(config: PubSubConfig) -> (Api, AckGate) {
    let acks = AckGate::new();
    let bayou = Bayou::start_holding_acks(
        OrgConfig::default(),
        bayou_server::EngineConfig::default(),
        acks.clone(),
    )
    .await;
    (serve_beside(bayou, config).await, acks)
}

/// Defines `Low_Ink__e` and serves the Pub/Sub API beside `bayou`.
async fn serve_beside(bayou: Bayou, config: PubSubConfig) -> Api {
    let (status, body) = bayou
        .admin_call(
            "platform-events",
            json!({"name": "Low_Ink__e", "fields": {"Printer_Model__c": "text", "Ink_Percentage__c": "number", "Urgent__c": "boolean"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = bayou.token().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = PubSubService::new(
        bayou.org().clone(),
        bayou.engine().clone(),
        bayou.positions().clone(),
        config,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, None, async move {
        let _ = stopped.await;
    }));
    Api {
        bayou,
        addr,
        token,
        _stop: stop,
    }
}

impl Api {
    pub fn org_id(&self) -> String {
        self.bayou.org().org_id().to_owned()
    }

    /// A client with the test user's token.
    pub async fn client(&self) -> Client {
        self.client_as(&self.token, &self.org_id()).await
    }

    /// A client sending `token` and `tenant`.
    pub async fn client_as(&self, token: &str, tenant: &str) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        session::client(channel, headers(token, tenant))
    }

    /// Publishes `{"Printer_Model__c": model}` over REST; the replay id from the CometD side is
    /// not in the REST reply, so this returns nothing but asserts the 201.
    pub async fn publish_rest(&self, model: &str) {
        let (status, body) = self
            .bayou
            .rest(
                &self.token,
                reqwest::Method::POST,
                "sobjects/Low_Ink__e",
                Some(json!({"Printer_Model__c": model, "Ink_Percentage__c": 0.5})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// An open subscription: requests go in through `requests`, responses come out of `responses`.
pub struct Subscription {
    pub requests: mpsc::Sender<FetchRequest>,
    pub responses: Streaming<FetchResponse>,
}

impl Subscription {
    pub async fn open(client: &mut Client, first: FetchRequest) -> Result<Self, Status> {
        let (requests, outbound) = mpsc::channel(16);
        requests.send(first).await.unwrap();
        let responses = client
            .subscribe(ReceiverStream::new(outbound))
            .await?
            .into_inner();
        Ok(Self {
            requests,
            responses,
        })
    }

    /// The next response (fails the test after 10 s).
    pub async fn next(&mut self) -> Result<FetchResponse, Status> {
        tokio::time::timeout(Duration::from_secs(10), self.responses.message())
            .await
            .expect("no response within 10 s")
            .map(|r| r.expect("the stream ended"))
    }

    /// Responses until `count` events have come; the events' replay ids and the last response.
    pub async fn events(&mut self, count: usize) -> (Vec<u64>, Vec<Vec<u8>>, FetchResponse) {
        let mut ids = Vec::new();
        let mut payloads = Vec::new();
        loop {
            let response = self.next().await.unwrap();
            for event in &response.events {
                ids.push(u64::from_be_bytes(event.replay_id[..].try_into().unwrap()));
                payloads.push(event.event.as_ref().unwrap().payload.to_vec());
            }
            if ids.len() >= count {
                return (ids, payloads, response);
            }
        }
    }

    /// Events until `count` came: replay id, schema id and payload of each.
    pub async fn events_with_schemas(&mut self, count: usize) -> Vec<(u64, String, Vec<u8>)> {
        let mut events = Vec::new();
        while events.len() < count {
            let response = self.next().await.unwrap();
            for event in response.events {
                let inner = event.event.unwrap();
                events.push((
                    u64::from_be_bytes(event.replay_id[..].try_into().unwrap()),
                    inner.schema_id,
                    inner.payload.to_vec(),
                ));
            }
        }
        events
    }

    pub async fn request(&self, n: i32) {
        self.requests
            .send(FetchRequest {
                num_requested: n,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// The first request of a subscription to `TOPIC`.
pub fn fetch(
    preset: bayou_pubsub::proto::ReplayPreset,
    replay_id: Option<u64>,
    n: i32,
) -> FetchRequest {
    FetchRequest {
        topic_name: TOPIC.to_owned(),
        replay_preset: preset.into(),
        replay_id: replay_id
            .map(|id| id.to_be_bytes().to_vec().into())
            .unwrap_or_default(),
        num_requested: n,
        auth_refresh: String::new(),
    }
}

/// Decodes `datum` with the schema `GetSchema` returns for `schema_id`, into JSON.
pub async fn decode(client: &mut Client, schema_id: &str, datum: &[u8]) -> Value {
    let info = client
        .get_schema(SchemaRequest {
            schema_id: schema_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let schema = apache_avro::Schema::parse_str(&info.schema_json).unwrap();
    let mut reader = datum;
    let value = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
        .build()
        .unwrap()
        .read_value(&mut reader)
        .unwrap();
    assert!(reader.is_empty(), "bytes left after the datum");
    to_json(value)
}

fn to_json(value: Avro) -> Value {
    match value {
        Avro::Null => Value::Null,
        Avro::Boolean(b) => json!(b),
        Avro::Long(n) => json!(n),
        Avro::Int(n) => json!(n),
        Avro::Double(d) => json!(d),
        Avro::String(s) => json!(s),
        Avro::Union(_, inner) => to_json(*inner),
        Avro::Record(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
        Avro::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Avro::Enum(_, symbol) => json!(symbol),
        other => panic!("unexpected Avro value {other:?}"),
    }
}

/// The `error-code` trailer of a status.
pub fn error_code(status: &Status) -> &str {
    status
        .metadata()
        .get("error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
