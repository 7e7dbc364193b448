//! Errors as Salesforce's Pub/Sub API reports them: a gRPC status whose message ends with
//! `rpcId: <id>`, and trailers `error-code` (Salesforce's custom code, which clients switch on)
//! and `rpc-id`.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Salesforce's custom error codes (the `error-code` trailer), as its "Handle Errors" table
/// (developer.salesforce.com/docs/platform/pub-sub-api/guide/handling-errors) names them;
/// those marked *Bayou's* name a case the table has no code for.
pub mod codes {
    pub const AUTH: &str = "sfdc.platform.eventbus.grpc.service.auth.error";
    pub const UNAVAILABLE: &str = "sfdc.platform.eventbus.grpc.service.unavailable";
    pub const TOPIC_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.topic.not.found";
    pub const TOPIC_EMPTY: &str = "sfdc.platform.eventbus.grpc.topic.validation.empty";
    pub const SCHEMA_EMPTY: &str = "sfdc.platform.eventbus.grpc.schema.validation.failed";
    /// *Bayou's*: a schema id no event type has.
    pub const SCHEMA_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.schema.not.found";
    pub const TOPIC_MISMATCH: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch";
    /// Any replay id Bayou cannot start from: malformed, newer than the newest event, or
    /// older than retention kept. Salesforce's table gives this code for a replay id "invalid
    /// or outside the retention window", and clients recover on it (they resubscribe with a
    /// preset), so an expired id must carry it too.
    pub const REPLAY_ID_CORRUPTED: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";
    /// CUSTOM without a replay id.
    pub const REPLAY_ID_MISSING: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed";
    /// A `FetchRequest` asking for no events, or fewer.
    pub const REQUESTED_EVENTS_INVALID: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid";
    /// *Bayou's*: a subscription that asked for no events for the idle period.
    pub const IDLE: &str = "sfdc.platform.eventbus.grpc.subscription.idle.timeout";
    pub const ALLOCATION: &str = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded";
    /// *Bayou's*, inside a per-event publish result: an event over 1 MB.
    pub const PUBLISH_SIZE: &str = "sfdc.platform.eventbus.grpc.publish.event.size.exceeded";
    /// *Bayou's*, inside a per-event publish result: a schema not of the topic's event type.
    pub const PUBLISH_SCHEMA: &str = "sfdc.platform.eventbus.grpc.publish.schema.mismatch";
    /// *Bayou's*: publishing to a change event channel.
    pub const NO_PUBLISH: &str = "sfdc.platform.eventbus.grpc.publish.topic.no.access";
    pub const PUBLISH_TOPIC_EMPTY: &str =
        "sfdc.platform.eventbus.grpc.publish.topic.validation.empty";
    pub const PUBLISH_TOPIC_MISMATCH: &str = "sfdc.platform.eventbus.grpc.publish.topic.mismatch";
    pub const PUBLISH_EVENT_COUNT: &str = "sfdc.platform.eventbus.grpc.publish.event.count.invalid";
    pub const MANAGED_NAME_EMPTY: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.id.or.developer.name.empty";
    pub const MANAGED_ID_NOT_FOUND: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.subscription.id.not.found";
    pub const MANAGED_NAME_NOT_FOUND: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.developer.name.not.found";
    pub const MANAGED_STOPPED: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.config.stopped";
    pub const MANAGED_ACTIVE: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.already.active";
    /// A `ManagedFetchRequest` asking for fewer than no events.
    pub const MANAGED_REQUESTED_EVENTS_INVALID: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.events.invalid";
    /// A commit in a managed stream's first request.
    pub const MANAGED_COMMIT_IN_FIRST: &str =
        "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.commit.request.restricted";
}

/// A status with Salesforce's trailers.
pub fn failure(code: Code, error_code: &str, message: impl std::fmt::Display) -> Status {
    let rpc_id = bayou_org::events::new_uuid();
    let mut trailers = MetadataMap::new();
    if let Ok(value) = MetadataValue::try_from(error_code) {
        trailers.insert("error-code", value);
    }
    if let Ok(value) = MetadataValue::try_from(rpc_id.as_str()) {
        trailers.insert("rpc-id", value);
    }
    Status::with_metadata(code, format!("{message} rpcId: {rpc_id}"), trailers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_error_code_and_rpc_id() {
        let status = failure(Code::NotFound, codes::TOPIC_NOT_FOUND, "Topic not found");
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().starts_with("Topic not found rpcId: "));
        assert_eq!(
            status.metadata().get("error-code").unwrap(),
            codes::TOPIC_NOT_FOUND
        );
        let rpc_id = status.metadata().get("rpc-id").unwrap().to_str().unwrap();
        assert!(status.message().ends_with(rpc_id));
    }
}
