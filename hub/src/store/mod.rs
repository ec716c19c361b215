//! Where a hub keeps its spaces (docs/adr/0016-hub-server-store.md): one store holds every
//! space's states and feed, on SQLite (embedded, one process) or PostgreSQL (shared by several
//! hub processes). The hub calls a store on tokio's blocking pool, so the interface is
//! synchronous; a process keeps no image of the states between requests.
//!
//! What a push does to each state is decided by the core's merge rules
//! ([`statesync::decide_remote`]), in one place for both stores (`apply.rs`); a store only reads
//! and writes rows.

pub mod apply;
mod page;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::identity::{Collections, SpaceId};
use crate::rules::SpaceLimits;
use statesync::{ConflictStrategy, ReconciliationResult, Result, SyncState};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A store of spaces. Every method is blocking; the hub runs them on its blocking pool.
pub trait Store: Send + Sync + 'static {
    /// The hub's node id: the name clients keep their cursors for this hub under. Stable for
    /// the store's life and the same in every process that serves it.
    fn node_id(&self) -> &str;

    /// One page of `space`'s feed: the latest version of each state of a collection in
    /// `readable` (and in `wanted`, unless `wanted` is empty) changed after sequence `after`,
    /// oldest change first, at most `limit` states and at most `max_bytes` of their JSON
    /// ([`statesync::json_len`] plus one per state; but always at least one state). A space
    /// never written to is an empty page at sequence 0.
    fn pull(&self, space: &SpaceId, request: &PullScope<'_>) -> Result<PulledPage>;

    /// Applies a page of pushed states to `space` in one transaction, each state decided by the
    /// merge rules and checked by `policy`. A refused state is listed in the result's
    /// `rejections` (with the stored version the requester may read, see [`PushOutcome::current`]); the rest
    /// of the page applies. Either the whole page's outcome is committed or nothing is (a store
    /// failure is `STORAGE`), and pushing the same page twice is harmless.
    fn push(&self, space: &SpaceId, states: Vec<Arc<SyncState>>, policy: &PushPolicy<'_>) -> Result<PushOutcome>;

    /// Whether the store answers (a trivial query): the readiness probe.
    fn ready(&self) -> Result<()>;

    /// Every space the store keeps a feed for, in name order, each with its latest sequence
    /// (0: nothing written yet): what a backup run walks (`--backup-to`, [`crate::backup`]).
    fn spaces(&self) -> Result<Vec<SpaceHead>>;

    /// Every state of `space`, tombstones included, ordered by id, and the space's latest
    /// sequence, read in one snapshot (the sequence is that of the last change the states
    /// hold): what a backup of the space holds. A space never written to has no states and
    /// sequence 0.
    fn export_space(&self, space: &SpaceId) -> Result<SpaceExport>;
}

/// A space and where its feed stands, as [`Store::spaces`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceHead {
    /// The space.
    pub space: SpaceId,
    /// Its latest sequence: it grows with every change, so an unchanged sequence is an
    /// unchanged space.
    pub latest: u64,
}

/// A whole space, read by [`Store::export_space`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceExport {
    /// Every state, tombstones included, ordered by id.
    pub states: Vec<SyncState>,
    /// The space's latest sequence in the same snapshot.
    pub latest: u64,
}

/// What a pull asks for, once the hub has applied the requester's grants.
#[derive(Debug, Clone)]
pub struct PullScope<'a> {
    /// The sequence the requester's cursor stands at (0: the beginning).
    pub after: u64,
    /// The collections the requester may read.
    pub readable: &'a Collections,
    /// The collections the requester asked for (empty: every readable one).
    pub wanted: &'a [String],
    /// The most states in the page (at least 1).
    pub limit: usize,
    /// The most bytes of JSON in the page (see [`Store::pull`]).
    pub max_bytes: usize,
}

/// A page read from a space's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledPage {
    /// The states, in feed order.
    pub states: Vec<Arc<SyncState>>,
    /// The sequence the next pull starts after: the last state's, or, when the page holds every
    /// change up to now, the space's latest sequence (so rows the scope leaves out are skipped
    /// once, not read again by every pull).
    pub next: u64,
    /// True when more changes follow.
    pub has_more: bool,
}

/// What a push did, and what the hub reports of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushOutcome {
    /// The counts, and the refused states in `rejections`.
    pub result: ReconciliationResult,
    /// For each refused state the requester may read, the version the store keeps of it
    /// (`None`: it keeps none), by state id: what `revert_rejected` writes back on the client.
    pub current: HashMap<String, Option<Arc<SyncState>>>,
}

/// The checks a push is held to besides the merge rules, set per request by the hub from the
/// requester's grants, the rules file and the hub's own limits.
#[derive(Clone, Copy)]
pub struct PushPolicy<'a> {
    /// Collections the requester may write; a state of any other is refused `FORBIDDEN`.
    pub writable: &'a Collections,
    /// Collections the requester may read: a refused state's stored version is reported only
    /// for these.
    pub readable: &'a Collections,
    /// The space's quotas (rules file `[limits]`): past `max_states` live states or `max_bytes`
    /// of their data, or a state above `max_state_bytes`, a write is refused `QUOTA_EXCEEDED`.
    pub quotas: SpaceLimits,
    /// The JSON Schema check of a collection's data (rules file `[schemas]`): `Err(why)` refuses
    /// the state `INVALID_STATE`.
    pub check_data: &'a (dyn Fn(&str, &serde_json::Value) -> std::result::Result<(), String> + Sync),
    /// The hub's largest state (`--max-state-bytes`): larger is `INVALID_STATE`, as a replica
    /// refuses it ([`statesync::admit_state`]).
    pub max_state_bytes: usize,
    /// How far ahead of the hub's clock a pushed timestamp may be (`--max-clock-skew`).
    pub max_clock_skew: Duration,
    /// The conflict strategy of each collection; last-writer-wins for the others. Only
    /// strategies that settle without a write of the hub's own (last-writer-wins,
    /// `MergeFields`, custom resolvers) are accepted by the hub.
    pub strategies: &'a HashMap<String, ConflictStrategy>,
}
