//! A delivered event, and typed views of the four Salesforce payload shapes (reference §4).
//!
//! The event keeps its `data` as JSON so that any Bayeux server works; the typed helpers read
//! it on demand. Where the replay id lives differs by source: Salesforce events carry it in
//! `data.event.replayId`, events published over Bayeux to Bayou in `ext.replayId`.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// One event on a subscribed channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The channel it was delivered on (for a filtered PushTopic subscription, the
    /// subscription string itself).
    pub channel: String,
    /// The subscription it arrived through (what its replay id is stored under).
    pub subscription: String,
    /// `data` as received.
    pub data: Value,
    /// The replay id, if the server gave one.
    pub replay_id: Option<i64>,
    /// The whole message, `ext` included.
    pub message: Value,
}

impl Event {
    pub(crate) fn from_message(message: Value, subscription: String) -> Self {
        let channel = message
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = message.get("data").cloned().unwrap_or(Value::Null);
        let replay_id = replay_id_of(&message);
        Self {
            channel,
            subscription,
            data,
            replay_id,
            message,
        }
    }

    /// `data` as your own type.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }

    /// A PushTopic notification (`/topic/…`), with the selected fields as `S`.
    pub fn pushtopic<S: DeserializeOwned>(&self) -> Result<PushTopicEvent<S>, serde_json::Error> {
        self.data_as()
    }

    /// A generic streaming event (`/u/…`).
    pub fn generic(&self) -> Result<GenericEvent, serde_json::Error> {
        self.data_as()
    }

    /// A platform event (`/event/…__e`), with its fields as `P`.
    pub fn platform_event<P: DeserializeOwned>(
        &self,
    ) -> Result<PlatformEvent<P>, serde_json::Error> {
        self.data_as()
    }

    /// A Change Data Capture event (`/data/…`), with its payload as `P`.
    pub fn change_event<P: DeserializeOwned>(&self) -> Result<ChangeEvent<P>, serde_json::Error> {
        self.data_as()
    }
}

/// The replay id of a delivered message, wherever the server put it.
pub(crate) fn replay_id_of(message: &Value) -> Option<i64> {
    message
        .pointer("/data/event/replayId")
        .and_then(Value::as_i64)
        .or_else(|| message.pointer("/ext/replayId").and_then(Value::as_i64))
}

/// `data` of a PushTopic notification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushTopicEvent<S = Value> {
    pub event: PushTopicHeader,
    pub sobject: S,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushTopicHeader {
    #[serde(rename = "createdDate")]
    pub created_date: String,
    #[serde(rename = "replayId")]
    pub replay_id: i64,
    /// `created`, `updated`, `deleted` or `undeleted`.
    #[serde(rename = "type")]
    pub change_type: String,
}

/// `data` of a generic streaming event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GenericEvent {
    pub event: GenericHeader,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GenericHeader {
    #[serde(rename = "createdDate")]
    pub created_date: String,
    #[serde(rename = "replayId")]
    pub replay_id: i64,
}

/// `data` of a platform event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlatformEvent<P = Value> {
    pub schema: String,
    /// `CreatedDate`, `CreatedById` and the event's own fields.
    pub payload: P,
    pub event: PlatformEventHeader,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlatformEventHeader {
    /// Present from API version 52.0.
    #[serde(rename = "EventUuid", default)]
    pub event_uuid: Option<String>,
    #[serde(rename = "replayId")]
    pub replay_id: i64,
}

/// `data` of a Change Data Capture event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeEvent<P = Value> {
    pub schema: String,
    /// `ChangeEventHeader` and the changed fields.
    pub payload: P,
    pub event: ChangeEventMeta,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeEventMeta {
    #[serde(rename = "replayId")]
    pub replay_id: i64,
}

/// The `ChangeEventHeader` of a CDC payload, for `ChangeEvent<CdcPayload>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CdcPayload {
    #[serde(rename = "ChangeEventHeader")]
    pub header: ChangeEventHeader,
    /// The changed fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeEventHeader {
    #[serde(rename = "entityName")]
    pub entity_name: String,
    #[serde(rename = "changeType")]
    pub change_type: String,
    #[serde(rename = "recordIds", default)]
    pub record_ids: Vec<String>,
    #[serde(rename = "commitTimestamp", default)]
    pub commit_timestamp: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_salesforce_shapes() {
        let push = Event::from_message(
            json!({"channel":"/topic/T","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":13,"type":"created"},"sobject":{"Id":"001","Name":"A"}}}),
            "/topic/T".into(),
        );
        assert_eq!(push.replay_id, Some(13));
        let typed: PushTopicEvent = push.pushtopic().unwrap();
        assert_eq!(typed.event.change_type, "created");
        assert_eq!(typed.sobject["Name"], "A");

        let generic = Event::from_message(
            json!({"channel":"/u/S","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":55},"payload":"hi"}}),
            "/u/S".into(),
        );
        assert_eq!(generic.generic().unwrap().payload, "hi");

        let platform = Event::from_message(
            json!({"channel":"/event/Low_Ink__e","data":{"schema":"s","payload":{"Printer_Model__c":"XZO-5"},"event":{"EventUuid":"u","replayId":2}}}),
            "/event/Low_Ink__e".into(),
        );
        let typed: PlatformEvent = platform.platform_event().unwrap();
        assert_eq!(typed.event.event_uuid.as_deref(), Some("u"));

        let cdc = Event::from_message(
            json!({"channel":"/data/ChangeEvents","data":{"schema":"s","payload":{"ChangeEventHeader":{"entityName":"Account","changeType":"DELETE","recordIds":["001"]},"Name":"x"},"event":{"replayId":1480823}}}),
            "/data/ChangeEvents".into(),
        );
        let typed: ChangeEvent<CdcPayload> = cdc.change_event().unwrap();
        assert_eq!(typed.payload.header.change_type, "DELETE");
        assert_eq!(typed.payload.fields["Name"], "x");
        assert_eq!(cdc.replay_id, Some(1_480_823));
    }

    #[test]
    fn bayeux_published_events_carry_the_id_in_ext() {
        let event = Event::from_message(
            json!({"channel":"/chat/a","data":{"text":"hi"},"ext":{"replayId":42}}),
            "/chat/a".into(),
        );
        assert_eq!(event.replay_id, Some(42));
        let none = Event::from_message(json!({"channel":"/faye","data":1}), "/faye".into());
        assert_eq!(none.replay_id, None);
    }
}
