//! Bad stores and bad configuration: each a typed error, and nothing on disk changed by it.
//! (Bad remote states, snapshots and calls are conformance vectors under `conformance/`.)
#![cfg(feature = "sqlite")]

use serde_json::json;
use statesync::{CreateOptions, ManagerConfig, SyncManager};

fn open_err(config: ManagerConfig) -> statesync::SyncError {
    SyncManager::open(config).err().expect("open must fail")
}

/// A closed store holding one state `s`, then changed behind the library's back with `sql`.
fn tampered_store(dir: &std::path::Path, sql: &str) -> std::path::PathBuf {
    let path = dir.join("store.db");
    let m = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap();
    m.create_state(json!({"k": 1}), CreateOptions::id("s")).unwrap();
    m.close().unwrap();
    rusqlite::Connection::open(&path).unwrap().execute(sql, []).unwrap();
    path
}

#[test]
fn a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let garbage = b"these are my notes, not a database; ".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "CORRUPT", "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "the file is untouched");
}

#[test]
fn a_database_from_a_newer_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = tampered_store(dir.path(), "UPDATE statesync_schema SET version = version + 1");
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "UNSUPPORTED_FORMAT", "{err}");
    // Restoring the version shows nothing else was touched.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE statesync_schema SET version = version - 1", []).unwrap();
    }
    let m = SyncManager::open(ManagerConfig::sqlite(&path)).unwrap();
    assert_eq!(m.get_state("s").unwrap().unwrap().data, json!({"k": 1}));
}

#[test]
fn a_database_of_another_application() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)", []).unwrap();
    }
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "CORRUPT", "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1, "no statesync table was added");
}

#[test]
fn a_damaged_row_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = tampered_store(dir.path(), "UPDATE states SET body = substr(body, 1, 20)");
    assert_eq!(open_err(ManagerConfig::sqlite(&path)).code(), "CORRUPT");
}

#[test]
fn bad_configuration() {
    assert_eq!(open_err(ManagerConfig::memory().node_id("")).code(), "INVALID_INPUT");
    assert_eq!(open_err(ManagerConfig::memory().node_id("x".repeat(129))).code(), "INVALID_INPUT");
    assert_eq!(open_err(ManagerConfig::memory().node_id("a\0b")).code(), "INVALID_INPUT");
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(ManagerConfig::sqlite(dir.path().join("missing-dir").join("x.db")));
    assert_eq!(err.code(), "STORAGE", "{err}");
}

#[test]
fn a_database_open_in_another_replica_is_refused_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap();
    first.create_state(json!({"k": 1}), CreateOptions::id("s")).unwrap();
    // A second replica on the same file would keep its own image and reuse counters.
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "STORAGE", "{err}");
    assert!(err.to_string().contains("open in another replica"), "{err}");
    // From another thread too (one process, as with worker threads).
    let from_thread = std::thread::spawn({
        let path = path.clone();
        move || SyncManager::open(ManagerConfig::sqlite(path)).err().map(|e| e.code())
    });
    assert_eq!(from_thread.join().unwrap(), Some("STORAGE"));
    first.close().unwrap();
    let second = SyncManager::open(ManagerConfig::sqlite(&path)).unwrap();
    assert_eq!(second.get_state("s").unwrap().unwrap().data, json!({"k": 1}));
    drop(second);
    // Dropping without close releases the lock as well.
    SyncManager::open(ManagerConfig::sqlite(&path)).unwrap();
}
