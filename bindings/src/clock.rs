//! `ManualClock`: a wall clock the application (or a test) moves by hand.

use std::sync::Arc;

/// A wall clock in milliseconds that only moves when told to; give it to `ManagerConfig.clock`.
#[derive(uniffi::Object)]
pub struct ManualClock(pub(crate) Arc<statesync::ManualClock>);

#[uniffi::export]
impl ManualClock {
    /// A clock reading `millis`.
    #[uniffi::constructor]
    pub fn new(millis: u64) -> Arc<Self> {
        Arc::new(ManualClock(Arc::new(statesync::ManualClock::new(millis))))
    }

    /// Sets the reading (it may go backwards: the hybrid clock copes).
    pub fn set(&self, millis: u64) {
        self.0.set(millis);
    }

    /// Moves the reading forward.
    pub fn advance(&self, millis: u64) {
        self.0.advance(millis);
    }

    /// The current reading.
    pub fn now(&self) -> u64 {
        statesync::WallClock::now_millis(&*self.0)
    }
}
