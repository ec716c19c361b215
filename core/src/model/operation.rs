//! Pending operations: the durable, ordered queue of local writes not yet acknowledged.

use crate::model::clock::VectorClock;
use crate::model::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a local write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    /// A new state (or one re-created over its tombstone).
    Create,
    /// New data for a live state, or a decision of a conflict strategy that rewrites it.
    Update,
    /// A tombstone.
    Delete,
}

impl OperationKind {
    /// Every kind, in declaration order: what a host enum is built from.
    pub const ALL: [OperationKind; 3] = [OperationKind::Create, OperationKind::Update, OperationKind::Delete];

    /// The lower-case name used on the wire and in every binding.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Create => "create",
            OperationKind::Update => "update",
            OperationKind::Delete => "delete",
        }
    }
}

/// One local write waiting to be acknowledged by the application's transport.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncOperation {
    /// `"<node_id>:<counter>"`, unique per replica set.
    pub op_id: String,
    /// Create, update or delete.
    pub kind: OperationKind,
    /// The state written.
    pub state_id: String,
    /// Its collection.
    pub collection: String,
    /// The data written (`null` for a delete).
    pub data: Value,
    /// The state's clock after the write.
    pub clock: VectorClock,
    /// When the write happened.
    pub timestamp: Timestamp,
    /// The writing node.
    pub node_id: String,
}

impl SyncOperation {
    /// Checks what a replica relies on in an operation it reads from outside (a snapshot, a
    /// wire message): its ids, and that every number stays within 2^53 − 1, the bound every
    /// binding language holds exactly.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |e: String| crate::SyncError::InvalidState(format!("operation {:?}: {e}", self.op_id));
        crate::model::state::validate_id(&self.state_id).map_err(bad)?;
        crate::model::state::validate_node_id(&self.node_id).map_err(bad)?;
        crate::model::state::validate_data(&self.data).map_err(bad)?;
        let max = crate::model::clock::MAX_COUNTER;
        if self.timestamp.millis > max || self.clock.iter().any(|(_, v)| v > max) {
            return Err(bad("clock or timestamp beyond 2^53 - 1".into()));
        }
        Ok(())
    }
}
