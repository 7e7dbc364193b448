//! Queries and conditions printed back as canonical SOQL.
//!
//! Canonical means: keywords in capitals, single spaces, `!=` for `<>`, `ASC` left out (it is
//! the default), date-times in UTC, and only the parentheses the tree needs — an OR inside an
//! AND, and a group inside a node of the same operator (which the parser keeps as its own
//! node). Reading the printed text back gives an equal query; the property tests and the
//! `soql_parse` fuzz target hold us to that.

use std::fmt;

use crate::ast::{CompareOp, Condition, Ident, NullsOrder, OrderBy, Query};

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::And(items) => operands(f, items, " AND ", |c| {
                matches!(c, Condition::And(_) | Condition::Or(_))
            }),
            Condition::Or(items) => operands(f, items, " OR ", |c| matches!(c, Condition::Or(_))),
            Condition::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
            Condition::In {
                field,
                values,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{field} {not}IN (")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str(")")
            }
            Condition::Like { field, pattern } => write!(f, "{field} LIKE {pattern}"),
        }
    }
}

/// `items` joined by `separator`, parenthesising those for which `needs_parens` holds.
fn operands(
    f: &mut fmt::Formatter<'_>,
    items: &[Condition],
    separator: &str,
    needs_parens: impl Fn(&Condition) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        if self.descending {
            f.write_str(" DESC")?;
        }
        match self.nulls {
            Some(NullsOrder::First) => f.write_str(" NULLS FIRST"),
            Some(NullsOrder::Last) => f.write_str(" NULLS LAST"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        list(f, &self.fields)?;
        write!(f, " FROM {}", self.object)?;
        if let Some(condition) = &self.condition {
            write!(f, " WHERE {condition}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            list(f, &self.order_by)?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        Ok(())
    }
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn canonical(query: &str) -> String {
        match parse(query) {
            Ok(q) => q.to_string(),
            Err(e) => panic!("{}", e.describe(query)),
        }
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("select id,name from account", "SELECT id, name FROM account"),
            (
                "SELECT Id FROM A WHERE a<>1 and (b = 'x' or c like 'y%') or d not in (1,2.5)",
                "SELECT Id FROM A WHERE a != 1 AND (b = 'x' OR c LIKE 'y%') OR d NOT IN (1, 2.5)",
            ),
            (
                "SELECT Id FROM A WHERE (a=1 AND b=1) AND (c=1 OR d=1) OR (e=1 OR f=1)",
                "SELECT Id FROM A WHERE (a = 1 AND b = 1) AND (c = 1 OR d = 1) OR (e = 1 OR f = 1)",
            ),
            (
                "SELECT Id FROM A WHERE d >= 2024-01-31T11:00:00.000+01:00 AND e < 2024-01-31 AND f = last_n_days:5",
                "SELECT Id FROM A WHERE d >= 2024-01-31T10:00:00Z AND e < 2024-01-31 AND f = LAST_N_DAYS:5",
            ),
            (
                "SELECT Id FROM A WHERE s = 'it\\'s\\n' AND p LIKE '50\\%%' AND t = TRUE AND n = NULL",
                "SELECT Id FROM A WHERE s = 'it\\'s\\n' AND p LIKE '50\\%%' AND t = true AND n = null",
            ),
            (
                "SELECT Id FROM A ORDER BY a asc, b desc nulls last, c nulls first LIMIT 5 OFFSET 10",
                "SELECT Id FROM A ORDER BY a, b DESC NULLS LAST, c NULLS FIRST LIMIT 5 OFFSET 10",
            ),
        ];
        for (input, output) in cases {
            assert_eq!(canonical(input), output);
            assert_eq!(canonical(output), output, "canonical text is a fixed point");
            assert_eq!(parse(input).ok(), parse(output).ok());
        }
    }
}
