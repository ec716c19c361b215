//! Fault simulation of serverless sync through a bucket (docs/backups.md): for each of 240
//! seeds, 3 to 5 replicas write to a small id space and sync through one `memory://`-like bucket
//! that fails on purpose, then must converge with no write lost.
//!
//! **The bucket** is an in-memory `object_store` wrapped in `FaultyStore`, which, while faults
//! are on, makes a seeded share of calls fail: a put that fails before writing, a put that
//! writes and then fails anyway (the answer lost: for a compaction that is a crash between the
//! snapshot data and its pointer, for a push a segment the replica does not know it wrote), a
//! failed get, a failed list, a failed delete.
//!
//! **Replicas** each sync through their own `ObjectStoreTransport`, which is now and then thrown
//! away and made again (a restarted process: it forgets its next segment number), with small
//! pages (`segments_per_pull` 2) and a compaction every 3 segments, and explicit compactions at
//! random, so snapshots, gaps and deleted segments happen all the time.
//!
//! **Checks.** With faults off, rounds go round until every replica holds the same states
//! (ids, data, tombstones, clocks) and nothing is pending; every write that returned `Ok` is
//! covered: the final clock of its state has seen it. A newcomer that joins at the end, starting
//! from the newest snapshot, ends with exactly the same states.

#![cfg(feature = "cloud")]

#[path = "support/rng.rs"]
mod rng;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use rng::Rng;
use serde_json::json;
use statesync::{
    BucketOptions, ClockOrdering, CreateOptions, ManagerConfig, ObjectStorage, ObjectStoreTransport, SyncContext,
    SyncManager, VectorClock,
};
use std::sync::{Arc, Mutex};

const SEEDS: u64 = 240;
const STEPS: usize = 60;
const IDS: u64 = 6;

/// A store that fails on purpose, from a seeded generator.
struct FaultyStore {
    inner: InMemory,
    faults: Mutex<Faults>,
}

struct Faults {
    rng: Rng,
    on: bool,
    percent: u64,
    injected: u64,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyStore")
    }
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyStore")
    }
}

impl FaultyStore {
    fn fail(&self) -> bool {
        let mut f = self.faults.lock().unwrap();
        let fail = f.on && {
            let p = f.percent;
            f.rng.chance(p)
        };
        f.injected += fail as u64;
        fail
    }

    fn error() -> object_store::Error {
        object_store::Error::Generic { store: "FaultyStore", source: "an injected fault".into() }
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if self.fail() {
            return Err(Self::error());
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        if self.fail() {
            return Err(Self::error()); // Written, but the answer is lost.
        }
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        if self.fail() {
            return Err(Self::error());
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if self.fail() {
            return futures_util::stream::once(async { Err(FaultyStore::error()) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if self.fail() {
            return futures_util::stream::once(async { Err(FaultyStore::error()) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        if self.fail() {
            return Err(Self::error());
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

struct Node {
    manager: SyncManager,
    transport: ObjectStoreTransport,
}

fn transport(storage: &ObjectStorage) -> ObjectStoreTransport {
    let options = BucketOptions { key: None, compact_every: 3, segments_per_pull: 2 };
    ObjectStoreTransport::with_options(storage.clone(), options).unwrap()
}

/// A write that returned Ok: its state and the clock it wrote.
struct Written {
    id: String,
    clock: VectorClock,
}

/// What one seed did: faults injected, and whether compactions deleted segments (so readers
/// had to come through a snapshot).
struct Outcome {
    injected: u64,
    deleted_segments: bool,
}

fn run(seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let store = Arc::new(FaultyStore {
        inner: InMemory::new(),
        faults: Mutex::new(Faults { rng: Rng(seed ^ 0x5eed), on: true, percent: 5 + seed % 16, injected: 0 }),
    });
    let storage = ObjectStorage::from_store(store.clone(), "bucket", format!("faulty-{seed}"));
    let count = 3 + (seed % 3) as usize;
    let mut nodes: Vec<Node> = (0..count)
        .map(|i| Node {
            manager: SyncManager::open(ManagerConfig::memory().node_id(format!("n{i}"))).unwrap(),
            transport: transport(&storage),
        })
        .collect();
    let all = SyncContext::all();
    let mut written = Vec::new();
    for step in 0..STEPS {
        let n = rng.index(count);
        let node = &mut nodes[n];
        match rng.below(100) {
            0..=54 => {
                let id = format!("k{}", rng.below(IDS));
                let value = json!({"by": n, "step": step, "f": rng.below(4)});
                let live = node.manager.get_state(&id).unwrap().is_some_and(|s| !s.deleted);
                let result = match (live, rng.below(5)) {
                    (false, _) => node.manager.create_state(value, CreateOptions::id(id.clone())),
                    (true, 0) => node.manager.delete_state(&id),
                    (true, _) => node.manager.update_state(&id, value),
                };
                let state = result.unwrap();
                written.push(Written { id, clock: state.clock.clone() });
            }
            55..=89 => {
                // A failed round is fine: its cursors and queue keep what was done.
                let _ = node.manager.sync_via(&node.transport, &all);
            }
            90..=94 => {
                let _ = node.transport.compact();
            }
            _ => node.transport = transport(&storage), // A restarted process.
        }
    }
    let injected = store.faults.lock().unwrap().injected;
    store.faults.lock().unwrap().on = false;
    settle(&nodes, seed);
    // A newcomer starts from the newest snapshot.
    let late = SyncManager::open(ManagerConfig::memory().node_id("late")).unwrap();
    late.sync_via(&transport(&storage), &all).unwrap();
    let want = states_of(&nodes[0].manager);
    assert_eq!(states_of(&late), want, "seed {seed}: the newcomer differs");
    for w in &written {
        // Tombstones included: a deletion is a write too.
        let (_, _, _, clock) =
            want.iter().find(|row| row.0 == w.id).unwrap_or_else(|| panic!("seed {seed}: {} lost", w.id));
        let seen = matches!(clock.compare(&w.clock), ClockOrdering::After | ClockOrdering::Equal);
        assert!(seen, "seed {seed}: a write to {} with clock {:?} is lost (final {clock:?})", w.id, w.clock);
    }
    let first_segments =
        storage.list("log", None).unwrap().into_iter().filter(|o| o.name.ends_with("00000000000000000001.seg"));
    let deleted_segments = first_segments.count() < storage.list_folders("log").unwrap().len();
    Outcome { injected, deleted_segments }
}

/// Rounds with faults off until every replica holds the same states and nothing is pending.
fn settle(nodes: &[Node], seed: u64) {
    let all = SyncContext::all();
    for pass in 0..8 {
        for node in nodes {
            node.manager.sync_via(&node.transport, &all).unwrap_or_else(|e| panic!("seed {seed} pass {pass}: {e}"));
        }
        if pass == 2 {
            nodes[0].transport.compact().unwrap();
        }
        let first = states_of(&nodes[0].manager);
        let settled =
            nodes.iter().all(|n| states_of(&n.manager) == first && n.manager.pending_operations().unwrap().is_empty());
        if settled && pass >= 3 {
            return;
        }
    }
    panic!("seed {seed}: the replicas did not converge in 8 passes");
}

type Row = (String, serde_json::Value, bool, VectorClock);

fn states_of(m: &SyncManager) -> Vec<Row> {
    m.list_states(None, true)
        .unwrap()
        .iter()
        .map(|s| (s.id.clone(), s.data.clone(), s.deleted, s.clock.clone()))
        .collect()
}

#[test]
fn replicas_syncing_through_a_failing_bucket_converge_and_lose_nothing() {
    let first: u64 = std::env::var("BUCKET_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seeds = if std::env::var_os("BUCKET_SEED").is_some() { first..first + 1 } else { 0..SEEDS };
    let (mut injected, mut compacted, mut runs) = (0, 0, 0);
    for seed in seeds {
        let outcome = run(seed);
        injected += outcome.injected;
        compacted += outcome.deleted_segments as u64;
        runs += 1;
    }
    assert!(injected >= 5 * runs, "the faults must actually happen: {injected} injected in {runs} seeds");
    assert!(compacted * 2 >= runs, "compactions must delete segments in most seeds: {compacted} of {runs}");
}
