//! The journal store: persistence done by someone else. Every committed transaction is handed
//! to an application-provided [`JournalSink`] as a [`JournalRecord`] — the rows it wrote and
//! deleted, each body the same JSON the SQLite store and the wire use — and a replica is
//! reopened from a [`JournalImage`]: the rows the sink kept, read back. The browser package
//! writes the records to IndexedDB this way; any key-value store with atomic multi-key writes
//! can hold a replica through it.
//!
//! A sink applies a record as one atomic write: upsert or delete each row by its key (state id,
//! pending sequence number, conflict id, `(peer, scope)`), after dropping every state, pending
//! operation and conflict first when [`JournalRecord::clear`] is set, and replace the meta row.
//! The rows the sink then holds are the image to reopen from.

use super::Store;
use crate::model::conflict::SyncConflict;
use crate::model::error::{Result, SyncError};
use crate::model::operation::SyncOperation;
use crate::model::state::{Rules, SyncState};
use crate::model::timestamp::Hlc;
use crate::replica::admission::Rejection;
use crate::replica::image::{ChangeBatch, Meta, Replica, Stored, StoredConflict};
use crate::replica::pending::PendingOp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Receives every committed transaction of a replica opened with [`crate::StorageConfig::Journal`].
pub trait JournalSink: Send + Sync {
    /// Persists one record atomically. An error fails the transaction: the replica's image is
    /// left as it was, and the error is returned to the caller of the mutation.
    fn write(&self, record: JournalRecord) -> Result<()>;

    /// Called once by [`crate::SyncManager::close`], after the last record.
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// The replica-wide counters: one row, replaced by every record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMeta {
    /// The replica's node id.
    pub node_id: String,
    /// The counter of local writes.
    pub counter: u64,
    /// The hybrid clock's milliseconds.
    pub hlc_millis: u64,
    /// The hybrid clock's logical counter.
    pub hlc_counter: u32,
    /// The last local change sequence number handed out.
    pub seq: u64,
    /// The name of the replica's changes feed.
    pub feed: String,
}

/// A row keyed by a string (a state id or a conflict id) with its change sequence number and
/// JSON body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRow {
    /// The row's key: the state id or the conflict id.
    pub key: String,
    /// The local change sequence number of the row.
    pub seq: u64,
    /// The JSON text of the state or conflict.
    pub body: String,
}

/// A pending operation row, keyed by its sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalOp {
    /// The queue position: the key of the row.
    pub seq: u64,
    /// The JSON text of the [`SyncOperation`].
    pub body: String,
}

/// A stored sync cursor, keyed by `(peer, scope)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalCursor {
    /// The peer's node id.
    pub peer: String,
    /// The scope (see [`crate::SyncContext::scope`]), or a push key.
    pub scope: String,
    /// The cursor; `None` in a record deletes the row.
    pub cursor: Option<String>,
}

/// What one transaction wrote: apply it atomically (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Drop every state, pending operation and conflict before applying the rest.
    pub clear: bool,
    /// The new meta row.
    pub meta: JournalMeta,
    /// States to upsert, by id.
    pub states: Vec<JournalRow>,
    /// Pending operations to delete, by sequence number.
    pub ops_removed: Vec<u64>,
    /// Pending operations to insert.
    pub ops_added: Vec<JournalOp>,
    /// Conflicts to upsert, by conflict id.
    pub conflicts_put: Vec<JournalRow>,
    /// Conflicts to delete, by conflict id.
    pub conflicts_removed: Vec<String>,
    /// Cursors to upsert (or, with `cursor: None`, delete).
    pub cursors: Vec<JournalCursor>,
    /// Rejection records to upsert, keyed by state id (`seq` is 0). Dropped by `clear` too.
    #[serde(default)]
    pub rejections_put: Vec<JournalRow>,
    /// Rejection records to delete, by state id.
    #[serde(default)]
    pub rejections_removed: Vec<String>,
}

/// The rows a sink holds: what a replica reopens from. `meta: None` is a new, empty store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalImage {
    /// The meta row, if any record was ever written.
    pub meta: Option<JournalMeta>,
    /// Every state row.
    #[serde(default)]
    pub states: Vec<JournalRow>,
    /// Every pending operation row (any order).
    #[serde(default)]
    pub pending: Vec<JournalOp>,
    /// Every conflict row.
    #[serde(default)]
    pub conflicts: Vec<JournalRow>,
    /// Every cursor row (`cursor` is never `None` here).
    #[serde(default)]
    pub cursors: Vec<JournalCursor>,
    /// Every rejection row.
    #[serde(default)]
    pub rejections: Vec<JournalRow>,
}

impl JournalImage {
    /// Applies a record to the image, as a sink applies it to its rows. Sinks that keep rows in
    /// memory (tests, caches) use this; it is also the reference for what a sink must do.
    pub fn apply(&mut self, record: JournalRecord) {
        if record.clear {
            self.states.clear();
            self.pending.clear();
            self.conflicts.clear();
            self.rejections.clear();
        }
        self.meta = Some(record.meta);
        for row in record.states {
            upsert(&mut self.states, row);
        }
        self.pending.retain(|op| !record.ops_removed.contains(&op.seq));
        self.pending.extend(record.ops_added);
        self.conflicts.retain(|c| !record.conflicts_removed.contains(&c.key));
        for row in record.conflicts_put {
            upsert(&mut self.conflicts, row);
        }
        for c in record.cursors {
            self.cursors.retain(|k| (&k.peer, &k.scope) != (&c.peer, &c.scope));
            if c.cursor.is_some() {
                self.cursors.push(c);
            }
        }
        self.rejections.retain(|r| !record.rejections_removed.contains(&r.key));
        for row in record.rejections_put {
            upsert(&mut self.rejections, row);
        }
    }
}

fn upsert(rows: &mut Vec<JournalRow>, row: JournalRow) {
    match rows.iter_mut().find(|r| r.key == row.key) {
        Some(slot) => *slot = row,
        None => rows.push(row),
    }
}

/// How a replica is persisted through a journal: the image to open from and the sink that
/// receives every later transaction.
#[derive(Clone)]
pub struct JournalStorage {
    /// The rows read back from the sink's storage (`JournalImage::default()` for a new one).
    pub image: JournalImage,
    /// Receives every committed transaction.
    pub sink: Arc<dyn JournalSink>,
}

impl JournalStorage {
    /// A journal opening from `image` and writing to `sink`.
    pub fn new(image: JournalImage, sink: Arc<dyn JournalSink>) -> Self {
        JournalStorage { image, sink }
    }
}

impl std::fmt::Debug for JournalStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalStorage").field("image", &self.image).finish_non_exhaustive()
    }
}

/// Two journal storages are equal when they have the same image and the very same sink.
impl PartialEq for JournalStorage {
    fn eq(&self, other: &Self) -> bool {
        self.image == other.image && std::ptr::addr_eq(Arc::as_ptr(&self.sink), Arc::as_ptr(&other.sink))
    }
}

impl Eq for JournalStorage {}

fn corrupt(what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Corrupt(format!("journalled {what} is unreadable: {e}"))
}

/// The store behind [`crate::StorageConfig::Journal`].
pub(crate) struct JournalStore {
    image: Option<JournalImage>,
    sink: Arc<dyn JournalSink>,
}

impl JournalStore {
    pub fn new(storage: &JournalStorage) -> Self {
        JournalStore { image: Some(storage.image.clone()), sink: storage.sink.clone() }
    }
}

impl Store for JournalStore {
    fn load(&mut self) -> Result<Option<Replica>> {
        let image = self.image.take().unwrap_or_default();
        let Some(m) = image.meta else { return Ok(None) };
        let mut replica = Replica::new(Meta {
            node_id: m.node_id,
            counter: m.counter,
            hlc: Hlc { millis: m.hlc_millis, counter: m.hlc_counter },
            seq: m.seq,
            feed: m.feed,
        });
        for row in image.states {
            let state: SyncState = serde_json::from_slice(row.body.as_bytes()).map_err(|e| corrupt("state", e))?;
            state.check(Rules::Stored).map_err(|e| corrupt("state", e))?;
            if state.id != row.key {
                return Err(corrupt("state", format!("row {:?} holds state {:?}", row.key, state.id)));
            }
            replica.insert_state(Stored { state: state.into(), seq: row.seq });
        }
        let mut pending = image.pending;
        pending.sort_by_key(|op| op.seq);
        pending.dedup_by_key(|op| op.seq);
        for row in pending {
            let op: SyncOperation = serde_json::from_slice(row.body.as_bytes()).map_err(|e| corrupt("operation", e))?;
            replica.pending.push(row.seq, PendingOp::Imported(op));
        }
        for row in image.conflicts {
            let conflict: SyncConflict =
                serde_json::from_slice(row.body.as_bytes()).map_err(|e| corrupt("conflict", e))?;
            replica.conflicts.insert(conflict.conflict_id.clone(), StoredConflict { conflict, seq: row.seq });
        }
        for c in image.cursors {
            if let Some(cursor) = c.cursor {
                replica.cursors.insert((c.peer, c.scope), cursor);
            }
        }
        for row in image.rejections {
            let rejection: Rejection =
                serde_json::from_slice(row.body.as_bytes()).map_err(|e| corrupt("rejection", e))?;
            replica.rejections.insert(rejection.state_id.clone(), rejection);
        }
        Ok(Some(replica))
    }

    fn commit(&mut self, batch: &ChangeBatch) -> Result<()> {
        // Every record carries the meta row (it is small), so an image never needs the
        // counters raised to its rows as the SQLite store does.
        let m = &batch.meta;
        let mut record = JournalRecord {
            clear: batch.clear,
            meta: JournalMeta {
                node_id: m.node_id.clone(),
                counter: m.counter,
                hlc_millis: m.hlc.millis,
                hlc_counter: m.hlc.counter,
                seq: m.seq,
                feed: m.feed.clone(),
            },
            states: batch
                .states
                .iter()
                .map(|s| JournalRow { key: s.state.id.clone(), seq: s.seq, body: body(&*s.state) })
                .collect(),
            ops_removed: batch.ops_removed.clone(),
            ops_added: batch.ops_added.iter().map(|(seq, op)| JournalOp { seq: *seq, body: body(op) }).collect(),
            conflicts_put: Vec::new(),
            conflicts_removed: Vec::new(),
            rejections_put: Vec::new(),
            rejections_removed: Vec::new(),
            cursors: batch
                .cursors
                .iter()
                .map(|((peer, scope), cursor)| JournalCursor {
                    peer: peer.clone(),
                    scope: scope.clone(),
                    cursor: cursor.clone(),
                })
                .collect(),
        };
        for (id, c) in &batch.conflicts {
            match c {
                Some(c) => {
                    record.conflicts_put.push(JournalRow { key: id.clone(), seq: c.seq, body: body(&c.conflict) })
                }
                None => record.conflicts_removed.push(id.clone()),
            }
        }
        for (id, r) in &batch.rejections {
            match r {
                Some(r) => record.rejections_put.push(JournalRow { key: id.clone(), seq: 0, body: body(r) }),
                None => record.rejections_removed.push(id.clone()),
            }
        }
        // Deterministic order (the batch keeps conflicts and rejections in hash maps).
        record.conflicts_put.sort_by_key(|r| r.seq);
        record.conflicts_removed.sort();
        record.rejections_put.sort_by(|a, b| a.key.cmp(&b.key));
        record.rejections_removed.sort();
        self.sink.write(record)
    }

    fn close(&mut self) -> Result<()> {
        self.sink.close()
    }
}

/// The JSON text of a stored body.
fn body<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("stored bodies always serialise")
}
