//! Export/import snapshots: every state (tombstones included), the pending queue and the
//! conflicts of a replica, as versioned JSON.

use crate::model::conflict::SyncConflict;
use crate::model::error::{Result, SyncError};
use crate::model::operation::SyncOperation;
use crate::model::state::{validate_node_id, SyncState};
use serde::{Deserialize, Serialize};

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_FORMAT: u64 = 1;

/// A replica's full content at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_FORMAT`]).
    pub format: u64,
    /// The replica that exported it.
    pub node_id: String,
    /// Every state, tombstones included, ordered by id.
    pub states: Vec<SyncState>,
    /// The pending queue, in order.
    pub pending: Vec<SyncOperation>,
    /// Unresolved manual conflicts, in detection order.
    pub conflicts: Vec<SyncConflict>,
}

impl Snapshot {
    /// The JSON text of the snapshot.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a snapshot always serialises")
    }

    /// Parses and fully validates a snapshot. Truncated or garbled text is `Corrupt`, an unknown
    /// format version is `UnsupportedFormat`, an inconsistent state is `InvalidState`.
    pub fn from_json(text: &str) -> Result<Snapshot> {
        let bytes = text.as_bytes();
        super::check_format(bytes, "snapshot", SNAPSHOT_FORMAT)?;
        crate::model::json_text::check_integer_literals(bytes).map_err(SyncError::InvalidState)?;
        // From the bytes, not through a `Value` (one reader per type: docs/adr/0014).
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| SyncError::Corrupt(format!("malformed snapshot: {e}")))?;
        snapshot.validate()?;
        Ok(snapshot)
    }

    /// Checks every state, operation and conflict in the snapshot.
    pub fn validate(&self) -> Result<()> {
        if self.format != SNAPSHOT_FORMAT {
            return Err(SyncError::UnsupportedFormat(format!("snapshot format {}", self.format)));
        }
        validate_node_id(&self.node_id).map_err(SyncError::InvalidState)?;
        let mut seen = std::collections::HashSet::new();
        for state in &self.states {
            state.validate()?;
            if !seen.insert(state.id.as_str()) {
                return Err(SyncError::InvalidState(format!("snapshot holds state {:?} twice", state.id)));
            }
        }
        self.pending.iter().try_for_each(SyncOperation::validate)?;
        for c in &self.conflicts {
            c.local.validate()?;
            c.remote.validate()?;
            if c.detected_at > crate::model::clock::MAX_COUNTER {
                return Err(SyncError::InvalidState(format!(
                    "conflict {:?}: detected_at {} is beyond 2^53 - 1",
                    c.conflict_id, c.detected_at
                )));
            }
        }
        Ok(())
    }
}
