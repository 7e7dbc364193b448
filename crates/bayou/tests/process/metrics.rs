//! `/metrics` stays bounded however many channels clients subscribe to: the most subscribed
//! channels get a series each, the rest are summed under `(other)`.

use serde_json::{json, Value};

use crate::serve_process::ServeProcess;

#[tokio::test]
async fn per_channel_series_are_bounded() {
    let _shared = crate::EXCLUSIVE.read().await;
    let data = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(data.path(), &["--anonymous"], None);
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let request = http.post(server.bayeux_url()).body(body.to_string());
        async move {
            let replies: Value = request.send().await.unwrap().json().await.unwrap();
            replies
        }
    };
    let handshake = post(json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}])).await;
    let client_id = handshake[0]["clientId"].as_str().unwrap().to_owned();
    let channels: Vec<String> = (0..150).map(|i| format!("/chat/room{i}")).collect();
    let subscribe =
        json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":channels}]);
    assert_eq!(post(subscribe).await[0]["successful"], true);

    let text = http
        .get(format!("{}/metrics", server.origin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("bayou_channel_subscriptions{"))
        .collect();
    assert_eq!(series.len(), 101, "100 channels and (other): {series:?}");
    assert!(
        series.contains(&r#"bayou_channel_subscriptions{channel="(other)"} 50"#),
        "{series:?}"
    );
}

#[tokio::test]
async fn a_metrics_token_protects_the_endpoint() {
    let _shared = crate::EXCLUSIVE.read().await;
    let data = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(data.path(), &["--metrics-token", "scrape-me"], None);
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.origin);
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(http.get(&url)).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth("wrong")).await, 401);
    assert_eq!(status(http.get(&url).bearer_auth("scrape-me")).await, 200);
}
