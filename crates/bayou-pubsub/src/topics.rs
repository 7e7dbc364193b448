//! Topic names on the Pub/Sub API are CometD channel names: `/event/Name__e` for a platform
//! event. A topic resolves to the event type's channel in the log (with its declared case) and
//! its current schema.

use std::sync::Arc;

use bayou_org::events::avro::EventSchema;
use bayou_org::Org;
use tonic::{Code, Status};

use crate::status::{codes, failure};

/// A topic a client may publish to and subscribe to.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The channel, as events are stored (`/event/Low_Ink__e`).
    pub channel: String,
    /// The event type's name.
    pub event: String,
    /// The schema events are published with now.
    pub schema: Arc<EventSchema>,
}

/// The topic named `name`, or Salesforce's error for it.
pub fn resolve(org: &Org, name: &str) -> Result<Topic, Status> {
    if let Some(event) = name.strip_prefix("/event/") {
        if let Some(schema) = org.current_event_schema(event) {
            return Ok(Topic {
                channel: format!("/event/{}", schema.event),
                event: schema.event.clone(),
                schema,
            });
        }
    }
    if name.starts_with("/data/") {
        return Err(failure(
            Code::Unimplemented,
            codes::UNSUPPORTED,
            format!(
                "Change Data Capture topics such as {name} are not served over the Pub/Sub API by Bayou yet; subscribe to them with CometD (/cometd)."
            ),
        ));
    }
    Err(failure(
        Code::NotFound,
        codes::TOPIC_NOT_FOUND,
        format!("Topic {name} was not found or you don't have access to it."),
    ))
}
