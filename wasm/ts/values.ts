// The value classes of the API in the browser: the shared ones (js/src/values.ts) registered
// over the wasm module, and what only this package has (ManualClock over the module's clock, the
// DELETED typed by this package's copy of the API) and the registration of both.
import type * as shape from "./statesync.js";
import type { State } from "./wasm/statesync_wasm.js";
import { isStopped, wasm } from "./runtime.js";
import { ChangeSet, Snapshot, SyncConflict, SyncOperation, SyncState, useNativeValues } from "./shared/values.js";
import { compareClocks, dominates, incrementClock, mergeClocks, useNativeClocks } from "./shared/clocks.js";

type Clock = shape.Clock;

// The value classes are shared with the Node package (js/src/values.ts, built
// into dist/shared/), over this engine's value side: a state's handle is a wasm-bindgen `State`
// (wasm/src/values.rs), which dies with the WebAssembly instance that made it (runtime.ts
// replaces an instance a trap stopped), so a state then reads its handle again from its text.
useNativeValues<State>({
  stateFromJson: (text) => wasm.State.fromJson(text),
  stateJson: (handle) => handle.json(),
  stateEquals: (a, b) => a.equals(b),
  usable: (handle) => !isStopped(handle),
  snapshotJson: (text) => wasm.wireDecode("snapshot", new TextEncoder().encode(text), "json"),
});

export { SyncState, ChangeSet, SyncOperation, SyncConflict, Snapshot };

/** A wall clock moved by hand (tests, simulations), in milliseconds. */
export class ManualClock {
  readonly #clock: InstanceType<typeof wasm.ManualClock>;
  constructor(millis: number) {
    this.#clock = new wasm.ManualClock(millis);
  }
  set(millis: number): void {
    this.#clock.set(millis);
  }
  now(): number {
    return this.#clock.now();
  }
  /** @internal Another handle on the same clock, for a replica. */
  _share(): InstanceType<typeof wasm.ManualClock> {
    return this.#clock.share();
  }
}

/** Returned by a resolver to say the merged result is a deletion. */
export const DELETED: typeof shape.DELETED = Symbol.for("statesync.DELETED") as typeof shape.DELETED;

// The clock functions are shared with the Node package (js/src/clocks.ts); the module takes
// clocks as JSON text and gives merged ones back as JSON text (wasm/src/lib.rs).
useNativeClocks({
  compare: (a, b) => wasm.compareClocks(JSON.stringify(a), JSON.stringify(b)) as shape.ClockOrdering,
  merge: (a, b) => JSON.parse(wasm.mergeClocks(JSON.stringify(a), JSON.stringify(b))) as Clock,
  dominates: (a, b) => wasm.dominates(JSON.stringify(a), JSON.stringify(b)),
  increment: (clock, node) => JSON.parse(wasm.incrementClock(JSON.stringify(clock), node)) as Clock,
});

export { compareClocks, mergeClocks, incrementClock, dominates };
