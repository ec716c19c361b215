//! Object storage (issue 17, docs/backups.md): backups and bucket sync, on a local folder and
//! on a real S3 API (moto on 127.0.0.1, started here). Figures, each measured in this run:
//!
//! * backup and restore of 100,000 states: MB/s (of the binary snapshot), and the bytes on the
//!   bucket against the binary snapshot's size;
//! * encryption's cost: the same backup and restore with a key, as a ratio of the time without;
//! * a bucket sync round after 1 % of the states changed: bytes and requests of the writer's
//!   push and of the reader's pull, against the changed states' own size.
//!
//! `cargo bench -p statesync --bench object_storage` runs it (no criterion group: every figure
//! is one whole operation, timed as the median of a few); `cargo test --benches` runs it once,
//! tiny.

#[path = "../tests/support/object_servers.rs"]
#[allow(dead_code)] // the benchmark starts only the S3 server
mod object_servers;
#[path = "report.rs"]
mod report;

use object_servers::{ObjectServer, ServerKind};
use report::{bench_mode, info, median, timed};
use serde_json::json;
use statesync::{
    encode, BucketOptions, CreateOptions, Encoding, EncryptionKey, ManagerConfig, ObjectStorage, ObjectStoreTransport,
    SyncContext, SyncManager,
};

/// States in the replica, and how many change before the bucket round (1 %).
fn sizes() -> (usize, usize, usize) {
    if bench_mode() {
        (100_000, 1_000, 3)
    } else {
        (2_000, 20, 1)
    }
}

fn filled(node: &str, n: usize) -> SyncManager {
    let m = SyncManager::open(ManagerConfig::memory().node_id(node)).unwrap();
    m.write_batch(|b| {
        for i in 0..n {
            let data = json!({"title": format!("item {i}"), "done": i % 3 == 0, "rank": i, "tags": ["a", "b"]});
            b.create_state(data, CreateOptions::id(format!("todo-{i:06}")).in_collection("todos"))?;
        }
        Ok(())
    })
    .unwrap();
    m
}

fn mb_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

/// Backup and restore figures on one place.
fn backups(place: &str, url: &str, source: &SyncManager, repeats: usize) {
    let snapshot_bytes = encode(&source.export_state().unwrap(), Encoding::Binary).len();
    let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
    let mut times = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    let mut stored = [0u64; 2];
    for _ in 0..repeats {
        for (i, k) in [None, Some(&key)].into_iter().enumerate() {
            let mut info = None;
            times[i].0.push(timed(|| info = Some(source.backup(url, k, None).unwrap())).as_secs_f64());
            let info = info.unwrap();
            stored[i] = info.bytes;
            let target = SyncManager::open(ManagerConfig::memory().node_id("target")).unwrap();
            times[i].1.push(timed(|| drop(target.restore_backup(url, &info.id, k, true, &[]).unwrap())).as_secs_f64());
        }
    }
    let [(plain_b, plain_r), (sealed_b, sealed_r)] = times.map(|(b, r)| (median(b), median(r)));
    info(
        &format!("backup ({place})"),
        format!(
            "{:.1} MB/s of binary snapshot ({:.0} ms); on the bucket {} B = {:.2}x the {} B snapshot",
            mb_per_s(snapshot_bytes, plain_b),
            plain_b * 1e3,
            stored[0],
            stored[0] as f64 / snapshot_bytes as f64,
            snapshot_bytes
        ),
    );
    info(
        &format!("restore ({place})"),
        format!(
            "{:.1} MB/s of binary snapshot ({:.0} ms), replace into an empty replica",
            mb_per_s(snapshot_bytes, plain_r),
            plain_r * 1e3
        ),
    );
    info(
        &format!("encryption cost ({place})"),
        format!(
            "backup {:.2}x, restore {:.2}x the time without a key; {} B stored (+{} B)",
            sealed_b / plain_b,
            sealed_r / plain_r,
            stored[1],
            stored[1] as i64 - stored[0] as i64
        ),
    );
}

/// One bucket round after 1 % changed: the writer pushes, the reader pulls.
fn bucket_round(place: &str, url: &str, n: usize, changed: usize) {
    let all = SyncContext::all();
    let open = |url: &str| {
        let options = BucketOptions { compact_every: 0, ..BucketOptions::default() };
        ObjectStoreTransport::with_options(ObjectStorage::open(url).unwrap(), options).unwrap()
    };
    let writer = filled("writer", n);
    let reader = SyncManager::open(ManagerConfig::memory().node_id("reader")).unwrap();
    let (wt, rt) = (open(url), open(url));
    writer.sync_via(&wt, &all).unwrap();
    reader.sync_via(&rt, &all).unwrap();
    let ids: Vec<String> = (0..changed).map(|i| format!("todo-{:06}", i * (n / changed))).collect();
    writer
        .write_batch(|b| {
            for id in &ids {
                b.update_state(id, json!({"title": format!("{id} edited"), "done": true, "rank": 1}))?;
            }
            Ok(())
        })
        .unwrap();
    let own: usize =
        ids.iter().map(|id| encode(&*writer.get_state(id).unwrap().unwrap(), Encoding::Binary).len()).sum();
    let (w0, r0) = (wt.storage().stats(), rt.storage().stats());
    let push = timed(|| drop(writer.sync_via(&wt, &all).unwrap()));
    let pull = timed(|| assert_eq!(reader.sync_via(&rt, &all).unwrap().pulled.updated as usize, changed));
    let (w1, r1) = (wt.storage().stats(), rt.storage().stats());
    info(
        &format!("bucket round, 1% changed ({place})"),
        format!(
            "push {} requests {} B written ({:.2}x the changed states' {own} B) in {:.0} ms; pull {} requests {} B read in {:.0} ms",
            w1.requests - w0.requests,
            w1.bytes_written - w0.bytes_written,
            (w1.bytes_written - w0.bytes_written) as f64 / own as f64,
            push.as_secs_f64() * 1e3,
            r1.requests - r0.requests,
            r1.bytes_read - r0.bytes_read,
            pull.as_secs_f64() * 1e3
        ),
    );
}

fn summary() {
    let (n, changed, repeats) = sizes();
    let source = filled("source", n);
    let dir = tempfile::tempdir().unwrap();
    let local = format!("file://{}", dir.path().join("bucket").display());
    backups("local folder", &local, &source, repeats);
    bucket_round("local folder", &format!("{local}/sync"), n, changed);
    let moto = ObjectServer::start(ServerKind::S3);
    backups("S3 (moto)", &moto.url("backups"), &source, repeats);
    bucket_round("S3 (moto)", &moto.url("sync"), n, changed);
}

fn main() {
    report::run(&[], summary);
}
