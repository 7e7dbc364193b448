//! The delivery filter of a filtered PushTopic subscription
//! (`/topic/Name?Industry='Energy'&ShippingCity='Paris'`): what the engine calls for every event
//! such a subscription matches. The filter text is read by `bayou_soql`'s subscription filter;
//! this file checks it against the topic and applies it to events.
//!
//! `&` means OR, every filter field must be one the topic selects, and a delivered message's
//! channel is the whole subscription as written (with its filter) — which is how clients such
//! as EMP-Connector tell filtered subscriptions apart. The shared event bytes are therefore
//! re-encoded for each filtered subscription an event passes; unfiltered subscribers keep
//! sharing one buffer.

use bayou_protocol::time::now_millis;
use bayou_server::policy::{DeliveryFilter, Denial};
use bayou_soql::{EvalContext, Literal};
use bytes::Bytes;
use serde_json::Value;

use super::PushTopic;

/// What a filtered subscription lets through.
#[derive(Debug)]
pub struct TopicFilter {
    /// The subscription as written: the channel of delivered messages.
    channel: String,
    conditions: Vec<(String, Literal)>,
}

impl TopicFilter {
    /// Parses `filter` (the text after `?`) for `topic`, checking its fields are selected.
    pub fn new(raw: &str, filter: &str, topic: &PushTopic) -> Result<Self, Denial> {
        let conditions =
            bayou_soql::parse_subscription_filter(filter).map_err(|e| Denial::InvalidFilter {
                filter: filter.to_owned(),
                why: e.message,
            })?;
        let missing: Vec<String> = conditions
            .iter()
            .map(|(field, _)| field.as_str())
            .filter(|field| !topic.query.selects(field))
            .map(str::to_owned)
            .collect();
        if !missing.is_empty() {
            return Err(Denial::FilterFieldsNotSelected(missing));
        }
        Ok(Self {
            channel: raw.to_owned(),
            conditions,
        })
    }
}

impl DeliveryFilter for TopicFilter {
    fn deliver(&self, event: &[u8]) -> Option<Bytes> {
        let mut message: Value = serde_json::from_slice(event).ok()?;
        let sobject = message.get("data")?.get("sobject")?.as_object()?;
        let ctx = EvalContext {
            now_ms: now_millis(),
        };
        if !bayou_soql::filter_matches(&self.conditions, sobject, &ctx) {
            return None;
        }
        *message.get_mut("channel")? = Value::String(self.channel.clone());
        serde_json::to_vec(&message).ok().map(Bytes::from)
    }
}
