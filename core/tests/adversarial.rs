//! Nothing a peer sends can break another replica (docs/adr/0015-hardening-against-peers.md).
//!
//! Random adversarial states — every numeric field at 0, 1, 2^32, 2^53 − 1, 2^53 and u64::MAX,
//! timestamps far in the future and the past, clock entries forged for the victim's own node,
//! ids shared with honest states — are applied to a replica, one by one and in batches, in
//! memory and on SQLite. Whatever it accepted or refused, the replica must then still write,
//! sync with an honest peer (both ending with the same states), and reopen with what it held.

use proptest::prelude::*;
use serde_json::json;
use statesync::{
    state_hash, CreateOptions, ManagerConfig, ManualClock, SyncManager, SyncState, Timestamp, VectorClock,
    DEFAULT_MAX_CLOCK_SKEW, MAX_COUNTER,
};
use std::sync::Arc;

/// The wall clock of both honest replicas: 2026-12-07.
const NOW: u64 = 1_796_601_600_000;

fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(1 << 32),
        Just(MAX_COUNTER),
        Just(MAX_COUNTER + 1),
        Just(u64::MAX),
        any::<u64>(),
        1u64..1_000,
    ]
}

fn edge_millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(NOW),
        Just(NOW + 3_600_000),
        Just(NOW + 3_600_001),
        Just(NOW * 2),
        Just(MAX_COUNTER),
        Just(MAX_COUNTER + 1),
        Just(u64::MAX),
        edge_u64(),
    ]
}

fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(u32::MAX - 1), Just(u32::MAX), any::<u32>()]
}

fn node() -> impl Strategy<Value = String> {
    prop_oneof![Just("victim"), Just("honest"), Just("mallory"), Just("carol")].prop_map(str::to_owned)
}

/// A state as a hostile peer could put on the wire: structurally sound (its hash matches, so it
/// reaches the checks that matter), every number at an edge.
fn adversarial_state() -> impl Strategy<Value = SyncState> {
    (
        prop_oneof![Just("settings"), Just("shared"), Just("evil")],
        prop_oneof![Just("default"), Just("other")],
        prop::collection::vec((node(), edge_u64()), 0..4),
        (edge_millis(), edge_u32(), node()),
        edge_u64(),
        any::<bool>(),
        prop_oneof![Just(json!({"theme": "dark"})), Just(json!(MAX_COUNTER)), Just(json!([1, "x"]))],
    )
        .prop_map(|(id, collection, entries, (millis, counter, writer), version, deleted, data)| {
            let clock: VectorClock = entries.into_iter().collect();
            let data = if deleted { serde_json::Value::Null } else { data };
            SyncState {
                id: id.to_owned(),
                collection: collection.to_owned(),
                hash: state_hash(&data, deleted),
                data,
                clock,
                timestamp: Timestamp { millis, counter, node: writer.clone() },
                modified_by: writer,
                deleted,
                version,
                fields: None,
            }
        })
}

fn open(config: ManagerConfig, node: &str) -> SyncManager {
    SyncManager::open(config.node_id(node).clock(Arc::new(ManualClock::new(NOW)))).expect("open")
}

/// Applies `attack` to a victim that already holds an honest state, then checks that the victim
/// writes, syncs and (on SQLite) reopens.
/// `config` opens the victim's storage; `persistent` says whether it can be reopened.
fn survive(attack: &[SyncState], config: impl Fn() -> ManagerConfig, persistent: bool) -> Result<(), TestCaseError> {
    let victim = open(config(), "victim");
    let honest = open(ManagerConfig::memory(), "honest");
    honest.create_state(json!({"theme": "light"}), CreateOptions::id("settings")).expect("honest create");
    victim.create_state(json!({"lang": "en"}), CreateOptions::id("shared")).expect("victim create");
    victim.sync_with(&honest).expect("first sync");

    // One by one: a refusal is INVALID_STATE and nothing else.
    for state in attack {
        if let Err(e) = victim.apply_remote_state(state.clone()) {
            prop_assert_eq!(e.code(), "INVALID_STATE", "{}", e);
        }
    }
    // As one batch: refusals are reported per state, never as the batch's failure.
    let result = victim.reconcile(attack.to_vec()).expect("a batch is never refused whole");
    prop_assert_eq!(result.rejected as usize, result.rejections.len());

    // Still writes: a new state, and every state whose clock does not carry a forged entry
    // for this node (those fail alone, with INVALID_STATE).
    let fresh = victim.create_state(json!({"n": 1}), CreateOptions::id("fresh")).expect("a new state can be written");
    prop_assert!(fresh.version == 1 && fresh.clock.get("victim") <= MAX_COUNTER);
    for state in victim.list_states(None, false).expect("list") {
        match victim.update_state(&state.id, json!({"n": 2})) {
            Ok(written) => {
                prop_assert!(written.validate().is_ok(), "a write produced an invalid state: {:?}", written);
                prop_assert!(written.version <= MAX_COUNTER && written.timestamp.millis <= MAX_COUNTER);
            }
            Err(e) => {
                prop_assert_eq!(e.code(), "INVALID_STATE", "{}", e);
                prop_assert!(state.clock.get("victim") > victim_counter_bound(), "refused without a forged entry: {e}");
            }
        }
    }

    // Syncs with an honest peer, both ways, and they end up holding the same states: all but a
    // version the victim wrote over a state the attacker stamped at the very edge of the clock
    // skew (it is stamped after it, just past what the honest peer accepts, and refused alone).
    victim.sync_with(&honest).expect("sync after the attack");
    honest.create_state(json!({"after": true}), CreateOptions::id("after")).expect("the honest peer still writes");
    victim.sync_with(&honest).expect("second sync");
    let states = |m: &SyncManager| m.export_state().expect("export").states;
    let within = |s: &SyncState| s.timestamp.millis <= NOW + DEFAULT_MAX_CLOCK_SKEW.as_millis() as u64;
    let (v, h) = (states(&victim), states(&honest));
    for s in &v {
        if within(s) {
            prop_assert!(h.contains(s), "the honest peer lacks {:?}", s);
        } else {
            prop_assert!(s.modified_by == "victim", "only the victim's own writes pass the edge: {:?}", s);
        }
    }
    for s in &h {
        prop_assert!(v.iter().any(|x| x.id == s.id), "the victim lacks {:?}", s);
    }

    if !persistent {
        return Ok(());
    }
    // Reopens with exactly what it held.
    let before = victim.export_state().expect("export");
    victim.close().expect("close");
    let reopened = open(config(), "victim");
    prop_assert_eq!(reopened.export_state().expect("export after reopen"), before);
    reopened.create_state(json!({"n": 3}), CreateOptions::id("after-reopen")).expect("writes after reopening");
    Ok(())
}

/// The largest entry of its own a replica adopts (MAX_COUNTER − 2^40): a larger one was forged.
fn victim_counter_bound() -> u64 {
    MAX_COUNTER - (1 << 40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_replica_in_memory_survives_any_state_a_peer_sends(attack in prop::collection::vec(adversarial_state(), 1..6)) {
        survive(&attack, ManagerConfig::memory, false)?;
    }

    #[test]
    fn a_replica_on_sqlite_survives_any_state_a_peer_sends(attack in prop::collection::vec(adversarial_state(), 1..6)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("victim.db");
        survive(&attack, || ManagerConfig::sqlite(&path), true)?;
    }
}

/// The three findings of the adversarial test of the hub, replayed exactly: each one had made
/// every replica that received it unable to push or to reopen.
#[test]
fn the_three_poisoned_states_of_the_report_break_nothing() {
    let poisoned = [
        // A timestamp at the end of the range: refused (far beyond the clock skew).
        json!({"id": "p1", "data": 1, "clock": {"mallory": 1},
               "timestamp": {"millis": MAX_COUNTER, "counter": u32::MAX, "node": "mallory"}}),
        // A clock entry for another node at the top: accepted, but carol keeps writing.
        json!({"id": "p2", "data": 2, "clock": {"mallory": 1, "carol": MAX_COUNTER},
               "timestamp": {"millis": NOW, "counter": 0, "node": "mallory"}}),
        // A version at the top: accepted; whoever writes the state keeps it there.
        json!({"id": "p3", "data": 3, "clock": {"mallory": 2}, "version": MAX_COUNTER,
               "timestamp": {"millis": NOW, "counter": 0, "node": "mallory"}}),
    ];
    let dir = tempfile::tempdir().unwrap();
    let carol = open(ManagerConfig::sqlite(dir.path().join("carol.db")), "carol");
    let result = carol
        .reconcile(poisoned.iter().map(|v| SyncState::from_value(v.clone()).unwrap()).collect::<Vec<_>>())
        .expect("reconcile");
    assert_eq!((result.created, result.rejected), (2, 1));
    assert_eq!(result.rejections[0].id, "p1");
    assert!(result.rejections[0].message.contains("clock skew"), "{:?}", result.rejections);

    let own = carol.create_state(json!({"mine": true}), CreateOptions::id("mine")).expect("carol writes");
    assert_eq!(own.clock.get("carol"), 1, "the forged entry was not adopted");
    assert_eq!(carol.update_state("p2", json!(20)).unwrap_err().code(), "INVALID_STATE", "only p2 is stuck here");
    let p3 = carol.update_state("p3", json!(30)).expect("p3 can be written");
    assert_eq!(p3.version, MAX_COUNTER, "versions saturate");

    // Everything carol holds is accepted by an honest peer, and carol reopens.
    let honest = open(ManagerConfig::memory(), "honest");
    let report = honest.sync_with(&carol).expect("sync");
    assert_eq!(report.pulled.rejected, 0);
    assert_eq!(honest.list_states(None, true).unwrap().len(), 3);
    carol.close().unwrap();
    let carol = open(ManagerConfig::sqlite(dir.path().join("carol.db")), "carol");
    assert_eq!(carol.list_states(None, true).unwrap().len(), 3);
}
