//! How one record value compares with one literal, Salesforce-style.
//!
//! Every literal is treated as a range the value falls before, within or after. For most
//! literals the range is a single point (`Within` is "equal"); a date is its UTC day, a date
//! literal its span (see `date_literal.rs`), a date-time its millisecond. One rule per operator
//! then covers every type: `=` within, `<` before, `<=` before or within, `>` after, `>=`
//! within or after, and `!=` is exactly "not `=`".
//!
//! Values are coerced towards the literal's type, as far as that is unambiguous:
//! - strings compare case-insensitively (Salesforce text comparison ignores case); a number or
//!   boolean record value compares by its JSON text;
//! - numbers compare numerically, also against a string that reads as a number;
//! - booleans compare with booleans or `"true"`/`"false"`;
//! - dates and date-times compare as instants; the record value is an ISO string such as
//!   `2024-01-31`, `2024-01-31T10:00:00.000Z` or `2024-01-31T10:00:00.000+0000`.
//!
//! A value that cannot be compared (a missing field, null, the wrong type, an array) satisfies
//! only `!=`. `= null` holds for a missing or null field, `!= null` for any other value, and the
//! ordering operators never hold against null.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::ast::CompareOp;
use crate::dates::{parse_temporal, MS_PER_DAY};
use crate::eval::EvalContext;
use crate::literal::Literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Before,
    Within,
    After,
    Incomparable,
}

/// Whether `value op literal` holds. `None` is a missing field.
pub(crate) fn holds(
    value: Option<&Value>,
    op: CompareOp,
    literal: &Literal,
    ctx: &EvalContext,
) -> bool {
    let is_null = matches!(value, None | Some(Value::Null));
    if *literal == Literal::Null {
        return match op {
            CompareOp::Eq => is_null,
            CompareOp::Ne => !is_null,
            _ => false,
        };
    }
    let relation = match value {
        Some(value) if !is_null => relate(value, literal, ctx),
        _ => Relation::Incomparable,
    };
    use Relation::*;
    match op {
        CompareOp::Eq => relation == Within,
        CompareOp::Ne => relation != Within,
        CompareOp::Lt => relation == Before,
        CompareOp::Le => matches!(relation, Before | Within),
        CompareOp::Gt => relation == After,
        CompareOp::Ge => matches!(relation, Within | After),
    }
}

/// Where a non-null value stands relative to the literal.
fn relate(value: &Value, literal: &Literal, ctx: &EvalContext) -> Relation {
    match literal {
        Literal::Null => Relation::Incomparable,
        Literal::String(wanted) => match value {
            Value::String(s) => from_ordering(compare_text(s, wanted)),
            Value::Number(n) => from_ordering(compare_text(&n.to_string(), wanted)),
            Value::Bool(b) => from_ordering(compare_text(&b.to_string(), wanted)),
            _ => Relation::Incomparable,
        },
        Literal::Integer(i) => relate_number(value, Numeric::Int(i128::from(*i))),
        Literal::Decimal(x) => relate_number(value, Numeric::Float(*x)),
        Literal::Boolean(wanted) => {
            let actual = match value {
                Value::Bool(b) => Some(*b),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            actual.map_or(Relation::Incomparable, |a| from_ordering(a.cmp(wanted)))
        }
        Literal::Date(d) => relate_instant(value, d.start_ms(), d.start_ms() + MS_PER_DAY),
        Literal::DateTime(t) => relate_instant(value, t.epoch_ms(), t.epoch_ms() + 1),
        Literal::DateLiteral(d) => {
            let (start, end) = d.range_ms(ctx.now_ms);
            relate_instant(value, start, end)
        }
    }
}

fn from_ordering(ordering: Ordering) -> Relation {
    match ordering {
        Ordering::Less => Relation::Before,
        Ordering::Equal => Relation::Within,
        Ordering::Greater => Relation::After,
    }
}

fn compare_text(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

#[derive(Clone, Copy)]
enum Numeric {
    Int(i128),
    Float(f64),
}

impl Numeric {
    fn from_json(n: &Number) -> Option<Self> {
        if let Some(i) = n.as_i64() {
            Some(Numeric::Int(i128::from(i)))
        } else if let Some(u) = n.as_u64() {
            Some(Numeric::Int(i128::from(u)))
        } else {
            n.as_f64().filter(|x| x.is_finite()).map(Numeric::Float)
        }
    }

    fn from_text(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i128>() {
            return Some(Numeric::Int(i));
        }
        // Only plain decimal notation: `f64::from_str` would also take "inf" and "NaN".
        let plain = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        s.parse::<f64>()
            .ok()
            .filter(|x| plain && x.is_finite())
            .map(Numeric::Float)
    }

    fn compare(self, other: Numeric) -> Option<Ordering> {
        match (self, other) {
            (Numeric::Int(a), Numeric::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Numeric::Int(i) => i as f64,
            Numeric::Float(x) => x,
        }
    }
}

fn relate_number(value: &Value, wanted: Numeric) -> Relation {
    let actual = match value {
        Value::Number(n) => Numeric::from_json(n),
        Value::String(s) => Numeric::from_text(s),
        _ => None,
    };
    actual
        .and_then(|a| a.compare(wanted))
        .map_or(Relation::Incomparable, from_ordering)
}

/// Where the instant a record value denotes falls relative to `[start, end)`.
fn relate_instant(value: &Value, start: i64, end: i64) -> Relation {
    let Value::String(text) = value else {
        return Relation::Incomparable;
    };
    match parse_temporal(text.trim(), false) {
        Some(t) if t.epoch_ms() < start => Relation::Before,
        Some(t) if t.epoch_ms() < end => Relation::Within,
        Some(_) => Relation::After,
        None => Relation::Incomparable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date_literal::DateLiteral;
    use crate::dates::{days_from_civil, Date, DateTime};
    use serde_json::json;
    use CompareOp::*;

    fn ctx() -> EvalContext {
        // 2024-01-31T10:00:00Z
        EvalContext {
            now_ms: 1_706_695_200_000,
        }
    }

    fn check(value: Value, op: CompareOp, literal: &Literal) -> bool {
        holds(Some(&value), op, literal, &ctx())
    }

    /// The operators that hold, as text, e.g. "= <= >=".
    fn ops(value: Value, literal: &Literal) -> String {
        [Eq, Ne, Lt, Le, Gt, Ge]
            .into_iter()
            .filter(|op| check(value.clone(), *op, literal))
            .map(CompareOp::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn text(s: &str) -> Literal {
        Literal::String(s.into())
    }

    #[test]
    fn null_semantics() {
        for absent in [None, Some(&Value::Null)] {
            assert!(holds(absent, Eq, &Literal::Null, &ctx()));
            assert!(!holds(absent, Ne, &Literal::Null, &ctx()));
            assert!(!holds(absent, Lt, &Literal::Null, &ctx()));
            assert!(!holds(absent, Eq, &text("x"), &ctx()));
            assert!(holds(absent, Ne, &text("x"), &ctx()));
            assert!(!holds(absent, Gt, &Literal::Integer(0), &ctx()));
            assert!(!holds(absent, Le, &Literal::Integer(0), &ctx()));
        }
        assert_eq!(ops(json!("x"), &Literal::Null), "!=");
        assert_eq!(ops(json!(0), &Literal::Null), "!=");
    }

    #[test]
    fn strings_ignore_case() {
        assert_eq!(ops(json!("Energy"), &text("ENERGY")), "= <= >=");
        assert_eq!(ops(json!("apple"), &text("Banana")), "!= < <=");
        assert_eq!(ops(json!("Über"), &text("über")), "= <= >=");
        assert_eq!(ops(json!(42), &text("42")), "= <= >=");
        assert_eq!(ops(json!(true), &text("TRUE")), "= <= >=");
        assert_eq!(ops(json!(["x"]), &text("x")), "!=");
    }

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(ops(json!(10), &Literal::Integer(9)), "!= > >=");
        assert_eq!(ops(json!(10.0), &Literal::Integer(10)), "= <= >=");
        assert_eq!(ops(json!(9.5), &Literal::Decimal(10.25)), "!= < <=");
        assert_eq!(ops(json!(u64::MAX), &Literal::Integer(i64::MAX)), "!= > >=");
        assert_eq!(ops(json!("100"), &Literal::Integer(20)), "!= > >=");
        assert_eq!(ops(json!(" 1.5 "), &Literal::Decimal(1.5)), "= <= >=");
        assert_eq!(ops(json!("NaN"), &Literal::Decimal(1.5)), "!=");
        assert_eq!(ops(json!("inf"), &Literal::Integer(1)), "!=");
        assert_eq!(ops(json!("abc"), &Literal::Integer(1)), "!=");
        assert_eq!(ops(json!(true), &Literal::Integer(1)), "!=");
    }

    #[test]
    fn booleans() {
        assert_eq!(ops(json!(true), &Literal::Boolean(true)), "= <= >=");
        assert_eq!(ops(json!("False"), &Literal::Boolean(false)), "= <= >=");
        assert_eq!(ops(json!(false), &Literal::Boolean(true)), "!= < <=");
        assert_eq!(ops(json!(1), &Literal::Boolean(true)), "!=");
    }

    #[test]
    fn dates_are_days_and_datetimes_are_instants() {
        let day = Date::new(2024, 1, 31).map_or(Literal::Null, Literal::Date);
        assert_eq!(ops(json!("2024-01-31"), &day), "= <= >=");
        assert_eq!(ops(json!("2024-01-31T23:59:59.999Z"), &day), "= <= >=");
        assert_eq!(ops(json!("2024-02-01T00:00:00.000+0000"), &day), "!= > >=");
        assert_eq!(ops(json!("2024-01-31T00:30:00.000+0100"), &day), "!= < <=");
        assert_eq!(ops(json!("not a date"), &day), "!=");

        let at =
            DateTime::from_epoch_ms(1_706_695_200_000).map_or(Literal::Null, Literal::DateTime);
        assert_eq!(ops(json!("2024-01-31T10:00:00.000Z"), &at), "= <= >=");
        assert_eq!(ops(json!("2024-01-31T11:00:00+01:00"), &at), "= <= >=");
        assert_eq!(ops(json!("2024-01-31T10:00:00.001Z"), &at), "!= > >=");
        assert_eq!(ops(json!("2024-01-31"), &at), "!= < <=");
    }

    #[test]
    fn date_literals_are_ranges() {
        let today = Literal::DateLiteral(DateLiteral::Today);
        assert_eq!(ops(json!("2024-01-31T00:00:00Z"), &today), "= <= >=");
        assert_eq!(ops(json!("2024-01-31T23:59:59Z"), &today), "= <= >=");
        assert_eq!(ops(json!("2024-01-30T23:59:59Z"), &today), "!= < <=");
        assert_eq!(ops(json!("2024-02-01T00:00:00Z"), &today), "!= > >=");
        assert_eq!(ops(json!("2024-01-31"), &today), "= <= >=");
        let last_week = Literal::DateLiteral(DateLiteral::LastNDays(7));
        let start = days_from_civil(2024, 1, 24);
        assert_eq!(start, days_from_civil(2024, 1, 31) - 7);
        assert_eq!(ops(json!("2024-01-24T00:00:00Z"), &last_week), "= <= >=");
        assert_eq!(ops(json!("2024-01-23T23:59:59Z"), &last_week), "!= < <=");
    }
}
