//! bayou-client against real servers: Bayou in-process on 127.0.0.1 (every recovery path,
//! driven by the fault injection API, short timeouts, a freezing proxy and real restarts) and
//! the faye npm server as a foreign Bayeux server.

mod api;
mod backpressure;
mod faye;
mod recovery;
mod replay;
mod stall;
mod support;
