// IndexedDB persistence. The core journals every committed transaction (its rows, never a
// snapshot); each record batch is written here in ONE IndexedDB transaction, opened and
// committed (`commit()`, durability "strict") before the call that made the change returns.
// A replica reopens from the rows read back (the core's JournalImage).
import { SyncError } from "./errors.js";

const STORES = ["meta", "states", "pending", "conflicts", "cursors", "rejections"] as const;
/**
 * The database version: 1 had no `rejections` store; 2 adds it (the upgrade creates the stores
 * a database lacks and leaves the others and their rows as they are).
 */
const SCHEMA = 2;

interface Row {
  key: string;
  seq: number;
  body: string;
}
/** A committed transaction's rows (the core's JournalRecord). */
export interface JournalRecord {
  clear: boolean;
  meta: object;
  states: Row[];
  ops_removed: number[];
  ops_added: { seq: number; body: string }[];
  conflicts_put: Row[];
  conflicts_removed: string[];
  cursors: { peer: string; scope: string; cursor: string | null }[];
  /** Rejection records to upsert, keyed by state id (`seq` 0). */
  rejections_put: Row[];
  /** Rejection records to delete, by state id. */
  rejections_removed: string[];
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function storageError(what: string, cause: unknown): SyncError {
  const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new SyncError("STORAGE", `storage error: ${what}: ${detail}`, { cause });
}

/** One replica's IndexedDB database. */
export class IdbStore {
  readonly name: string;
  #db: IDBDatabase;
  #inFlight = new Set<Promise<void>>();
  #failure: SyncError | null = null;

  private constructor(name: string, db: IDBDatabase) {
    this.name = name;
    this.#db = db;
  }

  /** Opens (creating if needed) the database `name`. */
  static async open(name: string, factory: IDBFactory | undefined): Promise<IdbStore> {
    if (!factory) {
      throw new SyncError(
        "STORAGE",
        "storage error: IndexedDB is not available here (in Node, pass `indexedDB` in the options, or omit `path`)",
      );
    }
    try {
      const open = factory.open(name, SCHEMA);
      open.onupgradeneeded = () => {
        const db = open.result;
        for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
      };
      const db = await request(open);
      return new IdbStore(name, db);
    } catch (e) {
      throw storageError(`opening IndexedDB database ${JSON.stringify(name)}`, e);
    }
  }

  /** The stored rows as the core's JournalImage JSON. */
  async image(): Promise<string> {
    try {
      const tx = this.#db.transaction([...STORES], "readonly");
      const all = (s: string) => Promise.all([request(tx.objectStore(s).getAllKeys()), request(tx.objectStore(s).getAll())]);
      const [
        [, meta],
        [stateKeys, states],
        [pendingKeys, pending],
        [conflictKeys, conflicts],
        [cursorKeys, cursors],
        [rejectionKeys, rejections],
      ] = await Promise.all(STORES.map(all));
      return JSON.stringify({
        meta: meta[0] ?? null,
        states: states.map((v: { seq: number; body: string }, i: number) => ({ key: stateKeys[i], seq: v.seq, body: v.body })),
        pending: pending.map((body: string, i: number) => ({ seq: pendingKeys[i], body })),
        conflicts: conflicts.map((v: { seq: number; body: string }, i: number) => ({ key: conflictKeys[i], ...v })),
        cursors: cursors.map((cursor: string, i: number) => {
          const [peer, scope] = cursorKeys[i] as [string, string];
          return { peer, scope, cursor };
        }),
        rejections: rejections.map((v: { seq: number; body: string }, i: number) => ({ key: rejectionKeys[i], ...v })),
      });
    } catch (e) {
      throw storageError("reading the replica", e);
    }
  }

  /** Writes journal records in one transaction, committed now; `persisted()` waits for it. */
  write(records: JournalRecord[]): void {
    let tx: IDBTransaction;
    try {
      tx = this.#db.transaction([...STORES], "readwrite", { durability: "strict" });
    } catch (e) {
      this.#failure ??= storageError("starting an IndexedDB transaction", e);
      throw this.#failure;
    }
    const [meta, states, pending, conflicts, cursors, rejections] = STORES.map((s) => tx.objectStore(s));
    for (const r of records) {
      if (r.clear) {
        states.clear();
        pending.clear();
        conflicts.clear();
        rejections.clear();
      }
      meta.put(r.meta, "replica");
      for (const s of r.states) states.put({ seq: s.seq, body: s.body }, s.key);
      for (const seq of r.ops_removed) pending.delete(seq);
      for (const op of r.ops_added) pending.put(op.body, op.seq);
      for (const c of r.conflicts_put) conflicts.put({ seq: c.seq, body: c.body }, c.key);
      for (const id of r.conflicts_removed) conflicts.delete(id);
      for (const c of r.cursors) {
        if (c.cursor === null) cursors.delete([c.peer, c.scope]);
        else cursors.put(c.cursor, [c.peer, c.scope]);
      }
      for (const id of r.rejections_removed) rejections.delete(id);
      for (const x of r.rejections_put) rejections.put({ seq: x.seq, body: x.body }, x.key);
    }
    const done = new Promise<void>((resolve) => {
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => {
        this.#failure ??= storageError("an IndexedDB transaction failed", tx.error);
        resolve();
      };
    });
    this.#inFlight.add(done);
    void done.then(() => this.#inFlight.delete(done));
    // Hand the transaction to the database process now rather than at the end of the task.
    tx.commit?.();
  }

  /** Resolves when every write issued so far is on disk; rejects with STORAGE if one failed. */
  async persisted(): Promise<void> {
    await Promise.all([...this.#inFlight]);
    if (this.#failure) throw this.#failure;
  }

  /** Waits for the writes in flight, then closes the database. */
  async close(): Promise<void> {
    await Promise.all([...this.#inFlight]);
    this.#db.close();
  }
}
