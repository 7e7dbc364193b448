//! The few REST calls a streaming application needs around its subscriptions: records
//! (whose changes feed PushTopics), platform events, and pushes to generic streaming
//! channels. The same [`AuthProvider`] logs in; a `401` is answered by logging in again once.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::auth::{AuthProvider, Credentials};
use crate::error::{AuthError, ClientError, TransportError};

/// A Salesforce REST client for records, platform events and generic streaming pushes.
///
/// ```no_run
/// use bayou_client::{PasswordFlow, RestClient};
/// use serde_json::json;
///
/// # async fn run() -> Result<(), bayou_client::ClientError> {
/// let rest = RestClient::new(PasswordFlow::new(
///     "http://127.0.0.1:8080", "client-id", "secret", "admin@bayou.local", "pw",
/// ));
/// let id = rest.create("Account", json!({"Name": "Express Logistics"})).await?;
/// rest.update("Account", &id, json!({"Industry": "Transport"})).await?;
/// rest.publish_event("Low_Ink__e", json!({"Printer_Model__c": "XZO-5"})).await?;
/// rest.push("/u/notifications", "hello", &[]).await?;
/// rest.delete("Account", &id).await?;
/// # Ok(()) }
/// ```
pub struct RestClient {
    http: reqwest::Client,
    auth: Arc<dyn AuthProvider>,
    instance_url: Option<String>,
    api_version: String,
    credentials: Mutex<Option<Credentials>>,
}

/// A REST error from the server: its HTTP status and the body as sent.
fn rest_error(method: &Method, path: &str, status: u16, body: &Value) -> ClientError {
    // Salesforce errors are `[{"message","errorCode"}]`.
    let detail = body
        .as_array()
        .and_then(|errors| errors.first())
        .map(|e| {
            format!(
                "{}: {}",
                e["errorCode"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| body.to_string());
    ClientError::Bayeux {
        channel: format!("{method} {path}"),
        error: format!("HTTP {status}: {detail}"),
    }
}

impl RestClient {
    pub fn new(auth: impl AuthProvider) -> Self {
        Self::with_shared_auth(Arc::new(auth))
    }

    pub fn with_shared_auth(auth: Arc<dyn AuthProvider>) -> Self {
        Self {
            http: reqwest::Client::new(),
            auth,
            instance_url: None,
            api_version: crate::DEFAULT_API_VERSION.to_owned(),
            credentials: Mutex::new(None),
        }
    }

    /// The base URL (default: the login's instance URL).
    pub fn instance_url(mut self, url: impl Into<String>) -> Self {
        self.instance_url = Some(url.into());
        self
    }

    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    async fn credentials(&self, renew: bool) -> Result<Credentials, ClientError> {
        let mut cached = self.credentials.lock().await;
        if !renew {
            if let Some(credentials) = cached.as_ref() {
                return Ok(credentials.clone());
            }
        }
        let credentials = self.auth.authenticate(&self.http, renew).await?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// Sends `method` to `/services/data/v<version>/<path>`; returns the status and the JSON
    /// body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let mut renew = false;
        loop {
            let credentials = self.credentials(renew).await?;
            let base = self
                .instance_url
                .as_deref()
                .or(credentials.instance_url.as_deref())
                .ok_or_else(|| {
                    ClientError::Config("no instance URL: give one or log in with OAuth".into())
                })?
                .trim_end_matches('/')
                .to_owned();
            let url = format!(
                "{base}/services/data/v{}/{}",
                self.api_version,
                path.trim_start_matches('/')
            );
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("authorization", credentials.authorization())
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let http_error = |e: reqwest::Error| {
                ClientError::Transport(TransportError::Http {
                    url: url.clone(),
                    reason: e.to_string(),
                })
            };
            let response = request.send().await.map_err(http_error)?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(http_error)?;
            if status == 401 && !renew {
                renew = true;
                continue;
            }
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            if status == 401 {
                return Err(ClientError::Auth(AuthError::Refused(format!(
                    "{url}: HTTP 401 after logging in again"
                ))));
            }
            return Ok((status, value));
        }
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let (status, value) = self.call(method.clone(), path, body).await?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(rest_error(&method, path, status, &value))
        }
    }

    /// Creates a record; returns its id.
    pub async fn create(&self, sobject: &str, fields: Value) -> Result<String, ClientError> {
        let path = format!("sobjects/{sobject}");
        let reply = self.expect(Method::POST, &path, Some(&fields)).await?;
        reply["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| rest_error(&Method::POST, &path, 201, &reply))
    }

    pub async fn update(&self, sobject: &str, id: &str, fields: Value) -> Result<(), ClientError> {
        self.expect(
            Method::PATCH,
            &format!("sobjects/{sobject}/{id}"),
            Some(&fields),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, sobject: &str, id: &str) -> Result<(), ClientError> {
        self.expect(Method::DELETE, &format!("sobjects/{sobject}/{id}"), None)
            .await
            .map(|_| ())
    }

    /// Runs a SOQL query; returns the reply (`records`, `totalSize`, `done`).
    pub async fn query(&self, soql: &str) -> Result<Value, ClientError> {
        let mut encoded = String::new();
        for byte in soql.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    encoded.push(byte as char)
                }
                _ => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        self.expect(Method::GET, &format!("query?q={encoded}"), None)
            .await
    }

    /// Publishes a platform event (`name` like `Low_Ink__e`); returns Salesforce's reply
    /// (`id`, `success`, and the EventUuid in `errors[0].message` with `OPERATION_ENQUEUED`).
    pub async fn publish_event(&self, name: &str, fields: Value) -> Result<Value, ClientError> {
        self.expect(Method::POST, &format!("sobjects/{name}"), Some(&fields))
            .await
    }

    /// Pushes `payload` to a generic streaming channel, given by id (`0M6…`) or by name
    /// (`/u/…`, looked up with SOQL as jsforce does). `user_ids` empty broadcasts to every
    /// subscriber. Returns the push result (`fanoutCount`, `userOnlineStatus`).
    pub async fn push(
        &self,
        channel: &str,
        payload: &str,
        user_ids: &[String],
    ) -> Result<Value, ClientError> {
        let id = if channel.starts_with('/') {
            let soql = format!(
                "SELECT Id, Name FROM StreamingChannel WHERE Name = '{}'",
                channel.replace('\\', "\\\\").replace('\'', "\\'")
            );
            let reply = self.query(&soql).await?;
            reply
                .pointer("/records/0/Id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ClientError::Bayeux {
                    channel: channel.to_owned(),
                    error: "no StreamingChannel with this name (create it as a StreamingChannel record first)".into(),
                })?
        } else {
            channel.to_owned()
        };
        let body = json!({"pushEvents": [{"payload": payload, "userIds": user_ids}]});
        let reply = self
            .expect(
                Method::POST,
                &format!("sobjects/StreamingChannel/{id}/push"),
                Some(&body),
            )
            .await?;
        Ok(match reply {
            Value::Array(mut results) if results.len() == 1 => results.remove(0),
            other => other,
        })
    }
}
