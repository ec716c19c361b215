'use strict'
// The value classes. SyncState and ChangeSet are JS classes over native handles; SyncOperation,
// SyncConflict and Snapshot are the native classes, with what is better done in JS added: `data`
// (JSON.parse is faster in V8 than building objects property by property across napi), states
// wrapped as SyncState, `toJSON()`, `fromJSON()` and a readable `util.inspect`.

const { inspect } = require('node:util')
const native = require('../native.cjs')
const { SyncError, toSyncError, callNative, guardNativeClass, invalidInput } = require('./errors.cjs')

// The native classes the application gets as they are: each of their calls throws SyncError.
const SyncOperation = guardNativeClass(native.SyncOperation)
const SyncConflict = guardNativeClass(native.SyncConflict)
const Snapshot = guardNativeClass(native.Snapshot)

/** A wall clock moved by hand (tests, simulations): the native clock, throwing SyncError. */
class ManualClock extends guardNativeClass(native.ManualClock) {
  constructor(millis) {
    try {
      super(millis)
    } catch (error) {
      throw toSyncError(error)
    }
  }
}

/** Returned by a resolver: the merged result is a deletion. */
const DELETED = Symbol('statesync.DELETED')
/** The native handle of a SyncState (an opaque external), made from its text when first needed. */
const kHandle = Symbol('statesync.handle')
/** The wire JSON of a SyncState a write returned, until its handle is made. */
const kText = Symbol('statesync.text')
const kInternal = Symbol('statesync.internal')

// JSON text of application data (JSON.stringify's rules): shared with the browser package.
const { dataJson } = require('./shared/convert.js')

function define(cls, name, get) {
  Object.defineProperty(cls.prototype, name, { get, enumerable: true, configurable: true })
}

/** A `util.inspect` that shows the fields, which live on the prototype as getters. */
function fields(names) {
  return function (depth, options, inspectFn) {
    const out = {}
    for (const n of names) out[n] = this[n]
    return `${this.constructor.name} ${inspectFn(out, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`
  }
}

/**
 * One version of one state: immutable, its fields read from the native version when asked.
 * A JS class over an opaque handle, because creating a napi class instance costs more than the
 * write that returns it. A write hands back the version's wire JSON instead, cheaper still (no
 * native object, nothing to finalize); the handle is parsed from it when a field is first read.
 */
class SyncState {
  constructor(key, handle, text) {
    if (key !== kInternal) throw new TypeError('states are made by a replica, or by SyncState.fromJSON()')
    this[kHandle] = handle
    this[kText] = text
  }

  get id() {
    return field(this, native.stateId)
  }
  get collection() {
    return field(this, native.stateCollection)
  }
  get data() {
    return JSON.parse(field(this, native.stateDataJson))
  }
  get clock() {
    return field(this, native.stateClock)
  }
  get timestamp() {
    return field(this, native.stateTimestamp)
  }
  get modifiedBy() {
    return field(this, native.stateModifiedBy)
  }
  get deleted() {
    return field(this, native.stateDeleted)
  }
  get version() {
    return field(this, native.stateVersion)
  }
  get hash() {
    return field(this, native.stateHash)
  }

  /** Parses the wire JSON form (text or parsed object); INVALID_STATE when malformed. */
  static fromJSON(json) {
    const text = typeof json === 'string' ? json : dataJson(json, 'a state')
    return new SyncState(kInternal, callNative(native.stateFromWireJson, text), undefined)
  }

  /** The wire JSON form, as an object (what JSON.stringify uses). */
  toJSON() {
    return JSON.parse(field(this, native.stateWireJson))
  }

  /** True when both are the same version. */
  equals(other) {
    return other instanceof SyncState && callNative(native.stateEquals, handleOf(this), handleOf(other))
  }
}

/** `read` of a state's native version; whatever the native module throws, as SyncError. */
function field(state, read) {
  try {
    return read(handleOf(state))
  } catch (error) {
    throw toSyncError(error)
  }
}

/** The native handle of a state. */
function handleOf(state) {
  return (state[kHandle] ??= callNative(native.stateFromWireJson, state[kText]))
}

/** The SyncState of a native handle (null stays null). */
const wrapState = (handle) => (handle == null ? null : new SyncState(kInternal, handle, undefined))
/** The SyncState of the wire JSON a write returned. */
const stateFromText = (text) => new SyncState(kInternal, undefined, text)
/** The native handles of states; INVALID_INPUT for anything that is not a SyncState. */
function handlesOf(states, what) {
  if (!Array.isArray(states)) invalidInput(`${what} is an array of SyncState`)
  return states.map((s) => {
    if (!(s instanceof SyncState)) invalidInput(`${what} holds SyncState values only`)
    return handleOf(s)
  })
}

/** A page of the changes feed. */
class ChangeSet {
  constructor(states, cursor, hasMore) {
    handlesOf(states, "a ChangeSet's states")
    if (typeof cursor !== 'string') invalidInput("a ChangeSet's cursor is a string")
    this.states = Object.freeze([...states])
    this.cursor = cursor
    this.hasMore = Boolean(hasMore)
    Object.freeze(this)
  }

  /** The ChangeSet of the native parts. */
  static fromParts(parts) {
    return new ChangeSet(parts.states.map(wrapState), parts.cursor, parts.hasMore)
  }

  toJSON() {
    return JSON.parse(callNative(native.changeSetWireJson, handlesOf(this.states, 'states'), this.cursor, this.hasMore))
  }
}

for (const cls of [SyncOperation]) {
  define(cls, 'data', function () {
    return JSON.parse(this.dataJson)
  })
}
define(SyncConflict, 'local', function () {
  return wrapState(this.localHandle)
})
define(SyncConflict, 'remote', function () {
  return wrapState(this.remoteHandle)
})
define(Snapshot, 'states', function () {
  return this.stateHandles.map(wrapState)
})
for (const cls of [SyncOperation, SyncConflict, Snapshot]) {
  cls.prototype.toJSON = function () {
    return JSON.parse(this.wireJson())
  }
}

Snapshot.fromJSON = (json) => {
  const text = typeof json === 'string' ? json : dataJson(json, 'a snapshot')
  return callNative((t) => Snapshot.fromWireJson(t), text)
}

const STATE_FIELDS = ['id', 'collection', 'data', 'clock', 'timestamp', 'modifiedBy', 'deleted', 'version', 'hash']
SyncState.prototype[inspect.custom] = fields(STATE_FIELDS)
SyncOperation.prototype[inspect.custom] = fields([
  'opId',
  'kind',
  'stateId',
  'collection',
  'data',
  'clock',
  'timestamp',
  'nodeId',
])
SyncConflict.prototype[inspect.custom] = fields(['conflictId', 'stateId', 'local', 'remote', 'detectedAt'])
ChangeSet.prototype[inspect.custom] = fields(['states', 'cursor', 'hasMore'])
Snapshot.prototype[inspect.custom] = fields(['format', 'nodeId', 'states', 'pending', 'conflicts'])

/**
 * The function the native resolver calls: never throws, answers `{ data }` (JSON text),
 * `{ deleted: true }` or `{ error }` (the application's resolver failed; what it threw goes to
 * `slot.cause`): node/src/callbacks.rs ResolverReply.
 */
function resolverAdapter(resolver, slot) {
  return (localHandle, remoteHandle) => {
    try {
      const out = resolver(wrapState(localHandle), wrapState(remoteHandle))
      if (out === DELETED) return { deleted: true }
      if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
        throw new SyncError('RESOLVER', 'a resolver must return its result, not a Promise')
      }
      return { data: dataJson(out, 'the resolver result') }
    } catch (error) {
      slot.cause = error
      return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
    }
  }
}

/**
 * A strategy for the native module: the resolver's adapter for a function, anything else as it
 * is (the core parses a strategy's name and refuses what is neither a name nor a function).
 */
function nativeStrategy(strategy, slot) {
  return typeof strategy === 'function' ? resolverAdapter(strategy, slot) : strategy
}

module.exports = {
  ManualClock,
  SyncState,
  SyncOperation,
  SyncConflict,
  ChangeSet,
  Snapshot,
  DELETED,
  dataJson,
  nativeStrategy,
  wrapState,
  stateFromText,
  handleOf,
  handlesOf,
}
