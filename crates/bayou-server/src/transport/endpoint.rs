//! The `/cometd/…` path: which API version a request names.
//!
//! Accepted forms: `/cometd/{v}`, `/cometd/{v}/`, `/cometd/{v}/{handshake|connect|…}` (CometD
//! JS may append the message type) and the legacy `/cometd/replay/{v}`. A missing or too old
//! version is not an HTTP error: each message gets Salesforce's Bayeux error for it.

use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::errors;

/// The API version named by the path after `/cometd/`, or the error every message gets;
/// versions before `oldest` are refused.
pub fn api_version(rest: &str, oldest: f64) -> Result<ApiVersion, String> {
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let mut first = segments.next();
    let replay_path = first == Some("replay");
    if replay_path {
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
    if parsed < oldest {
        return Err(errors::api_version_unsupported(oldest));
    }
    Ok(ApiVersion::new(parsed, replay_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |rest| api_version(rest, errors::MIN_API_VERSION).map(ApiVersion::number);
        assert_eq!(v("66.0"), Ok(66.0));
        assert_eq!(v("66.0/"), Ok(66.0));
        assert_eq!(v("58.0/handshake"), Ok(58.0));
        assert_eq!(v("replay/37.0"), Ok(37.0));
        assert_eq!(v(""), Err(errors::api_version_mandatory()));
        assert_eq!(v("latest"), Err(errors::api_version_mandatory()));
        assert_eq!(v("36.0"), Err(errors::api_version_unsupported(37.0)));
        assert!(
            errors::api_version_unsupported(37.0).contains("Only API versions '37.0' and later")
        );
    }

    #[test]
    fn older_versions_when_emulated() {
        assert_eq!(api_version("24.0", 23.0).map(ApiVersion::number), Ok(24.0));
        let refused = api_version("22.0", 23.0).unwrap_err();
        assert!(
            refused.contains("Only API versions '23.0' and later"),
            "{refused}"
        );
        assert!(api_version("replay/36.0", 23.0).unwrap().is_durable());
        assert!(!api_version("36.0", 23.0).unwrap().is_durable());
    }
}
