//! What applying remote states and sync rounds did.

use crate::state::{SyncConflict, SyncState};

/// What applying one remote state did (DESIGN §3).
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

/// Counts of what a batch of remote states did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, uniffi::Record)]
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
        }
    }
}

/// What one sync round did on each side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, uniffi::Record)]
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
