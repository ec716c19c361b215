//! What applying remote states and sync rounds did.

use crate::state::{SyncConflict, SyncState};
use std::sync::Arc;

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
/// `maxStateBytes`, stamped more than its `maxClockSkew` ahead, in another collection there;
/// from a hub also `FORBIDDEN`, `QUOTA_EXCEEDED`, `REJECTED`): the rest of its batch applied
/// without it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RejectedState {
    /// The refused state's id.
    pub id: String,
    /// Why, as an error code (`INVALID_STATE`, a hub's `FORBIDDEN`, `QUOTA_EXCEEDED`, ...).
    pub code: String,
    /// Why, in words.
    pub message: String,
    /// The version the refusing peer keeps of the state (`null`: it keeps none, or did not
    /// say): what `revertRejected` writes back. A transport of your own passes on what its
    /// peer reported; a replica's `reconcile` fills it in.
    #[uniffi(default = None)]
    pub current: Option<SyncState>,
}

impl From<statesync::RejectedState> for RejectedState {
    fn from(r: statesync::RejectedState) -> Self {
        RejectedState { id: r.id, code: r.code, message: r.message, current: r.current.map(Into::into) }
    }
}

impl RejectedState {
    /// The core record. The kept version is a peer's answer, held to what the core's HTTP
    /// client holds a hub's to: one that does not convert or is not a valid state is `CORRUPT`
    /// (and fails the push answer, as a damaged answer does).
    pub(crate) fn into_core(self) -> statesync::Result<statesync::RejectedState> {
        let mut core = statesync::RejectedState::coded(&self.id, &self.code, self.message);
        if let Some(kept) = self.current {
            let kept = kept.into_core().and_then(|s| s.validate().map(|()| s)).map_err(|e| {
                statesync::SyncError::Corrupt(format!(
                    "the push answer reported an invalid kept version of state {:?}: {e}",
                    self.id
                ))
            })?;
            core.current = Some(Arc::new(kept));
        }
        Ok(core)
    }
}

/// A refused state as a replica records it durably (`SyncManager.rejections()`): a version a
/// peer sent that this replica refused, or one of this replica's own that a peer refused
/// (`own`). It stays until a later version of the state goes through; the refused version is
/// never retried by itself. For one of its own, `revertRejected(stateId)` writes the peer's
/// version (`current`) back.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    /// The state concerned.
    pub state_id: String,
    /// Why, as an error code.
    pub code: String,
    /// Why, in words, naming the peer involved.
    pub message: String,
    /// Local wall-clock milliseconds when it was recorded.
    pub rejected_at: u64,
    /// True when the refused version is one of this replica's own, refused by a peer (a hub);
    /// false when this replica refused a version a peer sent.
    #[uniffi(default = false)]
    pub own: bool,
    /// For one of this replica's own versions, the version the refusing peer keeps of the
    /// state, when it said (`null` otherwise).
    #[uniffi(default = None)]
    pub current: Option<SyncState>,
}

impl From<&statesync::Rejection> for Rejection {
    fn from(r: &statesync::Rejection) -> Self {
        Rejection {
            state_id: r.state_id.clone(),
            code: r.code.clone(),
            message: r.message.clone(),
            rejected_at: r.rejected_at,
            own: r.own,
            current: r.current.as_deref().map(Into::into),
        }
    }
}

/// Counts of what a batch of remote states did, and the states it refused.
///
/// A transport of your own returns it from `push` as the peer answered: `rejected` and
/// `rejections` default to none (a peer of an older release leaves them out); the states the
/// peer refused become this replica's rejections.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
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

impl ReconciliationResult {
    /// The core result, as a transport of the application answered a push: the refused
    /// states' kept versions are checked (see [`RejectedState::into_core`]).
    pub(crate) fn into_core(self) -> statesync::Result<statesync::ReconciliationResult> {
        Ok(statesync::ReconciliationResult {
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            ignored: self.ignored,
            conflicts: self.conflicts,
            resolved: self.resolved,
            rejected: self.rejected,
            rejections: self.rejections.into_iter().map(RejectedState::into_core).collect::<statesync::Result<_>>()?,
        })
    }
}

/// What one sync round did on each side.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> statesync::SyncState {
        let m = statesync::SyncManager::open(statesync::ManagerConfig::memory().node_id("hub")).unwrap();
        let s = m.create_state(serde_json::json!({"t": 1}), statesync::CreateOptions::id("s")).unwrap();
        (*s).clone()
    }

    #[test]
    fn a_kept_version_crosses_both_ways() {
        let mut core = statesync::RejectedState::coded("s", "FORBIDDEN", "read only");
        core.current = Some(Arc::new(kept()));
        let result = statesync::ReconciliationResult { rejected: 1, rejections: vec![core], ..Default::default() };
        let host = ReconciliationResult::from(result.clone());
        assert_eq!(host.rejections[0].current.as_ref().map(|s| s.data.as_str()), Some(r#"{"t":1}"#));
        assert_eq!(host.into_core().unwrap(), result);
        let none =
            RejectedState { id: "s".into(), code: "QUOTA_EXCEEDED".into(), message: "full".into(), current: None };
        assert_eq!(none.into_core().unwrap(), statesync::RejectedState::coded("s", "QUOTA_EXCEEDED", "full"));
    }

    #[test]
    fn an_invalid_kept_version_is_corrupt() {
        let mut forged = SyncState::from(&kept());
        forged.data = r#"{"t":2}"#.into(); // the hash no longer matches
        let mut not_json = forged.clone();
        not_json.data = "{".into();
        for current in [forged, not_json] {
            let r = RejectedState {
                id: "s".into(),
                code: "FORBIDDEN".into(),
                message: String::new(),
                current: Some(current),
            };
            let result = ReconciliationResult { rejected: 1, rejections: vec![r], ..Default::default() };
            let e = result.into_core().unwrap_err();
            assert_eq!(e.code(), "CORRUPT", "{e}");
            assert!(e.to_string().contains("kept version"), "{e}");
        }
    }
}
