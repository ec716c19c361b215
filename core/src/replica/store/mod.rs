//! Where a replica's image is kept. A store loads the image once and then commits change
//! batches, each atomically and durably (for durable stores) before the call returns.

use crate::model::error::Result;
use crate::replica::image::{ChangeBatch, Replica};

pub(crate) mod journal;
pub(crate) mod memory;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

/// A replica's persistence.
pub(crate) trait Store: Send {
    /// The stored replica, or `None` for a new, empty store.
    fn load(&mut self) -> Result<Option<Replica>>;
    /// Writes one batch atomically: all of it or, on error, none of it.
    fn commit(&mut self, batch: &ChangeBatch) -> Result<()>;
    /// Flushes and releases the store.
    fn close(&mut self) -> Result<()>;
}
