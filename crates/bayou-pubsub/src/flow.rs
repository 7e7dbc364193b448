//! The two pull subscriptions, `Subscribe` (a topic) and `ManagedSubscribe` (a named
//! subscription whose position the server keeps), share one delivery loop
//! (`subscribe::run`); what differs is their messages and, for managed ones, commits.

use bytes::Bytes;

use crate::proto::{
    CommitReplayRequest, CommitReplayResponse, ConsumerEvent, FetchRequest, FetchResponse,
    ManagedFetchRequest, ManagedFetchResponse,
};
use crate::status::codes;

/// One kind of pull subscription's messages.
pub(crate) trait Flow: Send + Sync + 'static {
    type Request: prost::Message + Default + Send + 'static;
    type Response: Send + 'static;

    /// Events the request asks for.
    fn credits(request: &Self::Request) -> i32;

    /// The fewest events a request may ask for, and the error code for fewer.
    const MIN_CREDITS: i32;
    const CREDITS_INVALID: &'static str;

    /// A description of the mismatch when a later request names another topic or subscription
    /// than the first one.
    fn mismatch(first: &Self::Request, later: &Self::Request) -> Option<String>;

    /// The commit a request carries (managed subscriptions only).
    fn commit(request: &Self::Request) -> Option<&CommitReplayRequest>;

    fn response(
        events: Vec<ConsumerEvent>,
        latest_replay_id: Bytes,
        pending: i32,
        commit: Option<CommitReplayResponse>,
    ) -> Self::Response;
}

/// `Subscribe`.
pub(crate) struct TopicFlow;

impl Flow for TopicFlow {
    type Request = FetchRequest;
    type Response = FetchResponse;

    fn credits(request: &FetchRequest) -> i32 {
        request.num_requested
    }

    const MIN_CREDITS: i32 = 1;
    const CREDITS_INVALID: &'static str = codes::REQUESTED_EVENTS_INVALID;

    fn mismatch(first: &FetchRequest, later: &FetchRequest) -> Option<String> {
        (!later.topic_name.is_empty() && later.topic_name != first.topic_name).then(|| {
            format!(
                "The topic {} of a FetchRequest differs from the subscription's topic {}.",
                later.topic_name, first.topic_name
            )
        })
    }

    fn commit(_: &FetchRequest) -> Option<&CommitReplayRequest> {
        None
    }

    fn response(
        events: Vec<ConsumerEvent>,
        latest_replay_id: Bytes,
        pending: i32,
        _: Option<CommitReplayResponse>,
    ) -> FetchResponse {
        FetchResponse {
            events,
            latest_replay_id,
            rpc_id: String::new(),
            pending_num_requested: pending,
        }
    }
}

/// `ManagedSubscribe`.
pub(crate) struct ManagedFlow;

impl Flow for ManagedFlow {
    type Request = ManagedFetchRequest;
    type Response = ManagedFetchResponse;

    fn credits(request: &ManagedFetchRequest) -> i32 {
        request.num_requested
    }

    /// A request may carry only a commit.
    const MIN_CREDITS: i32 = 0;
    const CREDITS_INVALID: &'static str = codes::MANAGED_REQUESTED_EVENTS_INVALID;

    fn mismatch(first: &ManagedFetchRequest, later: &ManagedFetchRequest) -> Option<String> {
        let differs = |a: &str, b: &str| !b.is_empty() && a != b;
        (differs(&first.subscription_id, &later.subscription_id)
            || differs(&first.developer_name, &later.developer_name))
        .then(|| "A ManagedFetchRequest names another subscription than the stream's.".to_owned())
    }

    fn commit(request: &ManagedFetchRequest) -> Option<&CommitReplayRequest> {
        request.commit_replay_id_request.as_ref()
    }

    fn response(
        events: Vec<ConsumerEvent>,
        latest_replay_id: Bytes,
        pending: i32,
        commit: Option<CommitReplayResponse>,
    ) -> ManagedFetchResponse {
        ManagedFetchResponse {
            events,
            latest_replay_id,
            rpc_id: String::new(),
            pending_num_requested: pending,
            commit_response: commit,
        }
    }
}
