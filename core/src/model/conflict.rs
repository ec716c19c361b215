//! Conflicts between concurrent versions, the strategies that settle them, and manual resolution.

use crate::model::error::SyncError;
use crate::model::state::SyncState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// A concurrent remote version kept for the application to decide (strategy `Manual`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncConflict {
    /// Stable id: derived from the state id and the remote version, so one remote version of a
    /// state yields one conflict however often it arrives.
    pub conflict_id: String,
    /// The state in conflict.
    pub state_id: String,
    /// The local version when the conflict was detected.
    pub local: SyncState,
    /// The concurrent remote version.
    pub remote: SyncState,
    /// Wall-clock milliseconds (hybrid clock) at detection.
    pub detected_at: u64,
}

/// How the application settles a manual conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// Keep the local data.
    Local,
    /// Take the remote data.
    Remote,
    /// Write this data instead.
    Custom(Value),
}

/// What a custom resolver decides for two concurrent versions.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// The merged data; the state stays (or becomes) live.
    Data(Value),
    /// The state is deleted.
    Deleted,
}

/// An application-supplied merge of two concurrent versions.
///
/// It must be a semilattice join — deterministic, commutative (`resolve(a, b) == resolve(b, a)`),
/// associative and idempotent — or replicas will not converge: a version folded into a merge on
/// one replica may be superseded before it reaches another, and the manager reconciles the two
/// merges by resolving them again. With
/// `check_resolver` on (the default in debug builds) the manager calls it both ways round and
/// refuses a result that differs, with [`crate::SyncError::Conflict`].
pub trait ConflictResolver: Send + Sync {
    /// Merges two concurrent versions. An `Err` aborts the whole call with
    /// [`crate::SyncError::Resolver`] and changes nothing.
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String>;
}

impl<F> ConflictResolver for F
where
    F: Fn(&SyncState, &SyncState) -> Result<Resolved, String> + Send + Sync,
{
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        self(local, remote)
    }
}

/// How concurrent versions of a state are settled; set per manager, overridable per collection.
#[derive(Clone, Default)]
pub enum ConflictStrategy {
    /// The version with the greater `(timestamp, node)` wins whole; clocks merge. Converges with
    /// no extra write.
    #[default]
    LastWriteWins,
    /// Concurrent edits of different fields (at any depth) both survive; the same field goes to
    /// the later write; removed keys stay removed. Non-object data falls back to LWW.
    MergeFields,
    /// Keep local data and make a new write so the decision propagates (use on the authority).
    LocalWins,
    /// Take remote data and make a new write (use on clients of an authority).
    RemoteWins,
    /// Record the conflict durably and keep local data until `resolve_conflict`.
    Manual,
    /// Merge with an application resolver; see [`ConflictResolver`].
    Custom(Arc<dyn ConflictResolver>),
}

impl ConflictStrategy {
    /// The name used in configuration and every binding (`lastWriteWins`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ConflictStrategy::LastWriteWins => "lastWriteWins",
            ConflictStrategy::MergeFields => "mergeFields",
            ConflictStrategy::LocalWins => "localWins",
            ConflictStrategy::RemoteWins => "remoteWins",
            ConflictStrategy::Manual => "manual",
            ConflictStrategy::Custom(_) => "custom",
        }
    }

    /// Parses a built-in strategy name (`Custom` needs a resolver and has no name form).
    pub fn from_name(name: &str) -> Option<ConflictStrategy> {
        ConflictStrategy::built_in().into_iter().find(|s| s.name() == name)
    }

    /// The built-in strategies, in the order of their variants: what [`ConflictStrategy::name`]
    /// and [`ConflictStrategy::from_name`] know (`Custom` has no name form).
    pub fn built_in() -> [ConflictStrategy; 5] {
        [
            ConflictStrategy::LastWriteWins,
            ConflictStrategy::MergeFields,
            ConflictStrategy::LocalWins,
            ConflictStrategy::RemoteWins,
            ConflictStrategy::Manual,
        ]
    }
}

/// Parses a built-in strategy's [name](ConflictStrategy::name), as
/// [`ConflictStrategy::from_name`] does, with an `INVALID_INPUT` error that lists the names
/// (a binding that also takes a resolver says so in its own message).
impl std::str::FromStr for ConflictStrategy {
    type Err = SyncError;

    fn from_str(name: &str) -> Result<ConflictStrategy, SyncError> {
        ConflictStrategy::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = ConflictStrategy::built_in().iter().map(ConflictStrategy::name).collect();
            SyncError::InvalidInput(format!("unknown conflict strategy {name:?}: use {}", names.join(", ")))
        })
    }
}

impl fmt::Debug for ConflictStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ConflictStrategy;

    #[test]
    fn built_in_strategies_parse_from_their_names() {
        for s in ConflictStrategy::built_in() {
            let parsed: ConflictStrategy = s.name().parse().unwrap();
            assert_eq!(parsed.name(), s.name());
            assert_eq!(ConflictStrategy::from_name(s.name()).unwrap().name(), s.name());
        }
        for bad in ["custom", "MERGE_FIELDS", "LastWriteWins", ""] {
            let e = bad.parse::<ConflictStrategy>().unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT");
            assert_eq!(
                e.message(),
                format!(
                    "unknown conflict strategy {bad:?}: use lastWriteWins, mergeFields, localWins, remoteWins, manual"
                )
            );
            assert!(ConflictStrategy::from_name(bad).is_none());
        }
    }
}
