//! The security policy: who may open a session, and what a session may subscribe and publish
//! to — the hook CometD calls `SecurityPolicy` (`canHandshake`, `canSubscribe`, `canPublish`).
//!
//! The engine asks the policy at handshake time, and asks again on every `/meta/connect`
//! whether the session's credentials are still valid, which is how Salesforce ends a session
//! whose token was revoked (`401::Authentication invalid`, advice `none`). A refusal is a typed
//! [`Denial`], rendered to the client's error text in one place. The server ships
//! [`AllowAll`]; the emulated org plugs in real token checks and Salesforce's channel rules.
//!
//! A subscription with a filter (`/topic/T?Field='x'`) is the policy's to interpret: it returns
//! the [`DeliveryFilter`] the engine applies to every event the subscription matches.

mod credentials;
mod delivery_filter;
mod denial;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bayou_protocol::{ChannelName, Subscription};

pub use credentials::{Credentials, Principal};
pub use delivery_filter::{Delivery, DeliveryFilter, EventView};
pub use denial::Denial;

/// Decides who may handshake, and what a session may do.
pub trait SecurityPolicy: Send + Sync + 'static {
    /// Called for every `/meta/handshake`: the session's principal, or why not.
    fn can_handshake(&self, credentials: &Credentials) -> Result<Principal, Denial>;

    /// Called on every `/meta/connect`; `false` ends the session with
    /// `401::Authentication invalid`. Sessions stay valid by default.
    fn is_session_valid(&self, principal: &Principal) -> bool {
        let _ = principal;
        true
    }

    /// Whether `principal` may subscribe to `subscription`. Allows everything by default.
    fn can_subscribe(
        &self,
        principal: &Principal,
        subscription: &Subscription,
    ) -> Result<(), Denial> {
        let _ = (principal, subscription);
        Ok(())
    }

    /// For a subscription with a filter (`/topic/T?Field='x'`), what lets events through.
    /// Filters mean nothing by default and are refused.
    fn delivery_filter(
        &self,
        principal: &Principal,
        subscription: &Subscription,
    ) -> Result<Option<Arc<dyn DeliveryFilter>>, Denial> {
        let _ = principal;
        match &subscription.filter {
            None => Ok(None),
            Some(_) => Err(Denial::FilterNotSupported {
                subscription: subscription.raw.clone(),
            }),
        }
    }

    /// Whether `principal` may publish on `channel` over Bayeux. Allows everything by default.
    fn can_publish(&self, principal: &Principal, channel: &ChannelName) -> Result<(), Denial> {
        let _ = (principal, channel);
        Ok(())
    }

    /// Called before `denial` when it may only mean this process is a moment behind others
    /// ([`Denial::may_be_behind`]): a policy whose state other processes also write (a node of
    /// a cluster, where a token or a channel may have been made through another node just
    /// before) waits here until it has caught up with what the denial is about, and the
    /// request is checked again. Nothing to wait for by default.
    fn settle(&self, denial: &Denial) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let _ = denial;
        Box::pin(std::future::ready(()))
    }
}

/// Lets everyone in. Keeps the token, if any, on the principal.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl SecurityPolicy for AllowAll {
    fn can_handshake(&self, credentials: &Credentials) -> Result<Principal, Denial> {
        Ok(Principal {
            user_id: None,
            token: credentials.token().map(str::to_owned),
        })
    }
}
