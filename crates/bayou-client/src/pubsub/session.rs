//! A client's login on the Pub/Sub API: the HTTP/2 connection, and the headers every call
//! carries. When the server refuses the token (revoked, expired), [`Session::reauthenticate`]
//! logs in again through the client's [`AuthProvider`] and later calls carry the new token;
//! tonic's channel reconnects by itself when the connection drops.

use std::sync::Arc;

use bayou_pubsub_proto::session::{self, SessionHeaders};
use parking_lot::Mutex;
use tonic::transport::Channel;

use super::{GrpcClient, PubSubError, PubSubNotice};
use crate::auth::AuthProvider;
use crate::error::AuthError;

/// What a notice handler is.
pub(crate) type NoticeHandler = Arc<dyn Fn(&PubSubNotice) + Send + Sync>;

pub(crate) struct Session {
    channel: Channel,
    auth: Arc<dyn AuthProvider>,
    http: reqwest::Client,
    instance_url: String,
    tenant_id: String,
    grpc: Mutex<GrpcClient>,
    on_notice: Option<NoticeHandler>,
}

impl Session {
    pub(crate) fn new(
        channel: Channel,
        auth: Arc<dyn AuthProvider>,
        http: reqwest::Client,
        instance_url: String,
        tenant_id: String,
        access_token: &str,
        on_notice: Option<NoticeHandler>,
    ) -> Result<Self, PubSubError> {
        let grpc = client(&channel, access_token, &instance_url, &tenant_id)?;
        Ok(Self {
            channel,
            auth,
            http,
            instance_url,
            tenant_id,
            grpc: Mutex::new(grpc),
            on_notice,
        })
    }

    /// A client with the current token (cheap: it shares the connection).
    pub(crate) fn grpc(&self) -> GrpcClient {
        self.grpc.lock().clone()
    }

    /// Logs in again after the server refused the token; later calls carry the new one.
    pub(crate) async fn reauthenticate(&self, reason: &str) -> Result<(), PubSubError> {
        let credentials = self.auth.authenticate(&self.http, true).await?;
        let grpc = client(
            &self.channel,
            &credentials.access_token,
            &self.instance_url,
            &self.tenant_id,
        )?;
        *self.grpc.lock() = grpc;
        self.notify(&PubSubNotice::Reauthenticated {
            reason: reason.to_owned(),
        });
        Ok(())
    }

    pub(crate) fn notify(&self, notice: &PubSubNotice) {
        tracing::info!(?notice, "Pub/Sub API");
        if let Some(handler) = &self.on_notice {
            handler(notice);
        }
    }

    /// Runs a unary call; if the server refuses the token, logs in again and runs it once more.
    pub(crate) async fn call<T, F, Fut>(&self, call: F) -> Result<T, PubSubError>
    where
        F: Fn(GrpcClient) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match call(self.grpc()).await {
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                self.reauthenticate(status.message()).await?;
                Ok(call(self.grpc()).await?.into_inner())
            }
            reply => Ok(reply?.into_inner()),
        }
    }
}

fn client(
    channel: &Channel,
    access_token: &str,
    instance_url: &str,
    tenant_id: &str,
) -> Result<GrpcClient, PubSubError> {
    let headers = SessionHeaders::new(access_token, instance_url, tenant_id)
        .map_err(|e| AuthError::Refused(e.to_string()))?;
    Ok(session::client(channel.clone(), headers))
}
