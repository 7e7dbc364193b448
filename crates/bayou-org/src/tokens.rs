//! Issuing access and refresh tokens.
//!
//! Tokens are opaque: the org id, `!`, and 64 random characters, like Salesforce's. An access
//! token expires after the session timeout *of inactivity* — every use extends it, so a
//! streaming client that keeps connecting never loses its session, as on Salesforce. Revoking a
//! refresh token revokes the access tokens issued from it; tokens can also be revoked per user
//! (fault injection). Where tokens are kept is the storage layer's [`TokenStore`]: the embedded
//! one keeps them in memory, so a restart of Bayou logs everyone out.

use std::sync::Arc;

use bayou_log::{LogError, TokenGrant, TokenKind, TokenStore};
use rand::RngExt;

/// The org's tokens: made here, kept in a [`TokenStore`].
pub struct Tokens {
    /// The 15-character org id every token starts with.
    org_id: String,
    store: Arc<dyn TokenStore>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(org_id: &str, store: Arc<dyn TokenStore>) -> Self {
        Self {
            org_id: org_id.chars().take(15).collect(),
            store,
        }
    }

    fn new_token(&self) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
        let mut rng = rand::rng();
        let random: String = (0..64)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect();
        format!("{}!{random}", self.org_id)
    }

    async fn issue(
        &self,
        kind: TokenKind,
        user_id: &str,
        parent: Option<&str>,
    ) -> Result<String, LogError> {
        let token = self.new_token();
        let grant = TokenGrant {
            kind,
            user_id: user_id.to_owned(),
            parent: parent.map(str::to_owned),
        };
        self.store.insert(token.clone(), grant).await?;
        Ok(token)
    }

    /// A new access token for `user_id`, optionally issued from a refresh token.
    pub async fn issue_access(
        &self,
        user_id: &str,
        parent: Option<&str>,
    ) -> Result<String, LogError> {
        self.issue(TokenKind::Access, user_id, parent).await
    }

    /// A new refresh token for `user_id`.
    pub async fn issue_refresh(&self, user_id: &str) -> Result<String, LogError> {
        self.issue(TokenKind::Refresh, user_id, None).await
    }

    /// The user of a live access token, extending its session.
    pub fn validate_access(&self, token: &str) -> Option<String> {
        self.store.use_access(token)
    }

    /// Waits, at most `within`, until this node knows every token issued or revoked anywhere
    /// before the call (see [`TokenStore::sync`]).
    pub async fn sync(&self, within: std::time::Duration) -> Result<(), LogError> {
        self.store.sync(within).await
    }

    /// The user of a refresh token.
    pub fn validate_refresh(&self, token: &str) -> Option<String> {
        self.store.refresh_user(token)
    }

    /// Revokes an access or refresh token (and the access tokens issued from a refresh
    /// token). Returns whether the token existed.
    pub async fn revoke(&self, token: &str) -> Result<bool, LogError> {
        self.store.revoke(token).await
    }

    /// Revokes every token of `user_id`. Returns how many.
    pub async fn revoke_user(&self, user_id: &str) -> Result<usize, LogError> {
        self.store.revoke_user(user_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bayou_log::embedded::MemoryTokens;
    use std::time::Duration;

    #[tokio::test]
    async fn tokens_carry_the_org_id_and_reach_the_store() {
        let tokens = Tokens::new(
            "00D5g000001abcdEAA",
            Arc::new(MemoryTokens::new(Duration::from_secs(60))),
        );
        let refresh = tokens.issue_refresh("005A").await.unwrap();
        let access = tokens.issue_access("005A", Some(&refresh)).await.unwrap();
        assert!(access.starts_with("00D5g000001abcd!"));
        assert_eq!(access.len(), 16 + 64);
        assert_ne!(access, refresh);
        assert_eq!(tokens.validate_access(&access).as_deref(), Some("005A"));
        assert_eq!(tokens.validate_refresh(&refresh).as_deref(), Some("005A"));
        assert!(tokens.revoke(&refresh).await.unwrap());
        assert_eq!(tokens.validate_access(&access), None);
    }
}
