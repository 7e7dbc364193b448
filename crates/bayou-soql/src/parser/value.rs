//! Literal values: quoted strings, numbers, `true`/`false`/`null`, dates, date-times and
//! relative date literals (`TODAY`, `LAST_N_DAYS:30`).
//!
//! Shared by the WHERE parser and the subscription filter parser, which both take "a SOQL
//! literal" on the right of `=`.

use crate::date_literal::{DateLiteral, NameKind};
use crate::dates::{parse_temporal, Temporal};
use crate::errors::SoqlError;
use crate::lexer::{Token, TokenKind};
use crate::literal::Literal;
use crate::strings::unescape;

use super::{shorten, Parser};

impl Parser<'_> {
    pub(crate) fn value(&mut self) -> Result<Literal, SoqlError> {
        let token = self.peek();
        let literal = match token.kind {
            TokenKind::Str => {
                let chars = self.unquote(token)?;
                Literal::String(chars.into_iter().map(|(c, _)| c).collect())
            }
            TokenKind::Number => number(token)?,
            TokenKind::Temporal => match parse_temporal(token.text, true) {
                Some(Temporal::Date(d)) => Literal::Date(d),
                Some(Temporal::DateTime(t)) => Literal::DateTime(t),
                None => {
                    return Err(SoqlError::malformed(
                        format!(
                            "invalid date or dateTime literal: '{}' (use YYYY-MM-DD or \
                             YYYY-MM-DDThh:mm:ssZ, optionally with .sss and a ±hh:mm offset)",
                            shorten(token.text)
                        ),
                        token.start,
                    ))
                }
            },
            TokenKind::Word => return self.word_value(),
            _ => return Err(self.unexpected("a value")),
        };
        self.bump();
        Ok(literal)
    }

    /// `true`, `false`, `null` or a date literal.
    fn word_value(&mut self) -> Result<Literal, SoqlError> {
        let token = self.peek();
        let fixed = if token.is_word("true") {
            Some(Literal::Boolean(true))
        } else if token.is_word("false") {
            Some(Literal::Boolean(false))
        } else if token.is_word("null") {
            Some(Literal::Null)
        } else {
            None
        };
        if let Some(literal) = fixed {
            self.bump();
            return Ok(literal);
        }
        match DateLiteral::by_name(token.text) {
            Some(NameKind::Fixed(literal)) => {
                self.bump();
                Ok(Literal::DateLiteral(literal))
            }
            Some(NameKind::WithCount(last)) => {
                self.bump();
                self.expect(TokenKind::Colon, "':' and a number of days")?;
                let count = self.peek();
                let days = match count.kind {
                    TokenKind::Number => count.text.parse::<u32>().ok(),
                    _ => None,
                };
                let Some(days) = days else {
                    return Err(self.unexpected("a number of days"));
                };
                self.bump();
                Ok(Literal::DateLiteral(if last {
                    DateLiteral::LastNDays(days)
                } else {
                    DateLiteral::NextNDays(days)
                }))
            }
            None if token.text.contains('_') || self.peek_nth(1).kind == TokenKind::Colon => {
                Err(SoqlError::malformed(
                    format!("unknown date literal: '{}'", shorten(token.text)),
                    token.start,
                ))
            }
            None => Err(self.unexpected(
                "a value (a quoted string, number, date, date literal, true, false or null)",
            )),
        }
    }

    /// The characters of a string token, each flagged if written `\%` or `\_`.
    pub(crate) fn unquote(&self, token: Token<'_>) -> Result<Vec<(char, bool)>, SoqlError> {
        let inner = token
            .text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or("");
        unescape(inner, token.start + 1)
    }
}

fn number(token: Token<'_>) -> Result<Literal, SoqlError> {
    let out_of_range = || {
        SoqlError::malformed(
            format!("number out of range: '{}'", shorten(token.text)),
            token.start,
        )
    };
    if token.text.contains('.') {
        match token.text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Literal::Decimal(x)),
            _ => Err(out_of_range()),
        }
    } else {
        token
            .text
            .parse::<i64>()
            .map(Literal::Integer)
            .map_err(|_| out_of_range())
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::Condition;
    use crate::date_literal::DateLiteral;
    use crate::dates::{Date, DateTime};
    use crate::literal::Literal;
    use crate::parse;

    fn value(text: &str) -> Literal {
        let query = format!("SELECT Id FROM Account WHERE F = {text}");
        match parse(&query).map(|q| q.condition) {
            Ok(Some(Condition::Compare { value, .. })) => value,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{}", e.describe(&query)),
        }
    }

    fn error(text: &str) -> (String, usize) {
        let prefix = "SELECT Id FROM Account WHERE F = ";
        let query = format!("{prefix}{text}");
        match parse(&query) {
            Ok(q) => panic!("{query} parsed as {q:?}"),
            Err(e) => (e.to_string(), e.position.saturating_sub(prefix.len())),
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(value("'O\\'Brien'"), Literal::String("O'Brien".into()));
        assert_eq!(value("'a\\%b'"), Literal::String("a%b".into()));
        assert_eq!(value("''"), Literal::String(String::new()));
        assert_eq!(value("42"), Literal::Integer(42));
        assert_eq!(value("-42"), Literal::Integer(-42));
        assert_eq!(value("-9223372036854775808"), Literal::Integer(i64::MIN));
        assert_eq!(value("1.50"), Literal::Decimal(1.5));
        assert_eq!(value("-0.25"), Literal::Decimal(-0.25));
        assert_eq!(value("TRUE"), Literal::Boolean(true));
        assert_eq!(value("false"), Literal::Boolean(false));
        assert_eq!(value("NULL"), Literal::Null);
    }

    #[test]
    fn dates_and_datetimes() {
        assert_eq!(
            value("2024-01-31"),
            Date::new(2024, 1, 31).map_or(Literal::Null, Literal::Date)
        );
        let instant = |ms| DateTime::from_epoch_ms(ms).map_or(Literal::Null, Literal::DateTime);
        assert_eq!(value("2024-01-31T10:00:00Z"), instant(1_706_695_200_000));
        assert_eq!(
            value("2024-01-31T10:00:00.000Z"),
            instant(1_706_695_200_000)
        );
        assert_eq!(
            value("2024-01-31T11:00:00+01:00"),
            instant(1_706_695_200_000)
        );
        assert_eq!(
            value("2024-01-31T10:00:00.250-00:00"),
            instant(1_706_695_200_250)
        );
    }

    #[test]
    fn date_literals() {
        assert_eq!(value("TODAY"), Literal::DateLiteral(DateLiteral::Today));
        assert_eq!(
            value("last_90_days"),
            Literal::DateLiteral(DateLiteral::Last90Days)
        );
        assert_eq!(
            value("LAST_N_DAYS:30"),
            Literal::DateLiteral(DateLiteral::LastNDays(30))
        );
        assert_eq!(
            value("NEXT_N_DAYS : 7"),
            Literal::DateLiteral(DateLiteral::NextNDays(7))
        );
        let all = [
            "YESTERDAY",
            "TODAY",
            "TOMORROW",
            "LAST_WEEK",
            "THIS_WEEK",
            "NEXT_WEEK",
            "LAST_MONTH",
            "THIS_MONTH",
            "NEXT_MONTH",
            "LAST_90_DAYS",
            "NEXT_90_DAYS",
            "THIS_YEAR",
            "LAST_YEAR",
            "NEXT_YEAR",
        ];
        for name in all {
            assert_eq!(value(name).to_string(), name);
        }
    }

    #[test]
    fn bad_values() {
        let cases = [
            ("LAST_QUARTER", "unknown date literal: 'LAST_QUARTER'", 0),
            ("N_DAYS_AGO:3", "unknown date literal: 'N_DAYS_AGO'", 0),
            ("Foo", "unexpected token: 'Foo', expected a value (a quoted string, number, date, date literal, true, false or null)", 0),
            ("LAST_N_DAYS", "unexpected end of query, expected ':' and a number of days", 11),
            ("LAST_N_DAYS:-1", "unexpected token: '-1', expected a number of days", 12),
            ("LAST_N_DAYS:1.5", "unexpected token: '1.5', expected a number of days", 12),
            ("9223372036854775808", "number out of range: '9223372036854775808'", 0),
            ("2024-02-30", "invalid date or dateTime literal: '2024-02-30' (use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, optionally with .sss and a ±hh:mm offset)", 0),
            ("2024-01-31T10:00:00", "invalid date or dateTime literal: '2024-01-31T10:00:00' (use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, optionally with .sss and a ±hh:mm offset)", 0),
            ("'a\\qb'", "invalid escape sequence: '\\q' (use \\n \\r \\t \\b \\f \\\" \\' \\\\ \\% or \\_)", 2),
            ("\"x\"", "unexpected character: '\\\"'", 0),
            (",", "unexpected token: ',', expected a value", 0),
        ];
        for (text, message, position) in cases {
            assert_eq!(
                error(text),
                (format!("MALFORMED_QUERY, {message}"), position),
                "{text}"
            );
        }
        let huge = format!("{}.0", "9".repeat(400));
        assert_eq!(
            error(&huge).0,
            format!(
                "MALFORMED_QUERY, number out of range: '{}…'",
                "9".repeat(40)
            )
        );
    }
}
