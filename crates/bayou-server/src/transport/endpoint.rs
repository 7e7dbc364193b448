//! The `/cometd/…` path: which API version a request names.
//!
//! Accepted forms: `/cometd/{v}`, `/cometd/{v}/`, `/cometd/{v}/{handshake|connect|…}` (CometD
//! JS may append the message type) and the legacy `/cometd/replay/{v}`. A missing or too old
//! version is not an HTTP error: each message gets Salesforce's Bayeux error for it.

use bayou_protocol::errors;

/// The API version named by the path after `/cometd/`, or the error every message gets.
pub fn api_version(rest: &str) -> Result<f64, String> {
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let mut first = segments.next();
    if first == Some("replay") {
        first = segments.next();
    }
    let Some(version) = first else {
        return Err(errors::api_version_mandatory());
    };
    let parsed: f64 = version
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && version.contains('.'))
        .ok_or_else(errors::api_version_mandatory)?;
    if parsed < errors::MIN_API_VERSION {
        return Err(errors::api_version_unsupported());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(api_version("66.0"), Ok(66.0));
        assert_eq!(api_version("66.0/"), Ok(66.0));
        assert_eq!(api_version("58.0/handshake"), Ok(58.0));
        assert_eq!(api_version("replay/37.0"), Ok(37.0));
        assert_eq!(api_version(""), Err(errors::api_version_mandatory()));
        assert_eq!(api_version("latest"), Err(errors::api_version_mandatory()));
        assert_eq!(api_version("36.0"), Err(errors::api_version_unsupported()));
    }
}
