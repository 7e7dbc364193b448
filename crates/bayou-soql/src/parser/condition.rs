//! The WHERE tree: comparisons joined by AND and OR, AND binding tighter, parentheses grouping.
//!
//! Precedence climbing keeps the recursion depth proportional to the number of precedence levels
//! (two) plus the parenthesis nesting, not to the length of a chain: `a OR b OR … OR z` is read
//! in a loop into one n-ary `Or`. Parenthesis nesting is capped at [`MAX_NESTING`] so no input can
//! exhaust the stack while parsing, evaluating, printing or dropping a condition.
//!
//! A parenthesised group stays its own node, even inside a chain of the same operator, so that
//! printing a condition and reading it back gives the same tree.

use crate::ast::{Condition, Ident};
use crate::errors::SoqlError;
use crate::lexer::TokenKind;
use crate::like::LikePattern;
use crate::literal::Literal;
use crate::MAX_NESTING;

use super::Parser;

#[derive(Clone, Copy, PartialEq, Eq)]
enum BoolOp {
    And,
    Or,
}

impl BoolOp {
    fn precedence(self) -> u8 {
        match self {
            BoolOp::Or => 1,
            BoolOp::And => 2,
        }
    }
}

const OPERATORS: &str = "a comparison operator (=, !=, <, <=, >, >=, LIKE, IN or NOT IN)";

impl Parser<'_> {
    pub(super) fn condition(&mut self) -> Result<Condition, SoqlError> {
        self.climb(0, 0)
    }

    fn bool_op(&self) -> Option<BoolOp> {
        let token = self.peek();
        if token.is_word("AND") {
            Some(BoolOp::And)
        } else if token.is_word("OR") {
            Some(BoolOp::Or)
        } else {
            None
        }
    }

    /// Operands joined by operators of at least `min_precedence`; `depth` is the parenthesis
    /// nesting so far.
    fn climb(&mut self, min_precedence: u8, depth: usize) -> Result<Condition, SoqlError> {
        let mut left = self.operand(depth)?;
        // Whether `left` is an n-ary node built by this loop (and so may take more operands of
        // its own operator), as opposed to a parenthesised group.
        let mut chained = false;
        while let Some(op) = self.bool_op() {
            if op.precedence() < min_precedence {
                break;
            }
            self.bump();
            let right = self.climb(op.precedence() + 1, depth)?;
            left = match (op, left) {
                (BoolOp::And, Condition::And(mut items)) if chained => {
                    items.push(right);
                    Condition::And(items)
                }
                (BoolOp::Or, Condition::Or(mut items)) if chained => {
                    items.push(right);
                    Condition::Or(items)
                }
                (BoolOp::And, left) => Condition::And(vec![left, right]),
                (BoolOp::Or, left) => Condition::Or(vec![left, right]),
            };
            chained = true;
        }
        Ok(left)
    }

    /// A parenthesised condition or one comparison.
    fn operand(&mut self, depth: usize) -> Result<Condition, SoqlError> {
        let token = self.peek();
        if token.kind == TokenKind::LParen {
            if depth >= MAX_NESTING {
                return Err(SoqlError::malformed(
                    format!("too many nested parentheses (at most {MAX_NESTING})"),
                    token.start,
                ));
            }
            self.bump();
            let inner = self.climb(0, depth + 1)?;
            self.expect(TokenKind::RParen, "')', AND or OR")?;
            return Ok(inner);
        }
        if token.is_word("NOT") {
            return Err(SoqlError::invalid_field(
                "'NOT' is not supported",
                token.start,
            ));
        }
        let field = self.field_name("a field name or '('")?;
        self.comparison(field)
    }

    /// What follows a field: an operator and its operand(s).
    fn comparison(&mut self, field: Ident) -> Result<Condition, SoqlError> {
        let token = self.peek();
        if let TokenKind::Op(op) = token.kind {
            self.bump();
            let value = self.value()?;
            return Ok(Condition::Compare { field, op, value });
        }
        if self.eat_word("LIKE").is_some() {
            let pattern = self.like_pattern()?;
            return Ok(Condition::Like { field, pattern });
        }
        let negated = self.eat_word("NOT").is_some();
        if negated {
            self.expect_word("IN", "IN")?;
        } else if self.eat_word("IN").is_none() {
            return Err(self.unexpected(OPERATORS));
        }
        let values = self.value_list()?;
        Ok(Condition::In {
            field,
            values,
            negated,
        })
    }

    /// `( literal [, literal]* )`, refusing a sub-select.
    fn value_list(&mut self) -> Result<Vec<Literal>, SoqlError> {
        self.expect(TokenKind::LParen, "'('")?;
        let first = self.peek();
        if first.is_word("SELECT") {
            return Err(SoqlError::invalid_field(
                "semi/anti join sub-selects are not supported",
                first.start,
            ));
        }
        let mut values = vec![self.value()?];
        while self.eat(TokenKind::Comma).is_some() {
            values.push(self.value()?);
        }
        self.expect(TokenKind::RParen, "',' or ')'")?;
        Ok(values)
    }

    fn like_pattern(&mut self) -> Result<LikePattern, SoqlError> {
        let token = self.peek();
        if token.kind != TokenKind::Str {
            return Err(self.unexpected("a quoted pattern"));
        }
        self.bump();
        let chars = self.unquote(token)?;
        Ok(LikePattern::from_chars(chars))
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{CompareOp, Condition};
    use crate::literal::Literal;
    use crate::parse;

    fn condition(text: &str) -> Condition {
        let query = format!("SELECT Id FROM Account WHERE {text}");
        match parse(&query) {
            Ok(q) => match q.condition {
                Some(c) => c,
                None => panic!("no condition"),
            },
            Err(e) => panic!("{}", e.describe(&query)),
        }
    }

    /// The error for a WHERE clause, with its position relative to the clause.
    fn error(text: &str) -> (String, usize) {
        let prefix = "SELECT Id FROM Account WHERE ";
        let query = format!("{prefix}{text}");
        match parse(&query) {
            Ok(q) => panic!("{query} parsed as {q:?}"),
            Err(e) => (e.to_string(), e.position.saturating_sub(prefix.len())),
        }
    }

    /// A compact shape: `a` for a comparison on field a, `&[…]` and `|[…]` for AND / OR.
    fn shape(c: &Condition) -> String {
        let list = |items: &[Condition]| items.iter().map(shape).collect::<Vec<_>>().join(",");
        match c {
            Condition::And(items) => format!("&[{}]", list(items)),
            Condition::Or(items) => format!("|[{}]", list(items)),
            Condition::Compare { field, .. }
            | Condition::In { field, .. }
            | Condition::Like { field, .. } => field.name.clone(),
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(shape(&condition("a=1 OR b=1 AND c=1")), "|[a,&[b,c]]");
        assert_eq!(shape(&condition("a=1 AND b=1 OR c=1")), "|[&[a,b],c]");
        assert_eq!(
            shape(&condition("a=1 AND b=1 OR c=1 AND d=1 OR e=1")),
            "|[&[a,b],&[c,d],e]"
        );
    }

    #[test]
    fn chains_are_flat_and_groups_are_kept() {
        assert_eq!(shape(&condition("a=1 AND b=1 AND c=1")), "&[a,b,c]");
        assert_eq!(shape(&condition("(a=1 AND b=1) AND c=1")), "&[&[a,b],c]");
        assert_eq!(shape(&condition("a=1 AND (b=1 AND c=1)")), "&[a,&[b,c]]");
        assert_eq!(shape(&condition("(a=1 OR b=1) AND c=1")), "&[|[a,b],c]");
        assert_eq!(shape(&condition("((a=1))")), "a");
        assert_eq!(shape(&condition("a=1 or b=1 and c=1")), "|[a,&[b,c]]");
    }

    #[test]
    fn comparison_forms() {
        let c = condition("Amount <> 5");
        assert_eq!(
            c,
            Condition::Compare {
                field: crate::Ident::new("amount", Default::default()),
                op: CompareOp::Ne,
                value: Literal::Integer(5),
            }
        );
        assert!(matches!(
            condition("Industry NOT IN ('Energy', 'Media')"),
            Condition::In { negated: true, ref values, .. } if values.len() == 2
        ));
        assert!(matches!(
            condition("Industry in ('Energy')"),
            Condition::In { negated: false, .. }
        ));
        assert!(matches!(
            condition("Name LIKE 'Acme%'"),
            Condition::Like { ref pattern, .. } if pattern.matches("acme corp")
        ));
        assert!(matches!(
            condition("Name = null"),
            Condition::Compare {
                value: Literal::Null,
                ..
            }
        ));
    }

    #[test]
    fn nesting_is_capped_at_one_hundred() {
        let ok = format!("{}a=1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(shape(&condition(&ok)), "a");
        let too_deep = format!("{}a=1{}", "(".repeat(101), ")".repeat(101));
        assert_eq!(
            error(&too_deep),
            (
                "MALFORMED_QUERY, too many nested parentheses (at most 100)".into(),
                100
            )
        );
    }

    #[test]
    fn long_chains_do_not_nest() {
        let chain = vec!["a=1"; 20_000].join(" OR ");
        assert!(matches!(condition(&chain), Condition::Or(items) if items.len() == 20_000));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            error("Id IN (SELECT AccountId FROM Contact)"),
            (
                "INVALID_FIELD, semi/anti join sub-selects are not supported".into(),
                7
            )
        );
        assert_eq!(
            error("Id NOT IN (select AccountId FROM Contact)"),
            (
                "INVALID_FIELD, semi/anti join sub-selects are not supported".into(),
                11
            )
        );
        assert_eq!(
            error("NOT Name = 'x'"),
            ("INVALID_FIELD, 'NOT' is not supported".into(), 0)
        );
        assert_eq!(
            error("Id != null AND (not Name = 'x')"),
            ("INVALID_FIELD, 'NOT' is not supported".into(), 16)
        );
        assert_eq!(
            error("Account.Name = 'x'"),
            ("INVALID_FIELD, relationships are not supported".into(), 0)
        );
        assert_eq!(
            error("COUNT(Id) > 1"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                0
            )
        );
    }

    #[test]
    fn malformed_conditions() {
        let cases = [
            ("", "unexpected end of query, expected a field name or '('", 0),
            ("Name", "unexpected end of query, expected a comparison operator (=, !=, <, <=, >, >=, LIKE, IN or NOT IN)", 4),
            ("Name == 'x'", "unexpected token: '=', expected a value", 6),
            ("Name = 'x' AND", "unexpected end of query, expected a field name or '('", 14),
            ("(Name = 'x'", "unexpected end of query, expected ')', AND or OR", 11),
            ("(Name = 'x' ORR Id = null)", "unexpected token: 'ORR', expected ')', AND or OR", 12),
            ("Name NOT LIKE 'x'", "unexpected token: 'LIKE', expected IN", 9),
            ("Name IN 'x'", "unexpected token: ''x'', expected '('", 8),
            ("Name IN ()", "unexpected token: ')', expected a value", 9),
            ("Name IN ('a' 'b')", "unexpected token: ''b'', expected ',' or ')'", 13),
            ("Name LIKE 5", "unexpected token: '5', expected a quoted pattern", 10),
            ("Name INCLUDES ('a')", "unexpected token: 'INCLUDES', expected a comparison operator (=, !=, <, <=, >, >=, LIKE, IN or NOT IN)", 5),
            ("() ", "unexpected token: ')', expected a field name or '('", 1),
            ("Name = 'x' Id = null", "unexpected token: 'Id', expected AND, OR, ORDER BY, LIMIT, OFFSET or end of query", 11),
        ];
        for (text, message, position) in cases {
            assert_eq!(
                error(text),
                (format!("MALFORMED_QUERY, {message}"), position),
                "{text}"
            );
        }
    }
}
