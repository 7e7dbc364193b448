//! Where access and refresh tokens are kept.
//!
//! The org makes tokens (Salesforce's shape: org id, `!`, random characters) and decides what
//! they grant; a [`TokenStore`] only remembers them. Checking a token happens on every
//! `/meta/connect`, so [`TokenStore::use_access`] is synchronous and answered from memory —
//! a clustered store keeps a local replica and applies other nodes' changes as they come.
//! Issuing and revoking are `async`: they resolve once the change is where every node sees it.

use crate::StoreFuture;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Authenticates API and streaming requests; expires after a period without use.
    Access,
    /// Obtains new access tokens; lives until revoked.
    Refresh,
}

/// What a stored token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub kind: TokenKind,
    pub user_id: String,
    /// For an access token: the refresh token it was issued from (revoked with it).
    pub parent: Option<String>,
}

/// Every token the org has issued.
pub trait TokenStore: Send + Sync + 'static {
    /// Stores a newly issued token.
    fn insert(&self, token: String, grant: TokenGrant) -> StoreFuture<'_, ()>;

    /// The user of a live access token, extending its life (a token expires after the store's
    /// idle timeout without use). `None` for unknown, expired, revoked or refresh tokens.
    fn use_access(&self, token: &str) -> Option<String>;

    /// The user of a refresh token.
    fn refresh_user(&self, token: &str) -> Option<String>;

    /// Revokes an access or refresh token, and the access tokens issued from a refresh token.
    /// Resolves with whether the token existed.
    fn revoke(&self, token: &str) -> StoreFuture<'_, bool>;

    /// Revokes every token of `user_id`; resolves with how many there were.
    fn revoke_user(&self, user_id: &str) -> StoreFuture<'_, usize>;

    /// Waits, at most `within`, until this node's copy holds every change made to the tokens
    /// anywhere before the call (a token issued through another node of a cluster a moment
    /// ago). At once for a store of one process.
    fn sync(&self, within: std::time::Duration) -> StoreFuture<'_, ()> {
        let _ = within;
        Box::pin(std::future::ready(Ok(())))
    }
}
