'use strict'
// The value classes: the JS classes both packages share (js/src/values.ts, compiled into
// lib/shared/), registered over this addon, and the adapter of a JS resolver.

const native = require('../native.cjs')
const { SyncError, toSyncError, callNative, guardNativeClass } = require('./errors.cjs')

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

// A state's handle is this addon's opaque external of one version (node/src/values.rs), usable
// as long as it lives; operations, conflicts and snapshots come as the core's JSON text.
const shared = require('./shared/values.js')
const { SyncState, SyncOperation, SyncConflict, ChangeSet, Snapshot } = shared
shared.useNativeValues({
  stateFromJson: (text) => callNative(native.stateFromWireJson, text),
  stateJson: (handle) => callNative(native.stateWireJson, handle),
  stateEquals: (a, b) => callNative(native.stateEquals, a, b),
  usable: () => true,
  snapshotJson: (text) => callNative(native.snapshotWireJson, text),
})
const { stateOf, stateOfText, stateHandle, stateHandles, changeSetOf } = shared

/** Returned by a resolver: the merged result is a deletion. */
const DELETED = Symbol('statesync.DELETED')

/** The ChangeSet of the parts the addon returns (`{ states: handles, cursor, hasMore }`). */
const changeSetParts = (parts) => changeSetOf(parts.states, parts.cursor, parts.hasMore)

// JSON text of application data (JSON.stringify's rules): shared with the browser package.
const { dataJson } = require('./shared/convert.js')

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
  operationsOfText: shared.operationsOfText,
  conflictOfText: shared.conflictOfText,
  conflictsOfText: shared.conflictsOfText,
  snapshotOfText: shared.snapshotOfText,
  snapshotText: shared.snapshotText,
}
