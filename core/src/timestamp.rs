//! Hybrid logical clock timestamps: wall-clock milliseconds plus a logical counter, so that they
//! stay monotonic per replica when the wall clock stalls or jumps back, and never fall behind a
//! timestamp the replica has seen.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

/// A hybrid logical clock reading, ordered by `(millis, counter, node)`: the node id breaks ties,
/// so two different writes never compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Wall-clock milliseconds since the Unix epoch (or later, if the clock was pushed ahead).
    pub millis: u64,
    /// Logical counter that orders events within one millisecond.
    pub counter: u32,
    /// The node that produced this timestamp.
    pub node: String,
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.millis, self.counter, self.node.as_str()).cmp(&(other.millis, other.counter, other.node.as_str()))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A source of wall-clock time, injectable so that tests (and the browser, which has no system
/// clock from Rust) decide what "now" is.
pub trait WallClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The operating system's clock. Not available on wasm, where calling it would panic.
#[cfg(not(target_family = "wasm"))]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(not(target_family = "wasm"))]
impl WallClock for SystemClock {
    fn now_millis(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// A clock that only moves when told to: for tests, simulations and conformance replays.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `millis`.
    pub fn new(millis: u64) -> Self {
        ManualClock(AtomicU64::new(millis))
    }

    /// Sets the reading (it may go backwards: the hybrid clock copes).
    pub fn set(&self, millis: u64) {
        self.0.store(millis, AtomicOrdering::SeqCst);
    }

    /// Moves the reading forward by `millis`.
    pub fn advance(&self, millis: u64) {
        self.0.fetch_add(millis, AtomicOrdering::SeqCst);
    }
}

impl WallClock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(AtomicOrdering::SeqCst)
    }
}

/// The replica's hybrid logical clock state (the node id lives with the replica).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hlc {
    pub millis: u64,
    pub counter: u32,
}

impl Hlc {
    /// Advances for a local event happening at wall time `wall` and returns the new reading.
    pub fn tick(&mut self, wall: u64) -> (u64, u32) {
        if wall > self.millis {
            self.millis = wall;
            self.counter = 0;
        } else {
            self.bump();
        }
        (self.millis, self.counter)
    }

    /// Advances past a timestamp received from another replica.
    pub fn observe(&mut self, remote: &Timestamp, wall: u64) {
        let top = wall.max(self.millis).max(remote.millis);
        if top == self.millis && top == remote.millis {
            self.counter = self.counter.max(remote.counter);
            self.bump();
        } else if top == self.millis {
            self.bump();
        } else if top == remote.millis {
            self.millis = top;
            self.counter = remote.counter;
            self.bump();
        } else {
            self.millis = top;
            self.counter = 0;
        }
    }

    fn bump(&mut self) {
        // The counter saturating within one millisecond borrows from the next millisecond,
        // which keeps readings strictly increasing.
        if self.counter == u32::MAX {
            self.millis += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_when_the_wall_clock_goes_back() {
        let mut h = Hlc::default();
        assert_eq!(h.tick(100), (100, 0));
        assert_eq!(h.tick(100), (100, 1));
        assert_eq!(h.tick(50), (100, 2));
        assert_eq!(h.tick(101), (101, 0));
    }

    #[test]
    fn observe_moves_past_remote_readings() {
        let mut h = Hlc::default();
        h.tick(100);
        h.observe(&Timestamp { millis: 500, counter: 7, node: "b".into() }, 120);
        assert_eq!((h.millis, h.counter), (500, 8));
        h.observe(&Timestamp { millis: 10, counter: 0, node: "b".into() }, 600);
        assert_eq!((h.millis, h.counter), (600, 0));
        h.observe(&Timestamp { millis: 600, counter: 3, node: "b".into() }, 600);
        assert_eq!((h.millis, h.counter), (600, 4));
    }

    #[test]
    fn timestamps_order_by_millis_counter_then_node() {
        let t = |m, c, n: &str| Timestamp { millis: m, counter: c, node: n.into() };
        assert!(t(1, 9, "z") < t(2, 0, "a"));
        assert!(t(1, 1, "z") < t(1, 2, "a"));
        assert!(t(1, 1, "a") < t(1, 1, "b"));
    }
}
