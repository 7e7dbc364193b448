//! Logging in: where the access token (and the instance URL) come from.
//!
//! Salesforce tokens end without notice: an admin revokes them, a password changes, a session
//! policy expires them. The client therefore never holds a token it cannot replace — when the
//! server answers `401::Authentication invalid` or `403::Handshake denied` with a 401 failure
//! reason, the event loop asks its [`AuthProvider`] again with `renew = true` and resumes with
//! whatever comes back. A provider that cannot renew ([`StaticToken`]) says so with
//! [`AuthError::CannotRenew`], which stops the client with a clear error instead of looping on
//! a dead token (reference §12, pain points 4 and 5).

use futures_util::future::BoxFuture;
use serde::Deserialize;

use crate::error::AuthError;

/// What a login produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token sent as `Authorization: <token_type> <access_token>`.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// The org's base URL (`instance_url` of the OAuth reply, host of SOAP's `serverUrl`), used
    /// when the client was not given an endpoint.
    pub instance_url: Option<String>,
}

impl Credentials {
    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!("{} {}", self.token_type, self.access_token)
    }
}

/// A source of access tokens. Implement it to plug in your own (JWT bearer flow, a secrets
/// manager, a token shared with the rest of your application).
///
/// ```
/// use bayou_client::{AuthError, AuthProvider, Credentials};
/// use futures_util::future::BoxFuture;
///
/// struct FromEnv;
///
/// impl AuthProvider for FromEnv {
///     fn authenticate<'a>(
///         &'a self,
///         _http: &'a reqwest::Client,
///         _renew: bool,
///     ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
///         Box::pin(async {
///             let token = std::env::var("MY_TOKEN")
///                 .map_err(|_| AuthError::Refused("MY_TOKEN is not set".into()))?;
///             Ok(Credentials { access_token: token, token_type: "Bearer".into(), instance_url: None })
///         })
///     }
/// }
/// ```
pub trait AuthProvider: Send + Sync + 'static {
    /// Logs in. `renew` is true when the server refused the previous credentials: a provider
    /// that caches must not return the same token again.
    fn authenticate<'a>(
        &'a self,
        http: &'a reqwest::Client,
        renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>>;
}

/// A token obtained elsewhere. It cannot be renewed: once the server refuses it, the client
/// stops with [`AuthError::CannotRenew`].
#[derive(Debug, Clone)]
pub struct StaticToken {
    credentials: Credentials,
}

impl StaticToken {
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            credentials: Credentials {
                access_token: access_token.into(),
                token_type: "Bearer".into(),
                instance_url: None,
            },
        }
    }

    /// The instance URL to stream from when the client has no endpoint of its own.
    pub fn with_instance_url(mut self, url: impl Into<String>) -> Self {
        self.credentials.instance_url = Some(url.into());
        self
    }
}

impl AuthProvider for StaticToken {
    fn authenticate<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
        Box::pin(async move {
            if renew {
                Err(AuthError::CannotRenew(
                    "the server refused the access token, and a static token cannot be renewed \
                     (use an OAuth flow to let the client log in again)"
                        .into(),
                ))
            } else {
                Ok(self.credentials.clone())
            }
        })
    }
}

/// The OAuth 2.0 username-password flow (`grant_type=password`). For a real org the password
/// is the user's password followed by their security token.
#[derive(Debug, Clone)]
pub struct PasswordFlow {
    pub login_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
}

impl PasswordFlow {
    /// `login_url` is `https://login.salesforce.com`, `https://test.salesforce.com`, a My Domain
    /// URL, or a Bayou base URL such as `http://127.0.0.1:8080`.
    pub fn new(
        login_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            login_url: login_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            username: username.into(),
            password: password.into(),
        }
    }
}

impl AuthProvider for PasswordFlow {
    fn authenticate<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
        Box::pin(token_request(
            http,
            &self.login_url,
            vec![
                ("grant_type", "password"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("username", &self.username),
                ("password", &self.password),
            ],
        ))
    }
}

/// The OAuth 2.0 client credentials flow (a connected app with a run-as user). On Salesforce
/// it needs the My Domain URL, not login.salesforce.com.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub login_url: String,
    pub client_id: String,
    pub client_secret: String,
}

impl ClientCredentials {
    pub fn new(
        login_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            login_url: login_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl AuthProvider for ClientCredentials {
    fn authenticate<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
        Box::pin(token_request(
            http,
            &self.login_url,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ],
        ))
    }
}

/// The OAuth 2.0 refresh token flow: a long-lived refresh token exchanged for access tokens.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub login_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub refresh_token: String,
}

impl RefreshToken {
    pub fn new(
        login_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Self {
            login_url: login_url.into(),
            client_id: client_id.into(),
            client_secret,
            refresh_token: refresh_token.into(),
        }
    }
}

impl AuthProvider for RefreshToken {
    fn authenticate<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", self.refresh_token.as_str()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        Box::pin(token_request(http, &self.login_url, form))
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    instance_url: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

async fn token_request(
    http: &reqwest::Client,
    login_url: &str,
    form: Vec<(&str, &str)>,
) -> Result<Credentials, AuthError> {
    let url = format!("{}/services/oauth2/token", login_url.trim_end_matches('/'));
    let response = http
        .post(&url)
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
    if status.is_success() {
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|e| AuthError::Unavailable(format!("{url}: unreadable token reply ({e})")))?;
        return Ok(Credentials {
            access_token: reply.access_token,
            token_type: reply
                .token_type
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "Bearer".into()),
            instance_url: reply.instance_url,
        });
    }
    match serde_json::from_slice::<TokenError>(&body) {
        Ok(error) if status.is_client_error() => {
            Err(AuthError::Refused(match error.error_description {
                Some(description) => format!("{}: {description}", error.error),
                None => error.error,
            }))
        }
        _ if status.is_client_error() => Err(AuthError::Refused(format!("{url}: HTTP {status}"))),
        _ => Err(AuthError::Unavailable(format!("{url}: HTTP {status}"))),
    }
}

/// SOAP `login()` (what EMP-Connector and jsforce's `login()` use): username and password,
/// no connected app. Salesforce plans to retire it; prefer an OAuth flow for new code.
#[derive(Debug, Clone)]
pub struct SoapLogin {
    pub login_url: String,
    pub api_version: String,
    pub username: String,
    pub password: String,
}

impl SoapLogin {
    pub fn new(
        login_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            login_url: login_url.into(),
            api_version: crate::DEFAULT_API_VERSION.into(),
            username: username.into(),
            password: password.into(),
        }
    }
}

impl AuthProvider for SoapLogin {
    fn authenticate<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _renew: bool,
    ) -> BoxFuture<'a, Result<Credentials, AuthError>> {
        Box::pin(async move {
            let url = format!(
                "{}/services/Soap/u/{}",
                self.login_url.trim_end_matches('/'),
                self.api_version
            );
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
                 <env:Envelope xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
                 xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
                 xmlns:urn=\"urn:partner.soap.sforce.com\"><env:Body><urn:login>\
                 <urn:username>{}</urn:username><urn:password>{}</urn:password>\
                 </urn:login></env:Body></env:Envelope>",
                xml_escape(&self.username),
                xml_escape(&self.password)
            );
            let response = http
                .post(&url)
                .header("content-type", "text/xml; charset=utf-8")
                .header("soapaction", "login")
                .body(body)
                .send()
                .await
                .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
            if let Some(fault) = xml_element(&text, "faultstring") {
                return Err(AuthError::Refused(fault));
            }
            if !status.is_success() {
                return Err(AuthError::Unavailable(format!("{url}: HTTP {status}")));
            }
            let session_id = xml_element(&text, "sessionId")
                .ok_or_else(|| AuthError::Unavailable(format!("{url}: no sessionId in reply")))?;
            let instance_url = xml_element(&text, "serverUrl").and_then(|s| origin_of(&s));
            Ok(Credentials {
                access_token: session_id,
                token_type: "Bearer".into(),
                instance_url,
            })
        })
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of the first `<name>` element, with or without a namespace prefix.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let local = tag.rsplit(':').next().unwrap_or(tag);
        if local == name {
            let content = &rest[end + 1..];
            let close = content.find("</")?;
            return Some(xml_unescape(&content[..close]));
        }
    }
    None
}

/// `https://host:port` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_soap_elements_with_prefixes() {
        let xml = "<soapenv:Envelope><soapenv:Body><loginResponse><result>\
                   <serverUrl>https://eu1.my.salesforce.com/services/Soap/u/66.0/00D</serverUrl>\
                   <sessionId>00D!AR&amp;x</sessionId></result></loginResponse></soapenv:Body></soapenv:Envelope>";
        assert_eq!(xml_element(xml, "sessionId").as_deref(), Some("00D!AR&x"));
        assert_eq!(
            xml_element(xml, "serverUrl")
                .and_then(|u| origin_of(&u))
                .as_deref(),
            Some("https://eu1.my.salesforce.com")
        );
        assert_eq!(xml_element(xml, "faultstring"), None);
    }

    #[test]
    fn escapes_credentials() {
        assert_eq!(xml_escape("a<b&'c"), "a&lt;b&amp;&apos;c");
    }
}
