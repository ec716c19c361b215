'use strict'
// The wire functions and the vector clock helpers.

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

function clock(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    invalidInput('a clock is an object of node ids to counters')
  }
  return value
}

const compareClocks = (a, b) => callNative(native.compareClocks, clock(a), clock(b))
const mergeClocks = (a, b) => callNative(native.mergeClocks, clock(a), clock(b))
const dominates = (a, b) => callNative(native.dominates, clock(a), clock(b))
const incrementClock = (a, node) => {
  if (typeof node !== 'string') invalidInput('incrementClock() takes a clock and a node id')
  return callNative(native.incrementClock, clock(a), node)
}

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
