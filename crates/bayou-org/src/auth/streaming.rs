//! The org as the streaming endpoint's authenticator: a handshake must bring a live access
//! token (`Bearer`, `OAuth` or bare), and every `/meta/connect` checks it is still live, so a
//! revoked token ends the session with `401::Authentication invalid` and advice `none`, as
//! Salesforce does since Spring '18. Anonymous clients are let in only when configured.

use bayou_server::auth::{AuthError, Authenticator, Credentials, Principal};

use crate::Org;

impl Authenticator for Org {
    fn authenticate(&self, credentials: &Credentials) -> Result<Principal, AuthError> {
        match credentials.token() {
            None if self.config.allow_anonymous => Ok(Principal::default()),
            None => Err(AuthError::Missing),
            Some(token) => match self.tokens.validate_access(token) {
                Some(user_id) => Ok(Principal {
                    user_id: Some(user_id),
                    token: Some(token.to_owned()),
                }),
                None => Err(AuthError::Invalid),
            },
        }
    }

    fn is_still_valid(&self, principal: &Principal) -> bool {
        match &principal.token {
            Some(token) => self.tokens.validate_access(token).is_some(),
            None => self.config.allow_anonymous,
        }
    }
}
