//! The SOQL that PushTopics and simple REST queries use: one object, plain fields, a WHERE
//! clause of comparisons joined by AND/OR, and (for REST) ORDER BY, LIMIT and OFFSET. No I/O.
//!
//! - [`parse`] reads a query; [`Query::validate_for_pushtopic`] adds the PushTopic rules.
//!   Rejections carry Salesforce's code and text (`INVALID_FIELD, 'LIMIT' is not allowed`) and
//!   a byte position; [`SoqlError::describe`] shows it under the query.
//! - [`evaluate`] decides whether a record (a JSON object) matches a condition: what the org
//!   runs for every record change against every PushTopic.
//! - [`parse_subscription_filter`] reads the `?Field='value'&…` suffix of a filtered
//!   subscription.
//! - `Display` prints queries back as canonical SOQL that re-parses to an equal query.
//!
//! The parser is hand-written (lexer, recursive descent, precedence climbing for AND/OR) so that
//! every error has an exact position and a Salesforce-shaped text, and so that no input — it
//! comes from REST clients — can make it panic or recurse without bound.

#![forbid(unsafe_code)]

mod ast;
mod compare;
mod date_literal;
mod dates;
mod display;
mod errors;
mod eval;
mod lexer;
mod like;
mod literal;
mod parser;
mod pushtopic_rules;
mod strings;
mod subscription_filter;

#[cfg(test)]
mod properties;

pub use ast::{ClausePositions, CompareOp, Condition, Ident, NullsOrder, OrderBy, Query, Span};
pub use date_literal::DateLiteral;
pub use dates::{Date, DateTime};
pub use errors::{SoqlError, INVALID_FIELD, MALFORMED_QUERY};
pub use eval::{evaluate, field_value, EvalContext};
pub use like::{LikeElement, LikePattern};
pub use literal::Literal;
pub use parser::parse;
pub use pushtopic_rules::SELECT_MUST_INCLUDE_ID;
pub use subscription_filter::{filter_condition, filter_matches, parse_subscription_filter};

/// The deepest parenthesis nesting a WHERE clause may have.
pub const MAX_NESTING: usize = 100;
