// SyncManager, the replica of the JS API (node/index.d.ts), written once for both packages over
// the engine's NativeReplica (js/src/native.ts): options objects become arguments, data JSON
// text, what the engine returns the API's values, what it throws a SyncError carrying what an
// application callback threw as its `cause`, and its events the listeners' events. The engine
// does the rest: the napi addon in Node (node/lib/engine.cjs), the WebAssembly module with
// IndexedDB, tabs and rounds over fetch in the browser (wasm/ts/engine.ts).
import type * as api from 'statesync-api'
import type {
  CallbackSlot,
  NativeCounts,
  NativeEngine,
  NativeEvent,
  NativeRejection,
  NativeReplica,
  NativeReport,
  NativeStrategy,
} from './native.js'
import { SyncError } from './errors.js'
import { engineSlot } from './registry.js'
import { DELETED, dataJson, resolutionParts } from './convert.js'
import { clockHandle } from './clocks.js'
import { eventsIterator } from './events.js'
import { Listeners } from './listeners.js'
import {
  ChangeSet,
  SyncState,
  Snapshot,
  changeSetOf,
  conflictOfText,
  conflictsOfText,
  operationsOfText,
  ownStates,
  snapshotOfText,
  snapshotText,
  stateOfRef,
} from './values.js'

// `Symbol.asyncDispose` where the engine lacks it (the API shape names it; older browsers).
;(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('Symbol.asyncDispose')

/** The engine, registered by the package when it loads. */
const slot = engineSlot<NativeEngine>()

/** Registers the engine replicas are opened on; the package does it once, when it loads. */
export const useNativeEngine: (engine: NativeEngine) => void = slot.use

const engine = slot.get

function invalidInput(message: string): never {
  throw new SyncError('INVALID_INPUT', message)
}

/**
 * The API's counts of the engine's: each refusal's kept version (`current`) made a SyncState,
 * or null when the refusing replica keeps none or did not say. Most results refuse nothing and
 * pass as they are.
 */
function countsOf(n: NativeCounts): api.ReconciliationResult {
  if (n.rejections.length === 0) return n as api.ReconciliationResult
  const rejections = n.rejections.map((r) => ({
    id: r.id,
    code: r.code,
    message: r.message,
    current: stateOfRef(r.current),
  }))
  return { ...n, rejections }
}

/** The API's report of the engine's (see `countsOf`). */
function reportOf(n: NativeReport): api.SyncReport {
  return { pulled: countsOf(n.pulled), pushed: countsOf(n.pushed) }
}

/** The API's record of a refusal: `own` as a boolean, the kept version a SyncState or null. */
function rejectionOf(n: NativeRejection): api.Rejection {
  const { stateId, code, message, rejectedAt } = n
  return { stateId, code, message, rejectedAt, own: Boolean(n.own), current: stateOfRef(n.current) }
}

/**
 * A strategy as the engines take it: a name as it is (the core parses it), a resolver through
 * the adapter that never throws (js/src/native.ts `ResolverReply`), leaving what the
 * application's resolver threw in `slot`.
 */
function nativeStrategy(strategy: unknown, slot: CallbackSlot): NativeStrategy {
  if (typeof strategy === 'string') return strategy
  if (typeof strategy !== 'function') invalidInput('a strategy is a name or a function')
  const resolver = strategy as (local: SyncState, remote: SyncState) => unknown
  return (local, remote) => {
    try {
      const out = resolver(stateOfRef(local)!, stateOfRef(remote)!)
      if (out === DELETED) return { deleted: true }
      if (out !== null && typeof out === 'object' && typeof (out as { then?: unknown }).then === 'function') {
        throw new SyncError('RESOLVER', 'a resolver must return its result, not a Promise')
      }
      return { data: dataJson(out, 'the resolver result') }
    } catch (error) {
      slot.cause = error
      return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
    }
  }
}

/** The `collections` option: absent, or an array of collection names. */
function collectionsOf(options: { collections?: unknown } | undefined): string[] | undefined {
  const collections = options?.collections
  if (collections === undefined || collections === null) return undefined
  if (!Array.isArray(collections) || !collections.every((c) => typeof c === 'string')) {
    invalidInput('collections is an array of collection names')
  }
  return collections as string[]
}

/** An optional string option of `open`. */
function stringOption(name: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') invalidInput(`${name} is a string`)
  return value as string
}

/** An optional number option of `open`; the core checks it is whole and in range. */
function numberOption(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number') invalidInput(`${name} is a ${typeof value}: a whole number`)
  return value as number
}

/** The public form of an engine's event: only the fields its kind has. */
function publicEvent(e: NativeEvent): api.SyncEvent {
  switch (e.name) {
    case 'stateCreated':
    case 'stateUpdated':
    case 'stateDeleted':
      return { name: e.name, state: stateOfRef(e.state)! }
    case 'conflictDetected':
      return { name: e.name, conflict: conflictOfText(e.conflict as string) }
    case 'conflictResolved':
      return { name: e.name, conflictId: e.conflictId as string, stateId: e.stateId as string }
    case 'stateRejected':
      return { name: e.name, stateId: e.stateId as string, code: e.code as string, message: e.message as string }
    case 'syncFailed':
      return { name: e.name, peer: e.peer as string, message: e.message as string }
    case 'statusChanged':
      return { name: e.name, previous: e.previous as api.Status, current: e.current as api.Status }
    default:
      return { name: e.name as 'syncStarted' | 'syncCompleted', peer: e.peer as string }
  }
}

/** Only `open` makes managers. */
const kCreate = Symbol('statesync.create')

/** How `open` makes a manager of the class it was called on (a package may extend SyncManager). */
type ManagerClass<M> = new (key: typeof kCreate, replica: NativeReplica, slot: CallbackSlot) => M

type Listener = (event: api.SyncEvent) => void

/** The engine's replica of a manager: for a package's own additions and tests, not the API. */
export let nativeReplicaOf: (manager: SyncManager) => NativeReplica

/** One replica. Cheap reads and local writes are synchronous; I/O that can block returns a Promise. */
export class SyncManager {
  readonly #n: NativeReplica
  /** What the last application callback (resolver, transport) threw: the cause of the error it led to. */
  readonly #slot: CallbackSlot
  /** The application's listeners (js/src/listeners.ts): the engine delivers while there are any. */
  readonly #listeners = new Listeners<api.SyncEvent>()
  #listening = false

  /** @internal Made by `SyncManager.open` only (the API declares no public constructor). */
  constructor(key?: typeof kCreate, replica?: NativeReplica, slot?: CallbackSlot) {
    if (key !== kCreate || replica === undefined || slot === undefined) {
      throw new TypeError('use `await SyncManager.open({...})`')
    }
    this.#n = replica
    this.#slot = slot
  }

  static {
    nativeReplicaOf = (manager) => manager.#n
  }

  /** Opens (creating if missing) a replica. */
  static async open(options: api.OpenOptions = {}): Promise<SyncManager> {
    if (options === null || typeof options !== 'object') invalidInput('open() takes an options object')
    const slot: CallbackSlot = { cause: undefined }
    const collectionStrategies: [string, NativeStrategy][] = []
    for (const [collection, s] of Object.entries(options.collectionStrategies ?? {})) {
      if (collection === '') invalidInput('a collection name is not empty')
      collectionStrategies.push([collection, nativeStrategy(s, slot)])
    }
    const replica = await engine()
      .open(
        {
          nodeId: stringOption('nodeId', options.nodeId),
          path: stringOption('path', options.path),
          strategy: nativeStrategy(options.strategy ?? 'lastWriteWins', slot),
          collectionStrategies,
          clock: clockHandle(options.clock),
          checkResolver: Boolean(options.checkResolver),
          maxClockSkewMs: numberOption('maxClockSkewMs', options.maxClockSkewMs),
          maxStateBytes: numberOption('maxStateBytes', options.maxStateBytes),
          given: options,
        },
        slot,
      )
      .catch((error: unknown) => {
        throw engine().error(error)
      })
    // A package's subclass (the browser's) calls this as `super.open`: `this` is that class.
    return new (this as unknown as ManagerClass<SyncManager>)(kCreate, replica, slot)
  }

  /** The SyncError a call fails with, carrying what an application callback threw, if one did. */
  #fail(error: unknown): SyncError {
    const cause = this.#slot.cause
    this.#slot.cause = undefined
    const e = engine().error(error)
    if (cause === undefined || e.cause !== undefined) return e
    return new SyncError(e.code, e.message, { cause })
  }

  get nodeId(): string {
    try {
      return this.#n.nodeId
    } catch (error) {
      throw this.#fail(error)
    }
  }

  createState(data: api.JSONValue, options?: { id?: string; collection?: string }): SyncState {
    const json = dataJson(data)
    try {
      return stateOfRef(this.#n.createState(json, options?.id, options?.collection))!
    } catch (error) {
      throw this.#fail(error)
    }
  }

  getState(id: string): SyncState | null {
    try {
      return stateOfRef(this.#n.getState(id))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  updateState(id: string, data: api.JSONValue): SyncState {
    const json = dataJson(data)
    try {
      return stateOfRef(this.#n.updateState(id, json))!
    } catch (error) {
      throw this.#fail(error)
    }
  }

  deleteState(id: string): SyncState {
    try {
      return stateOfRef(this.#n.deleteState(id))!
    } catch (error) {
      throw this.#fail(error)
    }
  }

  listStates(options?: { collection?: string; includeDeleted?: boolean }): SyncState[] {
    try {
      return this.#n.listStates(options?.collection, Boolean(options?.includeDeleted)).map((r) => stateOfRef(r)!)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  pendingOperations(): api.SyncOperation[] {
    try {
      return operationsOfText(this.#n.pendingOperations())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  acknowledge(opIds: string[]): number {
    if (!Array.isArray(opIds)) invalidInput('acknowledge() takes an array of operation ids')
    try {
      return this.#n.acknowledge(opIds)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  applyRemoteState(state: api.SyncState): api.ApplyResult {
    if (!(state instanceof SyncState)) {
      invalidInput('applyRemoteState() takes a SyncState (SyncState.fromJSON() makes one)')
    }
    try {
      const r = this.#n.applyRemoteState(state)
      return {
        outcome: r.outcome,
        resolved: r.resolved,
        state: stateOfRef(r.state)!,
        conflict: r.conflict == null ? null : conflictOfText(r.conflict),
      }
    } catch (error) {
      throw this.#fail(error)
    }
  }

  reconcile(states: api.SyncState[]): api.ReconciliationResult {
    const own = ownStates(states, 'reconcile() takes an array of SyncState: it')
    try {
      return countsOf(this.#n.reconcile(own))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  conflicts(): api.SyncConflict[] {
    try {
      return conflictsOfText(this.#n.conflicts())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** States refused in sync rounds and not gone through since, oldest first. */
  rejections(): api.Rejection[] {
    try {
      return this.#n.rejections().map(rejectionOf)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  resolveConflict(conflictId: string, resolution: api.Resolution): SyncState {
    const { pick, data } = resolutionParts(resolution)
    try {
      return stateOfRef(this.#n.resolveConflict(conflictId, pick, data))!
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /**
   * Undoes one of this replica's own writes that a peer (a hub) refused: writes the peer's kept
   * version back (a deletion when it keeps none) with a clock that has seen both, so every
   * replica settles on it; the rejection goes. NOT_FOUND without a rejection of `stateId`,
   * INVALID_INPUT for a peer's version this replica refused.
   */
  revertRejected(stateId: string): SyncState {
    try {
      return stateOfRef(this.#n.revertRejected(stateId))!
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setStrategy(strategy: api.Strategy): void {
    const s = nativeStrategy(strategy, this.#slot)
    try {
      this.#n.setStrategy(s)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setCollectionStrategy(collection: string, strategy: api.Strategy | null): void {
    const s = strategy === null || strategy === undefined ? null : nativeStrategy(strategy, this.#slot)
    try {
      this.#n.setCollectionStrategy(collection, s)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  changesSince(options?: { cursor?: string | null } & api.ScopeOptions): ChangeSet {
    const collections = collectionsOf(options)
    try {
      const page = this.#n.changesSince(options?.cursor ?? undefined, collections, options?.limit ?? undefined)
      return changeSetOf(page.states, page.cursor, page.hasMore)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  applyChanges(peer: string, changes: api.ChangeSet, options?: { collections?: string[] }): api.ReconciliationResult {
    if (!(changes instanceof ChangeSet)) invalidInput('applyChanges() takes a ChangeSet')
    const collections = collectionsOf(options)
    try {
      return countsOf(this.#n.applyChanges(peer, changes as ChangeSet, collections))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  peerCursor(peer: string, options?: { collections?: string[] }): string | null {
    const collections = collectionsOf(options)
    try {
      return this.#n.peerCursor(peer, collections) ?? null
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setPeerCursor(peer: string, cursor: string | null, options?: { collections?: string[] }): void {
    const collections = collectionsOf(options)
    try {
      this.#n.setPeerCursor(peer, cursor ?? undefined, collections)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** A full round with another replica of this process. */
  async syncWith(other: api.SyncManager, options?: api.ScopeOptions): Promise<api.SyncReport> {
    if (!(other instanceof SyncManager)) invalidInput('syncWith() takes another SyncManager')
    const collections = collectionsOf(options)
    this.#slot.cause = undefined
    try {
      return reportOf(await this.#n.syncWith((other as SyncManager).#n, collections, options?.limit ?? undefined))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** A full round through a transport. */
  async sync(transport: api.Transport | api.HttpTransport, options?: api.ScopeOptions): Promise<api.SyncReport> {
    const collections = collectionsOf(options)
    this.#slot.cause = undefined
    try {
      return reportOf(await this.#n.sync(transport, collections, options?.limit ?? undefined))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** Rounds every `intervalMs`, with backoff after failures, until `stopAutoSync` or `close`. */
  startAutoSync(
    intervalMs: number,
    transport: api.Transport | api.HttpTransport,
    options?: { collections?: string[] },
  ): void {
    if (typeof intervalMs !== 'number') invalidInput('startAutoSync() takes an interval in milliseconds')
    const collections = collectionsOf(options)
    try {
      this.#n.startAutoSync(intervalMs, transport, { ...options, collections })
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** Resolves when the running round (if any) has ended; true if auto-sync was running. */
  async stopAutoSync(): Promise<boolean> {
    try {
      return await this.#n.stopAutoSync()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** Asks auto-sync for a round now; false when it is not running. */
  syncNow(): boolean {
    try {
      return this.#n.syncNow()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  get isAutoSyncing(): boolean {
    try {
      return this.#n.isAutoSyncing
    } catch (error) {
      throw this.#fail(error)
    }
  }

  exportState(): Snapshot {
    try {
      return snapshotOfText(this.#n.exportState())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  importState(snapshot: api.Snapshot | string, options?: { replace?: boolean }): api.ReconciliationResult {
    let text: string
    if (snapshot instanceof Snapshot) text = snapshotText(snapshot)
    else if (typeof snapshot === 'string') text = snapshot
    else invalidInput('importState() takes a Snapshot or its JSON text')
    try {
      return countsOf(this.#n.importState(text, Boolean(options?.replace)))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  status(): api.Status {
    try {
      return this.#n.status()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  on<K extends api.SyncEventName>(event: K, listener: api.SyncEventListener<K>): this {
    this.#listeners.add(event, listener as Listener)
    // Every on/once starts the engine's delivery when it is off, so a closed replica says CLOSED.
    this.#listen()
    return this
  }

  once<K extends api.SyncEventName>(event: K, listener: api.SyncEventListener<K>): this {
    this.#listeners.add(event, listener as Listener, true)
    this.#listen()
    return this
  }

  off<K extends api.SyncEventName>(event: K, listener: api.SyncEventListener<K>): this {
    // The last listener gone: the engine stops delivering (and its writes have less to do).
    if (this.#listeners.remove(event, listener as Listener)) this.#unlisten()
    return this
  }

  /** Every event from the moment of the call, until the signal aborts or the loop stops (js/src/events.ts). */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<api.SyncEvent> {
    const source = { on: (l: Listener) => this.on('event', l), off: (l: Listener) => this.off('event', l) }
    return eventsIterator<api.SyncEvent>(source, { signal: options.signal, keepAlive: engine().keepAliveEvents })
  }

  /** Stops auto-sync, flushes and releases the store; later calls throw CLOSED. */
  async close(): Promise<void> {
    try {
      await this.#n.close()
    } catch (error) {
      throw this.#fail(error)
    } finally {
      // Only now: listeners still get what closing emits (statusChanged to "closed").
      this.#unlisten()
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #listen(): void {
    if (this.#listening) return
    const listeners = this.#listeners
    try {
      this.#n.listen((e) => listeners.dispatch(publicEvent(e)))
    } catch (error) {
      throw this.#fail(error)
    }
    this.#listening = true
  }

  #unlisten(): void {
    if (!this.#listening) return
    this.#listening = false
    try {
      this.#n.unlisten()
    } catch (error) {
      throw this.#fail(error)
    }
  }
}
