//! What the hub's test files share: a hub served on 127.0.0.1 by a runtime of its own, and
//! in-memory replicas.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

pub mod postgres;

use statesync::{ManagerConfig, SyncContext, SyncManager, SyncState};
use statesync_hub::identity::{Collections, SpaceId};
use statesync_hub::rules::SpaceLimits;
use statesync_hub::{Hub, PostgresStore, PullScope, PushOutcome, PushPolicy, SqliteStore, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Which store a test's hub keeps its spaces in: every protocol test runs on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database of the test binary's private PostgreSQL cluster.
    Postgres,
}

/// A store of `kind`, and the folder that must outlive it (SQLite).
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The SQLite store's folder, or the PostgreSQL database's URL.
    pub place: Place,
}

/// Where a test store lives.
pub enum Place {
    /// The temporary folder of a SQLite store (`hub.db` in it).
    Folder(tempfile::TempDir),
    /// The URL of a PostgreSQL database.
    Url(String),
}

impl TestStore {
    /// An empty store of `kind`.
    pub fn new(kind: Kind) -> TestStore {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = SqliteStore::open(dir.path().join("hub.db")).expect("open the SQLite store");
                TestStore { store: Arc::new(store), place: Place::Folder(dir) }
            }
            Kind::Postgres => {
                let url = postgres::PgCluster::start().database();
                let store = PostgresStore::connect(&url, 8).expect("connect the PostgreSQL store");
                TestStore { store: Arc::new(store), place: Place::Url(url) }
            }
        }
    }

    /// A hub serving this store.
    pub fn hub(&self) -> Hub {
        Hub::shared(self.store.clone())
    }
}

/// A hub served on 127.0.0.1 by a runtime of its own; dropping it stops the server.
pub struct Served {
    /// `http://ADDR`.
    pub url: String,
    /// `ADDR`, for raw TCP.
    pub addr: String,
    /// The store the hub serves.
    pub store: Arc<dyn Store>,
    _runtime: tokio::runtime::Runtime,
}

impl Served {
    /// Every state of `space` (tombstones included), ordered by id.
    pub fn states_of(&self, space: &str) -> Vec<SyncState> {
        space_states(&*self.store, space)
    }

    /// Every state of the space `default`, ordered by id.
    pub fn states(&self) -> Vec<SyncState> {
        self.states_of("default")
    }

    /// The version of `id` in the space `default`, a tombstone too.
    pub fn state(&self, id: &str) -> Option<SyncState> {
        self.states().into_iter().find(|s| s.id == id)
    }

    /// Writes `states` into `space` as a push with every grant would.
    pub fn seed(&self, space: &str, states: Vec<Arc<SyncState>>) -> PushOutcome {
        seed(&*self.store, space, states)
    }
}

/// Serves `hub` on a free port of 127.0.0.1.
pub fn serve(hub: Hub) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let store = hub.store().clone();
    runtime.spawn(hub.serve(listener));
    Served { url: format!("http://{addr}"), addr, store, _runtime: runtime }
}

/// Every state of `space` in `store` (tombstones included), ordered by id.
pub fn space_states(store: &dyn Store, space: &str) -> Vec<SyncState> {
    let space = SpaceId::parse(space).expect("space");
    let mut after = 0;
    let mut states: Vec<SyncState> = Vec::new();
    loop {
        let scope = PullScope { after, readable: &Collections::All, wanted: &[], limit: 1000, max_bytes: usize::MAX };
        let page = store.pull(&space, &scope).expect("pull");
        states.extend(page.states.iter().map(|s| (**s).clone()));
        after = page.next;
        if !page.has_more {
            break;
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    states
}

/// Writes `states` into `space` of `store` as a push with every grant and no rule would.
pub fn seed(store: &dyn Store, space: &str, states: Vec<Arc<SyncState>>) -> PushOutcome {
    let space = SpaceId::parse(space).expect("space");
    let no_rules = |_: &str, _: &serde_json::Value| Ok(());
    let strategies = HashMap::new();
    let policy = PushPolicy {
        writable: &Collections::All,
        readable: &Collections::All,
        quotas: SpaceLimits::default(),
        check_data: &no_rules,
        max_state_bytes: statesync::DEFAULT_MAX_STATE_BYTES,
        max_clock_skew: Duration::from_secs(3600),
        strategies: &strategies,
    };
    store.push(&space, states, &policy).expect("seed")
}

/// Every state of a replica (tombstones included), ordered by id.
pub fn replica_states(m: &SyncManager) -> Vec<SyncState> {
    let mut states: Vec<SyncState> =
        m.changes_since(None, &SyncContext::all()).expect("changes").states.iter().map(|s| (**s).clone()).collect();
    states.sort_by(|a, b| a.id.cmp(&b.id));
    states
}

/// An in-memory replica with this node id.
pub fn memory(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open"))
}

/// Defines each named test fn (taking a [`Kind`]) once per store: `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::support::Kind::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::support::Kind::Postgres)
            }
        }
    )*};
}
