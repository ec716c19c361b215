//! What the hub's test files share: a hub served on 127.0.0.1 by a runtime of its own, and
//! in-memory replicas.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

pub mod postgres;

use statesync::{ManagerConfig, SyncManager};
use statesync_hub::Hub;
use std::sync::Arc;

/// A hub served on 127.0.0.1 by a runtime of its own; dropping it stops the server.
pub struct Served {
    /// `http://ADDR`.
    pub url: String,
    /// `ADDR`, for raw TCP.
    pub addr: String,
    /// The replica the hub serves.
    pub manager: Arc<SyncManager>,
    _runtime: tokio::runtime::Runtime,
}

/// Serves `hub` on a free port of 127.0.0.1.
pub fn serve(hub: Hub) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let manager = hub.manager().clone();
    runtime.spawn(hub.serve(listener));
    Served { url: format!("http://{addr}"), addr, manager, _runtime: runtime }
}

/// An in-memory replica with this node id.
pub fn memory(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open"))
}
