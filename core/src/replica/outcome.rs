//! What applying remote states did: the public result types of the replica's transactions,
//! returned by the manager and carried by the HTTP protocol.

use crate::model::conflict::SyncConflict;
use crate::model::state::SyncState;
use crate::replica::admission::RejectedState;
use std::sync::Arc;

/// What applying one remote state did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOutcome {
    /// The state was unknown and is now stored.
    Created,
    /// The remote version was newer and replaced the local one.
    Updated,
    /// The remote version is the local one (a duplicate delivery).
    Unchanged,
    /// The remote version is older than the local one.
    Ignored,
    /// The versions were concurrent; the strategy settled it (or recorded it, for `Manual`).
    Conflict,
}

impl ApplyOutcome {
    /// The lower-case name used by every binding.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Updated => "updated",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::Ignored => "ignored",
            ApplyOutcome::Conflict => "conflict",
        }
    }
}

/// The result of [`crate::SyncManager::apply_remote_state`].
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyResult {
    /// What happened.
    pub outcome: ApplyOutcome,
    /// The stored version afterwards.
    pub state: Arc<SyncState>,
    /// For `Conflict`: true when the strategy settled it automatically.
    pub resolved: bool,
    /// For a `Manual` conflict: the recorded conflict.
    pub conflict: Option<SyncConflict>,
}

/// Counts of what a batch of remote states did, and the states it refused.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReconciliationResult {
    /// States that were new here.
    pub created: u64,
    /// States replaced by a newer remote version.
    pub updated: u64,
    /// Duplicates of what was stored.
    pub unchanged: u64,
    /// Older versions.
    pub ignored: u64,
    /// Concurrent versions detected (settled or recorded).
    pub conflicts: u64,
    /// Of those, settled automatically by the strategy.
    pub resolved: u64,
    /// States refused (invalid, too large, too far in the future, in another collection here):
    /// the rest of the batch applied without them. Peers of older releases leave it out.
    #[serde(default)]
    pub rejected: u64,
    /// The refused states, with the reason for each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<RejectedState>,
}

impl ReconciliationResult {
    /// Adds another result's counts to these.
    pub fn add(&mut self, other: &ReconciliationResult) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.ignored += other.ignored;
        self.conflicts += other.conflicts;
        self.resolved += other.resolved;
        self.rejected += other.rejected;
        self.rejections.extend(other.rejections.iter().cloned());
    }

    /// Counts a refused state and lists it.
    pub fn reject(&mut self, refused: RejectedState) {
        self.rejected += 1;
        self.rejections.push(refused);
    }

    pub(crate) fn count(&mut self, r: &ApplyResult) {
        match r.outcome {
            ApplyOutcome::Created => self.created += 1,
            ApplyOutcome::Updated => self.updated += 1,
            ApplyOutcome::Unchanged => self.unchanged += 1,
            ApplyOutcome::Ignored => self.ignored += 1,
            ApplyOutcome::Conflict => {
                self.conflicts += 1;
                if r.resolved {
                    self.resolved += 1;
                }
            }
        }
    }
}
