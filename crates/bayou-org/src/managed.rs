//! Managed event subscriptions: the Pub/Sub API's `ManagedSubscribe` reads a named subscription
//! whose position the server keeps. As on Salesforce they are `ManagedEventSubscription`
//! records of the Tooling API — created with `POST …/tooling/sobjects/ManagedEventSubscription`
//! (`FullName`, `Metadata: {label, topicName, defaultReplay, errorRecoveryReplay, state}`), read
//! back by id or with a Tooling API query (`SELECT Id, DeveloperName, Metadata FROM
//! ManagedEventSubscription WHERE DeveloperName='…'`, what the npm client sends), stopped and
//! started with a PATCH of `Metadata.state`, deleted with DELETE. They are kept in the record
//! store, so every node of a cluster sees them; their committed positions live in the
//! `PositionStore`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bayou_log::RecordWrite;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ids::{new_id, same_id};
use crate::rest::errors::RestError;
use crate::Org;

/// Key prefix of stored subscriptions.
pub(crate) const STORE_PREFIX: &str = "ManagedEventSubscription/";

/// The object's name, and Salesforce's key prefix of its ids.
const OBJECT: &str = "ManagedEventSubscription";
const KEY_PREFIX: &str = "18x";

/// A managed event subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedSubscription {
    pub id: String,
    pub developer_name: String,
    pub label: String,
    /// The topic it reads (`/event/Low_Ink__e`, `/data/AccountChangeEvent`).
    pub topic_name: String,
    /// Where it starts when nothing was committed: `LATEST` or `EARLIEST`.
    pub default_replay: String,
    /// Where it starts when the committed position is no longer retained.
    pub error_recovery_replay: String,
    /// `RUN` or `STOP`: a stopped subscription cannot be read.
    pub state: String,
}

impl ManagedSubscription {
    /// Whether clients may read it now.
    pub fn is_running(&self) -> bool {
        self.state == "RUN"
    }

    /// The record as the Tooling API returns it, with the fields `select` names (all when
    /// empty).
    fn record(&self, version: &str, select: &[&str]) -> Value {
        let metadata = json!({
            "label": self.label,
            "topicName": self.topic_name,
            "defaultReplay": self.default_replay,
            "errorRecoveryReplay": self.error_recovery_replay,
            "state": self.state,
            "urls": null,
        });
        let all = [
            ("Id", json!(self.id)),
            ("DeveloperName", json!(self.developer_name)),
            ("MasterLabel", json!(self.label)),
            ("Metadata", metadata),
        ];
        let mut record = Map::new();
        record.insert(
            "attributes".into(),
            json!({"type": OBJECT, "url": format!("/services/data/v{version}/tooling/sobjects/{OBJECT}/{}", self.id)}),
        );
        for (name, value) in all {
            if select.is_empty() || select.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                record.insert(name.to_owned(), value);
            }
        }
        Value::Object(record)
    }

    /// The flat form a query's WHERE clause is evaluated on.
    fn queryable(&self) -> Map<String, Value> {
        let mut record = Map::new();
        record.insert("Id".into(), json!(self.id));
        record.insert("DeveloperName".into(), json!(self.developer_name));
        record.insert("MasterLabel".into(), json!(self.label));
        record
    }
}

/// `Metadata` as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataInput {
    label: Option<String>,
    topic_name: Option<String>,
    default_replay: Option<String>,
    error_recovery_replay: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    full_name: Option<String>,
    metadata: Option<MetadataInput>,
}

fn replay_option(field: &str, value: Option<String>, default: &str) -> Result<String, RestError> {
    let value = value
        .unwrap_or_else(|| default.to_owned())
        .to_ascii_uppercase();
    if value == "LATEST" || value == "EARLIEST" {
        Ok(value)
    } else {
        Err(RestError::bad_request(
            "INVALID_INPUT",
            format!("{field}: bad value for restricted picklist field: {value}"),
        ))
    }
}

fn state_of(value: Option<String>) -> Result<String, RestError> {
    let value = value
        .unwrap_or_else(|| "RUN".to_owned())
        .to_ascii_uppercase();
    if value == "RUN" || value == "STOP" {
        Ok(value)
    } else {
        Err(RestError::bad_request(
            "INVALID_INPUT",
            format!("state: bad value for restricted picklist field: {value}"),
        ))
    }
}

impl Org {
    /// The managed subscription with this id (15 or 18 characters) or developer name.
    pub async fn managed_subscription(&self, id_or_name: &str) -> Option<ManagedSubscription> {
        self.managed_subscriptions()
            .await
            .ok()?
            .into_iter()
            .find(|s| same_id(&s.id, id_or_name) || s.developer_name == id_or_name)
    }

    async fn managed_subscriptions(&self) -> Result<Vec<ManagedSubscription>, RestError> {
        let stored = self
            .store
            .records(STORE_PREFIX.as_bytes())
            .await
            .map_err(|e| RestError::storage("managed subscriptions", &e))?;
        Ok(stored
            .into_iter()
            .filter_map(|(_, value)| serde_json::from_slice(&value).ok())
            .collect())
    }

    async fn store_managed(&self, subscription: &ManagedSubscription) -> Result<(), RestError> {
        let value =
            serde_json::to_vec(subscription).map_err(|e| RestError::internal(e.to_string()))?;
        let write = RecordWrite {
            key: format!("{STORE_PREFIX}{}", subscription.id).into_bytes(),
            value: Some(value),
            expected_version: None,
        };
        self.store
            .append_with_records(Vec::new(), vec![write])
            .await
            .map_err(|e| RestError::storage("the managed subscription", &e))?;
        Ok(())
    }

    /// Whether `topic` names a topic the Pub/Sub API serves.
    fn is_topic(&self, topic: &str) -> bool {
        if let Some(event) = topic.strip_prefix("/event/") {
            return self.event_type(event).is_some();
        }
        topic == crate::cdc::ALL_CHANGES || crate::cdc::object_of_channel(topic).is_some()
    }

    async fn create_managed(&self, body: &[u8]) -> Result<ManagedSubscription, RestError> {
        let input: CreateInput = serde_json::from_slice(body).map_err(|e| {
            RestError::bad_request(
                "JSON_PARSER_ERROR",
                format!("The request body is not valid: {e}"),
            )
        })?;
        let name = input.full_name.unwrap_or_default();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.contains("__")
            && !name.ends_with('_')
            && name.len() <= 80;
        if !valid_name {
            return Err(RestError::bad_request(
                "INVALID_INPUT",
                format!("FullName {name:?} must begin with a letter and use only letters, digits and single underscores"),
            ));
        }
        let metadata = input.metadata.unwrap_or_default();
        let topic = metadata.topic_name.unwrap_or_default();
        if !self.is_topic(&topic) {
            return Err(RestError::bad_request(
                "INVALID_INPUT",
                format!("topicName: no such topic {topic:?}"),
            ));
        }
        let subscription = ManagedSubscription {
            id: new_id(KEY_PREFIX),
            label: metadata.label.unwrap_or_else(|| name.clone()),
            developer_name: name,
            topic_name: topic,
            default_replay: replay_option("defaultReplay", metadata.default_replay, "LATEST")?,
            error_recovery_replay: replay_option(
                "errorRecoveryReplay",
                metadata.error_recovery_replay,
                "LATEST",
            )?,
            state: state_of(metadata.state)?,
        };
        if self
            .managed_subscriptions()
            .await?
            .iter()
            .any(|s| s.developer_name == subscription.developer_name)
        {
            return Err(RestError::bad_request(
                "DUPLICATE_DEVELOPER_NAME",
                format!(
                    "The name {} is already used by another managed event subscription",
                    subscription.developer_name
                ),
            ));
        }
        self.store_managed(&subscription).await?;
        Ok(subscription)
    }
}

/// `POST /services/data/vXX.X/tooling/sobjects/ManagedEventSubscription`.
pub async fn create(State(org): State<Arc<Org>>, headers: HeaderMap, body: Bytes) -> Response {
    crate::rest::as_user(&org, &headers, |_| async {
        let created = org.create_managed(&body).await?;
        let reply =
            json!({"id": created.id, "success": true, "errors": [], "warnings": [], "infos": []});
        Ok((StatusCode::CREATED, Json(reply)).into_response())
    })
    .await
}

/// `GET …/tooling/sobjects/ManagedEventSubscription/{id}`.
pub async fn get_one(
    State(org): State<Arc<Org>>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    crate::rest::as_user(&org, &headers, |_| async {
        let version = version.trim_start_matches('v').to_owned();
        match org.managed_subscription(&id).await {
            Some(s) if same_id(&s.id, &id) => Ok(Json(s.record(&version, &[])).into_response()),
            _ => Err(RestError::not_found()),
        }
    })
    .await
}

/// `PATCH …/tooling/sobjects/ManagedEventSubscription/{id}`: changes `Metadata.state` (and
/// the label).
pub async fn update(
    State(org): State<Arc<Org>>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    crate::rest::as_user(&org, &headers, |_| async {
        let input: CreateInput = serde_json::from_slice(&body).map_err(|e| {
            RestError::bad_request(
                "JSON_PARSER_ERROR",
                format!("The request body is not valid: {e}"),
            )
        })?;
        let Some(mut subscription) = org
            .managed_subscription(&id)
            .await
            .filter(|s| same_id(&s.id, &id))
        else {
            return Err(RestError::not_found());
        };
        let metadata = input.metadata.unwrap_or_default();
        if metadata
            .topic_name
            .is_some_and(|t| t != subscription.topic_name)
        {
            return Err(RestError::bad_request(
                "INVALID_INPUT",
                "topicName cannot be changed; create another managed event subscription",
            ));
        }
        if let Some(state) = metadata.state {
            subscription.state = state_of(Some(state))?;
        }
        if let Some(label) = metadata.label {
            subscription.label = label;
        }
        org.store_managed(&subscription).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `DELETE …/tooling/sobjects/ManagedEventSubscription/{id}`; its committed position goes too.
pub async fn delete(
    State(org): State<Arc<Org>>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    crate::rest::as_user(&org, &headers, |_| async {
        let Some(subscription) = org
            .managed_subscription(&id)
            .await
            .filter(|s| same_id(&s.id, &id))
        else {
            return Err(RestError::not_found());
        };
        let write = RecordWrite {
            key: format!("{STORE_PREFIX}{}", subscription.id).into_bytes(),
            value: None,
            expected_version: None,
        };
        org.store
            .append_with_records(Vec::new(), vec![write])
            .await
            .map_err(|e| RestError::storage("the managed subscription", &e))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `GET /services/data/vXX.X/tooling/query?q=SELECT … FROM ManagedEventSubscription [WHERE …]
/// [LIMIT n]`: the Tooling API's query, for this object.
pub async fn query(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    crate::rest::as_user(&org, &headers, |_| async {
        let q = params.get("q").map(String::as_str).unwrap_or_default();
        let query =
            bayou_soql::parse(q).map_err(|e| RestError::bad_request(e.code, e.describe(q)))?;
        if !query.object.is(OBJECT) {
            return Err(RestError::bad_request(
                "INVALID_TYPE",
                format!(
                    "sObject type '{}' is not supported by Bayou's Tooling API (only {OBJECT})",
                    query.object.name
                ),
            ));
        }
        let known = ["Id", "DeveloperName", "MasterLabel", "Metadata"];
        for field in query.select_fields() {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(field)) {
                return Err(RestError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{field}' on entity '{OBJECT}'"),
                ));
            }
        }
        let ctx = bayou_soql::EvalContext::at(bayou_protocol::time::now_millis());
        let version = version.trim_start_matches('v').to_owned();
        let select = query.select_fields();
        let limit = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let records: Vec<Value> = org
            .managed_subscriptions()
            .await?
            .iter()
            .filter(|s| {
                query
                    .condition
                    .as_ref()
                    .is_none_or(|c| bayou_soql::evaluate(c, &s.queryable(), &ctx))
            })
            .take(limit)
            .map(|s| s.record(&version, &select))
            .collect();
        let reply = json!({
            "size": records.len(),
            "totalSize": records.len(),
            "done": true,
            "queryLocator": null,
            "entityTypeName": OBJECT,
            "records": records,
        });
        Ok(Json(reply).into_response())
    })
    .await
}
