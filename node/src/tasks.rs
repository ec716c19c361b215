//! The calls that run off the JS thread, as libuv work: each resolves its Promise on the JS
//! thread when done. napi does not catch a panic on the thread pool (it would abort the
//! process), so every `compute` calls the core through `catch_panic`. A task's output is the
//! core's result; `resolve`, on the JS thread, makes a core error the typed JS error the
//! Promise rejects with (`errors::js_error`).
//!
//! Below `manager` (which starts these tasks and owns `OpenTask`, the one whose result is a
//! `NativeManager`): nothing here imports it, so the modules form no cycle.

use crate::callbacks::resolver_gave_way;
use crate::errors::js_error;
use crate::values::SyncReport;
use napi::bindgen_prelude::*;
use statesync::{SyncContext, SyncError, SyncManager, SyncTransport};
use std::sync::Arc;
use std::time::Duration;

/// The peer of a round.
enum Peer {
    Replica(Arc<SyncManager>),
    Transport(Arc<dyn SyncTransport>),
}

/// One sync round.
pub struct RoundTask {
    core: Arc<SyncManager>,
    peer: Peer,
    context: SyncContext,
}

impl RoundTask {
    pub(crate) fn with_replica(core: Arc<SyncManager>, other: Arc<SyncManager>, context: SyncContext) -> Self {
        RoundTask { core, peer: Peer::Replica(other), context }
    }

    pub(crate) fn with_transport(
        core: Arc<SyncManager>,
        transport: Arc<dyn SyncTransport>,
        context: SyncContext,
    ) -> Self {
        RoundTask { core, peer: Peer::Transport(transport), context }
    }

    fn once(&self) -> statesync::Result<statesync::SyncReport> {
        match &self.peer {
            Peer::Replica(other) => self.core.sync_with_context(other, &self.context),
            Peer::Transport(transport) => self.core.sync_via(transport.as_ref(), &self.context),
        }
    }
}

/// How often a round is tried again when a JS resolver could not run because the JS thread
/// entered the replica meanwhile (the resolver gave way: `callbacks::resolver_gave_way`). A
/// failed round changed nothing it had not committed, and rounds resume from their cursors, so
/// trying again is safe.
const BUSY_RETRIES: u32 = 200;

/// Runs `call` (a round, or a restore that merges through the strategies) on this thread of the
/// pool, again while it failed because a JS resolver it called gave way (see [`BUSY_RETRIES`]).
pub(crate) fn retrying_resolvers<T>(mut call: impl FnMut() -> statesync::Result<T>) -> statesync::Result<T> {
    let mut tries = 0;
    loop {
        // The resolver runs on this thread (the core calls it inside the call): the signal is
        // this thread's, set by this call only.
        resolver_gave_way();
        match call() {
            Err(SyncError::Resolver(_)) if resolver_gave_way() && tries < BUSY_RETRIES => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

impl Task for RoundTask {
    type Output = statesync::Result<statesync::SyncReport>;
    type JsValue = SyncReport;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(retrying_resolvers(|| statesync::catch_panic(|| self.once())))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<SyncReport> {
        output.map(Into::into).map_err(|error| js_error(&env, error))
    }
}

/// Stops auto-sync, waiting for its running round.
pub struct StopAutoSyncTask(pub(crate) Arc<SyncManager>);

impl Task for StopAutoSyncTask {
    type Output = statesync::Result<bool>;
    type JsValue = bool;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(statesync::catch_panic(|| Ok(self.0.stop_auto_sync())))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<bool> {
        output.map_err(|error| js_error(&env, error))
    }
}

/// Closes a replica.
pub struct CloseTask(pub(crate) Arc<SyncManager>);

impl Task for CloseTask {
    type Output = statesync::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(statesync::catch_panic(|| self.0.close()))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|error| js_error(&env, error))
    }
}
