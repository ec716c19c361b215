'use strict'
// The wire functions and the vector clock helpers.

const native = require('../native.cjs')
const { toSyncError, invalidInput } = require('./errors.cjs')
const { SyncState, SyncOperation, ChangeSet, Snapshot, wrapState, handlesOf, kHandle } = require('./values.cjs')

function call(f, ...args) {
  try {
    return f(...args)
  } catch (error) {
    throw toSyncError(error)
  }
}

function bytes(value) {
  if (!(value instanceof Uint8Array)) invalidInput('expected a Uint8Array (or Buffer) of encoded bytes')
  return value
}

/** Encodes a SyncState, ChangeSet, Snapshot or SyncOperation[]. */
function encode(value, encoding = 'json') {
  if (value instanceof SyncState) return call(native.encodeState, value[kHandle], encoding)
  if (value instanceof ChangeSet) {
    return call(native.encodeChangeSet, handlesOf(value.states, 'states'), value.cursor, value.hasMore, encoding)
  }
  if (value instanceof Snapshot) return call(native.encodeSnapshot, value, encoding)
  if (Array.isArray(value) && value.every((op) => op instanceof SyncOperation)) {
    return call(native.encodeOperations, value, encoding)
  }
  invalidInput('encode() takes a SyncState, ChangeSet, Snapshot or SyncOperation[]')
}

const decodeState = (b, encoding = 'json') => wrapState(call(native.decodeState, bytes(b), encoding))
const decodeChangeSet = (b, encoding = 'json') => ChangeSet.fromParts(call(native.decodeChangeSet, bytes(b), encoding))
const decodeSnapshot = (b, encoding = 'json') => call(native.decodeSnapshot, bytes(b), encoding)
const decodeOperations = (b, encoding = 'json') => call(native.decodeOperations, bytes(b), encoding)
const compress = (b) => call(native.compress, bytes(b))
const decompress = (b) => call(native.decompress, bytes(b))

function clock(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    invalidInput('a clock is an object of node ids to counters')
  }
  return value
}

const compareClocks = (a, b) => call(native.compareClocks, clock(a), clock(b))
const mergeClocks = (a, b) => call(native.mergeClocks, clock(a), clock(b))
const dominates = (a, b) => call(native.dominates, clock(a), clock(b))

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
}
