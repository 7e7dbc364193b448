//! SOAP `login()` at `/services/Soap/u/{version}`: what EMP-Connector's `LoginHelper` and
//! jsforce's `login()` without OAuth client call. Only the fields those clients read are
//! guaranteed (`serverUrl`, `sessionId`, `userId`, `organizationId`, `passwordExpired`); a
//! failure is HTTP 500 with a SOAP fault, as Salesforce sends.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::identity::verify_secret;
use crate::Org;

const ENVELOPE_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#;
const ENVELOPE_CLOSE: &str = "</soapenv:Body></soapenv:Envelope>";

/// The text of the first element whose local name is `name` (any namespace prefix).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut search = 0;
    while let Some(found) = xml[search..].find(name) {
        let start = search + found;
        let before = xml[..start].chars().last();
        let after = xml[start + name.len()..].chars().next();
        let is_open = matches!(before, Some('<') | Some(':')) && after == Some('>');
        let opener_is_close = xml[..start]
            .rfind('<')
            .is_some_and(|lt| xml[lt..].starts_with("</"));
        if is_open && !opener_is_close {
            let content_start = start + name.len() + 1;
            let end = xml[content_start..].find("</")?;
            return Some(&xml[content_start..content_start + end]);
        }
        search = start + name.len();
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

pub async fn login(
    State(org): State<Arc<Org>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let version = rest
        .split('/')
        .find(|s| !s.is_empty())
        .unwrap_or("66.0")
        .to_owned();
    if element(&body, "login").is_none() && !body.contains("login>") {
        return fault(
            "INVALID_OPERATION",
            "Only the login() call is implemented by Bayou",
        );
    }
    let (Some(username), Some(password)) = (element(&body, "username"), element(&body, "password"))
    else {
        return fault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
        );
    };
    let (username, password) = (unescape(username.trim()), unescape(password));
    let user = org
        .identity()
        .user_by_name(&username)
        .filter(|u| verify_secret(&password, &u.password_hash))
        .cloned();
    let Some(user) = user else {
        return fault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
        );
    };
    let Ok(session_id) = org.tokens.issue_access(&user.id, None).await else {
        return fault(
            "SERVER_UNAVAILABLE",
            "The session could not be stored; try again.",
        );
    };
    let base = org.instance_url(&headers);
    let org_id = org.org_id();
    let result = format!(
        "<loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{org_id}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>{base}/services/Soap/u/{version}/{org_id}</serverUrl><sessionId>{session_id}</sessionId><userId>{user_id}</userId><userInfo><organizationId>{org_id}</organizationId><organizationName>Bayou</organizationName><userEmail>{email}</userEmail><userFullName>{name}</userFullName><userId>{user_id}</userId><userName>{email}</userName></userInfo></result></loginResponse>",
        user_id = user.id,
        email = escape(&user.username),
        name = escape(&user.display_name),
    );
    xml(
        StatusCode::OK,
        format!("{ENVELOPE_OPEN}{result}{ENVELOPE_CLOSE}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_elements_whatever_their_prefix() {
        let body = r#"<env:Envelope><env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>a@b.c</n1:username><n1:password>p&amp;w</n1:password></n1:login></env:Body></env:Envelope>"#;
        assert_eq!(element(body, "username"), Some("a@b.c"));
        assert_eq!(unescape(element(body, "password").unwrap()), "p&w");
        let plain = "<login><username>x</username><password>y</password></login>";
        assert_eq!(element(plain, "password"), Some("y"));
        assert_eq!(element("<a>no</a>", "username"), None);
        assert_eq!(element("<username>", "username"), None);
    }
}
