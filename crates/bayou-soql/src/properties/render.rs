//! Rendering generated queries as a person might write them: any keyword case, any spacing,
//! `<>` for `!=`, optional `ASC`, date-times in random zone offsets, redundant parentheses.

use crate::ast::{CompareOp, Condition, Ident, NullsOrder, Query};
use crate::date_literal::DateLiteral;
use crate::dates::{civil_from_days, DateTime, MS_PER_DAY};
use crate::literal::Literal;

/// Makes rendering choices from a seed: keyword case, spacing, alternative spellings.
pub(super) struct Style(pub(super) u64);

impl Style {
    pub(super) fn flip(&mut self) -> bool {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }

    pub(super) fn pick(&mut self, n: u64) -> u64 {
        self.flip();
        (self.0 >> 8) % n.max(1)
    }

    fn keyword(&mut self, word: &str) -> String {
        match self.pick(3) {
            0 => word.to_ascii_uppercase(),
            1 => word.to_ascii_lowercase(),
            _ => word
                .chars()
                .map(|c| {
                    if self.flip() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
        }
    }

    fn space(&mut self) -> &'static str {
        [" ", "  ", "\n", "\t ", " \r\n"][self.pick(5) as usize]
    }

    /// Optional space where none is needed (around punctuation and operators).
    fn gap(&mut self) -> &'static str {
        if self.flip() {
            ""
        } else {
            self.space()
        }
    }

    fn name(&mut self, ident: &Ident) -> String {
        if self.flip() {
            ident.name.clone()
        } else {
            self.keyword(&ident.name)
        }
    }
}

fn render_literal(literal: &Literal, s: &mut Style) -> String {
    match literal {
        Literal::Null => s.keyword("null"),
        Literal::Boolean(b) => s.keyword(&b.to_string()),
        Literal::DateLiteral(DateLiteral::LastNDays(n)) => {
            format!("{}{}:{}{n}", s.keyword("last_n_days"), s.gap(), s.gap())
        }
        Literal::DateLiteral(DateLiteral::NextNDays(n)) => {
            format!("{}:{n}", s.keyword("NEXT_N_DAYS"))
        }
        Literal::DateLiteral(d) => s.keyword(&d.to_string()),
        Literal::DateTime(t) => render_datetime(*t, s),
        other => other.to_string(),
    }
}

/// The instant in a random zone offset, sometimes with milliseconds spelled out.
fn render_datetime(t: DateTime, s: &mut Style) -> String {
    let offset_minutes = (s.pick(97) as i64 - 48) * 15;
    let local = t.epoch_ms() + offset_minutes * 60_000;
    let (y, m, d) = civil_from_days(local.div_euclid(MS_PER_DAY));
    if !(0..=9999).contains(&y) {
        return t.to_string();
    }
    let in_day = local.rem_euclid(MS_PER_DAY);
    let (secs, millis) = (in_day / 1000, in_day % 1000);
    let mut text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if millis != 0 || s.flip() {
        text.push_str(&format!(".{millis:03}"));
    }
    let (sign, abs) = if offset_minutes < 0 {
        ('-', -offset_minutes)
    } else {
        ('+', offset_minutes)
    };
    match (offset_minutes, s.pick(3)) {
        (0, 0) => text.push('Z'),
        (_, 1) => text.push_str(&format!("{sign}{:02}{:02}", abs / 60, abs % 60)),
        _ => text.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60)),
    }
    text
}

fn render_condition(c: &Condition, s: &mut Style) -> String {
    let operands = |items: &[Condition], op: &str, needs: fn(&Condition) -> bool, s: &mut Style| {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&format!("{}{}{}", s.space(), s.keyword(op), s.space()));
            }
            let inner = render_condition(item, s);
            // Parentheses where the tree needs them, and sometimes where it does not.
            let optional = matches!(
                item,
                Condition::Compare { .. } | Condition::In { .. } | Condition::Like { .. }
            ) || (op == "OR" && matches!(item, Condition::And(_)));
            if needs(item) || (optional && s.pick(4) == 0) {
                out.push_str(&format!("({}{inner}{})", s.gap(), s.gap()));
            } else {
                out.push_str(&inner);
            }
        }
        out
    };
    match c {
        Condition::And(items) => operands(
            items,
            "AND",
            |c| matches!(c, Condition::And(_) | Condition::Or(_)),
            s,
        ),
        Condition::Or(items) => operands(items, "OR", |c| matches!(c, Condition::Or(_)), s),
        Condition::Compare { field, op, value } => {
            let op = match op {
                CompareOp::Ne if s.flip() => "<>",
                op => op.as_str(),
            };
            format!(
                "{}{}{op}{}{}",
                s.name(field),
                s.gap(),
                s.gap(),
                render_literal(value, s)
            )
        }
        Condition::In {
            field,
            values,
            negated,
        } => {
            let not = if *negated {
                format!("{}{}", s.keyword("NOT"), s.space())
            } else {
                String::new()
            };
            let values: Vec<String> = values.iter().map(|v| render_literal(v, s)).collect();
            let sep = format!("{},{}", s.gap(), s.gap());
            format!(
                "{}{}{not}{}{}({})",
                s.name(field),
                s.space(),
                s.keyword("IN"),
                s.gap(),
                values.join(&sep)
            )
        }
        Condition::Like { field, pattern } => {
            format!(
                "{}{}{}{}{pattern}",
                s.name(field),
                s.space(),
                s.keyword("LIKE"),
                s.space()
            )
        }
    }
}

pub(super) fn render_query(q: &Query, s: &mut Style) -> String {
    let mut out = format!("{}{}", s.gap(), s.keyword("SELECT"));
    for (i, field) in q.fields.iter().enumerate() {
        if i > 0 {
            out.push_str(&format!("{},", s.gap()));
        }
        out.push_str(&format!("{}{}", s.space(), s.name(field)));
    }
    out.push_str(&format!(
        "{}{}{}{}",
        s.space(),
        s.keyword("FROM"),
        s.space(),
        s.name(&q.object)
    ));
    if let Some(c) = &q.condition {
        let text = render_condition(c, s);
        let text = if s.pick(4) == 0 {
            format!("({text})")
        } else {
            text
        };
        out.push_str(&format!(
            "{}{}{}{text}",
            s.space(),
            s.keyword("WHERE"),
            s.space()
        ));
    }
    for (i, o) in q.order_by.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!(
                "{}{}{}{}",
                s.space(),
                s.keyword("ORDER"),
                s.space(),
                s.keyword("BY")
            ));
        } else {
            out.push_str(&format!("{},", s.gap()));
        }
        out.push_str(&format!("{}{}", s.space(), s.name(&o.field)));
        if o.descending {
            out.push_str(&format!("{}{}", s.space(), s.keyword("DESC")));
        } else if s.flip() {
            out.push_str(&format!("{}{}", s.space(), s.keyword("ASC")));
        }
        match o.nulls {
            Some(NullsOrder::First) => {
                out.push_str(&format!(" {} {}", s.keyword("NULLS"), s.keyword("FIRST")))
            }
            Some(NullsOrder::Last) => {
                out.push_str(&format!(" {} {}", s.keyword("NULLS"), s.keyword("LAST")))
            }
            None => {}
        }
    }
    if let Some(limit) = q.limit {
        out.push_str(&format!(
            "{}{}{}{limit}",
            s.space(),
            s.keyword("LIMIT"),
            s.space()
        ));
    }
    if let Some(offset) = q.offset {
        out.push_str(&format!(
            "{}{}{}{offset}",
            s.space(),
            s.keyword("OFFSET"),
            s.space()
        ));
    }
    out.push_str(s.gap());
    out
}
