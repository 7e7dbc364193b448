//! Who is calling: Salesforce's Pub/Sub API takes the session in metadata headers —
//! `accesstoken` (an access token from any login flow), `instanceurl` and `tenantid` (the org
//! id) — on every call. Bayou checks the token against the org's tokens (so a token issued by
//! OAuth or SOAP login, on any node, works) and the tenant against the org id.

use bayou_org::Org;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::status::{codes, failure};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub token: String,
}

impl Caller {
    /// Whether the caller's token is still live (it may have been revoked or have expired since
    /// the stream opened).
    pub fn is_live(&self, org: &Org) -> bool {
        org.user_of_token(&self.token).is_some()
    }
}

/// The caller of a request, or Salesforce's authentication error.
/// A token this node does not know yet is looked up again once it has caught up with the other
/// nodes of its cluster ([`Org::user_of_token_settled`]).
pub async fn authenticate(org: &Org, metadata: &MetadataMap) -> Result<Caller, Status> {
    let header = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    let Some(token) = header("accesstoken").filter(|t| !t.is_empty()) else {
        return Err(failure(
            Code::Unauthenticated,
            codes::AUTH,
            "An authentication exception occurred. Provide valid authentication via metadata headers: accesstoken is missing.",
        ));
    };
    let Some(tenant) = header("tenantid").filter(|t| !t.is_empty()) else {
        return Err(failure(
            Code::Unauthenticated,
            codes::AUTH,
            "An authentication exception occurred. Provide valid authentication via metadata headers: tenantid is missing.",
        ));
    };
    if !same_org(tenant, org.org_id()) {
        return Err(failure(
            Code::Unauthenticated,
            codes::AUTH,
            "An authentication exception occurred: the tenantid is not this org's id.",
        ));
    }
    match org.user_of_token_settled(token).await {
        Some(user_id) => Ok(Caller {
            user_id,
            token: token.to_owned(),
        }),
        None => Err(expired()),
    }
}

/// The error ending a call whose token is no longer valid.
pub fn expired() -> Status {
    failure(
        Code::Unauthenticated,
        codes::AUTH,
        "An authentication exception occurred: the session is invalid or has expired.",
    )
}

/// Org ids compare as any record ids do: clients send the 15- or the 18-character form.
fn same_org(given: &str, org_id: &str) -> bool {
    bayou_org::ids::same_id(org_id, given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_match_in_either_length() {
        assert!(same_org("00Dxx0000001gPL", "00Dxx0000001gPLEAY"));
        assert!(same_org("00Dxx0000001gPLEAY", "00Dxx0000001gPLEAY"));
        assert!(!same_org("00Dxx0000001gPM", "00Dxx0000001gPLEAY"));
        assert!(!same_org("00D", "00Dxx0000001gPLEAY"));
    }
}
