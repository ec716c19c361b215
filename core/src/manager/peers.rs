//! The manager's side of sync rounds: its changes feed, applying a peer's pages, recording
//! what a peer accepted, the durable peer cursors and the events of a round. The rounds
//! themselves (and the transports) are the layer above, `sync/`.

use super::*;

impl SyncManager {
    /// One page of the changes feed: the latest version of every state in `context`'s scope
    /// changed after `cursor` (`None`: from the beginning), at most `context.limit` of them.
    /// A cursor this replica never handed out is `INVALID_INPUT`.
    pub fn changes_since(&self, cursor: Option<&str>, context: &SyncContext) -> Result<ChangeSet> {
        self.read(|i| crate::replica::feed::changes_since(&i.replica, cursor, context, None))?
    }

    /// [`SyncManager::changes_since`] cut to at most `max_bytes` of JSON, and never less than
    /// one state: the pages a peer with a body limit accepts (a hub's `max_body_bytes`).
    pub fn changes_since_within(
        &self,
        cursor: Option<&str>,
        context: &SyncContext,
        max_bytes: usize,
    ) -> Result<ChangeSet> {
        self.read(|i| crate::replica::feed::changes_since(&i.replica, cursor, context, Some(max_bytes)))?
    }

    /// Applies a change set received from `peer` and stores its cursor for `(peer, scope)` in
    /// the same transaction, so an interrupted sync resumes exactly where it stopped.
    pub fn apply_changes(
        &self,
        peer: &str,
        context: &SyncContext,
        changes: &ChangeSet,
    ) -> Result<ReconciliationResult> {
        validate_node_id(peer).map_err(SyncError::InvalidInput)?;
        context.validate()?;
        let scope = context.scope();
        self.mutate(|t| {
            let result = t.reconcile(changes.states.iter().cloned())?;
            t.set_cursor(peer, &scope, Some(changes.cursor.clone()));
            t.record_rejections(&result.rejections, false, |r| {
                format!("refused a version from peer {peer:?}: {}", r.message)
            });
            let refused = |id: &str| result.rejections.iter().any(|r| r.id == id);
            t.clear_rejections(changes.states.iter().map(|s| s.id.as_str()).filter(|id| !refused(id)));
            Ok(result)
        })
    }

    /// Stores the push cursor for `(peer, key)` after the peer answered `page` with `answer`,
    /// and acknowledges the pending operations the page's versions have seen, in one
    /// transaction. The states the peer refused are recorded as rejections: their operations
    /// are dropped too, since the same version would only be refused again.
    pub(crate) fn record_push(
        &self,
        peer: &str,
        key: &str,
        page: &ChangeSet,
        answer: &ReconciliationResult,
    ) -> Result<usize> {
        self.mutate(|t| {
            t.set_cursor(peer, key, Some(page.cursor.clone()));
            let acknowledged = t.acknowledge_pushed(&page.states);
            t.record_rejections(&answer.rejections, true, |r| {
                format!("peer {peer:?} refused this version: {}", r.message)
            });
            let refused = |id: &str| answer.rejections.iter().any(|r| r.id == id);
            t.clear_rejections(page.states.iter().map(|s| s.id.as_str()).filter(|id| !refused(id)));
            Ok(acknowledged)
        })
    }

    /// Marks a sync round as started: event, and the `Syncing` status.
    pub(crate) fn round_started(&self, peer: &str) {
        self.round_event(SyncEvent::SyncStarted { peer: peer.to_owned() }, |i| i.syncing += 1);
    }

    /// Marks a started round as finished, successfully or not.
    pub(crate) fn round_finished(&self, peer: &str, error: Option<&SyncError>) {
        let event = match error {
            None => SyncEvent::SyncCompleted { peer: peer.to_owned() },
            Some(e) => SyncEvent::SyncFailed { peer: peer.to_owned(), message: e.to_string() },
        };
        let failed = error.is_some();
        self.round_event(event, |i| {
            i.syncing = i.syncing.saturating_sub(1);
            i.sync_failed = failed;
        });
    }

    /// A round that could not start (peer unreachable, incompatible): `SyncFailed` with the
    /// peer's node id when known, empty otherwise.
    pub fn round_failed_to_start(&self, peer: &str, error: &SyncError) {
        let event = SyncEvent::SyncFailed { peer: peer.to_owned(), message: error.to_string() };
        self.round_event(event, |i| i.sync_failed = true);
    }

    fn round_event(&self, event: SyncEvent, change: impl FnOnce(&mut Inner)) {
        let mut guard = self.lock();
        if guard.closed {
            return;
        }
        change(&mut guard);
        let mut events = vec![event];
        let status = guard.derived_status();
        guard.set_status(status, &mut events);
        self.publish(guard, events);
    }

    /// The durable sync cursor stored for `(peer, scope)`.
    pub fn peer_cursor(&self, peer: &str, scope: &str) -> Result<Option<String>> {
        self.read(|i| i.replica.cursors.get(&(peer.to_owned(), scope.to_owned())).cloned())
    }

    /// Stores (or with `None` clears) the sync cursor for `(peer, scope)`, durably.
    pub fn set_peer_cursor(&self, peer: &str, scope: &str, cursor: Option<&str>) -> Result<()> {
        if peer.is_empty() {
            return Err(SyncError::InvalidInput("peer must not be empty".into()));
        }
        self.mutate(|t| {
            t.set_cursor(peer, scope, cursor.map(str::to_owned));
            Ok(())
        })
    }
}
