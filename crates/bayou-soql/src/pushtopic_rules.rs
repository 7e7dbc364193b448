//! The extra rules a query must meet to be a PushTopic's query (validation only: a PushTopic is
//! evaluated against record changes in `bayou-org`'s `pushtopic/evaluate.rs`).
//!
//! The same text can be a valid REST query and an invalid PushTopic query (`… LIMIT 10`), so
//! these checks run after parsing, on request. Aggregates, relationships, TYPEOF, NOT and
//! sub-selects are refused by the parser already, since this crate does not evaluate them for
//! REST queries either. Clauses are reported in the order they are written; the SELECT-list rule
//! comes last, as a semantic check after the syntactic ones.

use crate::ast::Query;
use crate::errors::SoqlError;

/// Salesforce documents no text for this rule; this one says what to fix.
pub const SELECT_MUST_INCLUDE_ID: &str = "SELECT clause must include Id";

impl Query {
    /// Refuses ORDER BY, LIMIT, OFFSET (with Salesforce's texts) and a SELECT list without `Id`.
    pub fn validate_for_pushtopic(&self) -> Result<(), SoqlError> {
        if let Some(span) = self.clauses.order_by {
            return Err(SoqlError::invalid_field(
                "'ORDER BY' clause is not allowed",
                span.start,
            ));
        }
        if let Some(span) = self.clauses.limit {
            return Err(SoqlError::invalid_field(
                "'LIMIT' is not allowed",
                span.start,
            ));
        }
        if let Some(span) = self.clauses.offset {
            return Err(SoqlError::invalid_field(
                "'OFFSET' clause is not allowed",
                span.start,
            ));
        }
        if !self.selects("Id") {
            let position = self
                .fields
                .first()
                .map_or(self.clauses.select.end, |f| f.span.start);
            return Err(SoqlError::invalid_field(SELECT_MUST_INCLUDE_ID, position));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn check(query: &str) -> Result<(), (String, usize)> {
        match parse(query) {
            Ok(q) => q
                .validate_for_pushtopic()
                .map_err(|e| (e.to_string(), e.position)),
            Err(e) => panic!("{}", e.describe(query)),
        }
    }

    #[test]
    fn plain_queries_pass() {
        assert_eq!(
            check("SELECT Id, Name FROM Account WHERE Industry = 'Energy'"),
            Ok(())
        );
        assert_eq!(check("select ID from Invoice_Statement__c"), Ok(()));
        assert_eq!(check("SELECT Name, id FROM Account"), Ok(()));
    }

    #[test]
    fn refusals_with_salesforce_texts_and_positions() {
        assert_eq!(
            check("SELECT Id FROM Account LIMIT 10"),
            Err(("INVALID_FIELD, 'LIMIT' is not allowed".into(), 23))
        );
        assert_eq!(
            check("SELECT Id FROM Account ORDER BY Name"),
            Err(("INVALID_FIELD, 'ORDER BY' clause is not allowed".into(), 23))
        );
        assert_eq!(
            check("SELECT Id FROM Account OFFSET 5"),
            Err(("INVALID_FIELD, 'OFFSET' clause is not allowed".into(), 23))
        );
        assert_eq!(
            check("SELECT Id FROM Account ORDER BY Name LIMIT 10 OFFSET 5"),
            Err(("INVALID_FIELD, 'ORDER BY' clause is not allowed".into(), 23))
        );
        assert_eq!(
            check("SELECT Name, Industry FROM Account"),
            Err(("INVALID_FIELD, SELECT clause must include Id".into(), 7))
        );
        assert_eq!(
            check("SELECT Name FROM Account LIMIT 1"),
            Err(("INVALID_FIELD, 'LIMIT' is not allowed".into(), 25))
        );
    }

    #[test]
    fn referenced_fields() {
        let q = parse(
            "SELECT Id, Name FROM Account WHERE (Industry = 'Energy' OR industry = 'Media') \
             AND Amount > 5 AND Name LIKE 'A%' AND Type NOT IN ('x')",
        );
        let q = match q {
            Ok(q) => q,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(q.select_fields(), ["Id", "Name"]);
        assert_eq!(q.where_fields(), ["Industry", "Amount", "Name", "Type"]);
    }
}
