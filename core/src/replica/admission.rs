//! What a replica lets in: the limits every state from a peer is held to before it is applied,
//! the limits on local writes that keep a replica from producing what its peers would refuse,
//! and the records of refused states. docs/adr/0015-hardening-against-peers.md says why each
//! limit is where it is.
//!
//! One peer's bad state must never break another replica: a state that fails these checks is
//! refused alone (the rest of its page applies) and reported, never stored.

use crate::model::clock::MAX_COUNTER;
use crate::model::error::{Result, SyncError};
use crate::model::state::{Rules, SyncState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How far ahead of the local wall clock a received timestamp may be, unless configured
/// otherwise: one hour, generous for clocks that drift, far too little for a peer to drag every
/// replica's hybrid clock to the end of its range.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// The largest state accepted or written, unless configured otherwise: 1 MiB of canonical JSON
/// data. Sync moves whole states, so a larger one costs every replica that much per change.
pub const DEFAULT_MAX_STATE_BYTES: usize = 1 << 20;

/// The largest clock entry of this node's own that a replica adopts as its write counter from a
/// state it did not write. Its own writes may go 2^40 further (about a thousand years at 30,000
/// writes a second), so an entry a peer forged at the top of the range cannot stop the replica
/// from writing. An entry above it that the replica did not make itself was forged: it is not
/// adopted, and only the state carrying it can no longer be written here.
pub(crate) const MAX_ADOPTED_COUNTER: u64 = MAX_COUNTER - (1 << 40);

/// The limits a replica holds states to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest lead of a received timestamp over the local wall clock, in milliseconds.
    pub max_clock_skew_ms: u64,
    /// Largest canonical JSON of a state's data, in bytes.
    pub max_state_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW.as_millis() as u64,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
        }
    }
}

impl Limits {
    /// The limits of a manager configuration.
    pub fn new(max_clock_skew: Duration, max_state_bytes: usize) -> Limits {
        Limits { max_clock_skew_ms: u64::try_from(max_clock_skew.as_millis()).unwrap_or(u64::MAX), max_state_bytes }
    }

    /// Checks a state received from a peer or imported: every invariant under the current
    /// rules, its size, and how far its timestamp is ahead of `now` (the local wall clock).
    /// `INVALID_STATE` when it must be refused.
    pub fn admit(&self, state: &SyncState, now: u64) -> Result<()> {
        let bytes = state.check(Rules::Current)?;
        if bytes > self.max_state_bytes {
            return Err(SyncError::InvalidState(format!(
                "state {:?}: its data is {bytes} bytes, more than the {} this replica accepts",
                state.id, self.max_state_bytes
            )));
        }
        self.check_timestamp(&state.id, state.timestamp.millis, now)
    }

    /// Refuses a timestamp more than the maximum clock skew ahead of `now`.
    pub fn check_timestamp(&self, what: &str, millis: u64, now: u64) -> Result<()> {
        let ahead = millis.saturating_sub(now);
        if ahead > self.max_clock_skew_ms {
            return Err(SyncError::InvalidState(format!(
                "state {what:?}: its timestamp {millis} is {ahead} ms ahead of this replica's clock, more than \
                 the maximum clock skew of {} ms",
                self.max_clock_skew_ms
            )));
        }
        Ok(())
    }

    /// Refuses a local write of `bytes` of data (`INVALID_INPUT`): a replica never writes what
    /// its peers would refuse.
    pub fn check_local_size(&self, id: &str, bytes: usize) -> Result<()> {
        if bytes > self.max_state_bytes {
            return Err(SyncError::InvalidInput(format!(
                "state {id:?}: its data is {bytes} bytes, more than max_state_bytes ({})",
                self.max_state_bytes
            )));
        }
        Ok(())
    }
}

/// Checks a state received from a peer as a replica does before applying it (every invariant
/// under the current rules, at most `max_state_bytes` of canonical JSON data, a timestamp at
/// most `max_clock_skew` ahead of `now_millis`): `INVALID_STATE` when it must be refused. A
/// server that keeps states outside a replica (a hub's database) admits each pushed state with
/// it, so the limits exist once.
pub fn admit_state(state: &SyncState, max_state_bytes: usize, max_clock_skew: Duration, now_millis: u64) -> Result<()> {
    Limits::new(max_clock_skew, max_state_bytes).admit(state, now_millis)
}

/// A state refused by the replica that received it, as a result reports it (and as the push
/// answer of the HTTP protocol lists it): the state's id, the error code and the message, and
/// from a hub the version it keeps of the state, when the pusher may read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedState {
    /// The refused state's id.
    pub id: String,
    /// Why, as an error code (`INVALID_STATE`, a hub's `FORBIDDEN`, `QUOTA_EXCEEDED`, ...).
    pub code: String,
    /// Why, in words.
    pub message: String,
    /// The version the refusing peer keeps of the state (a hub reports it when the pusher may
    /// read its collection; `None`: it keeps none, or did not say). What
    /// [`crate::SyncManager::revert_rejected`] writes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Arc<SyncState>>,
}

impl RejectedState {
    /// The report of `id` refused with `error`.
    pub fn new(id: &str, error: &SyncError) -> RejectedState {
        RejectedState::coded(id, error.code(), error.message())
    }

    /// The report of `id` refused with `code` (a core [`crate::ErrorCode`] spelling, or one of
    /// a hub's own: `FORBIDDEN`, `QUOTA_EXCEEDED`, `REJECTED`) and `message`.
    pub fn coded(id: &str, code: &str, message: impl Into<String>) -> RejectedState {
        RejectedState { id: id.to_owned(), code: code.to_owned(), message: message.into(), current: None }
    }
}

/// A refused state, recorded durably by the replica it concerns until a later version of the
/// state goes through: a version a peer sent that this replica refused, or one of this replica's
/// own that a peer refused. [`crate::SyncManager::rejections`] lists them, and each one is
/// announced with [`crate::SyncEvent::StateRejected`]. The refused version is never retried by
/// itself, so a rejection is not a queue: the application decides what to do about it, such as
/// [`crate::SyncManager::revert_rejected`] for one of its own writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The state concerned.
    pub state_id: String,
    /// Why, as an error code.
    pub code: String,
    /// Why, in words, naming the peer involved.
    pub message: String,
    /// Local wall-clock milliseconds when it was recorded.
    pub rejected_at: u64,
    /// True when the refused version is one of this replica's own, refused by a peer (a hub);
    /// false when this replica refused a version a peer sent.
    #[serde(default)]
    pub own: bool,
    /// For one of this replica's own versions, the version the refusing peer keeps of the state,
    /// when it said (see [`RejectedState::current`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Arc<SyncState>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(millis: u64, data: serde_json::Value) -> SyncState {
        SyncState::from_value(json!({
            "id": "s", "data": data, "clock": {"a": 1},
            "timestamp": {"millis": millis, "counter": 0, "node": "a"}
        }))
        .unwrap()
    }

    #[test]
    fn timestamps_ahead_of_the_skew_and_oversized_data_are_refused() {
        let limits = Limits { max_clock_skew_ms: 1_000, max_state_bytes: 12 };
        assert!(limits.admit(&state(2_000, json!({"k": 1})), 1_000).is_ok(), "exactly the skew is fine");
        let e = limits.admit(&state(2_001, json!({"k": 1})), 1_000).unwrap_err();
        assert_eq!(e.code(), "INVALID_STATE");
        assert!(e.to_string().contains("1001 ms ahead"), "{e}");
        // {"k":"123456"} is 14 bytes of canonical JSON.
        let e = limits.admit(&state(1_000, json!({"k": "123456"})), 1_000).unwrap_err();
        assert!(e.to_string().contains("14 bytes, more than the 12"), "{e}");
        assert_eq!(limits.check_local_size("s", 13).unwrap_err().code(), "INVALID_INPUT");
    }
}
