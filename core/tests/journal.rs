//! The journal store (`StorageConfig::Journal`): every transaction reaches the sink as a record,
//! and a replica reopened from the rows the sink kept holds exactly what it held before.

use serde_json::json;
use statesync::{
    ConflictStrategy, CreateOptions, JournalImage, JournalRecord, JournalSink, JournalStorage, ManagerConfig,
    ManualClock, Resolution, SyncError, SyncManager, SyncState,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Keeps the rows in memory, as IndexedDB keeps them in the browser; can be told to fail.
#[derive(Default)]
struct MemorySink {
    image: Mutex<JournalImage>,
    records: Mutex<Vec<JournalRecord>>,
    fail: AtomicBool,
    closed: AtomicBool,
}

impl JournalSink for MemorySink {
    fn write(&self, record: JournalRecord) -> statesync::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SyncError::Storage { message: "the sink is full".into(), source: None });
        }
        self.records.lock().unwrap().push(record.clone());
        self.image.lock().unwrap().apply(record);
        Ok(())
    }

    fn close(&self) -> statesync::Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

fn open(sink: &Arc<MemorySink>, node: &str, strategy: ConflictStrategy) -> SyncManager {
    let image = sink.image.lock().unwrap().clone();
    let config = ManagerConfig::journal(JournalStorage::new(image, sink.clone()))
        .node_id(node)
        .strategy(strategy)
        .clock(Arc::new(ManualClock::new(1_000)));
    SyncManager::open(config).unwrap()
}

fn remote(id: &str, node: &str, counter: u64, millis: u64, data: serde_json::Value) -> SyncState {
    SyncState::from_value(json!({
        "id": id, "data": data, "clock": {node: counter},
        "timestamp": {"millis": millis, "counter": 0, "node": node}
    }))
    .unwrap()
}

#[test]
fn a_reopened_replica_holds_everything_it_held() {
    let sink = Arc::new(MemorySink::default());
    let m = open(&sink, "tab", ConflictStrategy::Manual);
    m.create_state(json!({"theme": "dark"}), CreateOptions::id("settings")).unwrap();
    m.create_state(json!([1, 2]), CreateOptions::id("list").in_collection("misc")).unwrap();
    m.update_state("settings", json!({"theme": "light"})).unwrap();
    m.delete_state("list").unwrap();
    let first = m.pending_operations().unwrap()[0].op_id.clone();
    assert_eq!(m.acknowledge(&[first]).unwrap(), 1);
    // A concurrent remote version makes a manual conflict.
    m.apply_remote_state(remote("settings", "hub", 1, 5_000, json!({"theme": "blue"}))).unwrap();
    assert_eq!(m.conflicts().unwrap().len(), 1);
    m.set_peer_cursor("hub", "", Some("feed.7")).unwrap();
    let before = m.export_state().unwrap();
    m.close().unwrap();
    assert!(sink.closed.load(Ordering::SeqCst), "close reaches the sink");

    let again = open(&sink, "tab", ConflictStrategy::Manual);
    assert_eq!(again.export_state().unwrap(), before);
    assert_eq!(again.peer_cursor("hub", "").unwrap().as_deref(), Some("feed.7"));
    // The counters carried on: the next write gets the next op id.
    let conflict = again.conflicts().unwrap()[0].conflict_id.clone();
    again.resolve_conflict(&conflict, Resolution::Remote).unwrap();
    let ops = again.pending_operations().unwrap();
    let last = ops.last().unwrap();
    assert_eq!(last.op_id, "tab:5", "counters survive: {ops:?}");
    assert!(again.conflicts().unwrap().is_empty());
    let feed = again.changes_since(None, &statesync::SyncContext::all()).unwrap();
    assert_eq!(feed.states.len(), 2);
}

#[test]
fn records_hold_only_what_the_transaction_changed() {
    let sink = Arc::new(MemorySink::default());
    let m = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    m.create_state(json!({"n": 1}), CreateOptions::id("a")).unwrap();
    m.create_state(json!({"n": 2}), CreateOptions::id("b")).unwrap();
    m.update_state("a", json!({"n": 3})).unwrap();
    let records = sink.records.lock().unwrap().clone();
    // The first record is the new replica's meta row.
    assert_eq!(records.len(), 4);
    let last = &records[3];
    assert_eq!(last.states.len(), 1, "one state row, not a snapshot");
    assert_eq!(last.states[0].key, "a");
    assert_eq!(last.ops_added.len(), 1);
    assert!(!last.clear);
    assert_eq!(last.meta.counter, 3);
}

#[test]
fn a_failing_sink_fails_the_call_and_changes_nothing() {
    let sink = Arc::new(MemorySink::default());
    let m = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    m.create_state(json!({"n": 1}), CreateOptions::id("a")).unwrap();
    let before = m.export_state().unwrap();
    sink.fail.store(true, Ordering::SeqCst);
    let err = m.update_state("a", json!({"n": 2})).unwrap_err();
    assert_eq!(err.code(), "STORAGE");
    assert_eq!(m.export_state().unwrap(), before);
    sink.fail.store(false, Ordering::SeqCst);
    m.update_state("a", json!({"n": 2})).unwrap();
    drop(m);
    let again = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    assert_eq!(again.get_state("a").unwrap().unwrap().data, json!({"n": 2}));
}

#[test]
fn import_with_replace_clears_the_rows() {
    let sink = Arc::new(MemorySink::default());
    let m = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    m.create_state(json!(1), CreateOptions::id("old")).unwrap();
    let other = SyncManager::open(ManagerConfig::memory().node_id("x").clock(Arc::new(ManualClock::new(9)))).unwrap();
    other.create_state(json!(2), CreateOptions::id("new")).unwrap();
    m.import_state(other.export_state().unwrap(), true).unwrap();
    let before = m.export_state().unwrap();
    drop(m);
    let image = sink.image.lock().unwrap().clone();
    assert_eq!(image.states.len(), 1);
    assert_eq!(image.states[0].key, "new");
    let again = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    assert_eq!(again.export_state().unwrap(), before);
}

#[test]
fn a_damaged_image_is_corrupt_and_another_node_is_refused() {
    let sink = Arc::new(MemorySink::default());
    let m = open(&sink, "tab", ConflictStrategy::LastWriteWins);
    m.create_state(json!(1), CreateOptions::id("a")).unwrap();
    drop(m);
    let storage = |image: JournalImage| JournalStorage::new(image, sink.clone());
    let clock = Arc::new(ManualClock::new(1));
    let good = sink.image.lock().unwrap().clone();
    let wrong_node =
        SyncManager::open(ManagerConfig::journal(storage(good.clone())).node_id("other").clock(clock.clone()));
    assert_eq!(wrong_node.err().unwrap().code(), "INVALID_INPUT");
    let mut bad = good;
    bad.states[0].body = "{\"id\":".into();
    let damaged = SyncManager::open(ManagerConfig::journal(storage(bad)).clock(clock));
    assert_eq!(damaged.err().unwrap().code(), "CORRUPT");
    // The image round-trips through JSON, as the browser stores and reads it.
    let image = sink.image.lock().unwrap().clone();
    let text = serde_json::to_string(&image).unwrap();
    assert_eq!(serde_json::from_str::<JournalImage>(&text).unwrap(), image);
}
