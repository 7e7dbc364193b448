//! Replay ids on the Pub/Sub API: the CometD replay id (the log's sequence), as 8 bytes
//! big-endian. Salesforce's are opaque bytes; Bayou's are this number, so an id seen on one API
//! is the same event on the other.

use bytes::Bytes;

/// The wire form of `replay_id`.
pub fn encode(replay_id: u64) -> Bytes {
    Bytes::copy_from_slice(&replay_id.to_be_bytes())
}

/// The number in a client's replay id; `None` when it is not 8 bytes (corrupted).
pub fn decode(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bytes_big_endian() {
        assert_eq!(&encode(258)[..], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(decode(&encode(u64::MAX)), Some(u64::MAX));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[]), None);
    }
}
