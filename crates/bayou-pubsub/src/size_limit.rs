//! A request over gRPC's 4 MB, refused as Salesforce refuses it.
//!
//! Salesforce serves the Pub/Sub API with grpc-java, which ends a call whose message is over
//! the limit with `RESOURCE_EXHAUSTED` and "gRPC message exceeds maximum size 4194304: N".
//! tonic ends it with `OUT_OF_RANGE` ("Error, decoded message length too large: …"), and a
//! client that switches on the status would take that for another failure. The service never
//! returns `OUT_OF_RANGE` itself, so that status is tonic's size check:
//!
//! - for a unary call (`Publish`), tonic answers before the handler runs, so [`SalesforceSizeStatus`]
//!   renames the status of the response;
//! - on a stream (`PublishStream`, the subscriptions), the error comes from reading the
//!   request stream, and [`refused`] makes the status the stream ends with.

use std::task::{Context, Poll};

use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::service::MAX_REQUEST_BYTES;

/// The status for a request over the limit, from tonic's: `N` is the size tonic found.
fn resource_exhausted(tonic_message: &str) -> Status {
    let found = tonic_message
        .split("found ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    let message = match found {
        Some(size) => format!("gRPC message exceeds maximum size {MAX_REQUEST_BYTES}: {size}"),
        None => format!("gRPC message exceeds maximum size {MAX_REQUEST_BYTES}"),
    };
    Status::resource_exhausted(message)
}

/// What reading a request stream failed with, as the stream should end: the size error
/// renamed, or `None` when the client reset or left (there is nobody to tell).
pub(crate) fn refused(status: &Status) -> Option<Status> {
    (status.code() == Code::OutOfRange).then(|| resource_exhausted(status.message()))
}

/// The service, with tonic's status for an oversized unary request renamed.
#[derive(Clone)]
pub struct SalesforceSizeStatus<S>(pub S);

impl<S: NamedService> NamedService for SalesforceSizeStatus<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for SalesforceSizeStatus<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rename(response.headers_mut());
            Ok(response)
        })
    }
}

/// Renames a trailers-only `OUT_OF_RANGE` answer (tonic puts the status of a call refused
/// before its handler in the response headers).
fn rename(headers: &mut http::HeaderMap) {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    if headers.get("grpc-status").map(|v| v.as_bytes()) != Some(out_of_range.as_bytes()) {
        return;
    }
    let tonic_message = Status::from_header_map(headers)
        .map(|status| status.message().to_owned())
        .unwrap_or_default();
    headers.remove("grpc-message");
    if resource_exhausted(&tonic_message)
        .add_header(headers)
        .is_err()
    {
        // Unreachable (the message is ASCII); the status alone is still renamed.
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonics_size_status_becomes_grpc_javas() {
        let tonic = Status::out_of_range(
            "Error, decoded message length too large: found 5000123 bytes, the limit is: 4194304 bytes",
        );
        let mut headers = http::HeaderMap::new();
        tonic.add_header(&mut headers).unwrap();
        rename(&mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "gRPC message exceeds maximum size 4194304: 5000123"
        );
        assert_eq!(refused(&tonic).unwrap().message(), status.message());
        // Anything else is left alone, and a reset stream has nobody to answer.
        let mut other = http::HeaderMap::new();
        Status::not_found("x").add_header(&mut other).unwrap();
        rename(&mut other);
        assert_eq!(
            Status::from_header_map(&other).unwrap().code(),
            Code::NotFound
        );
        assert!(refused(&Status::cancelled("reset")).is_none());
    }
}
