//! The value classes: immutable (`frozen`), comparable, printable wrappers of core values.
//! Values pickle through their wire JSON (see the module `pickle`).
//!
//! One submodule per family of values; `common` holds what they share. Imports go downward
//! only: `common` ← `state` ← `results`, `exchange`, `event`; nothing here imports `wire`,
//! `pickle` or `manager` (they import the values).

mod common;
mod event;
mod exchange;
mod resolution;
mod results;
mod state;

pub(crate) use common::{hash_of, q, reduce, text_arg};
pub use event::PySyncEvent;
pub use exchange::{PyCapabilities, PyChangeSet, PySnapshot};
pub use resolution::{PyDeleted, PyResolution};
pub use results::{PyApplyResult, PyReconciliationResult, PyRejectedState, PyRejection, PySyncReport};
pub use state::{PySyncConflict, PySyncOperation, PySyncState, PyTimestamp};
