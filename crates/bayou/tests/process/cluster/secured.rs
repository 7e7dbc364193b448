//! A NATS that requires TLS and a token, as production NATS does: a node given the CA and the
//! token joins; a node with a wrong token, or without the CA to check the server's certificate,
//! refuses to start with one line saying why.

use std::path::Path;

use bayou_testkit::NatsServer;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::start_node;

const TOKEN: &str = "s3cret-nats-token";

/// A CA, and a certificate for 127.0.0.1 signed by it, written as PEM files in `dir`.
fn certificates(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_a_token_to_nats() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let path = |name: &str| certs.path().join(name).display().to_string();
    let extra = [
        "--tls".to_owned(),
        "--tlscert".to_owned(),
        path("server.pem"),
        "--tlskey".to_owned(),
        path("server-key.pem"),
        "--auth".to_owned(),
        TOKEN.to_owned(),
    ];
    let Some(nats) = NatsServer::start_with("NATS with TLS and a token", &extra) else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let ca = path("ca.pem");

    let node = start_node(
        &url,
        "secured",
        &[
            "--cluster-tls",
            "--cluster-tls-ca",
            &ca,
            "--cluster-token",
            TOKEN,
        ],
    );
    let health = node.target.health().await;
    assert_eq!(health["cluster"]["nats"], "connected", "{health}");
    let auth = node.target.auth(super::USER, super::PASSWORD).await;
    let client_id = node.target.handshake(&auth).await;
    let ack = super::publish(
        &node.target,
        &auth,
        &client_id,
        "/secure/events",
        serde_json::json!({"n": 1}),
    )
    .await;
    assert_eq!(ack["successful"], true, "{ack}");

    let wrong_token = super::refused(&[
        "--cluster",
        &url,
        "--cluster-tls",
        "--cluster-tls-ca",
        &ca,
        "--cluster-token",
        "wrong",
    ]);
    assert!(
        wrong_token.contains("cannot join the cluster: cannot reach NATS")
            && wrong_token.to_lowercase().contains("authorization"),
        "{wrong_token}"
    );
    let unknown_ca =
        super::refused(&["--cluster", &url, "--cluster-tls", "--cluster-token", TOKEN]);
    assert!(
        unknown_ca.contains("cannot join the cluster: cannot reach NATS"),
        "{unknown_ca}"
    );
    assert_eq!(
        wrong_token.trim().lines().count(),
        1,
        "one line: {wrong_token}"
    );
}
