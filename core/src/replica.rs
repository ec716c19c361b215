//! The replica image held in memory, and the change batch one transaction produces.
//!
//! Every public mutation runs against the image without changing it, collecting a
//! [`ChangeBatch`]; the store commits the batch durably, and only then is it applied to the image.
//! A failed commit therefore leaves both the disk and the image exactly as they were.

use crate::conflict::SyncConflict;
use crate::operation::SyncOperation;
use crate::state::SyncState;
use crate::timestamp::Hlc;
use std::collections::{BTreeMap, HashMap};

/// Replica-wide counters, persisted with every transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub node_id: String,
    /// The one counter for all local writes (vector clock entry of this node).
    pub counter: u64,
    pub hlc: Hlc,
    /// Local change sequence: every stored change gets the next value.
    pub seq: u64,
}

/// A stored state with the local sequence number of its latest change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    pub state: SyncState,
    pub seq: u64,
}

/// A recorded manual conflict with the sequence number that orders it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredConflict {
    pub conflict: SyncConflict,
    pub seq: u64,
}

/// Everything a replica knows.
#[derive(Clone, Debug)]
pub(crate) struct Replica {
    pub meta: Meta,
    pub states: HashMap<String, Stored>,
    /// Pending operations keyed by the sequence number of their write (queue order).
    pub pending: BTreeMap<u64, SyncOperation>,
    pub pending_by_id: HashMap<String, u64>,
    pub conflicts: HashMap<String, StoredConflict>,
    pub cursors: BTreeMap<(String, String), String>,
}

impl Replica {
    pub fn new(meta: Meta) -> Self {
        Replica {
            meta,
            states: HashMap::new(),
            pending: BTreeMap::new(),
            pending_by_id: HashMap::new(),
            conflicts: HashMap::new(),
            cursors: BTreeMap::new(),
        }
    }

    /// Applies a committed batch.
    pub fn apply(&mut self, batch: ChangeBatch) {
        if batch.clear {
            self.states.clear();
            self.pending.clear();
            self.pending_by_id.clear();
            self.conflicts.clear();
        }
        self.meta = batch.meta;
        self.states.extend(batch.states);
        for seq in batch.ops_removed {
            if let Some(op) = self.pending.remove(&seq) {
                self.pending_by_id.remove(&op.op_id);
            }
        }
        for (seq, op) in batch.ops_added {
            self.pending_by_id.insert(op.op_id.clone(), seq);
            self.pending.insert(seq, op);
        }
        for (id, c) in batch.conflicts {
            match c {
                Some(c) => self.conflicts.insert(id, c),
                None => self.conflicts.remove(&id),
            };
        }
        for (key, cursor) in batch.cursors {
            match cursor {
                Some(c) => self.cursors.insert(key, c),
                None => self.cursors.remove(&key),
            };
        }
    }

    /// Pending operations in queue order.
    pub fn pending_in_order(&self) -> impl Iterator<Item = &SyncOperation> {
        self.pending.values()
    }

    /// Conflicts in detection order.
    pub fn conflicts_in_order(&self) -> Vec<&SyncConflict> {
        let mut v: Vec<&StoredConflict> = self.conflicts.values().collect();
        v.sort_by_key(|c| c.seq);
        v.into_iter().map(|c| &c.conflict).collect()
    }
}

/// What one transaction changes. `None` values delete.
#[derive(Debug)]
pub(crate) struct ChangeBatch {
    pub meta: Meta,
    /// Drop every state, operation and conflict first (import with `replace`).
    pub clear: bool,
    pub states: HashMap<String, Stored>,
    pub ops_added: BTreeMap<u64, SyncOperation>,
    pub ops_removed: Vec<u64>,
    pub conflicts: HashMap<String, Option<StoredConflict>>,
    pub cursors: BTreeMap<(String, String), Option<String>>,
}

impl ChangeBatch {
    pub fn new(meta: Meta) -> Self {
        ChangeBatch {
            meta,
            clear: false,
            states: HashMap::new(),
            ops_added: BTreeMap::new(),
            ops_removed: Vec::new(),
            conflicts: HashMap::new(),
            cursors: BTreeMap::new(),
        }
    }

    /// True when committing would change nothing but (possibly) the counters.
    pub fn only_meta(&self) -> bool {
        !self.clear
            && self.states.is_empty()
            && self.ops_added.is_empty()
            && self.ops_removed.is_empty()
            && self.conflicts.is_empty()
            && self.cursors.is_empty()
    }
}
