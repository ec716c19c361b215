//! The feed of one space served by three hub processes on one PostgreSQL (docs/protocol.md, "A
//! feed without gaps across processes"): writers push through random processes at once,
//! readers pull with pages of three states through random processes, and one process is killed
//! with SIGKILL in the middle. Then:
//!
//! - every reader ends with every latest version the hub holds, exactly;
//! - a reader that follows the feed by hand never gets a version twice, and gets each state's
//!   versions in the order they were stored (each one has seen the one before);
//! - nothing acknowledged is lost: every version a writer held after a successful round (so the
//!   hub had accepted it, or sent it) is seen by the final version of its state.
//!
//! Bounded: each writer makes `ROUNDS` rounds, each reader stops with the writers, every request
//! has a 10 s timeout and the whole run a 120 s limit.

use serde_json::json;
use statesync::{
    ChangeSet, CreateOptions, HttpTransport, ManagerConfig, SyncContext, SyncManager, SyncState, SyncTransport,
    VectorClock,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::postgres::PgCluster;
use support::process::HubProcess;

const SPACE: &str = "shared";
const WRITERS: usize = 6;
const ROUNDS: usize = 25;
const READERS: usize = 3;
const LIMIT: Duration = Duration::from_secs(120);

/// The processes clients may use: the killed one leaves the list (its clients fail over).
struct Hubs {
    urls: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Rounds the writers completed, all together.
    rounds: AtomicUsize,
}

impl Hubs {
    /// A transport to one of the live processes, a different one at each call.
    fn any(&self) -> HttpTransport {
        let urls = self.urls.lock().unwrap();
        let url = &urls[self.next.fetch_add(1, Ordering::Relaxed) % urls.len()];
        HttpTransport::new(url).expect("url").space(SPACE).expect("space").timeout(Duration::from_secs(10))
    }
}

fn replica(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open")
}

/// A writer: writes a few states (its own and shared ones, so versions meet at the hub), then a
/// round through any process; after each round that succeeds, what it holds is acknowledged.
fn writer(i: usize, hubs: &Hubs, deadline: Instant) -> HashMap<String, VectorClock> {
    let node = format!("writer-{i}");
    let m = replica(&node);
    let mut acknowledged = HashMap::new();
    let mut round = 0;
    while round < ROUNDS {
        assert!(Instant::now() < deadline, "{node}: out of time");
        // A state written once per round (a reader that skipped its row would never get it back
        // through a later version), one of the writer's seven, one shared with every writer.
        for k in 0..3 {
            let id = match k {
                0 => format!("{node}-once-{round}"),
                1 => format!("{node}-{}", round % 7),
                _ => format!("shared-{}", (round + i) % 5),
            };
            let data = json!({"by": node, "round": round, "k": k});
            match m.get_state(&id).expect("get") {
                Some(_) => m.update_state(&id, data).map(|_| ()),
                None => m.create_state(data, CreateOptions::id(id)).map(|_| ()),
            }
            .expect("write");
        }
        // A process being killed fails the round: the next one goes elsewhere and resumes.
        if m.sync_via(&hubs.any(), &SyncContext::all()).is_ok() {
            assert!(m.pending_operations().expect("pending").is_empty(), "{node}: a successful round leaves none");
            for s in m.list_states(None, true).expect("list") {
                acknowledged.insert(s.id.clone(), s.clock.clone());
            }
            round += 1;
            hubs.rounds.fetch_add(1, Ordering::SeqCst);
        }
    }
    acknowledged
}

/// A reader following the feed by hand: pages of three through any process. Returns what it
/// holds at the end (the last version of each state it got).
fn follower(hubs: &Hubs, done: &AtomicBool, deadline: Instant) -> HashMap<String, SyncState> {
    let context = SyncContext::all().with_limit(3);
    let mut cursor: Option<String> = None;
    let mut held: HashMap<String, SyncState> = HashMap::new();
    let mut caught_up_after_done = false;
    while !caught_up_after_done {
        assert!(Instant::now() < deadline, "follower: out of time");
        let finished = done.load(Ordering::SeqCst);
        let page: ChangeSet = match hubs.any().pull(cursor.as_deref(), &context) {
            Ok(page) => page,
            Err(_) => continue,
        };
        for s in &page.states {
            if let Some(before) = held.get(&s.id) {
                assert!(
                    s.clock.dominates(&before.clock) && s.clock != before.clock,
                    "state {:?} came again as {:?} after {:?}: a repeat, or out of order",
                    s.id,
                    s.clock,
                    before.clock
                );
            }
            held.insert(s.id.clone(), (**s).clone());
        }
        cursor = Some(page.cursor);
        caught_up_after_done = finished && !page.has_more;
    }
    held
}

/// A reader running ordinary rounds with pages of three through any process.
fn reader(i: usize, hubs: &Hubs, done: &AtomicBool, deadline: Instant) -> SyncManager {
    let m = replica(&format!("reader-{i}"));
    let context = SyncContext::all().with_limit(3);
    loop {
        assert!(Instant::now() < deadline, "reader: out of time");
        let finished = done.load(Ordering::SeqCst);
        if m.sync_via(&hubs.any(), &context).is_ok() && finished {
            return m;
        }
    }
}

#[test]
fn three_processes_keep_one_feed_without_gaps_or_repeats_through_a_kill() {
    let store = PgCluster::start().database();
    let mut processes: Vec<HubProcess> =
        (0..3).map(|_| HubProcess::start(&["--store", &store, "--store-pool-size", "4"])).collect();
    let hubs = Arc::new(Hubs {
        urls: Mutex::new(processes.iter().map(|p| p.url.clone()).collect()),
        next: 0.into(),
        rounds: 0.into(),
    });
    let deadline = Instant::now() + LIMIT;
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let hubs = hubs.clone();
            thread::spawn(move || writer(i, &hubs, deadline))
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (hubs, done) = (hubs.clone(), done.clone());
            thread::spawn(move || reader(i, &hubs, &done, deadline))
        })
        .collect();
    let followers: Vec<_> = (0..2)
        .map(|_| {
            let (hubs, done) = (hubs.clone(), done.clone());
            thread::spawn(move || follower(&hubs, &done, deadline))
        })
        .collect();

    // Mid-run (a third of the rounds done): SIGKILL one process, with requests in flight.
    while hubs.rounds.load(Ordering::SeqCst) < WRITERS * ROUNDS / 3 {
        assert!(Instant::now() < deadline, "the writers make no progress");
        thread::sleep(Duration::from_millis(5));
    }
    let victim = processes.remove(1);
    hubs.urls.lock().unwrap().retain(|u| *u != victim.url);
    drop(victim);
    let at_kill = hubs.rounds.load(Ordering::SeqCst);

    let mut acknowledged: Vec<HashMap<String, VectorClock>> = Vec::new();
    for w in writers {
        acknowledged.push(w.join().expect("writer"));
    }
    assert!(at_kill < WRITERS * ROUNDS, "the kill came before the writers were done");
    done.store(true, Ordering::SeqCst);
    let readers: Vec<SyncManager> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    let followers: Vec<HashMap<String, SyncState>> =
        followers.into_iter().map(|f| f.join().expect("follower")).collect();

    // What the hub holds at the end, read by a fresh replica through a surviving process.
    let last = replica("last");
    last.sync_via(&hubs.any(), &SyncContext::all()).expect("final round");
    let hub: HashMap<String, SyncState> =
        last.list_states(None, true).expect("list").into_iter().map(|s| (s.id.clone(), (*s).clone())).collect();
    let once: std::collections::BTreeSet<&String> =
        acknowledged.iter().flat_map(|a| a.keys()).filter(|id| id.contains("-once-")).collect();
    assert_eq!(
        once.len(),
        WRITERS * ROUNDS,
        "every round wrote a state of its own, and its writer saw it acknowledged"
    );
    assert_eq!(hub.len(), once.len() + 5 + WRITERS * 7, "every state written reached the hub");

    for (i, r) in readers.iter().enumerate() {
        let held: HashMap<String, SyncState> =
            r.list_states(None, true).expect("list").into_iter().map(|s| (s.id.clone(), (*s).clone())).collect();
        assert_eq!(held, hub, "reader {i} ends with every latest version");
    }
    for (i, held) in followers.iter().enumerate() {
        assert_eq!(held.len(), hub.len(), "follower {i} got every state");
        for (id, s) in held {
            assert_eq!(s.clock, hub[id].clock, "follower {i} ends with the latest version of {id:?}");
        }
    }
    for (w, acked) in acknowledged.iter().enumerate() {
        for (id, clock) in acked {
            let kept = &hub[id].clock;
            assert!(kept.dominates(clock) || kept == clock, "writer {w}'s acknowledged version of {id:?} was lost");
        }
    }
}
