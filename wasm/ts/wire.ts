// The wire format through the core: encode and decode every message kind.
import type * as shape from "./statesync.js";
import { wasm } from "./runtime.js";
import { SyncError } from "./errors.js";
import { ChangeSet, Snapshot, SyncOperation, SyncState } from "./values.js";
import { changeSetText, operationsOfText, snapshotOfText, snapshotText, stateOfText, stateText } from "./shared/values.js";

type WireEncoding = shape.WireEncoding;
const utf8 = new TextDecoder();

function guess(bytes: Uint8Array, encoding: WireEncoding | undefined): WireEncoding {
  return encoding ?? (bytes[0] === 0xf5 ? "binary" : "json");
}

/** Encodes a state, change set, snapshot or list of operations (default: JSON). */
export function encode(value: shape.WireMessage, encoding: WireEncoding = "json"): Uint8Array<ArrayBuffer> {
  return encodeAny(value, encoding) as Uint8Array<ArrayBuffer>;
}

function encodeAny(value: unknown, encoding: WireEncoding): Uint8Array {
  if (value instanceof SyncState) return wasm.wireEncode("state", stateText(value), encoding);
  if (value instanceof ChangeSet) return wasm.wireEncode("changeset", changeSetText(value), encoding);
  if (value instanceof Snapshot) return wasm.wireEncode("snapshot", snapshotText(value), encoding);
  if (Array.isArray(value)) return wasm.wireEncode("pending", JSON.stringify(value.map((o: SyncOperation) => o.toJSON())), encoding);
  throw new SyncError("INVALID_INPUT", "invalid input: encode takes a SyncState, ChangeSet, Snapshot or SyncOperation[]");
}

/** Decodes a state; without an encoding, the first byte tells binary from JSON. */
export function decodeState(bytes: Uint8Array, encoding?: WireEncoding): SyncState {
  return stateOfText(wasm.wireDecode("state", bytes, guess(bytes, encoding)));
}

/** Decodes a change set. */
export function decodeChangeSet(bytes: Uint8Array, encoding?: WireEncoding): ChangeSet {
  const text = wasm.wireDecode("changeset", bytes, guess(bytes, encoding));
  const w = JSON.parse(text) as { states: object[]; cursor: string; has_more: boolean };
  return new ChangeSet(w.states.map((s) => stateOfText(JSON.stringify(s))), w.cursor, w.has_more);
}

/** Decodes a snapshot. */
export function decodeSnapshot(bytes: Uint8Array, encoding?: WireEncoding): Snapshot {
  return snapshotOfText(wasm.wireDecode("snapshot", bytes, guess(bytes, encoding)));
}

/** Decodes a list of pending operations. */
export function decodeOperations(bytes: Uint8Array, encoding?: WireEncoding): SyncOperation[] {
  return operationsOfText(wasm.wireDecode("pending", bytes, guess(bytes, encoding)));
}

/** zstd is a C library the browser build leaves out: always UNSUPPORTED_FORMAT. */
export function compress(_bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  throw new SyncError("UNSUPPORTED_FORMAT", "unsupported format: the browser package has no zstd");
}

/** zstd is a C library the browser build leaves out: always UNSUPPORTED_FORMAT. */
export function decompress(_bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  throw new SyncError("UNSUPPORTED_FORMAT", "unsupported format: the browser package has no zstd");
}

/** @internal UTF-8 text of bytes. */
export function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
