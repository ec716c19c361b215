//! The wire formats (docs/design.md#4-sync-protocol): encode and decode every message in JSON or binary, zstd, the
//! content hash and the vector clock helpers.

use crate::error::{guard, Result};
use crate::feed::ChangeSet;
use crate::snapshot::Snapshot;
use crate::state::{clock_from_map, clock_to_map, SyncOperation, SyncState};
use std::collections::HashMap;

/// The two forms of every wire message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Encoding {
    /// Versioned JSON text.
    Json,
    /// The compact binary form.
    Binary,
}

impl From<Encoding> for statesync::Encoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Json => statesync::Encoding::Json,
            Encoding::Binary => statesync::Encoding::Binary,
        }
    }
}

/// The version of the wire formats this build writes and reads.
#[uniffi::export]
pub fn wire_format() -> Result<u64> {
    guard(|| Ok(statesync::WIRE_FORMAT))
}

/// Encodes a state.
#[uniffi::export]
pub fn encode_state(state: SyncState, encoding: Encoding) -> Result<Vec<u8>> {
    guard(|| Ok(statesync::encode(&state.into_core()?, encoding.into())))
}

/// Encodes a change set.
#[uniffi::export]
pub fn encode_change_set(changes: ChangeSet, encoding: Encoding) -> Result<Vec<u8>> {
    guard(|| Ok(statesync::encode(&changes.into_core()?, encoding.into())))
}

/// Encodes a snapshot.
#[uniffi::export]
pub fn encode_snapshot(snapshot: Snapshot, encoding: Encoding) -> Result<Vec<u8>> {
    guard(|| Ok(statesync::encode(&snapshot.into_core()?, encoding.into())))
}

/// Encodes a list of pending operations.
#[uniffi::export]
pub fn encode_operations(operations: Vec<SyncOperation>, encoding: Encoding) -> Result<Vec<u8>> {
    guard(|| {
        let ops = operations.into_iter().map(SyncOperation::into_core).collect::<statesync::Result<Vec<_>>>()?;
        Ok(statesync::encode(&statesync::PendingOperations(ops), encoding.into()))
    })
}

/// Decodes and validates a state (`CORRUPT`, `UNSUPPORTED_FORMAT`, `INVALID_STATE`).
#[uniffi::export]
pub fn decode_state(bytes: Vec<u8>, encoding: Encoding) -> Result<SyncState> {
    guard(|| Ok((&statesync::decode::<statesync::SyncState>(&bytes, encoding.into())?).into()))
}

/// Decodes and validates a change set: one invalid state fails it whole.
#[uniffi::export]
pub fn decode_change_set(bytes: Vec<u8>, encoding: Encoding) -> Result<ChangeSet> {
    guard(|| Ok((&statesync::decode::<statesync::ChangeSet>(&bytes, encoding.into())?).into()))
}

/// Decodes a change set received from a peer (a page a transport of your own pulled): its
/// format, size and structure are checked as `decodeChangeSet` checks them, but each state is
/// left to the replica that applies it (`applyChanges`, a sync round), which refuses an invalid
/// one alone instead of the whole page.
#[uniffi::export]
pub fn decode_page(bytes: Vec<u8>, encoding: Encoding) -> Result<ChangeSet> {
    guard(|| Ok((&statesync::decode_page(&bytes, encoding.into())?).into()))
}

/// Decodes and validates a snapshot.
#[uniffi::export]
pub fn decode_snapshot(bytes: Vec<u8>, encoding: Encoding) -> Result<Snapshot> {
    guard(|| Ok((&statesync::decode::<statesync::Snapshot>(&bytes, encoding.into())?).into()))
}

/// Decodes and validates a list of pending operations.
#[uniffi::export]
pub fn decode_operations(bytes: Vec<u8>, encoding: Encoding) -> Result<Vec<SyncOperation>> {
    guard(|| {
        let ops = statesync::decode::<statesync::PendingOperations>(&bytes, encoding.into())?;
        Ok(ops.0.iter().map(Into::into).collect())
    })
}

/// Compresses encoded bytes (one zstd frame).
#[uniffi::export]
pub fn compress(bytes: Vec<u8>) -> Result<Vec<u8>> {
    guard(|| Ok(statesync::compress(&bytes)))
}

/// Decompresses what `compress` wrote (`CORRUPT` for anything else).
#[uniffi::export]
pub fn decompress(bytes: Vec<u8>) -> Result<Vec<u8>> {
    guard(|| Ok(statesync::decompress(&bytes)?))
}

/// How two vector clocks relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ClockOrdering {
    /// The same writes.
    Equal,
    /// The left clock is strictly older.
    Before,
    /// The left clock is strictly newer.
    After,
    /// Each has seen a write the other has not.
    Concurrent,
}

/// How clock `a` relates to clock `b`.
#[uniffi::export]
pub fn compare_clocks(a: HashMap<String, u64>, b: HashMap<String, u64>) -> Result<ClockOrdering> {
    guard(|| {
        Ok(match clock_from_map(a).compare(&clock_from_map(b)) {
            statesync::ClockOrdering::Equal => ClockOrdering::Equal,
            statesync::ClockOrdering::Before => ClockOrdering::Before,
            statesync::ClockOrdering::After => ClockOrdering::After,
            statesync::ClockOrdering::Concurrent => ClockOrdering::Concurrent,
        })
    })
}

/// The entrywise maximum of two clocks.
#[uniffi::export]
pub fn merge_clocks(a: HashMap<String, u64>, b: HashMap<String, u64>) -> Result<HashMap<String, u64>> {
    guard(|| Ok(clock_to_map(&clock_from_map(a).merged(&clock_from_map(b)))))
}

/// True when `a` has seen every write `b` has.
#[uniffi::export]
pub fn dominates(a: HashMap<String, u64>, b: HashMap<String, u64>) -> Result<bool> {
    guard(|| Ok(clock_from_map(a).dominates(&clock_from_map(b))))
}

/// A clock after `incrementClock`, and the counter it gave the node.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ClockIncrement {
    /// The clock with the node's counter one higher.
    pub clock: HashMap<String, u64>,
    /// The node's new counter.
    pub value: u64,
}

/// Adds one to `node`'s counter in `clock` (a missing or zero entry counts as 0): the clock of
/// a new write by `node`, and that write's counter.
#[uniffi::export]
pub fn increment_clock(clock: HashMap<String, u64>, node: String) -> Result<ClockIncrement> {
    guard(|| {
        let mut clock = clock_from_map(clock);
        let value = clock.increment(&node);
        Ok(ClockIncrement { clock: clock_to_map(&clock), value })
    })
}

/// The content hash of a state (16 hex characters) for its data (JSON text) and tombstone flag.
#[uniffi::export]
pub fn state_hash(data: String, deleted: bool) -> Result<String> {
    guard(|| Ok(statesync::state_hash(&statesync::data_from_json(&data)?, deleted)))
}

/// The canonical JSON text (RFC 8785) of JSON text.
#[uniffi::export]
pub fn canonical_json(json: String) -> Result<String> {
    guard(|| Ok(statesync::canonical_json(&statesync::data_from_json(&json)?)))
}
