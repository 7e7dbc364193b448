//! The `eventbus.v1.PubSub` service: each RPC authenticates from the call's metadata, then
//! hands over to the module that does its work. Subscriptions run inside their response stream
//! (`pull`), read only as fast as the client reads; a publish stream runs as a task feeding a small bounded
//! channel, so a client that stops reading holds at most a few responses in memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bayou_log::{EventLog, PositionStore};
use bayou_org::Org;
use bayou_server::Engine;
use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::auth::{self, Caller};
use crate::proto::pub_sub_server::{PubSub, PubSubServer};
use crate::proto::{
    FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse, PublishRequest,
    PublishResponse, SchemaInfo, SchemaRequest, TopicInfo, TopicRequest,
};
use crate::status::{codes, failure};
use crate::{publish, subscribe, topics, Inner, PubSubConfig};

/// Salesforce's limit on one gRPC request (4 MB).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Responses a publish stream may have waiting for the client.
const STREAM_BUFFER: usize = 2;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The Pub/Sub API of one org.
#[derive(Clone)]
pub struct PubSubService {
    inner: Arc<Inner>,
}

impl PubSubService {
    /// The API of `org`, reading `engine`'s log, keeping managed subscriptions' positions in
    /// `positions`.
    pub fn new(
        org: Arc<Org>,
        engine: Arc<Engine>,
        positions: Arc<dyn PositionStore>,
        config: PubSubConfig,
    ) -> Self {
        let log: Arc<dyn EventLog> = Arc::clone(engine.log());
        let pace = crate::pace::Pace::new(engine.config().max_coalesce);
        Self {
            inner: Arc::new(Inner {
                org,
                engine,
                log,
                positions,
                config,
                cache: Default::default(),
                pace,
            }),
        }
    }

    /// Serves the API on `listener` until `shutdown` resolves: over TLS with `identity`
    /// (certificate and key, PEM), or in plaintext HTTP/2 when it is `None`.
    pub async fn serve(
        self,
        listener: TcpListener,
        identity: Option<(Vec<u8>, Vec<u8>)>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let mut builder = Server::builder();
        if let Some((cert, key)) = identity {
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))?;
        }
        let service = crate::size_limit::SalesforceSizeStatus(
            PubSubServer::new(self)
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_REQUEST_BYTES),
        );
        // Nagle off: a small response must not wait for the client's delayed ACK (40 ms).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }

    /// A started pull subscription, run by the call's response stream as it is read
    /// (`pull`): at most one response waits for a client that stops reading.
    fn deliver<F: crate::flow::Flow>(
        &self,
        caller: Caller,
        started: subscribe::Started<F>,
        inbound: Streaming<F::Request>,
    ) -> Response<ResponseStream<F::Response>> {
        let inner = Arc::clone(&self.inner);
        let responses =
            crate::pull::pull(|out| subscribe::run(inner, caller, started, inbound, out));
        Response::new(Box::pin(responses))
    }

    async fn caller(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Caller, Status> {
        auth::authenticate(&self.inner.org, metadata).await
    }
}

#[tonic::async_trait]
impl PubSub for PubSubService {
    type SubscribeStream = ResponseStream<FetchResponse>;
    type PublishStreamStream = ResponseStream<PublishResponse>;
    type ManagedSubscribeStream = ResponseStream<ManagedFetchResponse>;

    async fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let mut inbound = request.into_inner();
        let started = subscribe::start(&self.inner, &mut inbound).await?;
        Ok(self.deliver(caller, started, inbound))
    }

    async fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        self.caller(request.metadata()).await?;
        let id = &request.get_ref().schema_id;
        if id.is_empty() {
            return Err(failure(
                Code::InvalidArgument,
                codes::SCHEMA_EMPTY,
                "The schema id is blank: give a schema id.",
            ));
        }
        match self.inner.org.event_schema(id).await {
            Some(schema) => Ok(Response::new(SchemaInfo {
                schema_json: schema.json.clone(),
                schema_id: schema.id.clone(),
                rpc_id: bayou_org::events::new_uuid(),
            })),
            None => Err(failure(
                Code::NotFound,
                codes::SCHEMA_NOT_FOUND,
                format!("Schema {id:?} was not found."),
            )),
        }
    }

    async fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        self.caller(request.metadata()).await?;
        let topic = topics::resolve(&self.inner.org, &request.get_ref().topic_name).await?;
        Ok(Response::new(TopicInfo {
            topic_name: topic.channel.clone(),
            tenant_guid: self.inner.org.org_id().to_owned(),
            can_publish: topic.can_publish,
            can_subscribe: true,
            schema_id: topic.schema.map(|s| s.id.clone()).unwrap_or_default(),
            rpc_id: bayou_org::events::new_uuid(),
        }))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let response = publish::publish(&self.inner, &caller, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn publish_stream(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let (out, responses) = mpsc::channel(STREAM_BUFFER);
        let idle = self.inner.config.publish_idle_timeout;
        tokio::spawn(publish::run_stream(
            Arc::clone(&self.inner),
            caller,
            request.into_inner(),
            out,
            idle,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(responses))))
    }

    async fn managed_subscribe(
        &self,
        request: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let mut inbound = request.into_inner();
        let started = crate::managed::start(&self.inner, &mut inbound).await?;
        Ok(self.deliver(caller, started, inbound))
    }
}
