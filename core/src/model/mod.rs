//! The model: the values statesync is about and their rules, with no replica behind them.
//! States, clocks, timestamps, operations, conflicts and strategies, canonical JSON and the
//! one error type. Imports nothing else of the crate (see docs/architecture.md).

pub(crate) mod canonical;
pub(crate) mod change_set;
pub(crate) mod clock;
pub(crate) mod conflict;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod json_text;
pub(crate) mod operation;
pub(crate) mod state;
pub(crate) mod timestamp;
