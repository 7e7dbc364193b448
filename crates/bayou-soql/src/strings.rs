//! Quoted string literals: backslash escapes in, backslash escapes out.
//!
//! SOQL escapes are `\n \r \t \b \f \" \' \\` (letters in either case), plus `\%` and `\_`,
//! which matter only in LIKE patterns where they mean a literal `%` or `_`. Decoding therefore
//! reports, per character, whether it was escaped, and leaves the meaning to the caller; any
//! other backslash sequence is refused, as Salesforce refuses it.

use std::fmt;

use crate::errors::SoqlError;

/// Decodes the text between the quotes. `start` is the byte offset of that text in the query,
/// for error positions. Each item is a character and whether it came from `\%` or `\_`.
pub(crate) fn unescape(raw: &str, start: usize) -> Result<Vec<(char, bool)>, SoqlError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            out.push((c, false));
            continue;
        }
        let Some((_, escaped)) = chars.next() else {
            return Err(SoqlError::malformed(
                "unterminated escape sequence",
                start + at,
            ));
        };
        let decoded = match escaped {
            'n' | 'N' => ('\n', false),
            'r' | 'R' => ('\r', false),
            't' | 'T' => ('\t', false),
            'b' | 'B' => ('\u{8}', false),
            'f' | 'F' => ('\u{c}', false),
            '"' | '\'' | '\\' => (escaped, false),
            '%' | '_' => (escaped, true),
            other => {
                return Err(SoqlError::malformed(
                    format!(
                        "invalid escape sequence: '\\{}' (use \\n \\r \\t \\b \\f \\\" \\' \\\\ \\% or \\_)",
                        other.escape_debug()
                    ),
                    start + at,
                ))
            }
        };
        out.push(decoded);
    }
    Ok(out)
}

/// Writes `'…'`, escaping what must be escaped; a character flagged `true` is written as `\%` /
/// `\_` (used for literal wildcards in LIKE patterns).
pub(crate) fn write_quoted(
    f: &mut fmt::Formatter<'_>,
    chars: impl Iterator<Item = (char, bool)>,
) -> fmt::Result {
    f.write_str("'")?;
    for (c, escaped) in chars {
        match c {
            _ if escaped => write!(f, "\\{c}")?,
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            _ => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(raw: &str) -> Result<String, SoqlError> {
        Ok(unescape(raw, 0)?.into_iter().map(|(c, _)| c).collect())
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(plain(r"O\'Brien").ok().as_deref(), Some("O'Brien"));
        assert_eq!(plain(r"a\\b").ok().as_deref(), Some("a\\b"));
        assert_eq!(
            plain(r#"\n\N\r\t\b\f\""#).ok().as_deref(),
            Some("\n\n\r\t\u{8}\u{c}\"")
        );
        assert_eq!(plain("é ü").ok().as_deref(), Some("é ü"));
    }

    #[test]
    fn wildcard_escapes_are_flagged() {
        let decoded = unescape(r"1\%_", 0).unwrap_or_default();
        assert_eq!(decoded, [('1', false), ('%', true), ('_', false)]);
    }

    #[test]
    fn bad_escapes_report_the_backslash() {
        let e = plain(r"ab\q").err();
        assert_eq!(e.as_ref().map(|e| e.position), Some(2));
        assert_eq!(e.map(|e| e.code), Some("MALFORMED_QUERY"));
        assert!(unescape(r"ab\é", 10).is_err());
        assert_eq!(plain("a\\").err().map(|e| e.position), Some(1));
    }
}
