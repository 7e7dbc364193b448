//! Errors as Salesforce's Pub/Sub API reports them: a gRPC status whose message ends with
//! `rpcId: <id>`, and trailers `error-code` (Salesforce's custom code, which clients switch on)
//! and `rpc-id`.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Salesforce's custom error codes (the `error-code` trailer).
pub mod codes {
    pub const AUTH: &str = "sfdc.platform.eventbus.grpc.service.auth.error";
    pub const UNAVAILABLE: &str = "sfdc.platform.eventbus.grpc.service.unavailable";
    pub const TOPIC_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.topic.not.found";
    pub const TOPIC_MISMATCH: &str = "sfdc.platform.eventbus.grpc.subscription.topic.mismatch";
    pub const NO_PUBLISH: &str = "sfdc.platform.eventbus.grpc.publish.topic.no.access";
    pub const SCHEMA_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.schema.not.found";
    /// Any replay id Bayou cannot start from: malformed, newer than the newest event, or
    /// older than retention kept. Salesforce's retry guide gives this code for "an old Replay
    /// ID outside the 72-hour retention period", and clients recover on it (they resubscribe
    /// with a preset), so an expired id must carry it too.
    pub const REPLAY_ID_CORRUPTED: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";
    pub const NUM_REQUESTED_INVALID: &str =
        "sfdc.platform.eventbus.grpc.subscription.fetch.num.requested.invalid";
    pub const IDLE: &str = "sfdc.platform.eventbus.grpc.subscription.idle.timeout";
    pub const ALLOCATION: &str = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded";
    pub const PUBLISH_SIZE: &str = "sfdc.platform.eventbus.grpc.publish.event.size.exceeded";
    pub const PUBLISH_SCHEMA: &str = "sfdc.platform.eventbus.grpc.publish.schema.mismatch";
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
