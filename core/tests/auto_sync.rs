//! Auto-sync: rounds on the manager's own runtime, retried with backoff, never overlapping,
//! stopped cleanly by `stop_auto_sync` and `close` with nothing left running.
#![cfg(feature = "runtime")]

use serde_json::json;
use statesync::{
    backoff_delay, AutoSyncConfig, ChangeSet, CreateOptions, ManagerConfig, ReconciliationResult, Status,
    SyncCapabilities, SyncContext, SyncError, SyncEvent, SyncManager, SyncTransport,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn memory(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node)).unwrap())
}

/// Polls `done` every 5 ms for at most 20 s: a bound for a stuck test, not a speed target.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An in-process peer that fails its first `failures` capability requests, counts the rounds
/// it sees and notices overlapping ones.
struct Flaky {
    peer: Arc<SyncManager>,
    failures: AtomicUsize,
    rounds: AtomicUsize,
    busy: AtomicBool,
    overlapped: AtomicBool,
}

impl Flaky {
    fn new(peer: &Arc<SyncManager>, failures: usize) -> Arc<Flaky> {
        Arc::new(Flaky {
            peer: peer.clone(),
            failures: AtomicUsize::new(failures),
            rounds: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            overlapped: AtomicBool::new(false),
        })
    }
}

impl SyncTransport for Flaky {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        if self.busy.swap(true, Ordering::SeqCst) {
            self.overlapped.store(true, Ordering::SeqCst);
        }
        let failing = self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        self.rounds.fetch_add(1, Ordering::SeqCst);
        if failing {
            self.busy.store(false, Ordering::SeqCst);
            return Err(SyncError::Transport("offline".into()));
        }
        self.peer.capabilities()
    }
    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        std::thread::sleep(Duration::from_millis(2));
        self.peer.pull(cursor, context)
    }
    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        let result = self.peer.push(changes);
        self.busy.store(false, Ordering::SeqCst);
        result
    }
}

#[test]
fn backoff_doubles_up_to_the_cap_and_jitters_within_the_upper_half() {
    let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
    assert_eq!(backoff_delay(1, base, max, 0.999).as_millis(), 99);
    assert_eq!(backoff_delay(1, base, max, 0.0), Duration::from_millis(50));
    assert_eq!(backoff_delay(3, base, max, 0.0), Duration::from_millis(200));
    assert_eq!(backoff_delay(5, base, max, 0.0), Duration::from_millis(500), "capped at max");
    assert_eq!(backoff_delay(u32::MAX, base, max, 0.5), Duration::from_millis(750), "no overflow");
}

#[test]
fn auto_sync_carries_writes_to_the_peer_and_stop_leaves_nothing_running() {
    let (client, hub) = (memory("client"), memory("hub"));
    hub.create_state(json!("from hub"), CreateOptions::id("h")).unwrap();
    let transport = Flaky::new(&hub, 0);
    client.start_auto_sync(Duration::from_millis(10), transport.clone()).unwrap();
    assert!(client.is_auto_syncing());
    client.create_state(json!("from client"), CreateOptions::id("c")).unwrap();
    eventually("the client's write reaches the hub", || hub.get_state("c").unwrap().is_some());
    eventually("the hub's write reaches the client", || client.get_state("h").unwrap().is_some());
    eventually("the pending queue drains", || client.pending_operations().unwrap().is_empty());
    assert_eq!(
        client.start_auto_sync(Duration::from_millis(10), transport.clone()).unwrap_err().code(),
        "INVALID_INPUT"
    );
    assert!(client.stop_auto_sync());
    assert!(!client.stop_auto_sync(), "stopping twice is harmless");
    assert_eq!(Arc::strong_count(&transport), 1, "the task and its rounds are gone");
    let rounds = transport.rounds.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(transport.rounds.load(Ordering::SeqCst), rounds, "no round after stop");
    assert!(!transport.overlapped.load(Ordering::SeqCst), "rounds never overlap");
}

#[test]
fn failed_rounds_are_retried_with_backoff_and_reported() {
    let (client, hub) = (memory("client"), memory("hub"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    client
        .subscribe(move |e| {
            if matches!(e, SyncEvent::SyncFailed { .. } | SyncEvent::SyncCompleted { .. })
                || matches!(e, SyncEvent::StatusChanged { current: Status::Error, .. })
            {
                sink.lock().unwrap().push(e.name());
            }
        })
        .unwrap();
    client.create_state(json!(1), CreateOptions::id("x")).unwrap();
    let transport = Flaky::new(&hub, 3);
    let config =
        AutoSyncConfig::every(Duration::from_secs(3600)).backoff(Duration::from_millis(5), Duration::from_millis(20));
    client.start_auto_sync_with(config, transport.clone()).unwrap();
    eventually("the fourth round succeeds", || hub.get_state("x").unwrap().is_some());
    eventually("the success is reported", || seen.lock().unwrap().contains(&"syncCompleted"));
    assert_eq!(
        *seen.lock().unwrap(),
        ["syncFailed", "statusChanged", "syncFailed", "syncFailed", "syncCompleted"],
        "three failures (the status turns Error once), then a success"
    );
    assert_eq!(client.status(), Status::Idle);
    // The interval is an hour: only sync_now starts another round.
    client.update_state("x", json!(2)).unwrap();
    assert!(client.sync_now());
    eventually("sync_now runs a round", || hub.get_state("x").unwrap().unwrap().data == json!(2));
    client.close().unwrap();
    assert!(!client.is_auto_syncing(), "close stops auto-sync");
    assert_eq!(Arc::strong_count(&transport), 1);
    assert!(!client.sync_now());
}

#[test]
fn bad_settings_and_closed_managers_are_refused() {
    let (client, hub) = (memory("client"), memory("hub"));
    let transport = Flaky::new(&hub, 0);
    let zero = AutoSyncConfig::every(Duration::ZERO);
    assert_eq!(client.start_auto_sync_with(zero, transport.clone()).unwrap_err().code(), "INVALID_INPUT");
    let inverted =
        AutoSyncConfig::every(Duration::from_secs(1)).backoff(Duration::from_secs(2), Duration::from_secs(1));
    assert_eq!(client.start_auto_sync_with(inverted, transport.clone()).unwrap_err().code(), "INVALID_INPUT");
    client.close().unwrap();
    assert_eq!(client.start_auto_sync(Duration::from_secs(1), transport).unwrap_err().code(), "CLOSED");
}

#[test]
fn a_listener_may_stop_auto_sync_from_inside_a_round_and_dropping_the_manager_ends_the_task() {
    let (client, hub) = (memory("client"), memory("hub"));
    let weak = Arc::downgrade(&client);
    client
        .subscribe(move |e| {
            if let (SyncEvent::SyncCompleted { .. }, Some(m)) = (e, weak.upgrade()) {
                m.stop_auto_sync();
            }
        })
        .unwrap();
    let transport = Flaky::new(&hub, 0);
    client.start_auto_sync(Duration::from_millis(5), transport.clone()).unwrap();
    eventually("the listener stopped auto-sync", || !client.is_auto_syncing());
    eventually("the task let go of the transport", || Arc::strong_count(&transport) == 1);
    // A manager dropped while auto-syncing takes its runtime with it.
    let other = memory("other");
    other.start_auto_sync(Duration::from_millis(5), transport.clone()).unwrap();
    drop(other);
    eventually("the dropped manager's task ended", || Arc::strong_count(&transport) == 1);
}
