'use strict'
// The value classes. SyncState and ChangeSet are the shared JS classes (js/src/values.ts) over
// this addon's state handles; SyncOperation, SyncConflict and Snapshot are the native classes, with what is better done in JS added: `data`
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

// SyncState and ChangeSet are the JS both packages share (js/src/values.ts, compiled
// into lib/shared/), over this engine's value side: a state's handle is the addon's opaque
// external of one version (node/src/values.rs), which stays usable as long as it lives.
const shared = require('./shared/values.js')
const { SyncState, ChangeSet, stateOf, stateOfText, stateHandle, stateHandles, changeSetOf } = shared
shared.useNativeValues({
  stateFromJson: (text) => callNative(native.stateFromWireJson, text),
  stateJson: (handle) => callNative(native.stateWireJson, handle),
  stateEquals: (a, b) => callNative(native.stateEquals, a, b),
  usable: () => true,
})

/** Returned by a resolver: the merged result is a deletion. */
const DELETED = Symbol('statesync.DELETED')

/** The ChangeSet of the parts the addon returns (`{ states: handles, cursor, hasMore }`). */
const changeSetParts = (parts) => changeSetOf(parts.states, parts.cursor, parts.hasMore)

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

for (const cls of [SyncOperation]) {
  define(cls, 'data', function () {
    return JSON.parse(this.dataJson)
  })
}
define(SyncConflict, 'local', function () {
  return stateOf(this.localHandle)
})
define(SyncConflict, 'remote', function () {
  return stateOf(this.remoteHandle)
})
define(Snapshot, 'states', function () {
  return this.stateHandles.map(stateOf)
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
Snapshot.prototype[inspect.custom] = fields(['format', 'nodeId', 'states', 'pending', 'conflicts'])

/**
 * The function the native resolver calls: never throws, answers `{ data }` (JSON text),
 * `{ deleted: true }` or `{ error }` (the application's resolver failed; what it threw goes to
 * `slot.cause`): node/src/callbacks.rs ResolverReply.
 */
function resolverAdapter(resolver, slot) {
  return (localHandle, remoteHandle) => {
    try {
      const out = resolver(stateOf(localHandle), stateOf(remoteHandle))
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
  stateOf,
  stateOfText,
  stateHandle,
  stateHandles,
  changeSetParts,
}
