//! Tokens in memory, as Bayou has always kept them on one node: a restart logs everyone out,
//! as a Salesforce org's tokens would be lost with its sessions if it forgot them.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::{StoreFuture, TokenGrant, TokenKind, TokenStore};

#[derive(Debug)]
struct Entry {
    grant: TokenGrant,
    last_used: Instant,
}

/// A [`TokenStore`] in this process's memory.
#[derive(Debug)]
pub struct MemoryTokens {
    idle_timeout: Duration,
    tokens: Mutex<HashMap<String, Entry>>,
}

impl MemoryTokens {
    /// A store whose access tokens expire after `idle_timeout` without use.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn tokens(&self) -> parking_lot::MutexGuard<'_, HashMap<String, Entry>> {
        self.tokens.lock()
    }
}

impl TokenStore for MemoryTokens {
    fn insert(&self, token: String, grant: TokenGrant) -> StoreFuture<'_, ()> {
        let entry = Entry {
            grant,
            last_used: Instant::now(),
        };
        self.tokens().insert(token, entry);
        Box::pin(std::future::ready(Ok(())))
    }

    fn use_access(&self, token: &str) -> Option<String> {
        let mut tokens = self.tokens();
        let entry = tokens.get_mut(token)?;
        if entry.grant.kind != TokenKind::Access {
            return None;
        }
        let now = Instant::now();
        if now.duration_since(entry.last_used) > self.idle_timeout {
            tokens.remove(token);
            return None;
        }
        entry.last_used = now;
        Some(entry.grant.user_id.clone())
    }

    fn refresh_user(&self, token: &str) -> Option<String> {
        let tokens = self.tokens();
        let entry = tokens.get(token)?;
        (entry.grant.kind == TokenKind::Refresh).then(|| entry.grant.user_id.clone())
    }

    fn revoke(&self, token: &str) -> StoreFuture<'_, bool> {
        let mut tokens = self.tokens();
        let existed = match tokens.remove(token) {
            None => false,
            Some(entry) => {
                if entry.grant.kind == TokenKind::Refresh {
                    tokens.retain(|_, t| t.grant.parent.as_deref() != Some(token));
                }
                true
            }
        };
        Box::pin(std::future::ready(Ok(existed)))
    }

    fn revoke_user(&self, user_id: &str) -> StoreFuture<'_, usize> {
        let mut tokens = self.tokens();
        let before = tokens.len();
        tokens.retain(|_, t| t.grant.user_id != user_id);
        let revoked = before - tokens.len();
        Box::pin(std::future::ready(Ok(revoked)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(kind: TokenKind, parent: Option<&str>) -> TokenGrant {
        TokenGrant {
            kind,
            user_id: "005A".into(),
            parent: parent.map(str::to_owned),
        }
    }

    fn block<T>(future: StoreFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
            .unwrap()
    }

    #[test]
    fn access_tokens_validate_until_revoked() {
        let store = MemoryTokens::new(Duration::from_secs(60));
        block(store.insert("t".into(), grant(TokenKind::Access, None)));
        assert_eq!(store.use_access("t").as_deref(), Some("005A"));
        assert!(block(store.revoke("t")));
        assert_eq!(store.use_access("t"), None);
        assert!(!block(store.revoke("t")));
    }

    #[test]
    fn idle_tokens_expire_and_use_extends_them() {
        let store = MemoryTokens::new(Duration::from_millis(30));
        block(store.insert("t".into(), grant(TokenKind::Access, None)));
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(15));
            assert!(store.use_access("t").is_some(), "use keeps it alive");
        }
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.use_access("t"), None);
    }

    #[test]
    fn revoking_a_refresh_token_revokes_its_access_tokens() {
        let store = MemoryTokens::new(Duration::from_secs(60));
        block(store.insert("r".into(), grant(TokenKind::Refresh, None)));
        block(store.insert("a".into(), grant(TokenKind::Access, Some("r"))));
        block(store.insert("o".into(), grant(TokenKind::Access, None)));
        assert_eq!(
            store.use_access("r"),
            None,
            "a refresh token is not an access token"
        );
        assert_eq!(store.refresh_user("r").as_deref(), Some("005A"));
        assert_eq!(store.refresh_user("a"), None);
        assert!(block(store.revoke("r")));
        assert_eq!(store.use_access("a"), None);
        assert!(store.use_access("o").is_some());
        assert_eq!(block(store.revoke_user("005A")), 1);
    }
}
