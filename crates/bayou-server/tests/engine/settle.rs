//! A policy that is a moment behind (a node of a cluster whose copy has not yet taken a token
//! or a channel made through another node): the engine lets it catch up before refusing a
//! handshake or a subscription as unknown, and only then.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bayou_protocol::Subscription;
use bayou_server::{Credentials, Denial, Principal, SecurityPolicy};
use parking_lot::Mutex;
use serde_json::json;

use crate::support::{quick_config, Client, TestServer};

/// Knows some tokens and channels; others exist elsewhere and arrive when it settles.
#[derive(Default)]
struct Lagging {
    known: Mutex<HashSet<String>>,
    elsewhere: Mutex<HashSet<String>>,
    settles: AtomicUsize,
}

impl Lagging {
    fn new(known: &[&str], elsewhere: &[&str]) -> Arc<Self> {
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        Arc::new(Self {
            known: Mutex::new(set(known)),
            elsewhere: Mutex::new(set(elsewhere)),
            settles: AtomicUsize::new(0),
        })
    }

    fn settles(&self) -> usize {
        self.settles.load(Ordering::SeqCst)
    }
}

impl SecurityPolicy for Lagging {
    fn can_handshake(&self, credentials: &Credentials) -> Result<Principal, Denial> {
        match credentials.token() {
            Some(token) if self.known.lock().contains(token) => Ok(Principal {
                user_id: Some("005A".into()),
                token: Some(token.to_owned()),
            }),
            _ => Err(Denial::AuthenticationInvalid),
        }
    }

    fn can_subscribe(&self, _: &Principal, subscription: &Subscription) -> Result<(), Denial> {
        let channel = subscription.channel.as_str();
        if channel == "/restricted" {
            return Err(Denial::RestrictedChannel);
        }
        if self.known.lock().contains(channel) {
            Ok(())
        } else {
            Err(Denial::ChannelDoesNotExist(channel.to_owned()))
        }
    }

    fn settle(&self, _: &Denial) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.settles.fetch_add(1, Ordering::SeqCst);
            let arrived: Vec<String> = self.elsewhere.lock().drain().collect();
            self.known.lock().extend(arrived);
        })
    }
}

fn client_with_token(server: &TestServer, token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client {
        http: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        url: server.cometd(),
        client_id: None,
    }
}

#[tokio::test]
async fn a_token_and_a_channel_made_elsewhere_are_let_in_after_catching_up() {
    let policy = Lagging::new(&[], &["new-token", "/topic/New"]);
    let server =
        TestServer::start_with_policy(quick_config(), Arc::clone(&policy) as _, |_| {}).await;
    let mut client = client_with_token(&server, "new-token");
    client.handshake().await;
    assert_eq!(policy.settles(), 1, "the handshake caught up once");
    let reply = client.subscribe(json!("/topic/New")).await;
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(
        policy.settles(),
        1,
        "the channel had arrived with the token"
    );
    server.stop().await;
}

#[tokio::test]
async fn what_does_not_exist_anywhere_is_refused_with_salesforces_error_after_one_catch_up() {
    let policy = Lagging::new(&["token"], &[]);
    let server =
        TestServer::start_with_policy(quick_config(), Arc::clone(&policy) as _, |_| {}).await;
    let mut client = client_with_token(&server, "token");
    client.handshake().await;
    assert_eq!(policy.settles(), 0, "a known token never waits");

    let reply = client.subscribe(json!("/topic/Missing")).await;
    assert_eq!(reply["successful"], false, "{reply}");
    assert_eq!(
        reply["error"],
        "400::The channel you requested to subscribe to doesn\u{2019}t exist /topic/Missing"
    );
    assert_eq!(policy.settles(), 1);

    // Refusals that no catching up can change do not wait.
    let reply = client.subscribe(json!("/restricted")).await;
    assert_eq!(reply["successful"], false, "{reply}");
    assert_eq!(
        policy.settles(),
        1,
        "a restricted channel is refused at once"
    );

    let stranger = client_with_token(&server, "unknown-token");
    let replies = stranger
        .post(json!([{
            "channel": "/meta/handshake", "version": "1.0", "id": "1",
            "supportedConnectionTypes": ["long-polling"]
        }]))
        .await;
    assert_eq!(replies[0]["successful"], false, "{}", replies[0]);
    assert_eq!(replies[0]["error"], "403::Handshake denied");
    assert_eq!(
        replies[0]["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
    assert_eq!(policy.settles(), 2);
    server.stop().await;
}
