//! What a push does to a space, decided without a database: both stores read the stored
//! versions of the pushed ids and the space's counts, call [`plan_push`], and write the rows it
//! returns in the same transaction. The merge rules are the core's ([`statesync::decide_remote`]);
//! this module adds only what a server checks on top of them (grants, schemas, quotas) and the
//! counting a replica's reconcile does.

use super::{PushOutcome, PushPolicy};
use statesync::{
    admit_state, canonical_json, check_merged, decide_remote, ConflictStrategy, RejectedState, RemoteDecision,
    SyncError, SyncState,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Code of a state refused because the requester may not write its collection.
pub const FORBIDDEN: &str = "FORBIDDEN";
/// Code of a state refused because the space (or the state) would pass a quota.
pub const QUOTA_EXCEEDED: &str = "QUOTA_EXCEEDED";

/// How much a space holds, as its row in the spaces table counts it: what the quotas compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpaceCounts {
    /// Live (not deleted) states.
    pub states: u64,
    /// Bytes of data of the live states ([`data_bytes`]).
    pub bytes: u64,
}

impl SpaceCounts {
    /// The counts once `old` (the stored version, if any) is replaced by `new`.
    fn replaced(self, old: Option<&SyncState>, new: &SyncState) -> SpaceCounts {
        let (mut states, mut bytes) = (self.states, self.bytes);
        if let Some(old) = old.filter(|s| s.is_live()) {
            states = states.saturating_sub(1);
            bytes = bytes.saturating_sub(data_bytes(old));
        }
        if new.is_live() {
            states += 1;
            bytes += data_bytes(new);
        }
        SpaceCounts { states, bytes }
    }
}

/// One row a push writes: the version the store keeps of a state from now on.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The version to store.
    pub state: Arc<SyncState>,
    /// Its data's size ([`data_bytes`]).
    pub bytes: u64,
    /// False for a tombstone.
    pub live: bool,
}

/// What a push writes: the rows (one per state id, in the order their feed sequences are to be
/// taken), the space's counts afterwards, and what the push answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The rows to write, each under the next sequence of the space's feed.
    pub rows: Vec<Row>,
    /// The space's counts once the rows are written.
    pub counts: SpaceCounts,
    /// The counts and refusals the push answers.
    pub outcome: PushOutcome,
}

/// The size of a state's data as the limits measure it: its canonical JSON, as
/// [`statesync::admit_state`] measures `max_state_bytes`; 0 for a tombstone (it holds no data).
pub fn data_bytes(state: &SyncState) -> u64 {
    if state.deleted {
        0
    } else {
        canonical_json(&state.data).len() as u64
    }
}

/// A refusal with one of the hub's own codes (no [`SyncError`] variant carries them).
fn refusal(id: &str, code: &str, message: String) -> RejectedState {
    RejectedState::coded(id, code, message)
}

/// Decides a pushed page against `stored` (the stored version of each pushed id the store
/// holds) and the space's `counts`, under `policy`, at `now_millis` (the hub's wall clock, for
/// the clock-skew check). The states apply one after the other, as a replica's reconcile applies
/// a page: a page naming an id twice decides the second against the outcome of the first.
///
/// Per state, in this order: admission (`INVALID_STATE`); a version whose content (data and
/// deletion) equals the stored one, or a tombstone of a state the store lacks, changes nothing
/// the grants, schemas and quotas protect, so it skips them (this is what lets a client's
/// `revert_rejected` through without a write grant; the tombstone is stored like any state);
/// otherwise the write grant (`FORBIDDEN`), the collection's schema (`INVALID_STATE`)
/// and the space's largest state (`INVALID_STATE`, a size refusal as a replica's); then the merge rules; then the space's quotas
/// on what would be stored (a write that grows the space past `max_states` live states or
/// `max_bytes` is `QUOTA_EXCEEDED`; a deletion or a shrinking write always passes).
pub fn plan_push(
    space: &str,
    states: Vec<Arc<SyncState>>,
    stored: HashMap<String, Arc<SyncState>>,
    counts: SpaceCounts,
    policy: &PushPolicy<'_>,
    now_millis: u64,
) -> Plan {
    let mut current = stored;
    let mut counts = counts;
    let mut outcome = PushOutcome::default();
    // Ids written, in the order of their first write; the row is the id's last version.
    let mut written: Vec<String> = Vec::new();
    let mut refused: Vec<Arc<SyncState>> = Vec::new();
    for remote in states {
        let old = current.get(&remote.id).cloned();
        match decide(space, &remote, old.as_deref(), counts, policy, now_millis) {
            Err(rejection) => {
                outcome.result.reject(rejection);
                refused.push(remote);
            }
            Ok(Decided::Count(count)) => count(&mut outcome.result),
            Ok(Decided::Write { state, count }) => {
                count(&mut outcome.result);
                counts = counts.replaced(old.as_deref(), &state);
                if !written.contains(&state.id) {
                    written.push(state.id.clone());
                }
                current.insert(state.id.clone(), state);
            }
        }
    }
    for remote in refused {
        let kept = current.get(&remote.id);
        let readable = policy.readable.contains(&remote.collection)
            && kept.is_none_or(|kept| policy.readable.contains(&kept.collection));
        if readable {
            outcome.current.insert(remote.id.clone(), kept.cloned());
        }
    }
    let rows = written
        .into_iter()
        .map(|id| {
            let state = current.remove(&id).expect("a written id is in the working set");
            Row { bytes: data_bytes(&state), live: state.is_live(), state }
        })
        .collect();
    Plan { rows, counts, outcome }
}

/// How one state counts.
type Count = fn(&mut statesync::ReconciliationResult);

/// What one pushed state does, when it is not refused.
enum Decided {
    /// Nothing is written; count it.
    Count(Count),
    /// This version is stored under the id; count it.
    Write { state: Arc<SyncState>, count: Count },
}

fn decide(
    space: &str,
    remote: &Arc<SyncState>,
    old: Option<&SyncState>,
    counts: SpaceCounts,
    policy: &PushPolicy<'_>,
    now_millis: u64,
) -> Result<Decided, RejectedState> {
    let id = remote.id.as_str();
    let refuse = |e: SyncError| RejectedState::new(id, &e);
    admit_state(remote, policy.max_state_bytes, policy.max_clock_skew, now_millis).map_err(refuse)?;
    // A tombstone of a state the store lacks shows nothing new either (it is stored all the
    // same: a replica holding it must find it here, or a later version written elsewhere could
    // lose to it on that replica and never come back).
    let same_content = match old {
        Some(old) => old.hash == remote.hash && old.deleted == remote.deleted,
        None => remote.deleted,
    };
    if !same_content {
        let collection = &remote.collection;
        if !policy.writable.contains(collection) {
            return Err(refusal(
                id,
                FORBIDDEN,
                format!("no write grant for collection {collection:?} in space {space:?}"),
            ));
        }
        if !remote.deleted {
            (policy.check_data)(collection, &remote.data).map_err(|why| {
                refuse(SyncError::InvalidState(format!(
                    "state {id:?} does not match the schema of collection {collection:?}: {why}"
                )))
            })?;
            if let Some(max) = policy.quotas.max_state_bytes {
                let bytes = data_bytes(remote);
                if bytes > max {
                    // A size refusal is INVALID_STATE, as a replica's (design §10's table).
                    return Err(refuse(SyncError::InvalidState(format!(
                        "state {id:?}: its data is {bytes} bytes, more than the space's max_state_bytes ({max})"
                    ))));
                }
            }
        }
    }
    let strategy = policy.strategies.get(&remote.collection).unwrap_or(&ConflictStrategy::LastWriteWins);
    let (state, count): (Arc<SyncState>, Count) = match decide_remote(old, remote, strategy, true).map_err(refuse)? {
        RemoteDecision::Create => (remote.clone(), |r| r.created += 1),
        RemoteDecision::Update => (remote.clone(), |r| r.updated += 1),
        RemoteDecision::Unchanged => return Ok(Decided::Count(|r| r.unchanged += 1)),
        RemoteDecision::Ignore => return Ok(Decided::Count(|r| r.ignored += 1)),
        RemoteDecision::Merge(merged) => {
            check_merged(&merged, strategy, policy.max_state_bytes).map_err(refuse)?;
            (Arc::new(*merged), |r| {
                r.conflicts += 1;
                r.resolved += 1;
            })
        }
        RemoteDecision::Rewrite { .. } | RemoteDecision::Manual => {
            // The hub refuses such strategies when it is configured (ADR 16): reaching this is
            // a bug, refused for this state alone rather than a panic of the whole request.
            return Err(refuse(SyncError::Internal(format!(
                "state {id:?}: collection {:?} has a strategy that needs a write of the hub's own",
                remote.collection
            ))));
        }
    };
    check_quotas(id, old, &state, counts, policy)?;
    Ok(Decided::Write { state, count })
}

/// Refuses a write that grows the space past a quota; a write that does not grow what a quota
/// counts always passes (a deletion frees room, a shrinking write too).
fn check_quotas(
    id: &str,
    old: Option<&SyncState>,
    new: &SyncState,
    counts: SpaceCounts,
    policy: &PushPolicy<'_>,
) -> Result<(), RejectedState> {
    let after = counts.replaced(old, new);
    let quotas = &policy.quotas;
    if let Some(max) = quotas.max_state_bytes {
        // A merge may hold more data than either side (MergeFields joins their fields).
        let (before, now) = (old.map_or(0, data_bytes), data_bytes(new));
        if now > max && now > before {
            return Err(RejectedState::new(
                id,
                &SyncError::InvalidState(format!(
                    "state {id:?}: its data would be {now} bytes, more than the space's max_state_bytes ({max})"
                )),
            ));
        }
    }
    if let Some(max) = quotas.max_states {
        if after.states > max && after.states > counts.states {
            return Err(refusal(
                id,
                QUOTA_EXCEEDED,
                format!("state {id:?}: the space would hold {} states, more than its max_states ({max})", after.states),
            ));
        }
    }
    if let Some(max) = quotas.max_bytes {
        if after.bytes > max && after.bytes > counts.bytes {
            return Err(refusal(
                id,
                QUOTA_EXCEEDED,
                format!(
                    "state {id:?}: the space would hold {} bytes of data, more than its max_bytes ({max})",
                    after.bytes
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Collections;
    use crate::rules::SpaceLimits;
    use serde_json::{json, Value};
    use std::time::Duration;

    const NOW: u64 = 1_000_000;

    /// A version of `id` in `collection` written by `node` at `millis`, having seen `clock`.
    fn version(id: &str, collection: &str, data: Value, clock: Value, node: &str, millis: u64) -> Arc<SyncState> {
        let deleted = data.is_null();
        Arc::new(
            SyncState::from_value(json!({
                "id": id, "collection": collection, "data": data, "clock": clock, "deleted": deleted,
                "timestamp": {"millis": millis, "counter": 0, "node": node}, "version": 1
            }))
            .unwrap(),
        )
    }

    fn v(id: &str, data: Value, a: u64) -> Arc<SyncState> {
        version(id, "notes", data, json!({"a": a}), "a", NOW - 1000 + a)
    }

    struct Fixture {
        writable: Collections,
        readable: Collections,
        quotas: SpaceLimits,
        strategies: HashMap<String, ConflictStrategy>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                writable: Collections::All,
                readable: Collections::All,
                quotas: SpaceLimits::default(),
                strategies: HashMap::new(),
            }
        }

        fn plan(&self, states: Vec<Arc<SyncState>>, stored: &[Arc<SyncState>]) -> Plan {
            let stored: HashMap<String, Arc<SyncState>> = stored.iter().map(|s| (s.id.clone(), s.clone())).collect();
            let mut counts = SpaceCounts::default();
            for s in stored.values() {
                counts = counts.replaced(None, s);
            }
            self.plan_with(states, stored, counts)
        }

        fn plan_with(
            &self,
            states: Vec<Arc<SyncState>>,
            stored: HashMap<String, Arc<SyncState>>,
            counts: SpaceCounts,
        ) -> Plan {
            let schema = |collection: &str, data: &Value| -> Result<(), String> {
                if collection == "typed" && !data.is_object() {
                    return Err("not an object".into());
                }
                Ok(())
            };
            let policy = PushPolicy {
                writable: &self.writable,
                readable: &self.readable,
                quotas: self.quotas,
                check_data: &schema,
                max_state_bytes: 64,
                max_clock_skew: Duration::from_secs(1),
                strategies: &self.strategies,
            };
            plan_push("s1", states, stored, counts, &policy, NOW)
        }
    }

    fn codes(plan: &Plan) -> Vec<(&str, &str)> {
        plan.outcome.result.rejections.iter().map(|r| (r.id.as_str(), r.code.as_str())).collect()
    }

    #[test]
    fn creates_updates_and_counts_like_a_replica() {
        let f = Fixture::new();
        let stored = [v("b", json!(1), 1), v("c", json!(1), 2), v("d", json!(1), 2)];
        let plan =
            f.plan(vec![v("a", json!("x"), 1), v("b", json!(2), 2), v("c", json!(1), 2), v("d", json!(0), 1)], &stored);
        let r = &plan.outcome.result;
        assert_eq!((r.created, r.updated, r.unchanged, r.ignored, r.rejected), (1, 1, 1, 1, 0));
        let ids: Vec<&str> = plan.rows.iter().map(|r| r.state.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "only what changed is written");
        assert_eq!(plan.rows[0].bytes, 3);
        assert!(plan.rows[0].live);
        // 3 live states of 1 byte each before; a adds one of 3 bytes, b stays 1 byte.
        assert_eq!(plan.counts, SpaceCounts { states: 4, bytes: 6 });
    }

    #[test]
    fn invalid_and_skewed_states_are_refused_invalid_state() {
        let f = Fixture::new();
        let ahead = version("late", "notes", json!(1), json!({"a": 1}), "a", NOW + 5_000);
        let big = v("big", json!("x".repeat(100)), 1);
        let plan = f.plan(vec![ahead, big, v("ok", json!(1), 1)], &[]);
        assert_eq!(codes(&plan), [("late", "INVALID_STATE"), ("big", "INVALID_STATE")]);
        assert_eq!(plan.outcome.result.rejected, 2);
        assert_eq!(plan.outcome.result.created, 1, "the rest of the page applies");
        assert_eq!(plan.rows.len(), 1);
    }

    #[test]
    fn a_page_naming_an_id_twice_applies_in_order() {
        let f = Fixture::new();
        let plan = f.plan(vec![v("a", json!(1), 1), v("a", json!(2), 2), v("a", json!(0), 1)], &[]);
        let r = &plan.outcome.result;
        assert_eq!((r.created, r.updated, r.ignored), (1, 1, 1));
        assert_eq!(plan.rows.len(), 1, "one row per id: its last version");
        assert_eq!(plan.rows[0].state.data, json!(2));
        assert_eq!(plan.counts, SpaceCounts { states: 1, bytes: 1 });
    }

    #[test]
    fn no_write_grant_is_forbidden_and_reports_the_stored_version_when_readable() {
        let mut f = Fixture::new();
        f.writable = Collections::from_list(&["other"]);
        f.readable = Collections::from_list(&["notes"]);
        let stored = v("a", json!(1), 1);
        let secret = version("s", "secret", json!(1), json!({"a": 1}), "a", NOW);
        let plan = f.plan(vec![v("a", json!(2), 2), v("n", json!(2), 1), secret], std::slice::from_ref(&stored));
        assert_eq!(codes(&plan), [("a", FORBIDDEN), ("n", FORBIDDEN), ("s", FORBIDDEN)]);
        assert!(plan.outcome.result.rejections[0]
            .message
            .contains("no write grant for collection \"notes\" in space \"s1\""));
        assert_eq!(plan.outcome.current.get("a"), Some(&Some(stored)));
        assert_eq!(plan.outcome.current.get("n"), Some(&None), "readable, held nowhere");
        assert!(!plan.outcome.current.contains_key("s"), "an unreadable collection's version is not reported");
        assert!(plan.rows.is_empty());
    }

    #[test]
    fn a_version_of_the_stored_content_needs_no_grant() {
        // What a client's revert_rejected pushes: the hub's content under a dominating clock.
        let mut f = Fixture::new();
        f.writable = Collections::None;
        f.quotas = SpaceLimits { max_states: Some(0), max_bytes: Some(0), max_state_bytes: Some(0) };
        let stored = version("a", "typed", json!(7), json!({"a": 1}), "a", NOW - 10);
        let revert = version("a", "typed", json!(7), json!({"a": 1, "b": 3}), "b", NOW);
        let absent_delete = version("gone", "typed", Value::Null, json!({"b": 1}), "b", NOW);
        let plan = f.plan(vec![revert.clone(), absent_delete], &[stored]);
        assert_eq!(codes(&plan), []);
        let r = &plan.outcome.result;
        assert_eq!((r.updated, r.created, r.rejected), (1, 1, 0));
        assert_eq!(plan.rows.len(), 2, "the tombstone of an absent state is stored, whatever the grants");
        assert_eq!(plan.rows[0].state, revert);
        // The same content under the grant-less requester, but a different one is refused.
        let changed = version("a", "typed", json!({"k": 1}), json!({"a": 1, "b": 4}), "b", NOW);
        assert_eq!(codes(&f.plan(vec![changed], &[revert])), [("a", FORBIDDEN)]);
    }

    #[test]
    fn a_deletion_needs_the_write_grant() {
        let mut f = Fixture::new();
        f.writable = Collections::None;
        let stored = v("a", json!(1), 1);
        assert_eq!(codes(&f.plan(vec![v("a", Value::Null, 2)], &[stored])), [("a", FORBIDDEN)]);
    }

    #[test]
    fn the_schema_refuses_invalid_state() {
        let f = Fixture::new();
        let bad = version("t", "typed", json!(3), json!({"a": 1}), "a", NOW);
        let good = version("u", "typed", json!({}), json!({"a": 1}), "a", NOW);
        let plan = f.plan(vec![bad, good], &[]);
        assert_eq!(codes(&plan), [("t", "INVALID_STATE")]);
        assert!(plan.outcome.result.rejections[0].message.contains("not an object"));
        assert_eq!(plan.outcome.result.created, 1);
    }

    #[test]
    fn quotas_refuse_growth_but_never_a_deletion_or_a_shrinking_write() {
        let mut f = Fixture::new();
        f.quotas = SpaceLimits { max_states: Some(2), max_bytes: Some(10), max_state_bytes: Some(6) };
        let stored = [v("a", json!("1234"), 1), v("b", json!(1), 1)]; // 6 + 1 bytes, 2 states
        let plan = f.plan(
            vec![
                v("big", json!("123456"), 1), // 8 bytes > max_state_bytes
                v("c", json!(1), 1),          // a third state
                v("b", json!("123"), 2),      // 5 bytes: 6 + 5 > 10
                v("a", json!(1), 2),          // shrinks a: allowed
                v("b", json!("1234"), 3),     // 1 + 6 = 7 <= 10
            ],
            &stored,
        );
        assert_eq!(codes(&plan), [("big", "INVALID_STATE"), ("c", QUOTA_EXCEEDED), ("b", QUOTA_EXCEEDED)]);
        assert_eq!(plan.outcome.result.updated, 2);
        assert_eq!(plan.counts, SpaceCounts { states: 2, bytes: 7 });
        // A deletion then frees room for another state, within the same page.
        let plan = f.plan(vec![v("c", json!(1), 1), v("a", Value::Null, 2), v("c", json!(2), 2)], &stored);
        assert_eq!(codes(&plan), [("c", QUOTA_EXCEEDED)]);
        assert_eq!(plan.counts, SpaceCounts { states: 2, bytes: 2 });
        assert!(!plan.rows[0].live, "the tombstone is stored");
        // Over the quota already (it was lowered): a shrinking write still passes.
        let counts = SpaceCounts { states: 5, bytes: 100 };
        let stored: HashMap<_, _> = [("a".to_owned(), v("a", json!("1234"), 1))].into();
        let plan = f.plan_with(vec![v("a", json!(1), 2)], stored, counts);
        assert_eq!(codes(&plan), []);
        assert_eq!(plan.counts, SpaceCounts { states: 5, bytes: 95 });
    }

    #[test]
    fn concurrent_versions_merge_last_writer_wins() {
        let f = Fixture::new();
        let stored = version("a", "notes", json!("old"), json!({"a": 1}), "a", NOW - 10);
        let remote = version("a", "notes", json!("new"), json!({"b": 1}), "b", NOW - 5);
        let plan = f.plan(vec![remote], &[stored]);
        let r = &plan.outcome.result;
        assert_eq!((r.conflicts, r.resolved), (1, 1));
        let kept = &plan.rows[0].state;
        assert_eq!(kept.data, json!("new"));
        assert_eq!(kept.clock.get("a"), 1, "the merged version has seen both");
        assert_eq!(kept.clock.get("b"), 1);
    }

    #[test]
    fn merge_errors_and_other_collections_refuse_that_state_alone() {
        let mut f = Fixture::new();
        let stored = version("a", "notes", json!(1), json!({"a": 1}), "a", NOW - 10);
        let moved = version("a", "other", json!(2), json!({"a": 2}), "a", NOW);
        let plan = f.plan(vec![moved, v("z", json!(1), 1)], std::slice::from_ref(&stored));
        assert_eq!(codes(&plan), [("a", "INVALID_STATE")]);
        assert_eq!(plan.outcome.result.created, 1);
        // A strategy that needs a write of the hub's own (filtered out by the hub): INTERNAL.
        f.strategies.insert("notes".into(), ConflictStrategy::Manual);
        let concurrent = version("a", "notes", json!(2), json!({"b": 1}), "b", NOW);
        assert_eq!(codes(&f.plan(vec![concurrent.clone()], std::slice::from_ref(&stored))), [("a", "INTERNAL")]);
        // A resolver that fails: RESOLVER.
        let failing: Arc<dyn statesync::ConflictResolver> =
            Arc::new(|_: &SyncState, _: &SyncState| Err::<statesync::Resolved, String>("no".into()));
        f.strategies.insert("notes".into(), ConflictStrategy::Custom(failing));
        assert_eq!(codes(&f.plan(vec![concurrent], &[stored])), [("a", "RESOLVER")]);
    }
}
