//! The engine over real HTTP and WebSocket, server in-process on 127.0.0.1:0, with an embedded
//! event log in a temporary directory. One test binary, several files.

mod bayeux;
mod dispatch;
mod lean_http;
mod limits;
mod origins;
mod pipelined;
mod replay;
mod settle;
mod slow_consumers;
mod support;
