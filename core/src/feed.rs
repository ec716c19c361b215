//! The changes feed (DESIGN §4): every stored change has a local, monotonic sequence number;
//! a peer asks for the latest version of every state changed after its cursor, in pages.

use crate::error::{Result, SyncError};
use crate::replica::Replica;
use crate::state::{validate_collection, SyncState};
use std::sync::Arc;

/// What a sync round is about: a domain scope, never storage details.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncContext {
    /// Collections to sync; empty means all.
    pub collections: Vec<String>,
    /// Largest number of states in one change set; `None` means no limit.
    pub limit: Option<usize>,
}

impl SyncContext {
    /// A context from a binding's arguments, checked: every collection name valid (as a state's
    /// collection must be, see [`crate::validate_collection`]) and a `limit` of at least 1 that
    /// fits this platform's `usize`; anything else is `INVALID_INPUT`. The strictest of the
    /// checks bindings made by hand (a negative, zero or too large limit is refused, never
    /// clamped), so every host refuses the same arguments before any work starts.
    pub fn new(collections: Vec<String>, limit: Option<i64>) -> Result<SyncContext> {
        let limit = match limit {
            None => None,
            Some(l) if l < 1 => return Err(SyncError::InvalidInput(format!("limit must be at least 1, not {l}"))),
            Some(l) => Some(usize::try_from(l).map_err(|_| {
                SyncError::InvalidInput(format!(
                    "limit {l} is larger than this platform's largest page ({})",
                    usize::MAX
                ))
            })?),
        };
        let context = SyncContext { collections, limit };
        context.validate()?;
        Ok(context)
    }

    /// Every collection, no page limit.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these collections.
    pub fn collections<S: Into<String>>(collections: impl IntoIterator<Item = S>) -> Self {
        SyncContext { collections: collections.into_iter().map(Into::into).collect(), limit: None }
    }

    /// Pages of at most `limit` states.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The name under which a peer's cursor for this scope is stored: the same collections in
    /// any order give the same scope.
    pub fn scope(&self) -> String {
        let mut c: Vec<&str> = self.collections.iter().map(String::as_str).collect();
        c.sort_unstable();
        c.dedup();
        serde_json::to_string(&c).expect("strings always serialise")
    }

    /// Whether states of `collection` are in this scope (no collections: every one is).
    pub fn covers(&self, collection: &str) -> bool {
        self.collections.is_empty() || self.collections.iter().any(|c| c == collection)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for c in &self.collections {
            validate_collection(c).map_err(SyncError::InvalidInput)?;
        }
        if self.limit == Some(0) {
            return Err(SyncError::InvalidInput("limit must be at least 1".into()));
        }
        Ok(())
    }
}

/// One page of the changes feed.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSet {
    /// The latest version of each state changed after the cursor asked for, oldest change first.
    pub states: Vec<Arc<SyncState>>,
    /// Where the next request starts. Opaque to the receiver, which stores it per peer and scope.
    pub cursor: String,
    /// True when more changes follow: ask again with `cursor`.
    pub has_more: bool,
}

/// Where a cursor points in `replica`'s feed: after this sequence number. A cursor is
/// `"<feed>.<seq>"`; one from another feed (a lost store of this node, or one replaced by an
/// import) points nowhere in this one, so it starts over (`0`).
fn parse_cursor(replica: &Replica, cursor: Option<&str>) -> Result<u64> {
    let Some(c) = cursor else { return Ok(0) };
    let malformed = || SyncError::InvalidInput(format!("not a changes-feed cursor: {c:?}"));
    let (feed, seq) = c.split_once('.').ok_or_else(malformed)?;
    let seq = seq.parse::<u64>().map_err(|_| malformed())?;
    if feed.is_empty() || !feed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed());
    }
    Ok(if feed == replica.meta.feed { seq } else { 0 })
}

/// The JSON of a page without its states: `{"format":1,"states":[],"cursor":"<feed>.<seq>","has_more":false}`
/// with room for the longest cursor.
const PAGE_OVERHEAD_BYTES: usize = 96;

/// The page of changes after `cursor` in `replica`: at most `context.limit` states and, when
/// `max_bytes` is given, at most that many bytes of JSON (but always at least one state, so a
/// page always advances).
pub(crate) fn changes_since(
    replica: &Replica,
    cursor: Option<&str>,
    context: &SyncContext,
    max_bytes: Option<usize>,
) -> Result<ChangeSet> {
    context.validate()?;
    let mut after = parse_cursor(replica, cursor)?;
    if after > replica.meta.seq {
        // A cursor from this replica's future: the store was restored from an older copy.
        // Starting over is safe (applying a state twice changes nothing) and skips nothing.
        after = 0;
    }
    let limit = context.limit.unwrap_or(usize::MAX);
    let mut states = Vec::new();
    let mut last = after;
    let mut has_more = false;
    let mut bytes = PAGE_OVERHEAD_BYTES;
    for (seq, state) in replica.by_seq.range(after + 1..) {
        if !context.covers(&state.collection) {
            continue;
        }
        if states.len() == limit {
            has_more = true;
            break;
        }
        if let Some(max) = max_bytes {
            // The JSON form bounds the binary one, and what a peer's body limit measures.
            let size = json_len(&**state) + 1;
            if !states.is_empty() && bytes + size > max {
                has_more = true;
                break;
            }
            bytes += size;
        }
        states.push(state.clone());
        last = *seq;
    }
    // At the end of the feed, the cursor moves past everything numbered so far (out-of-scope
    // changes included), so the next request starts at the next change.
    let cursor = if has_more { last } else { replica.meta.seq };
    Ok(ChangeSet { states, cursor: format!("{}.{cursor}", replica.meta.feed), has_more })
}

/// The length of `value`'s compact JSON, counted without building it.
pub(crate) fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter fails only if serialising fails, which it never does for states.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::SyncContext;

    #[test]
    fn a_context_is_built_only_from_valid_arguments() {
        let context = SyncContext::new(vec!["notes".into(), "todos".into()], Some(50)).unwrap();
        assert_eq!(context, SyncContext::collections(["notes", "todos"]).with_limit(50));
        assert_eq!(SyncContext::new(vec![], None).unwrap(), SyncContext::all());
        for limit in [0, -1, i64::MIN] {
            let e = SyncContext::new(vec![], Some(limit)).unwrap_err();
            assert_eq!((e.code(), e.message()), ("INVALID_INPUT", format!("limit must be at least 1, not {limit}")));
        }
        if usize::BITS < 64 {
            assert_eq!(SyncContext::new(vec![], Some(i64::MAX)).unwrap_err().code(), "INVALID_INPUT");
        } else {
            assert_eq!(SyncContext::new(vec![], Some(i64::MAX)).unwrap().limit, Some(i64::MAX as usize));
        }
        for bad in ["", "a\u{0}b", &"c".repeat(crate::MAX_COLLECTION_BYTES + 1)] {
            let e = SyncContext::new(vec!["ok".into(), bad.to_owned()], None).unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}");
        }
    }
}
