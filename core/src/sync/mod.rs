//! Syncing with peers, on top of the manager: the transport trait, the sync round (blocking
//! runner and step-by-step driver), peer-to-peer `sync_with`/`sync_via`, auto-sync on a
//! timer, and the HTTP protocol's client side. Nothing below imports it (see
//! docs/architecture.md).

#[cfg(feature = "runtime")]
pub(crate) mod auto_sync;
pub(crate) mod backoff;
#[cfg(feature = "http")]
pub(crate) mod http_client;
pub mod http_protocol;
pub(crate) mod round;
pub(crate) mod transport;
