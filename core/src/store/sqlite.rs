//! The SQLite store: WAL journal, one transaction per batch, a versioned schema that migrates
//! forward, and every body stored as the same JSON the wire uses.

use super::Store;
use crate::admission::{Rejection, MAX_ADOPTED_COUNTER};
use crate::conflict::SyncConflict;
use crate::error::{Result, SyncError};
use crate::operation::SyncOperation;
use crate::replica::{new_feed_id, ChangeBatch, Meta, PendingOp, Replica, Stored, StoredConflict};
use crate::state::{Rules, SyncState};
use crate::timestamp::Hlc;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How hard a commit works to survive a power loss (a process crash is survived either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a write that returned survives power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on power loss.
    Normal,
}

impl Durability {
    /// The name every binding's options use: `"full"` or `"normal"`; what
    /// [`Durability::from_str`](std::str::FromStr) takes back.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        }
    }
}

/// Parses a durability's [name](Durability::name), exactly; anything else is `INVALID_INPUT`
/// naming both.
impl std::str::FromStr for Durability {
    type Err = SyncError;

    fn from_str(name: &str) -> Result<Durability> {
        [Durability::Full, Durability::Normal]
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| SyncError::InvalidInput(format!("durability is \"full\" or \"normal\", not {name:?}")))
    }
}

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE replica (
         singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
         node_id TEXT NOT NULL,
         counter INTEGER NOT NULL,
         hlc_millis INTEGER NOT NULL,
         hlc_counter INTEGER NOT NULL,
         seq INTEGER NOT NULL);
     CREATE TABLE states (id TEXT PRIMARY KEY, collection TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL);
     CREATE INDEX states_by_seq ON states (seq);
     CREATE TABLE pending (seq INTEGER PRIMARY KEY, op_id TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE conflicts (conflict_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL);
     CREATE TABLE peer_cursors (peer TEXT NOT NULL, scope TEXT NOT NULL, cursor TEXT NOT NULL,
                                PRIMARY KEY (peer, scope));",
    // States keyed by id alone (no rowid b-tree beside the primary-key index), and no sequence
    // index: the replica image is in memory, so nothing reads states by sequence from disk,
    // and every write saves updating two extra b-trees.
    "CREATE TABLE states_v2 (id TEXT PRIMARY KEY, collection TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL)
         WITHOUT ROWID;
     INSERT INTO states_v2 (id, collection, seq, body) SELECT id, collection, seq, body FROM states;
     DROP TABLE states;
     ALTER TABLE states_v2 RENAME TO states;",
    // The name of the changes feed (`Meta::feed`); an upgraded store gets one on first load.
    "ALTER TABLE replica ADD COLUMN feed TEXT NOT NULL DEFAULT '';",
    // Refused states (`crate::Rejection`), one row per state id.
    "CREATE TABLE rejections (state_id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
];

fn db_error(context: &str, e: rusqlite::Error) -> SyncError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            SyncError::Corrupt(format!("{context}: not a valid SQLite database ({e})"))
        }
        _ => SyncError::storage(context.to_owned(), e),
    }
}

/// Serialises `value` into the reused buffer and returns it as text.
fn json_body<'b>(buf: &'b mut Vec<u8>, value: &impl serde::Serialize) -> &'b str {
    buf.clear();
    serde_json::to_writer(&mut *buf, value).expect("bodies always serialise");
    std::str::from_utf8(buf).expect("serde_json writes UTF-8")
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Corrupt(format!("stored {what} is unreadable: {e}"))
}

/// A replica persisted in one SQLite file.
pub(crate) struct SqliteStore {
    conn: Option<Connection>,
    /// Reused buffer for JSON bodies.
    body: Vec<u8>,
    /// The exclusive lock on the database, held until close (see [`lock_database`]).
    lock: Option<std::fs::File>,
}

/// Locks `<path>-lock` exclusively for as long as the store is open. Two replicas on one file
/// (two managers in one process, two worker threads, two processes) would each keep their own
/// image and hand out the same counters and operation ids: writes would be lost. The second one
/// is refused instead. A separate file, because closing any other descriptor of the database
/// file itself would drop SQLite's own POSIX locks; the kernel releases this one if the process
/// dies.
fn lock_database(path: &Path) -> Result<std::fs::File> {
    let lock_path = with_suffix(path, "-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| SyncError::storage(format!("opening the lock file {}", lock_path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SyncError::Storage {
            message: format!(
                "{} is open in another replica (a SyncManager of this or another process): close that one first",
                path.display()
            ),
            source: None,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(SyncError::storage("locking the database", e)),
    }
}

/// `path` with every symbolic link resolved: the file's own path when it exists, its folder's
/// canonical path and its name otherwise.
fn canonical_path(path: &Path) -> Result<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let name =
        path.file_name().ok_or_else(|| SyncError::InvalidInput(format!("{} does not name a file", path.display())))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = std::fs::canonicalize(folder)
        .map_err(|e| SyncError::storage(format!("finding the folder of {}", path.display()), e))?;
    Ok(folder.join(name))
}

/// Makes a new, empty database at `path` (which does not exist): built under a temporary name
/// beside it, in WAL mode, then renamed into place and the folder synced. Called with the
/// database lock held, so no other replica creates it meanwhile.
fn create_database(path: &Path) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push("-creating");
    let temporary = PathBuf::from(temporary);
    // A creation that died half-way leaves its file behind: start it again.
    for leftover in [temporary.clone(), with_suffix(&temporary, "-wal"), with_suffix(&temporary, "-shm")] {
        let _ = std::fs::remove_file(leftover);
    }
    {
        let conn = Connection::open(&temporary).map_err(|e| db_error("creating the database", e))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| db_error("creating the database", e))?;
        conn.close().map_err(|(_, e)| db_error("creating the database", e))?;
    }
    std::fs::rename(&temporary, path).map_err(|e| SyncError::storage(format!("creating {}", path.display()), e))?;
    if let Some(folder) = path.parent() {
        // The rename is durable once the folder is: a crash must not leave a replica whose
        // first commit survived but whose file did not.
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// The file is reached by its canonical path, so a symbolic link to a database that is open
    /// finds it locked, and SQLite's `-wal` file always sits beside the real file. A new
    /// database is made under a temporary name and renamed into place once it is one, so an
    /// empty file at `path` never comes from statesync: it is refused as `CORRUPT` (a
    /// truncated database would otherwise open as a new replica, hiding what it held).
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let path = &canonical_path(path)?;
        let lock = lock_database(path)?;
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_database(path)?,
            Err(e) => return Err(SyncError::storage(format!("reading {}", path.display()), e)),
            Ok(m) if m.len() == 0 => {
                return Err(SyncError::Corrupt(format!(
                    "{} is an empty file, not a statesync database (a truncated one?): remove it to start a new \
                     replica there",
                    path.display()
                )))
            }
            Ok(_) => {}
        }
        let conn = Connection::open(path).map_err(|e| db_error("opening the database", e))?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| db_error("setting the busy timeout", e))?;
        // Reading the schema is the first access to the file's header: a non-database fails here.
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| db_error("reading the schema", e))?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| db_error("enabling WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SyncError::Storage { message: format!("WAL journal unavailable (got {mode})"), source: None });
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(|e| db_error("setting synchronous", e))?;
        let mut store = SqliteStore { conn: Some(conn), body: Vec::new(), lock: Some(lock) };
        store.migrate(tables)?;
        Ok(store)
    }

    fn conn(&mut self) -> Result<&mut Connection> {
        self.conn.as_mut().ok_or(SyncError::Closed)
    }

    fn migrate(&mut self, existing_tables: i64) -> Result<()> {
        let conn = self.conn()?;
        let has_version_table: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'statesync_schema'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| db_error("reading the schema", e))?
            > 0;
        let version: i64 = if has_version_table {
            conn.query_row("SELECT version FROM statesync_schema", [], |r| r.get(0))
                .optional()
                .map_err(|e| db_error("reading the schema version", e))?
                .ok_or_else(|| SyncError::Corrupt("schema version row is missing".into()))?
        } else if existing_tables > 0 {
            return Err(SyncError::Corrupt("the database exists but is not a statesync store".into()));
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(SyncError::UnsupportedFormat(format!(
                "database schema version {version} is newer than this build supports ({SCHEMA_VERSION})"
            )));
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        migrate_to(conn, version, SCHEMA_VERSION)
    }
}

/// Runs the migrations from `from` to `to` in one transaction.
pub(crate) fn migrate_to(conn: &mut Connection, from: i64, to: i64) -> Result<()> {
    let tx = conn.transaction().map_err(|e| db_error("starting a migration", e))?;
    if from == 0 {
        tx.execute_batch(
            "CREATE TABLE statesync_schema (version INTEGER NOT NULL); INSERT INTO statesync_schema VALUES (0);",
        )
        .map_err(|e| db_error("creating the schema table", e))?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(to as usize).skip(from as usize) {
        tx.execute_batch(sql).map_err(|e| db_error(&format!("migrating to schema version {}", i + 1), e))?;
    }
    tx.execute("UPDATE statesync_schema SET version = ?1", [to])
        .map_err(|e| db_error("recording the schema version", e))?;
    tx.commit().map_err(|e| db_error("committing a migration", e))
}

/// The counters row is written only by batches that need it (see `ChangeBatch::meta_row`):
/// raise the counters to what the stored rows carry, so a replica never reuses a counter value,
/// a sequence number or a timestamp of a write of its own. Timestamps of other nodes' versions
/// are not adopted here: receiving them moved the hybrid clock only so far (see
/// `Txn::observe`), and a write over one is stamped after it anyway.
fn raise_meta_to_rows(replica: &mut Replica) {
    let mut meta = replica.meta.clone();
    let node = replica.meta.node_id.clone();
    let mut see = |counter: u64, ts: Option<&crate::timestamp::Timestamp>, seq: u64| {
        // An entry of this node's beyond what it adopts was forged by a peer (see
        // `MAX_ADOPTED_COUNTER`): reloading must not adopt what receiving did not.
        if counter <= MAX_ADOPTED_COUNTER {
            meta.counter = meta.counter.max(counter);
        }
        if let Some(ts) = ts {
            if (ts.millis, ts.counter) > (meta.hlc.millis, meta.hlc.counter) {
                meta.hlc = Hlc { millis: ts.millis, counter: ts.counter };
            }
        }
        meta.seq = meta.seq.max(seq);
    };
    for stored in replica.states.values() {
        let state = &stored.state;
        let own = (state.timestamp.node == node).then_some(&state.timestamp);
        see(state.clock.get(&node), own, stored.seq);
    }
    for (seq, op) in replica.pending.entries() {
        let (clock, timestamp) = op.stamps();
        see(clock.get(&node), Some(timestamp), seq);
    }
    for c in replica.conflicts.values() {
        see(c.conflict.remote.clock.get(&node), None, c.seq);
    }
    replica.meta = meta;
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Option<Replica>> {
        let conn = self.conn()?;
        let load_err = |e| db_error("loading the replica", e);
        let meta = conn
            .query_row("SELECT node_id, counter, hlc_millis, hlc_counter, seq, feed FROM replica", [], |r| {
                Ok(Meta {
                    node_id: r.get(0)?,
                    counter: r.get::<_, i64>(1)? as u64,
                    hlc: Hlc { millis: r.get::<_, i64>(2)? as u64, counter: r.get::<_, i64>(3)? as u32 },
                    seq: r.get::<_, i64>(4)? as u64,
                    feed: r.get(5)?,
                })
            })
            .optional()
            .map_err(load_err)?;
        let Some(mut meta) = meta else {
            // A store whose counters row is gone while it holds rows would open as a new
            // replica, with a new node id and feed, and hide what it holds.
            let rows: i64 = conn
                .query_row(
                    "SELECT (SELECT count(*) FROM states) + (SELECT count(*) FROM pending)
                          + (SELECT count(*) FROM conflicts) + (SELECT count(*) FROM peer_cursors)",
                    [],
                    |r| r.get(0),
                )
                .map_err(load_err)?;
            if rows > 0 {
                return Err(SyncError::Corrupt(format!(
                    "the replica's counters row is missing, but the database holds {rows} rows: it was damaged"
                )));
            }
            return Ok(None);
        };
        if meta.feed.is_empty() {
            // A store from before feeds had names: name it now, durably, so its name is stable.
            meta.feed = new_feed_id();
            conn.execute("UPDATE replica SET feed = ?1", [&meta.feed]).map_err(load_err)?;
        }
        let mut replica = Replica::new(meta);

        let mut stmt = conn.prepare("SELECT seq, body FROM states").map_err(load_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(load_err)?;
        for row in rows {
            let (seq, body) = row.map_err(load_err)?;
            let state: SyncState = serde_json::from_str(&body).map_err(|e| corrupt("state", e))?;
            state.check(Rules::Stored).map_err(|e| corrupt("state", e))?;
            replica.insert_state(Stored { state: state.into(), seq: seq as u64 });
        }

        let mut stmt = conn.prepare("SELECT seq, body FROM pending ORDER BY seq").map_err(load_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(load_err)?;
        for row in rows {
            let (seq, body) = row.map_err(load_err)?;
            let op: SyncOperation = serde_json::from_str(&body).map_err(|e| corrupt("operation", e))?;
            replica.pending.push(seq as u64, PendingOp::Imported(op));
        }

        let mut stmt = conn.prepare("SELECT seq, body FROM conflicts").map_err(load_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(load_err)?;
        for row in rows {
            let (seq, body) = row.map_err(load_err)?;
            let conflict: SyncConflict = serde_json::from_str(&body).map_err(|e| corrupt("conflict", e))?;
            replica.conflicts.insert(conflict.conflict_id.clone(), StoredConflict { conflict, seq: seq as u64 });
        }

        let mut stmt = conn.prepare("SELECT peer, scope, cursor FROM peer_cursors").map_err(load_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(load_err)?;
        for row in rows {
            let (peer, scope, cursor) = row.map_err(load_err)?;
            replica.cursors.insert((peer, scope), cursor);
        }

        let mut stmt = conn.prepare("SELECT body FROM rejections").map_err(load_err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(load_err)?;
        for row in rows {
            let rejection: Rejection =
                serde_json::from_str(&row.map_err(load_err)?).map_err(|e| corrupt("rejection", e))?;
            replica.rejections.insert(rejection.state_id.clone(), rejection);
        }
        raise_meta_to_rows(&mut replica);
        Ok(Some(replica))
    }

    fn commit(&mut self, batch: &ChangeBatch) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(SyncError::Closed)?;
        let buf = &mut self.body;
        let err = |e| db_error("committing a change", e);
        let tx = conn.transaction().map_err(err)?;
        if batch.clear {
            tx.execute_batch("DELETE FROM states; DELETE FROM pending; DELETE FROM conflicts; DELETE FROM rejections;")
                .map_err(err)?;
        }
        let m = &batch.meta;
        if batch.meta_row {
            tx.prepare_cached(
                "INSERT INTO replica (singleton, node_id, counter, hlc_millis, hlc_counter, seq, feed)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (singleton) DO UPDATE SET node_id = excluded.node_id, counter = excluded.counter,
               hlc_millis = excluded.hlc_millis, hlc_counter = excluded.hlc_counter, seq = excluded.seq,
               feed = excluded.feed",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.node_id,
                    m.counter as i64,
                    m.hlc.millis as i64,
                    m.hlc.counter as i64,
                    m.seq as i64,
                    m.feed
                ])
            })
            .map_err(err)?;
        }
        if !batch.states.is_empty() {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO states (id, collection, seq, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET collection = excluded.collection, seq = excluded.seq, body = excluded.body",
                )
                .map_err(err)?;
            for stored in batch.states.iter() {
                let s = &stored.state;
                let body = json_body(buf, &**s);
                put.execute(params![s.id, s.collection, stored.seq as i64, body]).map_err(err)?;
            }
        }
        if !batch.ops_removed.is_empty() {
            let mut del = tx.prepare_cached("DELETE FROM pending WHERE seq = ?1").map_err(err)?;
            for seq in &batch.ops_removed {
                del.execute([*seq as i64]).map_err(err)?;
            }
        }
        if !batch.ops_added.is_empty() {
            let mut add =
                tx.prepare_cached("INSERT INTO pending (seq, op_id, body) VALUES (?1, ?2, ?3)").map_err(err)?;
            for (seq, op) in &batch.ops_added {
                let body = json_body(buf, op);
                add.execute(params![*seq as i64, op.op_id(), body]).map_err(err)?;
            }
        }
        for (id, c) in &batch.conflicts {
            match c {
                Some(c) => {
                    let body = serde_json::to_string(&c.conflict).expect("a conflict always serialises");
                    tx.prepare_cached("INSERT OR REPLACE INTO conflicts (conflict_id, seq, body) VALUES (?1, ?2, ?3)")
                        .and_then(|mut s| s.execute(params![id, c.seq as i64, body]))
                        .map_err(err)?;
                }
                None => {
                    tx.prepare_cached("DELETE FROM conflicts WHERE conflict_id = ?1")
                        .and_then(|mut s| s.execute([id]))
                        .map_err(err)?;
                }
            }
        }
        for (id, r) in &batch.rejections {
            match r {
                Some(r) => {
                    let body = serde_json::to_string(r).expect("a rejection always serialises");
                    tx.prepare_cached("INSERT OR REPLACE INTO rejections (state_id, body) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute(params![id, body]))
                }
                None => {
                    tx.prepare_cached("DELETE FROM rejections WHERE state_id = ?1").and_then(|mut s| s.execute([id]))
                }
            }
            .map_err(err)?;
        }
        for ((peer, scope), cursor) in &batch.cursors {
            match cursor {
                Some(c) => tx
                    .prepare_cached("INSERT OR REPLACE INTO peer_cursors (peer, scope, cursor) VALUES (?1, ?2, ?3)")
                    .and_then(|mut s| s.execute(params![peer, scope, c])),
                None => tx
                    .prepare_cached("DELETE FROM peer_cursors WHERE peer = ?1 AND scope = ?2")
                    .and_then(|mut s| s.execute(params![peer, scope])),
            }
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn close(&mut self) -> Result<()> {
        let closed = match self.conn.take() {
            Some(conn) => conn.close().map_err(|(_, e)| db_error("closing the database", e)),
            None => Ok(()),
        };
        // After the connection: another replica may open the file as soon as this drops.
        self.lock = None;
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_schema_migrates_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let state = crate::SyncState::from_value(serde_json::json!({
            "id": "s", "data": {"k": 1}, "clock": {"a": 1},
            "timestamp": {"millis": 5, "counter": 0, "node": "a"}
        }))
        .unwrap();
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, 0, 1).unwrap();
            conn.execute("INSERT INTO replica VALUES (1, 'a', 1, 5, 0, 1)", []).unwrap();
            conn.execute("INSERT INTO states VALUES ('s', 'default', 1, ?1)", [state.to_json()]).unwrap();
        }
        let mut store = SqliteStore::open(&path, Durability::Full).unwrap();
        let replica = store.load().unwrap().unwrap();
        assert_eq!(*replica.states["s"].state, state, "rows survive the migration");
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn.query_row("SELECT version FROM statesync_schema", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let sql: String =
            conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'states'", [], |r| r.get(0)).unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    }

    #[test]
    fn durabilities_parse_from_their_names_only() {
        for d in [Durability::Full, Durability::Normal] {
            assert_eq!(d.name().parse::<Durability>().unwrap(), d);
        }
        let e = "FULL".parse::<Durability>().unwrap_err();
        assert_eq!(
            (e.code(), e.message().as_str()),
            ("INVALID_INPUT", r#"durability is "full" or "normal", not "FULL""#)
        );
    }
}
