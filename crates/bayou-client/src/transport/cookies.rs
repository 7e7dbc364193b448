//! A minimal cookie jar for the one endpoint a client talks to.
//!
//! Salesforce's streaming servers set `BAYEUX_BROWSER` and load-balancer cookies and, behind
//! some balancers, answer `403::Unknown client` or `400::… no BAYEUX_BROWSER cookie present`
//! to clients that do not send them back (reference §12, pain point 9). Names and values are
//! all that matter for one host, so no general cookie store is needed.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, Clone, Default)]
pub(crate) struct CookieJar {
    cookies: Arc<Mutex<BTreeMap<String, String>>>,
}

impl CookieJar {
    /// Takes the `Set-Cookie` headers of a response (long-polling's, or a WebSocket upgrade's).
    pub fn store(&self, headers: &reqwest::header::HeaderMap) {
        let set_cookie = headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let mut cookies = self.cookies.lock();
        for header in set_cookie {
            let pair = header.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let name = name.trim();
                if !name.is_empty() {
                    cookies.insert(name.to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    /// The `Cookie` header value, if any cookie is set.
    pub fn header(&self) -> Option<String> {
        let cookies = self.cookies.lock();
        if cookies.is_empty() {
            return None;
        }
        Some(
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_value_of_each_cookie() {
        let jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        let headers = |values: &[&'static str]| {
            let mut map = reqwest::header::HeaderMap::new();
            for v in values {
                map.append(reqwest::header::SET_COOKIE, v.parse().unwrap());
            }
            map
        };
        jar.store(&headers(&[
            "BAYEUX_BROWSER=abc; Path=/cometd/; HttpOnly",
            "lb=1",
        ]));
        jar.store(&headers(&["lb=2; Secure"]));
        assert_eq!(jar.header().as_deref(), Some("BAYEUX_BROWSER=abc; lb=2"));
    }
}
