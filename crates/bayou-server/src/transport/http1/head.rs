//! Reading a request head, and deciding whether the lean path serves it.
//!
//! The lean path takes only the request every long-polling client sends: `POST` to the Bayeux
//! path, HTTP/1.1, a `Content-Length` within the limit, and nothing that changes how the body
//! or the connection is handled (`Transfer-Encoding`, `Expect`, `Upgrade`). Anything else —
//! another route, a WebSocket upgrade, a chunked body, a body over the limit, a malformed head —
//! goes to hyper, which answers it as it always has. So this module never has to get an
//! unusual request right: it only has to recognise a usual one.

use std::net::SocketAddr;

use crate::policy::Credentials;

/// Most headers a request on the lean path may have; more go to hyper.
const MAX_HEADERS: usize = 32;

/// A request the lean path serves: what [`super::super::long_polling::answer`] needs from its
/// head, copied out so the head's bytes can go.
#[derive(Debug, PartialEq, Eq)]
pub struct PollHead {
    /// Length of the head in bytes, the blank line included.
    pub head_len: usize,
    /// The body's length.
    pub content_length: usize,
    /// The path after `/cometd/` (empty for `/cometd` and `/cometd/`).
    pub rest: String,
    pub authorization: Option<String>,
    pub has_cookie: bool,
    /// The client asked to close the connection after this response.
    pub close: bool,
}

impl PollHead {
    pub fn credentials(&mut self, peer: SocketAddr) -> Credentials {
        Credentials {
            authorization: self.authorization.take(),
            remote_addr: Some(peer),
        }
    }
}

/// What to do with the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// The head is not complete yet.
    Partial,
    /// A long-polling POST for the lean path.
    Poll(PollHead),
    /// Anything else: hyper serves the connection from here on.
    HandOver,
}

/// Reads the head at the start of `buf`, if complete, and classifies it. `limit`: the largest
/// body the Bayeux endpoint takes (larger ones get hyper's 413 path).
pub fn parse(buf: &[u8], limit: usize) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::HandOver,
    };
    if request.method != Some("POST") || request.version != Some(1) {
        return Head::HandOver;
    }
    let Some(rest) = request.path.and_then(bayeux_rest) else {
        return Head::HandOver;
    };
    let mut content_length = None;
    let mut authorization = None;
    let mut has_cookie = false;
    let mut close = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(header.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (content_length, parsed) {
                (None, Some(n)) => content_length = Some(n),
                // Repeated or unreadable: hyper decides.
                _ => return Head::HandOver,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Head::HandOver;
        } else if name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Head::HandOver;
            }
            // As through hyper: a value that is not visible ASCII is no credential.
            authorization = visible_ascii(header.value).map(str::to_owned);
        } else if name.eq_ignore_ascii_case("cookie") {
            has_cookie |= visible_ascii(header.value).is_some_and(super::super::cookie::present_in);
        } else if name.eq_ignore_ascii_case("connection") {
            close |= visible_ascii(header.value).is_some_and(|v| {
                v.split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("close"))
            });
        }
    }
    match content_length {
        Some(content_length) if content_length <= limit => Head::Poll(PollHead {
            head_len,
            content_length,
            rest,
            authorization,
            has_cookie,
            close,
        }),
        _ => Head::HandOver,
    }
}

/// The value as text if it is what `HeaderValue::to_str` accepts: visible ASCII and tabs.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// The API-version part of a Bayeux path, as axum's routes `/cometd`, `/cometd/` and
/// `/cometd/{*rest}` would extract it; `None` for other paths and for anything percent-encoded
/// (hyper and axum decode those).
fn bayeux_rest(target: &str) -> Option<String> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path.contains('%') {
        return None;
    }
    match path.strip_prefix("/cometd")? {
        "" | "/" => Some(String::new()),
        rest => rest.strip_prefix('/').map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(request: &str) -> PollHead {
        match parse(request.as_bytes(), 32_768) {
            Head::Poll(head) => head,
            other => panic!("{request:?} gave {other:?}"),
        }
    }

    #[test]
    fn a_usual_connect() {
        let request = "POST /cometd/66.0/connect?x=1 HTTP/1.1\r\nHost: a\r\n\
            Content-Type: application/json\r\nContent-Length: 12\r\n\
            Authorization: Bearer t\r\nCookie: a=1; BAYEUX_BROWSER=z\r\n\r\n[{}]";
        let head = poll(request);
        assert_eq!(head.head_len, request.len() - 4);
        assert_eq!(head.content_length, 12);
        assert_eq!(head.rest, "66.0/connect");
        assert_eq!(head.authorization.as_deref(), Some("Bearer t"));
        assert!(head.has_cookie);
        assert!(!head.close);
    }

    #[test]
    fn paths_as_the_routes_read_them() {
        let rest = |path: &str| {
            let request = format!("POST {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            match parse(request.as_bytes(), 10) {
                Head::Poll(head) => Some(head.rest),
                _ => None,
            }
        };
        assert_eq!(rest("/cometd").as_deref(), Some(""));
        assert_eq!(rest("/cometd/").as_deref(), Some(""));
        assert_eq!(rest("/cometd/replay/36.0").as_deref(), Some("replay/36.0"));
        assert_eq!(rest("/cometdx"), None);
        assert_eq!(rest("/cometd/66%2E0"), None);
        assert_eq!(rest("/services/data"), None);
    }

    #[test]
    fn unusual_requests_go_to_hyper() {
        let cases = [
            "GET /cometd/66.0 HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.0\r\nContent-Length: 2\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nContent-Length: 40000\r\n\r\n",
            "POST /cometd/66.0 HTTP/1.1\r\nBad Header\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(parse(case.as_bytes(), 32_768), Head::HandOver, "{case:?}");
        }
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        let request = format!("POST /cometd/66.0 HTTP/1.1\r\n{many}Content-Length: 2\r\n\r\n");
        assert_eq!(parse(request.as_bytes(), 32_768), Head::HandOver);
    }

    #[test]
    fn partial_heads_wait_and_close_is_seen() {
        assert_eq!(
            parse(b"POST /cometd/66.0 HTTP/1.1\r\nContent-Le", 10),
            Head::Partial
        );
        let head = poll("POST /cometd/66.0 HTTP/1.1\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n");
        assert!(head.close);
    }
}
