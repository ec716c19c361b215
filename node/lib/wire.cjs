'use strict'
// The wire functions, and the vector clock functions registered over the addon.

const native = require('../native.cjs')
const { callNative, invalidInput } = require('./errors.cjs')
const {
  SyncState,
  SyncOperation,
  ChangeSet,
  Snapshot,
  stateOf,
  stateHandle,
  stateHandles,
  changeSetParts,
  operationsOfText,
  snapshotOfText,
  snapshotText,
} = require('./values.cjs')

function bytes(value) {
  if (!(value instanceof Uint8Array)) invalidInput('expected a Uint8Array (or Buffer) of encoded bytes')
  return value
}

/** Encodes a SyncState, ChangeSet, Snapshot or SyncOperation[]. */
function encode(value, encoding = 'json') {
  if (value instanceof SyncState) return callNative(native.encodeState, stateHandle(value), encoding)
  if (value instanceof ChangeSet) {
    return callNative(
      native.encodeChangeSet,
      stateHandles(value.states, 'states'),
      value.cursor,
      value.hasMore,
      encoding,
    )
  }
  if (value instanceof Snapshot) return callNative(native.encodeSnapshot, snapshotText(value), encoding)
  if (Array.isArray(value) && value.every((op) => op instanceof SyncOperation)) {
    return callNative(native.encodeOperations, `{"format":1,"operations":${JSON.stringify(value)}}`, encoding)
  }
  invalidInput('encode() takes a SyncState, ChangeSet, Snapshot or SyncOperation[]')
}

const decodeState = (b, encoding = 'json') => stateOf(callNative(native.decodeState, bytes(b), encoding))
const decodeChangeSet = (b, encoding = 'json') => changeSetParts(callNative(native.decodeChangeSet, bytes(b), encoding))
const decodeSnapshot = (b, encoding = 'json') => snapshotOfText(callNative(native.decodeSnapshot, bytes(b), encoding))
const decodeOperations = (b, encoding = 'json') =>
  operationsOfText(callNative(native.decodeOperations, bytes(b), encoding))
const compress = (b) => callNative(native.compress, bytes(b))
const decompress = (b) => callNative(native.decompress, bytes(b))

// The clock functions are the JS both packages share (js/src/clocks.ts), over this addon's,
// which take clocks as objects and check their counters (node/src/clock.rs).
const clocks = require('./shared/clocks.js')
clocks.useNativeClocks({
  compare: (a, b) => callNative(native.compareClocks, a, b),
  merge: (a, b) => callNative(native.mergeClocks, a, b),
  dominates: (a, b) => callNative(native.dominates, a, b),
  increment: (clock, node) => callNative(native.incrementClock, clock, node),
})
const { compareClocks, mergeClocks, dominates, incrementClock } = clocks

module.exports = {
  encode,
  decodeState,
  decodeChangeSet,
  decodeSnapshot,
  decodeOperations,
  compress,
  decompress,
  compareClocks,
  mergeClocks,
  dominates,
  incrementClock,
}
