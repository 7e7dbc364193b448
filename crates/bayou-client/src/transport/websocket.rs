//! WebSocket: one socket, each frame a JSON array of messages. A reader task yields every
//! frame as it arrives; the writer half stays with the link.

use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{decode, Endpoint, Incoming};
use crate::error::TransportError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) struct WebSocket {
    sink: SplitSink<Socket, WsMessage>,
    reader: JoinHandle<()>,
}

fn ws_error(e: impl std::fmt::Display) -> TransportError {
    TransportError::WebSocket(e.to_string())
}

fn header(value: &str) -> Result<HeaderValue, TransportError> {
    HeaderValue::from_str(value).map_err(ws_error)
}

impl WebSocket {
    pub async fn connect(
        endpoint: &Endpoint,
        incoming: mpsc::Sender<Incoming>,
    ) -> Result<Self, TransportError> {
        let url = if let Some(rest) = endpoint.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = endpoint.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            endpoint.url.clone()
        };
        let mut request = url.as_str().into_client_request().map_err(ws_error)?;
        if let Some(authorization) = &endpoint.authorization {
            request
                .headers_mut()
                .insert("authorization", header(authorization)?);
        }
        if let Some(cookie) = endpoint.cookies.header() {
            request.headers_mut().insert("cookie", header(&cookie)?);
        }
        let (socket, response) = match tokio_tungstenite::connect_async(request).await {
            Ok(opened) => opened,
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status().as_u16() == 401 =>
            {
                let reason = response
                    .body()
                    .as_deref()
                    .and_then(|body| std::str::from_utf8(body).ok())
                    .filter(|text| bayou_protocol::errors::BayeuxError::parse(text).is_some())
                    .unwrap_or("HTTP 401")
                    .to_owned();
                return Err(TransportError::Unauthorized { url, reason });
            }
            Err(e) => return Err(TransportError::WebSocket(format!("{url}: {e}"))),
        };
        endpoint.cookies.store(response.headers());
        let (sink, mut stream) = socket.split();
        let reader = tokio::spawn(async move {
            let closed = loop {
                match stream.next().await {
                    Some(Ok(WsMessage::Text(text))) => match decode(text.as_bytes()) {
                        Ok(messages) => {
                            if incoming.send(Incoming::Messages(messages)).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => break error,
                    },
                    Some(Ok(WsMessage::Binary(bytes))) => match decode(&bytes) {
                        Ok(messages) => {
                            if incoming.send(Incoming::Messages(messages)).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => break error,
                    },
                    Some(Ok(WsMessage::Close(_))) | None => break TransportError::Closed,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break ws_error(e),
                }
            };
            let _ = incoming.send(Incoming::Closed(closed)).await;
        });
        Ok(Self { sink, reader })
    }

    pub async fn send(&mut self, messages: Vec<Value>) -> Result<(), TransportError> {
        let text = serde_json::to_string(&messages).map_err(ws_error)?;
        self.sink
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(ws_error)
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
