//! What a parsed query is: the object, the selected fields, the WHERE tree and the clauses
//! PushTopics refuse but REST queries use.
//!
//! Equality is semantic. Salesforce object and field names are case-insensitive, so two
//! [`Ident`]s are equal when their names are, whatever their case or position; a [`Query`]
//! compares everything but where its clauses were written. That is what lets a query rendered
//! back to text (see `display.rs`) re-parse to an *equal* query.

use std::hash::{Hash, Hasher};

use crate::like::LikePattern;
use crate::literal::Literal;

/// A byte range `[start, end)` in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// An object or field name as written, with where it was written.
#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl Ident {
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Self {
            name: name.into(),
            span,
        }
    }

    /// Whether this names `other`, ignoring case.
    pub fn is(&self, other: &str) -> bool {
        self.name.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.is(&other.name)
    }
}

impl Eq for Ident {}

impl Hash for Ident {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.name.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

/// `=`, `!=` (also written `<>`), `<`, `<=`, `>`, `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// A WHERE clause. `And`/`Or` hold two or more operands when the parser builds them: a chain
/// `a AND b AND c` is one node with three operands (so long chains stay shallow), while a
/// parenthesised group stays a node of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    /// `field op value`.
    Compare {
        field: Ident,
        op: CompareOp,
        value: Literal,
    },
    /// `field IN (…)`, or `field NOT IN (…)` when `negated`.
    In {
        field: Ident,
        values: Vec<Literal>,
        negated: bool,
    },
    /// `field LIKE 'pattern'`.
    Like {
        field: Ident,
        pattern: LikePattern,
    },
}

impl Condition {
    /// Calls `visit` with every field the condition mentions, in textual order.
    pub fn for_each_field<'a>(&'a self, visit: &mut impl FnMut(&'a Ident)) {
        match self {
            Condition::And(items) | Condition::Or(items) => {
                for item in items {
                    item.for_each_field(visit);
                }
            }
            Condition::Compare { field, .. }
            | Condition::In { field, .. }
            | Condition::Like { field, .. } => visit(field),
        }
    }
}

/// `NULLS FIRST` / `NULLS LAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NullsOrder {
    First,
    Last,
}

/// One `ORDER BY` item. `ASC` is the default and is not kept; `nulls` is kept only when written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    pub field: Ident,
    pub descending: bool,
    pub nulls: Option<NullsOrder>,
}

/// Where each clause keyword was written, for errors about whole clauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClausePositions {
    pub select: Span,
    pub order_by: Option<Span>,
    pub limit: Option<Span>,
    pub offset: Option<Span>,
}

/// A parsed `SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n] [OFFSET n]`.
#[derive(Debug, Clone)]
pub struct Query {
    pub object: Ident,
    pub fields: Vec<Ident>,
    pub condition: Option<Condition>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// Not part of equality.
    pub clauses: ClausePositions,
}

impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
            && self.fields == other.fields
            && self.condition == other.condition
            && self.order_by == other.order_by
            && self.limit == other.limit
            && self.offset == other.offset
    }
}

impl Query {
    /// The SELECT list, as written.
    pub fn select_fields(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// Every field the WHERE clause references, in order of first mention, each once (compared
    /// case-insensitively; the first spelling wins).
    pub fn where_fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(condition) = &self.condition {
            condition.for_each_field(&mut |field| {
                if !out.iter().any(|seen| field.is(seen)) {
                    out.push(&field.name);
                }
            });
        }
        out
    }

    /// Whether the SELECT list names `field` (case-insensitive).
    pub fn selects(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f.is(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn idents_compare_by_name_ignoring_case_and_position() {
        let a = Ident::new("Status__c", Span::new(0, 9));
        let b = Ident::new("STATUS__C", Span::new(40, 49));
        assert_eq!(a, b);
        assert_ne!(a, Ident::new("Status", Span::default()));
        let set: HashSet<Ident> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn operators_have_canonical_spellings() {
        let all = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ];
        let texts: Vec<&str> = all.iter().map(|op| op.as_str()).collect();
        assert_eq!(texts, ["=", "!=", "<", "<=", ">", ">="]);
    }
}
