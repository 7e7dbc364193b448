//! What a request brings to prove who it is, and whom a session belongs to once admitted.

use std::net::SocketAddr;

/// What a request brings to prove who it is.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// The peer address, when known.
    pub remote_addr: Option<SocketAddr>,
}

impl Credentials {
    /// The token in the `Authorization` header: `Bearer <t>`, `OAuth <t>` (scheme
    /// case-insensitive) or a bare `<t>` as EMP-Connector sends it.
    pub fn token(&self) -> Option<&str> {
        let header = self.authorization.as_deref()?.trim();
        let token = match header.split_once(' ') {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("bearer")
                    || scheme.eq_ignore_ascii_case("oauth") =>
            {
                rest.trim()
            }
            None if header.eq_ignore_ascii_case("bearer")
                || header.eq_ignore_ascii_case("oauth") =>
            {
                return None
            }
            _ => header,
        };
        (!token.is_empty()).then_some(token)
    }
}

/// Whom a session belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The user's id, when the policy knows users.
    pub user_id: Option<String>,
    /// The token the session was opened with, so it can be checked again later.
    pub token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> Option<String> {
        Credentials {
            authorization: Some(header.to_owned()),
            remote_addr: None,
        }
        .token()
        .map(str::to_owned)
    }

    #[test]
    fn reads_every_header_form_clients_send() {
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("OAuth abc").as_deref(), Some("abc"));
        assert_eq!(token("oauth  abc ").as_deref(), Some("abc"));
        assert_eq!(token("00Dxx!AR.abc").as_deref(), Some("00Dxx!AR.abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token(""), None);
    }
}
