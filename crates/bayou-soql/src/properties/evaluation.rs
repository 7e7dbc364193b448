//! Evaluation agrees with a direct reading of generated AND/OR trees over boolean comparisons,
//! with the minimal parentheses (so precedence matters) and with unparenthesised chains.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::render::Style;
use crate::eval::{evaluate, EvalContext};
use crate::parse;

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
