//! Writing a long-polling response: the head and the JSON array in one buffer, one write.
//!
//! The head has what the same answer through hyper and axum has: status line, `content-type`,
//! `content-length`, `x-content-type-options: nosniff` (the layer every route gets), `date`
//! (cached per second, as hyper does), and `set-cookie` / `connection: close` when they apply.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode};
use bayou_protocol::{array_len, put_array};
use bytes::Bytes;

/// Appends the whole response to `out`: head, then `[m1,m2,…]`.
pub fn write(
    out: &mut Vec<u8>,
    status: StatusCode,
    messages: &[Bytes],
    set_cookie: Option<&HeaderValue>,
    close: bool,
) {
    let body_len = array_len(messages);
    out.reserve(160 + body_len);
    let reason = status.canonical_reason().unwrap_or("");
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", status.as_u16());
    out.extend_from_slice(
        b"content-type: application/json;charset=UTF-8\r\nx-content-type-options: nosniff\r\n",
    );
    let _ = write!(out, "content-length: {body_len}\r\n");
    if let Some(cookie) = set_cookie {
        out.extend_from_slice(b"set-cookie: ");
        out.extend_from_slice(cookie.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    with_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n\r\n");
    put_array(out, messages);
}

thread_local! {
    /// The `date` value and the second it is for, per worker thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Calls `f` with the current IMF-fixdate (`Sun, 06 Dec 2026 23:40:35 GMT`).
fn with_date(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with_borrow_mut(|(cached_second, text)| {
        if *cached_second != second {
            *cached_second = second;
            *text = httpdate::fmt_http_date(now);
        }
        f(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_body() {
        let mut out = Vec::new();
        let messages = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{}")];
        let cookie = HeaderValue::from_static("BAYEUX_BROWSER=x; Path=/cometd; HttpOnly");
        write(&mut out, StatusCode::OK, &messages, Some(&cookie), true);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, r#"[{"a":1},{}]"#);
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        assert!(lines.contains(&"content-length: 12"));
        assert!(lines.contains(&"content-type: application/json;charset=UTF-8"));
        assert!(lines.contains(&"x-content-type-options: nosniff"));
        assert!(lines.contains(&"set-cookie: BAYEUX_BROWSER=x; Path=/cometd; HttpOnly"));
        assert!(lines.contains(&"connection: close"));
        let date = lines.iter().find_map(|l| l.strip_prefix("date: ")).unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    #[test]
    fn an_empty_array_and_a_refusal() {
        let mut out = Vec::new();
        write(&mut out, StatusCode::BAD_REQUEST, &[], None, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("content-length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n[]"));
        assert!(!text.contains("set-cookie") && !text.contains("connection"));
    }
}
