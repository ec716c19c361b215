//! Status and events: what the application is told, and the hub that delivers it after commit,
//! in commit order, with no lock of the manager held.

use crate::model::conflict::SyncConflict;
use crate::model::state::SyncState;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a replica is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Ready, nothing outstanding.
    Idle,
    /// A sync round is running.
    Syncing,
    /// Unresolved manual conflicts exist.
    Conflict,
    /// The last store write failed; cleared by the next successful one.
    Error,
    /// `close()` was called.
    Closed,
}

impl Status {
    /// Every status, in declaration order: what a host enum is built from.
    pub const ALL: [Status; 5] = [Status::Idle, Status::Syncing, Status::Conflict, Status::Error, Status::Closed];

    /// The lower-camel-case name used by every binding.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Syncing => "syncing",
            Status::Conflict => "conflict",
            Status::Error => "error",
            Status::Closed => "closed",
        }
    }
}

/// Something that happened to a replica, delivered to listeners after it was committed.
#[derive(Clone, Debug, PartialEq)]
// Built only when someone listens, and moved, not copied: boxing the conflict would cost an
// allocation for no gain.
#[allow(clippy::large_enum_variant)]
pub enum SyncEvent {
    /// A state became live (created locally, received, or re-created over a tombstone).
    StateCreated(Arc<SyncState>),
    /// A live state changed.
    StateUpdated(Arc<SyncState>),
    /// A live state became a tombstone.
    StateDeleted(Arc<SyncState>),
    /// A manual conflict was recorded.
    ConflictDetected(SyncConflict),
    /// A manual conflict was resolved, or superseded by a version that dominates both sides.
    ConflictResolved {
        /// The conflict that went away.
        conflict_id: String,
        /// Its state.
        state_id: String,
    },
    /// A state was refused: a version a peer sent that this replica refused, or one of this
    /// replica's own that a peer refused (see [`crate::Rejection`], recorded with it).
    StateRejected {
        /// The refused state.
        state_id: String,
        /// Why, as an error code.
        code: String,
        /// Why, in words, naming the peer.
        message: String,
    },
    /// A sync round with a peer started.
    SyncStarted {
        /// The peer's node id.
        peer: String,
    },
    /// A sync round with a peer finished: both sides have exchanged every change.
    SyncCompleted {
        /// The peer's node id.
        peer: String,
    },
    /// A sync round with a peer failed; what it applied before failing stays applied.
    SyncFailed {
        /// The peer's node id.
        peer: String,
        /// What went wrong.
        message: String,
    },
    /// The status changed.
    StatusChanged {
        /// Before.
        previous: Status,
        /// After.
        current: Status,
    },
}

impl SyncEvent {
    /// The event's name in every binding (`stateCreated`, `statusChanged`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            SyncEvent::StateCreated(_) => "stateCreated",
            SyncEvent::StateUpdated(_) => "stateUpdated",
            SyncEvent::StateDeleted(_) => "stateDeleted",
            SyncEvent::ConflictDetected(_) => "conflictDetected",
            SyncEvent::ConflictResolved { .. } => "conflictResolved",
            SyncEvent::StateRejected { .. } => "stateRejected",
            SyncEvent::SyncStarted { .. } => "syncStarted",
            SyncEvent::SyncCompleted { .. } => "syncCompleted",
            SyncEvent::SyncFailed { .. } => "syncFailed",
            SyncEvent::StatusChanged { .. } => "statusChanged",
        }
    }

    /// The event a stored change produces for the application, if it is visible at all.
    pub(crate) fn for_change(before: Option<&SyncState>, after: &Arc<SyncState>) -> Option<SyncEvent> {
        let was_live = before.is_some_and(SyncState::is_live);
        match (was_live, after.is_live()) {
            (false, true) => Some(SyncEvent::StateCreated(after.clone())),
            (true, true) => Some(SyncEvent::StateUpdated(after.clone())),
            (true, false) => Some(SyncEvent::StateDeleted(after.clone())),
            (false, false) => None,
        }
    }
}

/// A listener registered with [`crate::SyncManager::subscribe`].
pub type Listener = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// The handle that unsubscribes a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subscription(pub u64);

/// Listeners and the queue of committed, undelivered events.
#[derive(Default)]
pub(crate) struct EventHub {
    listeners: Mutex<Vec<(u64, Listener)>>,
    any_listener: AtomicBool,
    next_id: AtomicU64,
    queue: Mutex<VecDeque<SyncEvent>>,
    dispatching: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking listener cannot leave these structures half-updated: recover the guard.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EventHub {
    /// True when someone listens, so writers can skip building events nobody reads.
    pub fn is_heard(&self) -> bool {
        self.any_listener.load(Ordering::Acquire)
    }

    pub fn subscribe(&self, listener: Listener) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut ls = lock(&self.listeners);
        ls.push((id, listener));
        self.any_listener.store(true, Ordering::Release);
        Subscription(id)
    }

    pub fn unsubscribe(&self, sub: Subscription) -> bool {
        let mut ls = lock(&self.listeners);
        let before = ls.len();
        ls.retain(|(id, _)| *id != sub.0);
        self.any_listener.store(!ls.is_empty(), Ordering::Release);
        ls.len() != before
    }

    /// Queues committed events. Called while the manager's lock is held, which is what makes
    /// the queue order the commit order.
    pub fn enqueue(&self, events: Vec<SyncEvent>) {
        if !events.is_empty() {
            lock(&self.queue).extend(events);
        }
    }

    /// Delivers queued events. Called with no manager lock held. One thread delivers at a time;
    /// a listener that writes to the manager only queues more, delivered by the same loop after
    /// the current event, so order holds and re-entrant calls cannot deadlock.
    pub fn dispatch(&self) {
        loop {
            if self.dispatching.swap(true, Ordering::AcqRel) {
                return;
            }
            loop {
                let Some(event) = lock(&self.queue).pop_front() else { break };
                let listeners: Vec<Listener> = lock(&self.listeners).iter().map(|(_, l)| l.clone()).collect();
                for listener in listeners {
                    // A panicking listener must not take the replica (or the host process) down.
                    let _ = catch_unwind(AssertUnwindSafe(|| listener(&event)));
                }
            }
            self.dispatching.store(false, Ordering::Release);
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }
}
