//! Long-polling: every batch is one POST, its reply array one [`Incoming::Messages`].
//!
//! Requests run as their own tasks so that a subscribe is not queued behind a connect the
//! server is holding for up to 110 s. The tasks are aborted when the link is dropped, which is
//! how the watchdog abandons a stalled connect.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{decode, ids_of, Decoded, Endpoint, Incoming};
use crate::error::TransportError;

pub(crate) struct LongPolling {
    endpoint: Endpoint,
    incoming: mpsc::Sender<Incoming>,
    requests: Vec<JoinHandle<()>>,
}

impl LongPolling {
    pub fn new(endpoint: Endpoint, incoming: mpsc::Sender<Incoming>) -> Self {
        Self {
            endpoint,
            incoming,
            requests: Vec::new(),
        }
    }

    pub fn send(&mut self, messages: Vec<Value>, timeout: Duration) {
        self.requests.retain(|r| !r.is_finished());
        let endpoint = self.endpoint.clone();
        let incoming = self.incoming.clone();
        self.requests.push(tokio::spawn(async move {
            let ids = ids_of(&messages);
            let item = match post(&endpoint, &messages, timeout).await {
                Ok(replies) => Incoming::Messages(replies),
                Err(error) => Incoming::Failed { ids, error },
            };
            let _ = incoming.send(item).await;
        }));
    }
}

impl Drop for LongPolling {
    fn drop(&mut self) {
        for request in &self.requests {
            request.abort();
        }
    }
}

async fn post(
    endpoint: &Endpoint,
    messages: &[Value],
    timeout: Duration,
) -> Result<Decoded, TransportError> {
    let url = &endpoint.url;
    let http_error = |e: reqwest::Error| TransportError::Http {
        url: url.clone(),
        reason: e.to_string(),
    };
    let body =
        serde_json::to_vec(messages).map_err(|e| TransportError::Malformed(e.to_string()))?;
    let mut request = endpoint
        .http
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json;charset=UTF-8")
        .header("accept", "application/json")
        .body(body);
    if let Some(authorization) = &endpoint.authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(cookie) = endpoint.cookies.header() {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.map_err(http_error)?;
    endpoint.cookies.store(response.headers());
    let status = response.status();
    if !status.is_success() {
        return Err(TransportError::Status {
            url: url.clone(),
            status: status.as_u16(),
        });
    }
    let bytes = response.bytes().await.map_err(http_error)?;
    decode(&bytes)
}
