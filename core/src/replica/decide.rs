//! What applying a remote version does to the stored one, decided without a store: the rules of
//! docs/design.md#3-applying-a-remote-state as a pure function. A replica's transaction carries
//! the decision out on its image (`txn/remote.rs`); a server that keeps its states elsewhere (a
//! hub's database) carries it out there, so the merge rules exist once.

use crate::model::canonical::state_hash_measured;
use crate::model::clock::ClockOrdering;
use crate::model::conflict::ConflictStrategy;
use crate::model::error::{Result, SyncError};
use crate::model::state::{validate_data, SyncState};
use crate::replica::settle::{settle, Settlement};
use serde_json::Value;

/// What to do with a remote version, given the stored one ([`decide_remote`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteDecision {
    /// Nothing is stored under the id: store the remote version.
    Create,
    /// The remote version has seen the stored one: store it in its place.
    Update,
    /// The remote version is the stored one: nothing to do.
    Unchanged,
    /// The stored version has seen the remote one: keep it.
    Ignore,
    /// The versions are concurrent (or hold the same writes merged along different paths): store
    /// this merged version, which has seen both, with no new write. Check it with
    /// [`check_merged`] first unless the strategy is last-writer-wins.
    Merge(Box<SyncState>),
    /// Concurrent, under a strategy that keeps one side's content (`LocalWins`, `RemoteWins`):
    /// write this content anew on top of both clocks. Only a replica with a node id of its own
    /// can; a server store refuses such strategies.
    Rewrite {
        /// The content to write.
        data: Value,
        /// True when the write is a deletion.
        deleted: bool,
    },
    /// Concurrent under `Manual`: record a conflict and keep the stored version.
    Manual,
}

/// Decides what applying `remote` (already admitted: see the replica's limits) does to
/// `stored`, the version kept under the same id (`None`: none), under `strategy` (the one of
/// the state's collection). `INVALID_STATE` when `remote` belongs to another collection than
/// the stored version; a custom resolver's failure is `RESOLVER`.
pub fn decide_remote(
    stored: Option<&SyncState>,
    remote: &SyncState,
    strategy: &ConflictStrategy,
    check_resolver: bool,
) -> Result<RemoteDecision> {
    let Some(local) = stored else { return Ok(RemoteDecision::Create) };
    if local.collection != remote.collection {
        return Err(SyncError::InvalidState(format!(
            "state {:?} belongs to collection {:?} here, not {:?}",
            remote.id, local.collection, remote.collection
        )));
    }
    Ok(match remote.clock.compare(&local.clock) {
        ClockOrdering::Equal if same_version(local, remote) => RemoteDecision::Unchanged,
        // The same writes, merged along different paths: a custom resolver folded in a version
        // that was later superseded on one replica but not on the other. Joining the two again
        // (a no-op for identical ones) is what lets a resolver that is a semilattice join
        // converge. Strategies that rewrite have nothing to join.
        ClockOrdering::Equal => match settle(local, remote, strategy, check_resolver)? {
            Settlement::Merged(merged) if !same_version(local, &merged) => RemoteDecision::Merge(merged),
            _ => RemoteDecision::Unchanged,
        },
        ClockOrdering::Before => RemoteDecision::Ignore,
        ClockOrdering::After => RemoteDecision::Update,
        ClockOrdering::Concurrent => match settle(local, remote, strategy, check_resolver)? {
            Settlement::Merged(merged) => RemoteDecision::Merge(merged),
            Settlement::Rewrite { data, deleted } => RemoteDecision::Rewrite { data, deleted },
            Settlement::Manual => RemoteDecision::Manual,
        },
    })
}

/// Checks a merged version before it is stored: its data must obey the data's rules and be at
/// most `max_state_bytes`. Last-writer-wins needs no check (its data is one side's, admitted
/// already). A custom resolver's bad result is `RESOLVER`; a bad merge otherwise `INVALID_STATE`.
pub fn check_merged(merged: &SyncState, strategy: &ConflictStrategy, max_state_bytes: usize) -> Result<()> {
    if matches!(strategy, ConflictStrategy::LastWriteWins) {
        return Ok(());
    }
    let (_, bytes) = state_hash_measured(&merged.data, merged.deleted);
    let broken = validate_data(&merged.data).err().or_else(|| {
        (bytes > max_state_bytes)
            .then(|| format!("it is {bytes} bytes, more than the {max_state_bytes} this replica accepts"))
    });
    match (broken, strategy) {
        (None, _) => Ok(()),
        (Some(why), ConflictStrategy::Custom(_)) => {
            Err(SyncError::Resolver(format!("the custom resolver's result for state {:?}: {why}", merged.id)))
        }
        (Some(why), _) => {
            Err(SyncError::InvalidState(format!("merging state {:?} cannot be stored: {why}", merged.id)))
        }
    }
}

/// True when two versions with equal clocks also agree on everything a merge decides: the
/// same write (same content, version, stamp and field history).
pub(crate) fn same_version(a: &SyncState, b: &SyncState) -> bool {
    a.hash == b.hash && a.version == b.version && a.timestamp == b.timestamp && a.fields == b.fields
}
