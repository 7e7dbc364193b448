//! `ManagedSubscribe`: a subscription named by a `ManagedEventSubscription` record (see
//! `bayou_org::managed`), whose position the server keeps. A stream starts after the position
//! last committed with `CommitReplayRequest`; with none, at the subscription's `defaultReplay`;
//! when the committed position is older than what the log retains, at its
//! `errorRecoveryReplay` — never silently later.
//!
//! One stream at a time reads a subscription, on whichever node it connects: the stream claims
//! the subscription in the position store (shared by a cluster's nodes) and renews the claim
//! while it runs, every third of [`PubSubConfig::managed_claim`](crate::PubSubConfig). A second
//! stream is refused with `ALREADY_EXISTS` until the first ends — or, if its node died, until
//! its claim lapses: Salesforce's advice for that code is to wait for the prior subscription
//! to expire.

use std::sync::Arc;

use bayou_log::PositionStore;
use tonic::{Code, Status, Streaming};

use crate::flow::ManagedFlow;
use crate::proto::ManagedFetchRequest;
use crate::status::{codes, failure};
use crate::subscribe::{first_request, Commits, Started};
use crate::{topics, Inner};

/// A stream's claim on a managed subscription; released when dropped.
pub(crate) struct Claim {
    positions: Arc<dyn PositionStore>,
    subscription_id: String,
    /// This stream (a claim is per stream, so a second stream on the same node is refused too).
    holder: String,
}

impl Claim {
    /// Claims `subscription_id` for a new stream; `None` while another stream holds it.
    async fn take(inner: &Inner, subscription_id: &str) -> Result<Option<Self>, Status> {
        let claim = Claim {
            positions: Arc::clone(&inner.positions),
            subscription_id: subscription_id.to_owned(),
            holder: bayou_org::events::new_uuid(),
        };
        Ok(claim
            .renew(inner.config.managed_claim)
            .await?
            .then_some(claim))
    }

    /// Extends the claim by `ttl`: `false` if another stream has taken it meanwhile.
    pub(crate) async fn renew(&self, ttl: std::time::Duration) -> Result<bool, Status> {
        self.positions
            .claim(&self.subscription_id, &self.holder, ttl)
            .await
            .map_err(|e| {
                failure(
                    Code::Unavailable,
                    codes::UNAVAILABLE,
                    format!("The managed subscription's claim cannot be stored: {e}"),
                )
            })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Released in the background (a store call is async); if it never runs, the claim
        // lapses by itself.
        let positions = Arc::clone(&self.positions);
        let (id, holder) = (
            std::mem::take(&mut self.subscription_id),
            std::mem::take(&mut self.holder),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = positions.release(&id, &holder).await;
            });
        }
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
    let Some(claim) = Claim::take(inner, &subscription.id).await? else {
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
        claim,
    };
    Started::new(inner, first, topic, after, Some(commits))
}
