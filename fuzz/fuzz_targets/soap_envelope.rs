//! Any SOAP request body, read before any credential is checked: the envelope reader must never
//! panic (malformed XML is an error, answered with a `soapenv:Client` fault), and a `login()`
//! envelope built around any username and password — with any prefix, escaped or in CDATA,
//! behind a header holding decoys of the same names — reads back exactly that username and
//! password. `scripts/fuzz.sh` lets inputs grow to the 64 KiB body limit and fails on any input
//! slower than 10 s, so a reader gone quadratic (as the old substring search was) shows up.
#![no_main]

use std::fmt::Write;

use bayou_org::auth::soap::{read_request, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Any body the endpoint accepts (it refuses non-UTF-8 before reading).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_request(text);
    }
    // The same bytes as a shape byte, then `username NUL password`.
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let rest = String::from_utf8_lossy(rest);
    let (username, password) = rest.split_once('\0').unwrap_or((&rest, ""));
    let envelope = envelope(shape, username, password);
    assert_eq!(
        read_request(&envelope),
        Ok(Request::Login {
            username: Some(username.to_owned()),
            password: Some(password.to_owned()),
        }),
        "{envelope:?}"
    );
});

/// A login envelope as a toolkit could write it; `shape` picks the variations.
fn envelope(shape: u8, username: &str, password: &str) -> String {
    let p = ["", "urn:", "n1:", "ns0:"][usize::from(shape & 3)];
    let char_refs = shape & 0x80 != 0;
    let user = element(p, "username", username, shape & 4 != 0, char_refs);
    let pass = element(p, "password", password, shape & 8 != 0, char_refs);
    let (first, second) = if shape & 0x10 != 0 {
        (pass, user)
    } else {
        (user, pass)
    };
    let mut out = String::new();
    if shape & 0x40 != 0 {
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    }
    out.push_str(r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com" xmlns:n1="urn:partner.soap.sforce.com" xmlns:ns0="urn:partner.soap.sforce.com">"#);
    if shape & 0x20 != 0 {
        // Elements of the same names outside `login` must not count.
        out.push_str("<soapenv:Header><urn:CallOptions><username>decoy</username><password>decoy</password></urn:CallOptions></soapenv:Header>");
    }
    let _ = write!(
        out,
        "<soapenv:Body><{p}login><!-- credentials -->{first}\n  {second}</{p}login></soapenv:Body></soapenv:Envelope>"
    );
    out
}

/// `<{p}{name}>value</{p}{name}>`, the value in a CDATA section when asked and possible (no
/// `]]>`, and no CR, which XML normalises), otherwise escaped.
fn element(p: &str, name: &str, value: &str, cdata: bool, char_refs: bool) -> String {
    let text = if cdata && !value.contains("]]>") && !value.contains('\r') {
        format!("<![CDATA[{value}]]>")
    } else {
        escape(value, char_refs)
    };
    format!("<{p}{name}>{text}</{p}{name}>")
}

/// Text content: markup characters as entities, CR as a character reference (a literal one is
/// normalised to LF, as XML requires), and with `char_refs` every non-ASCII character too.
fn escape(value: &str, char_refs: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if char_refs && !c.is_ascii() => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}
