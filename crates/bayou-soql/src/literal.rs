//! Values written in a query: strings, numbers, booleans, null, dates, date-times and relative
//! date literals.
//!
//! Integers and decimals stay apart because SOQL keeps them apart (`5` and `5.0` are different
//! tokens); both compare numerically with record values. A decimal always prints with a `.` so it
//! reads back as a decimal.

use std::fmt;

use crate::date_literal::DateLiteral;
use crate::dates::{Date, DateTime};
use crate::strings::write_quoted;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Boolean(bool),
    Integer(i64),
    /// Always finite.
    Decimal(f64),
    String(String),
    Date(Date),
    DateTime(DateTime),
    DateLiteral(DateLiteral),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Decimal(x) => {
                // `f64`'s Display is the shortest text that reads back exactly, never with an
                // exponent; it drops `.0` from whole numbers, which we put back.
                let text = x.to_string();
                f.write_str(&text)?;
                if !text.contains('.') && x.is_finite() {
                    f.write_str(".0")?;
                }
                Ok(())
            }
            Literal::String(s) => write_quoted(f, s.chars().map(|c| (c, false))),
            Literal::Date(d) => write!(f, "{d}"),
            Literal::DateTime(t) => write!(f, "{t}"),
            Literal::DateLiteral(d) => write!(f, "{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_print_as_soql() {
        let cases = [
            (Literal::Null, "null"),
            (Literal::Boolean(true), "true"),
            (Literal::Integer(-42), "-42"),
            (Literal::Decimal(1.0), "1.0"),
            (Literal::Decimal(-0.25), "-0.25"),
            (Literal::Decimal(1e21), "1000000000000000000000.0"),
            (Literal::String("O'Brien\\\n".into()), "'O\\'Brien\\\\\\n'"),
            (Literal::String("100%_".into()), "'100%_'"),
            (
                Literal::DateLiteral(DateLiteral::LastNDays(3)),
                "LAST_N_DAYS:3",
            ),
        ];
        for (literal, text) in cases {
            assert_eq!(literal.to_string(), text);
        }
        let date = Date::new(2024, 1, 31).map(Literal::Date);
        assert_eq!(date.map(|d| d.to_string()).as_deref(), Some("2024-01-31"));
    }
}
