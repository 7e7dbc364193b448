//! A borrowing JSON scanner for the bench's hot path: the messages of a response or frame, and
//! the stamp inside each delivery's `data`.
//!
//! Why not serde_json here: under load, `perf` put most of the bench's CPU in serde_json (one
//! pass for the message array, a second for each `data` object; the profile is in
//! docs/benchmarks.md), and a load generator that is busier than the server measures itself.
//! This scanner reads the few fields the bench uses in one pass, the stamp included, hands
//! each message over as soon as it is read, borrows every string it can, and skips everything
//! else by looking only for quotes, backslashes and brackets. (`cargo bench -p bayou-bench
//! --bench scan` times it against serde_json.)
//!
//! It is lenient where leniency cannot change a result: values it skips are not validated
//! (beyond the whole body being UTF-8).
//! On valid JSON it gives exactly what the serde path gives (the property tests below check
//! that); on anything else it returns `Err` or a best reading, and never panics. Callers fall
//! back to serde_json when it fails, for the error message.

use std::borrow::Cow;

use crate::payload::Stamp;
use crate::wire::{Advice, Incoming};

/// The scanner could not read the input (the position is for debugging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub usize);

type Scan<T> = Result<T, Malformed>;

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn fail<T>(&self) -> Scan<T> {
        Err(Malformed(self.pos))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next non-space byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail()
        }
    }

    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string's raw text, quotes included, and whether it holds an escape.
    fn raw_string(&mut self) -> Scan<(&'a str, bool)> {
        self.expect(b'"')?;
        let start = self.pos - 1;
        let (end, escaped) = self.string_end(self.pos)?;
        self.pos = end;
        Ok((self.slice(start, end)?, escaped))
    }

    /// Where the string whose text starts at `from` ends (just past its closing quote), and
    /// whether it holds an escape. The text is crossed eight bytes at a time
    /// ([`quote_or_backslash`]), so a delivery's pad costs a few steps, not a step per byte.
    #[inline]
    fn string_end(&self, from: usize) -> Scan<(usize, bool)> {
        let mut at = from;
        let mut escaped = false;
        loop {
            at += quote_or_backslash(self.bytes.get(at..).unwrap_or_default());
            match self.bytes.get(at) {
                Some(b'"') => return Ok((at + 1, escaped)),
                // A backslash: whatever follows it is part of the string.
                Some(_) => {
                    escaped = true;
                    at += 2;
                }
                None => return Err(Malformed(from)),
            }
        }
    }

    /// Text between two positions that sit next to ASCII delimiters, hence on character
    /// boundaries of the input (checked anyway: `get` costs two comparisons).
    fn slice(&self, start: usize, end: usize) -> Scan<&'a str> {
        self.text.get(start..end).ok_or(Malformed(start))
    }

    /// A string's value, borrowed unless it holds an escape.
    fn string(&mut self) -> Scan<Cow<'a, str>> {
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            return serde_json::from_str::<String>(raw)
                .map(Cow::Owned)
                .map_err(|_| Malformed(self.pos));
        }
        Ok(Cow::Borrowed(&raw[1..raw.len() - 1]))
    }

    /// An object's key: like [`string`](Self::string), with a byte loop inlined for the
    /// short, plain keys of Bayeux messages and stamps (a call per key was a tenth of the
    /// bench's scanning time); a key with an escape goes the long way.
    #[inline]
    fn key(&mut self) -> Scan<Cow<'a, str>> {
        self.skip_ws();
        let start = self.pos;
        if self.bytes.get(start) == Some(&b'"') {
            let mut end = start + 1;
            while let Some(&byte) = self.bytes.get(end) {
                match byte {
                    b'"' => {
                        self.pos = end + 1;
                        return self.slice(start + 1, end).map(Cow::Borrowed);
                    }
                    b'\\' => break,
                    _ => end += 1,
                }
            }
        }
        self.string()
    }

    /// `null` (consumed, `true`) or anything else (left, `false`).
    fn null(&mut self) -> Scan<bool> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// Exactly `text` next (no space skipped). Its length is a constant, so the comparison is
    /// a load or two rather than a call to `memcmp`.
    fn literal<const N: usize>(&mut self, text: &[u8; N]) -> Scan<()> {
        // As an array, not a slice: a slice comparison is a call to `memcmp`.
        let next = self.bytes.get(self.pos..self.pos + N);
        if next.and_then(|next| <&[u8; N]>::try_from(next).ok()) == Some(text) {
            self.pos += N;
            Ok(())
        } else {
            self.fail()
        }
    }

    fn optional_string(&mut self) -> Scan<Option<Cow<'a, str>>> {
        if self.null()? {
            return Ok(None);
        }
        self.string().map(Some)
    }

    fn optional_bool(&mut self) -> Scan<Option<bool>> {
        match self.peek() {
            Some(b'n') => self.literal(b"null").map(|_| None),
            Some(b't') => self.literal(b"true").map(|_| Some(true)),
            Some(b'f') => self.literal(b"false").map(|_| Some(false)),
            _ => self.fail(),
        }
    }

    /// A non-negative integer as serde reads one into an unsigned field: no sign, no fraction,
    /// no exponent, no leading zero, and no overflow. Nineteen digits cannot overflow a `u64`,
    /// so only the digits after them are added with checks.
    fn unsigned(&mut self) -> Scan<u64> {
        self.skip_ws();
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(&digit @ b'0'..=b'9') = self.bytes.get(self.pos) {
            let digit = u64::from(digit - b'0');
            value = if self.pos - start < 19 {
                value * 10 + digit
            } else {
                value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or(Malformed(self.pos))?
            };
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        let more = matches!(self.bytes.get(self.pos), Some(b'.' | b'e' | b'E'));
        if digits == 0 || leading_zero || more {
            return self.fail();
        }
        Ok(value)
    }

    /// Skips one value of any kind and returns its raw text.
    fn skip_value(&mut self) -> Scan<&'a str> {
        let first = self.peek().ok_or(Malformed(self.pos))?;
        let start = self.pos;
        match first {
            b'"' => {
                self.raw_string()?;
            }
            b'{' | b'[' => self.skip_container()?,
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                while let Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E') =
                    self.bytes.get(self.pos)
                {
                    self.pos += 1;
                }
            }
            _ => return self.fail(),
        }
        self.slice(start, self.pos)
    }

    /// Skips an object or array, nested ones included, looking only at brackets and strings.
    fn skip_container(&mut self) -> Scan<()> {
        let mut depth = 0_usize;
        while let Some(&byte) = self.bytes.get(self.pos) {
            self.pos += 1;
            match byte {
                b'"' => self.pos = self.string_end(self.pos)?.0,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        self.fail()
    }

    /// Calls `field` for each key of an object, with the cursor at the key's value; `field`
    /// must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Scan<()>) -> Scan<()> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':')?;
            field(self, &key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail(),
            }
        }
    }
}

/// The index of the first `"` or `\` in `bytes` (its length if there is none), eight bytes
/// at a time: a word holds a byte equal to `b` exactly where `(w ^ b…) - 0x01…` borrows into
/// a high bit that was clear, and the lowest such bit is never a false hit. (`memchr2` was
/// measured too: its set-up costs more than it saves on strings this short; so did the same
/// trick for the brackets of skipped objects, whose stretches between strings are shorter.)
fn quote_or_backslash(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    let zero_bytes = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let hits = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .unwrap_or(bytes.len() - i)
}

/// Sets a field once; a second value for the same key is an error, as in serde's derive.
fn once<T>(slot: &mut Option<T>, value: T, at: usize) -> Scan<()> {
    if slot.is_some() {
        return Err(Malformed(at));
    }
    *slot = Some(value);
    Ok(())
}

/// Like `once` for fields that may be `null`: `seen` tracks the key, `slot` the value.
fn once_optional<T>(
    seen: &mut bool,
    slot: &mut Option<T>,
    value: Option<T>,
    at: usize,
) -> Scan<()> {
    if std::mem::replace(seen, true) {
        return Err(Malformed(at));
    }
    *slot = value;
    Ok(())
}

/// Reads one message and hands it to `visit` by reference (built in place: returning the
/// message, or passing it by value, cost a copy of the whole struct each time).
fn message<'a>(cursor: &mut Cursor<'a>, visit: &mut impl FnMut(&Incoming<'a>)) -> Scan<()> {
    let start = cursor.pos;
    if let Some(delivery) = delivery_as_written(cursor) {
        visit(&delivery);
        return Ok(());
    }
    cursor.pos = start;
    let mut channel = None;
    let (mut successful, mut client_id, mut data, mut error, mut advice) =
        (None, None, None, None, None);
    let mut stamp = None;
    let mut seen = [false; 5];
    cursor.object(|c, key| {
        let at = c.pos;
        match key {
            "channel" => once(&mut channel, c.string()?, at),
            "successful" => {
                let value = c.optional_bool()?;
                once_optional(&mut seen[0], &mut successful, value, at)
            }
            "clientId" => {
                let value = c.optional_string()?;
                once_optional(&mut seen[1], &mut client_id, value, at)
            }
            "data" => {
                let value = if c.null()? {
                    None
                } else {
                    let (raw, read) = data_of(c)?;
                    stamp = read;
                    Some(raw)
                };
                once_optional(&mut seen[2], &mut data, value, at)
            }
            "error" => {
                let value = c.optional_string()?;
                once_optional(&mut seen[3], &mut error, value, at)
            }
            "advice" => {
                let value = if c.null()? { None } else { Some(advice_of(c)?) };
                once_optional(&mut seen[4], &mut advice, value, at)
            }
            _ => c.skip_value().map(|_| ()),
        }
    })?;
    visit(&Incoming {
        channel: channel.ok_or(Malformed(cursor.pos))?,
        successful,
        client_id,
        data,
        stamp,
        error,
        advice,
    });
    Ok(())
}

/// A delivery laid out as Bayou writes one, `{"channel":"…","data":{…},"ext":{…}}` (`ext`
/// optional), read by comparing the fixed parts rather than walking the object key by key:
/// at Bayou's best long-polling rates the walk (a key comparison per field, the bookkeeping
/// that refuses a field given twice) was the largest part of the bench's reading. `None` for
/// any other text (another server's layout, an escaped channel, a reply), which [`message`]
/// then walks; both give the same message for the same text.
fn delivery_as_written<'a>(cursor: &mut Cursor<'a>) -> Option<Incoming<'a>> {
    cursor.skip_ws();
    cursor.literal(b"{\"channel\":\"").ok()?;
    let (end, escaped) = cursor.string_end(cursor.pos).ok()?;
    if escaped {
        return None;
    }
    let channel = cursor.slice(cursor.pos, end - 1).ok()?;
    cursor.pos = end;
    cursor.literal(b",\"data\":").ok()?;
    if cursor.bytes.get(cursor.pos) != Some(&b'{') {
        return None;
    }
    let (data, stamp) = data_of(cursor).ok()?;
    if cursor.literal(b",\"ext\":").is_ok() {
        let ext = cursor.pos;
        if replay_ext_as_written(cursor).is_none() {
            cursor.pos = ext;
            cursor.skip_value().ok()?;
        }
    }
    cursor.literal(b"}").ok()?;
    Some(Incoming {
        channel: Cow::Borrowed(channel),
        successful: None,
        client_id: None,
        data: Some(data),
        stamp,
        error: None,
        advice: None,
    })
}

/// Passes over Bayou's `ext` of a delivery, `{"replayId":N,"createdDate":"…"}`, by its fixed
/// parts; `None` for anything else, which is then skipped as any value.
fn replay_ext_as_written(cursor: &mut Cursor<'_>) -> Option<()> {
    cursor.literal(b"{\"replayId\":").ok()?;
    cursor.unsigned().ok()?;
    cursor.literal(b",\"createdDate\":").ok()?;
    cursor.raw_string().ok()?;
    cursor.literal(b"}").ok()
}

/// A `data` value's raw text and, when it is an object carrying a stamp, the stamp: read in
/// the same pass as the message, so a delivery's data is crossed once. Anything that is not a
/// stamp is read again as a plain value (rare: another publisher's data).
fn data_of<'a>(cursor: &mut Cursor<'a>) -> Scan<(&'a str, Option<Stamp>)> {
    cursor.skip_ws();
    let start = cursor.pos;
    if cursor.bytes.get(start) == Some(&b'{') {
        let stamp = stamp_as_written(cursor).or_else(|| {
            cursor.pos = start;
            stamp_object(cursor).ok()
        });
        if let Some(stamp) = stamp {
            return Ok((cursor.slice(start, cursor.pos)?, Some(stamp)));
        }
        cursor.pos = start;
    }
    Ok((cursor.skip_value()?, None))
}

/// A stamp laid out exactly as [`payload::encode`](crate::payload::encode) writes it (and as
/// servers pass it on): `{"p":…,"r":…,"s":…,"t":…,"x":"…"}`, read by comparing the fixed
/// parts rather than walking the object key by key (the walk was the largest part of the
/// bench's reading of a delivery). `None` for any other text, which [`stamp_object`] then
/// reads; both give the same stamp for the same text.
fn stamp_as_written(cursor: &mut Cursor<'_>) -> Option<Stamp> {
    let small = |value: u64| u32::try_from(value).ok();
    cursor.literal(b"{\"p\":").ok()?;
    let p = small(cursor.unsigned().ok()?)?;
    cursor.literal(b",\"r\":").ok()?;
    let r = small(cursor.unsigned().ok()?)?;
    cursor.literal(b",\"s\":").ok()?;
    let s = cursor.unsigned().ok()?;
    cursor.literal(b",\"t\":").ok()?;
    let t = cursor.unsigned().ok()?;
    if cursor.literal(b",\"x\":").is_ok() {
        cursor.raw_string().ok()?;
    }
    cursor.literal(b"}").ok()?;
    Some(Stamp { p, r, s, t })
}

fn advice_of<'a>(cursor: &mut Cursor<'a>) -> Scan<Advice<'a>> {
    let mut reconnect = None;
    let mut seen = false;
    cursor.object(|c, key| {
        let at = c.pos;
        if key == "reconnect" {
            let value = c.optional_string()?;
            once_optional(&mut seen, &mut reconnect, value, at)
        } else {
            c.skip_value().map(|_| ())
        }
    })?;
    Ok(Advice { reconnect })
}

/// The messages of a response body or frame: a JSON array of messages, or one message.
pub fn messages(body: &[u8]) -> Scan<Vec<Incoming<'_>>> {
    let mut out = Vec::new();
    each_message(body, |message| out.push(message.clone()))?;
    Ok(out)
}

/// Hands each message of a body to `visit` as soon as it is read, with no vector between:
/// on the hot path a message is looked at once and dropped, and collecting them first cost
/// the bench a fifth of its scanning time in copies. On an error, the messages before it have
/// been visited.
///
/// The whole body is checked to be UTF-8 once (a WebSocket text frame already is), so the
/// strings taken from it need no check of their own.
pub fn each_message<'a>(body: &'a [u8], mut visit: impl FnMut(&Incoming<'a>)) -> Scan<()> {
    let text = std::str::from_utf8(body).map_err(|e| Malformed(e.valid_up_to()))?;
    let mut cursor = Cursor::new(text);
    match cursor.peek() {
        Some(b'{') => message(&mut cursor, &mut visit)?,
        Some(b'[') => {
            cursor.pos += 1;
            if cursor.peek() == Some(b']') {
                cursor.pos += 1;
            } else {
                loop {
                    message(&mut cursor, &mut visit)?;
                    match cursor.peek() {
                        Some(b',') => cursor.pos += 1,
                        Some(b']') => {
                            cursor.pos += 1;
                            break;
                        }
                        _ => return cursor.fail(),
                    }
                }
            }
        }
        _ => return cursor.fail(),
    }
    if !cursor.at_end() {
        return cursor.fail();
    }
    Ok(())
}

/// The stamp in a delivery's `data`: an object with unsigned `p`, `r` (32-bit), `s` and `t`,
/// other keys ignored; `None` if `data` is anything else.
pub fn stamp(data: &str) -> Option<Stamp> {
    let mut cursor = Cursor::new(data);
    let stamp = stamp_object(&mut cursor).ok()?;
    cursor.at_end().then_some(stamp)
}

/// Reads a stamp object; `Err` if the value is not an object or lacks one of the fields.
fn stamp_object(cursor: &mut Cursor<'_>) -> Scan<Stamp> {
    let (mut p, mut r, mut s, mut t) = (None, None, None, None);
    let small = |value: u64, at| u32::try_from(value).map_err(|_| Malformed(at));
    cursor.object(|c, key| {
        let at = c.pos;
        match key {
            "p" => once(&mut p, small(c.unsigned()?, at)?, at),
            "r" => once(&mut r, small(c.unsigned()?, at)?, at),
            "s" => once(&mut s, c.unsigned()?, at),
            "t" => once(&mut t, c.unsigned()?, at),
            _ => c.skip_value().map(|_| ()),
        }
    })?;
    let missing = Malformed(cursor.pos);
    Ok(Stamp {
        p: p.ok_or(missing)?,
        r: r.ok_or(missing)?,
        s: s.ok_or(missing)?,
        t: t.ok_or(missing)?,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::wire::decode_with_serde;

    #[test]
    fn reads_what_servers_send() {
        let body = br#" [ {"channel":"/chat/1","data":{"p":1,"r":2,"s":3,"t":4,"x":"xx"},"id":"9"},
            {"id":"p1","successful":true,"channel":"/chat/1"},
            {"channel":"/meta/connect","successful":false,"error":"403::Unknown client",
             "advice":{"interval":0,"reconnect":"handshake"},"ext":{"a":[1,{"b":"]}"}]}} ] "#;
        let read = messages(body).unwrap();
        assert_eq!(read, decode_with_serde(body).unwrap());
        let expected = Stamp {
            p: 1,
            r: 2,
            s: 3,
            t: 4,
        };
        assert_eq!(read[0].stamp, Some(expected));
        assert_eq!(read[0].data.and_then(stamp), Some(expected));
        assert_eq!(read[1].stamp, None);
        assert_eq!(
            read[2].advice.as_ref().unwrap().reconnect.as_deref(),
            Some("handshake")
        );
        // An escaped string is decoded, not borrowed.
        let escaped = messages(br#"{"channel":"/a\/b\u0021"}"#).unwrap();
        assert_eq!(escaped[0].channel, "/a/b!");
    }

    #[test]
    fn refuses_what_serde_refuses() {
        for bad in [
            &b""[..],
            b"[",
            b"[{}]",
            b"{\"channel\":1}",
            b"[{\"channel\":\"/a\"},]",
            b"[{\"channel\":\"/a\",\"channel\":\"/b\"}]",
            b"[{\"channel\":\"/a\",\"successful\":\"yes\"}]",
            b"[{\"channel\":\"/a\"}] x",
            b"[{\"channel\":\"/a\",\"data\":{\"unclosed\":\"}]",
        ] {
            assert!(messages(bad).is_err(), "{}", String::from_utf8_lossy(bad));
            assert!(decode_with_serde(bad).is_err());
        }
        for bad in [
            "[1,2,3,4]",
            "{\"p\":1,\"r\":2,\"s\":3}",
            "{\"p\":-1,\"r\":2,\"s\":3,\"t\":4}",
            "{\"p\":1.0,\"r\":2,\"s\":3,\"t\":4}",
            "{\"p\":4294967296,\"r\":2,\"s\":3,\"t\":4}",
            "{\"p\":01,\"r\":2,\"s\":3,\"t\":4}",
            "{\"p\":1,\"p\":1,\"r\":2,\"s\":3,\"t\":4}",
        ] {
            assert_eq!(stamp(bad), None, "{bad}");
        }
    }

    /// Any JSON value, for unknown fields and odd `data`.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9..1e9f64).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[\\\\\"{}\\[\\]/a-z]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-z\"\\\\]{0,4}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn optional<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![Just(None), Just(Some(Value::Null)), s.prop_map(Some)]
    }

    /// A number field of a stamp: mostly valid, sometimes out of range or of the wrong kind.
    fn stamp_number() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<u32>().prop_map(|n| n.to_string()),
            2 => any::<u64>().prop_map(|n| n.to_string()),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => Just("1.5".to_owned()),
            1 => Just("1e3".to_owned()),
            1 => Just("\"7\"".to_owned()),
            1 => Just("null".to_owned()),
        ]
    }

    /// A `data` object as this bench or another publisher would write it, fields in any order,
    /// some missing or repeated.
    fn stamp_text() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            ("p|r|s|t", stamp_number()),
            ("[a-z]{1,3}", any_value().prop_map(|v| v.to_string())),
        ];
        prop::collection::vec(field, 0..7).prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                .collect();
            format!("{{ {} }}", body.join(" , "))
        })
    }

    /// One message's text: known fields of the right types (or null), unknown fields of any
    /// kind, in a random order.
    fn message_text() -> impl Strategy<Value = String> {
        let string = || any::<String>().prop_map(Value::from);
        let advice = optional(
            prop::collection::vec(
                (
                    "reconnect|interval|timeout",
                    prop_oneof![string(), any::<u32>().prop_map(Value::from)],
                ),
                0..3,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        );
        let data = prop_oneof![
            stamp_text().prop_map(Some),
            optional(any_value()).prop_map(|v| v.map(|v| v.to_string())),
        ];
        (
            "/(meta/)?[a-z/]{0,10}",
            optional(any::<bool>().prop_map(Value::from)),
            optional(string()),
            data,
            optional(string()),
            advice,
            prop::collection::vec(("[a-z]{1,6}", any_value()), 0..3),
            any::<u64>(),
        )
            .prop_map(
                |(channel, successful, client_id, data, error, advice, extra, order)| {
                    let mut fields = vec![format!("\"channel\":{}", Value::from(channel))];
                    let known = [
                        ("successful", successful),
                        ("clientId", client_id),
                        ("error", error),
                        ("advice", advice),
                    ];
                    for (key, value) in known {
                        if let Some(value) = value {
                            fields.push(format!("\"{key}\":{value}"));
                        }
                    }
                    if let Some(data) = data {
                        fields.push(format!("\"data\":{data}"));
                    }
                    for (key, value) in extra {
                        if !matches!(
                            key.as_str(),
                            "channel" | "successful" | "data" | "error" | "advice"
                        ) {
                            fields.push(format!("{}:{value}", Value::from(key)));
                        }
                    }
                    // A deterministic shuffle from the generated seed.
                    let n = fields.len();
                    for i in (1..n).rev() {
                        fields.swap(i, (order as usize).wrapping_mul(i + 7) % (i + 1));
                    }
                    format!("{{{}}}", fields.join(","))
                },
            )
    }

    /// A delivery as Bayou writes one (see [`delivery_as_written`]): any channel, escapes
    /// included, a stamp or any other object as `data`, and an `ext` or none.
    fn bayou_delivery_text() -> impl Strategy<Value = String> {
        let data = prop_oneof![
            stamp_text(),
            any_value().prop_map(|v| v.to_string()),
            Just(r#"{"p":1,"r":2,"s":3,"t":4,"x":"xx"}"#.to_owned()),
        ];
        let bayou_ext = (any::<u64>(), any::<String>()).prop_map(|(id, date)| {
            format!(r#"{{"replayId":{id},"createdDate":{}}}"#, Value::from(date))
        });
        let ext = prop_oneof![
            optional(any_value()).prop_map(|ext| ext.map(|ext| ext.to_string())),
            bayou_ext.prop_map(Some),
        ]
        .prop_map(|ext| match ext {
            None => String::new(),
            Some(ext) => format!(",\"ext\":{ext}"),
        });
        (any::<String>(), data, ext).prop_map(|(channel, data, ext)| {
            format!(
                "{{\"channel\":{},\"data\":{data}{ext}}}",
                Value::from(channel)
            )
        })
    }

    #[test]
    fn reads_bayou_deliveries_by_their_layout() {
        let body = br#"[{"channel":"/chat/room1","data":{"p":1,"r":2,"s":3,"t":4,"x":"xx"},"ext":{"replayId":7,"createdDate":"2026-12-07T05:00:00.000Z"}},{"channel":"/chat/room1","data":{"p":1,"r":2,"s":4,"t":5}}]"#;
        let read = messages(body).unwrap();
        assert_eq!(read, decode_with_serde(body).unwrap());
        assert_eq!(read[0].stamp.map(|s| s.s), Some(3));
        assert_eq!(read[1].stamp.map(|s| s.t), Some(5));
        let mut cursor = Cursor::new(std::str::from_utf8(&body[1..]).unwrap());
        assert!(
            delivery_as_written(&mut cursor).is_some(),
            "the fast path took it"
        );
    }

    proptest! {
        #[test]
        fn bayou_deliveries_agree_with_serde(
            texts in prop::collection::vec(bayou_delivery_text(), 1..4),
        ) {
            let body = format!("[{}]", texts.join(","));
            let expected = decode_with_serde(body.as_bytes()).map_err(|_| ());
            let scanned = messages(body.as_bytes()).map_err(|_| ());
            prop_assert_eq!(&scanned, &expected, "{}", body);
        }

        #[test]
        fn agrees_with_serde_on_valid_json(
            texts in prop::collection::vec(message_text(), 0..5),
            spaced in any::<bool>(),
        ) {
            let sep = if spaced { " ,\n " } else { "," };
            let body = format!("[{}]", texts.join(sep));
            let expected = decode_with_serde(body.as_bytes()).map_err(|_| ());
            let scanned = messages(body.as_bytes()).map_err(|_| ());
            prop_assert_eq!(&scanned, &expected, "{}", body);
            for message in scanned.unwrap_or_default() {
                if let Some(data) = message.data {
                    let reference = serde_json::from_str::<Value>(data)
                        .ok()
                        .filter(Value::is_object)
                        .and_then(|_| serde_json::from_str::<Stamp>(data).ok());
                    prop_assert_eq!(stamp(data), reference, "{}", data);
                }
            }
        }

        #[test]
        fn stamps_agree_with_serde(text in stamp_text()) {
            prop_assert_eq!(stamp(&text), serde_json::from_str::<Stamp>(&text).ok(), "{}", text);
        }

        #[test]
        fn finds_the_first_quote_or_backslash(
            bytes in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), any::<u8>()], 0..40),
            from in 0_usize..40,
        ) {
            let bytes = &bytes[from.min(bytes.len())..];
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\').unwrap_or(bytes.len());
            prop_assert_eq!(quote_or_backslash(bytes), naive);
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = messages(&bytes);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = stamp(text);
            }
        }

        #[test]
        fn never_panics_on_cut_json(text in message_text(), cut in any::<usize>()) {
            let body = format!("[{text}]");
            let cut = cut % (body.len() + 1);
            let _ = messages(&body.as_bytes()[..cut]);
        }
    }

    #[test]
    fn single_object_bodies_too() {
        let body = json!({"channel": "/meta/handshake", "successful": true, "clientId": "abc"})
            .to_string();
        assert_eq!(
            messages(body.as_bytes()),
            decode_with_serde(body.as_bytes()).map_err(|_| Malformed(0))
        );
    }
}
