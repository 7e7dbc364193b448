//! How many sessions each user and each client address holds, so that one user, or one
//! address, cannot open sessions without bound (`max_sessions_per_user`,
//! `max_sessions_per_address`). Kept as counters beside the session table, updated under its
//! lock, so a handshake's check costs two map lookups however many sessions there are.

use std::collections::HashMap;
use std::net::IpAddr;

/// Sessions per user and per address.
#[derive(Debug, Default)]
pub(super) struct SessionCounts {
    by_user: HashMap<String, usize>,
    by_address: HashMap<IpAddr, usize>,
}

/// What a new session would add to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin<'a> {
    pub user: Option<&'a str>,
    pub address: Option<IpAddr>,
}

impl SessionCounts {
    /// Whether one more session from `origin` stays within the limits (`None`: unlimited).
    pub fn admits(
        &self,
        origin: Origin<'_>,
        per_user: Option<usize>,
        per_address: Option<usize>,
    ) -> bool {
        let user_ok = match (origin.user, per_user) {
            (Some(user), Some(max)) => self.by_user.get(user).copied().unwrap_or(0) < max,
            _ => true,
        };
        let address_ok = match (origin.address, per_address) {
            (Some(address), Some(max)) => self.by_address.get(&address).copied().unwrap_or(0) < max,
            _ => true,
        };
        user_ok && address_ok
    }

    pub fn add(&mut self, origin: Origin<'_>) {
        if let Some(user) = origin.user {
            *self.by_user.entry(user.to_owned()).or_default() += 1;
        }
        if let Some(address) = origin.address {
            *self.by_address.entry(address).or_default() += 1;
        }
    }

    pub fn remove(&mut self, origin: Origin<'_>) {
        if let Some(user) = origin.user {
            decrement(&mut self.by_user, user);
        }
        if let Some(address) = origin.address {
            decrement(&mut self.by_address, &address);
        }
    }
}

fn decrement<K, Q>(counts: &mut HashMap<K, usize>, key: &Q)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_user_and_per_address() {
        let mut counts = SessionCounts::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        let alice = Origin {
            user: Some("005A"),
            address: Some(here),
        };
        counts.add(alice);
        counts.add(alice);
        assert!(!counts.admits(alice, Some(2), None));
        assert!(counts.admits(alice, Some(3), None));
        assert!(!counts.admits(
            Origin {
                user: Some("005B"),
                address: Some(here)
            },
            None,
            Some(2)
        ));
        assert!(counts.admits(
            Origin {
                user: Some("005B"),
                address: Some(there)
            },
            Some(2),
            Some(2)
        ));
        assert!(
            counts.admits(
                Origin {
                    user: None,
                    address: None
                },
                Some(0),
                Some(0)
            ),
            "unknown origins are not counted"
        );
        counts.remove(alice);
        assert!(counts.admits(alice, Some(2), Some(2)));
        counts.remove(alice);
        assert!(counts.by_user.is_empty() && counts.by_address.is_empty());
    }
}
