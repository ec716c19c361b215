//! What applying remote states and sync rounds did.

use crate::state::{SyncConflict, SyncState};

/// What applying one remote state did (docs/design.md#3-applying-a-remote-state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ApplyOutcome {
    /// The state was unknown and is now stored.
    Created,
    /// The remote version was newer and replaced the local one.
    Updated,
    /// The remote version is the local one (a duplicate delivery).
    Unchanged,
    /// The remote version is older than the local one.
    Ignored,
    /// The versions were concurrent; the strategy settled or recorded it.
    Conflict,
}

impl From<statesync::ApplyOutcome> for ApplyOutcome {
    fn from(o: statesync::ApplyOutcome) -> Self {
        match o {
            statesync::ApplyOutcome::Created => ApplyOutcome::Created,
            statesync::ApplyOutcome::Updated => ApplyOutcome::Updated,
            statesync::ApplyOutcome::Unchanged => ApplyOutcome::Unchanged,
            statesync::ApplyOutcome::Ignored => ApplyOutcome::Ignored,
            statesync::ApplyOutcome::Conflict => ApplyOutcome::Conflict,
        }
    }
}

/// The result of `applyRemoteState`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ApplyResult {
    /// What happened.
    pub outcome: ApplyOutcome,
    /// The stored version afterwards.
    pub state: SyncState,
    /// For a conflict: true when the strategy settled it automatically.
    pub resolved: bool,
    /// For a `manual` conflict: the recorded conflict.
    pub conflict: Option<SyncConflict>,
}

impl From<statesync::ApplyResult> for ApplyResult {
    fn from(r: statesync::ApplyResult) -> Self {
        ApplyResult {
            outcome: r.outcome.into(),
            state: (&*r.state).into(),
            resolved: r.resolved,
            conflict: r.conflict.as_ref().map(Into::into),
        }
    }
}

/// A state refused by the replica that received it (invalid, larger than its
/// `maxStateBytes`, stamped more than its `maxClockSkew` ahead, in another collection there):
/// the rest of its batch applied without it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, uniffi::Record)]
pub struct RejectedState {
    /// The refused state's id.
    pub id: String,
    /// Why, as an error code (`INVALID_STATE`, ...).
    pub code: String,
    /// Why, in words.
    pub message: String,
}

impl From<statesync::RejectedState> for RejectedState {
    fn from(r: statesync::RejectedState) -> Self {
        RejectedState { id: r.id, code: r.code, message: r.message }
    }
}

impl From<RejectedState> for statesync::RejectedState {
    fn from(r: RejectedState) -> Self {
        statesync::RejectedState::coded(&r.id, &r.code, r.message)
    }
}

/// A refused state as a replica records it durably (`SyncManager.rejections()`): a version a
/// peer sent that this replica refused, or one of this replica's own that a peer refused. It
/// stays until a later version of the state goes through; the refused version is never retried
/// by itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Rejection {
    /// The state concerned.
    pub state_id: String,
    /// Why, as an error code.
    pub code: String,
    /// Why, in words, naming the peer involved.
    pub message: String,
    /// Local wall-clock milliseconds when it was recorded.
    pub rejected_at: u64,
}

impl From<&statesync::Rejection> for Rejection {
    fn from(r: &statesync::Rejection) -> Self {
        Rejection {
            state_id: r.state_id.clone(),
            code: r.code.clone(),
            message: r.message.clone(),
            rejected_at: r.rejected_at,
        }
    }
}

/// Counts of what a batch of remote states did, and the states it refused.
///
/// A transport of your own returns it from `push` as the peer answered: `rejected` and
/// `rejections` default to none (a peer of an older release leaves them out); the states the
/// peer refused become this replica's rejections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ReconciliationResult {
    /// States that were new here.
    pub created: u64,
    /// States replaced by a newer remote version.
    pub updated: u64,
    /// Duplicates.
    pub unchanged: u64,
    /// Remote versions older than the local one.
    pub ignored: u64,
    /// Concurrent versions detected.
    pub conflicts: u64,
    /// Concurrent versions settled automatically.
    pub resolved: u64,
    /// States refused alone (invalid, too large, too far in the future, in another collection
    /// here); the rest of the batch applied without them.
    #[uniffi(default = 0)]
    pub rejected: u64,
    /// The refused states, with the reason for each.
    #[uniffi(default)]
    pub rejections: Vec<RejectedState>,
}

impl From<statesync::ReconciliationResult> for ReconciliationResult {
    fn from(r: statesync::ReconciliationResult) -> Self {
        ReconciliationResult {
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            ignored: r.ignored,
            conflicts: r.conflicts,
            resolved: r.resolved,
            rejected: r.rejected,
            rejections: r.rejections.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ReconciliationResult> for statesync::ReconciliationResult {
    fn from(r: ReconciliationResult) -> Self {
        statesync::ReconciliationResult {
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            ignored: r.ignored,
            conflicts: r.conflicts,
            resolved: r.resolved,
            rejected: r.rejected,
            rejections: r.rejections.into_iter().map(Into::into).collect(),
        }
    }
}

/// What one sync round did on each side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, uniffi::Record)]
pub struct SyncReport {
    /// Changes pulled from the peer into this replica.
    pub pulled: ReconciliationResult,
    /// Changes pushed from this replica to the peer.
    pub pushed: ReconciliationResult,
}

impl From<statesync::SyncReport> for SyncReport {
    fn from(r: statesync::SyncReport) -> Self {
        SyncReport { pulled: r.pulled.into(), pushed: r.pushed.into() }
    }
}
