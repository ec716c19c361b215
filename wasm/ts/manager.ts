// SyncManager: one replica. Local reads and writes are synchronous calls into the core; a
// persistent replica journals each commit to IndexedDB before the call returns (storage.ts),
// tabs exchange their commits (tabs.ts), and sync rounds run over fetch (transport.ts).
/// <reference path="./browser.d.ts" />
import type * as shape from "./statesync.js";
import type { Manager, State } from "./wasm/statesync_wasm.js";
import { forget, instance, ready, wasm, type Instance } from "./runtime.js";
import { SyncError, asSyncError } from "./errors.js";
import { ChangeSet, DELETED, ManualClock, Snapshot, SyncConflict, SyncOperation, SyncState } from "./values.js";
import { IdbStore, type JournalRecord } from "./storage.js";
import { TabChannel, leaseSlot, slotNames, type TabMessage } from "./tabs.js";
import { HttpTransport, runRound } from "./transport.js";
// Compiled from js/src/ by build.sh (into dist/shared/): the code both packages share.
import { eventsIterator } from "./shared/events.js";
import { changeSetOf, changeSetText, conflictOfText, conflictsOfText, operationsOfText, snapshotOfText, snapshotText, stateHandle, stateOfHandle, stateOfText, stateText } from "./shared/values.js";
import { Listeners } from "./shared/listeners.js";
import { dataJson, resolutionParts } from "./shared/convert.js";
import { checkTransport } from "./shared/transport.js";

type JSONValue = shape.JSONValue;
type Strategy = shape.Strategy;
type Listener = (event: shape.SyncEvent) => void;

const INTERNAL = Symbol("internal");

/** JSON text of application data (js/src/convert.ts, shared with Node). */
const json: (data: JSONValue) => string = dataJson;

/** A strategy as the core takes it: a name, or "custom" with a resolver over JSON text. */
function strategyArgs(strategy: Strategy): [string, ((l: string, r: string) => string | undefined) | undefined] {
  if (typeof strategy === "string") return [strategy, undefined];
  if (typeof strategy !== "function") throw new SyncError("INVALID_INPUT", "invalid input: a strategy is a name or a function");
  return [
    "custom",
    (local: string, remote: string) => {
      const merged = strategy(stateOfText(local), stateOfText(remote));
      if (merged === DELETED) return undefined;
      const text = JSON.stringify(merged);
      if (text === undefined) throw new TypeError("the resolver returned no JSON value (return DELETED to delete)");
      return text;
    },
  ];
}

/** A SyncState of this package (values from elsewhere go through the core's parser). */
function own(s: shape.SyncState): SyncState {
  if (s instanceof SyncState) return s;
  throw new SyncError("INVALID_STATE", "invalid state: not a SyncState (use SyncState.fromJSON)");
}

/** A limit option (`maxClockSkewMs`, `maxStateBytes`): absent, or a whole number, 0 or more. */
function limit(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new SyncError("INVALID_INPUT", `invalid input: ${name} must be a whole number, 0 or more (got ${String(value)})`);
  }
  return value;
}

function ownChanges(c: shape.ChangeSet): ChangeSet {
  if (c instanceof ChangeSet) return c;
  throw new SyncError("INVALID_INPUT", "invalid input: not a ChangeSet");
}

function events(text: string): shape.SyncEvent[] {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (JSON.parse(text) as any[]).map((e) => {
    if (typeof e.state === "string") e.state = stateOfText(e.state);
    if (typeof e.conflict === "string") e.conflict = conflictOfText(e.conflict);
    return e as shape.SyncEvent;
  });
}

interface AutoSync {
  intervalMs: number;
  transport: shape.Transport | HttpTransport;
  options: shape.ScopeOptions;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  running: Promise<number> | null;
  again: boolean;
  failures: number;
  offline: boolean;
}

/** One replica. Cheap reads and local writes are synchronous; I/O that can block returns a Promise. */
export class SyncManager {
  readonly #m: Manager;
  /** The WebAssembly instance `#m` lives in (runtime.ts): when it stops, this replica lets go. */
  readonly #inst: Instance;
  readonly #cancelOnStop: () => void;
  /** Set when the instance stopped: resolves once this replica has let go of its database. */
  #lettingGo: Promise<void> | null = null;
  readonly #store: IdbStore | null;
  readonly #release: () => void;
  #tabs: TabChannel | null = null;
  /** The application's listeners (js/src/listeners.ts, shared with Node). */
  #listeners = new Listeners<shape.SyncEvent>();
  #listening = false;
  #auto: AutoSync | null = null;
  #closed = false;
  #onOnline: (() => void) | null = null;
  /** @internal The pool slot this tab's replica was leased from (0 outside the browser). */
  readonly slot: number;

  private constructor(
    token?: typeof INTERNAL,
    inst?: Instance,
    m?: Manager,
    store?: IdbStore | null,
    slot?: number,
    release?: () => void,
  ) {
    if (token !== INTERNAL || !m || !inst) throw new SyncError("INVALID_INPUT", "use SyncManager.open");
    this.#inst = inst;
    this.#m = m;
    this.#store = store ?? null;
    this.slot = slot ?? 0;
    this.#release = release ?? (() => {});
    this.#cancelOnStop = inst.onStop(() => (this.#lettingGo = this.#letGo()));
  }

  /**
   * Opens (creating if missing) a replica. After a bug stopped the WebAssembly module (INTERNAL),
   * this is the recovery: it runs on a fresh instance and reads the replica back from IndexedDB.
   */
  static async open(options: shape.OpenOptions = {}): Promise<SyncManager> {
    const maxClockSkewMs = limit("maxClockSkewMs", options.maxClockSkewMs);
    const maxStateBytes = limit("maxStateBytes", options.maxStateBytes);
    let store: IdbStore | null = null;
    let lease = { slot: 0, release: () => {} };
    let nodeId = options.nodeId;
    let image: string | undefined;
    let manager: SyncManager | undefined;
    try {
      // After a trap: the fresh instance, and the stopped replicas' databases and leases let go.
      await ready();
      if (options.path !== undefined) {
        if (typeof options.path !== "string" || options.path === "") {
          throw new SyncError("INVALID_INPUT", "invalid input: path must be a non-empty string");
        }
        if (options.tabs !== false) lease = await leaseSlot(options.path);
        const names = slotNames(options.path, options.nodeId, lease.slot);
        nodeId = names.nodeId;
        store = await IdbStore.open(names.db, options.indexedDB ?? globalThis.indexedDB);
        image = await store.image();
      }
      const [name, resolver] = strategyArgs(options.strategy ?? "lastWriteWins");
      const inst = instance();
      const m = new inst.glue.Manager(
        nodeId,
        image,
        (options.clock as ManualClock | undefined)?._share(),
        name,
        resolver,
        options.checkResolver,
        maxClockSkewMs,
        maxStateBytes,
      );
      const made = new SyncManager(INTERNAL, inst, m, store, lease.slot, lease.release);
      manager = made;
      for (const [collection, s] of Object.entries(options.collectionStrategies ?? {})) {
        made.setCollectionStrategy(collection, s);
      }
      made.#flush();
      if (store && options.path !== undefined && options.tabs !== false && typeof BroadcastChannel !== "undefined") {
        made.#tabs = new TabChannel(options.path, made.nodeId, (msg) => made.#fromTab(msg));
        made.#tabs.send("hello", made.#allStates());
      }
      if (options.online !== false && typeof globalThis.addEventListener === "function") {
        made.#onOnline = () => {
          if (made.#auto) made.#auto.offline = false;
          made.syncNow();
        };
        globalThis.addEventListener("online", made.#onOnline);
      }
      return made;
    } catch (e) {
      if (manager) manager.#cancelOnStop();
      await store?.close();
      lease.release();
      throw asSyncError(e);
    }
  }

  get nodeId(): string {
    return this.#m.nodeId();
  }

  /** Delivers what the last core call produced: journal records to IndexedDB and the other tabs, events to listeners. */
  #flush(): void {
    // After a trap nothing more is taken from the instance: the call's error stands.
    if (this.#inst.stopped) return;
    if (this.#store !== null) {
      const text = this.#m.takeJournal();
      if (text !== undefined) {
        const records = JSON.parse(text) as JournalRecord[];
        this.#store.write(records);
        if (this.#tabs) {
          const states = records.flatMap((r) => r.states.map((s) => s.body));
          if (states.length > 0) this.#tabs.send("changes", states);
        }
      }
    }
    if (this.#listening) {
      const text = this.#m.takeEvents();
      if (text !== undefined) this.#dispatch(events(text));
    }
  }

  #allStates(): string[] {
    return this.#m.listStates(undefined, true).map((h) => h.json());
  }

  #fromTab(msg: TabMessage): void {
    if (this.#closed) return;
    try {
      if (msg.states.length > 0) {
        this.#m.reconcile(`[${msg.states.join(",")}]`);
        this.#flush();
      }
      if (msg.type === "hello") {
        const states = this.#allStates();
        if (states.length > 0) this.#tabs?.send("changes", states);
      }
    } catch (e) {
      this.#dispatch([{ name: "syncFailed", peer: msg.from, message: asSyncError(e).message }]);
    }
  }

  /** Runs a core call, then delivers what it produced, also when it failed. */
  #run<T>(f: () => T): T {
    try {
      return f();
    } finally {
      this.#flush();
    }
  }

  createState(data: JSONValue, options: { id?: string; collection?: string } = {}): SyncState {
    return stateOfHandle(this.#run(() => this.#m.createState(json(data), options.id, options.collection)));
  }

  getState(id: string): SyncState | null {
    const h = this.#m.getState(id);
    return h === undefined ? null : stateOfHandle(h);
  }

  updateState(id: string, data: JSONValue): SyncState {
    const h = this.#m.updateState(id, json(data));
    if (this.#store !== null || this.#listening) this.#flush();
    return stateOfHandle(h);
  }

  deleteState(id: string): SyncState {
    return stateOfHandle(this.#run(() => this.#m.deleteState(id)));
  }

  listStates(options: { collection?: string; includeDeleted?: boolean } = {}): SyncState[] {
    return this.#m.listStates(options.collection, options.includeDeleted ?? false).map(stateOfHandle);
  }

  pendingOperations(): SyncOperation[] {
    return operationsOfText(this.#m.pendingOperations());
  }

  acknowledge(opIds: string[]): number {
    return this.#run(() => this.#m.acknowledge(opIds));
  }

  applyRemoteState(state: shape.SyncState): shape.ApplyResult {
    const r = this.#run(() => this.#m.applyRemoteState(stateHandle(own(state)) as State));
    const conflict = r.conflict();
    const result = {
      outcome: r.outcome() as shape.ApplyResult["outcome"],
      resolved: r.resolved(),
      state: stateOfHandle(r.state()),
      conflict: conflict === undefined ? null : conflictOfText(conflict),
    };
    r.free();
    return result;
  }

  reconcile(states: shape.SyncState[]): shape.ReconciliationResult {
    const text = `[${states.map((s) => stateText(own(s))).join(",")}]`;
    return JSON.parse(this.#run(() => this.#m.reconcile(text)));
  }

  conflicts(): SyncConflict[] {
    return conflictsOfText(this.#m.conflicts());
  }

  /** States refused in sync rounds and not gone through since, oldest first. */
  rejections(): shape.Rejection[] {
    return JSON.parse(this.#m.rejections()) as shape.Rejection[];
  }

  resolveConflict(conflictId: string, resolution: shape.Resolution): SyncState {
    const { pick, data } = resolutionParts(resolution);
    const h = this.#run(() => this.#m.resolveConflict(conflictId, pick, data));
    return stateOfHandle(h);
  }

  setStrategy(strategy: Strategy): void {
    const [name, resolver] = strategyArgs(strategy);
    this.#m.setStrategy(name, resolver);
  }

  setCollectionStrategy(collection: string, strategy: Strategy | null): void {
    if (strategy === null) {
      this.#m.setCollectionStrategy(collection, undefined, undefined);
    } else {
      const [name, resolver] = strategyArgs(strategy);
      this.#m.setCollectionStrategy(collection, name, resolver);
    }
  }

  changesSince(options: { cursor?: string | null } & shape.ScopeOptions = {}): ChangeSet {
    const page = this.#m.changesSince(options.cursor ?? undefined, options.collections ?? [], options.limit);
    const result = changeSetOf(page.states(), page.cursor(), page.hasMore());
    page.free();
    return result;
  }

  applyChanges(peer: string, changes: shape.ChangeSet, options: { collections?: string[] } = {}): shape.ReconciliationResult {
    return JSON.parse(this.#run(() => this.#m.applyChanges(peer, changeSetText(ownChanges(changes)), options.collections ?? [])));
  }

  peerCursor(peer: string, options: { collections?: string[] } = {}): string | null {
    return this.#m.peerCursor(peer, options.collections ?? []) ?? null;
  }

  setPeerCursor(peer: string, cursor: string | null, options: { collections?: string[] } = {}): void {
    this.#run(() => this.#m.setPeerCursor(peer, cursor ?? undefined, options.collections ?? []));
  }

  /** A full bidirectional round with another replica of this page. */
  async syncWith(other: shape.SyncManager, options: shape.ScopeOptions = {}): Promise<shape.SyncReport> {
    if (!(other instanceof SyncManager)) throw new SyncError("INVALID_INPUT", "invalid input: not a SyncManager");
    try {
      return JSON.parse(this.#m.syncWith(other.#m, options.collections ?? [], options.limit));
    } finally {
      this.#flush();
      other.#flush();
    }
  }

  /** A full round with a peer through a transport (HttpTransport: over fetch). */
  async sync(transport: shape.Transport | HttpTransport, options: shape.ScopeOptions = {}): Promise<shape.SyncReport> {
    this.#inst.check([]);
    if (this.#closed) throw new SyncError("CLOSED", "the sync manager is closed");
    return runRound(this.#inst.glue, this.#m, transport, options, () => this.#flush());
  }

  /** Rounds every `intervalMs`, with backoff after failures, paused while offline, until stopped. */
  startAutoSync(
    intervalMs: number,
    transport: shape.Transport | HttpTransport,
    options: { collections?: string[]; backoffBaseMs?: number; backoffMaxMs?: number } = {},
  ): void {
    this.#inst.check([]);
    if (this.#closed) throw new SyncError("CLOSED", "the sync manager is closed");
    if (this.#auto) throw new SyncError("INVALID_INPUT", "invalid input: auto-sync is already running: stop it first");
    if (!(transport instanceof HttpTransport)) checkTransport(transport);
    const backoffBaseMs = options.backoffBaseMs ?? 500;
    const backoffMaxMs = options.backoffMaxMs ?? 60_000;
    if (!(intervalMs > 0) || !(backoffBaseMs > 0) || backoffMaxMs < backoffBaseMs) {
      throw new SyncError("INVALID_INPUT", "invalid input: auto-sync interval and backoff must be positive");
    }
    this.#auto = {
      intervalMs,
      transport,
      options: { collections: options.collections },
      backoffBaseMs,
      backoffMaxMs,
      timer: undefined,
      running: null,
      again: false,
      failures: 0,
      offline: false,
    };
    this.#schedule(this.#auto, 0);
  }

  #schedule(a: AutoSync, delay: number): void {
    clearTimeout(a.timer);
    a.timer = setTimeout(() => void this.#tick(a), delay);
  }

  async #tick(a: AutoSync): Promise<void> {
    if (this.#auto !== a || a.running) return;
    if ((globalThis.navigator as Navigator | undefined)?.onLine === false) {
      a.offline = true; // the `online` event resumes (syncNow)
      return;
    }
    a.again = false;
    a.running = this.sync(a.transport, a.options).then(
      () => {
        a.failures = 0;
        return a.intervalMs;
      },
      () => {
        a.failures += 1;
        return wasm.backoffDelay(a.failures, a.backoffBaseMs, a.backoffMaxMs, Math.random());
      },
    );
    const delay = await a.running;
    a.running = null;
    if (this.#auto === a && !this.#closed) this.#schedule(a, a.again ? 0 : delay);
  }

  /** Resolves when the running round (if any) has ended; true if auto-sync was running. */
  async stopAutoSync(): Promise<boolean> {
    const a = this.#auto;
    if (!a) return false;
    this.#auto = null;
    clearTimeout(a.timer);
    if (a.running) await a.running;
    return true;
  }

  /** Asks auto-sync for a round now; false when it is not running. */
  syncNow(): boolean {
    const a = this.#auto;
    if (!a) return false;
    if (a.running) a.again = true;
    else this.#schedule(a, 0);
    return true;
  }

  get isAutoSyncing(): boolean {
    return this.#auto !== null;
  }

  exportState(): Snapshot {
    return snapshotOfText(this.#m.exportState());
  }

  importState(snapshot: shape.Snapshot | string, options: { replace?: boolean } = {}): shape.ReconciliationResult {
    const text = typeof snapshot === "string" ? snapshot : snapshot instanceof Snapshot ? snapshotText(snapshot) : JSON.stringify(snapshot);
    return JSON.parse(this.#run(() => this.#m.importState(text, options.replace ?? false)));
  }

  status(): shape.Status {
    return this.#m.status() as shape.Status;
  }

  /** Browser: resolves when every write acknowledged so far is in IndexedDB (STORAGE if one failed). */
  async persisted(): Promise<void> {
    await this.#store?.persisted();
  }

  on<K extends shape.SyncEventName>(event: K, listener: shape.SyncEventListener<K>): this {
    this.#listeners.add(event, listener as Listener);
    this.#listen();
    return this;
  }

  once<K extends shape.SyncEventName>(event: K, listener: shape.SyncEventListener<K>): this {
    this.#listeners.add(event, listener as Listener, true);
    this.#listen();
    return this;
  }

  off<K extends shape.SyncEventName>(event: K, listener: shape.SyncEventListener<K>): this {
    // The last listener gone: the core stops queueing events (and writes flush less).
    if (this.#listeners.remove(event, listener as Listener) && this.#listening && !this.#closed) {
      this.#m.setListening(false);
      this.#listening = false;
    }
    return this;
  }

  /** Has the core queue events for the listeners, unless it does or the replica is closed. */
  #listen(): void {
    if (!this.#listening && !this.#closed) {
      this.#m.setListening(true);
      this.#listening = true;
    }
  }

  #dispatch(list: shape.SyncEvent[]): void {
    for (const e of list) this.#listeners.dispatch(e);
  }

  /** Every event from now on, until the signal aborts or the loop breaks (js/src/events.ts, shared with Node). */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<shape.SyncEvent> {
    const source = { on: (l: Listener) => this.on("event", l), off: (l: Listener) => this.off("event", l) };
    return eventsIterator<shape.SyncEvent>(source, { signal: options.signal });
  }

  /**
   * Stops auto-sync, flushes and releases the store; later calls throw CLOSED. After INTERNAL
   * (the module stopped), resolves once the replica has let go of its database.
   */
  async close(): Promise<void> {
    if (this.#lettingGo) return this.#lettingGo;
    if (this.#closed) return;
    await this.stopAutoSync();
    if (this.#lettingGo) return this.#lettingGo;
    this.#closed = true;
    this.#cancelOnStop();
    if (this.#onOnline) globalThis.removeEventListener?.("online", this.#onOnline);
    this.#tabs?.close();
    this.#tabs = null;
    try {
      this.#run(() => this.#m.close());
    } finally {
      await this.#store?.close();
      this.#release();
    }
  }

  /**
   * The instance stopped (a bug trapped in it): nothing more runs there, so this replica stops
   * its background work and lets go of its IndexedDB database (after the writes in flight) and
   * of its tab lease, for `SyncManager.open` to reopen it, on the same slot, from what was
   * written. Its calls throw INTERNAL from now on (runtime.ts).
   */
  async #letGo(): Promise<void> {
    this.#closed = true;
    if (this.#auto) clearTimeout(this.#auto.timer);
    this.#auto = null;
    if (this.#onOnline) globalThis.removeEventListener?.("online", this.#onOnline);
    this.#onOnline = null;
    this.#tabs?.close();
    this.#tabs = null;
    // Its finaliser would run Rust code in the stopped instance.
    forget(this.#m);
    try {
      await this.#store?.close();
    } finally {
      this.#release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
