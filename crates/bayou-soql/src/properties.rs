//! Property tests: the parser never panics, whatever it is given; generated queries — rendered
//! with random keyword case, spacing, `<>`/`!=`, time-zone offsets and redundant parentheses —
//! parse to the query they were generated from, and print back to text that re-parses to it;
//! and evaluation agrees with a direct reading of generated AND/OR trees.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::ast::{ClausePositions, CompareOp, Condition, Ident, NullsOrder, OrderBy, Query, Span};
use crate::date_literal::DateLiteral;
use crate::dates::{civil_from_days, days_from_civil, Date, DateTime, MS_PER_DAY};
use crate::eval::{evaluate, EvalContext};
use crate::filter::parse_subscription_filter;
use crate::like::{LikeElement, LikePattern};
use crate::literal::Literal;
use crate::parse;
use crate::parser::is_reserved;

// ---------------------------------------------------------------------------------------------
// Never panics.

const VOCABULARY: &[&str] = &[
    "SELECT",
    "select",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "GROUP",
    "HAVING",
    "TYPEOF",
    "COUNT",
    "(",
    ")",
    ",",
    ".",
    ":",
    "&",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "Id",
    "Name",
    "Account",
    "Status__c",
    "'x'",
    "'a\\'b'",
    "'%_\\%'",
    "'",
    "\\",
    "5",
    "-3",
    "1.5",
    "007",
    "2024-01-31",
    "2024-01-31T10:00:00Z",
    "2024-01-31T10:00:00.5+01:00",
    "2024-02-30",
    "TODAY",
    "LAST_N_DAYS",
    "LAST_N_DAYS:3",
    "NEXT_N_DAYS",
    "LAST_QUARTER",
    "null",
    "true",
    "FALSE",
    "99999999999999999999",
    "\n",
    "é",
    "#",
];

fn soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(VOCABULARY), 0..40),
        any::<bool>(),
    )
        .prop_map(|(words, tight)| words.join(if tight { "" } else { " " }))
}

/// If the text parses, its canonical form must parse to an equal query, and print the same.
fn check_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(query) = parse(text) {
        let printed = query.to_string();
        let reparsed = parse(&printed);
        prop_assert!(
            reparsed.is_ok(),
            "{text:?} printed as {printed:?}: {reparsed:?}"
        );
        let reparsed = reparsed.unwrap_or_else(|_| query.clone());
        prop_assert_eq!(&reparsed, &query, "{:?} printed as {:?}", text, printed);
        prop_assert_eq!(reparsed.to_string(), printed);
        let _ = query.validate_for_pushtopic();
    }
    Ok(())
}

proptest! {
    #[test]
    fn never_panics_on_any_string(text in any::<String>()) {
        if let Err(e) = parse(&text) {
            let _ = e.describe(&text);
        }
        let _ = parse_subscription_filter(&text);
        check_round_trip(&text)?;
    }

    #[test]
    fn never_panics_on_token_soup(text in soup()) {
        check_round_trip(&text)?;
        let _ = parse_subscription_filter(&text);
    }

    #[test]
    fn never_panics_on_token_soup_after_a_valid_prefix(
        prefix in prop::sample::select(&[
            "SELECT Id FROM Account WHERE ",
            "SELECT Id, ",
            "SELECT Id FROM Account ",
            "SELECT Id FROM Account WHERE Name IN (",
            "SELECT Id FROM Account WHERE (Name = 'x' OR ",
        ][..]),
        text in soup(),
    ) {
        let text = format!("{prefix}{text}");
        if let Err(e) = parse(&text) {
            prop_assert!(e.position <= text.len());
            let _ = e.describe(&text);
        }
        check_round_trip(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Generated queries.

fn name() -> impl Strategy<Value = String> {
    let plain = ("[A-Za-z][A-Za-z0-9_]{0,8}", any::<bool>())
        .prop_map(|(n, custom)| if custom { format!("{n}__c") } else { n })
        .prop_filter("reserved word", |n| !is_reserved(n));
    // Names that are also keywords somewhere else, or date literals.
    let tricky = prop::sample::select(vec!["Order", "By", "Today", "Using", "Nulls_c", "Id"])
        .prop_map(String::from);
    prop_oneof![9 => plain, 1 => tricky]
}

fn object() -> impl Strategy<Value = Ident> {
    prop_oneof![9 => ident(), 1 => Just(Ident::new("Group", Span::default()))]
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(|n| Ident::new(n, Span::default()))
}

fn date() -> impl Strategy<Value = Date> {
    (0i64..=9999, 1u32..=12, 1u32..=31)
        .prop_filter_map("no such day", |(y, m, d)| Date::new(y, m, d))
}

fn datetime() -> impl Strategy<Value = DateTime> {
    let min = days_from_civil(0, 1, 1) * MS_PER_DAY;
    let max = days_from_civil(10_000, 1, 1) * MS_PER_DAY;
    prop_oneof![(min..max), (min / 1000..max / 1000).prop_map(|s| s * 1000),]
        .prop_filter_map("out of range", DateTime::from_epoch_ms)
}

fn date_literal() -> impl Strategy<Value = DateLiteral> {
    use DateLiteral::*;
    prop_oneof![
        prop::sample::select(vec![
            Yesterday, Today, Tomorrow, LastWeek, ThisWeek, NextWeek, LastMonth, ThisMonth,
            NextMonth, Last90Days, Next90Days, LastYear, ThisYear, NextYear,
        ]),
        any::<u32>().prop_map(LastNDays),
        any::<u32>().prop_map(NextNDays),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Boolean),
        any::<i64>().prop_map(Literal::Integer),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Literal::Decimal),
        any::<String>().prop_map(Literal::String),
        date().prop_map(Literal::Date),
        datetime().prop_map(Literal::DateTime),
        date_literal().prop_map(Literal::DateLiteral),
    ]
}

fn like_pattern() -> impl Strategy<Value = LikePattern> {
    let element = prop_oneof![
        any::<char>().prop_map(LikeElement::Char),
        Just(LikeElement::AnyChar),
        Just(LikeElement::AnyChars),
    ];
    prop::collection::vec(element, 0..8).prop_map(|elements| {
        LikePattern::from_chars(elements.into_iter().map(|e| match e {
            LikeElement::AnyChars => ('%', false),
            LikeElement::AnyChar => ('_', false),
            LikeElement::Char(c) => (c, true),
        }))
    })
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    prop::sample::select(vec![Eq, Ne, Lt, Le, Gt, Ge])
}

fn leaf() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (ident(), compare_op(), literal()).prop_map(|(field, op, value)| Condition::Compare {
            field,
            op,
            value
        }),
        (
            ident(),
            prop::collection::vec(literal(), 1..4),
            any::<bool>()
        )
            .prop_map(|(field, values, negated)| Condition::In {
                field,
                values,
                negated
            }),
        (ident(), like_pattern()).prop_map(|(field, pattern)| Condition::Like { field, pattern }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            prop::collection::vec(inner, 2..4).prop_map(Condition::Or),
        ]
    })
}

fn order_by() -> impl Strategy<Value = OrderBy> {
    (
        ident(),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            NullsOrder::First,
            NullsOrder::Last,
        ])),
    )
        .prop_map(|(field, descending, nulls)| OrderBy {
            field,
            descending,
            nulls,
        })
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::collection::vec(ident(), 1..5),
        object(),
        prop::option::of(condition()),
        prop::collection::vec(order_by(), 0..3),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(mut fields, object, condition, order_by, limit, offset)| {
            let mut seen: Vec<Ident> = Vec::new();
            fields.retain(|f| {
                let new = !seen.contains(f);
                seen.push(f.clone());
                new
            });
            Query {
                object,
                fields,
                condition,
                order_by,
                limit,
                offset,
                clauses: ClausePositions::default(),
            }
        })
}

/// Makes rendering choices from a seed: keyword case, spacing, alternative spellings.
struct Style(u64);

impl Style {
    fn flip(&mut self) -> bool {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }

    fn pick(&mut self, n: u64) -> u64 {
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

fn render_query(q: &Query, s: &mut Style) -> String {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_queries_parse_to_themselves_and_print_back(q in query(), seed in 1u64..) {
        let text = render_query(&q, &mut Style(seed));
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.as_ref().err().map(|e| e.describe(&text)));
        let parsed = parsed.unwrap_or_else(|_| q.clone());
        prop_assert_eq!(&parsed, &q, "{:?}", text);
        let printed = parsed.to_string();
        prop_assert_eq!(parse(&printed).ok(), Some(q), "{:?}", printed);
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation against a reference reading.

#[derive(Debug, Clone)]
enum Tree {
    /// Field index, test kind.
    Leaf(usize, u8),
    And(Vec<Tree>),
    Or(Vec<Tree>),
}

const LEAF_KINDS: u8 = 6;

/// Text for leaf `kind` on field `F{i}`, and what it means for a value (`None` = missing/null).
fn leaf_text(i: usize, kind: u8) -> String {
    match kind {
        0 => format!("F{i} = true"),
        1 => format!("F{i} = FALSE"),
        2 => format!("F{i} != true"),
        3 => format!("F{i} IN (true)"),
        4 => format!("F{i} NOT IN (false)"),
        _ => format!("F{i} = null"),
    }
}

fn leaf_holds(value: Option<bool>, kind: u8) -> bool {
    match kind {
        0 | 3 => value == Some(true),
        1 => value == Some(false),
        2 => value != Some(true),
        4 => value != Some(false),
        _ => value.is_none(),
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    (0usize..4, 0..LEAF_KINDS)
        .prop_map(|(i, k)| Tree::Leaf(i, k))
        .prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..5).prop_map(Tree::And),
                prop::collection::vec(inner, 2..5).prop_map(Tree::Or),
            ]
        })
}

fn reference(tree: &Tree, values: &[Option<bool>]) -> bool {
    match tree {
        Tree::Leaf(i, k) => leaf_holds(values.get(*i).copied().flatten(), *k),
        Tree::And(items) => items.iter().all(|t| reference(t, values)),
        Tree::Or(items) => items.iter().any(|t| reference(t, values)),
    }
}

/// Minimal parentheses (only an OR inside an AND, and same-operator nesting), so the parser's
/// precedence is exercised, plus redundant ones when `extra` says so.
fn render_tree(tree: &Tree, extra: &mut Style) -> String {
    let join = |items: &[Tree], op: &str, extra: &mut Style, inside_and: bool| {
        items
            .iter()
            .map(|t| {
                let text = render_tree(t, extra);
                let needed = match t {
                    Tree::Leaf(..) => false,
                    Tree::And(_) => inside_and,
                    Tree::Or(_) => true,
                };
                if needed || extra.pick(5) == 0 {
                    format!("({text})")
                } else {
                    text
                }
            })
            .collect::<Vec<_>>()
            .join(op)
    };
    match tree {
        Tree::Leaf(i, k) => leaf_text(*i, *k),
        Tree::And(items) => join(items, " AND ", extra, true),
        Tree::Or(items) => join(items, " or ", extra, false),
    }
}

fn record(values: &[Option<bool>]) -> Map<String, Value> {
    let mut map = Map::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(b) => {
                map.insert(format!("f{i}"), Value::Bool(*b));
            }
            None if i % 2 == 0 => {
                map.insert(format!("F{i}"), Value::Null);
            }
            None => {}
        }
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_agrees_with_the_reference(
        tree in tree(),
        values in prop::collection::vec(prop::option::of(any::<bool>()), 4),
        seed in 1u64..,
    ) {
        let text = format!("SELECT Id FROM Thing__c WHERE {}", render_tree(&tree, &mut Style(seed)));
        let query = parse(&text);
        prop_assert!(query.is_ok(), "{text}: {:?}", query.as_ref().err());
        let condition = query.ok().and_then(|q| q.condition);
        prop_assert!(condition.is_some());
        let got = condition.is_some_and(|c| evaluate(&c, &record(&values), &EvalContext::default()));
        prop_assert_eq!(got, reference(&tree, &values), "{}", text);
    }

    /// Unparenthesised chains: AND binds tighter than OR.
    #[test]
    fn precedence_agrees_with_the_reference(
        leaves in prop::collection::vec((0usize..4, 0..LEAF_KINDS), 1..12),
        ands in prop::collection::vec(any::<bool>(), 11),
        values in prop::collection::vec(prop::option::of(any::<bool>()), 4),
    ) {
        let mut text = String::new();
        // OR of AND-groups, built alongside the text.
        let mut groups: Vec<bool> = vec![true];
        for (n, (i, k)) in leaves.iter().enumerate() {
            let and = ands.get(n).copied().unwrap_or(true);
            if n > 0 {
                text.push_str(if and { " AND " } else { " OR " });
                if !and {
                    groups.push(true);
                }
            }
            text.push_str(&leaf_text(*i, *k));
            let holds = leaf_holds(values.get(*i).copied().flatten(), *k);
            if let Some(last) = groups.last_mut() {
                *last &= holds;
            }
        }
        let expected = groups.iter().any(|g| *g);
        let query = format!("SELECT Id FROM X WHERE {text}");
        let condition = parse(&query).ok().and_then(|q| q.condition);
        prop_assert!(condition.is_some(), "{}", query);
        let got = condition.is_some_and(|c| evaluate(&c, &record(&values), &EvalContext::default()));
        prop_assert_eq!(got, expected, "{}", text);
    }
}
