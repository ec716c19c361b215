//! # statesync
//!
//! Keeps named pieces of JSON application state in sync between replicas that are often
//! offline, see messages late, twice or out of order, and crash. It never loses a write, always
//! converges, is idempotent and replayable.
//!
//! ```
//! use statesync::{CreateOptions, ManagerConfig, SyncManager};
//! use serde_json::json;
//!
//! let phone = SyncManager::open(ManagerConfig::memory().node_id("phone"))?;
//! let laptop = SyncManager::open(ManagerConfig::memory().node_id("laptop"))?;
//! let s = phone.create_state(json!({"theme": "dark"}), CreateOptions::id("settings"))?;
//! laptop.apply_remote_state(s)?;
//! assert_eq!(laptop.get_state("settings")?.unwrap().data, json!({"theme": "dark"}));
//! # Ok::<(), statesync::SyncError>(())
//! ```
//!
//! The crate is built in layers, lowest first: `model` (values and their rules), `wire` (their
//! encodings), `replica` (one replica without its API), `manager` ([`SyncManager`]) and `sync`
//! (peers, rounds, auto-sync, the HTTP protocol), then `cloud` (object storage: backups and
//! sync through a bucket). Each imports only the layers below it;
//! everything public is re-exported here. The module map, one line per module, is
//! docs/architecture.md in the repository.

#![warn(missing_docs)]

// The layers, lowest first: each imports only the ones before it (docs/architecture.md,
// checked by scripts/check_layers.py).
pub mod bench;
#[cfg(feature = "cloud")]
mod cloud;
mod manager;
mod model;
mod replica;
mod sync;
mod wire;

#[cfg(feature = "cloud")]
pub use cloud::auto_backup::{AutoBackup, MIN_AUTO_BACKUP_INTERVAL};
#[cfg(feature = "cloud")]
pub use cloud::backup::{
    list_backups, prune_backups, verify_backup, BackupInfo, BackupOptions, BackupStore, BACKUP_FORMAT,
    DEFAULT_PART_SIZE, ORPHAN_GRACE,
};
#[cfg(feature = "cloud")]
pub use cloud::bucket::{BucketOptions, ObjectStoreTransport};
#[cfg(feature = "cloud")]
pub use cloud::storage::{ObjectEntry, ObjectStorage, StorageStats};
#[cfg(feature = "sqlite")]
pub use manager::Durability;
pub use manager::{CreateOptions, ManagerConfig, StorageConfig, SyncManager, WriteBatch};
pub use model::canonical::{canonical_json, state_hash};
pub use model::change_set::{ChangeSet, SyncContext};
pub use model::clock::{ClockOrdering, VectorClock, MAX_COUNTER};
pub use model::conflict::{ConflictResolver, ConflictStrategy, Resolution, Resolved, SyncConflict};
pub use model::error::{catch_panic, error_causes, ErrorCode, Result, SyncError};
pub use model::fields::{FieldKind, FieldNode};
pub use model::json_text::MAX_SAFE_INTEGER;
pub use model::operation::{OperationKind, SyncOperation};
pub use model::state::{
    data_from_json, forbidden_char, validate_collection, validate_data, validate_id, validate_node_id, SyncState,
    DEFAULT_COLLECTION, MAX_COLLECTION_BYTES, MAX_DATA_DEPTH, MAX_ID_BYTES, MAX_NODE_ID_BYTES,
};
#[cfg(not(target_family = "wasm"))]
pub use model::timestamp::SystemClock;
pub use model::timestamp::{ManualClock, Timestamp, WallClock};
pub use replica::admission::{admit_state, RejectedState, Rejection, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_STATE_BYTES};
pub use replica::decide::{check_merged, decide_remote, RemoteDecision};
pub use replica::event::{Listener, Status, Subscription, SyncEvent};
pub use replica::feed::json_len;
pub use replica::outcome::{ApplyOutcome, ApplyResult, ReconciliationResult};
pub use replica::store::journal::{
    JournalCursor, JournalImage, JournalMeta, JournalOp, JournalRecord, JournalRow, JournalSink, JournalStorage,
};
#[cfg(feature = "runtime")]
pub use sync::auto_sync::AutoSyncConfig;
pub use sync::backoff::backoff_delay;
#[cfg(feature = "http")]
pub use sync::http_client::HttpTransport;
pub use sync::http_protocol;
pub use sync::round::{RoundStep, SyncReport, SyncRound};
pub use sync::transport::{SyncCapabilities, SyncTransport, PROTOCOL_VERSION};
pub use wire::*;

/// The README's examples, compiled and run as doctests so the README stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of `docs/conflicts.md`, run as doctests.
#[doc = include_str!("../../docs/conflicts.md")]
#[cfg(doctest)]
pub struct ConflictsDocDoctests;

#[cfg(test)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<SyncManager>();
}
