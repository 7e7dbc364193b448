//! sObject REST as tests mean it: create this, change that, delete it, read it back. Each
//! helper asserts the status Salesforce answers on success, so a test that only needs the
//! effect says so in one line; [`Bayou::rest`] stays for tests about statuses and error bodies.

use serde_json::{json, Value};

use crate::Bayou;

impl Bayou {
    /// `method /services/data/v66.0/<path>` with `token` and an optional JSON body; the status
    /// and the body (`Null` when empty).
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

    /// Creates a record of `object`; its id (201 and the success body asserted).
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

    /// Updates `fields` of record `id` (204 asserted).
    pub async fn update(&self, token: &str, object: &str, id: &str, fields: Value) {
        let (status, body) = self
            .rest(
                token,
                reqwest::Method::PATCH,
                &format!("sobjects/{object}/{id}"),
                Some(fields),
            )
            .await;
        assert_eq!(status, 204, "update {object}/{id}: {body}");
    }

    /// Deletes record `id` (204 asserted).
    pub async fn delete(&self, token: &str, object: &str, id: &str) {
        let (status, body) = self
            .rest(
                token,
                reqwest::Method::DELETE,
                &format!("sobjects/{object}/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 204, "delete {object}/{id}: {body}");
    }

    /// Undeletes record `id` (204 asserted).
    pub async fn undelete(&self, token: &str, object: &str, id: &str) {
        let (status, body) = self
            .rest(
                token,
                reqwest::Method::POST,
                &format!("sobjects/{object}/{id}/undelete"),
                None,
            )
            .await;
        assert_eq!(status, 204, "undelete {object}/{id}: {body}");
    }

    /// Reads record `id` (200 asserted).
    pub async fn get(&self, token: &str, object: &str, id: &str) -> Value {
        let (status, body) = self
            .rest(
                token,
                reqwest::Method::GET,
                &format!("sobjects/{object}/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "get {object}/{id}: {body}");
        body
    }

    /// Runs a SOQL query (200 asserted); the query result (`totalSize`, `records`).
    pub async fn query(&self, token: &str, soql: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/services/data/v66.0/query", self.base))
            .query(&[("q", soql)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "query {soql}: {body}");
        body
    }
}
