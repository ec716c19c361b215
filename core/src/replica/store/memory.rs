//! The in-memory store: the replica image is the only copy, so there is nothing to write.

use super::Store;
use crate::model::error::Result;
use crate::replica::image::{ChangeBatch, Replica};

/// Keeps nothing beyond the manager's image; everything is gone when the manager is dropped.
pub(crate) struct MemoryStore;

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Option<Replica>> {
        Ok(None)
    }

    fn commit(&mut self, _batch: &ChangeBatch) -> Result<()> {
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
