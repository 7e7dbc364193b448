//! Creating, updating and deleting records — and the events those changes cause.
//!
//! One change at a time (a write lock serialises read-modify-write): the old record is read,
//! the new one computed, every active PushTopic on the object evaluated, change events built
//! when the object is selected for Change Data Capture, and the record write and all the
//! resulting events go to the log in **one atomic batch**. The REST reply is sent once
//! that batch is durable, so an acknowledged change and its notifications survive a crash
//! together or not at all.
//!
//! In a cluster, a write first catches up with what the other nodes had written when it was
//! made ([`Org::settle_records`]): a PushTopic created through node A a moment ago fires for an
//! Account created through node B, and a record created through A can be updated through B at
//! once. It costs one NATS request, shared by the writes waiting together.
//!
//! The write lock is one node's. Two nodes changing one record at once would each compute the
//! new record from the one they read, and the later write would undo the earlier one's
//! fields. So an update, delete or undelete names the version of the record it read
//! ([`bayou_log::RecordWrite::expected_version`]): a shared store refuses the whole batch if
//! the record changed since, and the change is made again from a fresh read. Salesforce
//! serialises writers with a row lock the same way, and the one that waits past 10 s gets
//! `UNABLE_TO_LOCK_ROW`.

use std::sync::Arc;
use std::time::Duration;

use bayou_log::{LogError, NewEvent, RecordWrite};
use bayou_protocol::events::{encode_pushtopic_event, PushTopicEventType};
use bayou_protocol::time::{iso8601_millis, now_millis};
use serde_json::{Map, Value};

use crate::cdc::event::CapturedChange;
use crate::ids::new_id;
use crate::pushtopic::{Change, PushTopic};
use crate::records::{self, field, identity_objects, objects, Fields, SYSTEM_FIELDS};
use crate::rest::errors::RestError;
use crate::streaming_channel::StreamingChannel;
use crate::transaction::Transaction;
use crate::Org;

/// Checks the fields a client sent: names, no system fields, scalar values.
///
/// Public only so that the `rest_json` fuzz target (`fuzz/`) can run it on any body.
pub fn check_input(fields: &Fields) -> Result<(), RestError> {
    for (name, value) in fields {
        if name.eq_ignore_ascii_case("Id") {
            return Err(RestError::bad_request(
                "INVALID_FIELD",
                "The Id field should not be specified in the sobject data.",
            ));
        }
        if SYSTEM_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(RestError::bad_request(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!("Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."),
            )
            .on_fields(&[name]));
        }
        if !objects::valid_field_name(name) {
            return Err(RestError::bad_request(
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject"),
            )
            .on_fields(&[name]));
        }
        match value {
            Value::Object(_) | Value::Array(_) => {
                return Err(RestError::bad_request(
                    "JSON_PARSER_ERROR",
                    format!("Cannot deserialize instance of {name} from a JSON object or array"),
                )
                .on_fields(&[name]))
            }
            Value::String(s) if s.len() > 131_072 => {
                return Err(RestError::bad_request(
                    "STRING_TOO_LONG",
                    format!("{name}: data value too large (max length=131072)"),
                )
                .on_fields(&[name]))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Stores the defaults Salesforce gives a PushTopic's optional fields, so they read back.
///
/// Public only so that the `rest_json` fuzz target (`fuzz/`) can validate a PushTopic body as
/// a create does.
pub fn apply_pushtopic_defaults(fields: &mut Fields) {
    let defaults = [
        ("NotifyForOperationCreate", Value::Bool(true)),
        ("NotifyForOperationUpdate", Value::Bool(true)),
        ("NotifyForOperationDelete", Value::Bool(true)),
        ("NotifyForOperationUndelete", Value::Bool(true)),
        ("NotifyForFields", Value::String("Referenced".into())),
        ("IsActive", Value::Bool(true)),
    ];
    for (name, value) in defaults {
        if field(fields, name).is_none_or(Value::is_null) {
            let name = records::canonical_name(fields, name);
            fields.insert(name, value);
        }
    }
}

/// The 18-character form of an id from a URL, or the 404 Salesforce answers.
fn full_id(id: &str) -> Result<String, RestError> {
    crate::ids::to_18(id).ok_or_else(|| {
        RestError::new(
            axum::http::StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {id}"),
        )
    })
}

impl Org {
    /// Creates a record; returns its id.
    pub async fn create_record(
        &self,
        object: &str,
        input: Fields,
        txn: &Transaction,
    ) -> Result<String, RestError> {
        let user_id = txn.user_id.as_str();
        let (object, prefix) = self.object(object).ok_or_else(RestError::not_found)?;
        identity_objects::refuse_write(&object, "inserted")?;
        check_input(&input)?;
        self.settle_records().await;
        let _writing = self.writes.lock().await;
        let id = new_id(&prefix);
        let now = iso8601_millis(now_millis());
        let mut fields = Map::new();
        fields.insert("Id".into(), Value::String(id.clone()));
        for (name, value) in input {
            fields.insert(name, value);
        }
        for (name, value) in [
            ("CreatedDate", now.clone()),
            ("CreatedById", user_id.to_owned()),
            ("LastModifiedDate", now.clone()),
            ("LastModifiedById", user_id.to_owned()),
            ("SystemModstamp", now),
        ] {
            fields.insert(name.into(), Value::String(value));
        }
        fields.insert("IsDeleted".into(), Value::Bool(false));
        if object == "PushTopic" {
            apply_pushtopic_defaults(&mut fields);
        }
        self.check_types(&object, &fields)?;
        let written = self.written_for(&object, &id, &fields)?;
        let change = Change {
            kind: PushTopicEventType::Created,
            object: &object,
            id: &id,
            fields: &fields,
            changed: &[],
        };
        // A new id: nothing to have read, so no version to name.
        self.commit(change, txn, written, false, None)
            .await
            .map_err(NotCommitted::into_rest)?;
        Ok(id)
    }

    /// Updates fields of a record.
    pub async fn update_record(
        &self,
        object: &str,
        id: &str,
        input: Fields,
        txn: &Transaction,
    ) -> Result<(), RestError> {
        let (object, _) = self.object(object).ok_or_else(RestError::not_found)?;
        identity_objects::refuse_write(&object, "updated")?;
        let id = &full_id(id)?;
        check_input(&input)?;
        self.change_record(&object, id, txn, Edit::Update(&input))
            .await
    }

    /// Deletes a record (to the recycle bin: it stays stored with `IsDeleted`).
    pub async fn delete_record(
        &self,
        object: &str,
        id: &str,
        txn: &Transaction,
    ) -> Result<(), RestError> {
        let (object, _) = self.object(object).ok_or_else(RestError::not_found)?;
        identity_objects::refuse_write(&object, "deleted")?;
        let id = &full_id(id)?;
        self.change_record(&object, id, txn, Edit::Delete).await
    }

    /// Restores a deleted record from the recycle bin.
    pub async fn undelete_record(
        &self,
        object: &str,
        id: &str,
        txn: &Transaction,
    ) -> Result<(), RestError> {
        let (object, _) = self.object(object).ok_or_else(RestError::not_found)?;
        identity_objects::refuse_write(&object, "undeleted")?;
        let id = &full_id(id)?;
        self.change_record(&object, id, txn, Edit::Undelete).await
    }

    /// Reads a record, applies `edit` and commits, naming the version it read: when another
    /// node changed the record meanwhile, the commit is refused whole and the edit is applied
    /// again to the newer record after catching up with the cluster. Salesforce makes a
    /// second writer wait for the row lock up to [`LOCK_WAIT`] and then answers
    /// `UNABLE_TO_LOCK_ROW`; so does this.
    async fn change_record(
        &self,
        object: &str,
        id: &str,
        txn: &Transaction,
        edit: Edit<'_>,
    ) -> Result<(), RestError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut retries = 0_u64;
        loop {
            if retries > 0 {
                // Nodes that keep losing to each other do not retry in step.
                let most = retries.saturating_mul(2).min(50);
                tokio::time::sleep(Duration::from_millis(rand::random_range(0..=most))).await;
            }
            self.settle_records().await;
            let _writing = self.writes.lock().await;
            let read = self
                .store
                .versioned_record(&records::key(object, id))
                .await
                .map_err(|e| RestError::internal(e.to_string()))?;
            let stored: Fields = match &read.value {
                Some(stored) => serde_json::from_slice(stored)
                    .map_err(|e| RestError::internal(e.to_string()))?,
                None => return Err(RestError::not_found()),
            };
            let edited = self.edit(object, id, stored, txn, &edit)?;
            let change = Change {
                kind: edited.kind,
                object,
                id,
                fields: &edited.fields,
                changed: &edited.changed,
            };
            let committed = self
                .commit(
                    change,
                    txn,
                    edited.written,
                    edited.modifier_changed,
                    read.version,
                )
                .await;
            match committed {
                Ok(()) => return Ok(()),
                Err(NotCommitted::Refused(e)) => return Err(e),
                Err(NotCommitted::Stale) if tokio::time::Instant::now() < deadline => {
                    metrics::counter!("bayou_record_write_retries_total").increment(1);
                    retries += 1;
                }
                Err(NotCommitted::Stale) => return Err(unable_to_lock_row(id)),
            }
        }
    }

    /// The record after `edit`, from the record as stored.
    fn edit(
        &self,
        object: &str,
        id: &str,
        mut fields: Fields,
        txn: &Transaction,
        edit: &Edit<'_>,
    ) -> Result<Edited, RestError> {
        let deleted = field(&fields, "IsDeleted") == Some(&Value::Bool(true));
        let kind = match edit {
            Edit::Update(_) | Edit::Delete if deleted => {
                return Err(RestError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "ENTITY_IS_DELETED",
                    "entity is deleted",
                ))
            }
            Edit::Undelete if !deleted => {
                return Err(RestError::bad_request(
                    "UNDELETE_FAILED",
                    "Entity is not in the recycle bin",
                ))
            }
            Edit::Update(_) => PushTopicEventType::Updated,
            Edit::Delete => PushTopicEventType::Deleted,
            Edit::Undelete => PushTopicEventType::Undeleted,
        };
        let mut changed = Vec::new();
        let mut modifier_changed = false;
        match edit {
            Edit::Update(input) => {
                let user_id = txn.user_id.as_str();
                for (name, value) in *input {
                    let name = records::canonical_name(&fields, name);
                    // An absent field reads as null: setting it to null changes nothing.
                    if fields.get(&name).unwrap_or(&Value::Null) != value {
                        changed.push(name.clone());
                    }
                    fields.insert(name, value.clone());
                }
                modifier_changed = field(&fields, "LastModifiedById")
                    .and_then(Value::as_str)
                    .is_some_and(|previous| previous != user_id);
                let now = iso8601_millis(now_millis());
                fields.insert("LastModifiedDate".into(), Value::String(now.clone()));
                fields.insert("LastModifiedById".into(), Value::String(user_id.to_owned()));
                fields.insert("SystemModstamp".into(), Value::String(now));
                self.check_types(object, &fields)?;
            }
            Edit::Delete => {
                fields.insert("IsDeleted".into(), Value::Bool(true));
            }
            Edit::Undelete => {
                fields.insert("IsDeleted".into(), Value::Bool(false));
            }
        }
        let written = match edit {
            Edit::Delete => Written::Other,
            Edit::Update(_) | Edit::Undelete => self.written_for(object, id, &fields)?,
        };
        Ok(Edited {
            kind,
            fields,
            changed,
            modifier_changed,
            written,
        })
    }

    /// A stored record, deleted or not.
    async fn stored_record(&self, object: &str, id: &str) -> Result<Fields, RestError> {
        let stored = self
            .store
            .record(&records::key(object, id))
            .await
            .map_err(|e| RestError::internal(e.to_string()))?
            .ok_or_else(RestError::not_found)?;
        serde_json::from_slice(&stored).map_err(|e| RestError::internal(e.to_string()))
    }

    /// A stored record that is not deleted.
    pub async fn live_record(&self, object: &str, id: &str) -> Result<Fields, RestError> {
        if identity_objects::is_identity_object(object) {
            return identity_objects::record(self, object, id).ok_or_else(RestError::not_found);
        }
        let fields = self.stored_record(object, &full_id(id)?).await?;
        if field(&fields, "IsDeleted") == Some(&Value::Bool(true)) {
            return Err(RestError::new(
                axum::http::StatusCode::NOT_FOUND,
                "ENTITY_IS_DELETED",
                "entity is deleted",
            ));
        }
        Ok(fields)
    }

    fn check_types(&self, object: &str, fields: &Fields) -> Result<(), RestError> {
        self.schema.read().check(object, fields)
    }

    /// For a PushTopic record, the parsed topic (validated, name unique).
    fn topic_for(
        &self,
        object: &str,
        id: &str,
        fields: &Fields,
    ) -> Result<Option<PushTopic>, RestError> {
        if object != "PushTopic" {
            return Ok(None);
        }
        let topics = self.topics();
        let is_new = !topics.iter().any(|t| t.id == id);
        check_allocation(
            self.config.max_push_topics,
            is_new,
            topics.len(),
            "PushTopics",
        )?;
        let topic = PushTopic::from_record(id, fields)?;
        if let Some(other) = topics.iter().find(|t| t.name == topic.name && t.id != id) {
            return Err(duplicate_name(&other.id));
        }
        Ok(Some(topic))
    }

    /// For a record that configures streaming (a PushTopic or a StreamingChannel): the parsed,
    /// validated form, so the in-memory state follows the write.
    fn written_for(&self, object: &str, id: &str, fields: &Fields) -> Result<Written, RestError> {
        if let Some(topic) = self.topic_for(object, id, fields)? {
            return Ok(Written::Topic(Box::new(topic)));
        }
        if let Some(channel) = self.channel_for(object, id, fields)? {
            return Ok(Written::Channel(channel));
        }
        Ok(Written::Other)
    }

    /// The PushTopic notifications of a change.
    fn topic_events(&self, change: &Change<'_>, now: i64) -> Vec<NewEvent> {
        let kind = change.kind;
        self.topics()
            .iter()
            .filter_map(|t| {
                let sobject = t.notification(change, now)?;
                // Serialized once here; the encoder only wraps it.
                Some((t.channel(), serde_json::value::to_raw_value(&sobject).ok()?))
            })
            .map(|(channel, sobject)| {
                NewEvent::new(
                    channel.clone(),
                    Box::new(move |replay_id, created_ms| {
                        encode_pushtopic_event(&channel, kind, &sobject, replay_id, created_ms)
                    }),
                )
            })
            .collect()
    }

    /// The change events of a change, when its object is selected for Change Data Capture:
    /// one on `/data/ChangeEvents` and one on the object's channel, sharing one payload.
    fn change_events(
        &self,
        change: &Change<'_>,
        txn: &Transaction,
        now: i64,
        modifier_changed: bool,
    ) -> Result<(Vec<NewEvent>, Option<crate::cdc::ChangeSchema>), RestError> {
        if !self.captures_changes(change.object) {
            return Ok((Vec::new(), None));
        }
        let captured = CapturedChange {
            object: change.object,
            id: change.id,
            kind: change.kind,
            fields: change.fields,
            changed: change.changed,
            modifier_changed,
            commit_number: self.next_commit_number(),
            commit_ms: now,
        };
        let payload = crate::cdc::event::payload(&captured, txn);
        let payload: std::sync::Arc<serde_json::value::RawValue> =
            serde_json::value::to_raw_value(&payload)
                .map_err(|e| RestError::internal(e.to_string()))?
                .into();
        let schema = self.change_schema(change.object, Some(change.fields))?;
        let events = crate::cdc::events_of(change.object, &schema.schema.id, payload);
        Ok((events, Some(schema)))
    }

    /// Writes the record and every event its change causes atomically, then updates the
    /// in-memory PushTopics and StreamingChannels.
    /// `modifier_changed`: an update by another user than the last one (Change Data Capture
    /// reports `LastModifiedById` then).
    /// `expected_version`: the version of the record the change was computed from, when it
    /// was read first ([`NotCommitted::Stale`] if it is no longer the newest).
    async fn commit(
        &self,
        change: Change<'_>,
        txn: &Transaction,
        written: Written,
        modifier_changed: bool,
        expected_version: Option<u64>,
    ) -> Result<(), NotCommitted> {
        let now = now_millis();
        let mut events = self.topic_events(&change, now);
        let (change_events, change_schema) =
            self.change_events(&change, txn, now, modifier_changed)?;
        events.extend(change_events);
        let value =
            serde_json::to_vec(change.fields).map_err(|e| RestError::internal(e.to_string()))?;
        let mut writes = vec![RecordWrite {
            key: records::key(change.object, change.id),
            value: Some(value),
            expected_version,
        }];
        writes.extend(change_schema.as_ref().and_then(|s| s.write.clone()));
        self.store
            .append_with_records(events, writes)
            .await
            .map_err(|e| match e {
                LogError::Conflict(_) => NotCommitted::Stale,
                e => NotCommitted::Refused(RestError::storage("the change", &e)),
            })?;
        if let Some(schema) = change_schema {
            self.event_schemas.remember(schema.schema);
        }
        self.schema.write().learn(change.object, change.fields);
        let deleted = change.kind == PushTopicEventType::Deleted;
        match change.object {
            "PushTopic" => {
                let mut topics = self.topics.write();
                topics.retain(|t| t.id != change.id);
                if let (Written::Topic(topic), false) = (written, deleted) {
                    topics.push(Arc::new(*topic));
                }
            }
            "StreamingChannel" => {
                let channel = match written {
                    Written::Channel(channel) if !deleted => Some(channel),
                    _ => None,
                };
                self.channel_written(change.id, channel);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The error for one record more than the org's allocation of `what` allows.
pub(crate) fn check_allocation(
    max: Option<usize>,
    is_new: bool,
    existing: usize,
    what: &str,
) -> Result<(), RestError> {
    match max.filter(|max| is_new && existing >= *max) {
        Some(max) => Err(RestError::bad_request(
            "LIMIT_EXCEEDED",
            format!("The organization already has the maximum of {max} {what}"),
        )),
        None => Ok(()),
    }
}

/// The error for a `Name` another record of the object already has.
pub(crate) fn duplicate_name(other_id: &str) -> RestError {
    RestError::bad_request(
        "DUPLICATE_VALUE",
        format!("duplicate value found: Name duplicates value on record with id: {other_id}"),
    )
    .on_fields(&["Name"])
}

/// How long a record write waits for a record that other nodes keep changing (Salesforce waits
/// up to 10 s for a row lock), retrying from a fresh read, before `UNABLE_TO_LOCK_ROW`.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Salesforce's error for a record it could not lock in time.
fn unable_to_lock_row(id: &str) -> RestError {
    RestError::bad_request(
        "UNABLE_TO_LOCK_ROW",
        format!("unable to obtain exclusive access to this record or 1 records: {id}"),
    )
}

/// A change to an existing record.
enum Edit<'a> {
    Update(&'a Fields),
    Delete,
    Undelete,
}

/// A record after an [`Edit`], and what its commit needs.
struct Edited {
    kind: PushTopicEventType,
    fields: Fields,
    /// Fields whose value changed (updates).
    changed: Vec<String>,
    /// An update by another user than the last one.
    modifier_changed: bool,
    written: Written,
}

/// Why a commit stored nothing.
enum NotCommitted {
    /// The change is refused, or could not be stored: the client is told.
    Refused(RestError),
    /// The record changed on another node after it was read: read it again and redo the edit.
    Stale,
}

impl NotCommitted {
    /// For a write that read nothing, so cannot be stale.
    fn into_rest(self) -> RestError {
        match self {
            NotCommitted::Refused(e) => e,
            NotCommitted::Stale => RestError::internal("a new record's key was already written"),
        }
    }
}

impl From<RestError> for NotCommitted {
    fn from(e: RestError) -> Self {
        NotCommitted::Refused(e)
    }
}

/// What a written record configures.
enum Written {
    Topic(Box<PushTopic>),
    Channel(StreamingChannel),
    Other,
}
