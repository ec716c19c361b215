'use strict'
// The value classes are the native ones; this adds what is better done in JS: `data` (JSON.parse
// is faster in V8 than building objects property by property across napi), `toJSON()`,
// `fromJSON()` and a readable `util.inspect`.

const { inspect } = require('node:util')
const native = require('../native.cjs')
const { SyncError, toSyncError, invalidInput } = require('./errors.cjs')

const { SyncState, SyncOperation, SyncConflict, ChangeSet, Snapshot } = native

/** Returned by a resolver: the merged result is a deletion. */
const DELETED = Symbol('statesync.DELETED')

/** JSON text of application data, following JSON.stringify's rules. */
function dataJson(data, what = 'data') {
  let json
  try {
    json = JSON.stringify(data)
  } catch (error) {
    invalidInput(`${what} cannot be written as JSON: ${error.message}`, error)
  }
  if (json === undefined) invalidInput(`${what} is ${typeof data}, which JSON cannot represent`)
  return json
}

function define(cls, name, get) {
  Object.defineProperty(cls.prototype, name, { get, enumerable: true, configurable: true })
}

function fields(names) {
  return function (depth, options, inspectFn) {
    const out = {}
    for (const n of names) out[n] = this[n]
    return `${this.constructor.name} ${inspectFn(out, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`
  }
}

for (const cls of [SyncState, SyncOperation]) {
  define(cls, 'data', function () {
    return JSON.parse(this.dataJson)
  })
}
for (const cls of [SyncState, SyncOperation, SyncConflict, ChangeSet, Snapshot]) {
  cls.prototype.toJSON = function () {
    return JSON.parse(this.wireJson())
  }
}

function fromJSON(factory, json, what) {
  const text = typeof json === 'string' ? json : dataJson(json, what)
  try {
    return factory(text)
  } catch (error) {
    throw toSyncError(error)
  }
}

SyncState.fromJSON = (json) => fromJSON((text) => SyncState.fromWireJson(text), json, 'a state')
Snapshot.fromJSON = (json) => fromJSON((text) => Snapshot.fromWireJson(text), json, 'a snapshot')

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
 * The function the native resolver calls: never throws, answers "d<json>" (data), "x"
 * (deleted) or "e<message>" (the application's resolver failed; its error goes to `slot.cause`).
 */
function resolverAdapter(resolver, slot) {
  return (local, remote) => {
    try {
      const out = resolver(local, remote)
      if (out === DELETED) return 'x'
      if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
        throw new SyncError('RESOLVER', 'a resolver must return its result, not a Promise')
      }
      return 'd' + dataJson(out, 'the resolver result')
    } catch (error) {
      slot.cause = error
      return 'e' + (error instanceof Error ? `${error.name}: ${error.message}` : String(error))
    }
  }
}

const STRATEGIES = new Set(['lastWriteWins', 'mergeFields', 'localWins', 'remoteWins', 'manual'])

/** A strategy for the native module: its name, or the resolver's adapter. */
function nativeStrategy(strategy, slot) {
  if (typeof strategy === 'function') return resolverAdapter(strategy, slot)
  if (typeof strategy === 'string' && STRATEGIES.has(strategy)) return strategy
  invalidInput(`unknown strategy ${inspect(strategy)}: ${[...STRATEGIES].join(', ')} or a resolver function`)
}

module.exports = {
  SyncState,
  SyncOperation,
  SyncConflict,
  ChangeSet,
  Snapshot,
  DELETED,
  dataJson,
  nativeStrategy,
}
