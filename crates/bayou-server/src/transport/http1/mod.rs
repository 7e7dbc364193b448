//! The lean HTTP/1.1 path for long-polling: the request every Bayeux client sends, served
//! without hyper or axum.
//!
//! Why: every Salesforce streaming client speaks long-polling only, and each delivery there is
//! a round trip — a `/meta/connect` POST read, held, answered. Through hyper and axum a round
//! trip cost about twice a WebSocket frame, and a profile put the difference in what the
//! general stack does for every request (routing through nested services, header maps, the
//! body channel, per-request metric lookups), not in Bayeux. It also costs memory: hyper keeps
//! an 8 KiB read buffer and an 8 KiB header buffer for every connection, so a held connect
//! could never cost less than 16 KiB. Here a held connect keeps no buffer at all.
//!
//! How: every connection starts here. The head is read into a small buffer and parsed with
//! `httparse` ([`head`]); a plain long-polling POST is answered by the same code as through
//! axum ([`long_polling::answer`]) and written in one `write` ([`response`]). Anything else
//! (another route, a WebSocket upgrade, a chunked or oversized body, a malformed head, HTTP/1.0)
//! hands the connection to hyper with the bytes read so far put back in front ([`Rewind`]), and
//! hyper serves it from then on exactly as before. So the lean path only has to recognise the
//! usual request, never to get an unusual one right.
//!
//! What it keeps of hyper's behaviour: the head (and here the body too) must arrive within
//! `header_read_timeout` of waiting for it, idle keep-alive connections included; a client that
//! closes its connection while its connect is held ends the hold; on shutdown an idle
//! connection is closed at once and a busy one after its response. What it adds: a response
//! not written within `write_timeout` (a client that stopped reading) closes the connection,
//! as for WebSocket.

mod head;
mod response;
mod rewind;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

pub use rewind::Rewind;

use self::head::{Head, PollHead};
use super::long_polling::{self, Counters, PollRequest};
use super::{endpoint, AppState};

/// A head not complete at this size is hyper's to answer (hyper allows larger ones, up to its
/// own limit, and refuses them in its own way).
const MAX_HEAD: usize = 16 * 1024;

/// Bytes read ahead while a request is being answered (a pipelining client); reading stops
/// there until the answer is out.
const MAX_READ_AHEAD: usize = 64 * 1024;

/// Room made in the read buffer before each read: a whole usual request fits.
const READ_CHUNK: usize = 2048;

/// How a connection left the lean path.
pub enum Served {
    /// Closed: by the client, after `Connection: close`, on shutdown, or on a timeout or error.
    Closed,
    /// A request hyper must serve: the connection, its bytes read so far put back.
    HandOver(Rewind),
}

/// Serves long-polling requests on `socket` until it closes or a request needs hyper.
/// `stop` is closed (its sender dropped) when the server shuts down.
pub async fn serve(
    mut socket: TcpStream,
    peer: SocketAddr,
    app: &AppState,
    header_read_timeout: Duration,
    stop: &mut watch::Receiver<()>,
) -> Served {
    let engine = &app.engine;
    let limit = engine.config().max_request_bytes;
    // Looked up at the first long-polling request, not before: a connection that only upgrades
    // to WebSocket must not make long-polling series appear in the metrics.
    let mut counters: Option<Counters> = None;
    let mut buf = BytesMut::new();
    // One timer for the connection, moved later for every request: a later deadline only
    // updates the registered entry, where a fresh timer per request would be registered in
    // and removed from the timer wheel every round trip.
    let mut read_deadline = std::pin::pin!(tokio::time::sleep(header_read_timeout));
    // Likewise one wait for the server to stop, registered once, not at every idle read.
    let mut stop_watch = stop.clone();
    let mut stopping = std::pin::pin!(stop_watch.changed());
    loop {
        read_deadline
            .as_mut()
            .reset(Instant::now() + header_read_timeout);
        // A head, then as much of the buffer as its body needs.
        let mut pending: Option<PollHead> = None;
        let (mut head, body) = loop {
            if pending.is_none() && !buf.is_empty() {
                match head::parse(&buf, limit) {
                    Head::Poll(parsed) => pending = Some(parsed),
                    Head::Partial if buf.len() < MAX_HEAD => {}
                    Head::Partial | Head::HandOver => {
                        return Served::HandOver(Rewind::new(buf.freeze(), socket))
                    }
                }
            }
            if let Some(parsed) = pending.take_if(|p| buf.len() >= p.head_len + p.content_length) {
                let request = buf.split_to(parsed.head_len + parsed.content_length);
                let body = request.freeze().split_off(parsed.head_len);
                break (parsed, body);
            }
            let (deadline, stop) = (read_deadline.as_mut(), stopping.as_mut());
            if !read_more(&mut socket, &mut buf, deadline, stop).await {
                return Served::Closed;
            }
        };
        if buf.is_empty() {
            // Nothing read ahead: hold no read buffer while the connect waits. Most sessions
            // are idle most of the time, so memory per held connect counts for more than the
            // allocation this costs the next request.
            buf = BytesMut::new();
        }
        let request = PollRequest {
            version: endpoint::api_version(&head.rest, engine.config().min_api_version),
            credentials: head.credentials(peer),
            has_cookie: head.has_cookie,
            body,
        };
        let counters = counters.get_or_insert_with(Counters::get);
        // Pinned where it is made: the answering future is large (it holds the connect), and
        // handing it over by value would copy it.
        let answering = std::pin::pin!(long_polling::answer(engine, request, counters));
        let Some(answer) = unless_closed(&socket, &mut buf, answering).await else {
            return Served::Closed;
        };
        let close = head.close || stop.has_changed().is_err();
        let mut out = Vec::new();
        response::write(
            &mut out,
            answer.status,
            &answer.messages,
            answer.set_cookie.as_ref(),
            close,
        );
        drop(answer);
        let written = tokio::time::timeout(engine.config().write_timeout, socket.write_all(&out));
        if !matches!(written.await, Ok(Ok(()))) || close {
            let _ = socket.shutdown().await;
            return Served::Closed;
        }
    }
}

/// Reads more of a request into `buf`; false when the connection is done: closed by the
/// client, failed, past `deadline`, or idle (nothing buffered) when the server stops.
async fn read_more(
    socket: &mut TcpStream,
    buf: &mut BytesMut,
    deadline: Pin<&mut Sleep>,
    stopping: Pin<&mut impl Future>,
) -> bool {
    make_room(buf);
    let idle = buf.is_empty();
    let read = tokio::select! {
        read = socket.read_buf(buf) => read,
        () = deadline => return false,
        _ = stopping, if idle => return false,
    };
    matches!(read, Ok(n) if n > 0)
}

/// Runs `work` (answering a request, perhaps holding a connect for minutes) unless the client
/// closes the connection first: then `None`, and the caller drops `work`, ending the hold.
/// Bytes the client sends meanwhile are kept in `buf` for the next request.
async fn unless_closed<F: Future>(
    socket: &TcpStream,
    buf: &mut BytesMut,
    mut work: Pin<&mut F>,
) -> Option<F::Output> {
    loop {
        tokio::select! {
            biased;
            done = work.as_mut() => return Some(done),
            ready = socket.readable(), if buf.len() < MAX_READ_AHEAD => {
                ready.ok()?;
                make_room(buf);
                match socket.try_read_buf(buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
            }
        }
    }
}

/// Room for the next read: another `READ_CHUNK` when less than a quarter of one is left.
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}
