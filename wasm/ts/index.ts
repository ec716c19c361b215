// The browser package (and its Node entry): the API of node/index.d.ts over the core in
// WebAssembly. Browser-only additions are typed in browser.d.ts.
export { SyncError } from "./errors.js";
export { SyncState, SyncOperation, SyncConflict, ChangeSet, Snapshot, ManualClock, DELETED } from "./values.js";
export { compareClocks, mergeClocks, incrementClock, dominates } from "./values.js";
export { encode, decodeState, decodeChangeSet, decodeSnapshot, decodeOperations, compress, decompress } from "./wire.js";
export { HttpTransport } from "./transport.js";
export { SyncManager } from "./manager.js";
import { wasm } from "./runtime.js";

/** The package version. */
export const VERSION: string = "0.1.0";
/** The sync protocol version this build speaks. */
export const PROTOCOL_VERSION: number = wasm.protocolVersion();
/** The wire format version this build writes. */
export const WIRE_FORMAT: number = wasm.wireFormat();
/** Deepest nesting of `data` accepted. */
export const MAX_DATA_DEPTH: number = wasm.maxDataDepth();
/** Largest counter, version or millisecond value: 2^53 - 1. */
export const MAX_COUNTER: number = Number.MAX_SAFE_INTEGER;
