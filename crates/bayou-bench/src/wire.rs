//! The few Bayeux message shapes the bench reads, decoded without copying strings.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::payload::Stamp;
use crate::scan;

/// One message from the server: a meta reply, a publish reply or a delivery.
///
/// Read by [`crate::scan`] on the hot path; the serde derive is the reference it is tested
/// against and the fallback that explains what is wrong with a body the scanner cannot read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incoming<'a> {
    #[serde(borrow)]
    pub channel: Cow<'a, str>,
    #[serde(default)]
    pub successful: Option<bool>,
    #[serde(default, borrow, rename = "clientId")]
    pub client_id: Option<Cow<'a, str>>,
    /// The raw JSON text of `data`.
    #[serde(default, borrow, deserialize_with = "raw_json")]
    pub data: Option<&'a str>,
    /// The bench's stamp, when `data` is an object carrying one: read in the same pass as the
    /// message by the scanner, and from `data` by serde in the reference reading.
    #[serde(skip)]
    pub stamp: Option<Stamp>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub advice: Option<Advice<'a>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Advice<'a> {
    #[serde(default, borrow)]
    pub reconnect: Option<Cow<'a, str>>,
}

fn raw_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de str>, D::Error> {
    Option::<&'de RawValue>::deserialize(d).map(|raw| raw.map(RawValue::get))
}

impl Incoming<'_> {
    pub fn is_meta(&self) -> bool {
        self.channel.starts_with("/meta/")
    }

    /// A delivered message (not a reply): it has data and no `successful`.
    pub fn is_delivery(&self) -> bool {
        !self.is_meta() && self.successful.is_none() && self.data.is_some()
    }

    pub fn error_text(&self) -> String {
        self.error
            .as_deref()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{} unsuccessful", self.channel))
    }
}

/// Decodes a response body or frame: a JSON array of messages (or, leniently, one object).
pub fn decode(body: &[u8]) -> Result<Vec<Incoming<'_>>, String> {
    scan::messages(body).or_else(|_| decode_with_serde(body))
}

/// Hands each message of a body to `visit` without collecting them (the hot path: see
/// [`scan::each_message`]). When the scanner stops on a body, serde reads it for the error
/// message; should serde read a body the scanner refused at its first message, its messages
/// are visited instead, so no reading is lost to a scanner fault.
pub fn decode_each<'a>(body: &'a [u8], mut visit: impl FnMut(&Incoming<'a>)) -> Result<(), String> {
    let mut visited = 0_usize;
    let Err(stopped) = scan::each_message(body, |message| {
        visited += 1;
        visit(message);
    }) else {
        return Ok(());
    };
    let messages = decode_with_serde(body)?;
    if visited > 0 {
        return Err(format!(
            "the scanner stopped at byte {} of a body serde_json reads",
            stopped.0
        ));
    }
    messages.iter().for_each(visit);
    Ok(())
}

/// The same reading by serde_json: slower, with an error message that says what is wrong.
pub fn decode_with_serde(body: &[u8]) -> Result<Vec<Incoming<'_>>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let mut messages = if first == Some(&b'{') {
        serde_json::from_slice::<Incoming>(body)
            .map(|m| vec![m])
            .map_err(|e| e.to_string())?
    } else {
        serde_json::from_slice::<Vec<Incoming>>(body).map_err(|e| {
            let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            format!("{e}: {shown}")
        })?
    };
    for message in &mut messages {
        // Only an object is a stamp (serde would also read a four-element array as one).
        message.stamp = message
            .data
            .filter(|data| data.starts_with('{'))
            .and_then(|data| serde_json::from_str(data).ok());
    }
    Ok(messages)
}

/// JSON string escaping for channel names and ids we put into messages by hand.
pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

pub fn handshake(connection_types: &[&str]) -> String {
    let types: Vec<String> = connection_types.iter().map(|t| quote(t)).collect();
    format!(
        "[{{\"channel\":\"/meta/handshake\",\"version\":\"{}\",\"minimumVersion\":\"1.0\",\"supportedConnectionTypes\":[{}],\"id\":\"1\"}}]",
        bayou_protocol::BAYEUX_VERSION,
        types.join(",")
    )
}

pub fn connect(client_id: &str, connection_type: &str, id: u64) -> String {
    format!(
        "{}{id}{CONNECT_SUFFIX}",
        connect_prefix(client_id, connection_type)
    )
}

/// A connect message up to its id's number: [`connect`] is this, the number, and
/// [`CONNECT_SUFFIX`] (so a session can write each connect without building it anew).
pub fn connect_prefix(client_id: &str, connection_type: &str) -> String {
    format!(
        "[{{\"channel\":\"/meta/connect\",\"clientId\":{},\"connectionType\":{},\"id\":\"c",
        quote(client_id),
        quote(connection_type)
    )
}

pub const CONNECT_SUFFIX: &str = "\"}]";

pub fn subscribe(client_id: &str, channels: &[String]) -> String {
    let messages: Vec<String> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{{\"channel\":\"/meta/subscribe\",\"clientId\":{},\"subscription\":{},\"id\":\"s{i}\"}}",
                quote(client_id),
                quote(c)
            )
        })
        .collect();
    format!("[{}]", messages.join(","))
}

pub fn disconnect(client_id: &str) -> String {
    format!(
        "[{{\"channel\":\"/meta/disconnect\",\"clientId\":{},\"id\":\"d\"}}]",
        quote(client_id)
    )
}

/// One publish request: several messages to one channel (a batch), in one array.
pub fn publish(client_id: &str, channel: &str, datas: &[String], first_id: u64) -> String {
    let client_id = quote(client_id);
    let channel = quote(channel);
    let mut out = String::with_capacity(datas.iter().map(|d| d.len() + 80).sum::<usize>() + 2);
    out.push('[');
    for (i, data) in datas.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"channel\":{channel},\"clientId\":{client_id},\"data\":{data},\"id\":\"p{}\"}}",
            first_id + i as u64
        ));
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_deliveries_from_replies() {
        let body = br#"[{"channel":"/chat/1","data":{"p":1},"id":"9"},
                        {"channel":"/chat/1","successful":true,"id":"p1"},
                        {"channel":"/meta/connect","successful":false,"error":"403::Unknown client","advice":{"reconnect":"handshake"}}]"#;
        let messages = decode(body).unwrap();
        assert!(messages[0].is_delivery());
        assert!(!messages[1].is_delivery());
        assert!(messages[2].is_meta());
        assert_eq!(messages[2].error_text(), "403::Unknown client");
        assert_eq!(
            messages[2].advice.as_ref().unwrap().reconnect.as_deref(),
            Some("handshake")
        );
        assert!(decode(b"<html>").is_err());
    }

    #[test]
    fn built_messages_are_json() {
        let p = publish(
            "abc",
            "/chat/1",
            &["{\"a\":1}".into(), "{\"b\":2}".into()],
            7,
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v[1]["id"], "p8");
        assert_eq!(v[1]["data"]["b"], 2);
        let s: serde_json::Value =
            serde_json::from_str(&subscribe("abc", &["/a".into(), "/b".into()])).unwrap();
        assert_eq!(s[1]["subscription"], "/b");
        let _: serde_json::Value = serde_json::from_str(&handshake(&["websocket"])).unwrap();
        let _: serde_json::Value = serde_json::from_str(&connect("a", "long-polling", 3)).unwrap();
        let _: serde_json::Value = serde_json::from_str(&disconnect("a")).unwrap();
    }
}
