//! The hub's server stores (docs/adr/0016-hub-server-store.md): one suite run against SQLite
//! and against a private PostgreSQL cluster (tests/support/postgres.rs), plus what only one of
//! them does: SQLite's import of a previous release's hub replica, and PostgreSQL's feed with
//! several processes committing to one space at once.

mod support;

use serde_json::{json, Value};
use statesync::{ClockOrdering, ConflictStrategy, ManagerConfig, SyncManager, SyncState};
use statesync_hub::identity::{Collections, SpaceId};
use statesync_hub::rules::SpaceLimits;
use statesync_hub::{
    PostgresStore, PullScope, PulledPage, PushOutcome, PushPolicy, SpaceExport, SpaceHead, SqliteStore, Store,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::postgres::PgCluster;

// ---- the two stores --------------------------------------------------------------------------

/// Opens a store, and opens it again (another process, or after a restart).
trait Backend {
    fn open(&self) -> Box<dyn Store>;
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(self.0.path().join("hub.db")).expect("open the SQLite store"))
    }
}

struct Postgres(String);

impl Backend for Postgres {
    fn open(&self) -> Box<dyn Store> {
        Box::new(PostgresStore::connect(&self.0, 4).expect("connect the PostgreSQL store"))
    }
}

fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().expect("temp dir"))
}

fn postgres() -> Postgres {
    Postgres(PgCluster::start().database())
}

/// Runs the named suite test against each store.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::sqlite());
            }
            #[test]
            fn postgres() {
                super::$name(&super::postgres());
            }
        }
    )*};
}

both_stores!(
    pulls_page_through_the_feed_in_order,
    pulls_read_only_readable_and_wanted_collections,
    cursors_stay_valid_as_states_change,
    refused_states_are_listed_and_the_rest_applies,
    quotas_count_what_the_space_holds,
    pushing_a_page_twice_changes_nothing,
    concurrent_versions_merge_last_writer_wins,
    the_stored_content_goes_through_without_a_grant,
    the_store_survives_a_reopen,
    spaces_are_isolated,
    spaces_are_listed_and_exported_whole,
);

// ---- helpers ---------------------------------------------------------------------------------

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A version of `id` in `collection`, written by `node`, having seen `clock`; `null` data is a
/// tombstone.
fn version(id: &str, collection: &str, data: Value, clock: Value, node: &str) -> Arc<SyncState> {
    let deleted = data.is_null();
    let state = SyncState::from_value(json!({
        "id": id, "collection": collection, "data": data, "clock": clock, "deleted": deleted,
        "timestamp": {"millis": now() - 1000, "counter": 0, "node": node}, "version": 1
    }))
    .expect("a valid state");
    Arc::new(state)
}

/// Version `n` of `id` in `notes`, by node `a`.
fn note(id: &str, data: Value, n: u64) -> Arc<SyncState> {
    version(id, "notes", data, json!({"a": n}), "a")
}

fn space(name: &str) -> SpaceId {
    SpaceId::parse(name).unwrap()
}

/// What a requester may do, and the space's rules.
struct Grants {
    read: Collections,
    write: Collections,
    quotas: SpaceLimits,
    strategies: HashMap<String, ConflictStrategy>,
}

impl Grants {
    fn all() -> Grants {
        Grants {
            read: Collections::All,
            write: Collections::All,
            quotas: SpaceLimits::default(),
            strategies: HashMap::new(),
        }
    }

    fn push(&self, store: &dyn Store, space_id: &str, states: Vec<Arc<SyncState>>) -> PushOutcome {
        let schema = |collection: &str, data: &Value| -> Result<(), String> {
            if collection == "typed" && !data.is_object() {
                return Err("must be an object".into());
            }
            Ok(())
        };
        let policy = PushPolicy {
            writable: &self.write,
            readable: &self.read,
            quotas: self.quotas,
            check_data: &schema,
            max_state_bytes: 1000,
            max_clock_skew: Duration::from_secs(60),
            strategies: &self.strategies,
        };
        store.push(&space(space_id), states, &policy).expect("push")
    }

    fn pull(&self, store: &dyn Store, space_id: &str, after: u64, wanted: &[&str], limit: usize) -> PulledPage {
        let wanted: Vec<String> = wanted.iter().map(|c| c.to_string()).collect();
        let scope = PullScope { after, readable: &self.read, wanted: &wanted, limit, max_bytes: 1 << 20 };
        store.pull(&space(space_id), &scope).expect("pull")
    }
}

fn push(store: &dyn Store, space_id: &str, states: Vec<Arc<SyncState>>) -> PushOutcome {
    Grants::all().push(store, space_id, states)
}

fn pull(store: &dyn Store, space_id: &str, after: u64, limit: usize) -> PulledPage {
    Grants::all().pull(store, space_id, after, &[], limit)
}

fn ids(page: &PulledPage) -> Vec<&str> {
    page.states.iter().map(|s| s.id.as_str()).collect()
}

/// Every state of a space, by id, read page by page.
fn everything(store: &dyn Store, space_id: &str) -> HashMap<String, Arc<SyncState>> {
    let (mut all, mut after) = (HashMap::new(), 0);
    loop {
        let page = pull(store, space_id, after, 7);
        all.extend(page.states.iter().map(|s| (s.id.clone(), s.clone())));
        after = page.next;
        if !page.has_more {
            return all;
        }
    }
}

fn codes(outcome: &PushOutcome) -> Vec<(&str, &str)> {
    outcome.result.rejections.iter().map(|r| (r.id.as_str(), r.code.as_str())).collect()
}

// ---- the suite -------------------------------------------------------------------------------

fn pulls_page_through_the_feed_in_order(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    store.ready().expect("ready");
    assert!(store.node_id().starts_with("hub-"), "{}", store.node_id());
    let empty = pull(store, "s", 0, 3);
    assert_eq!((empty.states.len(), empty.next, empty.has_more), (0, 0, false), "a space never written to");
    let states: Vec<_> = (0..10).map(|i| note(&format!("n{i}"), json!(i), 1)).collect();
    let outcome = push(store, "s", states.clone());
    assert_eq!((outcome.result.created, outcome.result.rejected), (10, 0));
    let (mut after, mut pages) = (0, Vec::new());
    loop {
        let page = pull(store, "s", after, 3);
        pages.push((ids(&page).join(","), page.next, page.has_more));
        after = page.next;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            ("n0,n1,n2".to_owned(), 3, true),
            ("n3,n4,n5".to_owned(), 6, true),
            ("n6,n7,n8".to_owned(), 9, true),
            ("n9".to_owned(), 10, false)
        ]
    );
    assert_eq!(pull(store, "s", 0, 100).states, states, "the stored versions are the pushed ones");
    // The byte limit: each state is `json_len + 1`; never less than one state a page.
    let one = statesync::json_len(&*states[0]) + 1;
    let wanted: Vec<String> = Vec::new();
    let scope = PullScope { after: 0, readable: &Collections::All, wanted: &wanted, limit: 100, max_bytes: 2 * one };
    let page = store.pull(&space("s"), &scope).unwrap();
    assert_eq!((ids(&page), page.next, page.has_more), (vec!["n0", "n1"], 2, true));
    let scope = PullScope { max_bytes: 1, ..scope };
    let page = store.pull(&space("s"), &scope).unwrap();
    assert_eq!((ids(&page), page.next, page.has_more), (vec!["n0"], 1, true));
}

fn pulls_read_only_readable_and_wanted_collections(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    push(
        store,
        "s",
        vec![
            version("p1", "public", json!(1), json!({"a": 1}), "a"),
            version("x1", "secret", json!(1), json!({"a": 1}), "a"),
            version("p2", "public", json!(2), json!({"a": 1}), "a"),
            version("o1", "other", json!(2), json!({"a": 1}), "a"),
        ],
    );
    let mut reader = Grants::all();
    reader.read = Collections::from_list(&["public", "other"]);
    let page = reader.pull(store, "s", 0, &[], 10);
    assert_eq!((ids(&page), page.next, page.has_more), (vec!["p1", "p2", "o1"], 4, false));
    let page = reader.pull(store, "s", 0, &["public", "secret"], 1);
    assert_eq!((ids(&page), page.next, page.has_more), (vec!["p1"], 1, true));
    let page = reader.pull(store, "s", 1, &["public", "secret"], 1);
    assert_eq!((ids(&page), page.next, page.has_more), (vec!["p2"], 4, false), "has_more: only rows in scope count");
    let page = reader.pull(store, "s", 3, &["public", "secret"], 1);
    assert_eq!((ids(&page), page.next, page.has_more), (vec![], 4, false), "the end skips what is out of scope, once");
    let page = reader.pull(store, "s", 0, &["secret"], 10);
    assert_eq!((ids(&page), page.next, page.has_more), (vec![], 4, false), "asking never widens the grant");
    reader.read = Collections::None;
    assert_eq!(reader.pull(store, "s", 0, &[], 10).states, vec![]);
}

fn cursors_stay_valid_as_states_change(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    push(store, "s", vec![note("a", json!(1), 1), note("b", json!(1), 1), note("c", json!(1), 1)]);
    let end = pull(store, "s", 0, 10).next;
    assert_eq!(end, 3);
    assert_eq!(pull(store, "s", end, 10).states, vec![], "nothing new");
    let newer = note("a", json!(2), 2);
    let tombstone = note("d", Value::Null, 1);
    push(store, "s", vec![newer.clone(), tombstone.clone()]);
    let page = pull(store, "s", end, 10);
    assert_eq!(
        (page.states.clone(), page.next),
        (vec![newer, tombstone], 5),
        "a changed state moves to the feed's end"
    );
    let page = pull(store, "s", 0, 10);
    assert_eq!(ids(&page), ["b", "c", "a", "d"], "only the latest version, once");
    let page = pull(store, "s", 99, 10);
    assert_eq!(ids(&page), ["b", "c", "a", "d"], "a cursor from the store's future starts over");
}

fn refused_states_are_listed_and_the_rest_applies(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    let kept = version("t", "typed", json!({"k": 1}), json!({"a": 1}), "a");
    push(store, "s", vec![kept.clone()]);
    let mut writer = Grants::all();
    writer.write = Collections::from_list(&["typed", "notes"]);
    writer.read = Collections::from_list(&["typed", "notes"]);
    writer.quotas.max_state_bytes = Some(10);
    let late = {
        let mut s = (*note("late", json!(1), 1)).clone();
        s.timestamp.millis = now() + 3_600_000;
        Arc::new(s)
    };
    let outcome = writer.push(
        store,
        "s",
        vec![
            version("t", "typed", json!(5), json!({"a": 2}), "a"), // schema
            version("f", "forbidden", json!(1), json!({"a": 1}), "a"),
            note("big", json!("a long string"), 1),
            late,
            note("ok", json!(1), 1),
            version("t", "notes", json!(1), json!({"a": 3}), "a"), // another collection here
        ],
    );
    assert_eq!(
        codes(&outcome),
        [
            ("t", "INVALID_STATE"),
            ("f", "FORBIDDEN"),
            ("big", "INVALID_STATE"),
            ("late", "INVALID_STATE"),
            ("t", "INVALID_STATE")
        ]
    );
    assert_eq!((outcome.result.rejected, outcome.result.created), (5, 1));
    assert_eq!(outcome.current.get("t"), Some(&Some(kept.clone())), "the hub's version, to revert to");
    assert_eq!(outcome.current.get("big"), Some(&None));
    assert!(!outcome.current.contains_key("f"), "not readable: not reported");
    let all = everything(store, "s");
    assert_eq!(all.len(), 2, "only the accepted state was stored: {:?}", all.keys());
    assert_eq!(all["t"], kept);
}

fn quotas_count_what_the_space_holds(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    let mut g = Grants::all();
    g.quotas = SpaceLimits { max_states: Some(2), max_bytes: Some(8), max_state_bytes: None };
    let outcome = g.push(store, "s", vec![note("a", json!("12"), 1), note("b", json!(1), 1)]);
    assert_eq!(codes(&outcome), []);
    // In a later push (the counts were stored): a third state, then too many bytes.
    let outcome = g.push(store, "s", vec![note("c", json!(1), 1), note("b", json!("1234"), 2)]);
    assert_eq!(codes(&outcome), [("c", "QUOTA_EXCEEDED"), ("b", "QUOTA_EXCEEDED")]);
    // A deletion frees room; a shrinking write passes.
    let outcome = g.push(store, "s", vec![note("a", Value::Null, 2), note("c", json!("1"), 1), note("b", json!(0), 2)]);
    assert_eq!(codes(&outcome), []);
    assert_eq!(outcome.result.updated + outcome.result.created, 3);
    let reopened = backend.open();
    let outcome = g.push(&*reopened, "s", vec![note("d", json!(1), 1)]);
    assert_eq!(codes(&outcome), [("d", "QUOTA_EXCEEDED")], "the counts are the store's, not the process's");
    // Another space has its own counts.
    assert_eq!(codes(&g.push(store, "t", vec![note("d", json!(1), 1)])), []);
}

fn pushing_a_page_twice_changes_nothing(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    let page = vec![note("a", json!(1), 1), note("b", json!(2), 1), note("gone", Value::Null, 1)];
    let first = push(store, "s", page.clone());
    assert_eq!((first.result.created, first.result.ignored), (3, 0), "a tombstone of nothing is stored too");
    let end = pull(store, "s", 0, 10).next;
    let second = push(store, "s", page);
    assert_eq!((second.result.created, second.result.unchanged, second.result.ignored), (0, 3, 0));
    let page = pull(store, "s", end, 10);
    assert_eq!((page.states.len(), page.next), (0, end), "no new change in the feed");
    assert_eq!(end, 3);
}

fn concurrent_versions_merge_last_writer_wins(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    push(store, "s", vec![version("a", "notes", json!("from a"), json!({"a": 1}), "a")]);
    let mut b = (*version("a", "notes", json!("from b"), json!({"b": 1}), "b")).clone();
    b.timestamp.millis += 1;
    let outcome = push(store, "s", vec![Arc::new(b)]);
    assert_eq!((outcome.result.conflicts, outcome.result.resolved), (1, 1));
    let kept = &everything(store, "s")["a"];
    assert_eq!(kept.data, json!("from b"), "the later write wins");
    assert_eq!((kept.clock.get("a"), kept.clock.get("b")), (1, 1), "and has seen both");
    // The older side arriving again is ignored now.
    let again = push(store, "s", vec![version("a", "notes", json!("from a"), json!({"a": 1}), "a")]);
    assert_eq!(again.result.ignored, 1);
}

fn the_stored_content_goes_through_without_a_grant(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    push(store, "s", vec![note("a", json!("hub's"), 1)]);
    let mut reader = Grants::all();
    reader.write = Collections::None;
    // revert_rejected: the hub's content under a clock that dominates both sides.
    let revert = version("a", "notes", json!("hub's"), json!({"a": 1, "c": 2}), "c");
    let outcome = reader.push(store, "s", vec![revert.clone(), note("x", Value::Null, 1), note("y", json!(1), 1)]);
    assert_eq!(codes(&outcome), [("y", "FORBIDDEN")]);
    assert_eq!((outcome.result.updated, outcome.result.created), (1, 1), "the tombstone of nothing is kept");
    let all = everything(store, "s");
    assert_eq!((all.len(), &all["a"], all["x"].deleted), (2, &revert, true));
}

fn the_store_survives_a_reopen(backend: &dyn Backend) {
    let (node, end) = {
        let store = backend.open();
        push(&*store, "s", vec![note("a", json!(1), 1), note("b", json!(1), 1)]);
        (store.node_id().to_owned(), pull(&*store, "s", 0, 10).next)
    };
    let store = backend.open();
    assert_eq!(store.node_id(), node, "the node id is the store's");
    assert_eq!(ids(&pull(&*store, "s", 0, 10)), ["a", "b"]);
    push(&*store, "s", vec![note("c", json!(1), 1)]);
    let page = pull(&*store, "s", end, 10);
    assert_eq!((ids(&page), page.next), (vec!["c"], 3), "the feed goes on where it was");
}

fn spaces_are_isolated(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    push(store, "user:1", vec![note("a", json!("one"), 1)]);
    push(store, "user:2", vec![note("a", json!("two"), 1), note("b", json!("two"), 1)]);
    assert_eq!(everything(store, "user:1")["a"].data, json!("one"));
    assert_eq!(everything(store, "user:2").len(), 2);
    assert_eq!(pull(store, "user:1", 0, 10).next, 1, "each space has its own sequence");
    let outcome = push(store, "user:1", vec![note("a", json!("two"), 1)]);
    assert_eq!(outcome.result.unchanged, 0, "user:2's version is not user:1's");
    assert_eq!(outcome.result.ignored + outcome.result.conflicts, 1);
    assert_eq!(pull(store, "user:3", 0, 10).states, vec![]);
}

fn spaces_are_listed_and_exported_whole(backend: &dyn Backend) {
    let store = backend.open();
    let store = &*store;
    assert_eq!(store.spaces().expect("spaces"), vec![], "a new store has no space");
    assert_eq!(store.export_space(&space("s")).expect("export"), SpaceExport { states: vec![], latest: 0 });
    // More than a pull's page, ids out of feed order, a tombstone, and a second space.
    let many: Vec<_> = (0..1500).rev().map(|i| note(&format!("n{i:04}"), json!(i), 1)).collect();
    push(store, "user:2", many);
    push(store, "user:2", vec![note("n0007", json!("again"), 2), note("n0008", Value::Null, 2)]);
    let a = note("a", json!("one"), 1);
    push(store, "user:1", vec![note("b", json!("one"), 1), a.clone()]);
    let heads = store.spaces().expect("spaces");
    assert_eq!(
        heads,
        vec![SpaceHead { space: space("user:1"), latest: 2 }, SpaceHead { space: space("user:2"), latest: 1502 }],
        "in name order, with each feed's latest sequence"
    );
    let export = store.export_space(&space("user:2")).expect("export");
    assert_eq!(export.latest, 1502, "the space's latest sequence");
    assert_eq!(export.states.len(), 1500, "every state once, the latest version");
    let ids: Vec<&str> = export.states.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    let by_id = everything(store, "user:2");
    assert!(export.states.iter().all(|s| *by_id[&s.id] == *s), "the versions a pull serves");
    assert_eq!(export.states[7].data, json!("again"));
    assert!(export.states[8].deleted, "tombstones included");
    let other = store.export_space(&space("user:1")).expect("export");
    assert_eq!(other.states.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a", "b"], "only its own space");
    // The sequence moves with every change, and only then.
    push(store, "user:1", vec![a]);
    assert_eq!(store.export_space(&space("user:1")).expect("export").latest, 2, "the same version again moves nothing");
    push(store, "user:1", vec![note("a", json!("two"), 2)]);
    assert_eq!(store.export_space(&space("user:1")).expect("export").latest, 3);
    assert_eq!(store.spaces().expect("spaces")[0].latest, 3);
}

// ---- SQLite only -----------------------------------------------------------------------------

#[test]
fn sqlite_imports_a_hub_replica_of_the_previous_release_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let client = SyncManager::open(ManagerConfig::memory().node_id("phone")).unwrap();
    for i in 0..1200 {
        client.create_state(json!({"i": i}), statesync::CreateOptions::id(format!("s{i}"))).unwrap();
    }
    client.delete_state("s7").unwrap();
    let expected: Vec<SyncState> =
        client.changes_since(None, &Default::default()).unwrap().states.iter().map(|s| (**s).clone()).collect();
    {
        let old = SyncManager::open(ManagerConfig::sqlite(&path).node_id("old-hub")).unwrap();
        old.reconcile(expected.clone()).unwrap();
        old.close().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.node_id(), "old-hub", "clients keep their cursors under the same name");
    let all = everything(&store, "default");
    assert_eq!(all.len(), 1200, "tombstones included");
    for state in &expected {
        assert_eq!(*all[&state.id], *state);
    }
    // Counted: 1199 live states; the quota sees them.
    let mut g = Grants::all();
    g.quotas.max_states = Some(1199);
    assert_eq!(codes(&g.push(&store, "default", vec![note("new", json!(1), 1)])), [("new", "QUOTA_EXCEEDED")]);
    push(&store, "default", vec![note("new", json!(1), 1)]);
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let all = everything(&store, "default");
    assert_eq!(all.len(), 1201, "imported once, not again on the next open");
    assert_eq!(store.node_id(), "old-hub");
}

#[test]
fn sqlite_refuses_what_is_not_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, b"this is not a database, but long enough to have a header...........").unwrap();
    let e = SqliteStore::open(&path).unwrap_err();
    assert_eq!(e.code(), "CORRUPT", "{e}");
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE mine (x INTEGER)").unwrap();
    let e = SqliteStore::open(&other).unwrap_err();
    assert_eq!(e.code(), "CORRUPT", "{e}");
    assert!(e.to_string().contains("neither a hub's store nor a hub's replica"), "{e}");
}

// ---- PostgreSQL only -------------------------------------------------------------------------

#[test]
fn postgres_messages_never_hold_the_password() {
    let e = PostgresStore::connect("postgres://u:sw0rdfish@127.0.0.1:1/db", 1).unwrap_err();
    assert_eq!(e.code(), "STORAGE");
    let text = format!("{e} {:?}", statesync::error_causes(&e));
    assert!(!text.contains("sw0rdfish"), "{text}");
    assert!(text.contains("127.0.0.1:1/db"), "{text}");
    for bad in
        ["postgres://[nope", "postgres://u:sw0rdfish@127.0.0.1:port/db", "postgres://u:sw0rdfish@h/d?x=sw0rdfish"]
    {
        let e = PostgresStore::connect(bad, 1).unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT", "{bad}: {e}");
        assert!(!e.to_string().contains("sw0rdfish"), "{e}");
    }
}

#[test]
fn postgres_processes_agree_on_the_node_id() {
    let url = PgCluster::start().database();
    let stores: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| PostgresStore::connect(&url, 1).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(stores.iter().all(|s| s.node_id() == stores[0].node_id()));
}

/// 8 writers push to one space through 3 stores (3 hub processes) while 4 readers page through
/// it with pages of 3 through those stores: no reader sees a version twice or an older version
/// after a newer one, and each ends with every latest version.
#[test]
fn postgres_feed_neither_skips_nor_repeats_under_concurrent_commits() {
    let url = PgCluster::start().database();
    let stores: Vec<PostgresStore> = (0..3).map(|_| PostgresStore::connect(&url, 6).unwrap()).collect();
    let stores = &stores;
    let deadline = Instant::now() + Duration::from_secs(120);
    const WRITERS: usize = 8;
    const ROUNDS: u64 = 25;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let done = &done;
    let (latest, seen) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    // Each writer owns some ids (one node each) and shares "hot" with the others.
                    let node = format!("w{w}");
                    let mut latest = HashMap::new();
                    for round in 1..=ROUNDS {
                        assert!(Instant::now() < deadline, "writers took too long");
                        let store = &stores[(w + round as usize) % 3];
                        let page: Vec<_> = (0..3)
                            .map(|k| {
                                let id = format!("{node}-{}", (round + k) % 5);
                                version(
                                    &id,
                                    "notes",
                                    json!({"round": round, "k": k}),
                                    json!({ &node: round * 3 + k }),
                                    &node,
                                )
                            })
                            .collect();
                        let outcome = push(store, "hot", page.clone());
                        assert_eq!(outcome.result.rejected, 0, "{:?}", outcome.result.rejections);
                        for state in page {
                            latest.insert(state.id.clone(), state);
                        }
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    latest
                })
            })
            .collect();
        let readers: Vec<_> = (0..4)
            .map(|r| {
                s.spawn(move || {
                    let mut held: HashMap<String, Arc<SyncState>> = HashMap::new();
                    let (mut after, mut pulls) = (0u64, 0usize);
                    let mut last_next = 0u64;
                    loop {
                        assert!(Instant::now() < deadline, "readers took too long");
                        let writers_done = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
                        let page = pull(&stores[(r + pulls) % 3], "hot", after, 3);
                        pulls += 1;
                        assert!(page.next >= after && page.next >= last_next, "the cursor never goes back");
                        last_next = page.next;
                        for state in &page.states {
                            // A state comes again only as a newer version: a repeat or an older
                            // version after a newer one would be a feed out of order.
                            if let Some(old) = held.get(&state.id) {
                                assert_eq!(state.clock.compare(&old.clock), ClockOrdering::After, "{}", state.id);
                            }
                            held.insert(state.id.clone(), state.clone());
                        }
                        after = page.next;
                        if !page.has_more && writers_done {
                            // Every writer had returned before this pull started.
                            return held;
                        }
                    }
                })
            })
            .collect();
        let mut latest = HashMap::new();
        for w in writers {
            latest.extend(w.join().unwrap());
        }
        let seen: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (latest, seen)
    });
    assert_eq!(latest.len(), WRITERS * 5);
    for held in seen {
        assert_eq!(held.len(), latest.len());
        for (id, state) in &latest {
            assert_eq!(&held[id], state, "a reader ends with the latest version of {id}");
        }
    }
}
