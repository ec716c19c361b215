//! The journal sink of a persistent replica: committed records are queued here and taken by
//! the TypeScript layer right after the call that committed them, which writes them to
//! IndexedDB in one transaction (wasm/ts/storage.ts) and tells the other tabs (wasm/ts/tabs.ts).

use statesync::{JournalRecord, JournalSink};
use std::sync::{Arc, Mutex};

/// Records committed and not yet taken by JS, as JSON text.
#[derive(Default)]
pub(crate) struct QueueSink(Mutex<Vec<String>>);

impl QueueSink {
    pub fn new() -> Arc<QueueSink> {
        Arc::new(QueueSink::default())
    }

    /// Takes every queued record, oldest first, as one JSON array text (`None` when empty).
    pub fn take(&self) -> Option<String> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_empty() {
            return None;
        }
        let text = format!("[{}]", queue.join(","));
        queue.clear();
        Some(text)
    }
}

impl JournalSink for QueueSink {
    fn write(&self, record: JournalRecord) -> statesync::Result<()> {
        let text = serde_json::to_string(&record).expect("a journal record serialises");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(text);
        Ok(())
    }
}
