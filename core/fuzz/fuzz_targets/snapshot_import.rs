//! Feeds arbitrary text to `Snapshot::from_json` and imports it into a replica that holds states,
//! pending operations and a recorded conflict, merging and replacing (the bindings'
//! `importState`).
//!
//! Besides "never panics": a refused snapshot is `CORRUPT`, `UNSUPPORTED_FORMAT` or
//! `INVALID_STATE` (Snapshot::from_json's documented codes) and importing it changes nothing; an
//! accepted one round-trips through `to_json`; an import either applies or, when it fails,
//! changes nothing (all or nothing); a merge is never refused whole (a batch never is); a
//! replace leaves exactly the snapshot's states, queue and conflicts; and afterwards the replica
//! still writes and exports a snapshot that reads back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use statesync::{ConflictStrategy, CreateOptions, ManagerConfig, ManualClock, Snapshot, SyncManager};
use std::sync::{Arc, LazyLock};

const NOW: u64 = 1_796_601_600_000;

fn open(node: &str) -> SyncManager {
    let config = ManagerConfig::memory().node_id(node).clock(Arc::new(ManualClock::new(NOW)));
    SyncManager::open(config.strategy(ConflictStrategy::Manual)).expect("a memory replica opens")
}

/// What the victim holds before each import: something of each kind for an import to keep or
/// replace (live states, a tombstone, pending operations and an unresolved conflict). Built
/// once: the replicas and the sync it takes would cost more than the import under test.
static CONTENT: LazyLock<Snapshot> = LazyLock::new(|| {
    let victim = open("victim");
    let peer = open("peer");
    peer.create_state(json!({"theme": "light"}), CreateOptions::id("settings")).unwrap();
    victim.sync_with(&peer).unwrap();
    victim.update_state("settings", json!({"theme": "dark"})).unwrap();
    peer.update_state("settings", json!({"theme": "blue"})).unwrap();
    victim.sync_with(&peer).unwrap();
    assert_eq!(victim.conflicts().unwrap().len(), 1, "the seeded conflict is recorded");
    victim.create_state(json!({"n": 1}), CreateOptions::id("local").in_collection("notes")).unwrap();
    victim.create_state(json!([1, 2]), CreateOptions::id("gone")).unwrap();
    victim.delete_state("gone").unwrap();
    victim.export_state().unwrap()
});

/// A fresh replica holding [`CONTENT`].
fn victim() -> SyncManager {
    let victim = open("victim");
    victim.import_state(CONTENT.clone(), true).expect("the victim's own content imports");
    victim
}

/// The replica still takes a write, and what it exports is a valid snapshot.
fn still_works(replica: &SyncManager) {
    // A generated id: any fixed one could be among the snapshot's states.
    replica.create_state(json!({"after": true}), CreateOptions::default()).expect("the replica still writes");
    let export = replica.export_state().expect("the replica exports");
    Snapshot::from_json(&export.to_json()).unwrap_or_else(|e| panic!("the replica exports an invalid snapshot: {e}"));
}

fuzz_target!(|data: &[u8]| {
    // The reader takes `&str`: bytes that are not UTF-8 cannot reach it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = Snapshot::from_json(text);
    match &parsed {
        Ok(snapshot) => {
            let json = snapshot.to_json();
            let back = Snapshot::from_json(&json).unwrap_or_else(|e| panic!("to_json of an accepted snapshot: {e}"));
            assert_eq!(&back, snapshot, "round trip through to_json");
            assert_eq!(back.to_json(), json, "to_json is not a fixed point");
        }
        Err(e) => assert!(matches!(e.code(), "CORRUPT" | "UNSUPPORTED_FORMAT" | "INVALID_STATE"), "from_json: {e}"),
    }

    for replace in [false, true] {
        let replica = victim();
        let before = replica.export_state().unwrap();
        let imported = replica.import_json(text, replace);
        let after = replica.export_state().unwrap();
        match (&parsed, imported) {
            (Err(refused), Ok(result)) => panic!("imported a snapshot from_json refuses ({refused}): {result:?}"),
            (Err(refused), Err(e)) => {
                assert_eq!(e.code(), refused.code(), "import_json and from_json disagree: {e} / {refused}");
                assert_eq!(after, before, "a refused snapshot changed the replica (replace: {replace})");
            }
            (Ok(_), Err(e)) => {
                assert!(replace, "a merge is never refused whole: {e}");
                assert_eq!(after, before, "a failed replace changed the replica: {e}");
            }
            (Ok(snapshot), Ok(result)) if replace => {
                assert_eq!(result.created, snapshot.states.len() as u64, "a replace counts every state");
                let mut states = snapshot.states.clone();
                states.sort_by(|a, b| a.id.cmp(&b.id));
                assert_eq!(after.states, states, "a replace keeps exactly the snapshot's states");
                assert_eq!(after.pending, snapshot.pending, "a replace keeps exactly the snapshot's queue");
                assert_eq!(after.conflicts, snapshot.conflicts, "a replace keeps exactly the snapshot's conflicts");
                assert_eq!(after.node_id, before.node_id, "a replace keeps the replica's node id");
            }
            (Ok(snapshot), Ok(result)) => {
                let applied = result.created + result.updated + result.unchanged + result.ignored + result.conflicts;
                assert_eq!(
                    applied + result.rejected,
                    snapshot.states.len() as u64,
                    "a merge accounts for every state once: {result:?}"
                );
                // A merge goes through reconcile: repeating it changes nothing.
                let again = replica.import_json(text, false).expect("a merge repeated");
                assert_eq!((again.created, again.updated), (0, 0), "a repeated merge wrote again: {again:?}");
                assert_eq!(replica.export_state().unwrap(), after, "a repeated merge changed the replica");
            }
        }
        still_works(&replica);
    }
});
