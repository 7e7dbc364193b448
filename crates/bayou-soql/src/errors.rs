//! The one error type: a Salesforce error code, its text, and where in the query it happened.
//!
//! Salesforce reports query problems as `CODE, text` (`INVALID_FIELD, 'LIMIT' is not allowed`)
//! and REST clients show that string verbatim, so `Display` produces exactly that. The byte
//! position is kept separately: [`SoqlError::describe`] turns it into a line, a column and a
//! caret under the query for people, without changing the string programs compare.

/// A construct Salesforce understands but refuses here (the documented PushTopic limits).
pub const INVALID_FIELD: &str = "INVALID_FIELD";
/// Text that is not SOQL (or not the subset we read).
pub const MALFORMED_QUERY: &str = "MALFORMED_QUERY";

/// Why a query (or a subscription filter) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}, {message}")]
pub struct SoqlError {
    /// [`INVALID_FIELD`] or [`MALFORMED_QUERY`].
    pub code: &'static str,
    /// The text after the code, e.g. `'LIMIT' is not allowed`.
    pub message: String,
    /// Byte offset into the query of the offending token.
    pub position: usize,
}

impl SoqlError {
    pub fn invalid_field(message: impl Into<String>, position: usize) -> Self {
        Self {
            code: INVALID_FIELD,
            message: message.into(),
            position,
        }
    }

    pub fn malformed(message: impl Into<String>, position: usize) -> Self {
        Self {
            code: MALFORMED_QUERY,
            message: message.into(),
            position,
        }
    }

    /// One-based line and column (in characters) of the position within `query`.
    pub fn line_column(&self, query: &str) -> (usize, usize) {
        let before = before_position(query, self.position);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    /// The error, where it is, and the query line with a caret under the position:
    ///
    /// ```text
    /// INVALID_FIELD, 'LIMIT' is not allowed at line 1 column 24
    /// SELECT Id FROM Account LIMIT 10
    ///                        ^
    /// ```
    pub fn describe(&self, query: &str) -> String {
        let (line, column) = self.line_column(query);
        let before = before_position(query, self.position);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let rest = query.get(line_start..).unwrap_or("");
        let text = rest.split('\n').next().unwrap_or("").trim_end_matches('\r');
        // Tabs are copied so the caret lines up however the terminal expands them.
        let pad: String = before
            .get(line_start..)
            .unwrap_or("")
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{self} at line {line} column {column}\n{text}\n{pad}^")
    }
}

/// The query up to `position`, clamped to its length and moved back onto a char boundary, so a
/// stale or hand-made position can never make [`SoqlError::describe`] panic.
fn before_position(query: &str, position: usize) -> &str {
    let mut end = position.min(query.len());
    while end > 0 && !query.is_char_boundary(end) {
        end -= 1;
    }
    query.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_salesforce() {
        let e = SoqlError::invalid_field("'LIMIT' is not allowed", 23);
        assert_eq!(e.to_string(), "INVALID_FIELD, 'LIMIT' is not allowed");
    }

    #[test]
    fn describe_points_at_the_position() {
        let q = "SELECT Id FROM Account LIMIT 10";
        let e = SoqlError::invalid_field("'LIMIT' is not allowed", 23);
        assert_eq!(
            e.describe(q),
            "INVALID_FIELD, 'LIMIT' is not allowed at line 1 column 24\n\
             SELECT Id FROM Account LIMIT 10\n                       ^"
        );
    }

    #[test]
    fn describe_handles_lines_tabs_and_multibyte_text() {
        let q = "SELECT Id\nFROM\tAccount WHERE Name = 'é' FORM";
        let pos = q.find("FORM").unwrap_or(0);
        let e = SoqlError::malformed("unexpected token: 'FORM'", pos);
        assert_eq!(e.line_column(q), (2, 31));
        let text = e.describe(q);
        let caret = format!("    \t{}^", " ".repeat(25));
        assert!(text.ends_with(&format!("FROM\tAccount WHERE Name = 'é' FORM\n{caret}")));
        assert!(text.starts_with("MALFORMED_QUERY, unexpected token: 'FORM' at line 2 column 31\n"));
    }

    #[test]
    fn describe_survives_positions_outside_or_inside_characters() {
        let q = "é";
        for position in [0, 1, 2, 99] {
            let _ = SoqlError::malformed("x", position).describe(q);
        }
        assert_eq!(SoqlError::malformed("x", 1).line_column(q), (1, 1));
        assert_eq!(SoqlError::malformed("x", 99).line_column(q), (1, 2));
    }
}
