//! What the hub's test files share: a hub served on 127.0.0.1 by a runtime of its own, and
//! in-memory replicas.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

pub mod postgres;
pub mod process;

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

// ---- added for the store-backed protocol, space and operations tests --------------------------

/// A hub served on a fresh store of its kind, with the store's place kept alive as long as the
/// server (a SQLite store's folder must outlive it); derefs to the [`Served`] hub.
pub struct Hosted {
    /// The served hub (dropped first: the server stops before its store's folder goes).
    pub served: Served,
    /// The store and where it lives.
    pub test_store: TestStore,
}

impl std::ops::Deref for Hosted {
    type Target = Served;
    fn deref(&self) -> &Served {
        &self.served
    }
}

impl Hosted {
    /// Makes the store itself fail from now on, as a lost disk or database would: SQLite loses
    /// its tables (dropped through a connection of its own), PostgreSQL its database (dropped
    /// with its connections terminated).
    pub fn break_store(&self) {
        break_store(&self.test_store.place);
    }
}

/// Serves on a fresh store of `kind` the hub `build` makes of a plain hub of that store.
pub fn host(kind: Kind, build: impl FnOnce(Hub) -> Hub) -> Hosted {
    let test_store = TestStore::new(kind);
    let served = serve(build(test_store.hub()));
    Hosted { served, test_store }
}

/// See [`Hosted::break_store`].
pub fn break_store(place: &Place) {
    match place {
        Place::Folder(dir) => {
            let conn = rusqlite::Connection::open(dir.path().join("hub.db")).expect("open the store's file");
            conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
            conn.execute_batch("DROP TABLE hub_states; DROP TABLE hub_spaces; DROP TABLE hub_schema;")
                .expect("drop the store's tables");
        }
        Place::Url(url) => {
            let name = url.rsplit('/').next().expect("a database name").to_owned();
            let cluster = postgres::PgCluster::start();
            let mut admin =
                ::postgres::Client::connect(&cluster.admin_url(), ::postgres::NoTls).expect("connect to the cluster");
            admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).expect("drop the store's database");
        }
    }
}

/// A store that answers `CLOSED` once [`Closable::close`] is called, as a store being shut
/// down does; until then, the store it wraps answers.
pub struct Closable {
    inner: Arc<dyn Store>,
    closed: std::sync::atomic::AtomicBool,
}

impl Closable {
    /// `inner`, open.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Closable> {
        Arc::new(Closable { inner, closed: std::sync::atomic::AtomicBool::new(false) })
    }

    /// Every call answers `CLOSED` from now on.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn open(&self) -> statesync::Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(statesync::SyncError::Closed);
        }
        Ok(())
    }
}

impl Store for Closable {
    fn node_id(&self) -> &str {
        self.inner.node_id()
    }

    fn pull(&self, space: &SpaceId, request: &PullScope<'_>) -> statesync::Result<statesync_hub::PulledPage> {
        self.open()?;
        self.inner.pull(space, request)
    }

    fn push(
        &self,
        space: &SpaceId,
        states: Vec<Arc<SyncState>>,
        policy: &PushPolicy<'_>,
    ) -> statesync::Result<PushOutcome> {
        self.open()?;
        self.inner.push(space, states, policy)
    }

    fn ready(&self) -> statesync::Result<()> {
        self.open()?;
        self.inner.ready()
    }

    fn spaces(&self) -> statesync::Result<Vec<statesync_hub::SpaceHead>> {
        self.open()?;
        self.inner.spaces()
    }

    fn export_space(&self, space: &SpaceId) -> statesync::Result<statesync_hub::SpaceExport> {
        self.open()?;
        self.inner.export_space(space)
    }
}

/// The HS256 secret of the tests' JWT hubs.
pub const JWT_SECRET: &[u8] = b"a secret of at least thirty-two bytes, for tests";

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}

/// An HS256 JWT signed with `secret` holding `claims`, plus `exp` an hour ahead unless
/// `claims` sets it.
pub fn jwt_with(secret: &[u8], mut claims: serde_json::Value) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    if claims.get("exp").is_none() {
        claims["exp"] = serde_json::json!(unix_now() + 3600);
    }
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).expect("sign a token")
}

/// [`jwt_with`] the tests' secret [`JWT_SECRET`].
pub fn jwt(claims: serde_json::Value) -> String {
    jwt_with(JWT_SECRET, claims)
}

/// The rules of the tests' JWT hubs: a `global` space every user reads and admins write, and a
/// schema for `prefs` (in the file `prefs.schema.json` beside the rules: [`PREFS_SCHEMA`]).
pub const RULES: &str = r#"
[spaces.global]
read = ["*"]
[spaces.global.write_if]
role = "admin"
[schemas]
prefs = "prefs.schema.json"
"#;

/// The JSON Schema of `prefs` in [`RULES`]: a `theme` of `light` or `dark`.
pub const PREFS_SCHEMA: &str = r#"{"type": "object", "properties": {"theme": {"enum": ["light", "dark"]}}}"#;
