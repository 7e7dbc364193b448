//! Recursive descent over the token list: `query.rs` reads the clauses, `condition.rs` the WHERE
//! tree (precedence climbing for AND/OR), `value.rs` literals. This file holds the cursor and
//! the pieces they share: reading a field name and phrasing "unexpected token" errors.
//!
//! Errors name what was found and what would have been accepted, at the found token's byte
//! offset (`unexpected token: 'FORM', expected FROM`), echoing Salesforce's
//! `unexpected token: FORM`.

mod condition;
mod query;
mod value;

pub use query::parse;

use crate::ast::Ident;
use crate::errors::SoqlError;
use crate::lexer::{tokenize, Token, TokenKind};

/// Words that cannot be a field name: Salesforce's reserved list, plus the literals and the
/// keywords this parser gives meaning where a field could otherwise stand.
const RESERVED: [&str; 24] = [
    "AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES", "LAST",
    "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH", "TRUE", "FALSE",
    "OFFSET", "TYPEOF",
];

/// Reserved words that are nevertheless standard object names (`SELECT Id FROM Group`). The
/// object always follows FROM, so reading them there is unambiguous.
const OBJECT_NAMES: [&str; 1] = ["GROUP"];

/// The aggregate functions Salesforce names in its PushTopic refusal.
const AGGREGATES: [&str; 6] = ["AVG", "MAX", "MIN", "SUM", "COUNT", "COUNT_DISTINCT"];

pub(crate) const AGGREGATES_NOT_SUPPORTED: &str = "Aggregate queries are not supported";
pub(crate) const RELATIONSHIPS_NOT_SUPPORTED: &str = "relationships are not supported";

pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// At most 40 characters of `text`, for quoting in messages.
pub(crate) fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

pub(crate) struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    eof: Token<'a>,
    /// "query" or "filter", for "unexpected end of …".
    input: &'static str,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, input: &'static str) -> Result<Self, SoqlError> {
        Ok(Self {
            tokens: tokenize(src)?,
            pos: 0,
            eof: Token {
                kind: TokenKind::Eof,
                text: "",
                start: src.len(),
            },
            input,
        })
    }

    pub fn peek(&self) -> Token<'a> {
        self.peek_nth(0)
    }

    pub fn peek_nth(&self, n: usize) -> Token<'a> {
        self.tokens.get(self.pos + n).copied().unwrap_or(self.eof)
    }

    pub fn bump(&mut self) -> Token<'a> {
        let token = self.peek();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    pub fn eat(&mut self, kind: TokenKind) -> Option<Token<'a>> {
        (self.peek().kind == kind).then(|| self.bump())
    }

    pub fn eat_word(&mut self, word: &str) -> Option<Token<'a>> {
        self.peek().is_word(word).then(|| self.bump())
    }

    pub fn expect(&mut self, kind: TokenKind, expected: &str) -> Result<Token<'a>, SoqlError> {
        match self.eat(kind) {
            Some(token) => Ok(token),
            None => Err(self.unexpected(expected)),
        }
    }

    pub fn expect_word(&mut self, word: &str, expected: &str) -> Result<Token<'a>, SoqlError> {
        match self.eat_word(word) {
            Some(token) => Ok(token),
            None => Err(self.unexpected(expected)),
        }
    }

    /// `unexpected token: 'X', expected …` at the next token.
    pub fn unexpected(&self, expected: &str) -> SoqlError {
        let token = self.peek();
        let found = match token.kind {
            TokenKind::Eof => format!("unexpected end of {}", self.input),
            _ => format!("unexpected token: '{}'", shorten(token.text)),
        };
        SoqlError::malformed(format!("{found}, expected {expected}"), token.start)
    }

    /// A field name: a word that is not reserved. Refuses aggregate calls (`COUNT(Id)`) and
    /// relationship paths (`Account.Name`) with Salesforce's texts.
    pub fn field_name(&mut self, expected: &str) -> Result<Ident, SoqlError> {
        let token = self.peek();
        if token.kind != TokenKind::Word {
            return Err(self.unexpected(expected));
        }
        let next = self.peek_nth(1).kind;
        if next == TokenKind::LParen && AGGREGATES.iter().any(|a| token.is_word(a)) {
            return Err(SoqlError::invalid_field(
                AGGREGATES_NOT_SUPPORTED,
                token.start,
            ));
        }
        if is_reserved(token.text) {
            return Err(self.unexpected(expected));
        }
        if next == TokenKind::Dot {
            return Err(SoqlError::invalid_field(
                RELATIONSHIPS_NOT_SUPPORTED,
                token.start,
            ));
        }
        self.bump();
        Ok(Ident::new(token.text, token.span()))
    }

    /// The object after FROM: a word that is not reserved, or a reserved word that names a
    /// standard object.
    pub fn object_name(&mut self, expected: &str) -> Result<Ident, SoqlError> {
        let token = self.peek();
        let object = OBJECT_NAMES.iter().any(|o| token.is_word(o));
        if token.kind != TokenKind::Word || (is_reserved(token.text) && !object) {
            return Err(self.unexpected(expected));
        }
        self.bump();
        Ok(Ident::new(token.text, token.span()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_long_text_on_character_boundaries() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(50);
        assert_eq!(shorten(&long), format!("{}…", "é".repeat(40)));
    }

    #[test]
    fn reserved_words_ignore_case() {
        assert!(is_reserved("from"));
        assert!(is_reserved("Nulls"));
        assert!(!is_reserved("Name"));
        assert!(!is_reserved("Today"));
        assert!(!is_reserved("Order"));
    }
}
