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

#![warn(missing_docs)]

mod admission;
mod backoff;
pub mod bench;
mod canonical;
mod clock;
mod conflict;
mod error;
mod event;
mod feed;
mod fields;
#[cfg(feature = "http")]
mod http_client;
pub mod http_protocol;
mod json_text;
mod manager;
mod operation;
mod pending;
mod replica;
mod round;
#[cfg(feature = "runtime")]
mod session;
mod settle;
mod snapshot;
mod state;
mod store;
mod timestamp;
mod transport;
mod txn;
mod wire;

pub use admission::{RejectedState, Rejection, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_STATE_BYTES};
pub use backoff::backoff_delay;
pub use canonical::{canonical_json, state_hash};
pub use clock::{ClockOrdering, VectorClock};
pub use conflict::{ConflictResolver, ConflictStrategy, Resolution, Resolved, SyncConflict};
pub use error::{catch_panic, error_causes, ErrorCode, Result, SyncError};
pub use event::{Listener, Status, Subscription, SyncEvent};
pub use feed::{ChangeSet, SyncContext};
pub use fields::{FieldKind, FieldNode};
#[cfg(feature = "http")]
pub use http_client::HttpTransport;
pub use json_text::data_from_json;
#[cfg(feature = "sqlite")]
pub use manager::Durability;
pub use manager::{CreateOptions, ManagerConfig, StorageConfig, SyncManager, SyncReport, WriteBatch};
pub use operation::{OperationKind, SyncOperation};
pub use round::{RoundStep, SyncRound};
#[cfg(feature = "runtime")]
pub use session::AutoSyncConfig;
pub use snapshot::{Snapshot, SNAPSHOT_FORMAT};
pub use state::{
    forbidden_char, validate_collection, validate_data, validate_id, validate_node_id, SyncState, DEFAULT_COLLECTION,
    MAX_COLLECTION_BYTES, MAX_COUNTER, MAX_DATA_DEPTH, MAX_ID_BYTES, MAX_NODE_ID_BYTES, MAX_SAFE_INTEGER,
};
pub use store::journal::{
    JournalCursor, JournalImage, JournalMeta, JournalOp, JournalRecord, JournalRow, JournalSink, JournalStorage,
};
#[cfg(not(target_family = "wasm"))]
pub use timestamp::SystemClock;
pub use timestamp::{ManualClock, Timestamp, WallClock};
pub use transport::{SyncCapabilities, SyncTransport, PROTOCOL_VERSION};
pub use txn::{ApplyOutcome, ApplyResult, ReconciliationResult};
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
