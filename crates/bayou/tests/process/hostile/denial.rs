//! Denial of service (issue 17, items 1–6): requests that used to hold a worker thread, a lock
//! or the memory of the whole server.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Context, ATTACKER, ATTACKER_PASSWORD};

/// Attack 1: SOAP login bodies far larger than a login, and junk that is not one.
pub async fn soap_bodies(ctx: &Context<'_>) {
    let url = ctx.target.url("/services/Soap/u/66.0");
    let envelope = |entries: usize| {
        format!(
            "<?xml version=\"1.0\"?><env:Envelope><env:Body><n1:login>{}</n1:login></env:Body></env:Envelope>",
            "<username>a</username>".repeat(entries)
        )
    };
    let post = |body: String| {
        ctx.target
            .http
            .post(&url)
            .header("content-type", "text/xml")
            .header("soapaction", "login")
            .body(body)
            .send()
    };
    // 1 MB: refused on its declared length. The server may answer and close before the body
    // is all written, in which case the client sees its write cut instead of the answer.
    for response in join_all((0..2).map(|_| post(envelope(50_000)))).await {
        match response {
            Ok(response) => assert_soap_too_large(response).await,
            Err(e) => assert!(e.is_request(), "{e}"),
        }
    }
    // Just over the 64 KiB cap: small enough to be written whole, so the answer is read.
    assert_soap_too_large(post(envelope(3_000)).await.expect("SOAP request")).await;
    let junk = format!("<a>{}</a>", "<b x='1'>".repeat(6_000));
    let response = ctx.target.http.post(&url).body(junk).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let text = response.text().await.unwrap();
    assert!(text.contains("<soapenv:Fault>"), "{text}");
}

async fn assert_soap_too_large(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 413);
    // The body was not read: the connection must not go back to the client's pool (found when
    // a pooled connection the server had closed failed the next request on it).
    assert_eq!(
        response.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("<faultcode>soapenv:Client</faultcode>"),
        "{text}"
    );
}

/// Attack 2: Replay from the start of a large log on channels with no events: each subscription's
/// cost must follow what it delivers, not the log's size.
pub async fn replay_of_a_large_log(ctx: &Context<'_>) {
    let publisher = ctx.target.handshake(ctx.owner).await;
    // 20,000 events, 200 to a request (the request size limit is 32 KB).
    for batch in 0..100 {
        let publishes: Vec<Value> = (0..200)
            .map(|i| json!({"channel":"/chat/filler","clientId":publisher,"data":{"n": batch * 200 + i}}))
            .collect();
        let (status, replies) = ctx.target.bayeux(ctx.owner, json!(publishes)).await;
        assert_eq!(status, 200);
        assert!(replies
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["successful"] == true));
    }
    let subscriptions = (0..40).map(|i| async move {
        let client = ctx.target.handshake(ctx.owner).await;
        let channel = format!("/chat/empty{i}");
        let subscribe = json!([
            {"channel":"/meta/connect","clientId":client,"connectionType":"long-polling"},
            {"channel":"/meta/subscribe","clientId":client,"subscription":channel,"ext":{"replay":{channel.clone():-2}}},
            {"channel":"/meta/disconnect","clientId":client}
        ]);
        let (status, replies) = ctx.target.bayeux(ctx.owner, subscribe).await;
        assert_eq!(status, 200);
        assert_eq!(replies[1]["successful"], true, "{replies}");
    });
    join_all(subscriptions).await;
}

/// Attack 3: Bad passwords in parallel: hashed off the async workers, and the username locked out
/// after ten failures while other users log in.
pub async fn password_guessing(ctx: &Context<'_>) {
    for round in 0..2 {
        let guesses: Vec<String> = (0..6).map(|i| format!("guess {round} {i}")).collect();
        let guesses = guesses.iter().map(|g| ctx.target.login(ATTACKER, g));
        for (status, reply) in join_all(guesses).await {
            assert_eq!(status, 400, "{reply}");
            assert_eq!(reply["error"], "invalid_grant");
            assert_eq!(reply["error_description"], "authentication failure");
        }
    }
    let nobody: Vec<String> = (0..6).map(|i| format!("nobody{i}@example.com")).collect();
    let unknown = nobody.iter().map(|name| ctx.target.login(name, "x"));
    for (status, reply) in join_all(unknown).await {
        assert_eq!((status, &reply["error"]), (400, &json!("invalid_grant")));
    }
    let (status, reply) = ctx.target.login(ATTACKER, ATTACKER_PASSWORD).await;
    assert_eq!(status, 400, "the attacker is locked out: {reply}");
    ctx.target.auth(super::USER, super::PASSWORD).await;
}

/// Attack 4: Slowloris: sockets that send part of a request's headers, or nothing, are closed.
pub async fn slow_headers(_ctx: &Context<'_>) {
    let address = _ctx.target.origin.trim_start_matches("http://").to_owned();
    let sockets = (0..200).map(|i| {
        let address = address.clone();
        async move {
            let mut socket = TcpStream::connect(&address).await.expect("connect");
            if i % 2 == 0 {
                socket
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    .await
                    .unwrap();
            }
            let mut buffer = [0_u8; 1024];
            // The server's header-read timeout is 2 s: the socket must end well within 10 s
            // (an error, an end of stream, or a 408 before the end).
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => continue,
                    }
                }
            })
            .await;
            assert!(ended.is_ok(), "a slow socket was kept open");
        }
    });
    join_all(sockets).await;
}

/// Attack 5: Long LIKE patterns: refused past the PushTopic query limit, linear below it, and record
/// writes stay quick with several such topics active.
pub async fn like_patterns(ctx: &Context<'_>) {
    let topic = |name: &str, pattern: &str| {
        json!({"Name": name, "ApiVersion": 66.0,
               "Query": format!("SELECT Id, Name FROM Account WHERE Name LIKE '{pattern}'")})
    };
    let create = |object: &'static str, fields: Value| async move {
        ctx.target
            .rest(
                Method::POST,
                &format!("/sobjects/{object}"),
                ctx.owner,
                Some(fields),
            )
            .await
    };
    let long = "%a".repeat(2_500);
    let (status, reply) = create("PushTopic", topic("TooLong", &long)).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("max length=1300"), "{reply}");
    let allowed = "%a_".repeat(400);
    for i in 0..5 {
        let (status, reply) = create("PushTopic", topic(&format!("Like{i}"), &allowed)).await;
        assert_eq!(status, 201, "{reply}");
    }
    let name = "ab".repeat(127);
    for _ in 0..20 {
        let (status, reply) = create("Account", json!({"Name": name})).await;
        assert_eq!(status, 201, "{reply}");
    }
}

/// Attack 6: Concurrent queries over large records: read from the store a page at a time, so the
/// memory they take follows the page, not the table.
pub async fn large_queries(ctx: &Context<'_>) {
    let description = "q".repeat(120_000);
    for i in 0..30 {
        let (status, reply) = ctx
            .target
            .rest(
                Method::POST,
                "/sobjects/Contact",
                ctx.owner,
                Some(json!({"LastName": format!("Big{i}"), "Description": description})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
    }
    let query = |_| async {
        let mut path = "/query?q=SELECT+Id,+LastName,+Description+FROM+Contact".to_owned();
        let mut records = 0;
        loop {
            let response = ctx
                .target
                .http
                .get(ctx.target.url(&format!("/services/data/v66.0{path}")))
                .header("authorization", ctx.owner)
                .header("sforce-query-options", "batchSize=200")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let page: Value = response.json().await.unwrap();
            records += page["records"].as_array().unwrap().len();
            match page["nextRecordsUrl"].as_str() {
                Some(next) => path = next.trim_start_matches("/services/data/v66.0").to_owned(),
                None => return records,
            }
        }
    };
    for records in join_all((0..4).map(query)).await {
        assert_eq!(records, 30);
    }
}
