//! The cross-language conformance suite replayed in WebAssembly, under Node and in headless
//! Chromium (wasm-bindgen-test): every case of every `conformance/*.json` file (embedded at
//! build time by build.rs, so a new file is picked up without editing this one), once on
//! in-memory replicas and once on replicas persisted through the journal store the browser
//! package writes to IndexedDB, which are then reopened from the journalled rows and checked
//! again. The replayer is the core's own (`core/tests/support/conformance_replay.rs`): the
//! same checks, the same expectations.
//!
//! Set `CONFORMANCE_CASE` at build time to replay only matching cases.

// The replayer's `feature = "runtime"` names the core's feature, which this crate has none of:
// it then runs `auto_sync`'s rounds one after the other (the browser build has no runtime).
#[allow(unexpected_cfgs)]
#[path = "../../core/tests/support/conformance_replay.rs"]
mod replay;

use replay::{Outcome, Persistence};
use statesync::{JournalImage, JournalRecord, JournalSink, JournalStorage, ManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasm_bindgen_test::wasm_bindgen_test;

mod files {
    include!(concat!(env!("OUT_DIR"), "/conformance_files.rs"));
}

/// Keeps the journalled rows in memory, as IndexedDB keeps them in the browser.
#[derive(Default)]
struct MemorySink(Mutex<JournalImage>);

impl MemorySink {
    fn image(&self) -> JournalImage {
        self.0.lock().unwrap().clone()
    }
}

impl JournalSink for MemorySink {
    fn write(&self, record: JournalRecord) -> statesync::Result<()> {
        // Through the JSON text, as the records travel to IndexedDB.
        let text = serde_json::to_string(&record).unwrap();
        self.0.lock().unwrap().apply(serde_json::from_str(&text).unwrap());
        Ok(())
    }
}

/// The journal sink of every replica of a run, by number: a replica reopens from its rows.
#[derive(Default)]
struct Journal(HashMap<usize, Arc<MemorySink>>);

impl Persistence for Journal {
    const NAME: &'static str = "journal";
    const REOPENED_FROM: &'static str = "its journal";
    // The journal is the page's IndexedDB database: a second replica over it is not refused.
    const LOCKS: bool = false;

    fn start() -> Outcome<Self> {
        Ok(Journal::default())
    }

    fn open(&mut self, index: usize) -> ManagerConfig {
        let sink = self.0.entry(index).or_default();
        ManagerConfig::journal(JournalStorage::new(sink.image(), sink.clone()))
    }
}

#[wasm_bindgen_test]
fn conformance_suite() {
    let files: Vec<(String, String)> = files::FILES
        .iter()
        .filter(|(name, _)| !name.contains('/') && name.ends_with(".json"))
        .map(|(name, bytes)| {
            (name.to_string(), String::from_utf8(bytes.to_vec()).expect("conformance files are UTF-8"))
        })
        .collect();
    replay::replay_suite::<Journal>(&files, option_env!("CONFORMANCE_CASE"), "conformance/ (embedded by build.rs)");
}
