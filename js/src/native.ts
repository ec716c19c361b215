// What the shared JS layer needs from an engine: the typed native interface that the napi addon
// (adapted by node/lib/engine.cjs) and the wasm module (adapted by wasm/ts/engine.ts, whose
// replica adds what only a browser has: IndexedDB, tabs, rounds over fetch) both satisfy. Written
// against no engine; each package registers its own when it loads.
import type * as api from 'statesync-api'
import type { Clock, ClockOrdering } from 'statesync-api'
import type { SyncError } from './errors.js'

/**
 * The state-version side of an engine. `H` is the engine's handle of one immutable version held
 * by the core (napi: an opaque external; wasm-bindgen: a `State` object). Every method throws
 * the package's SyncError, never the engine's own error.
 */
export interface NativeValues<H = unknown> {
  /** The handle of a state's wire JSON text: the core parses and validates it (INVALID_STATE). */
  stateFromJson(text: string): H
  /** The wire JSON text of a version (the core's canonical form). */
  stateJson(handle: H): string
  /** True when both handles hold the same version (same id, collection, clock, timestamp, content). */
  stateEquals(a: H, b: H): boolean
  /**
   * False for a handle the engine can no longer use, which is then made again from the version's
   * text: the browser's handles die with a WebAssembly instance stopped by a trap; napi's never do.
   */
  usable(handle: H): boolean
  /** A snapshot's JSON text parsed and validated by the core, as its canonical text (CORRUPT, UNSUPPORTED_FORMAT or INVALID_STATE when bad). */
  snapshotJson(text: string): string
}

/**
 * The vector-clock functions of an engine, over clocks as the API has them (objects of node ids
 * to counters, already checked to be objects). The core compares, merges and increments; it
 * refuses a counter that is not a whole number from 0 to 2^53 - 1 (INVALID_INPUT). Every method
 * throws the package's SyncError.
 */
export interface NativeClocks {
  /** How `a` relates to `b`. */
  compare(a: Clock, b: Clock): ClockOrdering
  /** The entry-wise maximum. */
  merge(a: Clock, b: Clock): Clock
  /** True when `a` has seen everything `b` has. */
  dominates(a: Clock, b: Clock): boolean
  /** `clock` after one more write of `node`. */
  increment(clock: Clock, node: string): Clock
  /** A wall clock moved by hand, starting at `millis` (INVALID_INPUT for a bad number). */
  manualClock(millis: number): NativeManualClock
}

/**
 * A version as an engine returns it: the engine's handle, or the version's wire JSON text (a
 * write's result is text where text costs less than a native object: W1 of docs/performance.md).
 * `stateOfRef` (js/src/values.ts) makes the SyncState of either.
 */
export type StateRef = unknown

/** A refused state as an engine reports it: its kept version (`current`) as a StateRef, or none. */
export interface NativeRejectedState {
  id: string
  code: string
  message: string
  current?: StateRef
}

/** Counts as an engine returns them: the API's, with the refusals' kept versions as StateRefs. */
export interface NativeCounts extends Omit<api.ReconciliationResult, 'rejections'> {
  rejections: NativeRejectedState[]
}

/** What a round did on this side, as an engine returns it. */
export interface NativeReport {
  pulled: NativeCounts
  pushed: NativeCounts
}

/** A recorded refusal as an engine returns it: the API's, `current` a StateRef. */
export interface NativeRejection extends Omit<api.Rejection, 'current'> {
  current?: StateRef
}

/** A page of the changes feed as an engine returns it. */
export interface NativePage {
  states: StateRef[]
  cursor: string
  hasMore: boolean
}

/** `applyRemoteState`'s result as an engine returns it; the conflict as its JSON text. */
export interface NativeApplyResult {
  outcome: api.ApplyResult['outcome']
  resolved: boolean
  state: StateRef
  conflict?: string | null
}

/**
 * What the shared layer's resolver adapter answers the engine: never an exception (the Node
 * engine calls it from another thread's request). `error` describes what the application's
 * resolver threw; the thrown value itself waits in the replica's `CallbackSlot`.
 */
export type ResolverReply = { data: string } | { deleted: true } | { error: string }

/** A strategy as the engines take it: its name, or the resolver adapter over two versions. */
export type NativeStrategy = string | ((local: StateRef, remote: StateRef) => ResolverReply)

/**
 * Where an application callback (resolver, transport method) leaves what it threw, for the
 * error the call then fails with to carry as its `cause` (js/tests/callback-cause.mjs).
 */
export interface CallbackSlot {
  cause: unknown
}

/** An event as an engine delivers it: the public event's fields, the state as a `StateRef`, the conflict as JSON text. */
export interface NativeEvent {
  name: api.SyncEventName
  state?: StateRef
  conflict?: string | null
  conflictId?: string | null
  stateId?: string | null
  code?: string | null
  message?: string | null
  peer?: string | null
  previous?: string | null
  current?: string | null
}

/** `SyncManager.open`'s options, converted: the shared layer checked their types. */
export interface NativeOpenOptions {
  nodeId?: string
  path?: string
  strategy: NativeStrategy
  /** Per-collection strategies (a collection is never ""). */
  collectionStrategies: [string, NativeStrategy][]
  /** The engine's handle of the ManualClock given (`NativeClocks.manualClock`). */
  clock?: unknown
  checkResolver: boolean
  maxClockSkewMs?: number
  maxStateBytes?: number
  /** The options as the application gave them: what only one engine has (durability, tabs, indexedDB, online). */
  given: api.OpenOptions
}

/**
 * One replica of an engine: the core's manager, with the arguments already converted (data as
 * JSON text, states as this package's SyncState (typed by the API's interface here, so that this
 * module imports no value class), collections checked to be strings). Its calls
 * may throw anything; the shared layer turns it into a SyncError (`NativeEngine.error`), so the
 * hot calls need no wrapper of their own.
 */
export interface NativeReplica {
  readonly nodeId: string
  createState(json: string, id: string | undefined, collection: string | undefined): StateRef
  /** The state, or null/undefined when there is none. */
  getState(id: string): StateRef
  updateState(id: string, json: string): StateRef
  deleteState(id: string): StateRef
  listStates(collection: string | undefined, includeDeleted: boolean): StateRef[]
  /** The pending operations' JSON text (a JSON array). */
  pendingOperations(): string
  acknowledge(opIds: string[]): number
  applyRemoteState(state: api.SyncState): NativeApplyResult
  reconcile(states: api.SyncState[]): NativeCounts
  /** The conflicts' JSON text (a JSON array). */
  conflicts(): string
  rejections(): NativeRejection[]
  resolveConflict(conflictId: string, pick: 'local' | 'remote' | undefined, data: string | undefined): StateRef
  /** The new version written over a peer's refusal of one of this replica's writes. */
  revertRejected(stateId: string): StateRef
  setStrategy(strategy: NativeStrategy): void
  /** null removes the collection's own strategy. */
  setCollectionStrategy(collection: string, strategy: NativeStrategy | null): void
  changesSince(cursor: string | undefined, collections: string[] | undefined, limit: unknown): NativePage
  applyChanges(peer: string, changes: api.ChangeSet, collections: string[] | undefined): NativeCounts
  peerCursor(peer: string, collections: string[] | undefined): string | null | undefined
  setPeerCursor(peer: string, cursor: string | undefined, collections: string[] | undefined): void
  /** A round with another replica of the same engine. */
  syncWith(other: NativeReplica, collections: string[] | undefined, limit: unknown): Promise<NativeReport>
  /** A round through the built-in HTTP client or the application's transport (checked by the engine, whose HttpTransport it is). */
  sync(transport: unknown, collections: string[] | undefined, limit: unknown): Promise<NativeReport>
  /** `options`: the application's, as given (`collections` checked; the browser has backoff options). */
  startAutoSync(intervalMs: number, transport: unknown, options: { collections?: string[] }): void
  stopAutoSync(): Promise<boolean>
  syncNow(): boolean
  readonly isAutoSyncing: boolean
  /** The snapshot's JSON text. */
  exportState(): string
  /** Imports a snapshot's JSON text. */
  importState(text: string, replace: boolean): NativeCounts
  status(): api.Status
  /** Starts delivering the core's events to `deliver` (called with no listener delivering yet). */
  listen(deliver: (event: NativeEvent) => void): void
  /** Stops delivering events. */
  unlisten(): void
  close(): Promise<void>
}

/** An engine: how it opens replicas and what its errors become. */
export interface NativeEngine {
  /** Opens a replica; `slot` is where its callbacks leave what they threw. */
  open(options: NativeOpenOptions, slot: CallbackSlot): Promise<NativeReplica>
  /** The SyncError for anything a call of the engine threw (the package's own SyncError passes as it is). */
  error(thrown: unknown): SyncError
  /**
   * True when `events()` must keep the host alive while it runs (Node: events arrive through
   * unreferenced handles, so nothing else would keep the process alive, as a server expects).
   */
  readonly keepAliveEvents: boolean
}

/** A ManualClock of the engine: the application's ManualClock holds one. */
export interface NativeManualClock {
  set(millis: number): void
  now(): number
}

/**
 * The wire format of an engine (docs/protocol.md). `encoding` is `"json"` or `"binary"` (the
 * core parses it); without it, encoding writes JSON and decoding reads what the message's first
 * byte tells (the core's `Encoding::of_message`). Every function throws the package's SyncError.
 */
export interface NativeWire {
  encodeState(state: api.SyncState, encoding: string | undefined): Uint8Array<ArrayBuffer>
  encodeChangeSet(changes: api.ChangeSet, encoding: string | undefined): Uint8Array<ArrayBuffer>
  /** A snapshot given as its JSON text. */
  encodeSnapshot(text: string, encoding: string | undefined): Uint8Array<ArrayBuffer>
  /** Operations given as their JSON text (a JSON array). */
  encodeOperations(text: string, encoding: string | undefined): Uint8Array<ArrayBuffer>
  decodeState(bytes: Uint8Array, encoding: string | undefined): StateRef
  decodeChangeSet(bytes: Uint8Array, encoding: string | undefined): NativePage
  /** The snapshot's JSON text. */
  decodeSnapshot(bytes: Uint8Array, encoding: string | undefined): string
  /** The operations' JSON text (a JSON array). */
  decodeOperations(bytes: Uint8Array, encoding: string | undefined): string
  /** zstd (UNSUPPORTED_FORMAT where the engine has none). */
  compress(bytes: Uint8Array): Uint8Array<ArrayBuffer>
  decompress(bytes: Uint8Array): Uint8Array<ArrayBuffer>
}
