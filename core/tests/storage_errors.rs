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

#[test]
fn a_second_open_through_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let first = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap();
    first.create_state(json!({"k": 1}), CreateOptions::id("s")).unwrap();
    let link = dir.path().join("two-link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let err = open_err(ManagerConfig::sqlite(&link));
    assert_eq!(err.code(), "STORAGE", "{err}");
    assert!(err.to_string().contains("open in another replica"), "{err}");
    // A link to a folder is resolved as well.
    let folder_link = dir.path().join("folder-link");
    std::os::unix::fs::symlink(dir.path(), &folder_link).unwrap();
    assert_eq!(open_err(ManagerConfig::sqlite(folder_link.join("two.db"))).code(), "STORAGE");
    first.close().unwrap();
    // Once closed, the link opens the same replica, with its SQLite files beside the real file.
    let again = SyncManager::open(ManagerConfig::sqlite(&link)).unwrap();
    assert_eq!(again.node_id().unwrap(), "a");
    assert_eq!(again.get_state("s").unwrap().unwrap().data, json!({"k": 1}));
    assert!(!dir.path().join("two-link.db-wal").exists(), "the WAL sits beside two.db, not beside the link");
}

#[test]
fn a_missing_counters_row_beside_stored_states_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = tampered_store(dir.path(), "DELETE FROM replica");
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "CORRUPT", "{err}");
    assert!(err.to_string().contains("counters row is missing"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let states: i64 = conn.query_row("SELECT count(*) FROM states", [], |r| r.get(0)).unwrap();
    assert_eq!(states, 1, "the stored state is still there");
}

#[test]
fn an_empty_file_is_corrupt_not_a_new_replica() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let m = SyncManager::open(ManagerConfig::sqlite(&path).node_id("a")).unwrap();
    m.create_state(json!({"k": 1}), CreateOptions::id("s")).unwrap();
    m.close().unwrap();
    // Truncated behind the library's back (a failed copy, a full disk, a careless tool).
    std::fs::File::create(&path).unwrap();
    let err = open_err(ManagerConfig::sqlite(&path));
    assert_eq!(err.code(), "CORRUPT", "{err}");
    assert!(err.to_string().contains("empty file"), "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left as it was");
    // A path where nothing is becomes a new replica, and never shows up empty while it is made.
    let fresh = dir.path().join("fresh.db");
    let m = SyncManager::open(ManagerConfig::sqlite(&fresh).node_id("b")).unwrap();
    assert!(std::fs::metadata(&fresh).unwrap().len() > 0);
    assert!(!dir.path().join("fresh.db-creating").exists());
    m.close().unwrap();
}
