//! The embedded store: every space in one SQLite file, served by one process (ADR 16). WAL
//! journal; a push is one `BEGIN IMMEDIATE` transaction on the one write connection, a pull a
//! read transaction on a connection of its own, so readers never wait for the writer and each
//! page is read from one snapshot.

use super::apply::{plan_push, SpaceCounts};
use super::page::{self, storage, Filter};
use super::{PullScope, PulledPage, PushOutcome, PushPolicy, SpaceExport, SpaceHead, Store};
use crate::identity::SpaceId;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use statesync::{ManagerConfig, Result, SyncContext, SyncError, SyncManager, SyncState};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `MIGRATIONS[i]` takes the hub's schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE hub_spaces (
         space TEXT PRIMARY KEY,
         next INTEGER NOT NULL,
         states INTEGER NOT NULL,
         bytes INTEGER NOT NULL
     );
     CREATE TABLE hub_states (
         space TEXT NOT NULL,
         id TEXT NOT NULL,
         collection TEXT NOT NULL,
         seq INTEGER NOT NULL,
         bytes INTEGER NOT NULL,
         live INTEGER NOT NULL,
         body BLOB NOT NULL,
         PRIMARY KEY (space, id)
     );
     CREATE UNIQUE INDEX hub_states_feed ON hub_states (space, seq);"];

/// The hub schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Read connections kept open between pulls; more are opened while more pulls run at once.
const IDLE_READERS: usize = 8;

/// Spaces kept in one SQLite file (see the module's documentation).
pub struct SqliteStore {
    path: PathBuf,
    node_id: String,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).field("node_id", &self.node_id).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the SQLite file at `path`, bringing its schema up
    /// to date.
    ///
    /// A file that holds a hub replica of the previous release (the core's replica tables and
    /// no hub tables) is converted once: its states become the space `default`, and its node id
    /// stays the hub's, so clients keep their cursors for this hub under the same name. Those
    /// cursors were of the replica's feed (`<feed>.<seq>`), not of a space's, so the clients'
    /// next pulls start from the beginning of the space (applying a version twice changes
    /// nothing). The replica's own tables are left as they were, no longer updated.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let mut conn = connect(&path)?;
        let tables = |conn: &Connection, name: &str| -> Result<bool> {
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(|e| storage(format!("reading the schema of {}", path.display()), e))
        };
        // The first read of the file's header: a file that is no database fails here.
        let count: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(|e| match e
            .sqlite_error_code()
        {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                SyncError::Corrupt(format!("{} is not an SQLite database", path.display()))
            }
            _ => storage(format!("reading the schema of {}", path.display()), e),
        })?;
        let has_hub = tables(&conn, "hub_schema")?;
        let is_replica = !has_hub && tables(&conn, "replica")? && tables(&conn, "states")?;
        if !has_hub && !is_replica && count > 0 {
            return Err(SyncError::Corrupt(format!(
                "{} is a database, but neither a hub's store nor a hub's replica",
                path.display()
            )));
        }
        let version = if has_hub {
            conn.query_row("SELECT version FROM hub_schema", [], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(|e| storage("reading the hub's schema version", e))?
                .ok_or_else(|| SyncError::Corrupt("the hub's schema version row is missing".into()))?
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(SyncError::UnsupportedFormat(format!(
                "the hub's schema version {version} is newer than this build supports ({SCHEMA_VERSION})"
            )));
        }
        if is_replica {
            drop(conn);
            import_replica(&path)?;
            conn = connect(&path)?;
        } else if version < SCHEMA_VERSION {
            let tx = conn.transaction().map_err(|e| storage("starting the hub's schema migration", e))?;
            migrate(&tx, version)?;
            tx.commit().map_err(|e| storage("committing the hub's schema migration", e))?;
        }
        let node_id = node_id(&conn, None)?;
        Ok(SqliteStore { path, node_id, writer: Mutex::new(conn), readers: Mutex::new(Vec::new()) })
    }

    /// The file the store is in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection: an idle one, or a new one.
    fn with_reader<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.pragma_update(None, "query_only", true).map_err(|e| storage("opening a read connection", e))?;
                conn
            }
        };
        let result = f(&mut conn);
        let mut idle = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// A connection to the file at `path`, in WAL mode, waiting up to 5 s for a lock.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| storage(format!("opening {}", path.display()), e))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(|e| storage("setting the busy timeout", e))?;
    // The first read of the file's header: a file that is no database fails here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(|e| {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                SyncError::Corrupt(format!("{} is not an SQLite database", path.display()))
            }
            _ => storage(format!("reading the schema of {}", path.display()), e),
        }
    })?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| storage(format!("enabling WAL on {}", path.display()), e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SyncError::Storage { message: format!("WAL journal unavailable (got {mode})"), source: None });
    }
    // A push that returned survives a power loss, as a replica's commit does by default.
    conn.pragma_update(None, "synchronous", "FULL").map_err(|e| storage("setting synchronous", e))?;
    Ok(conn)
}

/// Brings the hub's schema from `from` to this build's, inside `tx`.
fn migrate(tx: &rusqlite::Transaction<'_>, from: i64) -> Result<()> {
    if from == 0 {
        tx.execute_batch("CREATE TABLE hub_schema (version INTEGER NOT NULL); INSERT INTO hub_schema VALUES (0);")
            .map_err(|e| storage("creating the hub's schema table", e))?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql).map_err(|e| storage(format!("migrating the hub's schema to version {}", i + 1), e))?;
    }
    tx.execute("UPDATE hub_schema SET version = ?1", [SCHEMA_VERSION])
        .map_err(|e| storage("recording the hub's schema version", e))?;
    Ok(())
}

/// The hub's node id: `wanted` (or a new random one) the first time, what is stored after.
fn node_id(conn: &Connection, wanted: Option<&str>) -> Result<String> {
    conn.execute(
        "INSERT OR IGNORE INTO hub_meta (key, value) VALUES ('node_id', coalesce(?1, 'hub-' || lower(hex(randomblob(8)))))",
        [wanted],
    )
    .map_err(|e| storage("recording the hub's node id", e))?;
    conn.query_row("SELECT value FROM hub_meta WHERE key = 'node_id'", [], |r| r.get(0))
        .map_err(|e| storage("reading the hub's node id", e))
}

/// Converts a hub replica of the previous release at `path` (see [`SqliteStore::open`]): reads
/// every state through the replica's feed, closes it, then creates the hub's tables and writes
/// the states into the space `default` in one transaction (an interrupted conversion leaves no
/// hub tables, so the next open starts it again).
fn import_replica(path: &Path) -> Result<()> {
    let manager = SyncManager::open(ManagerConfig::sqlite(path))?;
    let node = manager.node_id()?;
    let context = SyncContext { collections: Vec::new(), limit: Some(1000) };
    let mut states: Vec<Arc<SyncState>> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = manager.changes_since(cursor.as_deref(), &context)?;
        states.extend(page.states);
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    manager.close()?;
    drop(manager);
    let mut conn = connect(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| storage("starting the import of the hub's replica", e))?;
    migrate(&tx, 0)?;
    node_id(&tx, Some(&node))?;
    let mut counts = SpaceCounts::default();
    let mut seq = 0u64;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO hub_states (space, id, collection, seq, bytes, live, body) VALUES ('default', ?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| storage("importing the hub's replica", e))?;
        for state in &states {
            seq += 1;
            let bytes = super::apply::data_bytes(state);
            if state.is_live() {
                counts.states += 1;
                counts.bytes += bytes;
            }
            insert
                .execute(params![
                    state.id,
                    state.collection,
                    seq as i64,
                    bytes as i64,
                    state.is_live(),
                    page::encode(state)
                ])
                .map_err(|e| storage(format!("importing state {:?} of the hub's replica", state.id), e))?;
        }
    }
    if seq > 0 {
        tx.execute(
            "INSERT INTO hub_spaces (space, next, states, bytes) VALUES ('default', ?1, ?2, ?3)",
            params![seq as i64 + 1, counts.states as i64, counts.bytes as i64],
        )
        .map_err(|e| storage("importing the hub's replica", e))?;
    }
    tx.commit().map_err(|e| storage("committing the import of the hub's replica", e))
}

/// A sequence or count read from a column (never negative: the store writes them).
fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store for SqliteStore {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn pull(&self, space: &SpaceId, scope: &PullScope<'_>) -> Result<PulledPage> {
        let filter = Filter::of(scope);
        self.with_reader(|conn| {
            let tx = conn.transaction().map_err(|e| storage("starting a pull", e))?;
            let next: i64 = tx
                .query_row("SELECT next FROM hub_spaces WHERE space = ?1", [space.as_str()], |r| r.get(0))
                .optional()
                .map_err(|e| storage(format!("reading space {space}"), e))?
                .unwrap_or(1);
            let latest = unsigned(next - 1);
            if filter.is_empty() {
                return Ok(PulledPage { states: Vec::new(), next: latest, has_more: false });
            }
            let after = page::start(scope.after, latest);
            // One more row than the page holds tells whether more follow.
            let fetch = i64::try_from(scope.limit.max(1).saturating_add(1)).unwrap_or(i64::MAX);
            let (sql, collections) = match &filter {
                Filter::All => (
                    "SELECT seq, body FROM hub_states WHERE space = ?1 AND seq > ?2 AND ?3 IS NULL ORDER BY seq LIMIT ?4",
                    None,
                ),
                Filter::Only(list) => (
                    "SELECT seq, body FROM hub_states WHERE space = ?1 AND seq > ?2 \
                     AND collection IN (SELECT value FROM json_each(?3)) ORDER BY seq LIMIT ?4",
                    Some(serde_json::to_string(list).expect("a list of strings is JSON")),
                ),
            };
            let mut stmt = tx.prepare_cached(sql).map_err(|e| storage("preparing a pull", e))?;
            let rows = stmt
                .query_map(params![space.as_str(), after as i64, collections, fetch], |r| {
                    Ok((unsigned(r.get(0)?), r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(|e| storage(format!("reading space {space}"), e))?
                .map(|row| row.map_err(|e| storage(format!("reading space {space}"), e)));
            page::cut(rows, scope, latest)
        })
    }

    fn push(&self, space: &SpaceId, states: Vec<Arc<SyncState>>, policy: &PushPolicy<'_>) -> Result<PushOutcome> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| storage(format!("starting a push to space {space}"), e))?;
        let row: Option<(i64, i64, i64)> = tx
            .query_row("SELECT next, states, bytes FROM hub_spaces WHERE space = ?1", [space.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(|e| storage(format!("reading space {space}"), e))?;
        let (next, counts) = match row {
            Some((next, states, bytes)) => {
                (unsigned(next), SpaceCounts { states: unsigned(states), bytes: unsigned(bytes) })
            }
            None => (1, SpaceCounts::default()),
        };
        let mut stored = HashMap::new();
        {
            let mut read = tx
                .prepare_cached("SELECT body FROM hub_states WHERE space = ?1 AND id = ?2")
                .map_err(|e| storage("preparing a push", e))?;
            for state in &states {
                if stored.contains_key(&state.id) {
                    continue;
                }
                let body: Option<Vec<u8>> = read
                    .query_row(params![space.as_str(), state.id], |r| r.get(0))
                    .optional()
                    .map_err(|e| storage(format!("reading state {:?} of space {space}", state.id), e))?;
                if let Some(body) = body {
                    stored.insert(state.id.clone(), Arc::new(page::decode(&body)?));
                }
            }
        }
        let plan = plan_push(space.as_str(), states, stored, counts, policy, page::now_millis());
        if !plan.rows.is_empty() {
            let mut seq = next;
            {
                let mut write = tx
                    .prepare_cached(
                        "INSERT INTO hub_states (space, id, collection, seq, bytes, live, body) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                         ON CONFLICT (space, id) DO UPDATE SET collection = excluded.collection, seq = excluded.seq, \
                         bytes = excluded.bytes, live = excluded.live, body = excluded.body",
                    )
                    .map_err(|e| storage("preparing a push", e))?;
                for row in &plan.rows {
                    write
                        .execute(params![
                            space.as_str(),
                            row.state.id,
                            row.state.collection,
                            seq as i64,
                            row.bytes as i64,
                            row.live,
                            page::encode(&row.state)
                        ])
                        .map_err(|e| storage(format!("writing state {:?} of space {space}", row.state.id), e))?;
                    seq += 1;
                }
            }
            tx.execute(
                "INSERT INTO hub_spaces (space, next, states, bytes) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (space) DO UPDATE SET next = excluded.next, states = excluded.states, bytes = excluded.bytes",
                params![space.as_str(), seq as i64, plan.counts.states as i64, plan.counts.bytes as i64],
            )
            .map_err(|e| storage(format!("writing space {space}"), e))?;
        }
        tx.commit().map_err(|e| storage(format!("committing a push to space {space}"), e))?;
        Ok(plan.outcome)
    }

    fn ready(&self) -> Result<()> {
        self.with_reader(|conn| {
            conn.query_row("SELECT count(*) FROM hub_schema", [], |r| r.get::<_, i64>(0))
                .map(drop)
                .map_err(|e| storage(format!("reading {}", self.path.display()), e))
        })
    }

    fn spaces(&self) -> Result<Vec<SpaceHead>> {
        self.with_reader(|conn| {
            let err = |e| storage("listing the spaces", e);
            let mut stmt = conn.prepare_cached("SELECT space, next FROM hub_spaces ORDER BY space").map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            rows.into_iter()
                .map(|(space, next)| Ok(SpaceHead { space: page::stored_space(&space)?, latest: unsigned(next - 1) }))
                .collect()
        })
    }

    fn export_space(&self, space: &SpaceId) -> Result<SpaceExport> {
        self.with_reader(|conn| {
            let err = |e| storage(format!("reading space {space}"), e);
            // One read transaction: the sequence and the rows from one snapshot.
            let tx = conn.transaction().map_err(err)?;
            let next: i64 = tx
                .query_row("SELECT next FROM hub_spaces WHERE space = ?1", [space.as_str()], |r| r.get(0))
                .optional()
                .map_err(err)?
                .unwrap_or(1);
            let bodies = {
                let mut stmt = tx.prepare_cached("SELECT body FROM hub_states WHERE space = ?1").map_err(err)?;
                let rows = stmt
                    .query_map([space.as_str()], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(err)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(err)?;
                rows
            };
            let states = bodies.iter().map(|body| page::decode(body)).collect::<Result<Vec<_>>>()?;
            Ok(SpaceExport { states: page::by_id(states), latest: unsigned(next - 1) })
        })
    }
}
