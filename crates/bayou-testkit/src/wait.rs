//! Waiting for something to become true, by looking at it.
//!
//! A test that sleeps "long enough" for the server or the client to reach a state passes
//! without testing anything when the state is never reached, and fails on a slow machine when
//! it is reached late. Polling the state itself fixes both; the timeout is only the bound after
//! which the test fails.

use std::time::Duration;

/// Polls `condition` every 10 ms until it holds; panics with `what` after `within`.
pub async fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
