//! `ManagedSubscribe`: a subscription named by a `ManagedEventSubscription` record (see
//! `bayou_org::managed`), whose position the server keeps. A stream starts after the position
//! last committed with `CommitReplayRequest`; with none, at the subscription's `defaultReplay`;
//! when the committed position is older than what the log retains, at its
//! `errorRecoveryReplay` — never silently later. One stream at a time reads a subscription.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use tonic::{Code, Status, Streaming};

use crate::flow::ManagedFlow;
use crate::proto::ManagedFetchRequest;
use crate::status::{codes, failure};
use crate::subscribe::{first_request, Commits, Started};
use crate::{topics, Inner};

/// The managed subscriptions being read on this node.
#[derive(Default)]
pub(crate) struct ActiveSet(Arc<Mutex<HashSet<String>>>);

/// A stream's claim on a managed subscription; released when dropped.
pub(crate) struct Active {
    set: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

impl ActiveSet {
    fn claim(&self, id: &str) -> Option<Active> {
        self.0.lock().insert(id.to_owned()).then(|| Active {
            set: Arc::clone(&self.0),
            id: id.to_owned(),
        })
    }
}

/// Reads the first request, finds the subscription and fixes where the stream starts.
pub(crate) async fn start(
    inner: &Inner,
    inbound: &mut Streaming<ManagedFetchRequest>,
) -> Result<Started<ManagedFlow>, Status> {
    let first = first_request(inner, inbound).await?;
    if first.commit_replay_id_request.is_some() {
        return Err(failure(
            Code::InvalidArgument,
            codes::MANAGED_COMMIT_IN_FIRST,
            "A managed stream's first request cannot commit: commit in a later request.",
        ));
    }
    let (named, code) = match (
        first.subscription_id.as_str(),
        first.developer_name.as_str(),
    ) {
        ("", "") => {
            return Err(failure(
                Code::InvalidArgument,
                codes::MANAGED_NAME_EMPTY,
                "Give the managed subscription's id or developer name.",
            ))
        }
        ("", name) => (name, codes::MANAGED_NAME_NOT_FOUND),
        (id, _) => (id, codes::MANAGED_ID_NOT_FOUND),
    };
    let Some(subscription) = inner.org.managed_subscription(named).await else {
        return Err(failure(
            Code::NotFound,
            code,
            format!("No managed event subscription {named} was found."),
        ));
    };
    if !subscription.is_running() {
        return Err(failure(
            Code::FailedPrecondition,
            codes::MANAGED_STOPPED,
            format!(
                "The managed event subscription {} is in the {} state; set it to RUN.",
                subscription.developer_name, subscription.state
            ),
        ));
    }
    let Some(active) = inner.active_managed.claim(&subscription.id) else {
        return Err(failure(
            Code::AlreadyExists,
            codes::MANAGED_ACTIVE,
            format!(
                "The managed event subscription {} is already being read by another stream.",
                subscription.developer_name
            ),
        ));
    };
    let topic = topics::resolve(&inner.org, &subscription.topic_name).await?;
    let floor = inner.log.retention_floor(&topic.channel);
    let preset_after = |preset: &str| {
        if preset == "EARLIEST" {
            floor
        } else {
            inner.log.head()
        }
    };
    let committed = inner
        .positions
        .committed(&subscription.id)
        .await
        .map_err(|e| {
            failure(
                Code::Unavailable,
                codes::UNAVAILABLE,
                format!("The committed position cannot be read: {e}"),
            )
        })?;
    let after = match committed {
        Some(position) if position >= floor => position,
        Some(_) => preset_after(&subscription.error_recovery_replay),
        None => preset_after(&subscription.default_replay),
    };
    let commits = Commits {
        subscription_id: subscription.id,
        positions: Arc::clone(&inner.positions),
        _active: active,
    };
    Started::new(inner, first, topic, after, Some(commits))
}
