//! The delivery filter of a filtered PushTopic subscription
//! (`/topic/Name?Industry='Energy'&ShippingCity='Paris'`): what the engine calls for every event
//! such a subscription matches. The filter text is read by `bayou_soql`'s subscription filter;
//! this file checks it against the topic and applies it to events.
//!
//! `&` means OR, every filter field must be one the topic selects, and a delivered message's
//! channel is the whole subscription as written (with its filter) — which is how clients such
//! as EMP-Connector tell filtered subscriptions apart. The filter only names that channel: the
//! engine queues the shared event with it and writes the message out when it is sent.

use bayou_protocol::time::now_millis;
use std::sync::Arc;

use bayou_server::policy::{Delivery, DeliveryFilter, Denial, EventView};
use bayou_soql::{EvalContext, Literal};

use super::PushTopic;

/// What a filtered subscription lets through.
#[derive(Debug)]
pub struct TopicFilter {
    /// The subscription as written: the channel of delivered messages.
    channel: Arc<str>,
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
            channel: Arc::from(raw),
            conditions,
        })
    }
}

impl DeliveryFilter for TopicFilter {
    fn deliver(&self, event: &EventView<'_>) -> Option<Delivery> {
        let sobject = event.json()?.get("data")?.get("sobject")?.as_object()?;
        let ctx = EvalContext {
            now_ms: now_millis(),
        };
        bayou_soql::filter_matches(&self.conditions, sobject, &ctx)
            .then(|| Delivery::OnChannel(Arc::clone(&self.channel)))
    }
}
