//! Backups and bucket sync (docs/backups.md) against every storage this build reaches: a
//! `memory://` store, a local folder (`file://`), and real S3 (moto), Azure Blob (Azurite) and
//! GCS (fake-gcs-server) servers started on 127.0.0.1 by `support/object_servers.rs`. The same
//! suite runs on each: `suite!` below makes one test per case and backend.

#![cfg(feature = "cloud")]

#[path = "support/object_servers.rs"]
mod object_servers;

use object_servers::{ObjectServer, ServerKind};
use serde_json::json;
use statesync::{
    list_backups, prune_backups, verify_backup, BackupOptions, BackupStore, BucketOptions, CreateOptions,
    EncryptionKey, KdfParams, ManagerConfig, ObjectStorage, ObjectStoreTransport, SyncContext, SyncManager,
};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A storage URL of a fresh, empty place on one backend, and what keeps it alive.
struct Place {
    url: String,
    _keep: Box<dyn std::any::Any>,
}

fn unique() -> String {
    format!("{:016x}", rand_u64())
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn memory_place() -> Place {
    Place { url: format!("memory://{}/prefix", unique()), _keep: Box::new(()) }
}

fn file_place() -> Place {
    let dir = tempfile::tempdir().unwrap();
    let url = url_of_dir(dir.path());
    Place { url, _keep: Box::new(dir) }
}

fn url_of_dir(dir: &std::path::Path) -> String {
    format!("file://{}", dir.join("bucket").display())
}

/// One server of each kind per test binary, shared by the tests (each in a prefix of its own);
/// the servers' reaper stops them when the binary exits.
fn server_place(kind: ServerKind) -> Place {
    static SERVERS: OnceLock<Mutex<Vec<(ServerKind, &'static ObjectServer)>>> = OnceLock::new();
    let server = {
        let mut servers = SERVERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        match servers.iter().find(|(k, _)| *k == kind) {
            Some((_, s)) => *s,
            None => {
                let s: &'static ObjectServer = Box::leak(Box::new(ObjectServer::start(kind)));
                servers.push((kind, s));
                s
            }
        }
    };
    Place { url: server.url(&format!("p{}", unique())), _keep: Box::new(()) }
}

/// `url` with `segment` added to its path (before its query, which holds the server's options).
fn child(url: &str, segment: &str) -> String {
    match url.split_once('?') {
        Some((path, query)) => format!("{path}/{segment}?{query}"),
        None => format!("{url}/{segment}"),
    }
}

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes(&[42u8; 32]).unwrap()
}

fn replica(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node)).unwrap())
}

/// A replica with `n` states in two collections.
fn filled(node: &str, n: usize) -> Arc<SyncManager> {
    let m = replica(node);
    m.write_batch(|b| {
        for i in 0..n {
            let collection = if i % 2 == 0 { "settings" } else { "drafts" };
            b.create_state(
                json!({"i": i, "text": format!("state {i} of {node}")}),
                CreateOptions::id(format!("s{i}")).in_collection(collection),
            )?;
        }
        Ok(())
    })
    .unwrap();
    m
}

fn data_of(m: &SyncManager) -> Vec<(String, serde_json::Value, bool)> {
    m.list_states(None, true).unwrap().iter().map(|s| (s.id.clone(), s.data.clone(), s.deleted)).collect()
}

// ---- backups --------------------------------------------------------------------------------

fn backup_round_trips_with_and_without_a_key(place: Place) {
    let source = filled("source", 50);
    for key in [None, Some(key())] {
        let info = source.backup(&place.url, key.as_ref(), Some("nightly")).unwrap();
        assert!(info.id.starts_with("backup-"), "{info:?}");
        assert_eq!((info.states, info.parts, info.encrypted), (50, 1, key.is_some()));
        assert_eq!(info.label.as_deref(), Some("nightly"));
        assert_eq!(verify_backup(&place.url, &info.id, key.as_ref()).unwrap(), info);
        let target = replica("target");
        let result = target.restore_backup(&place.url, &info.id, key.as_ref(), false, &[]).unwrap();
        assert_eq!(result.created, 50);
        assert_eq!(data_of(&target), data_of(&source));
    }
    let listed = list_backups(&place.url).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].created_at >= listed[1].created_at, "newest first");
}

fn backups_split_into_parts_and_name_a_tampered_one(place: Place) {
    let source = filled("source", 400);
    let store = BackupStore::open(&place.url).unwrap();
    let snapshot = source.export_state().unwrap();
    let options = BackupOptions { key: Some(key()), label: None, part_size: Some(1000) };
    let info = store.write(&snapshot, &options).unwrap();
    assert!(info.parts >= 3, "{info:?}");
    assert_eq!(store.verify(&info.id, Some(&key())).unwrap(), info);
    // A wrong key, or none, is CRYPTO; nothing is restored.
    let other = EncryptionKey::from_bytes(&[1u8; 32]).unwrap();
    let target = filled("target", 3);
    let before = data_of(&target);
    for k in [Some(&other), None] {
        let e = target.restore_backup(&place.url, &info.id, k, true, &[]).unwrap_err();
        assert_eq!(e.code(), "CRYPTO", "{e}");
    }
    // One changed byte in part 1: CORRUPT naming it, and the restore changes nothing.
    let storage = ObjectStorage::open(&place.url).unwrap();
    let part = format!("backups/{}/part-00001", info.id);
    let mut bytes = storage.get(&part).unwrap();
    bytes[40] ^= 0x10;
    storage.put(&part, bytes).unwrap();
    let e = target.restore_backup(&place.url, &info.id, Some(&key()), true, &[]).unwrap_err();
    assert_eq!(e.code(), "CORRUPT", "{e}");
    assert!(e.to_string().contains("part-00001"), "{e}");
    assert_eq!(data_of(&target), before, "a failed restore changes nothing");
    let e = verify_backup(&place.url, &info.id, Some(&key())).unwrap_err();
    assert!(e.to_string().contains("part-00001"), "{e}");
    // Part 0 swapped for part 2 (both intact, correct SHA-256 fixed in the manifest would need
    // the key): the manifest's checksum catches the swap.
    let p0 = storage.get(&format!("backups/{}/part-00000", info.id)).unwrap();
    storage.put(&format!("backups/{}/part-00002", info.id), p0).unwrap();
    assert_eq!(verify_backup(&place.url, &info.id, Some(&key())).unwrap_err().code(), "CORRUPT");
}

fn restore_merges_replaces_or_takes_some_collections(place: Place) {
    let source = filled("source", 10);
    let info = source.backup(&place.url, None, None).unwrap();
    // A newer local write survives a merge; replace puts the backup in place.
    let target = replica("target");
    target.restore_backup(&place.url, &info.id, None, false, &[]).unwrap();
    target.update_state("s0", json!({"local": true})).unwrap();
    target.create_state(json!({"extra": 1}), CreateOptions::id("extra").in_collection("settings")).unwrap();
    target.create_state(json!({"extra": 2}), CreateOptions::id("other").in_collection("notes")).unwrap();
    target.restore_backup(&place.url, &info.id, None, false, &[]).unwrap();
    assert_eq!(target.get_state("s0").unwrap().unwrap().data, json!({"local": true}));
    // Replace only `settings`: s0 back to the backup's, `extra` gone, `notes` untouched.
    target.restore_backup(&place.url, &info.id, None, true, &["settings".to_string()]).unwrap();
    assert_eq!(target.get_state("s0").unwrap().unwrap().data, source.get_state("s0").unwrap().unwrap().data);
    assert!(target.get_state("extra").unwrap().is_none());
    assert_eq!(target.get_state("other").unwrap().unwrap().data, json!({"extra": 2}));
    // Merge only `drafts` into an empty replica.
    let partial = replica("partial");
    partial.restore_backup(&place.url, &info.id, None, false, &["drafts".to_string()]).unwrap();
    assert_eq!(partial.list_states(None, false).unwrap().len(), 5);
    assert!(partial.list_states(None, false).unwrap().iter().all(|s| s.collection == "drafts"));
    // Replace everything.
    target.restore_backup(&place.url, &info.id, None, true, &[]).unwrap();
    assert_eq!(data_of(&target), data_of(&source));
}

fn prune_keeps_the_newest_and_hides_unfinished_backups(place: Place) {
    let source = filled("source", 5);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(source.backup(&place.url, None, None).unwrap().id);
    }
    // A backup that died before its manifest: parts only. Invisible, and young: kept by prune.
    let storage = ObjectStorage::open(&place.url).unwrap();
    storage.put("backups/backup-20200101T000000Z-00000000/part-00000", b"half".to_vec()).unwrap();
    assert_eq!(list_backups(&place.url).unwrap().len(), 4);
    let removed = prune_backups(&place.url, Some(2), None).unwrap();
    assert_eq!(removed.len(), 2);
    let left: Vec<String> = list_backups(&place.url).unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(left.len(), 2);
    assert!(removed.iter().all(|r| !left.contains(r)));
    assert!(storage.list("backups/backup-20200101T000000Z-00000000", None).unwrap().len() == 1);
    // keep_within keeps what is recent whatever keep_last says.
    assert!(prune_backups(&place.url, Some(0), Some(Duration::from_secs(3600))).unwrap().is_empty());
    assert_eq!(prune_backups(&place.url, None, None).unwrap_err().code(), "INVALID_INPUT");
    assert_eq!(verify_backup(&place.url, &removed[0], None).unwrap_err().code(), "NOT_FOUND");
    assert_eq!(verify_backup(&place.url, "../../etc", None).unwrap_err().code(), "INVALID_INPUT");
}

// ---- bucket sync ------------------------------------------------------------------------------

fn transport(place: &Place, key: Option<EncryptionKey>, compact_every: u64) -> ObjectStoreTransport {
    let storage = ObjectStorage::open(&place.url).unwrap();
    ObjectStoreTransport::with_options(storage, BucketOptions { key, compact_every, segments_per_pull: 3 }).unwrap()
}

fn replicas_converge_through_a_bucket(place: Place) {
    let all = SyncContext::all();
    for key in [None, Some(key())] {
        let place = Place { url: child(&place.url, &key.is_some().to_string()), _keep: Box::new(()) };
        let nodes: Vec<(Arc<SyncManager>, ObjectStoreTransport)> =
            ["a", "b", "c"].iter().map(|n| (replica(n), transport(&place, key.clone(), 4))).collect();
        for round in 0..6 {
            for (i, (m, t)) in nodes.iter().enumerate() {
                let id = format!("shared{}", round % 3);
                match m.get_state(&id).unwrap() {
                    Some(s) if !s.deleted => m.update_state(&id, json!({"by": i, "round": round})).map(|_| ()),
                    _ => m.create_state(json!({"by": i, "round": round}), CreateOptions::id(id)).map(|_| ()),
                }
                .or_else(|e| if e.code() == "ALREADY_EXISTS" { Ok(()) } else { Err(e) })
                .unwrap();
                m.create_state(json!({"n": round}), CreateOptions::id(format!("own-{i}-{round}"))).unwrap();
                m.sync_via(t, &all).unwrap();
            }
        }
        for _ in 0..2 {
            for (m, t) in &nodes {
                m.sync_via(t, &all).unwrap();
            }
        }
        let first = data_of(&nodes[0].0);
        assert_eq!(first.len(), 3 + 18);
        for (m, _) in &nodes[1..] {
            assert_eq!(data_of(m), first);
            assert!(m.pending_operations().unwrap().is_empty());
        }
        // A newcomer starts from the snapshot compactions left, and the segments after it.
        let storage = ObjectStorage::open(&place.url).unwrap();
        assert!(!storage.list("snapshots", None).unwrap().is_empty(), "compaction ran");
        let late = replica("late");
        late.sync_via(&transport(&place, key.clone(), 0), &all).unwrap();
        assert_eq!(data_of(&late), first);
    }
}

fn a_bucket_refuses_the_wrong_key(place: Place) {
    let a = filled("a", 3);
    a.sync_via(&transport(&place, Some(key()), 0), &SyncContext::all()).unwrap();
    let b = replica("b");
    let wrong = EncryptionKey::from_passphrase_with(
        "nope",
        b"saltsalt",
        KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 },
    )
    .unwrap();
    assert_eq!(b.sync_via(&transport(&place, Some(wrong), 0), &SyncContext::all()).unwrap_err().code(), "CRYPTO");
    assert_eq!(b.sync_via(&transport(&place, None, 0), &SyncContext::all()).unwrap_err().code(), "CRYPTO");
    assert!(b.list_states(None, true).unwrap().is_empty());
    b.sync_via(&transport(&place, Some(key()), 0), &SyncContext::all()).unwrap();
    assert_eq!(data_of(&b), data_of(&a));
}

fn a_pull_is_scoped_to_the_rounds_collections(place: Place) {
    let a = filled("a", 6);
    a.sync_via(&transport(&place, None, 0), &SyncContext::all()).unwrap();
    let b = replica("b");
    b.sync_via(&transport(&place, None, 0), &SyncContext::collections(["drafts"])).unwrap();
    assert_eq!(b.list_states(None, true).unwrap().len(), 3);
    assert!(b.list_states(None, true).unwrap().iter().all(|s| s.collection == "drafts"));
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory { $( #[test] fn $case() { super::$case(super::memory_place()) } )* }
        mod file { $( #[test] fn $case() { super::$case(super::file_place()) } )* }
        mod s3 { $( #[test] fn $case() { super::$case(super::server_place(super::ServerKind::S3)) } )* }
        mod azure { $( #[test] fn $case() { super::$case(super::server_place(super::ServerKind::Azure)) } )* }
        mod gcs { $( #[test] fn $case() { super::$case(super::server_place(super::ServerKind::Gcs)) } )* }
    };
}

suite!(
    backup_round_trips_with_and_without_a_key,
    backups_split_into_parts_and_name_a_tampered_one,
    restore_merges_replaces_or_takes_some_collections,
    prune_keeps_the_newest_and_hides_unfinished_backups,
    replicas_converge_through_a_bucket,
    a_bucket_refuses_the_wrong_key,
    a_pull_is_scoped_to_the_rounds_collections,
);

#[test]
fn unknown_schemes_and_options_are_invalid_input() {
    for url in ["ftp://host/x", "not a url", "memory://x?endpoint=y", "s3://bucket/p?no_such_option=1"] {
        let e = ObjectStorage::open(url).unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT", "{url}: {e}");
    }
}

#[test]
fn an_unreachable_server_is_a_transport_error() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = "s3://bucket/p?endpoint=http://127.0.0.1:1&allow_http=true&region=us-east-1&access_key_id=k&secret_access_key=s";
    let e = list_backups(url).unwrap_err();
    assert_eq!(e.code(), "TRANSPORT", "{e}");
    assert!(!e.to_string().contains("secret_access_key"), "no query in messages: {e}");
}

#[test]
fn auto_sync_and_auto_backup_run_through_object_storage() {
    let place = memory_place();
    let (a, b) = (filled("a", 4), replica("b"));
    let bucket = child(&place.url, "sync");
    for m in [&a, &b] {
        let transport: Arc<dyn statesync::SyncTransport> =
            Arc::new(ObjectStoreTransport::open(&bucket, Some(key())).unwrap());
        m.start_auto_sync(Duration::from_millis(50), transport).unwrap();
    }
    let backups = child(&place.url, "backups");
    let mut auto = a.start_auto_backup(&backups, Duration::from_secs(1), 2, Some(&key())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while (data_of(&b) != data_of(&a) || auto.runs() < 3) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(data_of(&b), data_of(&a), "auto-sync through the bucket converged");
    assert!(auto.runs() >= 3, "three auto-backups in 20 s: {}", auto.runs());
    assert_eq!(auto.last_error(), None);
    let last = auto.last_backup().unwrap();
    assert_eq!((last.states, last.encrypted, last.label.as_deref()), (4, true, Some("auto")));
    auto.stop();
    let runs = auto.runs();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(auto.runs(), runs, "stopped");
    assert_eq!(list_backups(&backups).unwrap().len(), 2, "keep_last 2");
    assert!(a.start_auto_backup(&backups, Duration::from_millis(10), 1, None).unwrap_err().code() == "INVALID_INPUT");
    a.close().unwrap();
    b.close().unwrap();
}
