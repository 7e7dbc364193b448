//! Generic streaming: `StreamingChannel` records name `/u/…` channels that carry arbitrary
//! string payloads pushed over REST (`push.rs`). A channel must exist before anyone subscribes
//! (`404::Unknown channel` otherwise) unless dynamic channel creation is on, in which case the
//! first subscription creates it (`IsDynamic: true`). Names are case-sensitive, and two names
//! may not differ only by case (`404::channel names may not vary only by case`).

pub mod push;

use std::sync::Arc;

use bayou_log::RecordWrite;
use bayou_protocol::time::{iso8601_millis, now_millis};
use serde_json::{Map, Value};

use crate::ids::{new_id, prefix};
use crate::records::write::{check_allocation, duplicate_name};
use crate::records::{self, field, Fields};
use crate::rest::errors::RestError;
use crate::Org;
use bayou_server::policy::Denial;

/// A StreamingChannel record, as the org keeps it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingChannel {
    pub id: String,
    pub name: String,
}

/// How a `/u/` channel name relates to the org's channels.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Exists,
    /// Another channel has this name in another case.
    CaseMismatch,
    Missing,
}

/// Checks a StreamingChannel `Name`: `/u/` then letters, digits, `_` and `/`, at most 80
/// characters, no empty segment.
pub fn validate_name(name: &str) -> Result<(), String> {
    let rest = name
        .strip_prefix("/u/")
        .ok_or_else(|| format!("Name must start with /u/: {name}"))?;
    if name.len() > 80 {
        return Err(format!("Name is longer than 80 characters: {name}"));
    }
    if rest.is_empty() || rest.split('/').any(str::is_empty) {
        return Err(format!("Name has an empty segment: {name}"));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
    {
        return Err(format!(
            "Name may only contain letters, digits, underscores and slashes: {name}"
        ));
    }
    Ok(())
}

/// The channel a StreamingChannel record describes.
///
/// Public only so that the `rest_json` fuzz target (`fuzz/`) can run it on any body.
pub fn from_record(id: &str, fields: &Fields) -> Result<StreamingChannel, RestError> {
    let name = field(fields, "Name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RestError::bad_request(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [Name]",
            )
            .on_fields(&["Name"])
        })?;
    validate_name(name).map_err(|message| {
        RestError::bad_request("FIELD_INTEGRITY_EXCEPTION", message).on_fields(&["Name"])
    })?;
    Ok(StreamingChannel {
        id: id.to_owned(),
        name: name.to_owned(),
    })
}

/// Stored StreamingChannels that are not deleted.
pub(crate) async fn load(
    store: &dyn bayou_log::RecordStore,
) -> Result<Vec<StreamingChannel>, String> {
    let stored = store
        .records(b"StreamingChannel/")
        .await
        .map_err(|e| e.to_string())?;
    Ok(stored
        .into_iter()
        .filter_map(|(_, value)| serde_json::from_slice::<Fields>(&value).ok())
        .filter(|fields| field(fields, "IsDeleted") != Some(&Value::Bool(true)))
        .filter_map(|fields| {
            let id = field(&fields, "Id")?.as_str()?.to_owned();
            from_record(&id, &fields).ok()
        })
        .collect())
}

impl Org {
    /// The org's StreamingChannels.
    pub fn streaming_channels(&self) -> Vec<StreamingChannel> {
        self.channels.read().clone()
    }

    pub(crate) fn channel_by_id(&self, id: &str) -> Option<StreamingChannel> {
        let id = crate::ids::to_18(id)?;
        self.streaming_channels().into_iter().find(|c| c.id == id)
    }

    pub(crate) fn lookup_channel(&self, name: &str) -> Lookup {
        let channels = self.channels.read();
        if channels.iter().any(|c| c.name == name) {
            Lookup::Exists
        } else if channels.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            Lookup::CaseMismatch
        } else {
            Lookup::Missing
        }
    }

    /// For a StreamingChannel record being written: the channel (validated, unique, within the
    /// allocation).
    pub(crate) fn channel_for(
        &self,
        object: &str,
        id: &str,
        fields: &Fields,
    ) -> Result<Option<StreamingChannel>, RestError> {
        if object != "StreamingChannel" {
            return Ok(None);
        }
        let channel = from_record(id, fields)?;
        let channels = self.streaming_channels();
        let is_new = !channels.iter().any(|c| c.id == id);
        let max = self.config.max_streaming_channels;
        check_allocation(max, is_new, channels.len(), "streaming channels")?;
        if let Some(other) = channels
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&channel.name) && c.id != id)
        {
            return Err(duplicate_name(&other.id));
        }
        Ok(Some(channel))
    }

    /// Updates the in-memory channels after a StreamingChannel record was written.
    pub(crate) fn channel_written(&self, id: &str, channel: Option<StreamingChannel>) {
        let mut channels = self.channels.write();
        channels.retain(|c| c.id != id);
        channels.extend(channel);
    }

    /// Creates `/u/…` on its first subscription (dynamic channel creation). The channel is
    /// usable at once; its record is written in the background, as a dynamic channel is
    /// re-created by the next subscription should that write be lost.
    pub(crate) fn create_dynamic_channel(
        &self,
        name: &str,
        user_id: Option<&str>,
    ) -> Result<(), Denial> {
        if validate_name(name).is_err() {
            return Err(Denial::CannotCreateChannel(name.to_owned()));
        }
        let id = new_id(prefix::STREAMING_CHANNEL);
        {
            let mut channels = self.channels.write();
            if channels.iter().any(|c| c.name == name) {
                return Ok(()); // created meanwhile
            }
            if self
                .config
                .max_streaming_channels
                .is_some_and(|max| channels.len() >= max)
            {
                return Err(Denial::ChannelLimitExceeded);
            }
            channels.push(StreamingChannel {
                id: id.clone(),
                name: name.to_owned(),
            });
        }
        let user = user_id
            .map(str::to_owned)
            .or_else(|| self.identity().users.first().map(|u| u.id.clone()));
        let now = iso8601_millis(now_millis());
        let mut fields = Map::new();
        fields.insert("Id".into(), Value::String(id.clone()));
        fields.insert("Name".into(), Value::String(name.to_owned()));
        fields.insert("IsDynamic".into(), Value::Bool(true));
        for stamp in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            fields.insert(stamp.into(), Value::String(now.clone()));
        }
        for by in ["CreatedById", "LastModifiedById"] {
            fields.insert(by.into(), user.clone().map_or(Value::Null, Value::String));
        }
        fields.insert("IsDeleted".into(), Value::Bool(false));
        let value = serde_json::to_vec(&fields).map_err(|e| Denial::Unavailable(e.to_string()))?;
        let store = Arc::clone(&self.store);
        let write = RecordWrite {
            key: records::key("StreamingChannel", &id),
            value: Some(value),
            expected_version: None,
        };
        tokio::spawn(async move {
            if let Err(e) = store.append_with_records(Vec::new(), vec![write]).await {
                tracing::warn!(error = %e, "could not store a dynamic streaming channel");
            }
        });
        tracing::info!(channel = name, id, "streaming channel created dynamically");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_as_salesforce_describes() {
        assert!(validate_name("/u/notifications/ExampleUserChannel").is_ok());
        assert!(validate_name("/u/a_b").is_ok());
        assert!(validate_name("/topic/x").is_err());
        assert!(validate_name("/u/").is_err());
        assert!(validate_name("/u/a//b").is_err());
        assert!(validate_name("/u/a-b").is_err());
        assert!(validate_name("/u/a*").is_err());
        assert!(validate_name(&format!("/u/{}", "x".repeat(78))).is_err());
        assert!(validate_name(&format!("/u/{}", "x".repeat(77))).is_ok());
    }
}
