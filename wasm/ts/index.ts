// The browser package (and its Node entry): the API of node/index.d.ts, written once in js/src
// (built into dist/shared/) over the core in WebAssembly (engine.ts). Browser-only additions are
// typed in browser.d.ts.
import "./engine.js";
import { wasm } from "./runtime.js";
export { SyncError } from "./shared/errors.js";
export { SyncState, SyncOperation, SyncConflict, ChangeSet, Snapshot } from "./shared/values.js";
export { DELETED } from "./shared/convert.js";
export { ManualClock, compareClocks, mergeClocks, incrementClock, dominates } from "./shared/clocks.js";
export { encode, decodeState, decodeChangeSet, decodeSnapshot, decodeOperations, compress, decompress } from "./shared/wire.js";
export { HttpTransport } from "./transport.js";
export { SyncManager } from "./manager.js";

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
