//! Logging in: the OAuth token endpoint and friends (`oauth.rs`), SOAP `login()` (`soap.rs`),
//! and the check streaming clients go through (`streaming.rs`).

pub mod oauth;
pub mod passwords;
pub mod soap;
pub mod streaming;
pub mod userinfo;
