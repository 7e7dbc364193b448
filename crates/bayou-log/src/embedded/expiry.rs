//! Removing expired events, on a background thread so publishers never wait for it.
//!
//! Creation times never decrease along the log, so a pass scans from the oldest event and stops
//! at the first event younger than the shortest retention age: everything after it is younger
//! still. An event is removed when the rule governing its channel says it is too old. A rule
//! with `max_bytes` additionally removes its oldest events once its channels hold more; that
//! needs a scan of the whole log and is done only when such a rule exists. Each removal raises
//! the rule's *floor*, persisted with the removal itself, which is how an expired replay id is
//! recognised.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use bayou_protocol::time::now_millis;
use fjall::PersistMode;

use super::{codec, periodic, Inner, META_EXPIRED, META_FLOOR_PREFIX, META_HEAD};
use crate::LogError;

/// Runs an expiry pass every `interval` on a thread of its own.
pub(super) fn spawn(inner: Weak<Inner>, interval: Duration) -> Result<periodic::Handle, LogError> {
    periodic::spawn("bayou-log-expiry", inner, interval, |inner| {
        match expire(inner, now_millis()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired events removed"),
            Err(e) => tracing::warn!(error = %e, "event expiry failed"),
        }
    })
}

/// One expiry pass at time `now_ms`. Returns how many events were removed.
pub(super) fn expire(inner: &Inner, now_ms: i64) -> Result<u64, LogError> {
    let rules = inner.policy.rules();
    let age_ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let youngest_cutoff = now_ms.saturating_sub(age_ms(inner.policy.shortest_age()));
    let mut doomed: Vec<Doomed> = Vec::new();
    for guard in inner.events.iter() {
        let (key, value) = guard.into_inner()?;
        let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
        let (created_ms, channel, _) = codec::decode_header(replay_id, &value)?;
        if created_ms >= youngest_cutoff {
            break;
        }
        let rule = inner.policy.rule_index(channel);
        if created_ms < now_ms.saturating_sub(age_ms(rules[rule].max_age)) {
            doomed.push((replay_id, rule, channel.to_owned()));
        }
    }
    if rules.iter().any(|r| r.max_bytes.is_some()) {
        doomed.extend(over_size(inner)?);
    }
    remove(inner, doomed, 0)
}

/// Events beyond their rule's byte budget, newest kept first.
fn over_size(inner: &Inner) -> Result<Vec<Doomed>, LogError> {
    let rules = inner.policy.rules();
    let mut used = vec![0_u64; rules.len()];
    let mut doomed = Vec::new();
    for guard in inner.events.iter().rev() {
        let (key, value) = guard.into_inner()?;
        let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
        let (_, channel, _) = codec::decode_header(replay_id, &value)?;
        let rule = inner.policy.rule_index(channel);
        used[rule] += value.len() as u64;
        if rules[rule].max_bytes.is_some_and(|max| used[rule] > max) {
            doomed.push((replay_id, rule, channel.to_owned()));
        }
    }
    Ok(doomed)
}

/// Removes every event up to and including `through`, whatever its channel.
pub(super) fn expire_through(inner: &Inner, through: u64) -> Result<u64, LogError> {
    // Nothing beyond the head exists to remove, and the in-memory tail must stay contiguous.
    let through = through.min(inner.head());
    let mut doomed = Vec::new();
    for guard in inner.events.range(..=codec::key(through)) {
        let (key, value) = guard.into_inner()?;
        let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
        let (_, channel, _) = codec::decode_header(replay_id, &value)?;
        doomed.push((
            replay_id,
            inner.policy.rule_index(channel),
            channel.to_owned(),
        ));
    }
    // Every rule's floor rises to `through`, even for rules that had nothing to remove: ids up to
    // there no longer name retained events of any channel.
    let removed = remove(inner, doomed, through)?;
    Ok(removed)
}

/// Removes the index entries of the doomed events' channels for blocks of replay ids that are
/// now entirely below the oldest event left: nothing remains for a read to find there. (An
/// entry whose block still holds other events stays; a read of it finds nothing of its
/// channel, which costs that block's scan and is forgotten when the block goes.)
fn forget_empty_blocks(inner: &Inner, doomed: &[Doomed]) -> Result<(), LogError> {
    let oldest_left = match inner.events.first_key_value() {
        Some(guard) => codec::replay_id(&guard.key()?).ok_or(LogError::Corrupt(0))?,
        None => inner.head() + 1,
    };
    let empty: std::collections::HashSet<(u64, u64)> = doomed
        .iter()
        .map(|(id, _, channel)| (codec::channel_hash(channel), id / codec::INDEX_BLOCK))
        .filter(|(_, block)| (block + 1) * codec::INDEX_BLOCK <= oldest_left)
        .collect();
    for keys in empty.into_iter().collect::<Vec<_>>().chunks(10_000) {
        let mut batch = inner.db.batch();
        for (hash, block) in keys {
            batch.remove(&inner.by_channel, codec::index_key(*hash, *block));
        }
        batch.commit()?;
    }
    Ok(())
}

/// Adds the floors, and the head, to a batch that removes events: the last key may be among
/// the removed, and the head must survive it so ids are never reused.
fn record_floors_and_head(inner: &Inner, batch: &mut fjall::OwnedWriteBatch, floors: &[u64]) {
    for (rule, floor) in inner.policy.rules().iter().zip(floors) {
        let key = format!("{META_FLOOR_PREFIX}{}", rule.pattern);
        batch.insert(&inner.meta, key.as_bytes(), floor.to_be_bytes());
    }
    batch.insert(&inner.meta, META_HEAD, inner.head().to_be_bytes());
}

/// An event to remove: its replay id, its retention rule and its channel (for the index).
type Doomed = (u64, usize, String);

/// Removes the `doomed` events, with their index entries, raising each rule's floor to what it
/// lost and every floor to at least `raise_all_to`.
fn remove(inner: &Inner, mut doomed: Vec<Doomed>, raise_all_to: u64) -> Result<u64, LogError> {
    if doomed.is_empty() && raise_all_to == 0 {
        return Ok(0);
    }
    doomed.sort_unstable();
    doomed.dedup();
    let mut floors = inner.floors.write();
    for floor in floors.iter_mut() {
        *floor = (*floor).max(raise_all_to);
    }
    let mut highest = raise_all_to;
    let mut chunks: Vec<&[Doomed]> = doomed.chunks(10_000).collect();
    if chunks.is_empty() {
        chunks.push(&[]); // nothing to remove, but the raised floors must be written
    }
    for chunk in chunks {
        let mut batch = inner.db.batch();
        for (replay_id, rule, _) in chunk {
            let (replay_id, rule) = (*replay_id, *rule);
            batch.remove(&inner.events, codec::key(replay_id));
            floors[rule] = floors[rule].max(replay_id);
            highest = highest.max(replay_id);
        }
        let expired = inner
            .expired
            .fetch_add(chunk.len() as u64, Ordering::SeqCst)
            + chunk.len() as u64;
        batch.insert(&inner.meta, META_EXPIRED, expired.to_be_bytes());
        record_floors_and_head(inner, &mut batch, &floors);
        batch.commit()?;
    }
    forget_empty_blocks(inner, &doomed)?;
    // Floors must not be lost once ids are gone: sync before anyone can be told "expired".
    inner.db.persist(PersistMode::SyncData)?;
    // Have the small `meta` memtable flushed in the background, so it does not keep old
    // journals alive (which the next start would replay). Not waited for: fjall can leave a
    // sealed memtable unflushed for a long time, and expiry must not hang on it.
    inner.meta.rotate_memtable()?;
    drop(floors);
    inner.recent.write().forget_through(highest);
    Ok(doomed.len() as u64)
}
