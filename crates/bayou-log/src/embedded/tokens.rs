//! Tokens in memory, as Bayou has always kept them on one node: a restart logs everyone out,
//! as a Salesforce org's tokens would be lost with its sessions if it forgot them.
//!
//! Bounded per user: a user keeps at most [`MAX_REFRESH_PER_USER`] refresh tokens and
//! [`MAX_ACCESS_PER_USER`] access tokens; issuing one more drops the oldest of its kind (the
//! access tokens issued from a dropped refresh token live on until they expire or are dropped
//! in turn), so logging in or refreshing in a loop cannot grow the store without bound.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::{StoreFuture, TokenGrant, TokenKind, TokenStore};

#[derive(Debug)]
struct Entry {
    grant: TokenGrant,
    last_used: Instant,
}

/// Refresh tokens one user may hold.
pub const MAX_REFRESH_PER_USER: usize = 100;
/// Access tokens one user may hold.
pub const MAX_ACCESS_PER_USER: usize = 2_000;

/// A [`TokenStore`] in this process's memory.
#[derive(Debug)]
pub struct MemoryTokens {
    idle_timeout: Duration,
    tokens: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    by_token: HashMap<String, Entry>,
    /// Each user's tokens of each kind (refresh: `true`), oldest first; may name tokens
    /// already gone.
    issued: HashMap<(String, bool), VecDeque<String>>,
}

impl Tokens {
    fn remove(&mut self, token: &str) -> Option<Entry> {
        let entry = self.by_token.remove(token)?;
        if entry.grant.kind == TokenKind::Refresh {
            self.by_token
                .retain(|_, t| t.grant.parent.as_deref() != Some(token));
        }
        Some(entry)
    }

    /// Drops `user`'s oldest tokens of `kind` beyond `max`.
    fn trim(&mut self, user: &str, kind: TokenKind, max: usize) {
        let key = (user.to_owned(), kind == TokenKind::Refresh);
        let Some(mut queue) = self.issued.remove(&key) else {
            return;
        };
        queue.retain(|t| self.by_token.contains_key(t));
        while queue.len() > max {
            if let Some(oldest) = queue.pop_front() {
                self.by_token.remove(&oldest);
            }
        }
        self.issued.insert(key, queue);
    }
}

impl MemoryTokens {
    /// A store whose access tokens expire after `idle_timeout` without use.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            tokens: Mutex::new(Tokens::default()),
        }
    }

    fn tokens(&self) -> parking_lot::MutexGuard<'_, Tokens> {
        self.tokens.lock()
    }
}

impl TokenStore for MemoryTokens {
    fn insert(&self, token: String, grant: TokenGrant) -> StoreFuture<'_, ()> {
        let (user, kind) = (grant.user_id.clone(), grant.kind);
        let entry = Entry {
            grant,
            last_used: Instant::now(),
        };
        let mut tokens = self.tokens();
        tokens
            .issued
            .entry((user.clone(), kind == TokenKind::Refresh))
            .or_default()
            .push_back(token.clone());
        tokens.by_token.insert(token, entry);
        let max = match kind {
            TokenKind::Refresh => MAX_REFRESH_PER_USER,
            TokenKind::Access => MAX_ACCESS_PER_USER,
        };
        tokens.trim(&user, kind, max);
        Box::pin(std::future::ready(Ok(())))
    }

    fn use_access(&self, token: &str) -> Option<String> {
        let mut tokens = self.tokens();
        let entry = tokens.by_token.get_mut(token)?;
        if entry.grant.kind != TokenKind::Access {
            return None;
        }
        let now = Instant::now();
        if now.duration_since(entry.last_used) > self.idle_timeout {
            tokens.by_token.remove(token);
            return None;
        }
        entry.last_used = now;
        Some(entry.grant.user_id.clone())
    }

    fn refresh_user(&self, token: &str) -> Option<String> {
        let tokens = self.tokens();
        let entry = tokens.by_token.get(token)?;
        (entry.grant.kind == TokenKind::Refresh).then(|| entry.grant.user_id.clone())
    }

    fn revoke(&self, token: &str) -> StoreFuture<'_, bool> {
        let existed = self.tokens().remove(token).is_some();
        Box::pin(std::future::ready(Ok(existed)))
    }

    fn revoke_user(&self, user_id: &str) -> StoreFuture<'_, usize> {
        let mut tokens = self.tokens();
        let before = tokens.by_token.len();
        tokens.by_token.retain(|_, t| t.grant.user_id != user_id);
        tokens.issued.retain(|(user, _), _| user != user_id);
        let revoked = before - tokens.by_token.len();
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

    #[test]
    fn a_user_keeps_only_so_many_tokens_the_oldest_go_first() {
        let store = MemoryTokens::new(Duration::from_secs(60));
        for i in 0..=MAX_REFRESH_PER_USER {
            block(store.insert(format!("r{i}"), grant(TokenKind::Refresh, None)));
        }
        block(store.insert("a0".into(), grant(TokenKind::Access, Some("r1"))));
        assert_eq!(
            store.refresh_user("r0"),
            None,
            "the oldest refresh token was dropped"
        );
        assert!(store
            .refresh_user(&format!("r{MAX_REFRESH_PER_USER}"))
            .is_some());
        block(store.insert("r-next".into(), grant(TokenKind::Refresh, None)));
        assert_eq!(store.refresh_user("r1"), None);
        assert!(
            store.use_access("a0").is_some(),
            "its access tokens live on"
        );
        for i in 0..MAX_ACCESS_PER_USER + 10 {
            block(store.insert(format!("x{i}"), grant(TokenKind::Access, None)));
        }
        assert_eq!(
            store.use_access("a0"),
            None,
            "the oldest access tokens went first"
        );
        assert_eq!(store.use_access("x0"), None);
        assert!(store
            .use_access(&format!("x{}", MAX_ACCESS_PER_USER + 9))
            .is_some());
        let held = store.tokens().by_token.len();
        assert_eq!(held, MAX_REFRESH_PER_USER + MAX_ACCESS_PER_USER);
    }
}
