//! Settling two concurrent versions of a state under a conflict strategy. Pure: no store, no
//! clock, so every replica computes the same result from the same pair.

use crate::model::canonical::state_hash;
use crate::model::conflict::{ConflictStrategy, Resolved};
use crate::model::error::{Result, SyncError};
use crate::model::fields::FieldNode;
use crate::model::state::SyncState;
use serde_json::Value;

/// What the manager must do with a concurrent pair.
pub(crate) enum Settlement {
    /// Store this merged version; no new write (converges with no extra traffic).
    Merged(Box<SyncState>),
    /// Make a new local write of this content on top of the merged clock.
    Rewrite { data: Value, deleted: bool },
    /// Record a manual conflict and keep the local version.
    Manual,
}

/// Settles `local` and `remote`, whose clocks are concurrent.
pub(crate) fn settle(
    local: &SyncState,
    remote: &SyncState,
    strategy: &ConflictStrategy,
    check_resolver: bool,
) -> Result<Settlement> {
    Ok(match strategy {
        ConflictStrategy::LastWriteWins => Settlement::Merged(Box::new(last_write_wins(local, remote))),
        ConflictStrategy::MergeFields => Settlement::Merged(Box::new(merge_fields(local, remote))),
        ConflictStrategy::Custom(resolver) => {
            if local.deleted && remote.deleted {
                return Ok(Settlement::Merged(Box::new(last_write_wins(local, remote))));
            }
            let resolved = resolver.resolve(local, remote).map_err(SyncError::Resolver)?;
            if check_resolver {
                let swapped = resolver.resolve(remote, local).map_err(SyncError::Resolver)?;
                if swapped != resolved {
                    return Err(SyncError::Conflict(format!(
                        "custom resolver is not commutative for state {:?}: resolve(a, b) != resolve(b, a)",
                        local.id
                    )));
                }
            }
            let visible = match resolved {
                Resolved::Data(data) => Some(data),
                Resolved::Deleted => None,
            };
            Settlement::Merged(Box::new(merged_state(local, remote, visible, None)))
        }
        ConflictStrategy::LocalWins => Settlement::Rewrite { data: local.data.clone(), deleted: local.deleted },
        ConflictStrategy::RemoteWins => Settlement::Rewrite { data: remote.data.clone(), deleted: remote.deleted },
        ConflictStrategy::Manual => Settlement::Manual,
    })
}

fn newer<'a>(a: &'a SyncState, b: &'a SyncState) -> &'a SyncState {
    if b.timestamp > a.timestamp {
        b
    } else {
        a
    }
}

fn last_write_wins(local: &SyncState, remote: &SyncState) -> SyncState {
    let winner = newer(local, remote);
    SyncState {
        id: winner.id.clone(),
        collection: winner.collection.clone(),
        data: winner.data.clone(),
        clock: local.clock.merged(&remote.clock),
        timestamp: winner.timestamp.clone(),
        modified_by: winner.modified_by.clone(),
        deleted: winner.deleted,
        version: local.version.max(remote.version),
        hash: winner.hash.clone(),
        fields: winner.fields.clone(),
    }
}

/// The field tree of a state, synthesised for states written without one.
pub(crate) fn field_tree(state: &SyncState) -> FieldNode {
    state
        .fields
        .as_deref()
        .cloned()
        .unwrap_or_else(|| FieldNode::from_state(&state.data, state.deleted, &state.timestamp))
}

fn merge_fields(local: &SyncState, remote: &SyncState) -> SyncState {
    let mut tree = field_tree(local);
    tree.merge(&field_tree(remote));
    merged_state(local, remote, tree.visible(), Some(Box::new(tree)))
}

/// The version that has seen both sides and holds `visible` (`None`: deleted), stamped like
/// the newer side, with no new write.
fn merged_state(
    local: &SyncState,
    remote: &SyncState,
    visible: Option<Value>,
    fields: Option<Box<FieldNode>>,
) -> SyncState {
    let deleted = visible.is_none();
    let data = visible.unwrap_or(Value::Null);
    let newer = newer(local, remote);
    SyncState {
        id: local.id.clone(),
        collection: local.collection.clone(),
        hash: state_hash(&data, deleted),
        data,
        clock: local.clock.merged(&remote.clock),
        timestamp: newer.timestamp.clone(),
        modified_by: newer.modified_by.clone(),
        deleted,
        version: local.version.max(remote.version),
        fields,
    }
}
