//! One replica without its API: the image in memory, transactions over it (local writes,
//! remote applies, settling conflicts), the pending queue, the changes feed, admission of
//! remote states, events, and the stores that make it durable. Imports `model/` and `wire/`
//! only (see docs/architecture.md).

pub(crate) mod admission;
pub(crate) mod decide;
pub(crate) mod event;
pub(crate) mod feed;
pub(crate) mod image;
pub(crate) mod outcome;
pub(crate) mod pending;
pub(crate) mod settle;
pub(crate) mod store;
pub(crate) mod txn;
