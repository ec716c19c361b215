//! Manager behaviour that the conformance vectors cannot express: persistence across reopen,
//! events and their order, status, close, batches, concurrency.

use serde_json::json;
use statesync::{
    ConflictStrategy, CreateOptions, ManagerConfig, ManualClock, Resolution, Status, SyncError, SyncEvent, SyncManager,
};
use std::sync::{Arc, Mutex};

fn memory(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node).clock(Arc::new(ManualClock::new(1_000)))).unwrap()
}

fn recorder(m: &SyncManager) -> Arc<Mutex<Vec<SyncEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    m.subscribe(move |e| sink.lock().unwrap().push(e.clone())).unwrap();
    seen
}

fn names(events: &Mutex<Vec<SyncEvent>>) -> Vec<&'static str> {
    events.lock().unwrap().iter().map(SyncEvent::name).collect()
}

#[test]
fn sqlite_reopen_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let (exported, node) = {
        let m = SyncManager::open(ManagerConfig::sqlite(&path).strategy(ConflictStrategy::Manual)).unwrap();
        m.create_state(json!({"a": 1}), CreateOptions::id("x").in_collection("c")).unwrap();
        m.create_state(json!("gone"), CreateOptions::id("y")).unwrap();
        m.delete_state("y").unwrap();
        m.set_peer_cursor("hub", "all", Some("42")).unwrap();
        // A concurrent remote version makes a durable manual conflict.
        let other = memory("other");
        other.create_state(json!({"a": 2}), CreateOptions::id("x").in_collection("c")).unwrap();
        m.apply_remote_state(other.list_states(None, true).unwrap().remove(0)).unwrap();
        assert_eq!(m.status(), Status::Conflict);
        let snap = m.export_state().unwrap();
        let node = m.node_id().unwrap();
        m.close().unwrap();
        (snap, node)
    };
    let m = SyncManager::open(ManagerConfig::sqlite(&path)).unwrap();
    assert_eq!(m.node_id().unwrap(), node, "a generated node id is persisted");
    assert_eq!(m.export_state().unwrap(), exported);
    assert_eq!(m.peer_cursor("hub", "all").unwrap().as_deref(), Some("42"));
    assert_eq!(m.status(), Status::Conflict);
    // The counter survived too: the next write continues the clock.
    let s = m.update_state("x", json!({"a": 3})).unwrap();
    assert_eq!(s.clock.get(&node), 4);
    assert_eq!(m.pending_operations().unwrap().last().unwrap().op_id, format!("{node}:4"));
}

#[test]
fn local_writes_skip_the_counters_row_and_reopen_continues_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let clock = Arc::new(ManualClock::new(5_000));
    let last = {
        let m = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a").clock(clock.clone())).unwrap();
        m.create_state(json!(0), CreateOptions::id("s")).unwrap();
        for i in 1..10 {
            m.update_state("s", json!(i)).unwrap();
        }
        // An acknowledgement writes the counters row (at 10); the local writes after it do not.
        let ops: Vec<String> = m.pending_operations().unwrap().into_iter().map(|o| o.op_id).collect();
        m.acknowledge(&ops).unwrap();
        for i in 10..50 {
            m.update_state("s", json!(i)).unwrap();
        }
        m.get_state("s").unwrap().unwrap()
    };
    {
        // The counters row lags behind: only the rows carry the last counter and timestamp.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let counter: i64 = conn.query_row("SELECT counter FROM replica", [], |r| r.get(0)).unwrap();
        assert_eq!(counter, 10, "local writes do not write the counters row");
    }
    clock.set(1_000); // the wall clock went back while the app was closed
    let m = SyncManager::open(ManagerConfig::sqlite(&path).clock(clock)).unwrap();
    let next = m.update_state("s", json!("after reopen")).unwrap();
    assert_eq!(next.clock.get("a"), 51);
    assert!(next.timestamp > last.timestamp);
    assert_eq!(m.pending_operations().unwrap().last().unwrap().op_id, "a:51");
}

#[test]
fn a_store_refuses_another_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap().close().unwrap();
    let err = SyncManager::open(ManagerConfig::sqlite(&path).node_id("b")).err().unwrap();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[test]
fn events_arrive_after_commit_in_commit_order() {
    let m = memory("a");
    let seen = recorder(&m);
    m.create_state(json!(1), CreateOptions::id("s")).unwrap();
    m.update_state("s", json!(2)).unwrap();
    m.delete_state("s").unwrap();
    m.create_state(json!(3), CreateOptions::id("s")).unwrap();
    assert_eq!(names(&seen), ["stateCreated", "stateUpdated", "stateDeleted", "stateCreated"]);
    // Failed calls emit nothing.
    assert!(m.update_state("missing", json!(0)).is_err());
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[test]
fn a_listener_may_call_back_into_the_manager() {
    let m = Arc::new(memory("a"));
    let seen = recorder(&m);
    let inner = m.clone();
    m.subscribe(move |e| {
        // Reading and writing from inside a listener must neither deadlock nor reorder events.
        if let SyncEvent::StateCreated(s) = e {
            if s.id == "first" {
                assert!(inner.get_state("first").unwrap().is_some(), "delivered after commit");
                inner.create_state(json!("from listener"), CreateOptions::id("second")).unwrap();
            }
        }
    })
    .unwrap();
    m.create_state(json!(1), CreateOptions::id("first")).unwrap();
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::StateCreated(s) => Some(s.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["first", "second"]);
}

#[test]
fn import_with_replace_reports_what_appeared_changed_and_vanished() {
    let source = memory("a");
    source.create_state(json!(1), CreateOptions::id("kept")).unwrap();
    source.create_state(json!("new"), CreateOptions::id("added")).unwrap();
    let snapshot = source.export_state().unwrap();
    let m = memory("a");
    m.create_state(json!(0), CreateOptions::id("kept")).unwrap();
    m.create_state(json!("old"), CreateOptions::id("gone")).unwrap();
    let seen = recorder(&m);
    m.import_state(snapshot, true).unwrap();
    let got: Vec<(&str, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::StateCreated(s) => Some(("created", s.id.clone())),
            SyncEvent::StateUpdated(s) => Some(("updated", s.id.clone())),
            SyncEvent::StateDeleted(s) => Some(("deleted", s.id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, [("created", "added".to_owned()), ("updated", "kept".to_owned()), ("deleted", "gone".to_owned())]);
    assert!(m.get_state("gone").unwrap().is_none());
}

#[test]
fn unsubscribe_is_by_handle_and_a_panicking_listener_is_contained() {
    let m = memory("a");
    let seen = recorder(&m);
    let boom = m.subscribe(|_| panic!("listener bug")).unwrap();
    m.create_state(json!(1), CreateOptions::id("s")).unwrap();
    assert!(m.unsubscribe(boom));
    assert!(!m.unsubscribe(boom));
    m.update_state("s", json!(2)).unwrap();
    assert_eq!(names(&seen), ["stateCreated", "stateUpdated"]);
}

#[test]
fn manual_conflicts_drive_status_and_events() {
    let a = SyncManager::open(
        ManagerConfig::memory().node_id("a").strategy(ConflictStrategy::Manual).clock(Arc::new(ManualClock::new(10))),
    )
    .unwrap();
    let b = memory("b");
    let seen = recorder(&a);
    a.create_state(json!({"v": "a"}), CreateOptions::id("s")).unwrap();
    let remote = b.create_state(json!({"v": "b"}), CreateOptions::id("s")).unwrap();
    let r = a.apply_remote_state(remote).unwrap();
    assert_eq!(r.outcome.as_str(), "conflict");
    assert!(!r.resolved);
    assert_eq!(a.status(), Status::Conflict);
    let conflict = a.conflicts().unwrap().remove(0);
    a.resolve_conflict(&conflict.conflict_id, Resolution::Custom(json!({"v": "both"}))).unwrap();
    assert_eq!(a.status(), Status::Idle);
    assert!(a.conflicts().unwrap().is_empty());
    assert_eq!(
        names(&seen),
        ["stateCreated", "conflictDetected", "statusChanged", "stateUpdated", "conflictResolved", "statusChanged"]
    );
    let err = a.resolve_conflict(&conflict.conflict_id, Resolution::Local).unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
}

#[test]
fn write_batch_is_all_or_nothing() {
    let m = memory("a");
    m.create_state(json!(0), CreateOptions::id("keep")).unwrap();
    let before = m.export_state().unwrap();
    let err = m
        .write_batch(|b| {
            b.create_state(json!(1), CreateOptions::id("new"))?;
            b.update_state("keep", json!(2))?;
            assert_eq!(b.get_state("new").unwrap().data, json!(1));
            b.update_state("missing", json!(3))
        })
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert_eq!(m.export_state().unwrap(), before);
    let n = m
        .write_batch(|b| {
            for i in 0..10 {
                b.update_state("keep", json!(i))?;
            }
            Ok(10)
        })
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(m.get_state("keep").unwrap().unwrap().version, 11);
    assert_eq!(m.pending_operations().unwrap().len(), 11);
}

#[test]
fn close_stops_every_call() {
    let m = memory("a");
    let seen = recorder(&m);
    m.create_state(json!(1), CreateOptions::id("s")).unwrap();
    m.close().unwrap();
    m.close().unwrap();
    assert_eq!(m.status(), Status::Closed);
    assert_eq!(names(&seen).last(), Some(&"statusChanged"));
    let closed = |r: Result<(), SyncError>| assert_eq!(r.unwrap_err().code(), "CLOSED");
    closed(m.get_state("s").map(drop));
    closed(m.create_state(json!(1), CreateOptions::default()).map(drop));
    closed(m.update_state("s", json!(2)).map(drop));
    closed(m.delete_state("s").map(drop));
    closed(m.list_states(None, false).map(drop));
    closed(m.pending_operations().map(drop));
    closed(m.acknowledge(&[]).map(drop));
    closed(m.conflicts().map(drop));
    closed(m.export_state().map(drop));
    closed(m.reconcile(Vec::<statesync::SyncState>::new()).map(drop));
    closed(m.subscribe(|_| {}).map(drop));
    closed(m.node_id().map(drop));
}

#[test]
fn a_manager_is_shared_across_threads() {
    let m = Arc::new(SyncManager::open(ManagerConfig::memory().node_id("a")).unwrap());
    let seen = recorder(&m);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let id = format!("t{t}-{}", i % 10);
                    match m.get_state(&id).unwrap() {
                        Some(_) => m.update_state(&id, json!(i)).unwrap(),
                        None => m.create_state(json!(i), CreateOptions::id(id)).unwrap(),
                    };
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ops = m.pending_operations().unwrap();
    assert_eq!(ops.len(), 1600);
    // One counter for all writes: op ids are unique and increasing in queue order.
    let counters: Vec<u64> = ops.iter().map(|o| o.op_id.rsplit(':').next().unwrap().parse().unwrap()).collect();
    assert!(counters.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen.lock().unwrap().len(), 1600);
}

#[test]
fn generated_ids_and_default_collection() {
    let m = memory("a");
    let s = m.create_state(json!(null), CreateOptions::default()).unwrap();
    assert_eq!(s.collection, "default");
    assert_eq!(s.id.len(), 36);
    let t = m.create_state(json!(null), CreateOptions::default()).unwrap();
    assert_ne!(s.id, t.id);
    assert_eq!(m.list_states(Some("default"), false).unwrap().len(), 2);
    assert!(m.list_states(Some("other"), false).unwrap().is_empty());
}

#[test]
fn a_store_failure_changes_nothing_and_sets_error_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let m = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap();
    m.create_state(json!(1), CreateOptions::id("s")).unwrap();
    let before = m.export_state().unwrap();
    // Another connection holds the write lock: the commit fails after the busy timeout.
    let mut blocker = hold_write_lock(&path);
    let err = m.update_state("s", json!(2)).unwrap_err();
    assert_eq!(err.code(), "STORAGE");
    assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
    assert_eq!(m.status(), Status::Error);
    assert_eq!(m.export_state().unwrap(), before);
    blocker.kill().unwrap();
    blocker.wait().unwrap();
    m.update_state("s", json!(2)).unwrap();
    assert_eq!(m.status(), Status::Idle);
}

/// Holds SQLite's write lock on `path` from another process until that process is killed.
fn hold_write_lock(path: &std::path::Path) -> std::process::Child {
    // No sqlite3 CLI on a fresh machine; python3's sqlite3 module is always there.
    let script = format!(
        "import sqlite3,sys,time\nc=sqlite3.connect({:?},isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked',flush=True)\ntime.sleep(60)\n",
        path.display().to_string()
    );
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn states_and_snapshots_read_back_from_their_json_text() {
    let m = SyncManager::open(
        ManagerConfig::memory()
            .node_id("a")
            .clock(Arc::new(ManualClock::new(1_000)))
            .collection_strategy("s", ConflictStrategy::MergeFields),
    )
    .unwrap();
    m.create_state(json!({"theme": "dark", "font": {"size": 12}}), CreateOptions::id("x").in_collection("s")).unwrap();
    m.create_state(json!([1, 2.5, null]), CreateOptions::id("y")).unwrap();
    let states = m.list_states(None, true).unwrap();
    // A list of states, the field history (hand-read `FieldKind`) included, reads back equal.
    let text = serde_json::to_string(&states).unwrap();
    let back = statesync::SyncState::list_from_json(&text).unwrap();
    assert_eq!(
        back.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        states.iter().map(|s| s.to_json()).collect::<Vec<_>>()
    );
    assert!(back[0].fields.is_some(), "the merge-fields state keeps its history");
    // Not a list, or a state that breaks an invariant: INVALID_STATE.
    for bad in ["{}", "[1]", r#"[{"id":"x"}]"#, "[", &text.replace(&states[0].hash, "0000000000000000")] {
        let e = statesync::SyncState::list_from_json(bad).unwrap_err();
        assert_eq!(e.code(), "INVALID_STATE", "{bad}: {e}");
    }
    // A snapshot reads back whole; its format is checked before the rest.
    let snapshot = m.export_state().unwrap().to_json();
    assert_eq!(statesync::Snapshot::from_json(&snapshot).unwrap().to_json(), snapshot);
    let newer = snapshot.replacen("\"format\":1", "\"format\":99", 1);
    assert_eq!(statesync::Snapshot::from_json(&newer).unwrap_err().code(), "UNSUPPORTED_FORMAT");
    for bad in ["[]", "{}", r#"{"format":"one"}"#, "{\"format\":1"] {
        assert_eq!(statesync::Snapshot::from_json(bad).unwrap_err().code(), "CORRUPT", "{bad}");
    }
}

#[cfg(feature = "testing")]
#[test]
fn a_panic_inside_a_call_becomes_internal_and_the_replica_works_on() {
    let m = SyncManager::open(ManagerConfig::memory().node_id("a")).unwrap();
    m.create_state(json!(1), CreateOptions::id("before")).unwrap();
    let e = statesync::catch_panic(|| m.panic_for_tests()).unwrap_err();
    assert_eq!(e.code(), "INTERNAL");
    assert!(e.to_string().contains("panic_for_tests was called"), "{e}");
    assert!(m.get_state("panic-for-tests").unwrap().is_none(), "the panicking transaction left nothing");
    m.create_state(json!(2), CreateOptions::id("after")).expect("the replica works after the panic");
    assert_eq!(m.list_states(None, false).unwrap().len(), 2);
}

#[test]
fn catch_panic_passes_results_and_errors_through() {
    assert_eq!(statesync::catch_panic(|| Ok(5)).unwrap(), 5);
    let e = statesync::catch_panic::<()>(|| Err(statesync::SyncError::NotFound("x".into()))).unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    let e = statesync::catch_panic::<()>(|| panic!("boom {}", 1)).unwrap_err();
    assert_eq!((e.code(), e.message().contains("boom 1")), ("INTERNAL", true));
}
