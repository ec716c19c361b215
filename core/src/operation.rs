//! Pending operations: the durable, ordered queue of local writes not yet acknowledged.

use crate::clock::VectorClock;
use crate::timestamp::Timestamp;
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
