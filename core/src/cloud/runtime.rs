//! The one small tokio runtime object storage runs on: object_store is async, the core's API is
//! blocking (every binding adapts it to its own concurrency), so each call hands its future to
//! this runtime and waits for the answer on a channel. Waiting on a channel, not `block_on`,
//! lets a call come from any thread, a thread of another tokio runtime included (auto-sync's,
//! the hub's blocking pool), where `block_on` would panic.

use crate::model::error::{Result, SyncError};
use std::future::Future;
use std::sync::OnceLock;

/// The name of the runtime's threads, in thread dumps and profiles.
const THREAD_NAME: &str = "statesync-cloud";

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(THREAD_NAME)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SyncError::Internal(format!("cannot start the object-storage runtime: {e}")))
}

/// Makes sure rustls has a crypto provider before a cloud store builds its HTTP client:
/// reqwest is built without a default one (see core/Cargo.toml), so it is ring. An application
/// that installed another one first keeps it.
pub(crate) fn ensure_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs `future` on the object-storage runtime and waits for its result on this thread.
pub(crate) fn block<T: Send + 'static>(future: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().unwrap_or_else(|_| Err(SyncError::Internal("an object-storage task panicked".into())))
}
