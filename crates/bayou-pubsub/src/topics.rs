//! Topic names on the Pub/Sub API are CometD channel names: `/event/Name__e` for a platform
//! event, `/data/ChangeEvents` and `/data/<Object>ChangeEvent` for Change Data Capture. A topic
//! resolves to the channel events are stored on (with its canonical case) and the schema events
//! are written with now.

use std::sync::Arc;

use bayou_org::events::avro::EventSchema;
use bayou_org::Org;
use tonic::{Code, Status};

use crate::status::{codes, failure};

/// A topic a client may subscribe to (and publish to, for platform events).
#[derive(Debug, Clone)]
pub struct Topic {
    /// The channel, as events are stored (`/event/Low_Ink__e`, `/data/AccountChangeEvent`).
    pub channel: String,
    /// The event type's or the object's name.
    pub event: String,
    /// The schema events are written with now; `None` for `/data/ChangeEvents`, whose events
    /// each carry their object's schema.
    pub schema: Option<Arc<EventSchema>>,
    /// Whether clients may publish (platform events only: change events come from the org).
    pub can_publish: bool,
}

/// The topic named `name`, or Salesforce's error for it.
pub async fn resolve(org: &Org, name: &str) -> Result<Topic, Status> {
    if name.is_empty() {
        return Err(failure(
            Code::InvalidArgument,
            codes::TOPIC_EMPTY,
            "The topic name is blank: give a topic name.",
        ));
    }
    if let Some(event) = name.strip_prefix("/event/") {
        if let Some(schema) = org.current_event_schema(event) {
            return Ok(Topic {
                channel: format!("/event/{}", schema.event),
                event: schema.event.clone(),
                schema: Some(schema),
                can_publish: true,
            });
        }
    }
    if name == bayou_org::cdc::ALL_CHANGES {
        return Ok(Topic {
            channel: name.to_owned(),
            event: "ChangeEvents".to_owned(),
            schema: None,
            can_publish: false,
        });
    }
    if let Some(object) = bayou_org::cdc::object_of_channel(name) {
        let schema = org.current_change_schema(&object).await.map_err(|e| {
            failure(
                Code::Unavailable,
                codes::UNAVAILABLE,
                format!("The schema of {name} cannot be stored: {e}"),
            )
        })?;
        return Ok(Topic {
            channel: bayou_org::cdc::channel_of(&object),
            event: object,
            schema: Some(schema),
            can_publish: false,
        });
    }
    Err(failure(
        Code::NotFound,
        codes::TOPIC_NOT_FOUND,
        format!("The topic information for topic {name} was not found. Ensure the topic name is correct and that the topic exists."),
    ))
}

/// The error for publishing to a topic that takes no publishes.
pub fn no_publish(topic: &Topic) -> Status {
    failure(
        Code::PermissionDenied,
        codes::NO_PUBLISH,
        format!(
            "Publishing to {} is not allowed: its events come from the org.",
            topic.channel
        ),
    )
}
