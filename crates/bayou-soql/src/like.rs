//! LIKE patterns: `%` is any run of characters, `_` exactly one, `\%` and `\_` the characters
//! themselves; matching ignores case, as Salesforce's does.
//!
//! The pattern is kept decoded (a list of elements) rather than as text so a literal `%` written
//! `\%` cannot be confused with a wildcard later. Matching is the two-pointer wildcard algorithm:
//! no recursion and at most `O(text × pattern)` steps, so a hostile pattern like `%a%a%a%…b`
//! cannot blow up.

use std::fmt;

use crate::strings::write_quoted;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LikeElement {
    /// This character (case-insensitively).
    Char(char),
    /// `_`: any one character.
    AnyChar,
    /// `%`: any run of characters, including none.
    AnyChars,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LikePattern {
    elements: Vec<LikeElement>,
}

impl LikePattern {
    /// Builds a pattern from decoded string characters, each flagged when it was written escaped
    /// (`\%`, `\_`).
    pub fn from_chars(chars: impl IntoIterator<Item = (char, bool)>) -> Self {
        let elements = chars
            .into_iter()
            .map(|(c, escaped)| match c {
                '%' if !escaped => LikeElement::AnyChars,
                '_' if !escaped => LikeElement::AnyChar,
                c => LikeElement::Char(c),
            })
            .collect();
        Self { elements }
    }

    /// Reads pattern text as it would appear between the quotes after unescaping, with `%`
    /// and `_` as wildcards (so there is no way to write a literal `%` here).
    pub fn wildcards(text: &str) -> Self {
        Self::from_chars(text.chars().map(|c| (c, false)))
    }

    pub fn elements(&self) -> &[LikeElement] {
        &self.elements
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.elements;
        let (mut t, mut p) = (0, 0);
        // Where the last `%` was and how much text it has swallowed so far.
        let mut backtrack: Option<(usize, usize)> = None;
        while let Some(&c) = text.get(t) {
            match pattern.get(p) {
                Some(LikeElement::AnyChars) => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(LikeElement::AnyChar) => {
                    t += 1;
                    p += 1;
                    continue;
                }
                Some(LikeElement::Char(wanted)) if same_ignoring_case(*wanted, c) => {
                    t += 1;
                    p += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((star, swallowed)) => {
                    backtrack = Some((star, swallowed + 1));
                    p = star + 1;
                    t = swallowed + 1;
                }
                None => return false,
            }
        }
        pattern
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|e| *e == LikeElement::AnyChars))
    }
}

pub(crate) fn same_ignoring_case(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// The pattern as a quoted SOQL string.
impl fmt::Display for LikePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(
            f,
            self.elements.iter().map(|e| match e {
                LikeElement::AnyChars => ('%', false),
                LikeElement::AnyChar => ('_', false),
                LikeElement::Char(c) => (*c, *c == '%' || *c == '_'),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(pattern: &str, text: &str) -> bool {
        LikePattern::wildcards(pattern).matches(text)
    }

    #[test]
    fn wildcards() {
        assert!(like("Acme%", "Acme Corp"));
        assert!(like("%corp", "Acme Corp"));
        assert!(like("%me c%", "Acme Corp"));
        assert!(like("A_me", "Acme"));
        assert!(!like("A_me", "Ame"));
        assert!(like("%", ""));
        assert!(like("", ""));
        assert!(!like("", "x"));
        assert!(!like("_", ""));
        assert!(like("%%a%%", "banana"));
        assert!(!like("a%b", "acbx"));
        assert!(like("a%b", "acbxb"));
    }

    #[test]
    fn case_is_ignored() {
        assert!(like("ÉCOLE%", "école normale"));
        assert!(like("acme", "ACME"));
    }

    #[test]
    fn escaped_wildcards_are_literal() {
        let pattern = LikePattern::from_chars([('1', false), ('0', false), ('%', true)]);
        assert!(pattern.matches("10%"));
        assert!(!pattern.matches("100"));
        assert_eq!(pattern.to_string(), "'10\\%'");
        assert_eq!(LikePattern::wildcards("a%_'").to_string(), "'a%_\\''");
    }

    #[test]
    fn hostile_patterns_finish() {
        let pattern = format!("{}b", "%a".repeat(200));
        assert!(!like(&pattern, &"a".repeat(2000)));
    }
}
