//! The replica image held in memory, and the change batch one transaction produces.
//!
//! Every public mutation runs against the image without changing it, collecting a
//! [`ChangeBatch`]; the store commits the batch durably, and only then is it applied to the image.
//! A failed commit therefore leaves both the disk and the image exactly as they were.

use crate::model::conflict::SyncConflict;
use crate::model::operation::SyncOperation;
use crate::model::state::SyncState;
use crate::model::timestamp::Hlc;
use crate::replica::admission::Rejection;
use crate::replica::pending::{PendingOp, PendingQueue};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Replica-wide counters, persisted with every transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub node_id: String,
    /// The one counter for all local writes (vector clock entry of this node).
    pub counter: u64,
    pub hlc: Hlc,
    /// Local change sequence: every stored change gets the next value.
    pub seq: u64,
    /// Names this store's changes feed. A new store, or a store whose content was replaced
    /// wholesale, gets a new one: cursors handed out by another feed (a lost store of the same
    /// node) then start over instead of skipping the changes numbered below them again.
    pub feed: String,
}

/// A new random feed name: 16 hex characters.
pub(crate) fn new_feed_id() -> String {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    format!("{high:016x}")
}

/// A stored state with the local sequence number of its latest change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    pub state: Arc<SyncState>,
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
    /// Pending operations in queue order.
    pub pending: PendingQueue,
    pub conflicts: HashMap<String, StoredConflict>,
    pub cursors: BTreeMap<(String, String), String>,
    /// Every state by the sequence number of its latest change: the changes feed.
    pub by_seq: BTreeMap<u64, Arc<SyncState>>,
    /// Refused states, by state id (see [`Rejection`]).
    pub rejections: HashMap<String, Rejection>,
}

impl Replica {
    pub fn new(meta: Meta) -> Self {
        Replica {
            meta,
            states: HashMap::new(),
            pending: PendingQueue::default(),
            conflicts: HashMap::new(),
            cursors: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            rejections: HashMap::new(),
        }
    }

    /// Stores a version, replacing the previous one of its id in the image and the feed.
    pub fn insert_state(&mut self, stored: Stored) {
        self.by_seq.insert(stored.seq, stored.state.clone());
        match self.states.get_mut(&stored.state.id) {
            Some(slot) => {
                self.by_seq.remove(&slot.seq);
                *slot = stored;
            }
            None => {
                self.states.insert(stored.state.id.clone(), stored);
            }
        }
    }

    /// Applies a committed batch, draining it (its buffers are reused by the next transaction).
    pub fn apply(&mut self, batch: &mut ChangeBatch) {
        if batch.clear {
            self.states.clear();
            self.by_seq.clear();
            self.pending.clear();
            self.conflicts.clear();
            self.rejections.clear();
            batch.clear = false;
        }
        self.meta.clone_from(&batch.meta);
        for stored in batch.states.drain() {
            self.insert_state(stored);
        }
        for seq in batch.ops_removed.drain(..) {
            self.pending.remove(seq);
        }
        for (seq, op) in batch.ops_added.drain(..) {
            self.pending.push(seq, op);
        }
        for (id, c) in batch.conflicts.drain() {
            match c {
                Some(c) => self.conflicts.insert(id, c),
                None => self.conflicts.remove(&id),
            };
        }
        for (id, r) in batch.rejections.drain() {
            match r {
                Some(r) => self.rejections.insert(id, r),
                None => self.rejections.remove(&id),
            };
        }
        for (key, cursor) in std::mem::take(&mut batch.cursors) {
            match cursor {
                Some(c) => self.cursors.insert(key, c),
                None => self.cursors.remove(&key),
            };
        }
    }

    /// The sequence number of the queued operation `op_id`.
    pub fn find_pending(&self, op_id: &str) -> Option<u64> {
        self.pending.find(op_id, &self.meta.node_id)
    }

    /// Pending operations in queue order.
    pub fn pending_in_order(&self) -> impl Iterator<Item = SyncOperation> + '_ {
        self.pending.operations()
    }

    /// Rejections, oldest first (ties by state id).
    pub fn rejections_in_order(&self) -> Vec<&Rejection> {
        let mut v: Vec<&Rejection> = self.rejections.values().collect();
        v.sort_by(|a, b| (a.rejected_at, &a.state_id).cmp(&(b.rejected_at, &b.state_id)));
        v
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
    /// Write the counters row. A batch of local writes only may skip it: every counter it moved
    /// is carried by the rows it writes (the state's clock and timestamp, the operation's id and
    /// sequence number), and loading takes the maximum over the rows. One page less per commit.
    pub meta_row: bool,
    pub states: Overlay,
    /// Added operations in increasing sequence order.
    pub ops_added: Vec<(u64, PendingOp)>,
    pub ops_removed: Vec<u64>,
    pub conflicts: HashMap<String, Option<StoredConflict>>,
    pub cursors: BTreeMap<(String, String), Option<String>>,
    /// Rejection records to put (or, with `None`, drop), by state id.
    pub rejections: HashMap<String, Option<Rejection>>,
}

impl ChangeBatch {
    pub fn new(meta: Meta) -> Self {
        ChangeBatch {
            meta,
            clear: false,
            meta_row: true,
            states: Overlay::default(),
            ops_added: Vec::new(),
            ops_removed: Vec::new(),
            conflicts: HashMap::new(),
            cursors: BTreeMap::new(),
            rejections: HashMap::new(),
        }
    }

    /// Empties the batch for reuse, keeping its buffers.
    pub fn reset(&mut self, meta: &Meta) {
        self.meta.clone_from(meta);
        self.clear = false;
        self.meta_row = true;
        self.states.clear();
        self.ops_added.clear();
        self.ops_removed.clear();
        self.conflicts.clear();
        self.cursors.clear();
        self.rejections.clear();
    }

    /// True when committing would change nothing but (possibly) the counters.
    pub fn only_meta(&self) -> bool {
        !self.clear
            && self.states.is_empty()
            && self.ops_added.is_empty()
            && self.ops_removed.is_empty()
            && self.conflicts.is_empty()
            && self.cursors.is_empty()
            && self.rejections.is_empty()
    }
}

/// The states one transaction wrote. Most transactions write one state, so they live in a
/// vector searched linearly; an index is built only once a transaction grows past a few.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    items: Vec<Stored>,
    index: HashMap<String, usize>,
}

/// Size from which an [`Overlay`] keeps an index.
const INDEX_FROM: usize = 16;

impl Overlay {
    fn position(&self, id: &str) -> Option<usize> {
        if self.index.is_empty() {
            self.items.iter().position(|s| s.state.id == id)
        } else {
            self.index.get(id).copied()
        }
    }

    /// The version of `id` written in this transaction.
    pub fn get(&self, id: &str) -> Option<&Stored> {
        self.position(id).map(|i| &self.items[i])
    }

    /// Records a new version, replacing one written earlier in the same transaction.
    pub fn put(&mut self, stored: Stored) {
        match self.position(&stored.state.id) {
            Some(i) => self.items[i] = stored,
            None => {
                if !self.index.is_empty() {
                    self.index.insert(stored.state.id.clone(), self.items.len());
                } else if self.items.len() + 1 >= INDEX_FROM {
                    self.index.extend(self.items.iter().enumerate().map(|(i, s)| (s.state.id.clone(), i)));
                    self.index.insert(stored.state.id.clone(), self.items.len());
                }
                self.items.push(stored);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.index.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.items.iter()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Stored> + '_ {
        self.index.clear();
        self.items.drain(..)
    }
}
