//! The changes feed (docs/design.md#4-sync-protocol): every stored change has a local, monotonic sequence number;
//! a peer asks for the latest version of every state changed after its cursor, in pages.

use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::error::{Result, SyncError};
use crate::replica::image::Replica;

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

/// The length of `value`'s compact JSON (a state as a page of the feed carries it), counted
/// without building it: what a server cutting pages to a body limit adds up.
pub fn json_len(value: &impl serde::Serialize) -> usize {
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
