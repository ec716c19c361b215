// The wire functions of the JS API (node/index.d.ts): encode and decode every message kind,
// compress and decompress, written once for both packages over the engine's NativeWire
// (js/src/native.ts). The core does the encoding; this only tells the message kinds apart.
import type * as api from 'statesync-api'
import type { NativeWire } from './native.js'
import { SyncError } from './errors.js'
import { engineSlot } from './registry.js'
import {
  ChangeSet,
  Snapshot,
  SyncOperation,
  SyncState,
  changeSetOf,
  operationsOfText,
  snapshotOfText,
  snapshotText,
  stateOfRef,
} from './values.js'

/** The engine, registered by the package when it loads. */
const slot = engineSlot<NativeWire>()

/** Registers the engine's wire functions; the package does it once, when it loads. */
export const useNativeWire: (wire: NativeWire) => void = slot.use

const native = slot.get

/** `value` if it is bytes; INVALID_INPUT otherwise. */
function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new SyncError('INVALID_INPUT', 'expected a Uint8Array (or Buffer) of encoded bytes')
  }
  return value
}

/** Encodes a SyncState, ChangeSet, Snapshot or SyncOperation[] (default encoding: JSON). */
export function encode(value: api.WireMessage, encoding?: api.WireEncoding): Uint8Array<ArrayBuffer> {
  const w = native()
  if (value instanceof SyncState) return w.encodeState(value, encoding)
  if (value instanceof ChangeSet) return w.encodeChangeSet(value, encoding)
  if (value instanceof Snapshot) return w.encodeSnapshot(snapshotText(value), encoding)
  if (Array.isArray(value) && value.every((op) => op instanceof SyncOperation)) {
    return w.encodeOperations(JSON.stringify(value), encoding)
  }
  throw new SyncError('INVALID_INPUT', 'encode() takes a SyncState, ChangeSet, Snapshot or SyncOperation[]')
}

/** Decodes a state; without an encoding, the message's first byte tells binary from JSON. */
export function decodeState(b: Uint8Array, encoding?: api.WireEncoding): SyncState {
  return stateOfRef(native().decodeState(bytes(b), encoding))!
}

/** Decodes a change set. */
export function decodeChangeSet(b: Uint8Array, encoding?: api.WireEncoding): ChangeSet {
  const page = native().decodeChangeSet(bytes(b), encoding)
  return changeSetOf(page.states, page.cursor, page.hasMore)
}

/** Decodes a snapshot. */
export function decodeSnapshot(b: Uint8Array, encoding?: api.WireEncoding): Snapshot {
  return snapshotOfText(native().decodeSnapshot(bytes(b), encoding))
}

/** Decodes a list of pending operations. */
export function decodeOperations(b: Uint8Array, encoding?: api.WireEncoding): SyncOperation[] {
  return operationsOfText(native().decodeOperations(bytes(b), encoding))
}

/** zstd-compresses bytes (the browser package has no zstd: UNSUPPORTED_FORMAT). */
export function compress(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return native().compress(bytes(b))
}

/** Decompresses zstd bytes; CORRUPT when damaged. */
export function decompress(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return native().decompress(bytes(b))
}
