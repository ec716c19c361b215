//! What both stores share of a pull: which collections a scope reads, how a page is cut to its
//! count and byte limits, and the binary form rows keep their versions in.

use super::{PullScope, PulledPage};
use crate::identity::{Collections, SpaceId};
use statesync::{Encoding, Result, SyncError, SyncState};
use std::sync::Arc;

/// The collections a pull reads: the readable ones, narrowed to those asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every collection.
    All,
    /// Only these (none when empty: the page is empty).
    Only(Vec<String>),
}

impl Filter {
    /// The collections `scope` reads.
    pub fn of(scope: &PullScope<'_>) -> Filter {
        if scope.wanted.is_empty() {
            return match scope.readable {
                Collections::All => Filter::All,
                Collections::None => Filter::Only(Vec::new()),
                Collections::Only(set) => Filter::Only(set.iter().cloned().collect()),
            };
        }
        let mut wanted: Vec<String> = scope.wanted.iter().filter(|c| scope.readable.contains(c)).cloned().collect();
        wanted.sort();
        wanted.dedup();
        Filter::Only(wanted)
    }

    /// True when no collection is read.
    pub fn is_empty(&self) -> bool {
        matches!(self, Filter::Only(list) if list.is_empty())
    }
}

/// Where a pull starts: after `after`, unless `after` is past the space's latest sequence
/// `latest` (a cursor from the store's future: it was restored from an older copy), where it
/// starts over as a replica's feed does. Reading a version twice changes nothing; skipping
/// one would lose it.
pub fn start(after: u64, latest: u64) -> u64 {
    if after > latest {
        0
    } else {
        after
    }
}

/// Cuts a page from `rows` (the scope's rows after the cursor, in feed order, as `(sequence,
/// binary version)`; reading at most `limit + 1` of them is enough) to the scope's limits:
/// at most `limit` states and `max_bytes` of JSON ([`statesync::json_len`] plus one per
/// state), never less than one state. `latest` is the space's latest sequence in the same
/// snapshot as the rows: the page's `next` when it holds every change up to now.
pub fn cut(
    rows: impl IntoIterator<Item = Result<(u64, Vec<u8>)>>,
    scope: &PullScope<'_>,
    latest: u64,
) -> Result<PulledPage> {
    let limit = scope.limit.max(1);
    let mut states = Vec::new();
    let mut bytes = 0usize;
    let mut last = 0;
    let mut has_more = false;
    for row in rows {
        let (seq, body) = row?;
        if states.len() == limit {
            has_more = true;
            break;
        }
        let state = decode(&body)?;
        let size = statesync::json_len(&state) + 1;
        if !states.is_empty() && bytes + size > scope.max_bytes {
            has_more = true;
            break;
        }
        bytes += size;
        states.push(Arc::new(state));
        last = seq;
    }
    Ok(PulledPage { states, next: if has_more { last } else { latest }, has_more })
}

/// The binary wire form a row keeps a version in.
pub fn encode(state: &SyncState) -> Vec<u8> {
    statesync::encode(state, Encoding::Binary)
}

/// The version a row keeps; damaged bytes are `CORRUPT`, naming the row.
pub fn decode(body: &[u8]) -> Result<SyncState> {
    statesync::decode::<SyncState>(body, Encoding::Binary)
        .map_err(|e| SyncError::Corrupt(format!("a stored version of the hub's store: {e}")))
}

/// A space id read back from a store's row: the store only writes valid ones, so another is
/// `CORRUPT`.
pub fn stored_space(text: &str) -> Result<SpaceId> {
    SpaceId::parse(text).map_err(|e| SyncError::Corrupt(format!("a space id of the hub's store ({text:?}): {e}")))
}

/// The states of a space export in id order (byte order, whatever the database's collation).
pub fn by_id(mut states: Vec<SyncState>) -> Vec<SyncState> {
    states.sort_by(|a, b| a.id.cmp(&b.id));
    states
}

/// A store failure: `STORAGE` saying what the store was doing, with the cause kept.
pub fn storage(what: impl Into<String>, error: impl std::error::Error + Send + Sync + 'static) -> SyncError {
    SyncError::Storage { message: what.into(), source: Some(Box::new(error)) }
}

/// The hub's wall clock in milliseconds, for the clock-skew check of pushed states.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_what_is_both_readable_and_wanted() {
        let readable = Collections::from_list(&["a", "b"]);
        let scope = |readable, wanted| PullScope { after: 0, readable, wanted, limit: 1, max_bytes: 1 };
        assert_eq!(Filter::of(&scope(&Collections::All, &[])), Filter::All);
        assert!(Filter::of(&scope(&Collections::None, &[])).is_empty());
        assert_eq!(Filter::of(&scope(&readable, &[])), Filter::Only(vec!["a".into(), "b".into()]));
        let wanted = ["b".to_owned(), "c".to_owned(), "b".to_owned()];
        assert_eq!(Filter::of(&scope(&readable, &wanted)), Filter::Only(vec!["b".into()]));
        assert_eq!(Filter::of(&scope(&Collections::All, &wanted)), Filter::Only(vec!["b".into(), "c".into()]));
        assert_eq!((start(5, 9), start(10, 9)), (5, 0));
    }
}
