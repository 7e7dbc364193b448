//! Many filtered subscriptions of one session passing the same large events: the session holds
//! one copy of each event, not one per subscription, and still receives every delivery on its
//! own channel.

use std::collections::HashMap;
use std::time::Duration;

use bayou_org::OrgConfig;
use bayou_testkit::{eventually, start};
use serde_json::json;

const SUBSCRIPTIONS: usize = 600;
const WRITES: usize = 5;
const DESCRIPTION: usize = 30_000;

#[tokio::test]
async fn one_copy_of_an_event_per_session_whatever_the_filtered_subscriptions_it_passes() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        json!({"Name": "Big", "Query": "SELECT Id, Name, Phone, Description FROM Account",
               "ApiVersion": 66.0, "NotifyForFields": "Referenced"}),
    )
    .await;
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    // `&` means OR: every one of these passes an account named A.
    let channels: Vec<String> = (0..SUBSCRIPTIONS)
        .map(|i| format!("/topic/Big?Name='A'&Phone='{i}'"))
        .collect();
    let connect =
        json!({"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling"});
    org.bayeux(Some(&auth), json!([connect])).await;
    for chunk in channels.chunks(200) {
        let subscribes: Vec<_> = chunk
            .iter()
            .map(|c| json!({"channel":"/meta/subscribe","clientId":client_id,"subscription":c}))
            .collect();
        let replies = org.bayeux(Some(&auth), json!(subscribes)).await;
        assert!(
            replies.iter().all(|r| r["successful"] == true),
            "{replies:?}"
        );
    }

    let description = "d".repeat(DESCRIPTION);
    for _ in 0..WRITES {
        org.create(
            &token,
            "Account",
            json!({"Name": "A", "Description": description}),
        )
        .await;
    }
    let session = org
        .engine()
        .session(&client_id)
        .expect("the session is open");
    let expected = SUBSCRIPTIONS * WRITES;
    eventually("every delivery queued", Duration::from_secs(10), || {
        session.queued() == expected
    })
    .await;
    // One copy per event (just over DESCRIPTION bytes each) plus each delivery's channel; a
    // copy per delivery would be 3,000 × 30 KB, past the 16 MiB bound, ending the session.
    let channel_bytes: usize = channels.iter().map(String::len).sum::<usize>() * WRITES;
    let held = session.queued_bytes();
    assert!(
        held < WRITES * (DESCRIPTION + 1_000) + channel_bytes,
        "the queue holds {held} bytes"
    );

    // Every delivery arrives, on its own subscription's channel, with the whole record.
    let mut per_channel: HashMap<String, usize> = HashMap::new();
    let mut received = 0;
    while received < expected {
        let connect = json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling","advice":{"timeout":0}}]);
        let replies = org.bayeux(Some(&auth), connect).await;
        assert!(!replies.is_empty());
        for m in replies.iter().filter(|m| m.get("data").is_some()) {
            assert_eq!(m["data"]["sobject"]["Description"], description.as_str());
            *per_channel
                .entry(m["channel"].as_str().unwrap().to_owned())
                .or_default() += 1;
            received += 1;
        }
    }
    assert_eq!(per_channel.len(), SUBSCRIPTIONS);
    assert!(channels.iter().all(|c| per_channel[c] == WRITES));
    assert_eq!(session.queued_bytes(), 0);
}
