//! The changes feed and in-process sync: pages, scopes, cursors that survive a crash, and the
//! guarantee that no change is ever skipped.

use proptest::prelude::*;
use serde_json::json;
use statesync::{CreateOptions, ManagerConfig, ManualClock, SyncContext, SyncManager};
use std::sync::Arc;

fn memory(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node).clock(Arc::new(ManualClock::new(1_000)))).unwrap()
}

fn ids(states: &[Arc<statesync::SyncState>]) -> Vec<String> {
    states.iter().map(|s| s.id.clone()).collect()
}

#[test]
fn pages_return_the_latest_version_in_change_order_and_skip_nothing() {
    let m = memory("a");
    for i in 0..25 {
        m.create_state(json!(i), CreateOptions::id(format!("s{i:02}"))).unwrap();
    }
    let ctx = SyncContext::all().with_limit(10);
    let p1 = m.changes_since(None, &ctx).unwrap();
    assert_eq!(ids(&p1.states), (0..10).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    assert!(p1.has_more);
    // A state already sent changes again between pages: it comes again, later, at its new version.
    m.update_state("s03", json!("changed")).unwrap();
    let p2 = m.changes_since(Some(&p1.cursor), &ctx).unwrap();
    assert_eq!(ids(&p2.states), (10..20).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    let p3 = m.changes_since(Some(&p2.cursor), &ctx).unwrap();
    assert_eq!(ids(&p3.states), ["s20", "s21", "s22", "s23", "s24", "s03"]);
    assert_eq!(p3.states.last().unwrap().data, json!("changed"));
    assert!(!p3.has_more);
    let p4 = m.changes_since(Some(&p3.cursor), &ctx).unwrap();
    assert!(p4.states.is_empty() && !p4.has_more);
    assert_eq!(p4.cursor, p3.cursor);
    // Tombstones travel too.
    m.delete_state("s00").unwrap();
    let p5 = m.changes_since(Some(&p4.cursor), &ctx).unwrap();
    assert_eq!(ids(&p5.states), ["s00"]);
    assert!(p5.states[0].deleted);
}

#[test]
fn scoped_feeds_see_only_their_collections() {
    let m = memory("a");
    m.create_state(json!(1), CreateOptions::id("p1").in_collection("prefs")).unwrap();
    m.create_state(json!(2), CreateOptions::id("d1").in_collection("docs")).unwrap();
    m.create_state(json!(3), CreateOptions::id("p2").in_collection("prefs")).unwrap();
    let prefs = SyncContext::collections(["prefs"]);
    let page = m.changes_since(None, &prefs).unwrap();
    assert_eq!(ids(&page.states), ["p1", "p2"]);
    m.create_state(json!(4), CreateOptions::id("d2").in_collection("docs")).unwrap();
    assert!(m.changes_since(Some(&page.cursor), &prefs).unwrap().states.is_empty());
    assert_eq!(ids(&m.changes_since(None, &SyncContext::collections(["docs", "prefs"])).unwrap().states).len(), 4);
    assert_eq!(SyncContext::collections(["b", "a", "a"]).scope(), SyncContext::collections(["a", "b"]).scope());
}

#[test]
fn bad_cursors_and_contexts_are_typed_errors() {
    let m = memory("a");
    m.create_state(json!(1), CreateOptions::id("s")).unwrap();
    let err = |r: statesync::Result<statesync::ChangeSet>| r.unwrap_err().code();
    assert_eq!(err(m.changes_since(Some("abc"), &SyncContext::all())), "INVALID_INPUT");
    assert_eq!(err(m.changes_since(Some("-1"), &SyncContext::all())), "INVALID_INPUT");
    assert_eq!(err(m.changes_since(Some("999999"), &SyncContext::all())), "INVALID_INPUT", "no feed name");
    assert_eq!(err(m.changes_since(Some("zz.1"), &SyncContext::all())), "INVALID_INPUT", "not a feed name");
    assert_eq!(err(m.changes_since(Some("ab.x"), &SyncContext::all())), "INVALID_INPUT", "not a sequence");
    assert_eq!(err(m.changes_since(None, &SyncContext::all().with_limit(0))), "INVALID_INPUT");
    assert_eq!(err(m.changes_since(None, &SyncContext::collections([""]))), "INVALID_INPUT");
    // A cursor from this feed's future (a store file put back from an older copy) starts over,
    // and so does one from another feed (another store of this node, or another replica).
    let end = m.changes_since(None, &SyncContext::all()).unwrap().cursor;
    let (feed, _) = end.split_once('.').expect("cursors name their feed");
    let page = m.changes_since(Some(&format!("{feed}.999999")), &SyncContext::all()).unwrap();
    assert_eq!(ids(&page.states), ["s"]);
    assert!(m.changes_since(Some(&end), &SyncContext::all()).unwrap().states.is_empty());
    let elsewhere = memory("a").changes_since(None, &SyncContext::all()).unwrap().cursor;
    assert_ne!(elsewhere, end, "another store of the same node has a feed of its own");
    assert_eq!(ids(&m.changes_since(Some(&elsewhere), &SyncContext::all()).unwrap().states), ["s"]);
}

/// Rounds and interrupted pulls on SQLite replicas.
#[cfg(feature = "sqlite")]
mod on_sqlite {
    use super::*;
    use statesync::{ConflictStrategy, Status, SyncEvent};
    use std::sync::Mutex;

    #[test]
    fn sync_with_converges_both_ways_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let phone = SyncManager::open(
            ManagerConfig::sqlite(dir.path().join("phone.db")).node_id("phone").strategy(ConflictStrategy::MergeFields),
        )
        .unwrap();
        let laptop =
            SyncManager::open(ManagerConfig::memory().node_id("laptop").strategy(ConflictStrategy::MergeFields))
                .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        phone.subscribe(move |e| sink.lock().unwrap().push(e.clone())).unwrap();

        phone.create_state(json!({"theme": "dark", "size": 12}), CreateOptions::id("settings")).unwrap();
        let first = phone.sync_with(&laptop).unwrap();
        assert_eq!((first.pulled.created, first.pushed.created), (0, 1));
        phone.update_state("settings", json!({"theme": "light", "size": 12})).unwrap();
        laptop.update_state("settings", json!({"theme": "dark", "size": 16})).unwrap();
        laptop.create_state(json!(["milk"]), CreateOptions::id("list")).unwrap();
        let second = phone.sync_with(&laptop).unwrap();
        assert_eq!(second.pulled.created, 1);
        assert_eq!(second.pulled.conflicts, 1);
        assert_eq!(phone.list_states(None, true).unwrap(), laptop.list_states(None, true).unwrap());
        assert_eq!(phone.get_state("settings").unwrap().unwrap().data, json!({"theme": "light", "size": 16}));
        // A third round has nothing left to do.
        let third = phone.sync_with(&laptop).unwrap();
        assert_eq!(third.pulled.created + third.pulled.updated + third.pushed.created + third.pushed.updated, 0);
        assert_eq!(phone.status(), Status::Idle);
        let names: Vec<&str> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    SyncEvent::SyncStarted { .. } | SyncEvent::SyncCompleted { .. } | SyncEvent::StatusChanged { .. }
                )
            })
            .map(SyncEvent::name)
            .collect();
        assert_eq!(&names[..4], ["syncStarted", "statusChanged", "syncCompleted", "statusChanged"]);
        assert_eq!(laptop.sync_with(&memory("laptop")).unwrap_err().code(), "INVALID_INPUT");
    }

    #[test]
    fn an_interrupted_pull_resumes_from_the_durable_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.db");
        let server = memory("server");
        for i in 0..30 {
            server.create_state(json!(i), CreateOptions::id(format!("s{i:02}"))).unwrap();
        }
        let ctx = SyncContext::all().with_limit(7);
        {
            let client = SyncManager::open(ManagerConfig::sqlite(&path).node_id("client")).unwrap();
            let page = server.changes_since(None, &ctx).unwrap();
            client.apply_changes("server", &ctx, &page).unwrap();
            // The process dies here: no close, the next page never asked for.
        }
        let client = SyncManager::open(ManagerConfig::sqlite(&path).node_id("client")).unwrap();
        let cursor = client.peer_cursor("server", &ctx.scope()).unwrap();
        assert!(cursor.is_some(), "the cursor was stored with the page it belongs to");
        let report = client.sync_with_context(&server, &ctx).unwrap();
        assert_eq!(report.pulled.created, 23, "resumed after the 7 states already applied");
        assert_eq!(report.pulled.unchanged, 0);
        assert_eq!(client.list_states(None, true).unwrap(), server.list_states(None, true).unwrap());
    }
}

/// One step of a random interleaving: a write on the source, or a page pulled by the sink.
#[derive(Clone, Debug)]
enum Step {
    Write { key: u8, delete: bool },
    Pull { limit: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..12, prop::bool::weighted(0.15)).prop_map(|(key, delete)| Step::Write { key, delete }),
        1 => (1usize..5).prop_map(|limit| Step::Pull { limit }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// However writes and paged pulls interleave, a final pull to the end leaves the sink with
    /// exactly the source's states: the feed never skips a change.
    #[test]
    fn the_feed_never_skips_a_change(steps in prop::collection::vec(step(), 1..80)) {
        let src = memory("src");
        let dst = memory("dst");
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Write { key, delete } => {
                    let id = format!("k{key}");
                    let live = src.get_state(&id).unwrap().is_some();
                    match (live, delete) {
                        (true, true) => { src.delete_state(&id).unwrap(); }
                        (true, false) => { src.update_state(&id, json!(i)).unwrap(); }
                        (false, _) => { src.create_state(json!(i), CreateOptions::id(id)).unwrap(); }
                    }
                }
                Step::Pull { limit } => {
                    let ctx = SyncContext::all().with_limit(*limit);
                    let cursor = dst.peer_cursor("src", &ctx.scope()).unwrap();
                    let page = src.changes_since(cursor.as_deref(), &ctx).unwrap();
                    prop_assert!(page.states.len() <= *limit);
                    dst.apply_changes("src", &ctx, &page).unwrap();
                }
            }
        }
        // Finish with the same scope and any page size: the cursor is per scope, not per page size.
        let ctx = SyncContext::all().with_limit(3);
        loop {
            let cursor = dst.peer_cursor("src", &ctx.scope()).unwrap();
            let page = src.changes_since(cursor.as_deref(), &ctx).unwrap();
            dst.apply_changes("src", &ctx, &page).unwrap();
            if !page.has_more { break; }
        }
        prop_assert_eq!(dst.list_states(None, true).unwrap(), src.list_states(None, true).unwrap());
    }
}
