//! JSON every client can decode. A publish is stored for a day or more and sent to every
//! subscriber, so data that parses here but not in a client — a lone UTF-16 surrogate
//! (`"\ud800"`), which serde_json, Python and Java refuse or mangle, or nesting deeper than
//! serde_json's 128 levels — would break each of them on every frame that carries it. Such
//! data is refused when it is published.
//!
//! The check is one linear pass over text that is already known to be valid JSON syntax.

/// The deepest nesting of objects and arrays published data may have.
pub const MAX_DEPTH: usize = 64;

/// Why data is not portable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPortable {
    #[error("data is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("data contains a lone UTF-16 surrogate (\\u{0:04x}), which clients cannot decode")]
    LoneSurrogate(u16),
}

/// Checks JSON text (valid syntax assumed) for what some clients cannot decode.
pub fn check(json: &str) -> Result<(), NotPortable> {
    let bytes = json.as_bytes();
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut i = 0;
    // A high surrogate just read, waiting for its low half.
    let mut pending_high: Option<u16> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                    let unit = hex4(bytes.get(i + 2..i + 6));
                    i += 6;
                    match (pending_high.take(), unit) {
                        (None, Some(u @ 0xD800..=0xDBFF)) => pending_high = Some(u),
                        (None, Some(u @ 0xDC00..=0xDFFF)) => {
                            return Err(NotPortable::LoneSurrogate(u))
                        }
                        (Some(_), Some(0xDC00..=0xDFFF)) => {}
                        (Some(high), _) => return Err(NotPortable::LoneSurrogate(high)),
                        (None, _) => {}
                    }
                    continue;
                }
                _ => {
                    if let Some(high) = pending_high {
                        return Err(NotPortable::LoneSurrogate(high));
                    }
                    match b {
                        b'\\' => i += 1, // the escaped character is skipped below
                        b'"' => in_string = false,
                        _ => {}
                    }
                }
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(NotPortable::TooDeep);
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    match pending_high {
        Some(high) => Err(NotPortable::LoneSurrogate(high)),
        None => Ok(()),
    }
}

fn hex4(digits: Option<&[u8]>) -> Option<u16> {
    let text = std::str::from_utf8(digits?).ok()?;
    u16::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn ordinary_data_passes() {
        for json in [
            r#"{"a":[1,2,{"b":"c"}],"d":"\u00e9\ud83d\ude00 \\u d800 \"x\""}"#,
            r#""plain""#,
            r#"{"k":"\\ud800"}"#, // an escaped backslash, not an escape
            "[]",
        ] {
            assert_eq!(check(json), Ok(()), "{json}");
        }
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(NotPortable::TooDeep));
        let objects = format!("{}{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert_eq!(check(&objects), Err(NotPortable::TooDeep));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let json = format!(r#"{{"a":"{}"}}"#, "[".repeat(500));
        assert_eq!(check(&json), Ok(()));
    }

    #[test]
    fn lone_surrogates_are_refused() {
        for (json, unit) in [
            (r#""\ud800""#, 0xD800),
            (r#""\uD800x""#, 0xD800),
            (r#""\ud800\u0041""#, 0xD800),
            (r#""\udc00""#, 0xDC00),
            (r#"{"a":"x\udfff"}"#, 0xDFFF),
        ] {
            assert_eq!(check(json), Err(NotPortable::LoneSurrogate(unit)), "{json}");
        }
    }

    #[test]
    fn serde_json_agrees_on_what_it_can_read() {
        // Whatever passes must be readable by serde_json into a Value.
        for json in [r#""\ud83d\ude00""#, &nested(MAX_DEPTH)] {
            assert!(check(json).is_ok());
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_ok(),
                "{json}"
            );
        }
        assert!(serde_json::from_str::<serde_json::Value>(r#""\ud800""#).is_err());
    }
}
