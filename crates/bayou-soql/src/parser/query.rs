//! The clauses of a query, in SOQL's fixed order:
//! `SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n] [OFFSET n]`.
//!
//! Everything is accepted here that a REST query may use; what PushTopics additionally refuse
//! (ORDER BY, LIMIT, OFFSET, a SELECT without Id) is checked afterwards by
//! [`Query::validate_for_pushtopic`], because the same text is fine as a REST query. Constructs
//! Salesforce refuses everywhere in this subset (aggregates, GROUP BY, TYPEOF, relationships,
//! sub-selects) are refused while parsing, with Salesforce's texts.

use crate::ast::{ClausePositions, Ident, NullsOrder, OrderBy, Query, Span};
use crate::errors::SoqlError;
use crate::lexer::TokenKind;

use super::{Parser, AGGREGATES_NOT_SUPPORTED, RELATIONSHIPS_NOT_SUPPORTED};

/// Parses a SOQL query of the supported subset.
pub fn parse(query: &str) -> Result<Query, SoqlError> {
    Parser::new(query, "query")?.query()
}

const AFTER_ORDER_ITEM: &str = "',', LIMIT, OFFSET or end of query";

impl Parser<'_> {
    fn query(&mut self) -> Result<Query, SoqlError> {
        let select = self.expect_word("SELECT", "SELECT")?;
        let fields = self.select_list()?;
        self.expect_word("FROM", "',' or FROM")?;
        let object = self.object_name("an object name")?;
        let mut clauses = ClausePositions {
            select: select.span(),
            ..ClausePositions::default()
        };
        let mut next = "WHERE, ORDER BY, LIMIT, OFFSET or end of query";

        let mut condition = None;
        if self.eat_word("WHERE").is_some() {
            condition = Some(self.condition()?);
            next = "AND, OR, ORDER BY, LIMIT, OFFSET or end of query";
        }
        self.refuse_grouping()?;

        let mut order_by = Vec::new();
        if let Some(order) = self.eat_word("ORDER") {
            let by = self.expect_word("BY", "BY")?;
            clauses.order_by = Some(Span::new(order.start, by.span().end));
            let (items, after) = self.order_by_list()?;
            order_by = items;
            next = after;
        }

        let mut limit = None;
        if let Some(keyword) = self.eat_word("LIMIT") {
            clauses.limit = Some(keyword.span());
            limit = Some(self.row_count("a row count")?);
            next = "OFFSET or end of query";
        }

        let mut offset = None;
        if let Some(keyword) = self.eat_word("OFFSET") {
            clauses.offset = Some(keyword.span());
            offset = Some(self.row_count("a row count")?);
            next = "end of query";
        }

        if self.peek().kind != TokenKind::Eof {
            self.refuse_grouping()?;
            return Err(self.unexpected(next));
        }
        Ok(Query {
            object,
            fields,
            condition,
            order_by,
            limit,
            offset,
            clauses,
        })
    }

    fn select_list(&mut self) -> Result<Vec<Ident>, SoqlError> {
        let mut fields: Vec<Ident> = Vec::new();
        loop {
            let token = self.peek();
            if token.is_word("TYPEOF") {
                return Err(SoqlError::invalid_field(
                    "'TYPEOF' clause is not allowed",
                    token.start,
                ));
            }
            // `(SELECT … FROM Contacts)`: a parent-to-child relationship query.
            if token.kind == TokenKind::LParen && self.peek_nth(1).is_word("SELECT") {
                return Err(SoqlError::invalid_field(
                    RELATIONSHIPS_NOT_SUPPORTED,
                    token.start,
                ));
            }
            let field = self.field_name("a field name")?;
            if fields.contains(&field) {
                return Err(SoqlError::malformed(
                    format!("duplicate field selected: {}", field.name),
                    field.span.start,
                ));
            }
            fields.push(field);
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(fields);
            }
        }
    }

    /// GROUP BY and HAVING only make sense for aggregate queries.
    fn refuse_grouping(&self) -> Result<(), SoqlError> {
        let token = self.peek();
        if token.is_word("GROUP") || token.is_word("HAVING") {
            return Err(SoqlError::invalid_field(
                AGGREGATES_NOT_SUPPORTED,
                token.start,
            ));
        }
        Ok(())
    }

    /// The items after ORDER BY, and what may follow the last one.
    fn order_by_list(&mut self) -> Result<(Vec<OrderBy>, &'static str), SoqlError> {
        let mut items = Vec::new();
        loop {
            let field = self.field_name("a field name")?;
            let descending = self.eat_word("DESC").is_some();
            let direction = descending || self.eat_word("ASC").is_some();
            let mut nulls = None;
            if self.eat_word("NULLS").is_some() {
                nulls = Some(if self.eat_word("FIRST").is_some() {
                    NullsOrder::First
                } else {
                    self.expect_word("LAST", "FIRST or LAST")?;
                    NullsOrder::Last
                });
            }
            items.push(OrderBy {
                field,
                descending,
                nulls,
            });
            if self.eat(TokenKind::Comma).is_none() {
                let after = match (direction, nulls.is_some()) {
                    (_, true) => AFTER_ORDER_ITEM,
                    (true, false) => "NULLS, ',', LIMIT, OFFSET or end of query",
                    (false, false) => "ASC, DESC, NULLS, ',', LIMIT, OFFSET or end of query",
                };
                return Ok((items, after));
            }
        }
    }

    /// A non-negative integer (LIMIT, OFFSET).
    fn row_count(&mut self, expected: &str) -> Result<u64, SoqlError> {
        let token = self.peek();
        let value = match token.kind {
            TokenKind::Number => token.text.parse::<u64>().ok(),
            _ => None,
        };
        match value {
            Some(value) => {
                self.bump();
                Ok(value)
            }
            None => Err(self.unexpected(expected)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(query: &str) -> Query {
        match parse(query) {
            Ok(q) => q,
            Err(e) => panic!("{query}: {}", e.describe(query)),
        }
    }

    fn err(query: &str) -> (String, usize) {
        match parse(query) {
            Ok(q) => panic!("{query} parsed as {q:?}"),
            Err(e) => (e.to_string(), e.position),
        }
    }

    #[test]
    fn minimal_query() {
        let q = ok("SELECT Id FROM Account");
        assert_eq!(q.object.name, "Account");
        assert_eq!(q.object.span, Span::new(15, 22));
        assert_eq!(q.select_fields(), ["Id"]);
        assert_eq!(q.fields.first().map(|f| f.span), Some(Span::new(7, 9)));
        assert!(q.condition.is_none() && q.order_by.is_empty());
        assert_eq!((q.limit, q.offset), (None, None));
    }

    #[test]
    fn standard_objects_that_look_like_keywords() {
        let q = ok("SELECT Id, Name FROM Group WHERE Type = 'Queue'");
        assert_eq!(q.object.name, "Group");
        let q = ok("SELECT Id FROM Order ORDER BY Order DESC");
        assert_eq!(q.object.name, "Order");
        assert_eq!(q.to_string(), "SELECT Id FROM Order ORDER BY Order DESC");
        assert_eq!(
            err("SELECT Id FROM Group GROUP BY Id"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                21
            )
        );
        assert_eq!(
            err("SELECT Id FROM WHERE"),
            (
                "MALFORMED_QUERY, unexpected token: 'WHERE', expected an object name".into(),
                15
            )
        );
    }

    #[test]
    fn keywords_ignore_case_and_names_keep_theirs() {
        let q = ok("select id, Status__c from invoice_statement__c");
        assert_eq!(q.select_fields(), ["id", "Status__c"]);
        assert_eq!(q.object.name, "invoice_statement__c");
        assert!(q.selects("ID"));
    }

    #[test]
    fn all_clauses() {
        let text = "SELECT Id, Name FROM Account WHERE Name != null \
             ORDER BY Name DESC NULLS LAST, Id ASC, CreatedDate NULLS FIRST LIMIT 10 OFFSET 20";
        let q = ok(text);
        assert!(q.condition.is_some());
        let order: Vec<(&str, bool, Option<NullsOrder>)> = q
            .order_by
            .iter()
            .map(|o| (o.field.name.as_str(), o.descending, o.nulls))
            .collect();
        assert_eq!(
            order,
            [
                ("Name", true, Some(NullsOrder::Last)),
                ("Id", false, None),
                ("CreatedDate", false, Some(NullsOrder::First)),
            ]
        );
        assert_eq!((q.limit, q.offset), (Some(10), Some(20)));
        assert_eq!(q.clauses.limit.map(|s| s.start), text.find("LIMIT"));
        assert_eq!(q.clauses.offset.map(|s| s.start), text.find("OFFSET"));
        assert_eq!(q.clauses.order_by.map(|s| s.start), text.find("ORDER"));
    }

    #[test]
    fn malformed_queries_say_what_was_expected() {
        assert_eq!(
            err("SELECT Id FORM Account"),
            (
                "MALFORMED_QUERY, unexpected token: 'FORM', expected ',' or FROM".into(),
                10
            )
        );
        assert_eq!(
            err("SELEC Id FROM Account"),
            (
                "MALFORMED_QUERY, unexpected token: 'SELEC', expected SELECT".into(),
                0
            )
        );
        assert_eq!(
            err("SELECT FROM Account"),
            (
                "MALFORMED_QUERY, unexpected token: 'FROM', expected a field name".into(),
                7
            )
        );
        assert_eq!(
            err("SELECT Id, FROM Account"),
            (
                "MALFORMED_QUERY, unexpected token: 'FROM', expected a field name".into(),
                11
            )
        );
        assert_eq!(
            err("SELECT Id FROM"),
            (
                "MALFORMED_QUERY, unexpected end of query, expected an object name".into(),
                14
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account a"),
            (
                "MALFORMED_QUERY, unexpected token: 'a', expected WHERE, ORDER BY, LIMIT, OFFSET or end of query".into(),
                23
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account LIMIT -1"),
            (
                "MALFORMED_QUERY, unexpected token: '-1', expected a row count".into(),
                29
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account LIMIT 5 LIMIT 5"),
            (
                "MALFORMED_QUERY, unexpected token: 'LIMIT', expected OFFSET or end of query"
                    .into(),
                31
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account ORDER Name"),
            (
                "MALFORMED_QUERY, unexpected token: 'Name', expected BY".into(),
                29
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account ORDER BY Name NULLS"),
            (
                "MALFORMED_QUERY, unexpected end of query, expected FIRST or LAST".into(),
                42
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account ORDER BY Name x"),
            (
                "MALFORMED_QUERY, unexpected token: 'x', expected ASC, DESC, NULLS, ',', LIMIT, OFFSET or end of query".into(),
                37
            )
        );
        assert_eq!(
            err("SELECT Id, Name, id FROM Account"),
            ("MALFORMED_QUERY, duplicate field selected: id".into(), 17)
        );
        assert_eq!(
            err(""),
            (
                "MALFORMED_QUERY, unexpected end of query, expected SELECT".into(),
                0
            )
        );
    }

    #[test]
    fn refusals_made_while_parsing() {
        assert_eq!(
            err("SELECT Id, TYPEOF What WHEN Account THEN Name END FROM Event"),
            ("INVALID_FIELD, 'TYPEOF' clause is not allowed".into(), 11)
        );
        assert_eq!(
            err("SELECT Id, Account.Name FROM Contact"),
            ("INVALID_FIELD, relationships are not supported".into(), 11)
        );
        assert_eq!(
            err("SELECT Id, (SELECT Id FROM Contacts) FROM Account"),
            ("INVALID_FIELD, relationships are not supported".into(), 11)
        );
        assert_eq!(
            err("SELECT COUNT() FROM Account"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                7
            )
        );
        assert_eq!(
            err("SELECT Id, max(Amount) FROM Opportunity"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                11
            )
        );
        assert_eq!(
            err("SELECT Industry FROM Account GROUP BY Industry"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                29
            )
        );
        assert_eq!(
            err("SELECT Industry FROM Account WHERE Id != null GROUP BY Industry"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                46
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account ORDER BY COUNT(Id)"),
            (
                "INVALID_FIELD, Aggregate queries are not supported".into(),
                32
            )
        );
        assert_eq!(
            err("SELECT Id FROM Account ORDER BY Owner.Name"),
            ("INVALID_FIELD, relationships are not supported".into(), 32)
        );
    }
}
