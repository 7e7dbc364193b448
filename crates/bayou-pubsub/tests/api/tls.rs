//! The API over TLS with the self-signed certificate Bayou generates, trusted by the client as
//! a user would trust it.

use bayou_pubsub::proto::session;
use bayou_pubsub::proto::TopicRequest;
use bayou_pubsub::{PubSubConfig, PubSubService};
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::support::{headers, start, TOPIC};

#[tokio::test]
async fn a_client_trusting_the_generated_certificate_gets_through() {
    let api = start(PubSubConfig::default()).await;
    let certificate = bayou_pubsub::tls::self_signed(api.bayou.data_dir()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = PubSubService::new(
        api.bayou.org().clone(),
        api.bayou.engine().clone(),
        api.bayou.positions().clone(),
        PubSubConfig::default(),
    );
    let identity = Some((certificate.cert_pem.clone(), certificate.key_pem.clone()));
    tokio::spawn(service.serve(listener, identity, std::future::pending()));

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&certificate.cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = session::client(channel, headers(&api.token, &api.org_id()));
    let topic = client
        .get_topic(TopicRequest {
            topic_name: TOPIC.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(topic.topic_name, TOPIC);

    // A plaintext client is not let in.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    // Refused at connection or at the first call, never answered.
    let refused = match plain {
        Err(_) => true,
        Ok(plain) => {
            let mut client = session::client(plain, headers(&api.token, &api.org_id()));
            client
                .get_topic(TopicRequest {
                    topic_name: TOPIC.into(),
                })
                .await
                .is_err()
        }
    };
    assert!(refused, "a plaintext client was answered over the TLS port");
}
