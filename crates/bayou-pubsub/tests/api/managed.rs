//! Managed subscriptions: `ManagedEventSubscription` records through the Tooling API, and
//! `ManagedSubscribe` streams that resume after the position they committed.

use bayou_pubsub::proto::{CommitReplayRequest, ManagedFetchRequest, ManagedFetchResponse};
use bayou_pubsub::PubSubConfig;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

use crate::support::{error_code, start, Api, Client};

/// Creates a managed subscription to Low_Ink__e; its id.
async fn create(api: &Api, name: &str, default_replay: &str, state: &str) -> String {
    let (status, body) = api
        .bayou
        .rest(
            &api.token,
            Method::POST,
            "tooling/sobjects/ManagedEventSubscription",
            Some(json!({"FullName": name, "Metadata": {
                "label": name, "topicName": "/event/Low_Ink__e",
                "defaultReplay": default_replay, "errorRecoveryReplay": "LATEST", "state": state
            }})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("18x"));
    body["id"].as_str().unwrap().to_owned()
}

struct Managed {
    requests: mpsc::Sender<ManagedFetchRequest>,
    responses: Streaming<ManagedFetchResponse>,
}

impl Managed {
    async fn open(client: &mut Client, first: ManagedFetchRequest) -> Result<Self, Status> {
        let (requests, outbound) = mpsc::channel(8);
        requests.send(first).await.unwrap();
        let responses = client
            .managed_subscribe(ReceiverStream::new(outbound))
            .await?
            .into_inner();
        Ok(Self {
            requests,
            responses,
        })
    }

    async fn next(&mut self) -> ManagedFetchResponse {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.responses.message())
            .await
            .expect("no response within 10 s")
            .unwrap()
            .expect("the stream ended")
    }

    /// Replay ids of the next `count` events.
    async fn events(&mut self, count: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        while ids.len() < count {
            for event in self.next().await.events {
                ids.push(u64::from_be_bytes(event.replay_id[..].try_into().unwrap()));
            }
        }
        ids
    }

    async fn commit(&mut self, request_id: &str, replay_id: &[u8]) -> ManagedFetchResponse {
        self.requests
            .send(ManagedFetchRequest {
                commit_replay_id_request: Some(CommitReplayRequest {
                    commit_request_id: request_id.into(),
                    replay_id: replay_id.to_vec().into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        loop {
            let response = self.next().await;
            if response.commit_response.is_some() {
                return response;
            }
        }
    }
}

fn by_name(name: &str, n: i32) -> ManagedFetchRequest {
    ManagedFetchRequest {
        developer_name: name.into(),
        num_requested: n,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_tooling_api_creates_finds_and_refuses_subscriptions() {
    let api = start(PubSubConfig::default()).await;
    let id = create(&api, "Ink_Watch", "EARLIEST", "RUN").await;
    let q = "SELECT Id, DeveloperName, Metadata FROM ManagedEventSubscription WHERE DeveloperName='Ink_Watch' LIMIT 1";
    let url = format!(
        "{}/services/data/v62.0/tooling/query/?q={}",
        api.bayou.base,
        q.replace(' ', "%20")
            .replace('\'', "%27")
            .replace('=', "%3D")
    );
    let found: Value = api
        .bayou
        .http
        .get(url)
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["size"], 1, "{found}");
    let record = &found["records"][0];
    assert_eq!(record["Id"], id.as_str());
    assert_eq!(record["Metadata"]["topicName"], "/event/Low_Ink__e");
    assert_eq!(record["Metadata"]["state"], "RUN");
    assert!(
        record.get("MasterLabel").is_none(),
        "only the fields selected"
    );

    let (status, one) = api
        .bayou
        .rest(
            &api.token,
            Method::GET,
            &format!("tooling/sobjects/ManagedEventSubscription/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["DeveloperName"], "Ink_Watch");

    let (status, body) = api
        .bayou
        .rest(
            &api.token,
            Method::POST,
            "tooling/sobjects/ManagedEventSubscription",
            Some(json!({"FullName": "Ink_Watch", "Metadata": {"topicName": "/event/Low_Ink__e"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body[0]["errorCode"], "DUPLICATE_DEVELOPER_NAME");
    let (status, body) = api
        .bayou
        .rest(
            &api.token,
            Method::POST,
            "tooling/sobjects/ManagedEventSubscription",
            Some(json!({"FullName": "Nowhere", "Metadata": {"topicName": "/event/Nope__e"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_stream_resumes_after_the_committed_position() {
    let api = start(PubSubConfig::default()).await;
    create(&api, "Ink_Watch", "EARLIEST", "RUN").await;
    for model in ["a", "b", "c"] {
        api.publish_rest(model).await;
    }
    let mut client = api.client().await;
    let mut stream = Managed::open(&mut client, by_name("Ink_Watch", 10))
        .await
        .unwrap();
    let ids = stream.events(3).await;
    let reply = stream.commit("commit-1", &ids[1].to_be_bytes()).await;
    let commit = reply.commit_response.unwrap();
    assert_eq!(commit.commit_request_id, "commit-1");
    assert!(commit.error.is_none(), "{commit:?}");
    assert!(commit.process_time > 0);
    // A commit that is not a replay id fails on its own; the stream goes on.
    let bad = stream
        .commit("commit-2", &[1, 2])
        .await
        .commit_response
        .unwrap();
    assert!(bad.error.is_some());

    // Only one stream reads a subscription at a time.
    let second = Managed::open(&mut client, by_name("Ink_Watch", 10))
        .await
        .err()
        .unwrap();
    assert_eq!(second.code(), Code::AlreadyExists);
    assert_eq!(
        error_code(&second),
        "sfdc.platform.eventbus.grpc.managed.subscription.already.active"
    );

    drop(stream);
    api.publish_rest("d").await;
    // The server releases the subscription when it sees the first stream gone: poll for it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut resumed = loop {
        match Managed::open(&mut client, by_name("Ink_Watch", 10)).await {
            Ok(stream) => break stream,
            Err(status) if status.code() == Code::AlreadyExists => {
                assert!(tokio::time::Instant::now() < deadline, "never released");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    };
    let after = resumed.events(2).await;
    assert_eq!(
        after[0], ids[2],
        "after the committed position, not the last one read"
    );
    assert!(after[1] > ids[2]);
}

#[tokio::test]
async fn stopped_and_unknown_subscriptions_are_refused() {
    let api = start(PubSubConfig::default()).await;
    let id = create(&api, "Paused", "LATEST", "STOP").await;
    let mut client = api.client().await;
    let status = Managed::open(&mut client, by_name("Paused", 1))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = Managed::open(&mut client, by_name("Nope", 1))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::NotFound);
    let empty = Managed::open(&mut client, ManagedFetchRequest::default())
        .await
        .err()
        .unwrap();
    assert_eq!(empty.code(), Code::InvalidArgument);

    let (status, _) = api
        .bayou
        .rest(
            &api.token,
            Method::PATCH,
            &format!("tooling/sobjects/ManagedEventSubscription/{id}"),
            Some(json!({"Metadata": {"state": "RUN"}})),
        )
        .await;
    assert_eq!(status, 204);
    let by_id = ManagedFetchRequest {
        subscription_id: id.clone(),
        num_requested: 1,
        ..Default::default()
    };
    let mut stream = Managed::open(&mut client, by_id).await.unwrap();
    api.publish_rest("live").await;
    assert_eq!(stream.events(1).await.len(), 1);
}

#[tokio::test]
async fn a_commit_in_the_first_request_and_negative_credits_are_refused() {
    let api = start(PubSubConfig::default()).await;
    create(&api, "Ink_Rules", "LATEST", "RUN").await;
    let mut client = api.client().await;
    let mut committing = by_name("Ink_Rules", 1);
    committing.commit_replay_id_request = Some(CommitReplayRequest {
        commit_request_id: "too-early".into(),
        replay_id: 1u64.to_be_bytes().to_vec().into(),
    });
    let status = Managed::open(&mut client, committing).await.err().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.commit.request.restricted"
    );
    let status = Managed::open(&mut client, by_name("Ink_Rules", -1))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.events.invalid"
    );
    // A request for no events is allowed: it carries only a commit, or nothing yet.
    Managed::open(&mut client, by_name("Ink_Rules", 0))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_running_stream_keeps_its_claim_past_the_claims_lifetime() {
    let config = PubSubConfig {
        managed_claim: std::time::Duration::from_millis(300),
        keepalive: std::time::Duration::from_millis(1_000),
        ..PubSubConfig::default()
    };
    let api = start(config).await;
    create(&api, "Ink_Keep", "LATEST", "RUN").await;
    let mut client = api.client().await;
    let mut first = Managed::open(&mut client, by_name("Ink_Keep", 10))
        .await
        .unwrap();
    // The keepalive comes after more than three claim lifetimes: unrenewed, the claim would
    // have lapsed by now.
    let keepalive = first.next().await;
    assert!(keepalive.events.is_empty());
    let second = Managed::open(&mut client, by_name("Ink_Keep", 10))
        .await
        .err()
        .unwrap();
    assert_eq!(second.code(), Code::AlreadyExists);
}
