//! Tokens, daily counters and committed positions.

use std::time::Duration;

use bayou_log::{TokenGrant, TokenKind};

use crate::backend::Backend;
use crate::conformance;

conformance!(
    tokens_grant_until_revoked,
    idle_access_tokens_expire,
    counters_refuse_past_their_limit,
    positions_are_committed_and_forgotten,
    a_subscriber_is_claimed_by_one_holder_until_released_or_lapsed,
);

fn grant(kind: TokenKind, user: &str, parent: Option<&str>) -> TokenGrant {
    TokenGrant {
        kind,
        user_id: user.to_owned(),
        parent: parent.map(str::to_owned),
    }
}

async fn tokens_grant_until_revoked(backend: Backend) {
    let node = backend.node().await;
    let tokens = &node.storage.tokens;
    tokens
        .insert("R1".into(), grant(TokenKind::Refresh, "005A", None))
        .await
        .unwrap();
    tokens
        .insert("A1".into(), grant(TokenKind::Access, "005A", Some("R1")))
        .await
        .unwrap();
    tokens
        .insert("A2".into(), grant(TokenKind::Access, "005A", None))
        .await
        .unwrap();
    tokens
        .insert("B1".into(), grant(TokenKind::Access, "005B", None))
        .await
        .unwrap();
    assert_eq!(tokens.use_access("A1").as_deref(), Some("005A"));
    assert_eq!(
        tokens.use_access("R1"),
        None,
        "a refresh token is not an access token"
    );
    assert_eq!(tokens.refresh_user("R1").as_deref(), Some("005A"));
    assert_eq!(tokens.refresh_user("A1"), None);
    assert_eq!(tokens.use_access("nope"), None);

    assert!(tokens.revoke("R1").await.unwrap());
    assert_eq!(
        tokens.use_access("A1"),
        None,
        "revoked with its refresh token"
    );
    assert_eq!(tokens.use_access("A2").as_deref(), Some("005A"));
    assert!(!tokens.revoke("R1").await.unwrap(), "already gone");
    assert_eq!(tokens.revoke_user("005A").await.unwrap(), 1);
    assert_eq!(tokens.use_access("A2"), None);
    assert_eq!(tokens.use_access("B1").as_deref(), Some("005B"));
}

async fn idle_access_tokens_expire(backend: Backend) {
    let idle = Duration::from_millis(400);
    let node = backend.node_with(idle).await;
    let tokens = &node.storage.tokens;
    tokens
        .insert("used".into(), grant(TokenKind::Access, "005A", None))
        .await
        .unwrap();
    tokens
        .insert("idle".into(), grant(TokenKind::Access, "005A", None))
        .await
        .unwrap();
    // The idle timeout itself is what is tested: time has to pass.
    for _ in 0..4 {
        tokio::time::sleep(idle / 4).await;
        assert!(
            tokens.use_access("used").is_some(),
            "use extends a token's life"
        );
    }
    assert_eq!(
        tokens.use_access("idle"),
        None,
        "unused for longer than the timeout"
    );
}

async fn counters_refuse_past_their_limit(backend: Backend) {
    let node = backend.node().await;
    let counters = &node.storage.counters;
    assert!(counters.try_take("PushTopic", 2));
    assert!(counters.try_take("PushTopic", 2));
    assert!(!counters.try_take("PushTopic", 2));
    assert_eq!(counters.used("PushTopic"), 2);
    assert!(counters.try_take("GenericStreaming", 5));
    counters.use_up("GenericStreaming", 5);
    assert_eq!(counters.used("GenericStreaming"), 5);
    assert!(!counters.try_take("GenericStreaming", 5));
}

async fn positions_are_committed_and_forgotten(backend: Backend) {
    let node = backend.node().await;
    let positions = &node.storage.positions;
    assert_eq!(positions.committed("sub/one").await.unwrap(), None);
    positions.commit("sub/one", 42).await.unwrap();
    positions.commit("sub/one", 40).await.unwrap();
    assert_eq!(
        positions.committed("sub/one").await.unwrap(),
        Some(40),
        "rewinds are kept"
    );
    assert!(positions.forget("sub/one").await.unwrap());
    assert!(!positions.forget("sub/one").await.unwrap());
    assert_eq!(positions.committed("sub/one").await.unwrap(), None);
}

async fn a_subscriber_is_claimed_by_one_holder_until_released_or_lapsed(backend: Backend) {
    let node = backend.node().await;
    let positions = &node.storage.positions;
    let long = Duration::from_secs(60);
    assert!(positions.claim("sub/one", "stream-a", long).await.unwrap());
    assert!(
        !positions.claim("sub/one", "stream-b", long).await.unwrap(),
        "held by a"
    );
    assert!(
        positions.claim("sub/one", "stream-a", long).await.unwrap(),
        "a renews"
    );
    assert!(positions.claim("sub/two", "stream-b", long).await.unwrap());
    // Releasing another's claim does nothing; releasing one's own frees it.
    positions.release("sub/one", "stream-b").await.unwrap();
    assert!(!positions.claim("sub/one", "stream-b", long).await.unwrap());
    positions.release("sub/one", "stream-a").await.unwrap();
    assert!(positions.claim("sub/one", "stream-b", long).await.unwrap());
    assert!(!positions.claim("sub/one", "stream-a", long).await.unwrap());

    // A claim that is not renewed lapses, and another holder takes it over: not before.
    let claimed_at = std::time::Instant::now();
    assert!(positions
        .claim("sub/three", "stream-a", Duration::from_millis(200))
        .await
        .unwrap());
    assert!(!positions
        .claim("sub/three", "stream-b", long)
        .await
        .unwrap());
    while !positions
        .claim("sub/three", "stream-b", long)
        .await
        .unwrap()
    {
        assert!(
            claimed_at.elapsed() < Duration::from_secs(10),
            "the claim never lapsed"
        );
        tokio::task::yield_now().await;
    }
    // The store's clock counts whole milliseconds.
    assert!(
        claimed_at.elapsed() >= Duration::from_millis(199),
        "taken over {:?} after a 200 ms claim",
        claimed_at.elapsed()
    );
    assert!(!positions
        .claim("sub/three", "stream-a", long)
        .await
        .unwrap());
}
