//! A subscriber over Salesforce's Pub/Sub API (gRPC, Avro), for comparing it with the Bayeux
//! transports on the same events: Bayeux publishers publish on platform event channels
//! (`/event/Bench_{room}__e`, defined with numeric fields `p`, `r`, `s`, `t` and a text field
//! `x`), and each subscriber reads them through one `Subscribe` stream per room, asking for 100
//! events at a time as Salesforce's clients do.
//!
//! Decoding is Avro with the schema `GetSchema` returns, cached by id: what any Pub/Sub client
//! pays per event.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use bayou_pubsub_proto::session::{self, SessionClient, SessionHeaders};
use bayou_pubsub_proto::{FetchRequest, ReplayPreset, SchemaRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use super::{Phase, Receiver, Shared};
use crate::payload::Stamp;
use crate::BenchError;

/// Events asked for at a time (Salesforce's most).
const BATCH: i32 = 100;

type Grpc = SessionClient;

fn failed(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(format!("Pub/Sub API: {what}: {e}"))
}

/// A connected subscriber: one stream per room.
pub struct Session {
    grpc: Grpc,
    streams: Vec<(
        mpsc::Sender<FetchRequest>,
        tonic::Streaming<bayou_pubsub_proto::FetchResponse>,
    )>,
}

/// Connects and subscribes (LATEST) to `channels`; returns once every stream is in place (the
/// server answers a `Subscribe` once its start position is fixed).
pub async fn open(shared: &Shared, channels: &[String]) -> Result<Session, BenchError> {
    let config = &shared.config;
    let endpoint = config.pubsub_url.clone().ok_or_else(|| {
        BenchError::Config("--pubsub-url is needed with --transport pubsub".into())
    })?;
    let token = config
        .token
        .clone()
        .ok_or_else(|| BenchError::Config("the Pub/Sub API needs --token".into()))?;
    let tenant = org_id(shared, &token).await?;
    let mut channel = Channel::from_shared(endpoint.clone()).map_err(|e| failed(&endpoint, e))?;
    if endpoint.starts_with("https://") {
        let tls = match &config.pubsub_ca {
            Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        channel = channel.tls_config(tls).map_err(|e| failed("TLS", e))?;
    }
    let channel = channel.connect().await.map_err(|e| failed(&endpoint, e))?;
    let headers =
        SessionHeaders::new(&token, "https://bench", &tenant).map_err(|e| failed("session", e))?;
    let mut grpc = session::client(channel, headers);
    let mut streams = Vec::with_capacity(channels.len());
    for topic in channels {
        let (requests, outbound) = mpsc::channel(4);
        let first = FetchRequest {
            topic_name: topic.clone(),
            replay_preset: ReplayPreset::Latest.into(),
            num_requested: BATCH,
            ..Default::default()
        };
        let _ = requests.send(first).await;
        let responses = grpc
            .subscribe(ReceiverStream::new(outbound))
            .await
            .map_err(|e| failed(topic, e))?
            .into_inner();
        streams.push((requests, responses));
    }
    Ok(Session { grpc, streams })
}

/// The org id, from `userinfo` at the Bayeux URL's origin.
async fn org_id(shared: &Shared, token: &str) -> Result<String, BenchError> {
    let origin = shared
        .config
        .url
        .split('/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    let url = format!("{origin}/services/oauth2/userinfo");
    let info: serde_json::Value = shared
        .http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| BenchError::Http {
            url: url.clone(),
            source,
        })?
        .json()
        .await
        .map_err(|source| BenchError::Http { url, source })?;
    info["organization_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| failed("userinfo", "no organization_id"))
}

/// Reads every stream until the run stops.
pub async fn read_loop(shared: Arc<Shared>, session: Session, receiver: Receiver) {
    let receiver = Arc::new(parking_lot::Mutex::new(receiver));
    let schemas: Arc<parking_lot::Mutex<HashMap<String, Arc<Schema>>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for (requests, responses) in session.streams {
        tasks.spawn(read_stream(
            Arc::clone(&shared),
            session.grpc.clone(),
            Arc::clone(&schemas),
            Arc::clone(&receiver),
            requests,
            responses,
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn read_stream(
    shared: Arc<Shared>,
    mut grpc: Grpc,
    schemas: Arc<parking_lot::Mutex<HashMap<String, Arc<Schema>>>>,
    receiver: Arc<parking_lot::Mutex<Receiver>>,
    requests: mpsc::Sender<FetchRequest>,
    mut responses: tonic::Streaming<bayou_pubsub_proto::FetchResponse>,
) {
    let mut phase = shared.phase.clone();
    let mut stamps = Vec::with_capacity(BATCH as usize);
    loop {
        let response = tokio::select! {
            response = responses.message() => response,
            _ = phase.wait_for(|p| *p == Phase::Stop) => return,
        };
        let response = match response {
            Ok(Some(response)) => response,
            Ok(None) => return,
            Err(status) => {
                shared
                    .recorder
                    .error(format!("Pub/Sub stream ended: {status}"));
                shared
                    .recorder
                    .sessions_lost
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        };
        stamps.clear();
        for event in &response.events {
            let Some(inner) = &event.event else { continue };
            let schema = match schema(&mut grpc, &schemas, &inner.schema_id).await {
                Ok(schema) => schema,
                Err(e) => {
                    shared.recorder.error(e.to_string());
                    return;
                }
            };
            match stamp(&schema, &inner.payload) {
                Some(stamp) => stamps.push(stamp),
                None => {
                    shared
                        .recorder
                        .foreign
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        receiver.lock().absorb_stamps(&shared, &stamps);
        if response.pending_num_requested == 0 {
            let more = FetchRequest {
                num_requested: BATCH,
                ..Default::default()
            };
            if requests.send(more).await.is_err() {
                return;
            }
        }
    }
}

async fn schema(
    grpc: &mut Grpc,
    schemas: &parking_lot::Mutex<HashMap<String, Arc<Schema>>>,
    id: &str,
) -> Result<Arc<Schema>, BenchError> {
    if let Some(known) = schemas.lock().get(id) {
        return Ok(Arc::clone(known));
    }
    let info = grpc
        .get_schema(SchemaRequest {
            schema_id: id.to_owned(),
        })
        .await
        .map_err(|e| failed("GetSchema", e))?
        .into_inner();
    let parsed = Arc::new(Schema::parse_str(&info.schema_json).map_err(|e| failed("schema", e))?);
    schemas.lock().insert(id.to_owned(), Arc::clone(&parsed));
    Ok(parsed)
}

/// The bench's stamp in an event's datum (`p`, `r`, `s`, `t` as numbers).
fn stamp(schema: &Schema, datum: &[u8]) -> Option<Stamp> {
    let mut reader = datum;
    let value = GenericDatumReader::builder(schema)
        .build()
        .ok()?
        .read_value(&mut reader)
        .ok()?;
    let Avro::Record(fields) = value else {
        return None;
    };
    let number = |name: &str| -> Option<u64> {
        let (_, value) = fields.iter().find(|(n, _)| n == name)?;
        let value = match value {
            Avro::Union(_, inner) => inner.as_ref(),
            other => other,
        };
        match value {
            Avro::Double(d) if *d >= 0.0 => Some(*d as u64),
            Avro::Long(l) => u64::try_from(*l).ok(),
            _ => None,
        }
    };
    Some(Stamp {
        p: u32::try_from(number("p")?).ok()?,
        r: u32::try_from(number("r")?).ok()?,
        s: number("s")?,
        t: number("t")?,
    })
}
