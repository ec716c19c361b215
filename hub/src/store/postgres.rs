//! The shared store: every space in one PostgreSQL database, served by any number of hub
//! processes at once (ADR 16, docs/design.md §11). Plain SQL through `postgres`, the blocking
//! client of `tokio-postgres`, and an `r2d2` pool whose connections keep their prepared
//! statements (each statement is parsed and planned once per connection, not once per call).
//!
//! The feed stays gapless whatever commits at once: a push locks its space's row
//! (`SELECT … FOR UPDATE`) before it takes sequences from it, and holds the lock until it
//! commits, so the pushes to one space commit one after the other in the order of their
//! sequences. A pull reads its rows and the space's latest sequence in one snapshot
//! (`REPEATABLE READ`): a snapshot that holds sequence k holds every sequence below k, so a
//! cursor never passes a change that commits later.
//!
//! The blocking client runs a tokio runtime of its own: call the store from threads outside
//! any tokio runtime, or from tokio's blocking pool (`spawn_blocking`), never from an async task.

use super::apply::{plan_push, SpaceCounts};
use super::page::{self, storage, Filter};
use super::{PullScope, PulledPage, PushOutcome, PushPolicy, SpaceExport, SpaceHead, Store};
use crate::identity::SpaceId;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use statesync::{Result, SyncError, SyncState};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The schema version this build writes (kept in `hub_meta` under `schema_version`).
const SCHEMA_VERSION: i64 = 1;

/// The advisory lock taken around the schema's creation, so processes starting at once do not
/// race on `CREATE TABLE IF NOT EXISTS` (which is not safe against itself).
const SCHEMA_LOCK: i64 = 0x6875_625f_7363_6865; // "hub_sche"

/// The schema, created at connect when missing.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS hub_spaces (
        space TEXT PRIMARY KEY,
        next BIGINT NOT NULL,
        states BIGINT NOT NULL,
        bytes BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hub_states (
        space TEXT NOT NULL,
        id TEXT NOT NULL,
        collection TEXT NOT NULL,
        seq BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        live BOOLEAN NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (space, id)
    );
    CREATE UNIQUE INDEX IF NOT EXISTS hub_states_feed ON hub_states (space, seq);";

/// A pooled connection: the client and the statements it prepared, by their SQL.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// Prepares `sql` on `tx`'s connection the first time, reuses the statement after.
fn statement(
    client: &mut impl GenericClient,
    cache: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> std::result::Result<Statement, postgres::Error> {
    if let Some(statement) = cache.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    cache.insert(sql, statement.clone());
    Ok(statement)
}

/// Opens the pool's connections (plain TCP or a Unix socket: TLS is the network's, e.g. a
/// local proxy, as for the hub's own HTTP).
struct Manager(Config);

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        Ok(Conn { client: self.0.connect(NoTls)?, statements: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

type Pool = r2d2::Pool<Manager>;

/// Spaces kept in a PostgreSQL database (see the module's documentation).
pub struct PostgresStore {
    /// Always there until the store is dropped (see its `Drop`).
    pool: Option<Pool>,
    node_id: String,
    /// Where the database is, for messages: hosts, ports and database, never the password.
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).field("node_id", &self.node_id).finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// or a libpq key-value string) with a pool of at most `pool_size` connections, and creates
    /// the hub's tables if they are missing. A malformed URL is `INVALID_INPUT`; a database that
    /// cannot be reached within 10 s, `STORAGE`. No message holds the password.
    pub fn connect(url: &str, pool_size: u32) -> Result<PostgresStore> {
        let config: Config = url.parse().map_err(|e: postgres::Error| {
            SyncError::InvalidInput(format!("not a PostgreSQL URL (postgres://user@host:port/database): {e}"))
        })?;
        let target = describe(&config);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            // No round trip to test each connection taken from the pool: a connection the
            // server closed fails its request (STORAGE) and is dropped from the pool.
            .test_on_check_out(false)
            .build(Manager(config))
            .map_err(|e| storage(format!("connecting to {target}"), e))?;
        let node_id = prepare(&pool, &target)?;
        Ok(PostgresStore { pool: Some(pool), node_id, target })
    }

    fn client(&self) -> Result<r2d2::PooledConnection<Manager>> {
        let pool = self.pool.as_ref().expect("the pool lives as long as the store");
        pool.get().map_err(|e| storage(format!("connecting to {}", self.target), e))
    }
}

impl Drop for PostgresStore {
    /// Closes the pool's connections. Each blocking client closes its connection with a
    /// runtime of its own (`block_on`), which panics, and aborts the process, on a thread that
    /// drives a tokio runtime: where the last hub holding the store is dropped when its server
    /// stops (the binary's drain on SIGTERM). There they are closed on a thread of their own.
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Joined: the connections are closed once the store is gone, as anywhere else.
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// `host:port/database` of a configuration, for messages.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!("PostgreSQL at {}:{}/{}", hosts.join(","), ports.join(","), config.get_dbname().unwrap_or("(default)"))
}

/// Creates the schema if missing (under an advisory lock) and returns the hub's node id: made
/// by the first process, read by every other.
fn prepare(pool: &Pool, target: &str) -> Result<String> {
    let mut conn = pool.get().map_err(|e| storage(format!("connecting to {target}"), e))?;
    let err = |what: &str| {
        let what = format!("{what} in {target}");
        move |e: postgres::Error| storage(what, e)
    };
    let mut tx = conn.client.transaction().map_err(err("starting the schema's creation"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(err("locking the schema"))?;
    tx.batch_execute(SCHEMA).map_err(err("creating the hub's tables"))?;
    tx.execute(
        "INSERT INTO hub_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING",
        &[&SCHEMA_VERSION.to_string()],
    )
    .map_err(err("recording the schema version"))?;
    let version: String = tx
        .query_one("SELECT value FROM hub_meta WHERE key = 'schema_version'", &[])
        .map_err(err("reading the schema version"))?
        .get(0);
    if version.parse::<i64>().map_or(true, |v| v > SCHEMA_VERSION) {
        return Err(SyncError::UnsupportedFormat(format!(
            "the hub's schema version {version:?} in {target} is newer than this build supports ({SCHEMA_VERSION})"
        )));
    }
    tx.execute(
        "INSERT INTO hub_meta (key, value) \
         VALUES ('node_id', 'hub-' || substr(md5(random()::text || clock_timestamp()::text), 1, 16)) \
         ON CONFLICT (key) DO NOTHING",
        &[],
    )
    .map_err(err("recording the hub's node id"))?;
    let node: String = tx
        .query_one("SELECT value FROM hub_meta WHERE key = 'node_id'", &[])
        .map_err(err("reading the hub's node id"))?
        .get(0);
    tx.commit().map_err(err("committing the schema"))?;
    Ok(node)
}

/// A sequence or count read from a column (never negative: the store writes them).
fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A count or sequence as a column holds it.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn pull(&self, space: &SpaceId, scope: &PullScope<'_>) -> Result<PulledPage> {
        let filter = Filter::of(scope);
        let mut conn = self.client()?;
        let Conn { client, statements } = &mut *conn;
        let err = |e: postgres::Error| storage(format!("reading space {space} in {}", self.target), e);
        if filter.is_empty() {
            let read = statement(client, statements, "SELECT next FROM hub_spaces WHERE space = $1").map_err(err)?;
            let next: i64 = client.query_opt(&read, &[&space.as_str()]).map_err(err)?.map_or(1, |row| row.get(0));
            return Ok(PulledPage { states: Vec::new(), next: unsigned(next - 1), has_more: false });
        }
        let after = signed(scope.after);
        // One more row than the page holds tells whether more follow.
        let fetch = signed(scope.limit.max(1).saturating_add(1) as u64);
        // One statement, so one snapshot for the space's sequence and its rows (`next` never
        // passes a change the snapshot does not hold), in one round trip. A cursor past the
        // space's end starts over (`page::start`); a space never written to has no row.
        let rows = match &filter {
            Filter::All => {
                let read = statement(
                    client,
                    statements,
                    "SELECT s.next, t.seq, t.body FROM hub_spaces s LEFT JOIN LATERAL \
                     (SELECT seq, body FROM hub_states WHERE space = s.space \
                      AND seq > (CASE WHEN $2 >= s.next THEN 0 ELSE $2 END) ORDER BY seq LIMIT $3) t ON true \
                     WHERE s.space = $1 ORDER BY t.seq",
                )
                .map_err(err)?;
                let params: [&(dyn ToSql + Sync); 3] = [&space.as_str(), &after, &fetch];
                client.query_raw(&read, params).map_err(err)?
            }
            Filter::Only(list) => {
                let read = statement(
                    client,
                    statements,
                    "SELECT s.next, t.seq, t.body FROM hub_spaces s LEFT JOIN LATERAL \
                     (SELECT seq, body FROM hub_states WHERE space = s.space \
                      AND seq > (CASE WHEN $2 >= s.next THEN 0 ELSE $2 END) AND collection = ANY($4) \
                      ORDER BY seq LIMIT $3) t ON true \
                     WHERE s.space = $1 ORDER BY t.seq",
                )
                .map_err(err)?;
                let params: [&(dyn ToSql + Sync); 4] = [&space.as_str(), &after, &fetch, list];
                client.query_raw(&read, params).map_err(err)?
            }
        };
        let mut rows = rows.iterator().peekable();
        // Every row carries the space's `next`; no row: the space was never written to.
        let latest = match rows.peek() {
            None => 0,
            Some(Err(_)) => return Err(err(rows.next().expect("peeked").expect_err("peeked an error"))),
            Some(Ok(row)) => unsigned(row.get::<_, i64>(0) - 1),
        };
        let versions = rows.filter_map(|row| match row {
            Err(e) => Some(Err(err(e))),
            // The space's row alone (no state after the cursor): nothing to read.
            Ok(row) => row.get::<_, Option<i64>>(1).map(|seq| Ok((unsigned(seq), row.get::<_, Vec<u8>>(2)))),
        });
        page::cut(versions, scope, latest)
    }

    fn push(&self, space: &SpaceId, states: Vec<Arc<SyncState>>, policy: &PushPolicy<'_>) -> Result<PushOutcome> {
        let mut conn = self.client()?;
        let Conn { client, statements } = &mut *conn;
        let err = |e: postgres::Error| storage(format!("pushing to space {space} in {}", self.target), e);
        // READ COMMITTED: once the space's row lock is ours, each statement sees every push
        // that held it before.
        let mut tx = client.transaction().map_err(err)?;
        // The space's row lock, held until the commit: pushes to one space commit in the
        // order of the sequences they take. A space's first push creates its row first.
        let lock =
            statement(&mut tx, statements, "SELECT next, states, bytes FROM hub_spaces WHERE space = $1 FOR UPDATE")
                .map_err(err)?;
        let row = match tx.query_opt(&lock, &[&space.as_str()]).map_err(err)? {
            Some(row) => row,
            None => {
                let create = statement(
                    &mut tx,
                    statements,
                    "INSERT INTO hub_spaces (space, next, states, bytes) VALUES ($1, 1, 0, 0) \
                     ON CONFLICT (space) DO NOTHING",
                )
                .map_err(err)?;
                tx.execute(&create, &[&space.as_str()]).map_err(err)?;
                tx.query_one(&lock, &[&space.as_str()]).map_err(err)?
            }
        };
        let next = unsigned(row.get(0));
        let counts = SpaceCounts { states: unsigned(row.get(1)), bytes: unsigned(row.get(2)) };
        let mut ids: Vec<&str> = states.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let read = statement(&mut tx, statements, "SELECT id, body FROM hub_states WHERE space = $1 AND id = ANY($2)")
            .map_err(err)?;
        let mut stored = HashMap::new();
        for row in tx.query(&read, &[&space.as_str(), &ids]).map_err(err)? {
            stored.insert(row.get::<_, String>(0), Arc::new(page::decode(row.get::<_, &[u8]>(1))?));
        }
        let plan = plan_push(space.as_str(), states, stored, counts, policy, page::now_millis());
        if !plan.rows.is_empty() {
            let n = plan.rows.len();
            let (mut ids, mut collections, mut seqs, mut bytes, mut live, mut bodies) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for (i, row) in plan.rows.iter().enumerate() {
                ids.push(row.state.id.as_str());
                collections.push(row.state.collection.as_str());
                seqs.push(signed(next + i as u64));
                bytes.push(signed(row.bytes));
                live.push(row.live);
                bodies.push(page::encode(&row.state));
            }
            // The rows and the space's counts in one statement (one round trip).
            let write = statement(
                &mut tx,
                statements,
                "WITH written AS (INSERT INTO hub_states (space, id, collection, seq, bytes, live, body) \
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::boolean[], $7::bytea[]) \
                 ON CONFLICT (space, id) DO UPDATE SET collection = excluded.collection, seq = excluded.seq, \
                 bytes = excluded.bytes, live = excluded.live, body = excluded.body) \
                 UPDATE hub_spaces SET next = $8, states = $9, bytes = $10 WHERE space = $1",
            )
            .map_err(err)?;
            let (next, states, bytes_total) =
                (signed(next + n as u64), signed(plan.counts.states), signed(plan.counts.bytes));
            tx.execute(
                &write,
                &[&space.as_str(), &ids, &collections, &seqs, &bytes, &live, &bodies, &next, &states, &bytes_total],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(plan.outcome)
    }

    fn ready(&self) -> Result<()> {
        let mut conn = self.client()?;
        conn.client.simple_query("SELECT 1").map(drop).map_err(|e| storage(format!("querying {}", self.target), e))
    }

    fn spaces(&self) -> Result<Vec<SpaceHead>> {
        let mut conn = self.client()?;
        let Conn { client, statements } = &mut *conn;
        let err = |e: postgres::Error| storage(format!("listing the spaces in {}", self.target), e);
        let list = statement(client, statements, "SELECT space, next FROM hub_spaces").map_err(err)?;
        let mut heads = client
            .query(&list, &[])
            .map_err(err)?
            .iter()
            .map(|row| {
                let space: &str = row.get(0);
                Ok(SpaceHead { space: page::stored_space(space)?, latest: unsigned(row.get::<_, i64>(1) - 1) })
            })
            .collect::<Result<Vec<_>>>()?;
        // In byte order, whatever the database's collation.
        heads.sort_by(|a, b| a.space.cmp(&b.space));
        Ok(heads)
    }

    fn export_space(&self, space: &SpaceId) -> Result<SpaceExport> {
        let mut conn = self.client()?;
        let Conn { client, statements } = &mut *conn;
        let err = |e: postgres::Error| storage(format!("reading space {space} in {}", self.target), e);
        // REPEATABLE READ: the space's sequence and its rows from one snapshot, as a pull's.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(err)?;
        let head = statement(&mut tx, statements, "SELECT next FROM hub_spaces WHERE space = $1").map_err(err)?;
        let next: i64 = tx.query_opt(&head, &[&space.as_str()]).map_err(err)?.map_or(1, |row| row.get(0));
        let rows = statement(&mut tx, statements, "SELECT body FROM hub_states WHERE space = $1").map_err(err)?;
        let states = tx
            .query(&rows, &[&space.as_str()])
            .map_err(err)?
            .iter()
            .map(|row| page::decode(row.get::<_, &[u8]>(0)))
            .collect::<Result<Vec<_>>>()?;
        tx.commit().map_err(err)?;
        Ok(SpaceExport { states: page::by_id(states), latest: unsigned(next - 1) })
    }
}
