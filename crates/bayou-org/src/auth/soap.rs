//! SOAP `login()` at `/services/Soap/u/{version}`: what EMP-Connector's `LoginHelper` and
//! jsforce's `login()` without OAuth client call. Only the fields those clients read are
//! guaranteed (`serverUrl`, `sessionId`, `userId`, `organizationId`, `passwordExpired`); a
//! failure is HTTP 500 with a SOAP fault, as Salesforce sends.
//!
//! The request is read with `quick-xml`'s pull reader rather than by searching the text: one
//! linear pass whatever the body holds (the old substring search was quadratic, and a 1 MB
//! body of `<username` fragments kept a core busy for seconds), with prefixes (`urn:`, `n1:`,
//! none), CDATA sections and character/entity references (`&amp;`, `&#38;`) read as XML
//! defines them. `username` and `password` count only as children of `login`, so a header
//! element of the same name cannot stand in for them. A login needs a few hundred bytes, so a
//! body above [`MAX_BODY_BYTES`] is refused (HTTP 413) before it is read whole; malformed XML
//! gets a `soapenv:Client` fault. Both answers keep the SOAP fault shape clients parse.
//!
//! The reply is written with `format!`, not an XML writer, because its element order is part
//! of the contract: Salesforce's Pub/Sub API Python example reads the reply by position.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::{partial_escape, resolve_predefined_entity};
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use crate::{ClientAddress, Org};

/// The largest SOAP request read: a login envelope is well under 1 KiB; 64 KiB leaves room for
/// verbose toolkits (long headers, comments) and nothing more.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const ENVELOPE_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#;
const ENVELOPE_CLOSE: &str = "</soapenv:Body></soapenv:Envelope>";

/// What a request envelope asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// The first `login` element, with its first `username` and `password` children.
    Login {
        username: Option<String>,
        password: Option<String>,
    },
    /// Well-formed XML without a `login` element: another SOAP call.
    Other,
}

/// Which `login` child is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Username,
    Password,
}

/// Reads the request envelope in one pass. Element names are matched by local name, whatever
/// their prefix: the namespace is fixed by the endpoint (the partner API). An error is the
/// message of the `soapenv:Client` fault [`login`] answers with.
///
/// Public, with [`Request`], only so that the `soap_envelope` fuzz target (`fuzz/`) can feed it
/// any text: it reads a body from anyone who can connect, before any credential is checked.
pub fn read_request(xml: &str) -> Result<Request, String> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    // Depth of the `login` element while inside it; whether one was seen at all.
    let mut login: Option<usize> = None;
    let mut seen_login = false;
    // The `login` child being read, and its text so far.
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let (mut username, mut password) = (None, None);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                depth += 1;
                let name = start.local_name();
                if login.is_none() && !seen_login && name.as_ref() == b"login" {
                    login = Some(depth);
                    seen_login = true;
                } else if login.is_some_and(|l| depth == l + 1) {
                    field = login_child(name.as_ref());
                    text.clear();
                }
            }
            Event::Empty(empty) => {
                let name = empty.local_name();
                if login.is_some_and(|l| depth == l) {
                    store(
                        login_child(name.as_ref()),
                        String::new(),
                        &mut username,
                        &mut password,
                    );
                } else if login.is_none() && !seen_login && name.as_ref() == b"login" {
                    seen_login = true;
                }
            }
            Event::End(_) => {
                if login.is_some_and(|l| depth == l + 1) {
                    store(
                        field.take(),
                        std::mem::take(&mut text),
                        &mut username,
                        &mut password,
                    );
                }
                if login == Some(depth) {
                    login = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                let content = t.xml10_content().map_err(|e| e.to_string())?;
                if field.is_some() && login.is_some_and(|l| depth == l + 1) {
                    text.push_str(&content);
                }
            }
            Event::CData(c) => {
                let content = c.decode().map_err(|e| e.to_string())?;
                if field.is_some() && login.is_some_and(|l| depth == l + 1) {
                    text.push_str(&content);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = reference(&r)?;
                if field.is_some() && login.is_some_and(|l| depth == l + 1) {
                    text.push_str(&resolved);
                }
            }
            Event::Eof if depth > 0 => return Err("malformed XML: unclosed element".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(if seen_login {
        Request::Login { username, password }
    } else {
        Request::Other
    })
}

fn login_child(local_name: &[u8]) -> Option<Field> {
    match local_name {
        b"username" => Some(Field::Username),
        b"password" => Some(Field::Password),
        _ => None,
    }
}

/// Keeps the first value of each field.
fn store(
    field: Option<Field>,
    value: String,
    username: &mut Option<String>,
    password: &mut Option<String>,
) {
    let slot = match field {
        Some(Field::Username) => username,
        Some(Field::Password) => password,
        None => return,
    };
    slot.get_or_insert(value);
}

/// The text of `&name;` or `&#n;`: XML's five predefined entities and character references.
/// A SOAP envelope may not declare others (no DTD), so any other name is an error.
fn reference(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| format!("malformed XML: unknown entity &{name};"))
}

/// Element text as the reply writes it (`&`, `<`, `>` escaped, as before).
fn escape(text: &str) -> String {
    partial_escape(text).into_owned()
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn fault(code: &str, message: &str) -> Response {
    let body = format!(
        "{ENVELOPE_OPEN}<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {}</faultstring><detail><sf:LoginFault xmlns:sf=\"urn:fault.partner.soap.sforce.com\"><sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>{ENVELOPE_CLOSE}",
        escape(message),
        escape(message)
    );
    xml(StatusCode::INTERNAL_SERVER_ERROR, body)
}

/// A request the server cannot read (too large, not UTF-8, not XML): SOAP 1.1's
/// `soapenv:Client` fault, which is what Salesforce answers to an unparsable envelope.
fn client_fault(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "{ENVELOPE_OPEN}<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{}</faultstring></soapenv:Fault>{ENVELOPE_CLOSE}",
        escape(message)
    );
    xml(status, body)
}

/// With `Connection: close`: the body was not read, so the connection cannot carry another
/// request, and a client that put it back in its pool would find it closed under its next one.
fn too_large() -> Response {
    let mut response = client_fault(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
    );
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

fn invalid_login() -> Response {
    fault(
        "INVALID_LOGIN",
        "Invalid username, password, security token; or user locked out.",
    )
}

pub async fn login(
    State(org): State<Arc<Org>>,
    ClientAddress(address): ClientAddress,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let version = rest
        .split('/')
        .find(|s| !s.is_empty())
        .unwrap_or("66.0")
        .to_owned();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    // Also catches chunked bodies that grow past the limit; a broken connection lands here too,
    // and its client is gone, so the answer does not matter.
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return client_fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request body is not UTF-8",
        );
    };
    let (username, password) = match read_request(body) {
        Err(message) => return client_fault(StatusCode::INTERNAL_SERVER_ERROR, &message),
        Ok(Request::Other) => {
            return fault(
                "INVALID_OPERATION",
                "Only the login() call is implemented by Bayou",
            )
        }
        Ok(Request::Login {
            username: Some(username),
            password: Some(password),
        }) => (username, password),
        Ok(Request::Login { .. }) => return invalid_login(),
    };
    let username = username.trim();
    let user = org.identity().user_by_name(username).cloned();
    let hash = user.as_ref().map(|u| u.password_hash.as_str());
    let accepted = org
        .passwords
        .login(username, &password, hash, address)
        .await;
    let (true, Some(user)) = (accepted, user) else {
        return invalid_login();
    };
    let Ok(session_id) = org.tokens.issue_access(&user.id, None).await else {
        return fault(
            "SERVER_UNAVAILABLE",
            "The session could not be stored; try again.",
        );
    };
    let base = org.instance_url(&headers);
    let org_id = org.org_id();
    let timeout = org.config.session_timeout.as_secs();
    let result = format!(
        "<loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{org_id}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>{base}/services/Soap/u/{version}/{org_id}</serverUrl><sessionId>{session_id}</sessionId><userId>{user_id}</userId>{user_info}</result></loginResponse>",
        user_id = user.id,
        user_info = user_info(org_id, &user.id, &user.username, &user.display_name, timeout),
    );
    xml(
        StatusCode::OK,
        format!("{ENVELOPE_OPEN}{result}{ENVELOPE_CLOSE}"),
    )
}

/// `userInfo` with every element of the partner WSDL's `GetUserInfoResult`, in its order:
/// clients read it by position (Salesforce's Pub/Sub Python example takes the org id as
/// element 8), not only by name.
fn user_info(org_id: &str, user_id: &str, username: &str, name: &str, timeout: u64) -> String {
    format!(
        "<userInfo><accessibilityMode>false</accessibilityMode><chatterExternal>false</chatterExternal><currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit><orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDefaultCurrencyLocale>en_US</orgDefaultCurrencyLocale><orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts><organizationId>{org_id}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency><organizationName>Bayou</organizationName><profileId>00e000000000000AAA</profileId><roleId xsi:nil=\"true\"/><sessionSecondsValid>{timeout}</sessionSecondsValid><userDefaultCurrencyIsoCode xsi:nil=\"true\"/><userEmail>{email}</userEmail><userFullName>{name}</userFullName><userId>{user_id}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale><userName>{email}</userName><userTimeZone>GMT</userTimeZone><userType>Standard</userType><userUiSkin>Theme3</userUiSkin></userInfo>",
        email = escape(username),
        name = escape(name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(username: &str, password: &str) -> Request {
        Request::Login {
            username: Some(username.into()),
            password: Some(password.into()),
        }
    }

    #[test]
    fn finds_elements_whatever_their_prefix() {
        let body = r#"<env:Envelope><env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>a@b.c</n1:username><n1:password>p&amp;w</n1:password></n1:login></env:Body></env:Envelope>"#;
        assert_eq!(read_request(body), Ok(login("a@b.c", "p&w")));
        let plain = "<login><username>x</username><password>y</password></login>";
        assert_eq!(read_request(plain), Ok(login("x", "y")));
        let emp = r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:login><urn:username>u</urn:username><urn:password>p</urn:password></urn:login></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(read_request(emp), Ok(login("u", "p")));
        let default_ns = r#"<se:Envelope xmlns:se="http://schemas.xmlsoap.org/soap/envelope/"><se:Body><login xmlns="urn:partner.soap.sforce.com"><username>u</username><password>p</password></login></se:Body></se:Envelope>"#;
        assert_eq!(read_request(default_ns), Ok(login("u", "p")));
        assert_eq!(read_request("<a>no</a>"), Ok(Request::Other));
    }

    #[test]
    fn references_cdata_and_whitespace_are_read_as_xml_defines_them() {
        let body = "<login><username>\n  a@b.c  \n</username><password>&lt;&#38;&#x26;&quot;&apos;&gt;<![CDATA[<&amp;>]]></password></login>";
        assert_eq!(
            read_request(body),
            Ok(Request::Login {
                username: Some("\n  a@b.c  \n".into()),
                password: Some("<&&\"'><&amp;>".into()),
            })
        );
        assert_eq!(
            read_request("<login><username/><password></password></login>"),
            Ok(login("", ""))
        );
    }

    #[test]
    fn only_children_of_login_count() {
        let body = "<Envelope><Header><username>header</username></Header><Body><login><x><username>nested</username></x><username>first</username><username>second</username><password>p</password></login></Body></Envelope>";
        assert_eq!(read_request(body), Ok(login("first", "p")));
        assert_eq!(
            read_request("<login><username>u</username></login>"),
            Ok(Request::Login {
                username: Some("u".into()),
                password: None,
            })
        );
        assert_eq!(
            read_request("<username>u</username><password>p</password>"),
            Ok(Request::Other)
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for body in [
            "<login><username>u</password></login>",
            "<login><username>u</username>",
            "<login><username>&bogus;</username></login>",
            "<login><username>u</username></login></extra>",
            "<login <username>",
        ] {
            assert!(read_request(body).is_err(), "{body}");
        }
    }

    #[test]
    fn a_megabyte_of_fragments_is_read_in_one_pass() {
        // The old substring search went quadratic on this shape.
        let body = format!("<login>{}</login>", "<username".repeat(100_000));
        assert!(read_request(&body).is_err());
        let body = format!(
            "<login>{}<username>u</username><password>p</password></login>",
            "<x>&amp;</x>".repeat(100_000)
        );
        assert_eq!(read_request(&body), Ok(login("u", "p")));
    }
}
