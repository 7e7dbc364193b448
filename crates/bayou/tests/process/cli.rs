//! The client commands (`subscribe`, `publish`, `record`, `event`, `push`) as a user runs
//! them: the real `bayou` binary against a real `bayou serve` process, credentials from the
//! environment.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::serve_process::ServeProcess;

const USER: &str = "cli@example.com";
const PASSWORD: &str = "cli password";
const CLIENT_ID: &str = "cli-client";
const SECRET: &str = "cli-secret";
const ADMIN: &str = "cli-admin";

struct Server {
    process: ServeProcess,
}

/// The org's credentials, as `bayou serve` and the client commands read them.
const CREDENTIALS: [(&str, &str); 4] = [
    ("BAYOU_USERNAME", USER),
    ("BAYOU_PASSWORD", PASSWORD),
    ("BAYOU_CLIENT_ID", CLIENT_ID),
    ("BAYOU_CLIENT_SECRET", SECRET),
];

impl Server {
    fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Started with `extra` arguments after the usual ones.
    fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec![
            "--timeout",
            "1500",
            "--max-interval",
            "2000",
            "--admin-token",
            ADMIN,
        ];
        args.extend_from_slice(extra);
        Self {
            process: ServeProcess::start(data_dir, &args, Some(&CREDENTIALS)),
        }
    }

    fn url(&self) -> &str {
        &self.process.origin
    }

    /// `bayou <args>` with this server's URL and credentials in the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bayou"));
        command
            .args(args)
            .env_clear()
            .env("BAYOU_URL", self.url())
            .envs(CREDENTIALS);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("run bayou");
        assert!(
            output.status.success(),
            "bayou {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.run(args).stdout)
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// A `bayou subscribe` running in the background.
struct Subscriber {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Subscriber {
    /// Starts it and waits until every channel in `channels` is subscribed.
    fn start(server: &Server, args: &[&str], channels: &[&str]) -> Self {
        let mut child = server
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bayou subscribe");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut subscriber = Self { child, stderr };
        for channel in channels {
            subscriber.wait_for(&format!("subscribed to {channel} "));
        }
        subscriber
    }

    fn wait_for(&mut self, text: &str) {
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => panic!("no stderr line with {text:?}: {e}"),
            }
        }
    }

    /// Waits for it to exit; returns the JSON lines it printed.
    fn finish(mut self) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "bayou subscribe failed: {status}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bayou subscribe did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn subscribe_prints_json_lines_and_resumes_from_its_store() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let store = data.path().join("replay.json");
    let store = store.to_str().unwrap();

    let subscriber = Subscriber::start(
        &server,
        &[
            "subscribe",
            "/chat/cli",
            "--replay-store",
            store,
            "--count",
            "3",
        ],
        &["/chat/cli"],
    );
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let reply: Value = serde_json::from_str(&server.stdout(&[
            "publish",
            "/chat/cli",
            &format!("{{\"n\":{n}}}"),
        ]))
        .unwrap();
        assert_eq!(reply["successful"], true, "{reply}");
        acknowledged.push(reply["ext"]["replayId"].as_i64().unwrap());
    }
    let first = subscriber.finish();
    assert_eq!(
        first,
        (0..3)
            .map(|n| json!({"channel": "/chat/cli", "replayId": acknowledged[n], "data": {"n": n}}))
            .collect::<Vec<_>>()
    );

    // The next run resumes after the last event printed.
    let subscriber = Subscriber::start(
        &server,
        &[
            "subscribe",
            "/chat/cli",
            "--replay-store",
            store,
            "--count",
            "2",
        ],
        &[],
    );
    let second = subscriber.finish();
    let numbers: Vec<i64> = second
        .iter()
        .map(|l| l["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 4]);

    // --replay -2 without a store replays everything retained.
    let all = Subscriber::start(
        &server,
        &[
            "subscribe",
            "/chat/cli",
            "--replay",
            "-2",
            "--count",
            "5",
            "--transport",
            "websocket",
        ],
        &[],
    )
    .finish();
    assert_eq!(all.len(), 5);
}

#[test]
fn rest_helpers_feed_the_stream() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let topic = server.stdout(&[
        "record",
        "create",
        "PushTopic",
        r#"{"Name":"CliAccounts","Query":"SELECT Id, Name FROM Account","ApiVersion":66.0}"#,
    ]);
    assert!(topic.starts_with("0IF"), "{topic}");
    let channel = server.stdout(&[
        "record",
        "create",
        "StreamingChannel",
        r#"{"Name":"/u/cli"}"#,
    ]);
    assert!(channel.starts_with("0M6"), "{channel}");
    let defined = define_event(server.url());
    assert!(defined, "could not define the platform event type");

    let subscriber = Subscriber::start(
        &server,
        &[
            "subscribe",
            "/topic/CliAccounts",
            "/event/Cli_Alert__e",
            "/u/cli",
            "--count",
            "5",
        ],
        &["/topic/CliAccounts", "/event/Cli_Alert__e", "/u/cli"],
    );
    let id = server.stdout(&["record", "create", "Account", r#"{"Name":"Acme"}"#]);
    server.run(&[
        "record",
        "update",
        "Account",
        &id,
        r#"{"Name":"Acme Corp"}"#,
    ]);
    server.run(&["record", "delete", "Account", &id]);
    let published: Value =
        serde_json::from_str(&server.stdout(&["event", "Cli_Alert__e", r#"{"Level__c":"high"}"#]))
            .unwrap();
    assert_eq!(published["success"], true, "{published}");
    // By name (looked up as jsforce does) and broadcast.
    let pushed: Value = serde_json::from_str(&server.stdout(&["push", "/u/cli", "hello"])).unwrap();
    assert_eq!(pushed["fanoutCount"], -1, "{pushed}");

    let lines = subscriber.finish();
    let of = |channel: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["channel"] == channel).collect()
    };
    let kinds: Vec<&str> = of("/topic/CliAccounts")
        .iter()
        .map(|l| l["data"]["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted"]);
    assert_eq!(
        of("/event/Cli_Alert__e")[0]["data"]["payload"]["Level__c"],
        "high"
    );
    assert_eq!(of("/u/cli")[0]["data"]["payload"], "hello");
}

#[test]
fn subscribe_reads_the_pubsub_api() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    assert!(
        define_event(server.url()),
        "could not define the platform event type"
    );
    let published: Value =
        serde_json::from_str(&server.stdout(&["event", "Cli_Alert__e", r#"{"Level__c":"high"}"#]))
            .unwrap();
    assert_eq!(published["success"], true, "{published}");
    let certificate = data.path().join("pubsub-cert.pem");
    let read_first = |server: &Server| -> Value {
        let pubsub = server.process.pubsub.clone().unwrap();
        let args = pubsub_subscribe(&pubsub, "1", Some(&certificate));
        serde_json::from_str(&server.stdout(&args)).unwrap()
    };
    let line = read_first(&server);
    assert_eq!(line["channel"], "/event/Cli_Alert__e");
    assert_eq!(line["data"]["Level__c"], "high");
    assert!(line["data"]["CreatedDate"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        line["id"], published["errors"][0]["message"],
        "the event id is the EventUuid the publish returned"
    );
    assert!(line["replayId"].as_u64().unwrap() > 0);

    // After a restart on the same data: the same event, schema id, and trusted certificate.
    drop(server);
    let server = Server::start(data.path());
    let again = read_first(&server);
    assert_eq!(again, line);
}

#[test]
fn a_pubsub_subscriber_recovers_from_dropped_connections_and_revoked_tokens() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    assert!(
        define_event(server.url()),
        "could not define the platform event type"
    );
    let publish = |level: &str| {
        let body = format!(r#"{{"Level__c":"{level}"}}"#);
        let published: Value =
            serde_json::from_str(&server.stdout(&["event", "Cli_Alert__e", &body])).unwrap();
        assert_eq!(published["success"], true, "{published}");
    };
    let admin = |action: &[&str]| {
        let output = server
            .command(&[&["admin"], action].concat())
            .env("BAYOU_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "bayou admin {action:?}: {output:?}"
        );
    };
    publish("one");
    let pubsub = server.process.pubsub.clone().unwrap();
    let certificate = data.path().join("pubsub-cert.pem");
    let mut subscriber = Subscriber::start(
        &server,
        &pubsub_subscribe(&pubsub, "3", Some(&certificate)),
        &["/event/Cli_Alert__e"],
    );
    // The server ends every stream: the subscriber opens its own again.
    admin(&["drop-connections"]);
    subscriber.wait_for("resubscribed to /event/Cli_Alert__e");
    publish("two");
    // Its token is revoked: it logs in again (password flow) and reads on.
    admin(&["invalidate-tokens", USER]);
    publish("three");
    subscriber.wait_for("logged in again");
    let lines = subscriber.finish();
    let levels: Vec<&str> = lines
        .iter()
        .map(|l| l["data"]["Level__c"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["one", "two", "three"], "each event once, in order");
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| l["replayId"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[test]
fn the_pubsub_api_serves_a_given_certificate_or_plaintext() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    // A certificate and key to give: the ones a first server generated.
    let first = tempfile::tempdir().unwrap();
    drop(Server::start(first.path()));
    let (cert, key) = (
        first.path().join("pubsub-cert.pem"),
        first.path().join("pubsub-key.pem"),
    );
    let read_one = |server: &Server, trust: Option<&Path>| -> Value {
        assert!(
            define_event(server.url()),
            "could not define the event type"
        );
        server.run(&["event", "Cli_Alert__e", r#"{"Level__c":"low"}"#]);
        let pubsub = server.process.pubsub.clone().unwrap();
        let args = pubsub_subscribe(&pubsub, "1", trust);
        serde_json::from_str(&server.stdout(&args)).unwrap()
    };

    let given = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        given.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server
        .process
        .pubsub
        .as_deref()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(read_one(&server, Some(&cert))["data"]["Level__c"], "low");
    assert!(
        !given.path().join("pubsub-cert.pem").exists(),
        "no certificate generated beside a given one"
    );
    drop(server);

    let plain = tempfile::tempdir().unwrap();
    let server = Server::start_with(plain.path(), &["--pubsub-plaintext"]);
    assert!(server
        .process
        .pubsub
        .as_deref()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(read_one(&server, None)["data"]["Level__c"], "low");
}

#[test]
fn errors_are_one_readable_line() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    // `env`: variables to set, or to remove when the value is empty.
    let failing = |args: &[&str], env: &[(&str, &str)]| -> String {
        let mut command = server.command(args);
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "bayou {args:?} succeeded");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
        stderr.trim().lines().last().unwrap_or_default().to_owned()
    };
    let line = failing(&["publish", "/chat/x", "not json"], &[]);
    assert!(
        line.starts_with("bayou: the data is not JSON: not json"),
        "{line}"
    );
    let line = failing(&["subscribe", "/topic/Missing"], &[]);
    assert!(
        line.starts_with("bayou: cannot subscribe to /topic/Missing: /topic/Missing: 400::The channel you requested to subscribe to doesn\u{2019}t exist"),
        "{line}"
    );
    let line = failing(
        &["record", "create", "Account", "{}"],
        &[("BAYOU_PASSWORD", "wrong")],
    );
    assert_eq!(
        line,
        "bayou: login refused: invalid_grant: authentication failure"
    );
    let line = failing(&["record", "delete", "Account", "001000000000000AAA"], &[]);
    assert!(line.contains("HTTP 404"), "{line}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let line = failing(&["publish", "/chat/x", "{}"], &[("BAYOU_URL", &nowhere)]);
    assert!(
        line.starts_with(&format!(
            "bayou: login failed: {nowhere}/services/oauth2/token"
        )),
        "{line}"
    );
    let line = failing(
        &["publish", "/chat/x", "{}", "--token", "t"],
        &[("BAYOU_URL", &nowhere)],
    );
    assert!(
        line.starts_with(&format!(
            "bayou: HTTP request to {nowhere}/cometd/66.0 failed"
        )),
        "{line}"
    );
    let line = failing(
        &["publish", "/chat/x", "{}"],
        &[("BAYOU_CLIENT_SECRET", "")],
    );
    assert!(line.starts_with("bayou: incomplete credentials"), "{line}");
}

/// `bayou subscribe --api pubsub` of `Cli_Alert__e` from the earliest event, `count` events,
/// through the API at `pubsub`, trusting `trust` when given.
fn pubsub_subscribe<'a>(pubsub: &'a str, count: &'a str, trust: Option<&'a Path>) -> Vec<&'a str> {
    let mut args = vec![
        "subscribe",
        "--api",
        "pubsub",
        "/event/Cli_Alert__e",
        "--replay",
        "-2",
        "--count",
        count,
        "--pubsub-url",
        pubsub,
    ];
    if let Some(trust) = trust {
        args.extend(["--ca-cert", trust.to_str().unwrap()]);
    }
    args
}

/// Defines the platform event type `Cli_Alert__e` through the admin API.
fn define_event(url: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{url}/admin/platform-events"))
            .bearer_auth(ADMIN)
            .body(r#"{"name":"Cli_Alert__e","fields":{"Level__c":"text"}}"#)
            .send()
            .await;
        matches!(response, Ok(r) if r.status().is_success())
    })
}

#[test]
fn an_unusable_pubsub_certificate_stops_serve_at_start() {
    let _shared = crate::EXCLUSIVE.blocking_read();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let stderr = crate::cluster::refused(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(stderr.contains("cannot serve TLS with"), "{stderr}");
    let only_one = crate::cluster::refused(&["--tls-cert", cert.to_str().unwrap()]);
    assert!(
        only_one.contains("tls_cert and tls_key go together"),
        "{only_one}"
    );
}
