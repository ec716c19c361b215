//! How a manager is opened ([`ManagerConfig`], [`StorageConfig`]) and how a state is created
//! ([`CreateOptions`]).

use super::*;

#[cfg(feature = "sqlite")]
pub use crate::replica::store::sqlite::Durability;

/// Where a replica keeps its data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
// Built once per open and moved, never kept in bulk: the journal's image inline costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum StorageConfig {
    /// In memory only: gone when the manager is dropped.
    #[default]
    Memory,
    /// An SQLite database file (created if missing).
    #[cfg(feature = "sqlite")]
    Sqlite(std::path::PathBuf),
    /// Persisted by the application through a [`crate::JournalSink`] (the browser's IndexedDB).
    Journal(crate::replica::store::journal::JournalStorage),
}

/// How to open a [`SyncManager`].
#[derive(Clone)]
pub struct ManagerConfig {
    /// The replica's node id; generated (and persisted) on first open when `None`.
    pub node_id: Option<String>,
    /// Where the replica lives: memory, an SQLite file, or a journal the host persists (the
    /// browser keeps it in IndexedDB).
    pub storage: StorageConfig,
    /// Strategy for collections without their own.
    pub strategy: ConflictStrategy,
    /// Per-collection overrides.
    pub collection_strategies: HashMap<String, ConflictStrategy>,
    /// The wall clock; the system clock when `None` (required on wasm, which has none).
    pub clock: Option<Arc<dyn WallClock>>,
    /// Call custom resolvers both ways round and refuse non-commutative ones.
    pub check_resolver: bool,
    /// How far ahead of this replica's wall clock a received timestamp may be; a state stamped
    /// later is refused ([`DEFAULT_MAX_CLOCK_SKEW`], one hour, unless set).
    pub max_clock_skew: Duration,
    /// The largest state data accepted from a peer or written locally, in bytes of canonical
    /// JSON ([`DEFAULT_MAX_STATE_BYTES`], 1 MiB, unless set).
    pub max_state_bytes: usize,
    /// SQLite commit durability.
    #[cfg(feature = "sqlite")]
    pub durability: Durability,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            node_id: None,
            storage: StorageConfig::Memory,
            strategy: ConflictStrategy::default(),
            collection_strategies: HashMap::new(),
            clock: None,
            check_resolver: cfg!(debug_assertions),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
            #[cfg(feature = "sqlite")]
            durability: Durability::default(),
        }
    }
}

impl ManagerConfig {
    /// An in-memory replica.
    pub fn memory() -> Self {
        Self::default()
    }

    /// A replica stored in the SQLite file at `path`.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(path: impl Into<std::path::PathBuf>) -> Self {
        ManagerConfig { storage: StorageConfig::Sqlite(path.into()), ..Self::default() }
    }

    /// A replica persisted through a journal sink, opened from the image the sink kept.
    pub fn journal(storage: crate::replica::store::journal::JournalStorage) -> Self {
        ManagerConfig { storage: StorageConfig::Journal(storage), ..Self::default() }
    }

    /// Sets the node id.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// Sets the default strategy.
    pub fn strategy(mut self, strategy: ConflictStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the strategy of one collection.
    pub fn collection_strategy(mut self, collection: impl Into<String>, strategy: ConflictStrategy) -> Self {
        self.collection_strategies.insert(collection.into(), strategy);
        self
    }

    /// Injects the wall clock.
    pub fn clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Turns the resolver commutativity check on or off.
    pub fn check_resolver(mut self, on: bool) -> Self {
        self.check_resolver = on;
        self
    }

    /// Sets how far ahead of the local wall clock a received timestamp may be.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// [`max_clock_skew`](Self::max_clock_skew) for a host whose numbers are doubles
    /// (JavaScript): INVALID_INPUT unless `ms` is a whole number from 0 to 2^53 - 1.
    pub fn max_clock_skew_number(self, ms: f64) -> Result<Self> {
        Ok(self.max_clock_skew(Duration::from_millis(whole_number("maxClockSkewMs", ms, 0)?)))
    }

    /// [`max_state_bytes`](Self::max_state_bytes) for a host whose numbers are doubles
    /// (JavaScript): INVALID_INPUT unless `bytes` is a whole number from 1 to 2^53 - 1.
    pub fn max_state_bytes_number(self, bytes: f64) -> Result<Self> {
        let bytes = whole_number("maxStateBytes", bytes, 1)?;
        Ok(self.max_state_bytes(usize::try_from(bytes).unwrap_or(usize::MAX)))
    }

    /// Sets the largest state data accepted or written, in bytes of canonical JSON (at least 1).
    pub fn max_state_bytes(mut self, bytes: usize) -> Self {
        self.max_state_bytes = bytes;
        self
    }

    /// Sets SQLite commit durability.
    #[cfg(feature = "sqlite")]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

/// Options of [`SyncManager::create_state`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The id; a random UUID when `None`.
    pub id: Option<String>,
    /// The collection; `"default"` when `None`.
    pub collection: Option<String>,
}

impl CreateOptions {
    /// Options with this id.
    pub fn id(id: impl Into<String>) -> Self {
        CreateOptions { id: Some(id.into()), collection: None }
    }

    /// Sets the collection.
    pub fn in_collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = Some(collection.into());
        self
    }
}

/// A JavaScript number option as a whole number from `min` to 2^53 - 1 (the largest a double
/// holds exactly); INVALID_INPUT naming the option otherwise.
fn whole_number(name: &str, value: f64, min: u64) -> Result<u64> {
    if value.fract() == 0.0 && value >= min as f64 && value <= crate::MAX_SAFE_INTEGER as f64 {
        Ok(value as u64)
    } else {
        Err(SyncError::InvalidInput(format!("{name} is {value}: a whole number, at least {min}")))
    }
}
