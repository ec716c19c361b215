//! Feeds states built from arbitrary bytes to a replica, every number drawn from the edges of
//! its range (0, 1, 2^32, 2^53 − 1, 2^53, u64::MAX, far-future and far-past timestamps) or taken
//! raw, clock entries forged for the victim's own node included. Whatever the replica accepts or
//! refuses, it must then still write a new state, never produce a state that fails validation,
//! and sync with an honest peer to the same states (docs/adr/0015-hardening-against-peers.md).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use statesync::{
    state_hash, CreateOptions, ManagerConfig, ManualClock, SyncManager, SyncState, Timestamp, VectorClock, MAX_COUNTER,
};
use std::sync::Arc;

const NOW: u64 = 1_796_601_600_000;
const NODES: [&str; 4] = ["victim", "honest", "mallory", "carol"];
const IDS: [&str; 3] = ["settings", "shared", "evil"];

/// Reads the fuzzer's bytes as a sequence of choices.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    fn raw(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    fn number(&mut self) -> u64 {
        match self.byte() % 10 {
            0 => 0,
            1 => 1,
            2 => 1 << 32,
            3 => MAX_COUNTER,
            4 => MAX_COUNTER + 1,
            5 => u64::MAX,
            6 => NOW + 3_600_000 + u64::from(self.byte()) - 128,
            7 => NOW,
            8 => u64::from(self.byte()),
            _ => self.raw(),
        }
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.byte()) % from.len()]
    }

    fn state(&mut self) -> SyncState {
        let clock: VectorClock = (0..self.byte() % 4).map(|_| (self.pick(&NODES), self.number())).collect();
        let writer = self.pick(&NODES).to_owned();
        let deleted = self.byte().is_multiple_of(4);
        let data = if deleted { serde_json::Value::Null } else { json!({"n": self.byte()}) };
        SyncState {
            id: self.pick(&IDS).to_owned(),
            collection: if self.byte().is_multiple_of(3) { "other" } else { "default" }.to_owned(),
            hash: state_hash(&data, deleted),
            data,
            clock,
            timestamp: Timestamp { millis: self.number(), counter: self.raw() as u32, node: writer.clone() },
            modified_by: writer,
            deleted,
            version: self.number(),
            fields: None,
        }
    }
}

fn open(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node).clock(Arc::new(ManualClock::new(NOW)))).unwrap()
}

fuzz_target!(|bytes: &[u8]| {
    let mut choices = Choices(bytes);
    let attack: Vec<SyncState> = (0..1 + choices.byte() % 6).map(|_| choices.state()).collect();
    let victim = open("victim");
    let honest = open("honest");
    honest.create_state(json!({"theme": "light"}), CreateOptions::id("settings")).unwrap();
    victim.sync_with(&honest).unwrap();
    for state in &attack {
        if let Err(e) = victim.apply_remote_state(state.clone()) {
            assert_eq!(e.code(), "INVALID_STATE", "{e}");
        }
    }
    victim.reconcile(attack).expect("a batch is never refused whole");
    victim.create_state(json!({"n": 1}), CreateOptions::id("fresh")).expect("the victim still writes");
    for state in victim.list_states(None, false).unwrap() {
        match victim.update_state(&state.id, json!({"n": 2})) {
            Ok(written) => assert!(written.validate().is_ok(), "an invalid write: {written:?}"),
            Err(e) => assert_eq!(e.code(), "INVALID_STATE", "{e}"),
        }
    }
    victim.sync_with(&honest).expect("the victim syncs");
    victim.sync_with(&honest).expect("the victim syncs again");
    assert_eq!(victim.export_state().unwrap().states, honest.export_state().unwrap().states);
});
