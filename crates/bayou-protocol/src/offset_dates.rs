//! `createdDate` as API versions before 37.0 wrote it: `2013-05-10T18:16:19.000+0000`, where
//! later versions write `…19.000Z`. Events are encoded once, in today's form; a session on an
//! older version gets its copy rewritten when it is sent.

use bytes::Bytes;
use serde_json::Value;

/// `event` with `data.event.createdDate` ending `+0000` instead of `Z`; `None` when it has no
/// such date (platform events, Change Data Capture, plain Bayeux messages).
pub fn with_offset_created_date(event: &[u8]) -> Option<Bytes> {
    let mut message: Value = serde_json::from_slice(event).ok()?;
    let date = message
        .get_mut("data")?
        .get_mut("event")?
        .get_mut("createdDate")?;
    let text = date.as_str()?.strip_suffix('Z')?;
    *date = Value::String(format!("{text}+0000"));
    serde_json::to_vec(&message).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_created_date_only() {
        let event = br#"{"channel":"/topic/T","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":13,"type":"created"},"sobject":{"CreatedDate":"2016-03-29T16:40:08.208Z"}}}"#;
        let out: Value = serde_json::from_slice(&with_offset_created_date(event).unwrap()).unwrap();
        assert_eq!(
            out["data"]["event"]["createdDate"],
            "2016-03-29T16:40:08.208+0000"
        );
        assert_eq!(
            out["data"]["sobject"]["CreatedDate"],
            "2016-03-29T16:40:08.208Z"
        );
        let platform = br#"{"channel":"/event/E__e","data":{"payload":{},"event":{"replayId":2}}}"#;
        assert!(with_offset_created_date(platform).is_none());
    }
}
