//! Salesforce record ids: 15 case-sensitive characters (a 3-character key prefix naming the
//! object, then an instance part and a base-62 serial), or 18 with a case-insensitive checksum
//! suffix. REST replies and events use the 18-character form; both forms are accepted on input.

use rand::RngExt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Key prefixes of the objects the org knows.
pub mod prefix {
    pub const ORGANIZATION: &str = "00D";
    pub const USER: &str = "005";
    pub const ACCOUNT: &str = "001";
    pub const CONTACT: &str = "003";
    pub const LEAD: &str = "00Q";
    pub const OPPORTUNITY: &str = "006";
    pub const CASE: &str = "500";
    pub const TASK: &str = "00T";
    pub const PUSH_TOPIC: &str = "0IF";
    pub const STREAMING_CHANNEL: &str = "0M6";
}

/// The three-character checksum that turns a 15-character id into 18.
pub fn checksum(id15: &str) -> Option<String> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(
        bytes
            .chunks(5)
            .map(|chunk| {
                let flags = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_uppercase())
                    .fold(0usize, |acc, (i, _)| acc | (1 << i));
                SUFFIX[flags] as char
            })
            .collect(),
    )
}

/// Whether `given` names the record whose id is `id`: ids compare on their first 15
/// characters, and clients send either the 15- or the 18-character form.
pub fn same_id(id: &str, given: &str) -> bool {
    (given.len() == 15 || given.len() == 18) && id.get(..15) == given.get(..15)
}

/// The 18-character form of a 15- or 18-character id, or `None` if it is not a valid id.
pub fn to_18(id: &str) -> Option<String> {
    if !id.is_ascii() {
        return None; // (and `split_at` below could cut a character)
    }
    match id.len() {
        15 => Some(format!("{id}{}", checksum(id)?)),
        18 => {
            let (base, suffix) = id.split_at(15);
            let expected = checksum(base)?;
            expected
                .eq_ignore_ascii_case(suffix)
                .then(|| format!("{base}{expected}"))
        }
        _ => None,
    }
}

/// A new random 18-character id with `prefix`.
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let serial: String = (0..10)
        .map(|_| BASE62[rng.random_range(0..62)] as char)
        .collect();
    let id15 = format!("{prefix}5g{serial}");
    let suffix = checksum(&id15).unwrap_or_default();
    format!("{id15}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums() {
        // Examples from Salesforce documentation and public samples.
        assert_eq!(
            to_18("001D000000IqhSL").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(
            to_18("001D000000IqhSLIAZ").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(
            to_18("001D000000IqhSLiaz").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(to_18("001D000000IqhSLAAA"), None);
        assert_eq!(to_18("short"), None);
        assert_eq!(to_18("001D000000Iqh-L"), None);
    }

    #[test]
    fn new_ids_are_valid_18_character_ids() {
        let id = new_id(prefix::ACCOUNT);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("001"));
        assert_eq!(to_18(&id).as_deref(), Some(id.as_str()));
        assert_ne!(new_id(prefix::ACCOUNT), id);
    }
}
