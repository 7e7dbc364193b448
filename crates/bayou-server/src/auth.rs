//! Who may open a session, and what a session may subscribe and publish to.
//!
//! The engine asks an [`Authenticator`] at handshake time, and asks again on every
//! `/meta/connect` whether the session's credentials are still valid, which is how Salesforce
//! ends a session whose token was revoked (`401::Authentication invalid`, advice `none`).
//! The foundation ships [`AllowAll`]; the emulated org plugs in real token checks.

use std::net::SocketAddr;

use std::sync::Arc;

use bayou_protocol::{errors, ChannelName, Subscription};

use crate::engine::subscriptions::DeliveryFilter;

/// What a request brings to prove who it is.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// The peer address, when known.
    pub remote_addr: Option<SocketAddr>,
}

impl Credentials {
    /// The token in the `Authorization` header: `Bearer <t>`, `OAuth <t>` (scheme
    /// case-insensitive) or a bare `<t>` as EMP-Connector sends it.
    pub fn token(&self) -> Option<&str> {
        let header = self.authorization.as_deref()?.trim();
        let token = match header.split_once(' ') {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("bearer")
                    || scheme.eq_ignore_ascii_case("oauth") =>
            {
                rest.trim()
            }
            None if header.eq_ignore_ascii_case("bearer")
                || header.eq_ignore_ascii_case("oauth") =>
            {
                return None
            }
            _ => header,
        };
        (!token.is_empty()).then_some(token)
    }
}

/// Whom a session belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The user's id, when the authenticator knows users.
    pub user_id: Option<String>,
    /// The token the session was opened with, so it can be checked again later.
    pub token: Option<String>,
}

/// Why a handshake was refused; becomes `ext.sfdc.failureReason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials at all: `401::Request requires authentication`.
    #[error("{}", errors::REQUEST_REQUIRES_AUTHENTICATION)]
    Missing,
    /// Unknown, expired or revoked credentials: `401::Authentication invalid`.
    #[error("{}", errors::AUTHENTICATION_INVALID)]
    Invalid,
}

impl AuthError {
    /// The `code::text` failure reason.
    pub fn failure_reason(&self) -> &'static str {
        match self {
            AuthError::Missing => errors::REQUEST_REQUIRES_AUTHENTICATION,
            AuthError::Invalid => errors::AUTHENTICATION_INVALID,
        }
    }
}

/// Decides who may handshake, and whether a session may go on.
pub trait Authenticator: Send + Sync + 'static {
    /// Called for every `/meta/handshake`.
    fn authenticate(&self, credentials: &Credentials) -> Result<Principal, AuthError>;

    /// Called on every `/meta/connect`; `false` ends the session with
    /// `401::Authentication invalid`.
    fn is_still_valid(&self, principal: &Principal) -> bool {
        let _ = principal;
        true
    }

    /// Whether `principal` may subscribe to `subscription`; the error is a `code::text` string
    /// for the reply. Allows everything by default.
    fn can_subscribe(
        &self,
        principal: &Principal,
        subscription: &Subscription,
    ) -> Result<(), String> {
        let _ = (principal, subscription);
        Ok(())
    }

    /// For a subscription with a filter (`/topic/T?Field='x'`), what lets events through.
    /// Filters mean nothing by default and are refused.
    fn subscription_filter(
        &self,
        principal: &Principal,
        subscription: &Subscription,
    ) -> Result<Option<Arc<dyn DeliveryFilter>>, String> {
        let _ = principal;
        match &subscription.filter {
            None => Ok(None),
            Some(_) => Err(errors::invalid_channel(
                &subscription.raw,
                "filtered subscriptions are only available on PushTopic channels",
            )),
        }
    }

    /// Whether `principal` may publish on `channel` over Bayeux. Allows everything by default.
    fn can_publish(&self, principal: &Principal, channel: &ChannelName) -> Result<(), String> {
        let _ = (principal, channel);
        Ok(())
    }
}

/// Lets everyone in. Keeps the token, if any, on the principal.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, credentials: &Credentials) -> Result<Principal, AuthError> {
        Ok(Principal {
            user_id: None,
            token: credentials.token().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> Option<String> {
        Credentials {
            authorization: Some(header.to_owned()),
            remote_addr: None,
        }
        .token()
        .map(str::to_owned)
    }

    #[test]
    fn reads_every_header_form_clients_send() {
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("OAuth abc").as_deref(), Some("abc"));
        assert_eq!(token("oauth  abc ").as_deref(), Some("abc"));
        assert_eq!(token("00Dxx!AR.abc").as_deref(), Some("00Dxx!AR.abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token(""), None);
    }
}
