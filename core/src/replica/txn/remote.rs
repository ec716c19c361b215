//! The remote half of a transaction: applying and reconciling remote states (admission, the
//! conflict strategies, manual conflicts), recording refusals, resolving conflicts and
//! replacing the whole content on import.

// The transaction's own imports: this file is the other half of `txn/mod.rs`.
use super::*;

impl Txn<'_> {
    /// Applies remote states and counts the outcomes. A state that must be refused (invalid,
    /// too large, too far ahead, in another collection here: `INVALID_STATE`) is refused alone
    /// and reported in the result with the version kept here (see [`RejectedState::current`]:
    /// what the pusher reverts to); the rest applies. Any other error fails the whole batch.
    pub fn reconcile(&mut self, states: impl IntoIterator<Item = Arc<SyncState>>) -> Result<ReconciliationResult> {
        let mut result = ReconciliationResult::default();
        for state in states {
            match self.apply_remote(state.clone()) {
                Ok(applied) => result.count(&applied),
                Err(e @ SyncError::InvalidState(_)) => {
                    let mut refused = RejectedState::new(&state.id, &e);
                    refused.current = self.state(&state.id).cloned();
                    result.reject(refused);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(result)
    }

    /// Applies one remote state by the rules of docs/design.md#3-applying-a-remote-state, once it is admitted (see
    /// `admission.rs`). A refused state is `INVALID_STATE` and leaves the transaction as it was.
    pub fn apply_remote(&mut self, remote: Arc<SyncState>) -> Result<ApplyResult> {
        self.limits.admit(&remote, self.now())?;
        let strategy = self.strategies.for_collection(&remote.collection).clone();
        // Decided before anything moves: a refusal (another collection, a resolver's failure)
        // leaves the transaction as it was.
        let decision =
            decide_remote(self.state(&remote.id).map(|s| &**s), &remote, &strategy, self.strategies.check_resolver)?;
        // What may still refuse the state below (a merge or a rewrite that cannot be stored)
        // does so before storing anything; only the clocks have moved by then.
        let (hlc, counter) = (self.batch.meta.hlc, self.batch.meta.counter);
        let applied = self.observe(&remote).ok_or_else(|| {
            SyncError::InvalidState(format!(
                "state {:?}: its timestamp would move the hybrid clock past 2^53 - 1 ms",
                remote.id
            ))
        });
        let applied = applied.and_then(|()| self.carry_out(decision, remote, &strategy));
        if applied.is_err() {
            (self.batch.meta.hlc, self.batch.meta.counter) = (hlc, counter);
        }
        applied
    }

    /// Carries out on the image what `decide_remote` decided for `remote`.
    fn carry_out(
        &mut self,
        decision: RemoteDecision,
        remote: Arc<SyncState>,
        strategy: &ConflictStrategy,
    ) -> Result<ApplyResult> {
        let kept = |outcome, state: Arc<SyncState>| ApplyResult { outcome, state, resolved: false, conflict: None };
        // Only Create is decided without a stored version.
        let stored = self.state(&remote.id).cloned();
        let stored = move || stored.expect("the decision saw a stored version");
        match decision {
            RemoteDecision::Create => {
                self.put(remote.clone());
                Ok(kept(ApplyOutcome::Created, remote))
            }
            RemoteDecision::Update => {
                self.put(remote.clone());
                Ok(kept(ApplyOutcome::Updated, remote))
            }
            RemoteDecision::Unchanged => Ok(kept(ApplyOutcome::Unchanged, stored())),
            RemoteDecision::Ignore => Ok(kept(ApplyOutcome::Ignored, stored())),
            RemoteDecision::Merge(merged) => {
                // A merge holds data no side wrote (a custom resolver's, or the union of two
                // sides' fields): it must be no larger and no less portable than a write.
                check_merged(&merged, strategy, self.limits.max_state_bytes)?;
                let merged = Arc::new(*merged);
                self.put(merged.clone());
                Ok(ApplyResult { outcome: ApplyOutcome::Conflict, state: merged, resolved: true, conflict: None })
            }
            RemoteDecision::Rewrite { data, deleted } => {
                let state = self.rewrite(stored(), &remote.clock, remote.version, data, deleted)?;
                Ok(ApplyResult { outcome: ApplyOutcome::Conflict, state, resolved: true, conflict: None })
            }
            RemoteDecision::Manual => {
                let local = stored();
                let conflict = self.record_conflict(&local, &remote);
                Ok(ApplyResult {
                    outcome: ApplyOutcome::Conflict,
                    state: local,
                    resolved: false,
                    conflict: Some(conflict),
                })
            }
        }
    }

    // ---- rejections ----------------------------------------------------------------------------

    fn has_rejections(&self) -> bool {
        (!self.batch.clear && !self.base.rejections.is_empty()) || !self.batch.rejections.is_empty()
    }

    /// Records refused states durably, one record per state (a later refusal replaces an earlier
    /// one), each announced with `StateRejected`. `whose` says who refused what, for the message.
    /// `own`: the refused versions are this replica's own, refused by a peer (then each record
    /// keeps the version the peer reported keeping, for [`Txn::revert_rejected`]).
    pub fn record_rejections(
        &mut self,
        rejected: &[RejectedState],
        own: bool,
        whose: impl Fn(&RejectedState) -> String,
    ) {
        let now = self.now();
        for r in rejected {
            let rejection = Rejection {
                state_id: r.id.clone(),
                code: r.code.clone(),
                message: whose(r),
                rejected_at: now,
                own,
                current: if own { r.current.clone() } else { None },
            };
            if self.emit {
                self.events.push(SyncEvent::StateRejected {
                    state_id: rejection.state_id.clone(),
                    code: rejection.code.clone(),
                    message: rejection.message.clone(),
                });
            }
            self.batch.rejections.insert(r.id.clone(), Some(rejection));
        }
    }

    /// Drops the rejection records of states that have since gone through (applied here, or
    /// accepted by the peer that refused an earlier version).
    pub fn clear_rejections<'s>(&mut self, ids: impl IntoIterator<Item = &'s str>) {
        if !self.has_rejections() {
            return;
        }
        for id in ids {
            if self.rejection(id).is_some() {
                self.batch.rejections.insert(id.to_owned(), None);
            }
        }
    }

    /// The rejection recorded for `id`, as this transaction sees it.
    fn rejection(&self, id: &str) -> Option<&Rejection> {
        match self.batch.rejections.get(id) {
            Some(r) => r.as_ref(),
            None if self.batch.clear => None,
            None => self.base.rejections.get(id),
        }
    }

    /// Undoes a write of this replica's that a peer refused: a new local write of the version
    /// the peer keeps (a deletion when it keeps none) whose clock has seen both that version and
    /// the refused one, so every replica settles on it; the rejection record goes with it.
    /// `NOT_FOUND` without a rejection for `id`; `INVALID_INPUT` for a rejection of a peer's
    /// version (this replica refused it: there is no write of its own to undo).
    pub fn revert_rejected(&mut self, id: &str) -> Result<Arc<SyncState>> {
        let rejection =
            self.rejection(id).cloned().ok_or_else(|| SyncError::NotFound(format!("rejection of state {id:?}")))?;
        if !rejection.own {
            return Err(SyncError::InvalidInput(format!(
                "the rejection of state {id:?} is of a version a peer sent, which this replica refused: there is no \
                 write of its own to revert"
            )));
        }
        let kept = rejection.current.as_deref();
        let (clock, version) = kept.map(|k| (k.clock.clone(), k.version)).unwrap_or_default();
        let (data, deleted) = kept.map(|k| (k.data.clone(), k.deleted)).unwrap_or((Value::Null, true));
        let written = match self.state(id).cloned() {
            Some(local) => self.rewrite(local, &clock, version, data, deleted)?,
            None => {
                let collection = kept.map(|k| k.collection.clone()).ok_or_else(|| {
                    SyncError::NotFound(format!("state {id:?}: neither this replica nor the peer keeps it"))
                })?;
                let kind = if deleted { OperationKind::Delete } else { OperationKind::Create };
                let base = Base { state: None, clock, version };
                self.write_local(kind, id.to_owned(), collection, (!deleted).then_some(data), base)?
            }
        };
        self.batch.rejections.insert(id.to_owned(), None);
        Ok(written)
    }

    /// A new local write of `data` over `local`, having seen `other_clock` too.
    fn rewrite(
        &mut self,
        local: Arc<SyncState>,
        other_clock: &VectorClock,
        other_version: u64,
        data: Value,
        deleted: bool,
    ) -> Result<Arc<SyncState>> {
        let kind = match (local.is_live(), deleted) {
            (_, true) => OperationKind::Delete,
            (false, false) => OperationKind::Create,
            (true, false) => OperationKind::Update,
        };
        self.write_local(
            kind,
            local.id.clone(),
            local.collection.clone(),
            (!deleted).then_some(data),
            Base {
                clock: local.clock.merged(other_clock),
                version: local.version.max(other_version),
                state: Some(local),
            },
        )
    }

    fn record_conflict(&mut self, local: &SyncState, remote: &SyncState) -> SyncConflict {
        let key =
            format!("{}\0{}\0{}", remote.id, serde_json::to_string(&remote.clock).unwrap_or_default(), remote.hash);
        let conflict_id = digest16(&key);
        if let Some(existing) = self.conflict(&conflict_id) {
            return existing.conflict.clone();
        }
        // A late, older version that a recorded one has seen is superseded already: recording it
        // would make the set of conflicts depend on the order of delivery.
        for id in self.conflict_ids_of(&remote.id) {
            if let Some(newer) = self.conflict(&id).filter(|c| c.conflict.remote.clock.dominates(&remote.clock)) {
                return newer.conflict.clone();
            }
        }
        // An older concurrent version that this one has seen is superseded by it.
        self.drop_conflicts_dominated_by(&remote.id, &remote.clock);
        let conflict = SyncConflict {
            conflict_id: conflict_id.clone(),
            state_id: remote.id.clone(),
            local: local.clone(),
            remote: remote.clone(),
            detected_at: self.batch.meta.hlc.millis,
        };
        let seq = self.next_seq();
        self.batch.conflicts.insert(conflict_id, Some(StoredConflict { conflict: conflict.clone(), seq }));
        if self.emit {
            self.events.push(SyncEvent::ConflictDetected(conflict.clone()));
        }
        conflict
    }

    /// Settles a manual conflict with a new local write that has seen both sides.
    pub fn resolve_conflict(&mut self, conflict_id: &str, resolution: Resolution) -> Result<Arc<SyncState>> {
        let conflict = self
            .conflict(conflict_id)
            .map(|c| c.conflict.clone())
            .ok_or_else(|| SyncError::NotFound(format!("conflict {conflict_id:?}")))?;
        let local = self
            .state(&conflict.state_id)
            .cloned()
            .ok_or_else(|| SyncError::NotFound(format!("state {:?}", conflict.state_id)))?;
        let (data, deleted) = match resolution {
            Resolution::Local => (local.data.clone(), local.deleted),
            Resolution::Remote => (conflict.remote.data.clone(), conflict.remote.deleted),
            Resolution::Custom(data) => {
                validate_data(&data).map_err(SyncError::InvalidInput)?;
                (data, false)
            }
        };
        self.rewrite(local, &conflict.remote.clock, conflict.remote.version, data, deleted)
    }

    // ---- import ------------------------------------------------------------------------------

    /// [`Txn::replace_all`] for the states of `collections` only: their states, operations and
    /// conflicts become the snapshot's (of those collections), every other collection keeps
    /// what it holds. A restore of some collections from a backup.
    pub fn replace_collections(
        &mut self,
        states: Vec<SyncState>,
        pending: Vec<SyncOperation>,
        conflicts: Vec<SyncConflict>,
        collections: &[String],
    ) -> Result<()> {
        let chosen = |c: &str| collections.iter().any(|x| x == c);
        let base = self.base;
        let kept_states = base.states.values().map(|s| &*s.state).filter(|s| !chosen(&s.collection)).cloned();
        let states: Vec<SyncState> = kept_states.chain(states.into_iter().filter(|s| chosen(&s.collection))).collect();
        let pending: Vec<SyncOperation> = base
            .pending_in_order()
            .filter(|o| !chosen(&o.collection))
            .chain(pending.into_iter().filter(|o| chosen(&o.collection)))
            .collect();
        let conflicts: Vec<SyncConflict> = base
            .conflicts_in_order()
            .into_iter()
            .filter(|c| !chosen(&c.local.collection))
            .cloned()
            .chain(conflicts.into_iter().filter(|c| chosen(&c.local.collection)))
            .collect();
        self.replace_all(states, pending, conflicts)
    }

    /// Replaces everything with a snapshot's states, operations and conflicts (all validated).
    /// All or nothing: a state or operation that must be refused (see `admission.rs`) fails the
    /// whole import with `INVALID_STATE`.
    pub fn replace_all(
        &mut self,
        states: Vec<SyncState>,
        pending: Vec<SyncOperation>,
        conflicts: Vec<SyncConflict>,
    ) -> Result<()> {
        self.batch.clear = true;
        // The feed is renumbered from here: peers' cursors must not skip what it now holds.
        self.batch.meta.feed = crate::replica::image::new_feed_id();
        self.batch.meta_row = true;
        self.batch.states.clear();
        self.batch.ops_added.clear();
        self.batch.ops_removed.clear();
        self.batch.conflicts.clear();
        self.batch.rejections.clear();
        // What this replica pulled before is no longer what it holds: every pull starts over
        // (re-applying a version changes nothing), or it would skip what the snapshot lacks.
        let cursors: Vec<(String, String)> = self.base.cursors.keys().cloned().collect();
        for (peer, scope) in cursors {
            self.batch.cursors.insert((peer, scope), None);
        }
        let exhausted = |id: &str| {
            SyncError::InvalidState(format!("state {id:?}: its timestamp would move the hybrid clock past 2^53 - 1 ms"))
        };
        for state in states {
            self.limits.admit(&state, self.now())?;
            let state = Arc::new(state);
            self.observe(&state).ok_or_else(|| exhausted(&state.id))?;
            let seq = self.next_seq();
            if self.emit {
                let old = self.base.states.get(&state.id).map(|s| &*s.state);
                if let Some(e) = SyncEvent::for_change(old, &state) {
                    self.events.push(e);
                }
            }
            self.batch.states.put(Stored { state, seq });
        }
        if self.emit {
            let base = self.base;
            let dropped =
                base.states.values().filter(|s| s.state.is_live() && self.batch.states.get(&s.state.id).is_none());
            let events: Vec<SyncEvent> = dropped.map(|s| SyncEvent::StateDeleted(s.state.clone())).collect();
            self.events.extend(events);
        }
        for op in pending {
            let now = self.now();
            self.limits.check_timestamp(&op.state_id, op.timestamp.millis, now)?;
            self.observe_time(&op.timestamp).ok_or_else(|| exhausted(&op.state_id))?;
            self.adopt_counter(&op.clock);
            let seq = self.next_seq();
            self.batch.ops_added.push((seq, PendingOp::Imported(op)));
        }
        for conflict in conflicts {
            let seq = self.next_seq();
            self.batch.conflicts.insert(conflict.conflict_id.clone(), Some(StoredConflict { conflict, seq }));
        }
        Ok(())
    }
}
