// The WebAssembly module (wasm/src) as the engine of the JS layer both packages share (js/src,
// compiled into dist/shared/ by build.sh): values, clocks, the wire format and replicas. A
// replica here is what only a browser has around the core: a persistent one journals each commit
// to IndexedDB before the call returns (storage.ts), tabs exchange their commits (tabs.ts), sync
// rounds run over fetch (transport.ts), auto-sync runs on timers, and a replica lets go of its
// database when a bug stops its WebAssembly instance (runtime.ts).
/// <reference path="./browser.d.ts" />
import type * as shape from "./statesync.js";
import type { Manager, State } from "./wasm/statesync_wasm.js";
import type {
  NativeCounts,
  NativeEvent,
  NativeOpenOptions,
  NativeRejection,
  NativeReplica,
  NativeReport,
  NativeStrategy,
} from "./shared/native.js";
import { forget, instance, isStopped, ready, wasm, type Instance } from "./runtime.js";
import { SyncError, asSyncError } from "./errors.js";
import { IdbStore, type JournalRecord } from "./storage.js";
import { TabChannel, leaseSlot, slotNames, type TabMessage } from "./tabs.js";
import { HttpTransport, runRound } from "./transport.js";
import { checkTransport } from "./shared/transport.js";
import { ChangeSet, SyncState, changeSetText, stateHandle, stateText, useNativeValues } from "./shared/values.js";
import { useNativeClocks } from "./shared/clocks.js";
import { useNativeWire } from "./shared/wire.js";
import { useNativeEngine } from "./shared/manager.js";

type Clock = shape.Clock;
type WireKind = "state" | "changeset" | "snapshot" | "pending";

// A state's handle is a wasm-bindgen `State` (wasm/src/values.rs), which dies with the
// WebAssembly instance that made it (runtime.ts replaces an instance a trap stopped), so a state
// then reads its handle again from its text.
useNativeValues<State>({
  stateFromJson: (text) => wasm.State.fromJson(text),
  stateJson: (handle) => handle.json(),
  stateEquals: (a, b) => a.equals(b),
  usable: (handle) => !isStopped(handle),
  snapshotJson: (text) => wasm.wireDecode("snapshot", new TextEncoder().encode(text), "json"),
});

// The module takes clocks as JSON text and gives merged ones back as JSON text (wasm/src/lib.rs).
useNativeClocks({
  compare: (a, b) => wasm.compareClocks(JSON.stringify(a), JSON.stringify(b)) as shape.ClockOrdering,
  merge: (a, b) => JSON.parse(wasm.mergeClocks(JSON.stringify(a), JSON.stringify(b))) as Clock,
  dominates: (a, b) => wasm.dominates(JSON.stringify(a), JSON.stringify(b)),
  increment: (clock, node) => JSON.parse(wasm.incrementClock(JSON.stringify(clock), node)) as Clock,
  manualClock: (millis) => new wasm.ManualClock(millis),
});

/** zstd is a C library the browser build leaves out. */
/**
 * Counts as the module gives them (parsed JSON): a refusal's kept version (`current`) arrives as
 * its wire JSON object and goes to the shared layer as its text, a StateRef (js/src/native.ts).
 */
function keptAsText(counts: NativeCounts): NativeCounts {
  for (const r of counts.rejections) {
    if (r.current !== null && typeof r.current === "object") r.current = JSON.stringify(r.current);
  }
  return counts;
}

/** The counts of the module's JSON text (see `keptAsText`). */
const countsOfJson = (text: string): NativeCounts => keptAsText(JSON.parse(text) as NativeCounts);

/** A round's report as the module gives it (see `keptAsText`). */
function reportOf(report: NativeReport): NativeReport {
  return { pulled: keptAsText(report.pulled), pushed: keptAsText(report.pushed) };
}

function noZstd(): never {
  throw new SyncError("UNSUPPORTED_FORMAT", "unsupported format: the browser package has no zstd");
}

// Every message crosses as its JSON value text (wasm/src/wire.rs).
const encodeAs = (kind: WireKind, text: string, encoding: string | undefined) =>
  wasm.wireEncode(kind, text, encoding) as Uint8Array<ArrayBuffer>;
useNativeWire({
  // The shared layer hands over its own SyncState (checked by `encode`).
  encodeState: (state, encoding) => encodeAs("state", stateText(state as SyncState), encoding),
  encodeChangeSet: (changes, encoding) => encodeAs("changeset", changeSetText(changes), encoding),
  encodeSnapshot: (text, encoding) => encodeAs("snapshot", text, encoding),
  encodeOperations: (text, encoding) => encodeAs("pending", text, encoding),
  decodeState: (bytes, encoding) => wasm.wireDecode("state", bytes, encoding),
  decodeChangeSet: (bytes, encoding) => {
    const w = JSON.parse(wasm.wireDecode("changeset", bytes, encoding)) as { states: object[]; cursor: string; has_more: boolean };
    return { states: w.states.map((s) => JSON.stringify(s)), cursor: w.cursor, hasMore: w.has_more };
  },
  decodeSnapshot: (bytes, encoding) => wasm.wireDecode("snapshot", bytes, encoding),
  decodeOperations: (bytes, encoding) => wasm.wireDecode("pending", bytes, encoding),
  compress: noZstd,
  decompress: noZstd,
});

/** The options of `startAutoSync` in the browser: the shared ones plus its backoff. */
interface AutoSyncOptions {
  collections?: string[];
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

interface AutoSync {
  intervalMs: number;
  transport: unknown;
  collections: string[] | undefined;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  running: Promise<number> | null;
  again: boolean;
  failures: number;
  offline: boolean;
}

const INTERNAL = Symbol("internal");

/** One replica in the browser: the module's `Manager` and what the browser adds around it. */
export class BrowserReplica implements NativeReplica {
  readonly #m: Manager;
  /** The WebAssembly instance `#m` lives in (runtime.ts): when it stops, this replica lets go. */
  readonly #inst: Instance;
  readonly #cancelOnStop: () => void;
  /** Set when the instance stopped: resolves once this replica has let go of its database. */
  #lettingGo: Promise<void> | null = null;
  readonly #store: IdbStore | null;
  readonly #release: () => void;
  #tabs: TabChannel | null = null;
  /** Where the core's events go while the manager has listeners. */
  #deliver: ((event: NativeEvent) => void) | null = null;
  #auto: AutoSync | null = null;
  #closed = false;
  #onOnline: (() => void) | null = null;
  /** The pool slot this tab's replica was leased from (0 outside the browser). */
  readonly slot: number;

  private constructor(token: typeof INTERNAL, inst: Instance, m: Manager, store: IdbStore | null, slot: number, release: () => void) {
    if (token !== INTERNAL) throw new SyncError("INVALID_INPUT", "use SyncManager.open");
    this.#inst = inst;
    this.#m = m;
    this.#store = store;
    this.slot = slot;
    this.#release = release;
    this.#cancelOnStop = inst.onStop(() => (this.#lettingGo = this.#letGo()));
  }

  /**
   * Opens a replica. After a bug stopped the WebAssembly module (INTERNAL), this is the
   * recovery: it runs on a fresh instance and reads the replica back from IndexedDB.
   */
  static async open(options: NativeOpenOptions): Promise<BrowserReplica> {
    // With the browser-only options (browser.d.ts).
    const given = options.given as shape.OpenOptions;
    let store: IdbStore | null = null;
    let lease = { slot: 0, release: () => {} };
    let nodeId = options.nodeId;
    let image: string | undefined;
    let made: BrowserReplica | undefined;
    try {
      // After a trap: the fresh instance, and the stopped replicas' databases and leases let go.
      await ready();
      if (options.path !== undefined) {
        if (options.path === "") throw new SyncError("INVALID_INPUT", "invalid input: path must be a non-empty string");
        if (given.tabs !== false) lease = await leaseSlot(options.path);
        const names = slotNames(options.path, options.nodeId, lease.slot);
        nodeId = names.nodeId;
        store = await IdbStore.open(names.db, given.indexedDB ?? globalThis.indexedDB);
        image = await store.image();
      }
      const inst = instance();
      const clock = options.clock as InstanceType<typeof wasm.ManualClock> | undefined;
      const m = new inst.glue.Manager(
        nodeId,
        image,
        clock?.share(),
        options.strategy,
        options.checkResolver,
        options.maxClockSkewMs,
        options.maxStateBytes,
      );
      const replica = new BrowserReplica(INTERNAL, inst, m, store, lease.slot, lease.release);
      made = replica;
      for (const [collection, s] of options.collectionStrategies) replica.setCollectionStrategy(collection, s);
      replica.#flush();
      if (store && options.path !== undefined && given.tabs !== false && typeof BroadcastChannel !== "undefined") {
        replica.#tabs = new TabChannel(options.path, replica.nodeId, (msg) => replica.#fromTab(msg));
        replica.#tabs.send("hello", replica.#allStates());
      }
      if (given.online !== false && typeof globalThis.addEventListener === "function") {
        replica.#onOnline = () => {
          if (replica.#auto) replica.#auto.offline = false;
          replica.syncNow();
        };
        globalThis.addEventListener("online", replica.#onOnline);
      }
      return replica;
    } catch (e) {
      if (made) made.#cancelOnStop();
      await store?.close();
      lease.release();
      throw asSyncError(e);
    }
  }

  get nodeId(): string {
    return this.#m.nodeId();
  }

  /** Delivers what the last core call produced: journal records to IndexedDB and the other tabs, events to the listeners. */
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
    if (this.#deliver !== null) {
      const text = this.#m.takeEvents();
      if (text !== undefined) this.#dispatch(JSON.parse(text) as NativeEvent[]);
    }
  }

  #dispatch(events: NativeEvent[]): void {
    for (const e of events) this.#deliver?.(e);
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

  createState(json: string, id: string | undefined, collection: string | undefined): State {
    return this.#run(() => this.#m.createState(json, id, collection));
  }

  getState(id: string): State | undefined {
    return this.#m.getState(id);
  }

  updateState(id: string, json: string): State {
    const h = this.#m.updateState(id, json);
    if (this.#store !== null || this.#deliver !== null) this.#flush();
    return h;
  }

  deleteState(id: string): State {
    return this.#run(() => this.#m.deleteState(id));
  }

  listStates(collection: string | undefined, includeDeleted: boolean): State[] {
    return this.#m.listStates(collection, includeDeleted);
  }

  pendingOperations(): string {
    return this.#m.pendingOperations();
  }

  acknowledge(opIds: string[]): number {
    return this.#run(() => this.#m.acknowledge(opIds));
  }

  applyRemoteState(state: SyncState) {
    const r = this.#run(() => this.#m.applyRemoteState(stateHandle(state) as State));
    try {
      return { outcome: r.outcome() as shape.ApplyResult["outcome"], resolved: r.resolved(), state: r.state(), conflict: r.conflict() };
    } finally {
      r.free();
    }
  }

  reconcile(states: SyncState[]): NativeCounts {
    const text = `[${states.map(stateText).join(",")}]`;
    return countsOfJson(this.#run(() => this.#m.reconcile(text)));
  }

  conflicts(): string {
    return this.#m.conflicts();
  }

  rejections(): NativeRejection[] {
    return JSON.parse(this.#m.rejections()) as NativeRejection[];
  }

  resolveConflict(conflictId: string, pick: "local" | "remote" | undefined, data: string | undefined): State {
    return this.#run(() => this.#m.resolveConflict(conflictId, pick, data));
  }

  revertRejected(stateId: string): State {
    return this.#run(() => this.#m.revertRejected(stateId));
  }

  setStrategy(strategy: NativeStrategy): void {
    this.#m.setStrategy(strategy);
  }

  setCollectionStrategy(collection: string, strategy: NativeStrategy | null): void {
    this.#m.setCollectionStrategy(collection, strategy);
  }

  changesSince(cursor: string | undefined, collections: string[] | undefined, limit: unknown) {
    const page = this.#m.changesSince(cursor, collections ?? [], limit as number | undefined);
    try {
      return { states: page.states(), cursor: page.cursor(), hasMore: page.hasMore() };
    } finally {
      page.free();
    }
  }

  applyChanges(peer: string, changes: ChangeSet, collections: string[] | undefined): NativeCounts {
    return countsOfJson(this.#run(() => this.#m.applyChanges(peer, changeSetText(changes), collections ?? [])));
  }

  peerCursor(peer: string, collections: string[] | undefined): string | undefined {
    return this.#m.peerCursor(peer, collections ?? []);
  }

  setPeerCursor(peer: string, cursor: string | undefined, collections: string[] | undefined): void {
    this.#run(() => this.#m.setPeerCursor(peer, cursor, collections ?? []));
  }

  async syncWith(other: NativeReplica, collections: string[] | undefined, limit: unknown): Promise<NativeReport> {
    if (!(other instanceof BrowserReplica)) throw new SyncError("INVALID_INPUT", "invalid input: not a SyncManager of this package");
    try {
      return reportOf(JSON.parse(this.#m.syncWith(other.#m, collections ?? [], limit as number | undefined)));
    } finally {
      this.#flush();
      other.#flush();
    }
  }

  async sync(transport: unknown, collections: string[] | undefined, limit: unknown): Promise<NativeReport> {
    this.#inst.check([]);
    if (this.#closed) throw new SyncError("CLOSED", "the sync manager is closed");
    if (!(transport instanceof HttpTransport)) checkTransport(transport);
    const options = { collections, limit: limit as number | undefined };
    return reportOf(await runRound(this.#inst.glue, this.#m, transport as shape.Transport | HttpTransport, options, () => this.#flush()));
  }

  /** Rounds every `intervalMs`, with backoff after failures, paused while offline, until stopped. */
  startAutoSync(intervalMs: number, transport: unknown, options: AutoSyncOptions): void {
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
      collections: options.collections,
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
    a.running = this.sync(a.transport, a.collections, undefined).then(
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

  async stopAutoSync(): Promise<boolean> {
    const a = this.#auto;
    if (!a) return false;
    this.#auto = null;
    clearTimeout(a.timer);
    if (a.running) await a.running;
    return true;
  }

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

  exportState(): string {
    return this.#m.exportState();
  }

  importState(text: string, replace: boolean): NativeCounts {
    return countsOfJson(this.#run(() => this.#m.importState(text, replace)));
  }

  status(): shape.Status {
    return this.#m.status() as shape.Status;
  }

  /** Resolves when every write acknowledged so far is in IndexedDB (STORAGE if one failed). */
  async persisted(): Promise<void> {
    await this.#store?.persisted();
  }

  /** Has the core queue events for `deliver`, unless the replica is closed. */
  listen(deliver: (event: NativeEvent) => void): void {
    if (this.#closed) return;
    this.#m.setListening(true);
    this.#deliver = deliver;
  }

  /** The core stops queueing events (and writes flush less). */
  unlisten(): void {
    this.#deliver = null;
    if (!this.#closed) this.#m.setListening(false);
  }

  /**
   * Stops auto-sync, flushes and releases the store. After INTERNAL (the module stopped),
   * resolves once the replica has let go of its database.
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
}

useNativeEngine({
  open: (options) => BrowserReplica.open(options),
  error: (thrown) => asSyncError(thrown),
  keepAliveEvents: false,
});
