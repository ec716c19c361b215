// What the shared JS layer needs from an engine: the typed native interface that the napi addon
// (node/lib/values.cjs adapts node/src/values.rs) and the wasm module (wasm/ts/values.ts adapts
// wasm/src/values.rs) both satisfy. Written against no engine; each package registers its own.
import type { Clock, ClockOrdering } from 'statesync-api'

/**
 * The state-version side of an engine. `H` is the engine's handle of one immutable version held
 * by the core (napi: an opaque external; wasm-bindgen: a `State` object). Every method throws
 * the package's SyncError, never the engine's own error.
 */
export interface NativeValues<H = unknown> {
  /** The handle of a state's wire JSON text: the core parses and validates it (INVALID_STATE). */
  stateFromJson(text: string): H
  /** The wire JSON text of a version (the core's canonical form). */
  stateJson(handle: H): string
  /** True when both handles hold the same version (same id, collection, clock, timestamp, content). */
  stateEquals(a: H, b: H): boolean
  /**
   * False for a handle the engine can no longer use, which is then made again from the version's
   * text: the browser's handles die with a WebAssembly instance stopped by a trap; napi's never do.
   */
  usable(handle: H): boolean
  /** A snapshot's JSON text parsed and validated by the core, as its canonical text (CORRUPT, UNSUPPORTED_FORMAT or INVALID_STATE when bad). */
  snapshotJson(text: string): string
}

/**
 * The vector-clock functions of an engine, over clocks as the API has them (objects of node ids
 * to counters, already checked to be objects). The core compares, merges and increments; it
 * refuses a counter that is not a whole number from 0 to 2^53 - 1 (INVALID_INPUT). Every method
 * throws the package's SyncError.
 */
export interface NativeClocks {
  /** How `a` relates to `b`. */
  compare(a: Clock, b: Clock): ClockOrdering
  /** The entry-wise maximum. */
  merge(a: Clock, b: Clock): Clock
  /** True when `a` has seen everything `b` has. */
  dominates(a: Clock, b: Clock): boolean
  /** `clock` after one more write of `node`. */
  increment(clock: Clock, node: string): Clock
}
