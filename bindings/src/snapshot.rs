//! Export/import snapshots (docs/design.md#5-export-and-import).

use crate::error::{guard, Result};
use crate::state::{SyncConflict, SyncOperation, SyncState};

/// A replica's full content at one instant: every state (tombstones included), the pending
/// queue and the unresolved conflicts.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Snapshot {
    /// Format version.
    pub format: u64,
    /// The replica that exported it.
    pub node_id: String,
    /// Every state, ordered by id.
    pub states: Vec<SyncState>,
    /// The pending queue, in order.
    pub pending: Vec<SyncOperation>,
    /// Unresolved manual conflicts, in detection order.
    pub conflicts: Vec<SyncConflict>,
}

impl From<&statesync::Snapshot> for Snapshot {
    fn from(s: &statesync::Snapshot) -> Self {
        Snapshot {
            format: s.format,
            node_id: s.node_id.clone(),
            states: s.states.iter().map(Into::into).collect(),
            pending: s.pending.iter().map(Into::into).collect(),
            conflicts: s.conflicts.iter().map(Into::into).collect(),
        }
    }
}

impl Snapshot {
    /// The core snapshot (validated by the core wherever it is used).
    pub(crate) fn into_core(self) -> statesync::Result<statesync::Snapshot> {
        Ok(statesync::Snapshot {
            format: self.format,
            node_id: self.node_id,
            states: self.states.into_iter().map(SyncState::into_core).collect::<statesync::Result<_>>()?,
            pending: self.pending.into_iter().map(SyncOperation::into_core).collect::<statesync::Result<_>>()?,
            conflicts: self.conflicts.into_iter().map(SyncConflict::into_core).collect::<statesync::Result<_>>()?,
        })
    }
}

/// The JSON text of a snapshot (the export file format).
#[uniffi::export]
pub fn snapshot_to_json(snapshot: Snapshot) -> Result<String> {
    guard(|| Ok(snapshot.into_core()?.to_json()))
}

/// Parses and validates a snapshot: truncated or garbled text is `CORRUPT`, an unknown format
/// `UNSUPPORTED_FORMAT`, an inconsistent state `INVALID_STATE`.
#[uniffi::export]
pub fn snapshot_from_json(json: String) -> Result<Snapshot> {
    guard(|| Ok((&statesync::Snapshot::from_json(&json)?).into()))
}

/// The snapshot format this build writes and reads.
#[uniffi::export]
pub fn snapshot_format() -> Result<u64> {
    guard(|| Ok(statesync::SNAPSHOT_FORMAT))
}
