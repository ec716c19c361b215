//! One sync round against a [`SyncTransport`], written as a state machine that does no I/O
//! itself ("sans-IO"): it says what to send next ([`RoundStep`]) and is told what came back.
//! The blocking runner ([`SyncManager::sync_via`]) and any async driver (the browser's `fetch`,
//! a JS transport returning Promises) run the very same logic, so bindings stay thin.
//!
//! A round pulls the peer's changes page by page until it has them all, then pushes this
//! replica's changes page by page. Both directions resume from durable cursors: the pull cursor
//! is stored with the pulled page in one transaction, the push cursor once the peer has
//! accepted a page, together with the acknowledgement of the pending operations that page
//! carried. An interrupted round, a lost reply or a repeated page is therefore harmless.

use crate::manager::SyncManager;
use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::clock::VectorClock;
use crate::model::error::{Result, SyncError};
use crate::model::state::validate_node_id;
use crate::replica::outcome::ReconciliationResult;
use crate::sync::transport::{SyncCapabilities, SyncTransport, PROTOCOL_VERSION};
use std::collections::HashMap;

/// What the driver of a [`SyncRound`] must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum RoundStep {
    /// Ask the peer for a page of its changes, then call [`SyncRound::pulled`].
    Pull {
        /// The stored cursor for this peer and scope (`None`: from the beginning).
        cursor: Option<String>,
        /// The context to send: collections only if the peer supports scoped sync.
        context: SyncContext,
    },
    /// Send this page to the peer, then call [`SyncRound::pushed`] with its answer.
    Push(ChangeSet),
    /// The round is complete.
    Done(SyncReport),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pulling,
    Pushing,
    Finished,
}

/// A push waiting for the peer's answer.
#[derive(Debug)]
struct InFlight {
    /// What was sent: the page without the versions the peer itself sent in this round.
    send: ChangeSet,
    /// The whole page, recorded as accepted with the answer.
    page: ChangeSet,
}

/// One pull-then-push round with a peer; see the module documentation.
#[derive(Debug)]
pub struct SyncRound {
    peer: String,
    /// The scope asked for, with the page size cut to what the peer accepts.
    scope: SyncContext,
    /// What the peer is sent: `scope` without collections when it cannot filter by them.
    remote: SyncContext,
    /// The largest body the peer accepts: pushed pages are cut to it.
    max_body_bytes: Option<usize>,
    filter_locally: bool,
    phase: Phase,
    /// Versions received from the peer in this round: pushing them back would only echo.
    received: HashMap<String, VectorClock>,
    /// The page pushed and not yet accepted.
    in_flight: Option<InFlight>,
    report: SyncReport,
}

impl SyncRound {
    /// Starts a round with a peer that advertised `capabilities`, over `context`'s scope.
    /// Emits `SyncStarted` and sets the status to `Syncing` until the round completes or fails.
    pub fn start(manager: &SyncManager, capabilities: &SyncCapabilities, context: &SyncContext) -> Result<SyncRound> {
        let checked = Self::check(manager, capabilities, context);
        if let Err(e) = &checked {
            manager.round_failed_to_start(&capabilities.node_id, e);
        }
        checked?;
        let mut scope = context.clone();
        if let Some(max) = capabilities.max_batch {
            scope.limit = Some(scope.limit.map_or(max, |l| l.min(max)).max(1));
        }
        let remote = if capabilities.scoped_sync {
            scope.clone()
        } else {
            SyncContext { collections: Vec::new(), limit: scope.limit }
        };
        manager.round_started(&capabilities.node_id);
        Ok(SyncRound {
            peer: capabilities.node_id.clone(),
            filter_locally: !capabilities.scoped_sync && !scope.collections.is_empty(),
            scope,
            remote,
            max_body_bytes: capabilities.max_body_bytes,
            phase: Phase::Pulling,
            received: HashMap::new(),
            in_flight: None,
            report: SyncReport::default(),
        })
    }

    fn check(manager: &SyncManager, capabilities: &SyncCapabilities, context: &SyncContext) -> Result<()> {
        if capabilities.protocol != PROTOCOL_VERSION {
            return Err(SyncError::UnsupportedFormat(format!(
                "peer speaks sync protocol {}; this build speaks {PROTOCOL_VERSION}",
                capabilities.protocol
            )));
        }
        validate_node_id(&capabilities.node_id).map_err(|e| SyncError::InvalidInput(format!("peer node id: {e}")))?;
        if capabilities.node_id == manager.node_id()? {
            return Err(SyncError::InvalidInput("a replica cannot sync with its own node id".into()));
        }
        context.validate()
    }

    /// The peer's node id.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// What to do next. Calling it again before answering repeats the same step.
    pub fn next_step(&mut self, manager: &SyncManager) -> Result<RoundStep> {
        let step = self.plan(manager);
        self.settle(manager, step)
    }

    fn plan(&mut self, manager: &SyncManager) -> Result<RoundStep> {
        match self.phase {
            Phase::Pulling => {
                let cursor = manager.peer_cursor(&self.peer, &self.scope.scope())?;
                Ok(RoundStep::Pull { cursor, context: self.remote.clone() })
            }
            Phase::Pushing => {
                if let Some(in_flight) = &self.in_flight {
                    return Ok(RoundStep::Push(in_flight.send.clone()));
                }
                let key = self.push_key();
                loop {
                    let cursor = manager.peer_cursor(&self.peer, &key)?;
                    let page = match self.max_body_bytes {
                        Some(max) => manager.changes_since_within(cursor.as_deref(), &self.scope, max)?,
                        None => manager.changes_since(cursor.as_deref(), &self.scope)?,
                    };
                    let mut send = page.clone();
                    send.states.retain(|s| self.received.get(&s.id) != Some(&s.clock));
                    if !send.states.is_empty() {
                        self.in_flight = Some(InFlight { send: send.clone(), page });
                        return Ok(RoundStep::Push(send));
                    }
                    // Nothing the peer lacks: the page counts as accepted (its echoes included,
                    // whose pending operations the peer has just shown it holds).
                    if cursor.as_deref() != Some(page.cursor.as_str()) {
                        manager.record_push(&self.peer, &key, &page, &ReconciliationResult::default())?;
                    }
                    if !page.has_more {
                        self.phase = Phase::Finished;
                        manager.round_finished(&self.peer, None);
                        return Ok(RoundStep::Done(self.report.clone()));
                    }
                }
            }
            Phase::Finished => Ok(RoundStep::Done(self.report.clone())),
        }
    }

    /// Applies a page the peer sent in answer to [`RoundStep::Pull`], storing its cursor in
    /// the same transaction.
    pub fn pulled(&mut self, manager: &SyncManager, changes: ChangeSet) -> Result<ReconciliationResult> {
        let result = self.apply_pulled(manager, changes);
        self.settle(manager, result)
    }

    fn apply_pulled(&mut self, manager: &SyncManager, mut changes: ChangeSet) -> Result<ReconciliationResult> {
        if self.phase != Phase::Pulling {
            return Err(SyncError::InvalidInput("this round is not pulling".into()));
        }
        let cursor = manager.peer_cursor(&self.peer, &self.scope.scope())?;
        if changes.has_more && changes.states.is_empty() && cursor.as_deref() == Some(changes.cursor.as_str()) {
            // Without this a peer that keeps saying "more" without moving would loop forever.
            return Err(SyncError::Corrupt(format!("peer {:?} sent an empty page that does not advance", self.peer)));
        }
        if self.filter_locally {
            changes.states.retain(|s| self.scope.covers(&s.collection));
        }
        for s in &changes.states {
            self.received.insert(s.id.clone(), s.clock.clone());
        }
        let result = manager.apply_changes(&self.peer, &self.scope, &changes)?;
        self.report.pulled.add(&result);
        if !changes.has_more {
            self.phase = Phase::Pushing;
        }
        Ok(result)
    }

    /// Records the peer's answer to [`RoundStep::Push`]: stores the push cursor and
    /// acknowledges the pending operations the page carried, in one transaction.
    pub fn pushed(&mut self, manager: &SyncManager, result: ReconciliationResult) -> Result<()> {
        let recorded = match self.in_flight.take() {
            None => Err(SyncError::InvalidInput("no page is waiting for the peer's answer".into())),
            Some(in_flight) => manager.record_push(&self.peer, &self.push_key(), &in_flight.page, &result).map(|_| {
                self.report.pushed.add(&result);
            }),
        };
        self.settle(manager, recorded)
    }

    /// Ends the round as failed (a transport error, say): emits `SyncFailed`. The stored
    /// cursors keep what was done, so the next round resumes from there.
    pub fn fail(&mut self, manager: &SyncManager, error: &SyncError) {
        if self.phase != Phase::Finished {
            self.phase = Phase::Finished;
            manager.round_finished(&self.peer, Some(error));
        }
    }

    /// True once the round completed or failed.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Fails the round when `result` is an error, so every error path emits `SyncFailed`.
    fn settle<T>(&mut self, manager: &SyncManager, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.fail(manager, e);
        }
        result
    }

    fn push_key(&self) -> String {
        format!("push:{}", self.scope.scope())
    }
}

/// Runs a whole round against a blocking transport.
pub(crate) fn run(manager: &SyncManager, transport: &dyn SyncTransport, context: &SyncContext) -> Result<SyncReport> {
    let capabilities = match transport.attach(&manager.node_id()?).and_then(|()| transport.capabilities()) {
        Ok(c) => c,
        Err(e) => {
            manager.round_failed_to_start("", &e);
            return Err(e);
        }
    };
    let mut round = SyncRound::start(manager, &capabilities, context)?;
    loop {
        match round.next_step(manager)? {
            RoundStep::Pull { cursor, context } => {
                let page = transport.pull(cursor.as_deref(), &context).inspect_err(|e| round.fail(manager, e))?;
                round.pulled(manager, page)?;
            }
            RoundStep::Push(page) => {
                let result = transport.push(&page).inspect_err(|e| round.fail(manager, e))?;
                round.pushed(manager, result)?;
            }
            RoundStep::Done(report) => return Ok(report),
        }
    }
}

/// What one [`SyncManager::sync_with`] round did on each side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Changes pulled from the other replica into this one.
    pub pulled: ReconciliationResult,
    /// Changes pushed from this replica into the other one.
    pub pushed: ReconciliationResult,
}

/// Peer-to-peer sync: with a replica in this process, or through any transport.
impl SyncManager {
    /// Pulls every page of `from`'s changes in `context` since the stored cursor.
    fn pull(&self, from: &SyncManager, context: &SyncContext) -> Result<ReconciliationResult> {
        let peer = from.node_id()?;
        let scope = context.scope();
        let mut total = ReconciliationResult::default();
        loop {
            let cursor = self.peer_cursor(&peer, &scope)?;
            let page = from.changes_since(cursor.as_deref(), context)?;
            total.add(&self.apply_changes(&peer, context, &page)?);
            if !page.has_more {
                return Ok(total);
            }
        }
    }

    /// A complete bidirectional sync round with another replica in this process: pulls its
    /// changes, then pushes ours, page by page, resuming from the stored cursors.
    pub fn sync_with(&self, other: &SyncManager) -> Result<SyncReport> {
        self.sync_with_context(other, &SyncContext::all())
    }

    /// [`SyncManager::sync_with`] limited to a scope (collections, page size).
    pub fn sync_with_context(&self, other: &SyncManager, context: &SyncContext) -> Result<SyncReport> {
        let peer = other.node_id()?;
        if peer == self.node_id()? {
            return Err(SyncError::InvalidInput("a replica cannot sync with its own node id".into()));
        }
        self.round_started(&peer);
        let result =
            self.pull(other, context).and_then(|pulled| Ok(SyncReport { pulled, pushed: other.pull(self, context)? }));
        self.round_finished(&peer, result.as_ref().err());
        result
    }

    /// A complete sync round through a transport: pulls every page of the peer's changes in
    /// `context`, then pushes ours, resuming from the durable cursors of both directions.
    /// Pending operations are acknowledged as the peer accepts the pages that carry them.
    /// A failure emits `SyncFailed` and sets the status to `Error` until a round succeeds.
    pub fn sync_via(&self, transport: &dyn SyncTransport, context: &SyncContext) -> Result<SyncReport> {
        run(self, transport, context)
    }
}
