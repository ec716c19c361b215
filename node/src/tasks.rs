//! The calls that run off the JS thread, as libuv work: each resolves its Promise on the JS
//! thread when done. napi does not catch a panic on the thread pool (it would abort the
//! process), so every `compute` calls the core through `catch_panic`.
//!
//! Below `manager` (which starts these tasks and owns `OpenTask`, the one whose result is a
//! `NativeManager`): nothing here imports it, so the modules form no cycle.

use crate::callbacks::JS_THREAD_BUSY;
use crate::errors::{guarded, to_js};
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
/// entered the replica meanwhile. A failed round changed nothing it had not committed, and
/// rounds resume from their cursors, so trying again is safe.
const BUSY_RETRIES: u32 = 200;

impl Task for RoundTask {
    type Output = statesync::SyncReport;
    type JsValue = SyncReport;

    fn compute(&mut self) -> Result<statesync::SyncReport> {
        let mut tries = 0;
        loop {
            match statesync::catch_panic(|| self.once()) {
                Err(SyncError::Resolver(message)) if message.contains(JS_THREAD_BUSY) && tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => return other.map_err(to_js),
            }
        }
    }

    fn resolve(&mut self, _env: Env, output: statesync::SyncReport) -> Result<SyncReport> {
        Ok(output.into())
    }
}

/// Stops auto-sync, waiting for its running round.
pub struct StopAutoSyncTask(pub(crate) Arc<SyncManager>);

impl Task for StopAutoSyncTask {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> Result<bool> {
        guarded(|| Ok(self.0.stop_auto_sync()))
    }

    fn resolve(&mut self, _env: Env, output: bool) -> Result<bool> {
        Ok(output)
    }
}

/// Closes a replica.
pub struct CloseTask(pub(crate) Arc<SyncManager>);

impl Task for CloseTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        guarded(|| self.0.close())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}
