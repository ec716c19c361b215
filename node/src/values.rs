//! The values the API hands out. A state is an opaque handle of the core's shared, immutable
//! version, which the shared JS `SyncState` (js/src/values.ts) holds and reads through its wire
//! JSON text only (the `NativeValues` interface of js/src/native.ts: from and to wire JSON,
//! equality); change sets cross as their parts; operations, conflicts and snapshots cross as the
//! core's JSON text, read by the shared classes of js/src/values.ts. Results are plain objects.
//!
//! JSON data cross as JSON text: js/src/values.ts defines `data` and `toJSON()` on the classes
//! with `JSON.parse`, which V8 does faster than building objects property by property here.

use crate::errors::{invalid_input, OrThrow, Result};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use statesync::{ApplyOutcome, ReconciliationResult, VectorClock};
use std::collections::HashMap;
use std::sync::Arc;

/// A vector clock as a JS object of numbers (exact: counters are at most 2^53 - 1).
pub(crate) fn clock_to_js(clock: &VectorClock) -> HashMap<String, i64> {
    clock.iter().map(|(node, counter)| (node.to_string(), counter as i64)).collect()
}

/// A vector clock from a JS object of numbers; INVALID_INPUT for a negative, fractional or too
/// large counter.
pub(crate) fn clock_from_js(clock: HashMap<String, f64>) -> Result<VectorClock> {
    let mut out = VectorClock::new();
    for (node, counter) in clock {
        if !(counter >= 0.0 && counter.fract() == 0.0 && counter <= statesync::MAX_COUNTER as f64) {
            return Err(invalid_input(format!(
                "clock entry {node:?} is {counter}: counters are whole numbers from 0 to 2^53 - 1"
            )));
        }
        out.set(&node, counter as u64);
    }
    Ok(out)
}

/// One version of one state, as the opaque handle the shared JS class `SyncState`
/// (js/src/values.ts) holds. A handle is one small allocation; a napi class instance costs several times more, and
/// states are what every write returns.
pub(crate) type StateHandle = External<Arc<statesync::SyncState>>;

/// The handle of a version.
pub(crate) fn handle(state: Arc<statesync::SyncState>) -> StateHandle {
    External::new(state)
}

/// The wire JSON text of a version: the shared `SyncState` reads its fields from it
/// (js/src/values.ts, `NativeValues.stateJson`).
#[napi(catch_unwind)]
pub fn state_wire_json(state: &StateHandle) -> String {
    state.to_json()
}

/// Parses the wire JSON text; INVALID_STATE when malformed.
#[napi(catch_unwind)]
pub fn state_from_wire_json(text: String) -> Result<StateHandle> {
    statesync::SyncState::from_json(&text).map(|s| handle(Arc::new(s))).or_throw()
}

/// True when both are the same version.
#[napi(catch_unwind)]
pub fn state_equals(a: &StateHandle, b: &StateHandle) -> bool {
    Arc::ptr_eq(a, b) || ***a == ***b
}

/// The states of handles.
pub(crate) fn states_of(handles: Vec<&StateHandle>) -> Vec<Arc<statesync::SyncState>> {
    handles.into_iter().map(|h| Arc::clone(h)).collect()
}

/// A page of the changes feed, as its parts: the JS class `ChangeSet` is built from them.
#[napi(object, object_from_js = false)]
pub struct ChangeSetParts {
    /// The states of the page.
    pub states: Vec<StateHandle>,
    /// Where the next page starts.
    pub cursor: String,
    /// More pages follow.
    pub has_more: bool,
}

impl From<statesync::ChangeSet> for ChangeSetParts {
    fn from(c: statesync::ChangeSet) -> Self {
        ChangeSetParts { states: c.states.into_iter().map(handle).collect(), cursor: c.cursor, has_more: c.has_more }
    }
}

/// A change set from the parts of a JS `ChangeSet`.
pub(crate) fn change_set(states: Vec<&StateHandle>, cursor: String, has_more: bool) -> statesync::ChangeSet {
    statesync::ChangeSet { states: states_of(states), cursor, has_more }
}

/// Parses snapshot JSON text and gives back its canonical text (`Snapshot.fromJSON`, the
/// `NativeValues.snapshotJson` of js/src/native.ts): CORRUPT, UNSUPPORTED_FORMAT or
/// INVALID_STATE when bad.
#[napi(catch_unwind)]
pub fn snapshot_wire_json(text: String) -> Result<String> {
    statesync::Snapshot::from_json(&text).map(|s| s.to_json()).or_throw()
}

/// The JSON text of a conflict, as the shared `SyncConflict` reads it (js/src/values.ts).
pub(crate) fn conflict_json(conflict: &statesync::SyncConflict) -> String {
    serde_json::to_string(conflict).expect("a conflict serialises")
}

/// What applying one remote state did.
#[napi(object, object_from_js = false)]
pub struct ApplyResult {
    /// `created`, `updated`, `unchanged`, `ignored` or `conflict`.
    pub outcome: String,
    /// Settled automatically by the strategy.
    pub resolved: bool,
    /// The stored state afterwards.
    pub state: StateHandle,
    /// The conflict the manual strategy recorded, as JSON text.
    pub conflict: Option<String>,
}

impl From<statesync::ApplyResult> for ApplyResult {
    fn from(r: statesync::ApplyResult) -> Self {
        let outcome = match r.outcome {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Updated => "updated",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::Ignored => "ignored",
            ApplyOutcome::Conflict => "conflict",
        };
        ApplyResult {
            outcome: outcome.into(),
            resolved: r.resolved,
            state: handle(r.state),
            conflict: r.conflict.as_ref().map(conflict_json),
        }
    }
}

/// A state the receiving replica refused: its id, the error code, the message, and the version
/// that replica keeps of it when it said (what `revertRejected` writes back).
#[napi(object, object_from_js = false)]
pub struct RejectedState {
    /// The refused state's id.
    pub id: String,
    /// Why, as an error code.
    pub code: String,
    /// Why, in words.
    pub message: String,
    /// The refusing replica's kept version (the shared layer makes it a `SyncState`), or none.
    pub current: Option<StateHandle>,
}

impl From<statesync::RejectedState> for RejectedState {
    fn from(r: statesync::RejectedState) -> Self {
        RejectedState { id: r.id, code: r.code, message: r.message, current: r.current.map(handle) }
    }
}

/// A refused state recorded durably until a later version of it goes through.
#[napi(object, object_from_js = false)]
pub struct Rejection {
    /// The state concerned.
    pub state_id: String,
    /// Why, as an error code.
    pub code: String,
    /// Why, in words, naming the peer involved.
    pub message: String,
    /// Local wall-clock milliseconds when it was recorded.
    pub rejected_at: i64,
    /// One of this replica's own versions, refused by a peer (`revertRejected` can undo it).
    pub own: bool,
    /// For an own version: the refusing peer's kept version, when it said.
    pub current: Option<StateHandle>,
}

impl From<statesync::Rejection> for Rejection {
    fn from(r: statesync::Rejection) -> Self {
        Rejection {
            state_id: r.state_id,
            code: r.code,
            message: r.message,
            rejected_at: r.rejected_at as i64,
            own: r.own,
            current: r.current.map(handle),
        }
    }
}

/// Counts of what a batch of remote states did, and the states it refused.
#[napi(object, js_name = "ReconciliationResult", object_from_js = false)]
pub struct Counts {
    /// New states.
    pub created: i64,
    /// Newer versions taken.
    pub updated: i64,
    /// Versions already held.
    pub unchanged: i64,
    /// Older versions.
    pub ignored: i64,
    /// Concurrent versions.
    pub conflicts: i64,
    /// Concurrent versions the strategy settled.
    pub resolved: i64,
    /// States refused alone (the rest applied).
    pub rejected: i64,
    /// The refused states, with the reason for each.
    pub rejections: Vec<RejectedState>,
}

impl From<ReconciliationResult> for Counts {
    fn from(r: ReconciliationResult) -> Self {
        Counts {
            created: r.created as i64,
            updated: r.updated as i64,
            unchanged: r.unchanged as i64,
            ignored: r.ignored as i64,
            conflicts: r.conflicts as i64,
            resolved: r.resolved as i64,
            rejected: r.rejected as i64,
            rejections: r.rejections.into_iter().map(RejectedState::from).collect(),
        }
    }
}

/// What a round did on this side.
#[napi(object, object_from_js = false)]
pub struct SyncReport {
    /// Pulled from the peer.
    pub pulled: Counts,
    /// Pushed to the peer.
    pub pushed: Counts,
}

impl From<statesync::SyncReport> for SyncReport {
    fn from(r: statesync::SyncReport) -> Self {
        SyncReport { pulled: r.pulled.into(), pushed: r.pushed.into() }
    }
}
