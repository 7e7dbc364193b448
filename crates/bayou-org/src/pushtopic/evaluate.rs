//! Where a PushTopic is evaluated against a record change: the operation, the WHERE clause,
//! then `NotifyForFields` for updates; what passes becomes the notification's `sobject` (the
//! SELECT fields, or only `Id` for a delete). `records/write.rs` calls this for every active
//! topic on the changed object, inside the write that stores the change.

use bayou_protocol::events::PushTopicEventType;
use bayou_soql::EvalContext;
use serde_json::{Map, Value};

use super::{Change, NotifyForFields, PushTopic};
use crate::records::field;

impl PushTopic {
    /// The `sobject` of the notification `change` causes, or `None` if it causes none.
    pub fn notification(&self, change: &Change<'_>, now_ms: i64) -> Option<Map<String, Value>> {
        if !self.active || !self.object.eq_ignore_ascii_case(change.object) {
            return None;
        }
        let wanted = match change.kind {
            PushTopicEventType::Created => self.notify_create,
            PushTopicEventType::Updated => self.notify_update,
            PushTopicEventType::Deleted => self.notify_delete,
            PushTopicEventType::Undeleted => self.notify_undelete,
        };
        if !wanted {
            return None;
        }
        if let Some(condition) = &self.query.condition {
            if !bayou_soql::evaluate(condition, change.fields, &EvalContext { now_ms }) {
                return None;
            }
        }
        if change.kind == PushTopicEventType::Updated && !self.fields_qualify(change.changed) {
            return None;
        }
        let mut sobject = Map::new();
        if change.kind == PushTopicEventType::Deleted {
            sobject.insert("Id".into(), Value::String(change.id.to_owned()));
            return Some(sobject);
        }
        for name in self.query.select_fields() {
            let value = field(change.fields, name).cloned().unwrap_or(Value::Null);
            sobject.insert(name.to_owned(), value);
        }
        Some(sobject)
    }

    fn fields_qualify(&self, changed: &[String]) -> bool {
        let in_list = |list: Vec<&str>| {
            changed.iter().any(|c| {
                list.iter()
                    .any(|f| f.eq_ignore_ascii_case(c) && !f.eq_ignore_ascii_case("Id"))
            })
        };
        match self.notify_for_fields {
            NotifyForFields::All => !changed.is_empty(),
            NotifyForFields::Select => in_list(self.query.select_fields()),
            NotifyForFields::Where => in_list(self.query.where_fields()),
            NotifyForFields::Referenced => {
                in_list(self.query.select_fields()) || in_list(self.query.where_fields())
            }
        }
    }
}
