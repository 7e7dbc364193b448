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
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;
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
            let reply = LoginReply::read(&text);
            if let Some(fault) = reply.fault {
                return Err(AuthError::Refused(fault));
            }
            if !status.is_success() {
                return Err(AuthError::Unavailable(format!("{url}: HTTP {status}")));
            }
            if let Some(error) = reply.error {
                return Err(AuthError::Unavailable(format!(
                    "{url}: unreadable SOAP reply ({error})"
                )));
            }
            let session_id = reply
                .session_id
                .ok_or_else(|| AuthError::Unavailable(format!("{url}: no sessionId in reply")))?;
            let instance_url = reply.server_url.as_deref().and_then(origin_of);
            tracing::debug!(
                user_id = reply.user_id.as_deref().unwrap_or(""),
                organization_id = reply.organization_id.as_deref().unwrap_or(""),
                instance_url = instance_url.as_deref().unwrap_or(""),
                "SOAP login succeeded"
            );
            Ok(Credentials {
                access_token: session_id,
                token_type: "Bearer".into(),
                instance_url,
            })
        })
    }
}

/// Credentials go into the request envelope as element text.
fn xml_escape(text: &str) -> String {
    escape(text).into_owned()
}

/// What a SOAP `login()` reply says, read with `quick-xml`'s pull reader: one pass, prefixes
/// (`soapenv:`, `env:`, `sf:`, none) ignored, CDATA and references (`&amp;`, `&#38;`) decoded.
/// Each value is the first element of that local name under the parent Salesforce puts it in,
/// so `userInfo/userId` cannot be taken for `result/userId`.
#[derive(Debug, Default, PartialEq, Eq)]
struct LoginReply {
    session_id: Option<String>,
    server_url: Option<String>,
    user_id: Option<String>,
    organization_id: Option<String>,
    /// `Fault/faultstring`: the login was refused.
    fault: Option<String>,
    /// Why reading stopped early, when the reply is not well-formed XML. What was read before
    /// stays (a fault is still a fault if a proxy mangled the end of the body).
    error: Option<String>,
}

impl LoginReply {
    fn read(xml: &str) -> Self {
        let mut reply = LoginReply::default();
        if let Err(error) = reply.fill(xml) {
            reply.error = Some(error);
        }
        reply
    }

    fn fill(&mut self, xml: &str) -> Result<(), String> {
        let mut reader = Reader::from_str(xml);
        // Local names of the open elements, outermost first.
        let mut path: Vec<Vec<u8>> = Vec::new();
        // The slot being read (it is the innermost open element), and its text so far.
        let mut reading: Option<Slot> = None;
        let mut text = String::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(start) => {
                    path.push(start.local_name().as_ref().to_vec());
                    reading = self.slot(&path).filter(|slot| self.get(*slot).is_none());
                    text.clear();
                }
                Event::Empty(empty) => {
                    path.push(empty.local_name().as_ref().to_vec());
                    if let Some(slot) = self.slot(&path) {
                        self.set(slot, String::new());
                    }
                    path.pop();
                }
                Event::End(_) => {
                    if let Some(slot) = reading.take() {
                        self.set(slot, std::mem::take(&mut text));
                    }
                    path.pop();
                }
                Event::Text(t) if reading.is_some() => {
                    text.push_str(&t.xml10_content().map_err(|e| e.to_string())?);
                }
                Event::CData(c) if reading.is_some() => {
                    text.push_str(&c.decode().map_err(|e| e.to_string())?);
                }
                Event::GeneralRef(r) => {
                    let resolved = reference(&r)?;
                    if reading.is_some() {
                        text.push_str(&resolved);
                    }
                }
                Event::Eof if !path.is_empty() => {
                    return Err("malformed XML: unclosed element".into())
                }
                Event::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    /// Which value an element at `path` holds, by its local name and its parent's.
    fn slot(&self, path: &[Vec<u8>]) -> Option<Slot> {
        let [.., parent, name] = path else {
            return None;
        };
        match (parent.as_slice(), name.as_slice()) {
            (b"result", b"sessionId") => Some(Slot::SessionId),
            (b"result", b"serverUrl") => Some(Slot::ServerUrl),
            (b"result", b"userId") => Some(Slot::UserId),
            (b"userInfo", b"organizationId") => Some(Slot::OrganizationId),
            (b"Fault", b"faultstring") => Some(Slot::Fault),
            _ => None,
        }
    }

    fn get(&self, slot: Slot) -> Option<&String> {
        match slot {
            Slot::SessionId => self.session_id.as_ref(),
            Slot::ServerUrl => self.server_url.as_ref(),
            Slot::UserId => self.user_id.as_ref(),
            Slot::OrganizationId => self.organization_id.as_ref(),
            Slot::Fault => self.fault.as_ref(),
        }
    }

    /// Keeps the first value of each slot.
    fn set(&mut self, slot: Slot, value: String) {
        let field = match slot {
            Slot::SessionId => &mut self.session_id,
            Slot::ServerUrl => &mut self.server_url,
            Slot::UserId => &mut self.user_id,
            Slot::OrganizationId => &mut self.organization_id,
            Slot::Fault => &mut self.fault,
        };
        field.get_or_insert(value);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    SessionId,
    ServerUrl,
    UserId,
    OrganizationId,
    Fault,
}

/// The text of `&name;` or `&#n;`: XML's predefined entities and character references.
fn reference(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| format!("unknown entity &{name};"))
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
        let reply = LoginReply::read(xml);
        assert_eq!(reply.session_id.as_deref(), Some("00D!AR&x"));
        assert_eq!(
            reply.server_url.as_deref().and_then(origin_of).as_deref(),
            Some("https://eu1.my.salesforce.com")
        );
        assert_eq!(reply.fault, None);
        assert_eq!(reply.error, None);
    }

    #[test]
    fn reads_a_full_salesforce_reply() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:partner.soap.sforce.com"><env:Body><sf:loginResponse><sf:result><sf:metadataServerUrl>https://x/services/Soap/m/66.0/00D</sf:metadataServerUrl><sf:passwordExpired>false</sf:passwordExpired><sf:serverUrl><![CDATA[https://x.my.salesforce.com/services/Soap/u/66.0/00D]]></sf:serverUrl><sf:sessionId>00D&#33;AQ</sf:sessionId><sf:userId>005A</sf:userId><sf:userInfo><sf:organizationId>00DB</sf:organizationId><sf:userId>005B</sf:userId></sf:userInfo></sf:result></sf:loginResponse></env:Body></env:Envelope>"#;
        assert_eq!(
            LoginReply::read(xml),
            LoginReply {
                session_id: Some("00D!AQ".into()),
                server_url: Some("https://x.my.salesforce.com/services/Soap/u/66.0/00D".into()),
                user_id: Some("005A".into()),
                organization_id: Some("00DB".into()),
                fault: None,
                error: None,
            }
        );
    }

    #[test]
    fn reads_faults_and_reports_malformed_replies() {
        let fault = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, security token; or user locked out.</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let reply = LoginReply::read(fault);
        assert_eq!(
            reply.fault.as_deref(),
            Some("INVALID_LOGIN: Invalid username, password, security token; or user locked out.")
        );
        assert_eq!(reply.session_id, None);
        // A `faultstring` outside a Fault is not a fault.
        assert_eq!(LoginReply::read("<faultstring>x</faultstring>").fault, None);
        for bad in [
            "<html><body>Bad gateway<br></body></html>",
            "<result><sessionId>x</result>",
            "<result><sessionId>&nbsp;</sessionId></result>",
        ] {
            assert!(LoginReply::read(bad).error.is_some(), "{bad}");
        }
    }

    #[test]
    fn escapes_credentials() {
        assert_eq!(xml_escape("a<b&'c"), "a&lt;b&amp;&apos;c");
    }
}
