//! The hostile-input suite: every attack of issue 17, performed against a real `bayou serve`
//! while a watch probes `/healthz` and the server's memory, and a well-behaved client publishes
//! and receives beside the attackers.
//!
//! Each attack asserts the clear error Bayou gives. Throughout, `/healthz` must answer within
//! [`HEALTHZ_BOUND`], the resident set must stay under [`RSS_BOUND`] above where it started,
//! and the bystander must lose nothing. The attacks run one after another against one server,
//! so that each finding names the attack it happened under; the suite holds
//! [`crate::EXCLUSIVE`] alone, so that no other test's server shares the two cores with it.
//! The attackers run in this process, on the same two cores as the server: the server and the
//! watch run at a higher priority than they do, so that a probe times the server, not the wait
//! for a core behind the attack traffic (a real attacker's CPU is not the server's).

mod access;
mod bystander;
mod denial;
mod memory;
mod watch;

use std::time::Duration;

use serde_json::{json, Value};

use crate::serve_process::ServeProcess;
use bystander::Bystander;
use watch::{Label, Watch};

/// How fast `/healthz` must answer under every attack (issue 17).
const HEALTHZ_BOUND: Duration = Duration::from_millis(100);
/// How much the server's resident set may grow over the whole suite.
const RSS_BOUND: u64 = 256 << 20;

pub const USER: &str = "owner@example.com";
pub const PASSWORD: &str = "owner password";
pub const ATTACKER: &str = "attacker@example.com";
pub const ATTACKER_PASSWORD: &str = "attacker password";
const CLIENT_ID: &str = "hostile-client";
const SECRET: &str = "hostile-secret";
pub const METRICS_TOKEN: &str = "scrape-token";
/// A session's queue bound for the suite: small, so the slow consumers reach it quickly.
pub const MAX_QUEUE_BYTES: usize = 4 << 20;

/// The server under attack, as the attacks reach it.
#[derive(Clone)]
pub struct Target {
    pub origin: String,
    pub http: reqwest::Client,
    pub pid: u32,
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// POSTs a Bayeux batch with `Authorization: auth`; the status and the parsed reply.
    pub async fn bayeux(&self, auth: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/cometd/66.0"))
            .header("authorization", auth)
            .json(&body)
            .send()
            .await
            .expect("bayeux request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A new session's client id.
    pub async fn handshake(&self, auth: &str) -> String {
        let (_, replies) = self
            .bayeux(
                auth,
                json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]),
            )
            .await;
        assert_eq!(replies[0]["successful"], true, "handshake: {replies}");
        replies[0]["clientId"].as_str().unwrap().to_owned()
    }

    /// The OAuth password grant: status and reply.
    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("username", username),
            ("password", password),
        ];
        let response = self
            .http
            .post(self.url("/services/oauth2/token"))
            .form(&form)
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `Bearer <token>` for a user who must be able to log in.
    pub async fn auth(&self, username: &str, password: &str) -> String {
        let (status, reply) = self.login(username, password).await;
        assert_eq!(status, 200, "login as {username}: {reply}");
        format!("Bearer {}", reply["access_token"].as_str().unwrap())
    }

    /// A REST call with `auth`: status and reply.
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(&format!("/services/data/v66.0{path}")))
            .header("authorization", auth);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("rest request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The server's `/healthz` reply.
    pub async fn health(&self) -> Value {
        self.http
            .get(self.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn start_server(data_dir: &std::path::Path) -> ServeProcess {
    let config = data_dir.join("bayou.toml");
    std::fs::write(
        &config,
        format!("[[users]]\nusername = \"{ATTACKER}\"\npassword = \"{ATTACKER_PASSWORD}\"\n"),
    )
    .unwrap();
    let queue_bytes = MAX_QUEUE_BYTES.to_string();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--max-queue-bytes",
        &queue_bytes,
        "--write-timeout",
        "3000",
        "--header-read-timeout",
        "2000",
        "--metrics-token",
        METRICS_TOKEN,
    ];
    let env = [
        ("BAYOU_USERNAME", USER),
        ("BAYOU_PASSWORD", PASSWORD),
        ("BAYOU_CLIENT_ID", CLIENT_ID),
        ("BAYOU_CLIENT_SECRET", SECRET),
    ];
    ServeProcess::start_ahead_of_attackers(&data_dir.join("data"), &args, Some(&env))
}

/// A WebSocket to the Bayeux endpoint, with `auth` in the upgrade and an `Origin` when given.
pub async fn websocket(
    target: &Target,
    auth: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = target.url("/cometd/66.0").replacen("http", "ws", 1);
    let mut request = url.into_client_request()?;
    if let Some(auth) = auth {
        request
            .headers_mut()
            .insert("authorization", auth.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What every attack gets.
pub struct Context<'a> {
    pub target: &'a Target,
    /// `Bearer …` of the org's owner, the bystander's user.
    pub owner: &'a str,
    /// `Bearer …` of a second user, taken before the password attack locks it out.
    pub attacker: &'a str,
    pub data_dir: &'a std::path::Path,
}

/// Runs each attack under its name, so that the watch's findings say which one it was.
macro_rules! attacks {
    ($label:expr, $pid:expr, $( $name:literal => $attack:expr ),+ $(,)?) => {
        $(
            $label.set($name);
            $attack.await;
            println!("after {}: RSS {} MiB", $name, watch::rss($pid) >> 20);
        )+
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_fails_cleanly_while_the_server_stays_responsive_and_loses_nothing() {
    let _alone = crate::EXCLUSIVE.write().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let target = Target {
        origin: server.origin.clone(),
        http: reqwest::Client::new(),
        pid: server.child.id(),
    };
    let owner = target.auth(USER, PASSWORD).await;
    let rss_before = watch::rss(target.pid);
    let label = Label::default();
    label.set("(none yet)");
    let watch = Watch::start(&target.origin, target.pid, label.clone(), HEALTHZ_BOUND);
    let bystander = Bystander::start(&target, owner.clone()).await;

    let attacker = target.auth(ATTACKER, ATTACKER_PASSWORD).await;
    let data_dir = dir.path().join("data");
    let ctx = Context {
        target: &target,
        owner: &owner,
        attacker: &attacker,
        data_dir: &data_dir,
    };
    attacks!(label, target.pid,
        "1 SOAP login bodies" => denial::soap_bodies(&ctx),
        "2 replay of a large log" => denial::replay_of_a_large_log(&ctx),
        "4 slow headers" => denial::slow_headers(&ctx),
        "5 LIKE patterns" => denial::like_patterns(&ctx),
        "6 large queries" => denial::large_queries(&ctx),
        "7 WebSockets that never read" => memory::websockets_that_never_read(&ctx),
        "8 many filtered subscriptions" => memory::many_filtered_subscriptions(&ctx),
        "9 floods" => memory::floods(&ctx),
        "10 borrowed sessions" => access::borrowed_sessions(&ctx),
        "11 revoked token" => access::revoked_token(&ctx),
        "12 unreadable data" => access::unreadable_data(&ctx),
        "13 wide channels" => access::wide_channels(&ctx),
        "14 metrics endpoint" => access::metrics_endpoint(&ctx),
        "15 foreign origin" => access::foreign_origin(&ctx),
        "16 forged host" => access::forged_host(&ctx),
        "17 file modes" => access::file_modes(&ctx),
        "18 oversized WebSocket message" => access::oversized_websocket_message(&ctx),
        // Last: it locks the attacker out.
        "3 password guessing" => denial::password_guessing(&ctx),
    );
    label.set("(done)");

    let delivered = bystander.finish().await;
    let seen = watch.finish();
    println!(
        "hostile suite: RSS before {rss_before}, {seen:?}, bystander received {delivered} events"
    );
    assert!(delivered > 0);
    assert!(seen.probes > 0);
    assert!(
        seen.late.is_empty(),
        "/healthz slower than {HEALTHZ_BOUND:?} or failing: {:?}",
        seen.late
    );
    assert!(
        seen.peak_rss.0 < rss_before + RSS_BOUND,
        "RSS grew from {rss_before} to {} bytes (during {})",
        seen.peak_rss.0,
        seen.peak_rss.1
    );
}
