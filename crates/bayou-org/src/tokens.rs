//! Access and refresh tokens.
//!
//! Tokens are opaque: the org id, `!`, and 64 random characters, like Salesforce's. An access
//! token expires after the session timeout *of inactivity* — every use extends it, so a
//! streaming client that keeps connecting never loses its session, as on Salesforce. Revoking a
//! refresh token revokes the access tokens issued from it; tokens can also be revoked per user
//! (fault injection). Tokens live in memory: a restart of Bayou logs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    user_id: String,
    /// For an access token: the refresh token it was issued from.
    parent: Option<String>,
    last_used: Instant,
}

/// Every token the org has issued.
#[derive(Debug)]
pub struct TokenStore {
    org_id: String,
    session_timeout: Duration,
    tokens: Mutex<HashMap<String, Token>>,
}

impl TokenStore {
    pub fn new(org_id: &str, session_timeout: Duration) -> Self {
        Self {
            org_id: org_id.chars().take(15).collect(),
            session_timeout,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_token(&self) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
        let mut rng = rand::rng();
        let random: String = (0..64)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect();
        format!("{}!{random}", self.org_id)
    }

    /// A new access token for `user_id`, optionally issued from a refresh token.
    pub fn issue_access(&self, user_id: &str, parent: Option<&str>) -> String {
        let token = self.new_token();
        self.tokens().insert(
            token.clone(),
            Token {
                kind: Kind::Access,
                user_id: user_id.to_owned(),
                parent: parent.map(str::to_owned),
                last_used: Instant::now(),
            },
        );
        token
    }

    /// A new refresh token for `user_id`.
    pub fn issue_refresh(&self, user_id: &str) -> String {
        let token = self.new_token();
        self.tokens().insert(
            token.clone(),
            Token {
                kind: Kind::Refresh,
                user_id: user_id.to_owned(),
                parent: None,
                last_used: Instant::now(),
            },
        );
        token
    }

    /// The user of a live access token, extending its session.
    pub fn validate_access(&self, token: &str) -> Option<String> {
        let mut tokens = self.tokens();
        let entry = tokens.get_mut(token)?;
        if entry.kind != Kind::Access {
            return None;
        }
        let now = Instant::now();
        if now.duration_since(entry.last_used) > self.session_timeout {
            tokens.remove(token);
            return None;
        }
        entry.last_used = now;
        Some(entry.user_id.clone())
    }

    /// The user of a refresh token.
    pub fn validate_refresh(&self, token: &str) -> Option<String> {
        let tokens = self.tokens();
        let entry = tokens.get(token)?;
        (entry.kind == Kind::Refresh).then(|| entry.user_id.clone())
    }

    /// Revokes an access or refresh token (and the access tokens issued from a refresh
    /// token). Returns whether the token existed.
    pub fn revoke(&self, token: &str) -> bool {
        let mut tokens = self.tokens();
        let Some(entry) = tokens.remove(token) else {
            return false;
        };
        if entry.kind == Kind::Refresh {
            tokens.retain(|_, t| t.parent.as_deref() != Some(token));
        }
        true
    }

    /// Revokes every token of `user_id`. Returns how many.
    pub fn revoke_user(&self, user_id: &str) -> usize {
        let mut tokens = self.tokens();
        let before = tokens.len();
        tokens.retain(|_, t| t.user_id != user_id);
        before - tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_validate_until_revoked() {
        let store = TokenStore::new("00D5g000001abcdEAA", Duration::from_secs(60));
        let token = store.issue_access("005A", None);
        assert!(token.starts_with("00D5g000001abcd!"));
        assert_eq!(store.validate_access(&token).as_deref(), Some("005A"));
        assert!(store.revoke(&token));
        assert_eq!(store.validate_access(&token), None);
        assert!(!store.revoke(&token));
    }

    #[test]
    fn idle_sessions_expire_and_use_extends_them() {
        let store = TokenStore::new("00D", Duration::from_millis(30));
        let token = store.issue_access("005A", None);
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(15));
            assert!(
                store.validate_access(&token).is_some(),
                "use keeps it alive"
            );
        }
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.validate_access(&token), None);
    }

    #[test]
    fn revoking_a_refresh_token_revokes_its_access_tokens() {
        let store = TokenStore::new("00D", Duration::from_secs(60));
        let refresh = store.issue_refresh("005A");
        let access = store.issue_access("005A", Some(&refresh));
        let other = store.issue_access("005A", None);
        assert_eq!(
            store.validate_access(&refresh),
            None,
            "a refresh token is not an access token"
        );
        assert!(store.revoke(&refresh));
        assert_eq!(store.validate_access(&access), None);
        assert!(store.validate_access(&other).is_some());
        assert_eq!(store.revoke_user("005A"), 1);
    }
}
