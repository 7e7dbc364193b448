//! The Salesforce event shapes, encoded once with their replay id (reference §4).
//!
//! | Kind | `data` |
//! |---|---|
//! | PushTopic | `{"event":{"createdDate","replayId","type"},"sobject":{…}}` |
//! | Generic streaming | `{"event":{"createdDate","replayId"},"payload":"…"}` |
//! | Platform event | `{"schema","payload":{…},"event":{"EventUuid","replayId"}}` |
//! | Change Data Capture | `{"schema","payload":{…},"event":{"replayId"}}` |
//!
//! The caller passes the parts it owns (`sobject`, `payload`) as raw JSON, so they are copied
//! into the event without being parsed again. Bayeux-published events use
//! [`encode_bayeux_event`](crate::reply::encode_bayeux_event) instead.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::time::iso8601_millis;

/// A PushTopic notification's `event.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushTopicEventType {
    Created,
    Updated,
    Deleted,
    Undeleted,
}

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    channel: &'a str,
    data: D,
}

fn encode<D: Serialize>(channel: &str, data: D, hint: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(channel.len() + hint + 96).writer();
    serde_json::to_writer(&mut out, &Envelope { channel, data }).unwrap_or_default();
    out.into_inner().freeze()
}

/// `/topic/<Name>`: `sobject` holds the selected fields (only `Id` for a delete).
pub fn encode_pushtopic_event(
    channel: &str,
    event_type: PushTopicEventType,
    sobject: &RawValue,
    replay_id: u64,
    created_ms: i64,
) -> Bytes {
    #[derive(Serialize)]
    struct Event<'a> {
        #[serde(rename = "createdDate")]
        created_date: &'a str,
        #[serde(rename = "replayId")]
        replay_id: u64,
        #[serde(rename = "type")]
        event_type: PushTopicEventType,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        event: Event<'a>,
        sobject: &'a RawValue,
    }
    let created_date = iso8601_millis(created_ms);
    let data = Data {
        event: Event {
            created_date: &created_date,
            replay_id,
            event_type,
        },
        sobject,
    };
    encode(channel, data, sobject.get().len())
}

/// `/u/<Name>`: `payload` is the pushed string.
pub fn encode_generic_event(
    channel: &str,
    payload: &str,
    replay_id: u64,
    created_ms: i64,
) -> Bytes {
    #[derive(Serialize)]
    struct Event<'a> {
        #[serde(rename = "createdDate")]
        created_date: &'a str,
        #[serde(rename = "replayId")]
        replay_id: u64,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        event: Event<'a>,
        payload: &'a str,
    }
    let created_date = iso8601_millis(created_ms);
    let data = Data {
        event: Event {
            created_date: &created_date,
            replay_id,
        },
        payload,
    };
    encode(channel, data, payload.len())
}

/// `/event/<Name>__e`: `payload` holds `CreatedDate`, `CreatedById` and the event's fields.
pub fn encode_platform_event(
    channel: &str,
    schema: &str,
    payload: &RawValue,
    event_uuid: &str,
    replay_id: u64,
) -> Bytes {
    #[derive(Serialize)]
    struct Event<'a> {
        #[serde(rename = "EventUuid")]
        event_uuid: &'a str,
        #[serde(rename = "replayId")]
        replay_id: u64,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        schema: &'a str,
        payload: &'a RawValue,
        event: Event<'a>,
    }
    let data = Data {
        schema,
        payload,
        event: Event {
            event_uuid,
            replay_id,
        },
    };
    encode(channel, data, payload.get().len())
}

/// `/data/…`: `payload` holds the `ChangeEventHeader` and the changed fields.
pub fn encode_change_event(
    channel: &str,
    schema: &str,
    payload: &RawValue,
    replay_id: u64,
) -> Bytes {
    #[derive(Serialize)]
    struct Event {
        #[serde(rename = "replayId")]
        replay_id: u64,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        schema: &'a str,
        payload: &'a RawValue,
        event: Event,
    }
    let data = Data {
        schema,
        payload,
        event: Event { replay_id },
    };
    encode(channel, data, payload.get().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn text(bytes: &Bytes) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    const CREATED: i64 = 1_459_269_608_208; // 2016-03-29T16:40:08.208Z

    #[test]
    fn pushtopic_shape() {
        let sobject = raw(r#"{"Website":null,"Id":"001D000000KnaXjIAJ","Name":"TicTacToe"}"#);
        let bytes = encode_pushtopic_event(
            "/topic/TestAccountStreaming",
            PushTopicEventType::Created,
            &sobject,
            13,
            CREATED,
        );
        assert_eq!(
            text(&bytes),
            r#"{"channel":"/topic/TestAccountStreaming","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":13,"type":"created"},"sobject":{"Website":null,"Id":"001D000000KnaXjIAJ","Name":"TicTacToe"}}}"#
        );
    }

    #[test]
    fn generic_shape() {
        let bytes = encode_generic_event("/u/TestStreaming", "This is a message.", 55, CREATED);
        assert_eq!(
            text(&bytes),
            r#"{"channel":"/u/TestStreaming","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":55},"payload":"This is a message."}}"#
        );
    }

    #[test]
    fn platform_event_shape() {
        let payload = raw(
            r#"{"CreatedDate":"2017-04-09T18:31:40.517Z","CreatedById":"005D0000001cSZs","Printer_Model__c":"XZO-5"}"#,
        );
        let bytes = encode_platform_event(
            "/event/Low_Ink__e",
            "dffQ2QLzDNHqwB8_sHMxdA",
            &payload,
            "2ec0e371-1395-457f-9275-be1b527a72f7",
            2,
        );
        assert_eq!(
            text(&bytes),
            r#"{"channel":"/event/Low_Ink__e","data":{"schema":"dffQ2QLzDNHqwB8_sHMxdA","payload":{"CreatedDate":"2017-04-09T18:31:40.517Z","CreatedById":"005D0000001cSZs","Printer_Model__c":"XZO-5"},"event":{"EventUuid":"2ec0e371-1395-457f-9275-be1b527a72f7","replayId":2}}}"#
        );
    }

    #[test]
    fn change_event_shape() {
        let payload = raw(
            r#"{"ChangeEventHeader":{"entityName":"Account","changeType":"DELETE","recordIds":["001xx"]}}"#,
        );
        let bytes = encode_change_event(
            "/data/ChangeEvents",
            "-pszPCNGMHqUPU1ftkjxEA",
            &payload,
            1_480_823,
        );
        assert_eq!(
            text(&bytes),
            r#"{"channel":"/data/ChangeEvents","data":{"schema":"-pszPCNGMHqUPU1ftkjxEA","payload":{"ChangeEventHeader":{"entityName":"Account","changeType":"DELETE","recordIds":["001xx"]}},"event":{"replayId":1480823}}}"#
        );
    }
}
