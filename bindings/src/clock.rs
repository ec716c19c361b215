//! `ManualClock`: a wall clock the application (or a test) moves by hand.

use crate::error::{guard, Result};
use std::sync::Arc;

/// A wall clock in milliseconds that only moves when told to; give it to `ManagerConfig.clock`.
#[derive(uniffi::Object)]
pub struct ManualClock(pub(crate) Arc<statesync::ManualClock>);

#[uniffi::export]
impl ManualClock {
    /// A clock reading `millis`.
    #[uniffi::constructor]
    pub fn new(millis: u64) -> Result<Arc<Self>> {
        guard(|| Ok(Arc::new(ManualClock(Arc::new(statesync::ManualClock::new(millis))))))
    }

    /// Sets the reading (it may go backwards: the hybrid clock copes).
    pub fn set(&self, millis: u64) -> Result<()> {
        guard(|| {
            self.0.set(millis);
            Ok(())
        })
    }

    /// Moves the reading forward.
    pub fn advance(&self, millis: u64) -> Result<()> {
        guard(|| {
            self.0.advance(millis);
            Ok(())
        })
    }

    /// The current reading.
    pub fn now(&self) -> Result<u64> {
        guard(|| Ok(statesync::WallClock::now_millis(&*self.0)))
    }
}
