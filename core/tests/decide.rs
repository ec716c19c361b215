//! `decide_remote`, the pure decision a replica's transaction carries out and a server store
//! will carry out in its database: every kind of decision, and the same outcome as a replica's
//! `apply_remote_state` for the same pair.

use serde_json::json;
use statesync::{
    check_merged, decide_remote, ApplyOutcome, ConflictStrategy, CreateOptions, ManagerConfig, RemoteDecision,
    SyncManager, SyncState,
};
use std::sync::Arc;

fn replica(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node)).unwrap()
}

/// The decision's outcome as a replica reports it.
fn outcome_of(decision: &RemoteDecision) -> ApplyOutcome {
    match decision {
        RemoteDecision::Create => ApplyOutcome::Created,
        RemoteDecision::Update => ApplyOutcome::Updated,
        RemoteDecision::Unchanged => ApplyOutcome::Unchanged,
        RemoteDecision::Ignore => ApplyOutcome::Ignored,
        RemoteDecision::Merge(_) | RemoteDecision::Rewrite { .. } | RemoteDecision::Manual => ApplyOutcome::Conflict,
    }
}

/// Decides `remote` against what `on` stores, then applies it there: both say the same.
fn agree(on: &SyncManager, remote: &Arc<SyncState>, strategy: &ConflictStrategy) -> RemoteDecision {
    let stored = on.get_state(&remote.id).unwrap();
    let decision = decide_remote(stored.as_deref(), remote, strategy, false).unwrap();
    let applied = on.apply_remote_state(remote.clone()).unwrap();
    assert_eq!(applied.outcome, outcome_of(&decision), "{decision:?}");
    if let RemoteDecision::Merge(merged) = &decision {
        assert_eq!(**merged, *applied.state, "the merge decided is the one stored");
    }
    decision
}

#[test]
fn every_decision_matches_what_a_replica_does() {
    let lww = ConflictStrategy::LastWriteWins;
    let (a, b) = (replica("a"), replica("b"));
    let first = a.create_state(json!({"v": 1}), CreateOptions::id("s")).unwrap();
    assert_eq!(agree(&b, &first, &lww), RemoteDecision::Create);
    assert_eq!(agree(&b, &first, &lww), RemoteDecision::Unchanged);
    let second = a.update_state("s", json!({"v": 2})).unwrap();
    assert_eq!(agree(&b, &second, &lww), RemoteDecision::Update);
    assert_eq!(agree(&b, &first, &lww), RemoteDecision::Ignore);
    // Concurrent writes on both sides: last-writer-wins merges into a version that saw both.
    let mine = b.update_state("s", json!({"v": "b"})).unwrap();
    let theirs = a.update_state("s", json!({"v": "a"})).unwrap();
    let RemoteDecision::Merge(merged) = agree(&b, &theirs, &lww) else { panic!("concurrent versions merge") };
    assert!(merged.clock.dominates(&mine.clock) && merged.clock.dominates(&theirs.clock));
    assert!(check_merged(&merged, &lww, 1).is_ok(), "last-writer-wins data is one side's: no check");
}

#[test]
fn strategies_that_write_or_record_are_decided_not_carried_out() {
    let (a, b) = (replica("a"), replica("b"));
    let base = a.create_state(json!({"v": 0}), CreateOptions::id("s")).unwrap();
    b.apply_remote_state(base).unwrap();
    let mine = b.update_state("s", json!({"v": "b"})).unwrap();
    let theirs = a.update_state("s", json!({"v": "a"})).unwrap();
    assert_eq!(
        decide_remote(Some(&mine), &theirs, &ConflictStrategy::LocalWins, false).unwrap(),
        RemoteDecision::Rewrite { data: json!({"v": "b"}), deleted: false }
    );
    assert_eq!(decide_remote(Some(&mine), &theirs, &ConflictStrategy::Manual, false).unwrap(), RemoteDecision::Manual);
    // Deciding changed nothing: the replica still holds its own version.
    assert_eq!(b.get_state("s").unwrap().unwrap(), mine);
}

#[test]
fn another_collection_is_refused_and_a_bad_merge_is_caught() {
    let a = replica("a");
    let here = a.create_state(json!(1), CreateOptions::id("s")).unwrap();
    let other = replica("b").create_state(json!(2), CreateOptions::id("s").in_collection("elsewhere")).unwrap();
    let e = decide_remote(Some(&here), &other, &ConflictStrategy::LastWriteWins, false).unwrap_err();
    assert_eq!(e.code(), "INVALID_STATE");
    assert!(e.to_string().contains("elsewhere"), "{e}");
    // A field merge larger than the limit is refused as the remote version's fault.
    let e = check_merged(&here, &ConflictStrategy::MergeFields, 0).unwrap_err();
    assert_eq!(e.code(), "INVALID_STATE");
}
