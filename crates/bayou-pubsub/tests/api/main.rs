//! The Pub/Sub API end to end: a real gRPC client (generated from the same proto) against the
//! service on 127.0.0.1, beside an in-process org and Bayeux server sharing one log.

mod managed;
mod publish;
mod subscribe;
mod support;
mod tls;
mod topics;
