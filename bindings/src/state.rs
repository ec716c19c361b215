//! States, operations and conflicts as plain records. JSON data crosses as JSON text (`data`),
//! which each host parses with its own JSON library; everything else is typed.
//!
//! Records go back into Rust (remote states, reconcile, transports) losslessly: the mergeFields
//! history rides along as opaque JSON (`fields`), and the content hash is kept, so that a state
//! read from the wire re-encodes to the very same bytes.

use crate::error::{guard, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// JSON text of a value (never fails for values parsed from JSON).
pub(crate) fn to_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Parses the data of a state, operation or conflict record crossing back into Rust; text that
/// is not JSON is `INVALID_STATE`. Deliberately not [`statesync::data_from_json`], which is for
/// the application's data (`createState`, resolutions): a record is a state as a peer sent it,
/// and the core checks its data when it admits it (nesting depth, integers beyond
/// ±(2^53 − 1)), refusing such a state alone while the rest of its page applies. Failing the
/// conversion instead would fail the whole page.
fn parse_state_data(text: &str) -> statesync::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| statesync::SyncError::InvalidState(format!("data is not valid JSON: {e}")))
}

/// A hybrid logical clock reading, ordered by `(millis, counter, node)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Timestamp {
    /// Wall-clock milliseconds since the Unix epoch.
    pub millis: u64,
    /// Logical counter within one millisecond.
    pub counter: u32,
    /// The node that produced it.
    pub node: String,
}

impl From<&statesync::Timestamp> for Timestamp {
    fn from(t: &statesync::Timestamp) -> Self {
        Timestamp { millis: t.millis, counter: t.counter, node: t.node.clone() }
    }
}

impl From<Timestamp> for statesync::Timestamp {
    fn from(t: Timestamp) -> Self {
        statesync::Timestamp { millis: t.millis, counter: t.counter, node: t.node }
    }
}

/// A vector clock as a map (entries are never 0).
pub(crate) fn clock_to_map(clock: &statesync::VectorClock) -> HashMap<String, u64> {
    clock.iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A map as a vector clock (0 entries are dropped).
pub(crate) fn clock_from_map(map: HashMap<String, u64>) -> statesync::VectorClock {
    statesync::VectorClock::from(map.into_iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// One named piece of state, as stored by a replica and exchanged between replicas.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncState {
    /// Unique id within the replica set.
    pub id: String,
    /// Domain grouping used for scoped sync and per-collection strategies.
    pub collection: String,
    /// The application's data as JSON text (`null` once deleted).
    pub data: String,
    /// Which writes this version has seen: node id → counter.
    pub clock: HashMap<String, u64>,
    /// Hybrid logical time of the write that produced this version.
    pub timestamp: Timestamp,
    /// Node that made that write.
    pub modified_by: String,
    /// Tombstone flag: the state was deleted.
    pub deleted: bool,
    /// 1 on create, one more on each write, max of both on a merge.
    pub version: u64,
    /// 16 hex characters: the content hash of `data` and `deleted`.
    pub hash: String,
    /// The per-field history of a mergeFields state as opaque JSON text, or `null`.
    pub fields: Option<String>,
}

impl From<&statesync::SyncState> for SyncState {
    fn from(s: &statesync::SyncState) -> Self {
        SyncState {
            id: s.id.clone(),
            collection: s.collection.clone(),
            data: to_json(&s.data),
            clock: clock_to_map(&s.clock),
            timestamp: (&s.timestamp).into(),
            modified_by: s.modified_by.clone(),
            deleted: s.deleted,
            version: s.version,
            hash: s.hash.clone(),
            fields: s.fields.as_ref().map(|f| serde_json::to_string(f).unwrap_or_else(|_| "null".into())),
        }
    }
}

impl From<Arc<statesync::SyncState>> for SyncState {
    fn from(s: Arc<statesync::SyncState>) -> Self {
        SyncState::from(&*s)
    }
}

impl SyncState {
    /// The core state, not yet validated (the core validates every state it is given, and
    /// refuses an invalid one from a peer alone).
    pub(crate) fn into_core(self) -> statesync::Result<statesync::SyncState> {
        let fields = match self.fields {
            None => None,
            Some(text) => {
                // Not data (it nests deeper than the data it describes): its values are checked
                // with the state, by the core.
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| statesync::SyncError::InvalidState(format!("malformed field history: {e}")))?,
                )
            }
        };
        Ok(statesync::SyncState {
            data: parse_state_data(&self.data)?,
            id: self.id,
            collection: self.collection,
            clock: clock_from_map(self.clock),
            timestamp: self.timestamp.into(),
            modified_by: self.modified_by,
            deleted: self.deleted,
            version: self.version,
            hash: self.hash,
            fields,
        })
    }
}

/// Parses and validates a state from its JSON text (either wire form, as another replica sends
/// it): malformed or invalid text is `INVALID_STATE`.
#[uniffi::export]
pub fn state_from_json(json: String) -> Result<SyncState> {
    guard(|| Ok((&statesync::SyncState::from_json(&json)?).into()))
}

/// The compact JSON text of a state (what replicas send each other).
#[uniffi::export]
pub fn state_to_json(state: SyncState) -> Result<String> {
    guard(|| Ok(state.into_core()?.to_json()))
}

/// The complete JSON text of a state: every field spelled out.
#[uniffi::export]
pub fn state_to_complete_json(state: SyncState) -> Result<String> {
    guard(|| Ok(to_json(&state.into_core()?.to_value())))
}

/// What a local write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum OperationKind {
    /// A new state (or one re-created over its tombstone).
    Create,
    /// New data for a live state.
    Update,
    /// A tombstone.
    Delete,
}

impl From<statesync::OperationKind> for OperationKind {
    fn from(k: statesync::OperationKind) -> Self {
        match k {
            statesync::OperationKind::Create => OperationKind::Create,
            statesync::OperationKind::Update => OperationKind::Update,
            statesync::OperationKind::Delete => OperationKind::Delete,
        }
    }
}

impl From<OperationKind> for statesync::OperationKind {
    fn from(k: OperationKind) -> Self {
        match k {
            OperationKind::Create => statesync::OperationKind::Create,
            OperationKind::Update => statesync::OperationKind::Update,
            OperationKind::Delete => statesync::OperationKind::Delete,
        }
    }
}

/// One local write waiting to be acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncOperation {
    /// `"<node_id>:<counter>"`.
    pub op_id: String,
    /// Create, update or delete.
    pub kind: OperationKind,
    /// The state written.
    pub state_id: String,
    /// Its collection.
    pub collection: String,
    /// The data written, as JSON text (`null` for a delete).
    pub data: String,
    /// The state's clock after the write.
    pub clock: HashMap<String, u64>,
    /// When the write happened.
    pub timestamp: Timestamp,
    /// The writing node.
    pub node_id: String,
}

impl From<&statesync::SyncOperation> for SyncOperation {
    fn from(o: &statesync::SyncOperation) -> Self {
        SyncOperation {
            op_id: o.op_id.clone(),
            kind: o.kind.into(),
            state_id: o.state_id.clone(),
            collection: o.collection.clone(),
            data: to_json(&o.data),
            clock: clock_to_map(&o.clock),
            timestamp: (&o.timestamp).into(),
            node_id: o.node_id.clone(),
        }
    }
}

impl SyncOperation {
    /// The core operation.
    pub(crate) fn into_core(self) -> statesync::Result<statesync::SyncOperation> {
        Ok(statesync::SyncOperation {
            data: parse_state_data(&self.data)?,
            op_id: self.op_id,
            kind: self.kind.into(),
            state_id: self.state_id,
            collection: self.collection,
            clock: clock_from_map(self.clock),
            timestamp: self.timestamp.into(),
            node_id: self.node_id,
        })
    }
}

/// A concurrent remote version kept for the application to decide (strategy `manual`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncConflict {
    /// Stable id of this conflict.
    pub conflict_id: String,
    /// The state in conflict.
    pub state_id: String,
    /// The local version when the conflict was detected.
    pub local: SyncState,
    /// The concurrent remote version.
    pub remote: SyncState,
    /// Wall-clock milliseconds (hybrid clock) at detection.
    pub detected_at: u64,
}

impl From<&statesync::SyncConflict> for SyncConflict {
    fn from(c: &statesync::SyncConflict) -> Self {
        SyncConflict {
            conflict_id: c.conflict_id.clone(),
            state_id: c.state_id.clone(),
            local: (&c.local).into(),
            remote: (&c.remote).into(),
            detected_at: c.detected_at,
        }
    }
}

impl SyncConflict {
    /// The core conflict.
    pub(crate) fn into_core(self) -> statesync::Result<statesync::SyncConflict> {
        Ok(statesync::SyncConflict {
            conflict_id: self.conflict_id,
            state_id: self.state_id,
            local: self.local.into_core()?,
            remote: self.remote.into_core()?,
            detected_at: self.detected_at,
        })
    }
}
