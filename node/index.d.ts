// The public API of the `statesync` JavaScript packages: the Node package (this folder, napi-rs)
// and the browser package (`wasm/`, which ships this file as the shape it implements), so the
// same application code runs on both. docs/design.md#9-names-per-language is the contract;
// docs/adr/0013 the decisions.
//
// Conventions:
// - JSON data are plain JS values, converted with JSON.stringify/JSON.parse semantics.
// - Every counter (clock entries, versions, timestamps' millis and counter) is a `number`: the
//   core bounds them at 2^53 - 1 (MAX_COUNTER), so they are always exact in a JS number.
// - Every failure is a `SyncError` with a stable `code`; errors thrown by application callbacks
//   (resolver, transport) are kept as its `cause`.

/** Any JSON value. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue }
/** A vector clock: node id to counter; a missing node is 0. */
export type Clock = Record<string, number>
/** The encodings of the wire format (docs/protocol.md). */
export type WireEncoding = 'json' | 'binary'
/** The codes of `SyncError`, one per core variant. */
// In the core's order (`cargo run -p statesync --example error_codes`); core/tests/error_codes.rs
// checks the list between the markers. statesync:error-codes
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_STATE'
  | 'INVALID_INPUT'
  | 'CONFLICT'
  | 'RESOLVER'
  | 'STORAGE'
  | 'CORRUPT'
  | 'UNSUPPORTED_FORMAT'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'CRYPTO'
  | 'TRANSPORT'
  | 'CLOSED'
  | 'INTERNAL'
// statesync:error-codes-end

/** The package version. */
export declare const VERSION: string
/** The sync protocol version this build speaks. */
export declare const PROTOCOL_VERSION: number
/** The wire format version this build writes. */
export declare const WIRE_FORMAT: number
/** Deepest nesting of `data` accepted. */
export declare const MAX_DATA_DEPTH: number
/** Largest counter, version or millisecond value: 2^53 - 1. */
export declare const MAX_COUNTER: number

/** The one error type: `code` says which core variant it is. */
export declare class SyncError extends Error {
  readonly name: 'SyncError'
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown })
}

/** A hybrid logical clock timestamp. */
export interface Timestamp {
  readonly millis: number
  readonly counter: number
  readonly node: string
}

/** One version of one state. Immutable; `toJSON()` gives its wire JSON form. */
export declare class SyncState {
  private constructor()
  readonly id: string
  readonly collection: string
  readonly data: JSONValue
  readonly clock: Clock
  readonly timestamp: Timestamp
  readonly modifiedBy: string
  readonly deleted: boolean
  readonly version: number
  readonly hash: string
  /** Parses the wire JSON form (text or parsed object); INVALID_STATE when malformed. */
  static fromJSON(json: string | object): SyncState
  /** The wire JSON form, as an object (what JSON.stringify uses). */
  toJSON(): object
  /** True when both are the same version (same id, collection, clock, timestamp and content). */
  equals(other: SyncState): boolean
}

/** A local write waiting to be acknowledged by a peer. */
export declare class SyncOperation {
  private constructor()
  readonly opId: string
  readonly kind: 'create' | 'update' | 'delete'
  readonly stateId: string
  readonly collection: string
  readonly data: JSONValue
  readonly clock: Clock
  readonly timestamp: Timestamp
  readonly nodeId: string
  toJSON(): object
}

/** A conflict recorded by the `manual` strategy. */
export declare class SyncConflict {
  private constructor()
  readonly conflictId: string
  readonly stateId: string
  readonly local: SyncState
  readonly remote: SyncState
  readonly detectedAt: number
  toJSON(): object
}

/** What applying one remote state did. */
export interface ApplyResult {
  readonly outcome: 'created' | 'updated' | 'unchanged' | 'ignored' | 'conflict'
  /** A concurrent version was settled automatically by the strategy. */
  readonly resolved: boolean
  /** The state as stored afterwards. */
  readonly state: SyncState
  /** The conflict the `manual` strategy recorded. */
  readonly conflict: SyncConflict | null
}

/** A state the receiving replica refused, as a result reports it. */
export interface RejectedState {
  /** The refused state's id. */
  readonly id: string
  /** Why, as an error code (`INVALID_STATE`, ...). */
  readonly code: string
  /** Why, in words. */
  readonly message: string
  /**
   * The version the refusing replica keeps of the state (null: none, or it did not say): what
   * `revertRejected` writes back. Always present in the results this package returns.
   */
  readonly current?: SyncState | null
}

/**
 * A refused state as a `Transport`'s `push()` answers it: a `RejectedState`, whose `current` may
 * also be the kept version's wire JSON (the object `toJSON()` gives, or its text).
 */
export interface PushRejection {
  readonly id: string
  readonly code: string
  readonly message: string
  readonly current?: SyncState | object | string | null
}

/**
 * What a peer answers a push with (a `Transport`'s `push()` result): the counts of what the page
 * did there, and the states it refused. Both `rejected` and `rejections` may be left out (peers
 * of older releases do): none refused; `rejected` counts at least the `rejections` listed.
 */
export interface PushResult {
  /** States that were new there. */
  readonly created: number
  /** Newer versions taken. */
  readonly updated: number
  /** Versions already held. */
  readonly unchanged: number
  /** Older versions, ignored. */
  readonly ignored: number
  /** Concurrent versions detected. */
  readonly conflicts: number
  /** Of those, settled automatically by the strategy. */
  readonly resolved: number
  readonly rejected?: number
  readonly rejections?: readonly PushRejection[]
}

/** Counts of what a batch of remote states did, and the states it refused. */
export interface ReconciliationResult extends PushResult {
  /**
   * States refused alone (invalid, larger than `maxStateBytes`, stamped more than
   * `maxClockSkewMs` ahead, in another collection here): the rest of the batch applied.
   */
  readonly rejected: number
  /** The refused states, in the order of the batch, with the reason for each. */
  readonly rejections: RejectedState[]
}

/**
 * A refused state, recorded durably by the replica it concerns until a later version of it goes
 * through: a version a peer sent that this replica refused (in a pull), or one of this
 * replica's own that a peer refused (in a push answer). `rejections()` lists them.
 */
export interface Rejection {
  /** The state concerned. */
  readonly stateId: string
  /** Why, as an error code. */
  readonly code: string
  /** Why, in words, naming the peer involved. */
  readonly message: string
  /** Local wall-clock milliseconds when it was recorded. */
  readonly rejectedAt: number
  /** One of this replica's own versions, refused by a peer: `revertRejected` can undo it. */
  readonly own: boolean
  /** For an own version: the version the refusing peer keeps, when it said; else null. */
  readonly current: SyncState | null
}

/** What a sync round did on this side: `pulled` from the peer and `pushed` to it. */
export interface SyncReport {
  readonly pulled: ReconciliationResult
  readonly pushed: ReconciliationResult
}

/** A page of the changes feed. */
export declare class ChangeSet {
  constructor(states: SyncState[], cursor: string, hasMore: boolean)
  readonly states: SyncState[]
  /** Opaque: give it back to `changesSince` to continue after this page. */
  readonly cursor: string
  readonly hasMore: boolean
  toJSON(): object
}

/** A versioned image of a replica: every state (tombstones too), pending operation and conflict. */
export declare class Snapshot {
  private constructor()
  readonly format: number
  readonly nodeId: string
  readonly states: SyncState[]
  readonly pending: SyncOperation[]
  readonly conflicts: SyncConflict[]
  /** CORRUPT, UNSUPPORTED_FORMAT or INVALID_STATE when the text is not a valid snapshot. */
  static fromJSON(json: string | object): Snapshot
  toJSON(): object
}

/** What a sync peer supports. */
export interface Capabilities {
  readonly protocol: number
  readonly nodeId: string
  readonly scopedSync: boolean
  readonly binary: boolean
  readonly zstd: boolean
  readonly maxBatch: number | null
  /** Largest request body the peer accepts, in bytes: pushed pages are cut to fit it. */
  readonly maxBodyBytes?: number | null
}

/** A sync peer written in JS: the rounds call these one at a time and await them. */
export interface Transport {
  capabilities(): Capabilities | Promise<Capabilities>
  pull(cursor: string | null, collections: string[], limit: number | null): ChangeSet | Promise<ChangeSet>
  push(changes: ChangeSet): PushResult | Promise<PushResult>
}

/** Options of the built-in HTTP transport (docs/protocol.md). */
export interface HttpTransportOptions {
  /**
   * The hub space to sync with (`/v1/spaces/{space}/...`, docs/design.md §10): 1 to 128 bytes of
   * `A-Z a-z 0-9 . _ : @ -`, else INVALID_INPUT. Without it, the hub's `default` space.
   */
  space?: string
  /** Sent as `Authorization: Bearer <token>` (the hub's shared token or a JWT). */
  token?: string
  headers?: Record<string, string>
  /** Per request, in milliseconds (default 30,000). */
  timeoutMs?: number
  /** Default "binary". */
  encoding?: WireEncoding
  /** zstd bodies when the hub supports them (default true). */
  compress?: boolean
}

/** The built-in client of the HTTP sync protocol. */
export declare class HttpTransport {
  constructor(baseUrl: string, options?: HttpTransportOptions)
  readonly baseUrl: string
  /** The hub space synced with, or null: the hub's `default` space. */
  readonly space: string | null
}

/** A resolver for the custom strategy: returns the merged data, or `DELETED`. */
export type Resolver = (local: SyncState, remote: SyncState) => JSONValue | typeof DELETED
/** Returned by a resolver to say the merged result is a deletion. */
export declare const DELETED: unique symbol
/** A strategy name or a custom resolver. */
export type Strategy = 'lastWriteWins' | 'mergeFields' | 'localWins' | 'remoteWins' | 'manual' | Resolver
/** How to resolve a manual conflict. */
export type Resolution = { pick: 'local' | 'remote' } | { data: JSONValue }
/** What a replica is doing. */
export type Status = 'idle' | 'syncing' | 'conflict' | 'error' | 'closed'

/** A wall clock moved by hand (tests, simulations), in milliseconds. */
export declare class ManualClock {
  constructor(millis: number)
  set(millis: number): void
  now(): number
}

/** How to open a replica. */
export interface OpenOptions {
  /** 1-128 bytes; generated and persisted on first open when omitted. */
  nodeId?: string
  /** A database file (SQLite in Node; an IndexedDB database name in the browser); omitted: in memory. */
  path?: string
  /** Default "lastWriteWins". */
  strategy?: Strategy
  collectionStrategies?: Record<string, Strategy>
  clock?: ManualClock
  /** Call custom resolvers both ways round and refuse non-commutative ones. */
  checkResolver?: boolean
  /**
   * How far ahead of this replica's wall clock a received state's timestamp may be, in
   * milliseconds (a whole number, 0 or more); a state stamped later is refused. Default one hour.
   */
  maxClockSkewMs?: number
  /**
   * The largest state data accepted from a peer or written here, in bytes of canonical JSON (a
   * whole number, at least 1): a larger write is INVALID_INPUT, a larger remote state refused.
   * Default 1 MiB.
   */
  maxStateBytes?: number
}

/** Events, by name, with what each carries. */
export interface SyncEventMap {
  stateCreated: { name: 'stateCreated'; state: SyncState }
  stateUpdated: { name: 'stateUpdated'; state: SyncState }
  stateDeleted: { name: 'stateDeleted'; state: SyncState }
  conflictDetected: { name: 'conflictDetected'; conflict: SyncConflict }
  conflictResolved: { name: 'conflictResolved'; conflictId: string; stateId: string }
  /** A state was refused, by this replica or by a peer; `rejections()` holds its record. */
  stateRejected: { name: 'stateRejected'; stateId: string; code: string; message: string }
  syncStarted: { name: 'syncStarted'; peer: string }
  syncCompleted: { name: 'syncCompleted'; peer: string }
  syncFailed: { name: 'syncFailed'; peer: string; message: string }
  statusChanged: { name: 'statusChanged'; previous: Status; current: Status }
}
/** Any event. */
export type SyncEvent = SyncEventMap[keyof SyncEventMap]
/** An event name, or "event" for every event. */
export type SyncEventName = keyof SyncEventMap | 'event'
/** The listener type for an event name. */
export type SyncEventListener<K extends SyncEventName> = (
  event: K extends keyof SyncEventMap ? SyncEventMap[K] : SyncEvent,
) => void

/** Scope and page size of a feed read or a sync round. */
export interface ScopeOptions {
  /** Only these collections (default: all). */
  collections?: string[]
  /** Largest page (default: the core's). */
  limit?: number
}

/** One replica. Cheap reads and local writes are synchronous; I/O that can block returns a Promise. */
export declare class SyncManager {
  private constructor()
  /** Opens (creating if missing) a replica. */
  static open(options?: OpenOptions): Promise<SyncManager>
  readonly nodeId: string

  createState(data: JSONValue, options?: { id?: string; collection?: string }): SyncState
  /** null for missing and deleted states. */
  getState(id: string): SyncState | null
  /** NOT_FOUND if missing or deleted. */
  updateState(id: string, data: JSONValue): SyncState
  /** NOT_FOUND if missing or deleted; returns the tombstone. */
  deleteState(id: string): SyncState
  listStates(options?: { collection?: string; includeDeleted?: boolean }): SyncState[]

  pendingOperations(): SyncOperation[]
  /** Drops the given operations from the queue; returns how many were there. */
  acknowledge(opIds: string[]): number

  applyRemoteState(state: SyncState): ApplyResult
  reconcile(states: SyncState[]): ReconciliationResult
  conflicts(): SyncConflict[]
  /** States refused in sync rounds and not gone through since, oldest first. */
  rejections(): Rejection[]
  resolveConflict(conflictId: string, resolution: Resolution): SyncState
  /**
   * Undoes one of this replica's own writes a peer (a hub) refused: writes the peer's kept
   * version back (a deletion when it keeps none) with a clock that has seen both, and drops the
   * rejection; returns the new version. NOT_FOUND without a rejection of `stateId`, INVALID_INPUT
   * for a peer's version this replica refused.
   */
  revertRejected(stateId: string): SyncState
  setStrategy(strategy: Strategy): void
  setCollectionStrategy(collection: string, strategy: Strategy | null): void

  changesSince(options?: { cursor?: string | null } & ScopeOptions): ChangeSet
  applyChanges(peer: string, changes: ChangeSet, options?: { collections?: string[] }): ReconciliationResult
  peerCursor(peer: string, options?: { collections?: string[] }): string | null
  setPeerCursor(peer: string, cursor: string | null, options?: { collections?: string[] }): void
  /** A full bidirectional round with another replica of this process. */
  syncWith(other: SyncManager, options?: ScopeOptions): Promise<SyncReport>
  /** A full round with a peer through a transport. */
  sync(transport: Transport | HttpTransport, options?: ScopeOptions): Promise<SyncReport>
  /** Rounds every `intervalMs`, with backoff after failures, until `stopAutoSync` or `close`. */
  startAutoSync(intervalMs: number, transport: Transport | HttpTransport, options?: { collections?: string[] }): void
  /** Resolves when the running round (if any) has ended; true if auto-sync was running. */
  stopAutoSync(): Promise<boolean>
  /** Asks auto-sync for a round now; false when it is not running. */
  syncNow(): boolean
  readonly isAutoSyncing: boolean

  exportState(): Snapshot
  importState(snapshot: Snapshot | string, options?: { replace?: boolean }): ReconciliationResult

  status(): Status
  on<K extends SyncEventName>(event: K, listener: SyncEventListener<K>): this
  once<K extends SyncEventName>(event: K, listener: SyncEventListener<K>): this
  off<K extends SyncEventName>(event: K, listener: SyncEventListener<K>): this
  /** Every event from the moment of the call, until the signal aborts or the loop breaks. */
  events(options?: { signal?: AbortSignal }): AsyncIterableIterator<SyncEvent>
  /** Stops auto-sync, flushes and releases the store; later calls throw CLOSED. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export type ClockOrdering = 'equal' | 'before' | 'after' | 'concurrent'
export declare function compareClocks(a: Clock, b: Clock): ClockOrdering
export declare function mergeClocks(a: Clock, b: Clock): Clock
export declare function dominates(a: Clock, b: Clock): boolean
/** `clock` after one more write of `node`: its entry is the new counter (a missing node was 0). */
export declare function incrementClock(clock: Clock, node: string): Clock

/** Anything the wire format carries. */
export type WireMessage = SyncState | ChangeSet | Snapshot | SyncOperation[]
/** Encodes a message (default encoding: JSON). */
export declare function encode(value: WireMessage, encoding?: WireEncoding): Uint8Array<ArrayBuffer>
/** Decodes a state; without an encoding, the message's first byte tells binary from JSON (every `decode*`). */
export declare function decodeState(bytes: Uint8Array, encoding?: WireEncoding): SyncState
export declare function decodeChangeSet(bytes: Uint8Array, encoding?: WireEncoding): ChangeSet
export declare function decodeSnapshot(bytes: Uint8Array, encoding?: WireEncoding): Snapshot
export declare function decodeOperations(bytes: Uint8Array, encoding?: WireEncoding): SyncOperation[]
/** zstd; the browser package has no zstd and throws UNSUPPORTED_FORMAT. */
export declare function compress(bytes: Uint8Array): Uint8Array<ArrayBuffer>
export declare function decompress(bytes: Uint8Array): Uint8Array<ArrayBuffer>
