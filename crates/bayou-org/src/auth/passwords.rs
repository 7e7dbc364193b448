//! Checking passwords and client secrets without letting the checks hurt the server or give
//! secrets away.
//!
//! - Argon2 is slow on purpose (tens of milliseconds); run on the async workers it stalled every
//!   other request. Checks run on Tokio's blocking pool, at most two at a time, so a flood of
//!   logins waits its turn instead of taking the workers.
//! - An unknown username costs the same as a wrong password (its password is checked against a
//!   stand-in hash), so the reply time does not tell which usernames exist.
//! - Repeated failures lock a username out, as Salesforce does ("Maximum invalid login
//!   attempts", 10 by default, for 15 minutes), and a client address too (10 times as many,
//!   since one address may serve many users). A locked-out login gets the same answer as a
//!   wrong password and costs no hashing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::identity::{hash_secret, verify_secret};

/// Failures remembered at most (usernames and addresses each); older windows are dropped first.
const MAX_TRACKED: usize = 100_000;

/// The checks, with their throttle.
#[derive(Debug)]
pub struct PasswordChecks {
    permits: Semaphore,
    max_failures: u32,
    lockout: Duration,
    users: Mutex<Failures<String>>,
    addresses: Mutex<Failures<IpAddr>>,
}

/// Failures per key within the lockout period.
#[derive(Debug)]
struct Failures<K> {
    by_key: HashMap<K, (u32, Instant)>,
}

impl<K: std::hash::Hash + Eq + Clone> Failures<K> {
    fn new() -> Self {
        Self {
            by_key: HashMap::new(),
        }
    }

    fn count(&self, key: &K, lockout: Duration, now: Instant) -> u32 {
        match self.by_key.get(key) {
            Some((count, since)) if now.duration_since(*since) < lockout => *count,
            _ => 0,
        }
    }

    fn add(&mut self, key: K, lockout: Duration, now: Instant) {
        if self.by_key.len() >= MAX_TRACKED {
            self.by_key
                .retain(|_, (_, since)| now.duration_since(*since) < lockout);
            if self.by_key.len() >= MAX_TRACKED {
                self.by_key.clear();
            }
        }
        let entry = self.by_key.entry(key).or_insert((0, now));
        if now.duration_since(entry.1) >= lockout {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn clear(&mut self, key: &K) {
        self.by_key.remove(key);
    }
}

/// A hash no secret matches, checked for unknown usernames so they take as long as known ones.
fn stand_in_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let random = format!("{:032x}", rand::random::<u128>());
        hash_secret(&random).unwrap_or_default()
    })
}

impl PasswordChecks {
    /// `max_failures` failed logins within `lockout` lock a username out for the rest of it.
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Self {
            permits: Semaphore::new(2),
            max_failures,
            lockout,
            users: Mutex::new(Failures::new()),
            addresses: Mutex::new(Failures::new()),
        }
    }

    /// Whether `secret` matches `hash`, checked off the async workers. `None` (an unknown
    /// user) is checked against a stand-in and never matches.
    pub async fn verify(&self, secret: &str, hash: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let secret = secret.to_owned();
        let hash = hash.unwrap_or_else(|| stand_in_hash()).to_owned();
        let matched = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
            .await
            .unwrap_or(false);
        known && matched
    }

    /// Whether logins as `username`, or from `address`, are locked out now.
    pub fn is_locked(&self, username: &str, address: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let key = username.to_ascii_lowercase();
        let user_locked = self.users.lock().count(&key, self.lockout, now) >= self.max_failures;
        let address_limit = self.max_failures.saturating_mul(10);
        let address_locked = address
            .is_some_and(|a| self.addresses.lock().count(&a, self.lockout, now) >= address_limit);
        user_locked || address_locked
    }

    /// Counts a failed login.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        self.users
            .lock()
            .add(username.to_ascii_lowercase(), self.lockout, now);
        if let Some(address) = address {
            self.addresses.lock().add(address, self.lockout, now);
        }
    }

    /// A successful login clears the username's failures.
    pub fn succeeded(&self, username: &str) {
        self.users.lock().clear(&username.to_ascii_lowercase());
    }

    /// Checks a login: `Ok` when `password` matches `hash` (the user's, `None` if there is no
    /// such user) and neither the username nor the address is locked out.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        hash: Option<&str>,
        address: Option<IpAddr>,
    ) -> bool {
        if self.is_locked(username, address) {
            return false;
        }
        if self.verify(password, hash).await {
            self.succeeded(username);
            true
        } else {
            self.failed(username, address);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repeated_failures_lock_the_username_out_until_the_period_ends() {
        let hash = hash_secret("right").unwrap();
        let checks = PasswordChecks::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert!(
                !checks
                    .login("Dev@Example.com", "wrong", Some(&hash), None)
                    .await
            );
        }
        assert!(
            !checks
                .login("dev@example.com", "right", Some(&hash), None)
                .await,
            "locked out, whatever the case of the username"
        );
        tokio::time::sleep(Duration::from_millis(350)).await; // the lockout period itself
        assert!(
            checks
                .login("dev@example.com", "right", Some(&hash), None)
                .await
        );
    }

    #[tokio::test]
    async fn an_address_is_locked_after_ten_times_the_failures() {
        let hash = hash_secret("right").unwrap();
        let checks = PasswordChecks::new(1, Duration::from_secs(60));
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        for i in 0..10 {
            checks.failed(&format!("user{i}"), Some(address));
        }
        assert!(checks.is_locked("someone-else", Some(address)));
        assert!(!checks.is_locked("someone-else", None));
        assert!(checks.login("fresh", "right", Some(&hash), None).await);
    }

    #[tokio::test]
    async fn unknown_users_never_match() {
        let checks = PasswordChecks::new(10, Duration::from_secs(60));
        assert!(!checks.verify("anything", None).await);
        let hash = hash_secret("x").unwrap();
        assert!(checks.verify("x", Some(&hash)).await);
    }
}
