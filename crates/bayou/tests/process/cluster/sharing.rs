//! Three nodes, one org: a token from any node works on every node, an event published on one
//! reaches subscribers on the others with the same replay id, a session belongs to the node
//! that made it, who is online is counted over every node, a revocation on one node ends
//! sessions on the others, and every node reports the cluster it sees. A node that cannot reach NATS refuses to start with one line.

use std::time::Duration;

use bayou_testkit::NatsServer;
use serde_json::{json, Value};

use super::{connect, publish, start_node, subscribe, until, PASSWORD, USER};

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_one_org() {
    let Some(nats) = NatsServer::start("three nodes serve one org") else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let nodes: Vec<_> = (0..3)
        .map(|i| start_node(&nats.url, &format!("node-{i}"), &[]))
        .collect();
    let [a, b, c] = [&nodes[0].target, &nodes[1].target, &nodes[2].target];

    // A token issued by A; a session on B subscribed to a channel; a publish on C.
    let auth = a.auth(USER, PASSWORD).await;
    let subscriber = subscribe(b, &auth, "/chat/room", -1).await;
    connect(b, &auth, &subscriber).await;
    let publisher = c.handshake(&auth).await;
    let ack = publish(
        c,
        &auth,
        &publisher,
        "/chat/room",
        json!({"hello": "from C"}),
    )
    .await;
    assert_eq!(ack["successful"], true, "{ack}");
    let replay_id = ack["ext"]["replayId"].as_u64().expect("replay id");
    let event = until("B delivers C's event", WITHIN, || async {
        connect(b, &auth, &subscriber)
            .await
            .into_iter()
            .find(|m| m["channel"] == "/chat/room")
    })
    .await;
    assert_eq!(event["data"]["hello"], "from C");
    assert_eq!(super::replay_id_of(&event), Some(replay_id), "{event}");

    // A PushTopic made on A fires for a record created on B, to a subscriber on C.
    let (status, topic) = a
        .rest(
            reqwest::Method::POST,
            "/sobjects/PushTopic",
            &auth,
            Some(json!({"Name":"Accts","Query":"SELECT Id, Name FROM Account","ApiVersion":66.0})),
        )
        .await;
    assert_eq!(status, 201, "{topic}");
    // B is written to at once, before anyone subscribes: a write catches up with the cluster
    // first, so A's PushTopic fires for B's first account. C then asks for the topic at once
    // (it catches up before calling the topic unknown) and replays everything it kept (-2).
    let (status, created) = b
        .rest(
            reqwest::Method::POST,
            "/sobjects/Account",
            &auth,
            Some(json!({"Name":"Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let topic_subscriber = subscribe(c, &auth, "/topic/Accts", -2).await;
    let notification = until("B's account fires A's PushTopic on C", WITHIN, || async {
        connect(c, &auth, &topic_subscriber)
            .await
            .into_iter()
            .find(|m| m["channel"] == "/topic/Accts")
    })
    .await;
    // And the account is there at once through the other nodes: read through A, changed
    // through C.
    let account = format!("/sobjects/Account/{}", created["id"].as_str().expect("id"));
    let (status, read) = a.rest(reqwest::Method::GET, &account, &auth, None).await;
    assert_eq!((status, &read["Name"]), (200, &json!("Acme")), "{read}");
    let (status, changed) = c
        .rest(
            reqwest::Method::PATCH,
            &account,
            &auth,
            Some(json!({"Name":"Acme 2"})),
        )
        .await;
    assert_eq!(status, 204, "{changed}");
    assert_eq!(
        notification["data"]["sobject"]["Name"], "Acme",
        "{notification}"
    );

    // Two nodes changing one record at the same moment lose neither's change: each update
    // names the version it read, and the one that lost the race is made again from the
    // other's result. (Without that, both read the same record and the later write puts back
    // the field the earlier one changed.)
    for round in 0..12 {
        let phone = json!({ "Phone": format!("b-{round}") });
        let website = json!({ "Website": format!("c-{round}") });
        let (on_b, on_c) = tokio::join!(
            b.rest(reqwest::Method::PATCH, &account, &auth, Some(phone)),
            c.rest(reqwest::Method::PATCH, &account, &auth, Some(website)),
        );
        assert_eq!((on_b.0, on_c.0), (204, 204), "{} / {}", on_b.1, on_c.1);
        let both = until("A reads both changes of the round", WITHIN, || async {
            let (status, read) = a.rest(reqwest::Method::GET, &account, &auth, None).await;
            (status == 200
                && read["Phone"] == format!("b-{round}")
                && read["Website"] == format!("c-{round}"))
            .then_some(read)
        })
        .await;
        assert_eq!(both["Name"], "Acme 2", "{both}");
    }

    // Sessions are node-local: B's client id means nothing on A.
    let elsewhere = connect(a, &auth, &subscriber).await;
    let reply = elsewhere.last().unwrap();
    assert_eq!(reply["error"], "403::Unknown client", "{reply}");
    assert_eq!(reply["advice"]["reconnect"], "handshake", "{reply}");

    // Who is online on a generic streaming channel counts every node: a session on B
    // subscribed to a channel made on A is online for C's push resource, and a push on C
    // targeted at its user reaches that session.
    let (status, channel) = a
        .rest(
            reqwest::Method::POST,
            "/sobjects/StreamingChannel",
            &auth,
            Some(json!({"Name":"/u/notes"})),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    let channel_id = channel["id"].as_str().expect("channel id").to_owned();
    subscribe(b, &auth, "/u/notes", -1).await;
    let me: Value = a
        .http
        .get(a.url("/services/oauth2/userinfo"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = me["user_id"].as_str().expect("user id").to_owned();
    let push = format!("/sobjects/StreamingChannel/{channel_id}/push");
    let online = until("C counts B's session as online", WITHIN, || async {
        let (status, online) = c.rest(reqwest::Method::GET, &push, &auth, None).await;
        (status == 200 && online["OnlineUserIds"] != json!([])).then_some(online)
    })
    .await;
    assert_eq!(online["OnlineUserIds"], json!([user_id]), "{online}");
    let (status, pushed) = c
        .rest(
            reqwest::Method::POST,
            &push,
            &auth,
            Some(json!({"pushEvents":[{"payload":"hi","userIds":[user_id]}]})),
        )
        .await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(
        pushed,
        json!([{"fanoutCount":1,"userOnlineStatus":{user_id.clone():true}}])
    );

    // Revoked on C, the session on B ends at its next connect.
    let token = auth.trim_start_matches("Bearer ");
    let revoked = c
        .http
        .post(c.url("/services/oauth2/revoke"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    let refused = until("B refuses the revoked token", WITHIN, || async {
        let replies = connect(b, &auth, &subscriber).await;
        replies
            .into_iter()
            .find(|m| m["channel"] == "/meta/connect" && m["successful"] == false)
    })
    .await;
    assert_eq!(refused["error"], "401::Authentication invalid", "{refused}");

    // Every node sees the three, and says so in /healthz and /metrics.
    let health: Value = until("A sees three nodes", WITHIN, || async {
        let health = a.health().await;
        (health["cluster"]["nodes"].as_array().map(Vec::len) == Some(3)).then_some(health)
    })
    .await;
    assert_eq!(health["cluster"]["node"], "node-0");
    assert_eq!(health["cluster"]["nats"], "connected");
    let metrics = a
        .http
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("bayou_cluster_nodes 3"), "{metrics}");
    assert!(
        metrics.contains("bayou_cluster_connected{node=\"node-0\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_node_without_nats_refuses_to_start_with_one_line() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let port = bayou_testkit::free_port();
    let stderr = super::refused(&["--cluster", &format!("nats://127.0.0.1:{port}")]);
    assert!(
        stderr.contains("cannot join the cluster") && stderr.contains("cannot reach NATS"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
