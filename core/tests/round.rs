//! Sync rounds through a transport: resumable in both directions, no echo, pending operations
//! acknowledged on acceptance, scope never leaked to peers that cannot filter, and every failure
//! reported as an event and a status.

use serde_json::json;
use statesync::{
    ChangeSet, CreateOptions, ManagerConfig, ManualClock, ReconciliationResult, RoundStep, Status, SyncCapabilities,
    SyncContext, SyncError, SyncEvent, SyncManager, SyncRound, SyncTransport,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

fn memory(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node).clock(Arc::new(ManualClock::new(1_000)))).unwrap())
}

/// What a [`Tap`] does to the next call of a kind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The request never arrives.
    FailPull,
    /// The request never arrives.
    FailPush,
    /// The peer applies the page, but its answer is lost.
    LosePushReply,
}

/// A transport in front of an in-process peer that records every call and injects faults.
struct Tap {
    peer: Arc<SyncManager>,
    capabilities: Mutex<Option<SyncCapabilities>>,
    faults: Mutex<VecDeque<Fault>>,
    pulls: Mutex<Vec<(Option<String>, SyncContext)>>,
    pushes: Mutex<Vec<ChangeSet>>,
}

impl Tap {
    fn new(peer: &Arc<SyncManager>) -> Tap {
        Tap {
            peer: peer.clone(),
            capabilities: Mutex::new(None),
            faults: Mutex::default(),
            pulls: Mutex::default(),
            pushes: Mutex::default(),
        }
    }

    fn with_capabilities(self, f: impl FnOnce(&mut SyncCapabilities)) -> Tap {
        let mut caps = self.peer.capabilities().unwrap();
        f(&mut caps);
        *self.capabilities.lock().unwrap() = Some(caps);
        self
    }

    fn fault(&self, fault: Fault) {
        self.faults.lock().unwrap().push_back(fault);
    }

    fn take_fault(&self, kind: &[Fault]) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let next = faults.front().copied().filter(|f| kind.contains(f));
        if next.is_some() {
            faults.pop_front();
        }
        next
    }

    fn pushed_ids(&self) -> Vec<String> {
        self.pushes.lock().unwrap().iter().flat_map(|p| p.states.iter().map(|s| s.id.clone())).collect()
    }
}

impl SyncTransport for Tap {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        match self.capabilities.lock().unwrap().clone() {
            Some(caps) => Ok(caps),
            None => self.peer.capabilities(),
        }
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        self.pulls.lock().unwrap().push((cursor.map(str::to_owned), context.clone()));
        if self.take_fault(&[Fault::FailPull]).is_some() {
            return Err(SyncError::Transport("connection reset".into()));
        }
        self.peer.pull(cursor, context)
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        self.pushes.lock().unwrap().push(changes.clone());
        match self.take_fault(&[Fault::FailPush, Fault::LosePushReply]) {
            Some(Fault::FailPush) => Err(SyncError::Transport("connection reset".into())),
            Some(_) => {
                self.peer.push(changes)?;
                Err(SyncError::Transport("timed out waiting for the reply".into()))
            }
            None => self.peer.push(changes),
        }
    }
}

fn states_of(m: &SyncManager) -> Vec<(String, serde_json::Value)> {
    m.list_states(None, true).unwrap().iter().map(|s| (s.id.clone(), s.to_value())).collect()
}

fn events_of(m: &SyncManager) -> Arc<Mutex<Vec<SyncEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    m.subscribe(move |e| sink.lock().unwrap().push(e.clone())).unwrap();
    seen
}

#[test]
fn a_round_converges_both_sides_and_acknowledges_what_the_peer_accepted() {
    let (client, hub) = (memory("client"), memory("hub"));
    client.create_state(json!({"theme": "dark"}), CreateOptions::id("settings")).unwrap();
    client.create_state(json!(1), CreateOptions::id("c1")).unwrap();
    hub.create_state(json!(2), CreateOptions::id("h1")).unwrap();
    let report = client.sync_via(hub.as_ref(), &SyncContext::all()).unwrap();
    assert_eq!(report.pulled.created, 1);
    assert_eq!(report.pushed.created, 2);
    assert_eq!(states_of(&client), states_of(&hub));
    assert!(client.pending_operations().unwrap().is_empty(), "the hub holds every local write");
    assert_eq!(hub.pending_operations().unwrap().len(), 1, "the hub's own queue is the hub's business");
    // A write made after the push stays pending until the next round carries it.
    client.update_state("settings", json!({"theme": "light"})).unwrap();
    assert_eq!(client.pending_operations().unwrap().len(), 1);
    let again = client.sync_via(hub.as_ref(), &SyncContext::all()).unwrap();
    // The hub's feed now lists what the client pushed: it comes back once, and changes nothing
    // (the settings echo is older than the local update, c1's is the same version).
    assert_eq!((again.pulled.created, again.pulled.updated, again.pulled.conflicts), (0, 0, 0));
    assert_eq!(again.pushed.updated, 1);
    assert!(client.pending_operations().unwrap().is_empty());
}

#[test]
fn pulled_versions_are_not_pushed_back() {
    let (client, hub) = (memory("client"), memory("hub"));
    for i in 0..5 {
        hub.create_state(json!(i), CreateOptions::id(format!("h{i}"))).unwrap();
    }
    client.create_state(json!("mine"), CreateOptions::id("c")).unwrap();
    let tap = Tap::new(&hub);
    client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!(tap.pushed_ids(), ["c"]);
    // The next round only pulls the echo of "c" (unchanged) and pushes nothing.
    let next = client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!((next.pulled.unchanged, next.pulled.created + next.pulled.updated), (1, 0));
    assert_eq!(tap.pushed_ids(), ["c"]);
    let quiet = client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!((quiet.pulled, quiet.pushed), Default::default());
}

#[test]
fn a_pull_interrupted_between_pages_resumes_after_the_last_applied_page() {
    let (client, hub) = (memory("client"), memory("hub"));
    for i in 0..5 {
        hub.create_state(json!(i), CreateOptions::id(format!("h{i}"))).unwrap();
    }
    let tap = Tap::new(&hub);
    let pages = SyncContext::all().with_limit(2);
    tap.faults.lock().unwrap().extend([Fault::FailPull]);
    // The first pull fails outright: nothing applied, nothing stored.
    assert_eq!(client.sync_via(&tap, &pages).unwrap_err().code(), "TRANSPORT");
    assert!(client.peer_cursor("hub", &pages.scope()).unwrap().is_none());
    // A round that gets one page and then loses the connection keeps that page.
    let mut round = SyncRound::start(&client, &tap.capabilities().unwrap(), &pages).unwrap();
    let RoundStep::Pull { cursor, context } = round.next_step(&client).unwrap() else { panic!("pull first") };
    round.pulled(&client, tap.pull(cursor.as_deref(), &context).unwrap()).unwrap();
    round.fail(&client, &SyncError::Transport("gone".into()));
    assert_eq!(client.list_states(None, false).unwrap().len(), 2);
    let resumed_from = client.peer_cursor("hub", &pages.scope()).unwrap();
    assert!(resumed_from.is_some());
    tap.pulls.lock().unwrap().clear();
    client.sync_via(&tap, &pages).unwrap();
    assert_eq!(tap.pulls.lock().unwrap()[0].0, resumed_from, "the next round starts where the last page ended");
    assert_eq!(states_of(&client), states_of(&hub));
}

#[test]
fn a_lost_push_reply_means_the_page_is_pushed_again_harmlessly() {
    let (client, hub) = (memory("client"), memory("hub"));
    client.create_state(json!(1), CreateOptions::id("a")).unwrap();
    let tap = Tap::new(&hub);
    tap.fault(Fault::LosePushReply);
    assert_eq!(client.sync_via(&tap, &SyncContext::all()).unwrap_err().code(), "TRANSPORT");
    assert_eq!(hub.get_state("a").unwrap().unwrap().data, json!(1), "the hub applied it");
    assert_eq!(client.pending_operations().unwrap().len(), 1, "but the client never heard so");
    // The next round pulls "a" back from the hub, which proves the hub holds it: the
    // operation is acknowledged without sending the page again.
    let report = client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!((report.pulled.unchanged, report.pushed), (1, Default::default()));
    assert!(client.pending_operations().unwrap().is_empty());
    assert_eq!(tap.pushed_ids(), ["a"]);
    // Had the reply been lost with the hub's feed unread, the page goes again: unchanged.
    let (quiet_client, quiet_hub) = (memory("q"), memory("qhub"));
    quiet_client.create_state(json!(1), CreateOptions::id("a")).unwrap();
    let quiet_tap = Tap::new(&quiet_hub);
    quiet_tap.fault(Fault::LosePushReply);
    quiet_client.sync_via(&quiet_tap, &SyncContext::all()).unwrap_err();
    let mut round = SyncRound::start(&quiet_client, &quiet_tap.capabilities().unwrap(), &SyncContext::all()).unwrap();
    round.pulled(&quiet_client, ChangeSet { states: vec![], cursor: "0".into(), has_more: false }).unwrap();
    let RoundStep::Push(page) = round.next_step(&quiet_client).unwrap() else { panic!("push expected") };
    assert_eq!(quiet_tap.push(&page).unwrap().unchanged, 1);
    assert!(quiet_client.pending_operations().unwrap().len() == 1);
    round.pushed(&quiet_client, Default::default()).unwrap();
    assert!(quiet_client.pending_operations().unwrap().is_empty());
    assert!(matches!(round.next_step(&quiet_client).unwrap(), RoundStep::Done(_)));
    // A push that never arrived is retried the same way.
    client.update_state("a", json!(2)).unwrap();
    tap.fault(Fault::FailPush);
    assert!(client.sync_via(&tap, &SyncContext::all()).is_err());
    assert_eq!(hub.get_state("a").unwrap().unwrap().data, json!(1));
    client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!(hub.get_state("a").unwrap().unwrap().data, json!(2));
}

#[test]
fn collections_are_never_sent_to_a_peer_without_scoped_sync() {
    let (client, hub) = (memory("client"), memory("hub"));
    hub.create_state(json!(1), CreateOptions::id("p").in_collection("prefs")).unwrap();
    hub.create_state(json!(2), CreateOptions::id("d").in_collection("docs")).unwrap();
    client.create_state(json!(3), CreateOptions::id("cd").in_collection("docs")).unwrap();
    let tap = Tap::new(&hub).with_capabilities(|c| c.scoped_sync = false);
    let prefs = SyncContext::collections(["prefs"]);
    client.sync_via(&tap, &prefs).unwrap();
    assert!(tap.pulls.lock().unwrap().iter().all(|(_, ctx)| ctx.collections.is_empty()));
    assert_eq!(client.get_state("p").unwrap().unwrap().data, json!(1));
    assert!(client.get_state("d").unwrap().is_none(), "out-of-scope changes are dropped locally");
    assert!(tap.pushed_ids().is_empty(), "only in-scope local changes are pushed");
    // A full round later still brings (and sends) everything: its cursors are its own.
    client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!(states_of(&client), states_of(&hub));
    // A peer that can filter gets the collections.
    let scoped = Tap::new(&hub);
    client.sync_via(&scoped, &prefs).unwrap();
    assert!(scoped.pulls.lock().unwrap().iter().all(|(_, ctx)| ctx.collections == ["prefs"]));
}

#[test]
fn pages_are_cut_to_what_the_peer_accepts() {
    let (client, hub) = (memory("client"), memory("hub"));
    for i in 0..5 {
        hub.create_state(json!(i), CreateOptions::id(format!("h{i}"))).unwrap();
        client.create_state(json!(i), CreateOptions::id(format!("c{i}"))).unwrap();
    }
    let tap = Tap::new(&hub).with_capabilities(|c| c.max_batch = Some(2));
    client.sync_via(&tap, &SyncContext::all().with_limit(100)).unwrap();
    assert_eq!(tap.pulls.lock().unwrap().len(), 3);
    assert!(tap.pulls.lock().unwrap().iter().all(|(_, ctx)| ctx.limit == Some(2)));
    assert_eq!(tap.pushes.lock().unwrap().iter().map(|p| p.states.len()).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(states_of(&client), states_of(&hub));
}

/// A peer whose feed claims more changes forever without moving.
struct Stuck;

impl SyncTransport for Stuck {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        Ok(SyncCapabilities::full("stuck"))
    }
    fn pull(&self, _: Option<&str>, _: &SyncContext) -> statesync::Result<ChangeSet> {
        Ok(ChangeSet { states: vec![], cursor: "7".into(), has_more: true })
    }
    fn push(&self, _: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        Ok(ReconciliationResult::default())
    }
}

#[test]
fn a_peer_that_never_advances_fails_the_round_instead_of_looping() {
    let client = memory("client");
    let err = client.sync_via(&Stuck, &SyncContext::all()).unwrap_err();
    assert_eq!(err.code(), "CORRUPT");
}

#[test]
fn incompatible_peers_are_refused_with_typed_errors() {
    let (client, hub) = (memory("client"), memory("hub"));
    let newer = Tap::new(&hub).with_capabilities(|c| c.protocol = 2);
    assert_eq!(client.sync_via(&newer, &SyncContext::all()).unwrap_err().code(), "UNSUPPORTED_FORMAT");
    let itself = Tap::new(&client);
    assert_eq!(client.sync_via(&itself, &SyncContext::all()).unwrap_err().code(), "INVALID_INPUT");
    let nameless = Tap::new(&hub).with_capabilities(|c| c.node_id.clear());
    assert_eq!(client.sync_via(&nameless, &SyncContext::all()).unwrap_err().code(), "INVALID_INPUT");
    let bad_scope = SyncContext::collections([""]);
    assert_eq!(client.sync_via(hub.as_ref(), &bad_scope).unwrap_err().code(), "INVALID_INPUT");
}

#[test]
fn rounds_report_events_and_status_and_a_failure_holds_the_error_status_until_a_success() {
    let (client, hub) = (memory("client"), memory("hub"));
    let seen = events_of(&client);
    let tap = Tap::new(&hub);
    client.sync_via(&tap, &SyncContext::all()).unwrap();
    tap.fault(Fault::FailPull);
    client.sync_via(&tap, &SyncContext::all()).unwrap_err();
    assert_eq!(client.status(), Status::Error);
    client.create_state(json!(1), CreateOptions::id("x")).unwrap();
    assert_eq!(client.status(), Status::Error, "a local write does not hide a failing sync");
    client.sync_via(&tap, &SyncContext::all()).unwrap();
    assert_eq!(client.status(), Status::Idle);
    let names: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| !matches!(e, SyncEvent::StateCreated(_)))
        .map(|e| match e {
            SyncEvent::StatusChanged { current, .. } => format!("status:{current:?}"),
            SyncEvent::SyncFailed { peer, message } => format!("failed:{peer}:{message}"),
            other => format!("{}:{}", other.name(), peer_of(other)),
        })
        .collect();
    assert_eq!(
        names,
        [
            "syncStarted:hub",
            "status:Syncing",
            "syncCompleted:hub",
            "status:Idle",
            "syncStarted:hub",
            "status:Syncing",
            "failed:hub:transport error: connection reset",
            "status:Error",
            "syncStarted:hub",
            "status:Syncing",
            "syncCompleted:hub",
            "status:Idle",
        ]
    );
}

fn peer_of(e: &SyncEvent) -> &str {
    match e {
        SyncEvent::SyncStarted { peer } | SyncEvent::SyncCompleted { peer } | SyncEvent::SyncFailed { peer, .. } => {
            peer
        }
        _ => "",
    }
}

/// A peer that cannot even be asked what it supports.
struct Offline;

impl SyncTransport for Offline {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        Err(SyncError::Transport("connection refused".into()))
    }
    fn pull(&self, _: Option<&str>, _: &SyncContext) -> statesync::Result<ChangeSet> {
        unreachable!("no round starts without capabilities")
    }
    fn push(&self, _: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        unreachable!("no round starts without capabilities")
    }
}

#[test]
fn an_unreachable_peer_fails_the_round_with_an_empty_peer_name() {
    let client = memory("client");
    let seen = events_of(&client);
    assert_eq!(client.sync_via(&Offline, &SyncContext::all()).unwrap_err().code(), "TRANSPORT");
    let failed: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::SyncFailed { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [""]);
    assert_eq!(client.status(), Status::Error);
}
