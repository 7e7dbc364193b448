//! Query text to tokens, each with its byte offset.
//!
//! The token set is small enough that a hand-written lexer is shorter than a generated one, and
//! owning it means every error carries the exact byte position Salesforce-style messages need.
//! Keywords are not special here: they are words, and the parser decides (case-insensitively)
//! what a word means where it stands, because SOQL keywords are only reserved in places.
//!
//! Numbers, dates and date-times are read as one run of `[0-9A-Za-z_.:+-]` starting at a digit
//! (or at `-` before a digit): `2024-01-31T10:00:00+01:00` is one token, and a run such as `10x`
//! is an error rather than two tokens glued together.

use crate::ast::{CompareOp, Span};
use crate::errors::SoqlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A name or keyword: `[A-Za-z_][A-Za-z0-9_]*`.
    Word,
    /// `-?digits(.digits)?`.
    Number,
    /// Something shaped like `YYYY-MM-DD…`; validated by the parser.
    Temporal,
    /// A quoted string, quotes included in the text.
    Str,
    Comma,
    LParen,
    RParen,
    Dot,
    Colon,
    /// `&`, which separates subscription filter terms.
    Amp,
    Op(CompareOp),
    Eof,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind,
    /// Exactly as written.
    pub text: &'a str,
    pub start: usize,
}

impl Token<'_> {
    pub fn span(&self) -> Span {
        Span::new(self.start, self.start + self.text.len())
    }

    /// Whether this is the word `word`, ignoring case.
    pub fn is_word(&self, word: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(word)
    }
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token<'_>>, SoqlError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        let next = bytes.get(i + 1).copied();
        let (kind, end) = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b',' => (TokenKind::Comma, i + 1),
            b'(' => (TokenKind::LParen, i + 1),
            b')' => (TokenKind::RParen, i + 1),
            b'.' => (TokenKind::Dot, i + 1),
            b':' => (TokenKind::Colon, i + 1),
            b'&' => (TokenKind::Amp, i + 1),
            b'=' => (TokenKind::Op(CompareOp::Eq), i + 1),
            b'!' if next == Some(b'=') => (TokenKind::Op(CompareOp::Ne), i + 2),
            b'<' if next == Some(b'>') => (TokenKind::Op(CompareOp::Ne), i + 2),
            b'<' if next == Some(b'=') => (TokenKind::Op(CompareOp::Le), i + 2),
            b'<' => (TokenKind::Op(CompareOp::Lt), i + 1),
            b'>' if next == Some(b'=') => (TokenKind::Op(CompareOp::Ge), i + 2),
            b'>' => (TokenKind::Op(CompareOp::Gt), i + 1),
            b'\'' => (TokenKind::Str, string_end(bytes, i)?),
            b'0'..=b'9' => numeric(src, i, run_end(bytes, i + 1))?,
            b'-' if next.is_some_and(|n| n.is_ascii_digit()) => {
                numeric(src, i, run_end(bytes, i + 1))?
            }
            b if b.is_ascii_alphabetic() || b == b'_' => (TokenKind::Word, word_end(bytes, i)),
            _ => return Err(unexpected_character(src, i)),
        };
        tokens.push(Token {
            kind,
            text: src.get(start..end).unwrap_or(""),
            start,
        });
        i = end;
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        text: "",
        start: src.len(),
    });
    Ok(tokens)
}

/// The offset just past the closing quote of the string opening at `open`.
fn string_end(bytes: &[u8], open: usize) -> Result<usize, SoqlError> {
    let mut j = open + 1;
    loop {
        match bytes.get(j) {
            None => return Err(SoqlError::malformed("unterminated string literal", open)),
            // Skips the escaped byte; if that is the first byte of a multi-byte character the
            // rest are continuation bytes, which never equal `'` or `\`.
            Some(b'\\') => j += 2,
            Some(b'\'') => return Ok(j + 1),
            Some(_) => j += 1,
        }
    }
}

fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start;
    while bytes
        .get(j)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        j += 1;
    }
    j
}

fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start;
    while bytes
        .get(j)
        .is_some_and(|b| b.is_ascii_alphanumeric() || b"_.:+-".contains(b))
    {
        j += 1;
    }
    j
}

/// Classifies the run `src[start..end]` as a date/date-time or a number.
fn numeric(src: &str, start: usize, end: usize) -> Result<(TokenKind, usize), SoqlError> {
    let text = src.get(start..end).unwrap_or("");
    let bytes = text.as_bytes();
    let dated = bytes.get(4) == Some(&b'-') && bytes.iter().take(4).all(u8::is_ascii_digit);
    if dated {
        return Ok((TokenKind::Temporal, end));
    }
    if is_number(text) {
        return Ok((TokenKind::Number, end));
    }
    Err(SoqlError::malformed(
        format!("invalid number: '{}'", crate::parser::shorten(text)),
        start,
    ))
}

fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

fn unexpected_character(src: &str, at: usize) -> SoqlError {
    let c = src.get(at..).and_then(|s| s.chars().next()).unwrap_or('?');
    SoqlError::malformed(format!("unexpected character: '{}'", c.escape_debug()), at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, &str)> {
        match tokenize(src) {
            Ok(tokens) => tokens.into_iter().map(|t| (t.kind, t.text)).collect(),
            Err(e) => panic!("{src}: {e}"),
        }
    }

    #[test]
    fn a_whole_query() {
        use TokenKind::*;
        let src = "SELECT Id, Name__c FROM Account WHERE Amount>=-1.5 AND Name<>'O\\'B' OR d=2024-01-31T10:00:00+01:00";
        assert_eq!(
            kinds(src),
            [
                (Word, "SELECT"),
                (Word, "Id"),
                (Comma, ","),
                (Word, "Name__c"),
                (Word, "FROM"),
                (Word, "Account"),
                (Word, "WHERE"),
                (Word, "Amount"),
                (Op(CompareOp::Ge), ">="),
                (Number, "-1.5"),
                (Word, "AND"),
                (Word, "Name"),
                (Op(CompareOp::Ne), "<>"),
                (Str, "'O\\'B'"),
                (Word, "OR"),
                (Word, "d"),
                (Op(CompareOp::Eq), "="),
                (Temporal, "2024-01-31T10:00:00+01:00"),
                (Eof, ""),
            ]
        );
    }

    #[test]
    fn operators_and_punctuation() {
        use CompareOp::*;
        let ops: Vec<TokenKind> = kinds("= != <> < <= > >=")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let want = [Eq, Ne, Ne, Lt, Le, Gt, Ge].map(TokenKind::Op);
        assert_eq!(ops.get(..7), Some(&want[..]));
        let punct: Vec<TokenKind> = kinds("(),.:&").into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            punct,
            [
                TokenKind::LParen,
                TokenKind::RParen,
                TokenKind::Comma,
                TokenKind::Dot,
                TokenKind::Colon,
                TokenKind::Amp,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn positions_are_byte_offsets() {
        let tokens = tokenize("'é' x").unwrap_or_default();
        assert_eq!(tokens.get(1).map(|t| t.start), Some(5));
        assert_eq!(tokens.get(2).map(|t| t.start), Some(6));
    }

    #[test]
    fn errors() {
        let at = |src: &str| tokenize(src).err().map(|e| (e.position, e.message));
        assert_eq!(
            at("SELECT 'abc"),
            Some((7, "unterminated string literal".into()))
        );
        assert_eq!(
            at("a = 'x\\'"),
            Some((4, "unterminated string literal".into()))
        );
        assert_eq!(at("a # b"), Some((2, "unexpected character: '#'".into())));
        assert_eq!(at("a ! b"), Some((2, "unexpected character: '!'".into())));
        assert_eq!(at("a = 12x"), Some((4, "invalid number: '12x'".into())));
        assert_eq!(at("a = 1.2.3"), Some((4, "invalid number: '1.2.3'".into())));
        assert_eq!(at("é"), Some((0, "unexpected character: 'é'".into())));
        assert_eq!(at("-x"), Some((0, "unexpected character: '-'".into())));
    }
}
