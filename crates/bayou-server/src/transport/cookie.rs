//! The `BAYEUX_BROWSER` cookie.
//!
//! Salesforce and CometD set it on the handshake to recognise a browser; Bayou sets it too so
//! clients that expect it find it, but never requires it: aiohttp's default cookie jar refuses
//! cookies from IP-address hosts such as `127.0.0.1`, and clients drop `Secure` cookies over
//! plain http.

use axum::http::{header, HeaderMap, HeaderValue};

pub const NAME: &str = "BAYEUX_BROWSER";

/// Whether the request already carries the cookie.
pub fn present(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(present_in)
}

/// Whether one `Cookie` header's value has the cookie.
pub fn present_in(value: &str) -> bool {
    value
        .split(';')
        .any(|pair| pair.trim_start().starts_with("BAYEUX_BROWSER="))
}

/// A fresh `Set-Cookie` value.
pub fn set_cookie(secure: bool) -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{NAME}={id}; Path=/cometd; HttpOnly{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("BAYEUX_BROWSER=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; BAYEUX_BROWSER=xyz"),
        );
        assert!(present(&headers));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        assert!(!present(&headers));
    }

    #[test]
    fn secure_only_on_https() {
        let plain = set_cookie(false);
        assert!(plain
            .to_str()
            .unwrap()
            .ends_with("; Path=/cometd; HttpOnly"));
        assert!(set_cookie(true).to_str().unwrap().ends_with("; Secure"));
    }
}
