//! Salesforce's Pub/Sub API (`eventbus.v1`): the messages, the server trait and the client,
//! generated at build time from Salesforce's published `pubsub_api.proto` (see `build.rs`).
//! A crate of its own so that the server (`bayou-pubsub`) and the client (`bayou-client`)
//! share one generated copy, and the client does not depend on the server.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("eventbus.v1");

/// The session Salesforce's Pub/Sub API reads from every call's metadata — `accesstoken`,
/// `instanceurl` and `tenantid` (the org id) — as an interceptor that adds it.
pub mod session {
    use tonic::metadata::{Ascii, MetadataValue};
    use tonic::service::interceptor::InterceptedService;
    use tonic::transport::Channel;

    /// The headers of one session.
    #[derive(Debug, Clone)]
    pub struct SessionHeaders {
        access_token: MetadataValue<Ascii>,
        instance_url: MetadataValue<Ascii>,
        tenant_id: MetadataValue<Ascii>,
    }

    /// A value that cannot travel as a header (not visible ASCII).
    #[derive(Debug, thiserror::Error)]
    #[error("{0:?} cannot be sent as a gRPC header")]
    pub struct InvalidHeader(pub String);

    impl SessionHeaders {
        pub fn new(
            access_token: &str,
            instance_url: &str,
            tenant_id: &str,
        ) -> Result<Self, InvalidHeader> {
            let value = |text: &str| {
                text.parse::<MetadataValue<Ascii>>()
                    .map_err(|_| InvalidHeader(text.to_owned()))
            };
            Ok(Self {
                access_token: value(access_token)?,
                instance_url: value(instance_url)?,
                tenant_id: value(tenant_id)?,
            })
        }
    }

    impl tonic::service::Interceptor for SessionHeaders {
        fn call(
            &mut self,
            mut request: tonic::Request<()>,
        ) -> Result<tonic::Request<()>, tonic::Status> {
            let metadata = request.metadata_mut();
            metadata.insert("accesstoken", self.access_token.clone());
            metadata.insert("instanceurl", self.instance_url.clone());
            metadata.insert("tenantid", self.tenant_id.clone());
            Ok(request)
        }
    }

    /// A Pub/Sub API client sending a session's headers.
    pub type SessionClient =
        super::pub_sub_client::PubSubClient<InterceptedService<Channel, SessionHeaders>>;

    /// `channel`'s client for the session `headers`.
    pub fn client(channel: Channel, headers: SessionHeaders) -> SessionClient {
        super::pub_sub_client::PubSubClient::with_interceptor(channel, headers)
    }
}
