// The value classes of the JS API (node/index.d.ts) that both packages share, written once over
// the engine's NativeValues (js/src/native.ts): the lazy SyncState and ChangeSet, and
// SyncOperation, SyncConflict and Snapshot read from the core's JSON.
//
// A SyncState holds its version as the engine's handle or as the version's wire JSON text, and
// makes the other only when needed: a write hands back the text, which costs less than a native
// object (W1 of docs/performance.md), while a read of the core hands back a handle. Its fields
// come from the wire JSON, parsed once; the object-valued ones (data, clock, timestamp) are
// parsed again at each read, so that what the application gets is its own copy and the state
// stays immutable.
import type * as api from 'statesync-api'
import type { NativeValues } from './native.js'
import { SyncError } from './errors.js'
import { engineSlot } from './registry.js'
import { dataJson } from './convert.js'

/** The engine, registered by the package when it loads (`useNativeValues`). */
const engine = engineSlot<NativeValues>()

/** Registers the engine's value side; the package does it once, before any value is made. */
export function useNativeValues<H>(values: NativeValues<H>): void {
  engine.use(values as NativeValues)
}

const native = engine.get

/** The wire JSON object of a state (core/src: `SyncState::to_json`; defaults left out). */
interface WireState {
  id: string
  collection?: string
  data: api.JSONValue
  clock: api.Clock
  timestamp: api.Timestamp
  modified_by?: string
  deleted?: boolean
  version: number
  hash: string
}

/** Only this module makes states (the constructor is private in the API). */
const INTERNAL = Symbol('statesync.internal')

/** Node's `util.inspect.custom`, a registered symbol: a readable `console.log` there, inert elsewhere. */
const INSPECT = Symbol.for('nodejs.util.inspect.custom')

type InspectFn = (value: unknown, options: object) => string

/** A `util.inspect` that shows `names`, which live on the prototype as getters. */
function inspectFields(names: readonly string[]) {
  return function (
    this: Record<string, unknown>,
    _depth: number,
    options: { depth?: number | null },
    inspect: InspectFn,
  ) {
    const out: Record<string, unknown> = {}
    for (const n of names) out[n] = this[n]
    const depth = options.depth == null ? null : options.depth - 1
    return `${(this.constructor as { name: string }).name} ${inspect(out, { ...options, depth })}`
  }
}

/** The wire JSON text of a state (made from its handle the first time). */
let textOf: (state: SyncState) => string
/** The engine's handle of a state (made from its text when it has none the engine can use). */
let handleOf: (state: SyncState) => unknown

/** One version of one state: immutable, its fields read from its wire JSON when first asked. */
export class SyncState implements api.SyncState {
  #handle: unknown
  #text: string | undefined
  #wire: WireState | undefined

  /** @internal Made by the package only (`stateOf`, `stateOfText`) or by `fromJSON`. */
  constructor(token?: typeof INTERNAL, handle?: unknown, text?: string) {
    if (token !== INTERNAL) throw new TypeError('states are made by a replica, or by SyncState.fromJSON()')
    this.#handle = handle
    this.#text = text
  }

  /** Parses the wire JSON form (text or parsed object); INVALID_STATE when malformed. */
  static fromJSON(json: string | object): SyncState {
    const text = typeof json === 'string' ? json : dataJson(json, 'a state')
    return new SyncState(INTERNAL, native().stateFromJson(text), undefined)
  }

  // The two accessors of the package, kept off the class the application sees.
  static {
    textOf = (state) => (state.#text ??= native().stateJson(state.#handle))
    handleOf = (state) => {
      const engine = native()
      if (state.#handle === undefined || !engine.usable(state.#handle)) {
        state.#handle = engine.stateFromJson(textOf(state))
      }
      return state.#handle
    }
  }

  #w(): WireState {
    return (this.#wire ??= JSON.parse(textOf(this)) as WireState)
  }

  /** A fresh parse of the wire JSON: the object-valued fields, the application's own copy. */
  #fresh(): WireState {
    return JSON.parse(textOf(this)) as WireState
  }

  get id(): string {
    return this.#w().id
  }
  get collection(): string {
    return this.#w().collection ?? 'default'
  }
  get data(): api.JSONValue {
    return this.#fresh().data
  }
  get clock(): api.Clock {
    return this.#fresh().clock
  }
  get timestamp(): api.Timestamp {
    return this.#fresh().timestamp
  }
  get modifiedBy(): string {
    const w = this.#w()
    return w.modified_by ?? w.timestamp.node
  }
  get deleted(): boolean {
    return this.#w().deleted ?? false
  }
  get version(): number {
    return this.#w().version
  }
  get hash(): string {
    return this.#w().hash
  }

  /** The wire JSON form, as an object (what JSON.stringify uses). */
  toJSON(): object {
    return JSON.parse(textOf(this)) as object
  }

  /** True when both are the same version. */
  equals(other: api.SyncState): boolean {
    if (!(other instanceof SyncState)) return false
    if (this === other) return true
    return native().stateEquals(handleOf(this), handleOf(other))
  }
}

const STATE_FIELDS = ['id', 'collection', 'data', 'clock', 'timestamp', 'modifiedBy', 'deleted', 'version', 'hash']
Object.defineProperty(SyncState.prototype, INSPECT, { value: inspectFields(STATE_FIELDS), configurable: true })

/** The SyncState of an engine handle (null and undefined are null: no such state). */
export function stateOf(handle: unknown): SyncState | null {
  return handle == null ? null : new SyncState(INTERNAL, handle, undefined)
}

/** The SyncState of an engine handle the core returned (never null). */
export function stateOfHandle(handle: unknown): SyncState {
  return new SyncState(INTERNAL, handle, undefined)
}

/** The SyncState of wire JSON text the core produced (a write's result: already valid). */
export function stateOfText(text: string): SyncState {
  return new SyncState(INTERNAL, undefined, text)
}

/**
 * The SyncState of a version as an engine gives it (`StateRef` of js/src/native.ts): wire JSON
 * text, or a handle; null and undefined are null (no such state).
 */
export function stateOfRef(ref: unknown): SyncState | null {
  return typeof ref === 'string' ? stateOfText(ref) : stateOf(ref)
}

/** The wire JSON text of a state. */
export const stateText = (state: SyncState): string => textOf(state)

/** The engine handle of a state. */
export const stateHandle = (state: SyncState): unknown => handleOf(state)

/** `states` checked to be an array of this package's SyncState; INVALID_INPUT naming `what` otherwise. */
export function ownStates(states: unknown, what: string): SyncState[] {
  if (!Array.isArray(states)) throw new SyncError('INVALID_INPUT', `${what} is an array of SyncState`)
  for (const s of states) {
    if (!(s instanceof SyncState)) throw new SyncError('INVALID_INPUT', `${what} holds SyncState values only`)
  }
  return states as SyncState[]
}

/** The engine handles of states (checked as `ownStates` does). */
export const stateHandles = (states: unknown, what: string): unknown[] => ownStates(states, what).map(stateHandle)

/** A page of the changes feed: immutable. */
export class ChangeSet implements api.ChangeSet {
  readonly states: SyncState[]
  readonly cursor: string
  readonly hasMore: boolean
  constructor(states: api.SyncState[], cursor: string, hasMore: boolean) {
    ownStates(states, "a ChangeSet's states")
    if (typeof cursor !== 'string') throw new SyncError('INVALID_INPUT', "a ChangeSet's cursor is a string")
    this.states = Object.freeze([...states]) as SyncState[]
    this.cursor = cursor
    this.hasMore = Boolean(hasMore)
    Object.freeze(this)
  }

  /** The wire JSON form, as an object. */
  toJSON(): object {
    return JSON.parse(changeSetText(this)) as object
  }
}
Object.defineProperty(ChangeSet.prototype, INSPECT, {
  value: inspectFields(['states', 'cursor', 'hasMore']),
  configurable: true,
})

/** The ChangeSet of versions as an engine gives them (handles or wire JSON text). */
export function changeSetOf(refs: readonly unknown[], cursor: string, hasMore: boolean): ChangeSet {
  return new ChangeSet(
    refs.map((r) => stateOfRef(r)!),
    cursor,
    hasMore,
  )
}

/** The wire JSON text of a change set (core/src: `ChangeSet`, format 1), made from its states' text. */
export function changeSetText(changes: api.ChangeSet): string {
  const states = ownStates(changes.states, 'states').map(stateText).join(',')
  return `{"format":1,"states":[${states}],"cursor":${JSON.stringify(changes.cursor)},"has_more":${Boolean(changes.hasMore)}}`
}

/** The wire JSON object of a pending operation (core/src: `SyncOperation`). */
interface WireOperation {
  op_id: string
  kind: 'create' | 'update' | 'delete'
  state_id: string
  collection: string
  data: api.JSONValue
  clock: api.Clock
  timestamp: api.Timestamp
  node_id: string
}

/** The wire JSON object of a manual conflict (core/src: `SyncConflict`). */
interface WireConflict {
  conflict_id: string
  state_id: string
  local: object
  remote: object
  detected_at: number
}

/** A copy of a JSON value: what the application gets is its own, the value stays immutable. */
const copy = <T>(value: T): T => (value === null || typeof value !== 'object' ? value : structuredClone(value))

/** A local write waiting to be acknowledged by a peer: immutable, read from the core's JSON. */
export class SyncOperation implements api.SyncOperation {
  readonly #w: WireOperation

  /** @internal Made by the package only (`operationsOfText`). */
  constructor(token?: typeof INTERNAL, wire?: WireOperation) {
    if (token !== INTERNAL || wire === undefined) throw new TypeError('operations are made by a replica')
    this.#w = wire
  }

  get opId(): string {
    return this.#w.op_id
  }
  get kind(): 'create' | 'update' | 'delete' {
    return this.#w.kind
  }
  get stateId(): string {
    return this.#w.state_id
  }
  get collection(): string {
    return this.#w.collection
  }
  get data(): api.JSONValue {
    return copy(this.#w.data)
  }
  get clock(): api.Clock {
    return copy(this.#w.clock)
  }
  get timestamp(): api.Timestamp {
    return copy(this.#w.timestamp)
  }
  get nodeId(): string {
    return this.#w.node_id
  }

  /** The wire JSON form, as an object. */
  toJSON(): object {
    return copy(this.#w)
  }
}
const OPERATION_FIELDS = ['opId', 'kind', 'stateId', 'collection', 'data', 'clock', 'timestamp', 'nodeId']
Object.defineProperty(SyncOperation.prototype, INSPECT, { value: inspectFields(OPERATION_FIELDS), configurable: true })

/** A conflict recorded by the `manual` strategy: immutable, read from the core's JSON. */
export class SyncConflict implements api.SyncConflict {
  readonly #w: WireConflict
  #local: SyncState | undefined
  #remote: SyncState | undefined

  /** @internal Made by the package only (`conflictOfText`). */
  constructor(token?: typeof INTERNAL, wire?: WireConflict) {
    if (token !== INTERNAL || wire === undefined) throw new TypeError('conflicts are made by a replica')
    this.#w = wire
  }

  get conflictId(): string {
    return this.#w.conflict_id
  }
  get stateId(): string {
    return this.#w.state_id
  }
  get local(): SyncState {
    return (this.#local ??= stateOfText(JSON.stringify(this.#w.local)))
  }
  get remote(): SyncState {
    return (this.#remote ??= stateOfText(JSON.stringify(this.#w.remote)))
  }
  get detectedAt(): number {
    return this.#w.detected_at
  }

  /** The wire JSON form, as an object. */
  toJSON(): object {
    return copy(this.#w)
  }
}
const CONFLICT_FIELDS = ['conflictId', 'stateId', 'local', 'remote', 'detectedAt']
Object.defineProperty(SyncConflict.prototype, INSPECT, { value: inspectFields(CONFLICT_FIELDS), configurable: true })

/** The operations of the core's JSON text of a list of them. */
export function operationsOfText(text: string): SyncOperation[] {
  return (JSON.parse(text) as WireOperation[]).map((w) => new SyncOperation(INTERNAL, w))
}

/** The conflict of the core's JSON text of one. */
export function conflictOfText(text: string): SyncConflict {
  return new SyncConflict(INTERNAL, JSON.parse(text) as WireConflict)
}

/** The conflicts of the core's JSON text of a list of them. */
export function conflictsOfText(text: string): SyncConflict[] {
  return (JSON.parse(text) as WireConflict[]).map((w) => new SyncConflict(INTERNAL, w))
}

/** The JSON object of a snapshot (core/src: `Snapshot`). */
interface WireSnapshot {
  format: number
  node_id: string
  states: object[]
  pending: WireOperation[]
  conflicts: WireConflict[]
}

/** The snapshot's JSON text (kept: importing or encoding a snapshot hands it back to the core). */
let snapshotTextOf: (snapshot: Snapshot) => string

/** A versioned image of a replica: every state (tombstones too), pending operation and conflict. */
export class Snapshot implements api.Snapshot {
  readonly #text: string
  #wire: WireSnapshot | undefined

  /** @internal Made by the package only (`snapshotOfText`) or by `fromJSON`. */
  constructor(token?: typeof INTERNAL, text?: string) {
    if (token !== INTERNAL || text === undefined)
      throw new TypeError('snapshots are made by exportState() or Snapshot.fromJSON()')
    this.#text = text
  }

  static {
    snapshotTextOf = (snapshot) => snapshot.#text
  }

  /** Parses the snapshot JSON form (text or parsed object): CORRUPT, UNSUPPORTED_FORMAT or INVALID_STATE when bad. */
  static fromJSON(json: string | object): Snapshot {
    const text = typeof json === 'string' ? json : dataJson(json, 'a snapshot')
    return new Snapshot(INTERNAL, native().snapshotJson(text))
  }

  #w(): WireSnapshot {
    return (this.#wire ??= JSON.parse(this.#text) as WireSnapshot)
  }

  get format(): number {
    return this.#w().format
  }
  get nodeId(): string {
    return this.#w().node_id
  }
  get states(): SyncState[] {
    return this.#w().states.map((s) => stateOfText(JSON.stringify(s)))
  }
  get pending(): SyncOperation[] {
    return this.#w().pending.map((w) => new SyncOperation(INTERNAL, w))
  }
  get conflicts(): SyncConflict[] {
    return this.#w().conflicts.map((w) => new SyncConflict(INTERNAL, w))
  }

  /** The snapshot JSON form, as an object. */
  toJSON(): object {
    return JSON.parse(this.#text) as object
  }
}
const SNAPSHOT_FIELDS = ['format', 'nodeId', 'states', 'pending', 'conflicts']
Object.defineProperty(Snapshot.prototype, INSPECT, { value: inspectFields(SNAPSHOT_FIELDS), configurable: true })

/** The Snapshot of JSON text the core produced (already valid). */
export const snapshotOfText = (text: string): Snapshot => new Snapshot(INTERNAL, text)

/** The JSON text of a snapshot. */
export const snapshotText = (snapshot: Snapshot): string => snapshotTextOf(snapshot)
