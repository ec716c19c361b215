//! Status, events, and the application's listener (a foreign trait).

use crate::error::{guard, CallbackError, Result};
use crate::state::{SyncConflict, SyncState};
use std::sync::{Arc, Mutex, Weak};

/// What a replica is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Status {
    /// Ready, nothing outstanding.
    Idle,
    /// A sync round is running.
    Syncing,
    /// Unresolved manual conflicts exist.
    Conflict,
    /// The last store write or sync round failed.
    Error,
    /// The manager was closed.
    Closed,
}

impl From<statesync::Status> for Status {
    fn from(s: statesync::Status) -> Self {
        match s {
            statesync::Status::Idle => Status::Idle,
            statesync::Status::Syncing => Status::Syncing,
            statesync::Status::Conflict => Status::Conflict,
            statesync::Status::Error => Status::Error,
            statesync::Status::Closed => Status::Closed,
        }
    }
}

/// Something that happened to a replica, delivered after it was committed, in commit order.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
// Built only for listeners and handed straight to the host: boxing would cost an allocation.
#[allow(clippy::large_enum_variant)]
pub enum SyncEvent {
    /// A state became live.
    StateCreated {
        /// The new version.
        state: SyncState,
    },
    /// A live state changed.
    StateUpdated {
        /// The new version.
        state: SyncState,
    },
    /// A live state became a tombstone.
    StateDeleted {
        /// The tombstone.
        state: SyncState,
    },
    /// A manual conflict was recorded.
    ConflictDetected {
        /// The conflict.
        conflict: SyncConflict,
    },
    /// A manual conflict was resolved or superseded.
    ConflictResolved {
        /// The conflict that went away.
        conflict_id: String,
        /// Its state.
        state_id: String,
    },
    /// A state was refused: a version a peer sent that this replica refused, or one of this
    /// replica's own that a peer refused (recorded with it, see `SyncManager.rejections()`).
    StateRejected {
        /// The refused state.
        state_id: String,
        /// Why, as an error code (`INVALID_STATE`, ...).
        code: String,
        /// Why, in words, naming the peer.
        message: String,
    },
    /// A sync round with a peer started.
    SyncStarted {
        /// The peer's node id.
        peer: String,
    },
    /// A sync round with a peer finished.
    SyncCompleted {
        /// The peer's node id.
        peer: String,
    },
    /// A sync round with a peer failed.
    SyncFailed {
        /// The peer's node id (empty when it was never reached).
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

impl From<&statesync::SyncEvent> for SyncEvent {
    fn from(e: &statesync::SyncEvent) -> Self {
        use statesync::SyncEvent as E;
        match e {
            E::StateCreated(s) => SyncEvent::StateCreated { state: (&**s).into() },
            E::StateUpdated(s) => SyncEvent::StateUpdated { state: (&**s).into() },
            E::StateDeleted(s) => SyncEvent::StateDeleted { state: (&**s).into() },
            E::ConflictDetected(c) => SyncEvent::ConflictDetected { conflict: c.into() },
            E::ConflictResolved { conflict_id, state_id } => {
                SyncEvent::ConflictResolved { conflict_id: conflict_id.clone(), state_id: state_id.clone() }
            }
            E::StateRejected { state_id, code, message } => {
                SyncEvent::StateRejected { state_id: state_id.clone(), code: code.clone(), message: message.clone() }
            }
            E::SyncStarted { peer } => SyncEvent::SyncStarted { peer: peer.clone() },
            E::SyncCompleted { peer } => SyncEvent::SyncCompleted { peer: peer.clone() },
            E::SyncFailed { peer, message } => SyncEvent::SyncFailed { peer: peer.clone(), message: message.clone() },
            E::StatusChanged { previous, current } => {
                SyncEvent::StatusChanged { previous: (*previous).into(), current: (*current).into() }
            }
        }
    }
}

/// The application's listener. It runs on the thread that committed the change (or the
/// auto-sync thread), after the commit and outside every lock; it may call the manager.
/// Whatever it throws is ignored: a listener cannot fail the write it hears about.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// Called once per event. An error it returns (or throws) is ignored.
    fn on_event(&self, event: SyncEvent) -> std::result::Result<(), CallbackError>;
}

/// The core listener calling the application's.
pub(crate) fn core_listener(listener: Arc<dyn SyncListener>) -> statesync::Listener {
    Arc::new(move |event: &statesync::SyncEvent| {
        // Ignored on purpose: the write it reports is committed whatever the listener does.
        let _ = listener.on_event(event.into());
    })
}

/// The subscriptions made through one manager object: dropped when it closes, since a
/// listener may hold the host object that holds the manager (a cycle no garbage collector
/// sees across the boundary).
pub(crate) type Subscriptions = Arc<Mutex<Vec<statesync::Subscription>>>;

/// A registered listener; `unsubscribe()` removes it.
#[derive(uniffi::Object)]
pub struct Subscription {
    pub(crate) manager: Weak<statesync::SyncManager>,
    pub(crate) id: statesync::Subscription,
}

#[uniffi::export]
impl Subscription {
    /// Removes the listener. Returns false if it was already removed (or the manager is gone).
    pub fn unsubscribe(&self) -> Result<bool> {
        guard(|| Ok(self.manager.upgrade().is_some_and(|m| m.unsubscribe(self.id))))
    }
}
