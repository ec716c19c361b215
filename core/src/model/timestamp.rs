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
///
/// Readings never pass [`crate::MAX_COUNTER`] milliseconds, the bound every peer checks: a step
/// that would is refused (`None`) and leaves the clock as it was, so the replica never stamps a
/// write its peers refuse. Remote readings far in the future never get this far: they are
/// refused by the maximum clock skew first (see `admission.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hlc {
    pub millis: u64,
    pub counter: u32,
}

impl Hlc {
    /// Advances for a local event happening at wall time `wall` and returns the new reading;
    /// `None` when the clock is exhausted (unchanged then).
    pub fn tick(&mut self, wall: u64) -> Option<(u64, u32)> {
        let mut next = *self;
        if wall > next.millis {
            next.millis = wall;
            next.counter = 0;
        } else {
            next.bump()?;
        }
        next.check()?;
        *self = next;
        Some((next.millis, next.counter))
    }

    /// The reading right after `(millis, counter)`, as `bump` makes it; `None` past the bound.
    pub fn successor((millis, counter): (u64, u32)) -> Option<(u64, u32)> {
        let mut next = Hlc { millis, counter };
        next.bump()?;
        next.check()?;
        Some((next.millis, next.counter))
    }

    /// Advances past a reading `(millis, counter)` received from another replica; `None` when
    /// that would exhaust the clock (unchanged then).
    pub fn observe(&mut self, (remote_millis, remote_counter): (u64, u32), wall: u64) -> Option<()> {
        let mut next = *self;
        let top = wall.max(next.millis).max(remote_millis);
        if top == next.millis && top == remote_millis {
            next.counter = next.counter.max(remote_counter);
            next.bump()?;
        } else if top == next.millis {
            next.bump()?;
        } else if top == remote_millis {
            next.millis = top;
            next.counter = remote_counter;
            next.bump()?;
        } else {
            next.millis = top;
            next.counter = 0;
        }
        next.check()?;
        *self = next;
        Some(())
    }

    fn bump(&mut self) -> Option<()> {
        // The counter saturating within one millisecond borrows from the next millisecond,
        // which keeps readings strictly increasing.
        if self.counter == u32::MAX {
            self.millis = self.millis.checked_add(1)?;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        Some(())
    }

    fn check(&self) -> Option<()> {
        (self.millis <= crate::model::clock::MAX_COUNTER).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_when_the_wall_clock_goes_back() {
        let mut h = Hlc::default();
        assert_eq!(h.tick(100), Some((100, 0)));
        assert_eq!(h.tick(100), Some((100, 1)));
        assert_eq!(h.tick(50), Some((100, 2)));
        assert_eq!(h.tick(101), Some((101, 0)));
    }

    #[test]
    fn observe_moves_past_remote_readings() {
        let mut h = Hlc::default();
        h.tick(100).unwrap();
        h.observe((500, 7), 120).unwrap();
        assert_eq!((h.millis, h.counter), (500, 8));
        h.observe((10, 0), 600).unwrap();
        assert_eq!((h.millis, h.counter), (600, 0));
        h.observe((600, 3), 600).unwrap();
        assert_eq!((h.millis, h.counter), (600, 4));
    }

    #[test]
    fn never_reads_past_the_bound_and_is_unchanged_when_it_would() {
        let max = crate::model::clock::MAX_COUNTER;
        let mut h = Hlc { millis: max, counter: u32::MAX - 1 };
        assert_eq!(h.tick(max), Some((max, u32::MAX)));
        assert_eq!(h.tick(max), None, "the next reading would be 2^53 ms");
        assert_eq!(h, Hlc { millis: max, counter: u32::MAX });
        let mut h = Hlc::default();
        assert_eq!(h.observe((max, u32::MAX), 0), None);
        assert_eq!(h, Hlc::default());
        assert_eq!(h.observe((u64::MAX, 0), 0), None);
        assert_eq!(h.tick(u64::MAX), None);
        assert_eq!(Hlc::successor((7, u32::MAX)), Some((8, 0)));
        assert_eq!(Hlc::successor((max, u32::MAX)), None);
    }

    #[test]
    fn timestamps_order_by_millis_counter_then_node() {
        let t = |m, c, n: &str| Timestamp { millis: m, counter: c, node: n.into() };
        assert!(t(1, 9, "z") < t(2, 0, "a"));
        assert!(t(1, 1, "z") < t(1, 2, "a"));
        assert!(t(1, 1, "a") < t(1, 1, "b"));
    }
}
