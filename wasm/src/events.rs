//! Events: the core's listener queues them here; the TypeScript layer takes them after each
//! call and delivers them to its listeners, in commit order, outside every core lock.

use statesync::SyncEvent;
use std::sync::{Arc, Mutex};

/// Events not yet taken by JS.
#[derive(Default)]
pub(crate) struct EventQueue(Mutex<Vec<SyncEvent>>);

impl EventQueue {
    pub fn new() -> Arc<EventQueue> {
        Arc::new(EventQueue::default())
    }

    pub fn push(&self, event: &SyncEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event.clone());
    }

    /// Takes every queued event as one JSON array text (`None` when empty).
    pub fn take(&self) -> Option<String> {
        let events = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if events.is_empty() {
            return None;
        }
        let items: Vec<serde_json::Value> = events.iter().map(to_json).collect();
        Some(serde_json::Value::Array(items).to_string())
    }
}

/// An event as `{"name": "stateCreated", ...}` with states and conflicts as wire JSON text.
fn to_json(event: &SyncEvent) -> serde_json::Value {
    use serde_json::json;
    match event {
        SyncEvent::StateCreated(s) => json!({"name": "stateCreated", "state": s.to_json()}),
        SyncEvent::StateUpdated(s) => json!({"name": "stateUpdated", "state": s.to_json()}),
        SyncEvent::StateDeleted(s) => json!({"name": "stateDeleted", "state": s.to_json()}),
        SyncEvent::ConflictDetected(c) => {
            json!({"name": "conflictDetected", "conflict": serde_json::to_string(c).expect("a conflict serialises")})
        }
        SyncEvent::ConflictResolved { conflict_id, state_id } => {
            json!({"name": "conflictResolved", "conflictId": conflict_id, "stateId": state_id})
        }
        SyncEvent::StateRejected { state_id, code, message } => {
            json!({"name": "stateRejected", "stateId": state_id, "code": code, "message": message})
        }
        SyncEvent::SyncStarted { peer } => json!({"name": "syncStarted", "peer": peer}),
        SyncEvent::SyncCompleted { peer } => json!({"name": "syncCompleted", "peer": peer}),
        SyncEvent::SyncFailed { peer, message } => json!({"name": "syncFailed", "peer": peer, "message": message}),
        SyncEvent::StatusChanged { previous, current } => {
            json!({"name": "statusChanged", "previous": previous.as_str(), "current": current.as_str()})
        }
    }
}
