//! Generators for queries in the parser's canonical shape: n-ary AND/OR nodes with two or more
//! operands, unique SELECT fields, and literals of every kind.

use proptest::prelude::*;

use crate::ast::{ClausePositions, CompareOp, Condition, Ident, NullsOrder, OrderBy, Query, Span};
use crate::date_literal::DateLiteral;
use crate::dates::{epoch_ms_range, Date, DateTime};
use crate::like::{LikeElement, LikePattern};
use crate::literal::Literal;
use crate::parser::is_reserved;

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
    let (min, max) = epoch_ms_range();
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

pub(super) fn query() -> impl Strategy<Value = Query> {
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
