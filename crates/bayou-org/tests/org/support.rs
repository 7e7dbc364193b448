//! An org and a Bayou server in-process on 127.0.0.1:0, and a small HTTP client for them.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bayou_log::{EmbeddedOptions, Storage};
use bayou_org::identity::CredentialOverrides;
use bayou_org::{Org, OrgConfig};
use bayou_server::{EngineConfig, Server};
use serde_json::{json, Value};

pub const USER: &str = "dev@example.com";
pub const PASSWORD: &str = "correct horse";
pub const CLIENT: &str = "test-client";
pub const SECRET: &str = "test-secret";
pub const ADMIN: &str = "admin-secret";
pub const OTHER_USER: &str = "other@example.com";
pub const OTHER_PASSWORD: &str = "battery staple";

pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub async fn start(config: OrgConfig) -> Running {
    start_with(config, EngineConfig::default()).await
}

pub async fn start_with(config: OrgConfig, engine: EngineConfig) -> Running {
    let data = tempfile::tempdir().unwrap();
    let overrides = CredentialOverrides {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        client_id: Some(CLIENT.into()),
        client_secret: Some(SECRET.into()),
        extra_users: vec![(OTHER_USER.into(), OTHER_PASSWORD.into())],
    };
    let storage = Storage::embedded(
        &data.path().join("log"),
        EmbeddedOptions::default(),
        config.session_timeout,
    )
    .unwrap();
    let (org, _) = Org::open(data.path(), &overrides, config, &storage)
        .await
        .unwrap();
    let server = Server::new(engine, org.clone(), storage.log, storage.counters);
    let admin =
        bayou_org::admin::router(org.clone(), server.engine().clone(), Some(ADMIN.to_owned()));
    let router = server
        .router()
        .merge(org.router(server.engine()))
        .merge(admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, router, async move {
        let _ = stopped.await;
    }));
    Running {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _data: data,
        stop: Some(stop),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Running {
    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/services/oauth2/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn password_login(&self) -> Value {
        self.login_as(USER, PASSWORD).await
    }

    /// Logs `username` in; returns the access token and the user's id (the last segment of the
    /// identity URL).
    pub async fn token_and_user_id(&self, username: &str, password: &str) -> (String, String) {
        let body = self.login_as(username, password).await;
        let id = body["id"].as_str().unwrap().rsplit('/').next().unwrap();
        let token = body["access_token"].as_str().unwrap();
        (token.to_owned(), id.to_owned())
    }

    pub async fn login_as(&self, username: &str, password: &str) -> Value {
        let (status, body) = self
            .token(&[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("username", username),
                ("password", password),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn bayeux(&self, authorization: Option<&str>, messages: Value) -> Vec<Value> {
        let mut request = self
            .http
            .post(format!("{}/cometd/66.0", self.base))
            .body(messages.to_string());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Calls the admin API's fault injection.
    pub async fn admin(&self, action: &str, body: Value) -> (u16, Value) {
        self.admin_call(&format!("faults/{action}"), body).await
    }

    /// Calls the admin API at `/admin/<path>`.
    pub async fn admin_call(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/admin/{path}", self.base))
            .bearer_auth(ADMIN)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// `GET /admin/<path>` with the admin token.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/admin/{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn handshake(&self, authorization: Option<&str>) -> Value {
        self.bayeux(authorization, json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
            .await
            .remove(0)
    }
}

/// A streaming session: its `Authorization` header and clientId.
pub struct Session {
    pub auth: String,
    pub client_id: String,
}

impl Running {
    pub async fn login_token(&self) -> String {
        self.password_login().await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn rest(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/services/data/v66.0/{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    pub async fn create(&self, token: &str, object: &str, fields: Value) -> String {
        let (status, body) = self
            .rest(
                token,
                reqwest::Method::POST,
                &format!("sobjects/{object}"),
                Some(fields),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["errors"], json!([]));
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn subscribe(&self, token: &str, channel: &str, replay: Option<i64>) -> Session {
        let auth = format!("Bearer {token}");
        let client_id = self.handshake(Some(&auth)).await["clientId"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut subscribe =
            json!({"channel":"/meta/subscribe","clientId":client_id,"subscription":channel});
        if let Some(id) = replay {
            subscribe["ext"] = json!({"replay": {channel: id}});
        }
        let replies = self
            .bayeux(Some(&auth), json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling"}, subscribe]))
            .await;
        assert_eq!(replies[1]["successful"], true, "{replies:?}");
        Session { auth, client_id }
    }

    /// Connects until `count` events have arrived on the session.
    pub async fn events(&self, session: &Session, count: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while events.len() < count {
            assert!(tokio::time::Instant::now() < deadline, "only {events:?}");
            let connect = json!([{"channel":"/meta/connect","clientId":session.client_id,"connectionType":"long-polling","advice":{"timeout":200}}]);
            for m in self.bayeux(Some(&session.auth), connect).await {
                if m.get("data").is_some() {
                    events.push(m);
                }
            }
        }
        events
    }
}
