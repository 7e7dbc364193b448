//! A lean HTTP/1.1 client for the held `/meta/connect` requests of long-polling subscribers:
//! one kept-alive TCP connection per session, each request written from one reused buffer,
//! each reply read into one reused buffer and handed to the borrowing scanner as a slice.
//!
//! Why not reqwest for these: at a thousand subscribers the bench spent about 0.6 µs of CPU per
//! delivery in reqwest's per-request machinery (a new request object, header maps, a body
//! stream, the connection pool), as much as a fast server spends delivering — so the bench,
//! not the server, set the ceiling of long-polling runs (issue 20). Handshakes, subscriptions
//! and publishes are few and stay on reqwest.
//!
//! Only what Bayeux servers answer is understood: a status line, headers, and a body framed by
//! `Content-Length` or `Transfer-Encoding: chunked`. Plain `http://` only.

use std::io::{self, Write as _};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: `host:port` to connect to, and the request target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: String,
    pub path: String,
}

impl Endpoint {
    /// The endpoint of an `http://host[:port]/path` URL; `None` for anything else (HTTPS).
    pub fn of(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let address = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Some(Self {
            address,
            path: path.to_owned(),
        })
    }
}

/// One kept-alive connection, with the headers every request carries.
pub struct Connection {
    endpoint: Endpoint,
    stream: TcpStream,
    /// The server said `Connection: close`: the next request opens a new connection.
    closing: bool,
    /// `POST … HTTP/1.1` and the fixed headers, up to (not including) `Content-Length`.
    head: Vec<u8>,
    request: Vec<u8>,
    response: Vec<u8>,
}

impl Connection {
    /// Connects to `endpoint`; every request will carry `extra_headers` (each `Name: value`).
    pub async fn open(endpoint: &Endpoint, extra_headers: &[String]) -> io::Result<Self> {
        let stream = Self::dial(endpoint).await?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json;charset=UTF-8\r\n",
            endpoint.path, endpoint.address
        );
        for header in extra_headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        Ok(Self {
            endpoint: endpoint.clone(),
            stream,
            closing: false,
            head: head.into_bytes(),
            request: Vec::with_capacity(512),
            response: Vec::with_capacity(16 * 1024),
        })
    }

    /// POSTs `body`; returns the reply's body (valid until the next call) if the status is
    /// 2xx, else an error with the status line.
    pub async fn post(&mut self, body: &[u8]) -> io::Result<&[u8]> {
        if self.closing {
            self.stream = Self::dial(&self.endpoint).await?;
            self.closing = false;
        }
        self.request.clear();
        self.request.extend_from_slice(&self.head);
        write!(self.request, "Content-Length: {}\r\n\r\n", body.len())?;
        self.request.extend_from_slice(body);
        self.stream.write_all(&self.request).await?;
        self.response.clear();
        let (status, framing, body_start) = self.read_head().await?;
        let range = match framing {
            Framing::Length(n) => {
                self.fill_to(body_start + n).await?;
                body_start..body_start + n
            }
            Framing::Chunked => self.read_chunked(body_start).await?,
        };
        if !(200..300).contains(&status) {
            return Err(io::Error::other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&self.response[range])
            )));
        }
        Ok(&self.response[range])
    }

    async fn dial(endpoint: &Endpoint) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(&endpoint.address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Reads until the end of the headers; returns the status, how the body is framed, and
    /// where it starts in the buffer.
    async fn read_head(&mut self) -> io::Result<(u16, Framing, usize)> {
        loop {
            if let Some(end) = find(&self.response, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.response[..end])
                    .map_err(|_| io::Error::other("headers are not UTF-8"))?;
                let (status, framing, close) = parse_head(head)?;
                self.closing = close;
                return Ok((status, framing, end + 4));
            }
            self.read_more().await?;
        }
    }

    /// Decodes a chunked body in place (the chunks are moved together after `start`); returns
    /// its range.
    async fn read_chunked(&mut self, start: usize) -> io::Result<std::ops::Range<usize>> {
        let mut body_end = start;
        let mut cursor = start;
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.response[cursor..], b"\r\n") {
                    break cursor + i;
                }
                self.read_more().await?;
            };
            let size_text = std::str::from_utf8(&self.response[cursor..line_end])
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size_text:?}")))?;
            let data_start = line_end + 2;
            self.fill_to(data_start + size + 2).await?;
            self.response
                .copy_within(data_start..data_start + size, body_end);
            body_end += size;
            cursor = data_start + size + 2;
            if size == 0 {
                // The last chunk; trailers are not expected from Bayeux servers.
                return Ok(start..body_end);
            }
        }
    }

    async fn fill_to(&mut self, len: usize) -> io::Result<()> {
        while self.response.len() < len {
            self.read_more().await?;
        }
        Ok(())
    }

    async fn read_more(&mut self) -> io::Result<()> {
        // Into the spare capacity: no zeroing of 16 KiB before every read.
        self.response.reserve(16 * 1024);
        let n = self.stream.read_buf(&mut self.response).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }
}

/// How a reply's body is delimited.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The status, the body's framing, and whether the server closes the connection after it.
fn parse_head(head: &str) -> io::Result<(u16, Framing, bool)> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut framing = Framing::Length(0);
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| io::Error::other(format!("bad Content-Length {value:?}")))?;
            framing = Framing::Length(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok((status, framing, close))
}

/// Where `needle` first starts in `haystack` (`memmem`: a window-by-window comparison was a
/// call to `memcmp` per byte of every response head).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn endpoints_and_heads() {
        let e = Endpoint::of("http://127.0.0.1:8080/cometd/66.0").unwrap();
        assert_eq!(
            (e.address.as_str(), e.path.as_str()),
            ("127.0.0.1:8080", "/cometd/66.0")
        );
        assert_eq!(
            Endpoint::of("http://example.com").unwrap().address,
            "example.com:80"
        );
        assert!(Endpoint::of("https://example.com/x").is_none());
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 12\r\nX: y";
        assert_eq!(parse_head(head).unwrap(), (200, Framing::Length(12), false));
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close";
        assert_eq!(parse_head(head).unwrap(), (200, Framing::Chunked, true));
        assert!(parse_head("garbage").is_err());
    }

    /// A server that answers each request with the next canned reply, written in pieces.
    async fn serve(replies: Vec<&'static [u8]>) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0_u8; 4096];
            for reply in replies {
                let mut request = Vec::new();
                // Read one whole request: headers, then Content-Length bytes.
                loop {
                    let n = socket.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(end) = find(&request, b"\r\n\r\n") {
                        let head = std::str::from_utf8(&request[..end]).unwrap().to_owned();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .unwrap()
                            .parse()
                            .unwrap();
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                for piece in reply.chunks(7) {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                }
            }
        });
        Endpoint {
            address,
            path: "/cometd/66.0".into(),
        }
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let endpoint = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[1,2]",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[{}\r\n1\r\n]\r\n0\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nbad!",
        ])
        .await;
        let mut connection = Connection::open(&endpoint, &["Cookie: a=b".into()])
            .await
            .unwrap();
        assert_eq!(connection.post(b"[]").await.unwrap(), b"[1,2]");
        assert_eq!(connection.post(b"[]").await.unwrap(), b"[{}]");
        let error = connection.post(b"[]").await.unwrap_err();
        assert!(error.to_string().contains("HTTP 500: bad!"), "{error}");
    }
}
