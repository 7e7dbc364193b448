//! The HTTP calls tests make, written once and without the client library: logging in, raw
//! Bayeux POSTs, the admin API, and a long-polling subscriber that collects events. Raw HTTP on
//! purpose — the org tests check the wire, and the client tests need a publisher that is not
//! the client under test.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{Bayou, ADMIN, CLIENT, PASSWORD, SECRET, USER};

/// A streaming session: its `Authorization` header and clientId.
pub struct Session {
    pub auth: String,
    pub client_id: String,
}

impl Bayou {
    /// `POST /services/oauth2/token` with `form`, as it is: the status and the body.
    pub async fn oauth_token(&self, form: &[(&str, &str)]) -> (u16, Value) {
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

    /// Logs `username` in with the password flow; the token response (asserted 200).
    pub async fn login_as(&self, username: &str, password: &str) -> Value {
        let (status, body) = self
            .oauth_token(&[
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

    /// Logs [`USER`] in; the token response.
    pub async fn password_login(&self) -> Value {
        self.login_as(USER, PASSWORD).await
    }

    /// An access token of [`USER`].
    pub async fn token(&self) -> String {
        self.password_login().await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Logs `username` in; returns the access token and the user's id (the last segment of the
    /// identity URL).
    pub async fn token_and_user_id(&self, username: &str, password: &str) -> (String, String) {
        let body = self.login_as(username, password).await;
        let id = body["id"].as_str().unwrap().rsplit('/').next().unwrap();
        let token = body["access_token"].as_str().unwrap();
        (token.to_owned(), id.to_owned())
    }

    /// Revokes `token` through `POST /services/oauth2/revoke`; the HTTP status.
    pub async fn revoke(&self, token: &str) -> u16 {
        self.http
            .post(format!("{}/services/oauth2/revoke", self.base))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// POSTs `messages` to `/cometd/66.0`; the reply messages (HTTP 200 asserted: Bayeux
    /// errors travel inside a 200).
    pub async fn bayeux(&self, authorization: Option<&str>, messages: Value) -> Vec<Value> {
        self.bayeux_at("66.0", authorization, messages).await
    }

    /// [`Bayou::bayeux`] on the endpoint of API `version` (`/cometd/{version}`).
    pub async fn bayeux_at(
        &self,
        version: &str,
        authorization: Option<&str>,
        messages: Value,
    ) -> Vec<Value> {
        let mut request = self
            .http
            .post(format!("{}/cometd/{version}", self.base))
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

    /// A long-polling handshake; its reply.
    pub async fn handshake(&self, authorization: Option<&str>) -> Value {
        self.bayeux(authorization, json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
            .await
            .remove(0)
    }

    /// Calls the admin API's fault injection (`/admin/faults/<action>`).
    pub async fn admin(&self, action: &str, body: Value) -> (u16, Value) {
        self.admin_call(&format!("faults/{action}"), body).await
    }

    /// Injects a fault that must be accepted; the admin API's answer.
    pub async fn fault(&self, action: &str, body: Value) -> Value {
        let (status, reply) = self.admin(action, body).await;
        assert_eq!(status, 200, "fault {action}: {reply}");
        reply
    }

    /// `POST /admin/<path>` with the admin token.
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
        self.get_as(ADMIN, &format!("/admin/{path}"), &[]).await
    }

    /// `GET path` (from the server's root) with `token` as bearer and `headers`; the status and
    /// the JSON body.
    pub async fn get_as(&self, token: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Handshakes with `token` and subscribes to `channel` (from `replay` when given); the
    /// subscribe is asserted successful.
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

    /// Connects until `count` events have arrived on the session (fails after 10 s).
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

    /// Publishes `{"n": i}` for every `i` in `range` on `channel` over plain HTTP, from a
    /// session of its own; returns the replay ids the server acknowledged.
    pub async fn publish(&self, channel: &str, range: std::ops::Range<u64>) -> Vec<i64> {
        let auth = format!("Bearer {}", self.token().await);
        let client_id = self.handshake(Some(&auth)).await["clientId"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut ids = Vec::new();
        for n in range {
            let reply = self
                .bayeux(Some(&auth), json!([{"channel":channel,"clientId":client_id,"id":n.to_string(),"data":{"n":n}}]))
                .await;
            assert_eq!(reply[0]["successful"], true, "{reply:?}");
            ids.push(reply[0]["ext"]["replayId"].as_i64().unwrap_or(-1));
        }
        self.bayeux(
            Some(&auth),
            json!([{"channel":"/meta/disconnect","clientId":client_id}]),
        )
        .await;
        ids
    }
}
