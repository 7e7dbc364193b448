//! The sObject types the org knows, and their id key prefixes.
//!
//! Standard objects have Salesforce's prefixes; any custom object (`Name__c`) is accepted and
//! gets a stable prefix of its own, derived from its name.

use crate::ids::prefix;

const STANDARD: &[(&str, &str)] = &[
    ("Account", prefix::ACCOUNT),
    ("Contact", prefix::CONTACT),
    ("Lead", prefix::LEAD),
    ("Opportunity", prefix::OPPORTUNITY),
    ("Case", prefix::CASE),
    ("Task", prefix::TASK),
    ("PushTopic", prefix::PUSH_TOPIC),
    ("StreamingChannel", prefix::STREAMING_CHANNEL),
    // Read-only, over the org's identity: see `identity_objects.rs`.
    ("User", prefix::USER),
    ("Organization", prefix::ORGANIZATION),
];

/// The standard objects, in the order describes list them.
pub fn standard() -> impl Iterator<Item = (&'static str, &'static str)> {
    STANDARD.iter().copied()
}

/// The canonical name and key prefix of an sObject type, if the org has it. Names are matched
/// case-insensitively, as Salesforce does.
pub fn lookup(name: &str) -> Option<(String, String)> {
    if let Some((canonical, prefix)) = STANDARD.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(((*canonical).to_owned(), (*prefix).to_owned()));
    }
    let base = name
        .strip_suffix("__c")
        .or_else(|| name.strip_suffix("__C"))?;
    // Salesforce's object names are at most 40 characters.
    let valid = !base.is_empty()
        && base.len() <= 40
        && base.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !base.contains("__");
    valid.then(|| {
        (
            format!("{base}__c"),
            custom_prefix(&base.to_ascii_lowercase()),
        )
    })
}

impl crate::Org {
    /// [`lookup`], with a custom object spelled as the org first stored it: names are
    /// case-insensitive, and `invoice__c` must reach the records of `Invoice__c`.
    pub(crate) fn object(&self, name: &str) -> Option<(String, String)> {
        let (canonical, prefix) = lookup(name)?;
        if !canonical.ends_with("__c") {
            return Some((canonical, prefix));
        }
        let known = self.schema.read().spelling_of(&canonical);
        Some((known.unwrap_or(canonical), prefix))
    }
}

/// `a` plus two base-62 characters from a hash of the (lower-cased) name.
fn custom_prefix(name: &str) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let a = BASE62[(hash % 62) as usize] as char;
    let b = BASE62[((hash / 62) % 62) as usize] as char;
    format!("a{a}{b}")
}

/// Whether `name` can be a field name: letters, digits and underscores, starting with a letter.
pub fn valid_field_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 80
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_custom_objects() {
        assert_eq!(lookup("account"), Some(("Account".into(), "001".into())));
        assert_eq!(lookup("PushTopic").unwrap().1, "0IF");
        let (name, prefix) = lookup("Invoice_Statement__c").unwrap();
        assert_eq!(name, "Invoice_Statement__c");
        assert_eq!(prefix.len(), 3);
        assert_eq!(lookup("invoice_statement__c").unwrap().1, prefix);
        assert_eq!(lookup("Nope"), None);
        assert_eq!(lookup("__c"), None);
        assert_eq!(lookup("Bad-Name__c"), None);
        assert!(lookup(&format!("{}__c", "a".repeat(40))).is_some());
        assert_eq!(
            lookup(&format!("{}__c", "a".repeat(41))),
            None,
            "names are at most 40"
        );
    }
}
