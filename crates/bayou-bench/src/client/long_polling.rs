//! Sessions over long-polling: every message is an HTTP POST of a JSON array; deliveries come
//! back in the replies to held `/meta/connect` requests.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

use std::io::Write as _;

use super::{client_id, http1, publish_failed, subscribed, ConnectOutcome, Pacer, Phase};
use super::{PublisherState, Receiver, SharedRef};
use crate::wire;
use crate::BenchError;

const CONNECTION_TYPE: &str = bayou_protocol::connection_type::LONG_POLLING;

/// A long-polling session: its clientId, and the cookies its handshake set (CometD servers
/// find the session through the `BAYEUX_BROWSER` cookie, so it must come back every time).
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Arc<str>,
    cookie: Option<Arc<str>>,
}

pub async fn post(
    shared: &SharedRef,
    session: Option<&Session>,
    body: String,
) -> Result<Bytes, BenchError> {
    post_reading_cookies(shared, session, body)
        .await
        .map(|(bytes, _)| bytes)
}

async fn post_reading_cookies(
    shared: &SharedRef,
    session: Option<&Session>,
    body: String,
) -> Result<(Bytes, Option<String>), BenchError> {
    let config = &shared.config;
    let mut request = shared
        .http
        .post(&config.url)
        .header("content-type", "application/json;charset=UTF-8")
        .body(body);
    if let Some(token) = &config.token {
        request = request.bearer_auth(token);
    }
    if let Some(cookie) = session.and_then(|s| s.cookie.as_deref()) {
        request = request.header("cookie", cookie);
    }
    let http_error = |source| BenchError::Http {
        url: config.url.clone(),
        source,
    };
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect();
    let cookies = (!cookies.is_empty()).then(|| cookies.join("; "));
    let bytes = response.bytes().await.map_err(http_error)?;
    if !status.is_success() {
        return Err(BenchError::Refused {
            what: "a request",
            detail: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
        });
    }
    Ok((bytes, cookies))
}

async fn handshake(shared: &SharedRef) -> Result<Session, BenchError> {
    let (body, cookie) =
        post_reading_cookies(shared, None, wire::handshake(&[CONNECTION_TYPE])).await?;
    let messages = wire::decode(&body).map_err(BenchError::Protocol)?;
    Ok(Session {
        id: client_id(&messages)?.into(),
        cookie: cookie.map(Into::into),
    })
}

async fn subscribe(
    shared: &SharedRef,
    session: &Session,
    channels: &[String],
) -> Result<(), BenchError> {
    let body = post(
        shared,
        Some(session),
        wire::subscribe(&session.id, channels),
    )
    .await?;
    let messages = wire::decode(&body).map_err(BenchError::Protocol)?;
    let n = subscribed(&messages)?;
    if n != channels.len() {
        return Err(BenchError::Protocol(format!(
            "{n} subscribe replies for {} subscriptions",
            channels.len()
        )));
    }
    Ok(())
}

/// Handshakes and subscribes: the part of a session that must work before the run starts.
pub async fn open(shared: &SharedRef, channels: &[String]) -> Result<Session, BenchError> {
    let session = handshake(shared).await?;
    if !channels.is_empty() {
        subscribe(shared, &session, channels).await?;
    }
    Ok(session)
}

/// Holds connects until the run stops, recording every delivery; then disconnects. Over
/// `http://`, the connects go through a connection of their own ([`http1`](super::http1)),
/// written from a reused buffer; otherwise through reqwest.
pub async fn connect_loop(shared: SharedRef, session: Session, mut receiver: Receiver) {
    let id = &session.id;
    let mut lean = match http1::Endpoint::of(&shared.config.url) {
        Some(endpoint) => {
            match http1::Connection::open(&endpoint, &headers(&shared, &session)).await {
                Ok(connection) => Some(connection),
                Err(e) => return lost(&shared, format!("cannot connect: {e}")),
            }
        }
        None => None,
    };
    let prefix = wire::connect_prefix(id, CONNECTION_TYPE);
    let mut body = Vec::with_capacity(prefix.len() + 24);
    let mut n = 0_u64;
    loop {
        n += 1;
        body.clear();
        body.extend_from_slice(prefix.as_bytes());
        let _ = write!(body, "{n}{}", wire::CONNECT_SUFFIX);
        let request = async {
            match &mut lean {
                Some(connection) => connection
                    .post(&body)
                    .await
                    .map_err(|e| BenchError::Protocol(e.to_string()))
                    .and_then(|reply| {
                        let absorbed = receiver.absorb(&shared, reply);
                        Ok(absorbed.map_err(BenchError::Protocol)?.connect)
                    }),
                None => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let reply = post(&shared, Some(&session), text).await?;
                    let absorbed = receiver.absorb(&shared, &reply);
                    Ok(absorbed.map_err(BenchError::Protocol)?.connect)
                }
            }
        };
        let outcome = tokio::select! {
            outcome = request => outcome,
            _ = shared.reached(Phase::Stop) => break,
        };
        match outcome {
            Ok(Some(ConnectOutcome::Ok)) => {}
            Ok(None) => {
                shared
                    .recorder
                    .error("a connect reply without /meta/connect");
            }
            Ok(Some(ConnectOutcome::Lost(why))) => {
                lost(&shared, why);
                return;
            }
            Err(e) => {
                if *shared.phase.borrow() >= Phase::Stop {
                    break;
                }
                lost(&shared, e.to_string());
                return;
            }
        }
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        post(&shared, Some(&session), wire::disconnect(id)),
    )
    .await;
}

/// The headers every request of `session` carries: its cookies and the bearer token.
fn headers(shared: &SharedRef, session: &Session) -> Vec<String> {
    let mut headers = Vec::new();
    if let Some(cookie) = &session.cookie {
        headers.push(format!("Cookie: {cookie}"));
    }
    if let Some(token) = &shared.config.token {
        headers.push(format!("Authorization: Bearer {token}"));
    }
    headers
}

fn lost(shared: &SharedRef, why: String) {
    shared.recorder.sessions_lost.fetch_add(1, Relaxed);
    shared.recorder.error(format!("session lost: {why}"));
}

/// Publishes on its own schedule, each batch its own request; at most `max_in_flight`
/// messages unanswered.
pub async fn publish(shared: SharedRef, session: Session, index: usize) {
    let config = &shared.config;
    let mut state = PublisherState::new(index, config.layout.rooms);
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let batch = config.batch as u32;
    let pacer = Pacer::new(&shared, index);
    loop {
        if !pacer.until_due(&shared, state.batches_sent()).await {
            break;
        }
        let Ok(permit) = Arc::clone(&in_flight).acquire_many_owned(batch).await else {
            break;
        };
        let next = state.next(&shared);
        let body = wire::publish(
            &session.id,
            &next.channel,
            &next.body_messages,
            next.first_id,
        );
        let shared = Arc::clone(&shared);
        let session = session.clone();
        tokio::spawn(async move {
            let count = next.body_messages.len() as u64;
            match post(&shared, Some(&session), body).await {
                Ok(reply) => match Receiver::new(0).absorb(&shared, &reply) {
                    Ok(absorbed) => {
                        let missing = count.saturating_sub(absorbed.publish_replies as u64);
                        if missing > 0 {
                            publish_failed(&shared, &next.channel, missing, "no reply");
                        }
                    }
                    Err(e) => publish_failed(&shared, &next.channel, count, &e),
                },
                Err(e) => publish_failed(&shared, &next.channel, count, &e.to_string()),
            }
            drop(permit);
        });
    }
    // Wait for the last replies, so they are counted before the drain ends.
    let all = config.max_in_flight as u32;
    let _ = tokio::time::timeout(config.drain, in_flight.acquire_many(all)).await;
}
