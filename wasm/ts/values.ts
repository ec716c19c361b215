// The value classes of the API in the browser: the shared ones (js/src/values.ts) registered
// over the wasm module, and SyncOperation, SyncConflict and Snapshot, read from the core's JSON.
import type * as shape from "./statesync.js";
import type { State } from "./wasm/statesync_wasm.js";
import { isStopped, wasm } from "./runtime.js";
import { SyncError } from "./errors.js";
import { ChangeSet, SyncState, stateOfText, useNativeValues } from "./shared/values.js";

type JSONValue = shape.JSONValue;
type Clock = shape.Clock;
type Timestamp = shape.Timestamp;

// SyncState and ChangeSet are shared with the Node package (js/src/values.ts, built
// into dist/shared/), over this engine's value side: a state's handle is a wasm-bindgen `State`
// (wasm/src/values.rs), which dies with the WebAssembly instance that made it (runtime.ts
// replaces an instance a trap stopped), so a state then reads its handle again from its text.
useNativeValues<State>({
  stateFromJson: (text) => wasm.State.fromJson(text),
  stateJson: (handle) => handle.json(),
  stateEquals: (a, b) => a.equals(b),
  usable: (handle) => !isStopped(handle),
});

export { SyncState, ChangeSet };

/** A local write waiting to be acknowledged by a peer. */
export class SyncOperation {
  readonly opId: string;
  readonly kind: "create" | "update" | "delete";
  readonly stateId: string;
  readonly collection: string;
  readonly data: JSONValue;
  readonly clock: Clock;
  readonly timestamp: Timestamp;
  readonly nodeId: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private constructor(w?: any) {
    if (w === undefined) throw new SyncError("INVALID_INPUT", "not constructible");
    this.opId = w.op_id;
    this.kind = w.kind;
    this.stateId = w.state_id;
    this.collection = w.collection;
    this.data = w.data;
    this.clock = w.clock;
    this.timestamp = w.timestamp;
    this.nodeId = w.node_id;
  }
  /** @internal */
  static _fromWire(w: object): SyncOperation {
    return new SyncOperation(w);
  }
  toJSON(): object {
    return {
      op_id: this.opId,
      kind: this.kind,
      state_id: this.stateId,
      collection: this.collection,
      data: this.data,
      clock: this.clock,
      timestamp: this.timestamp,
      node_id: this.nodeId,
    };
  }
}

/** A conflict recorded by the `manual` strategy. */
export class SyncConflict {
  readonly conflictId: string;
  readonly stateId: string;
  readonly local: SyncState;
  readonly remote: SyncState;
  readonly detectedAt: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private constructor(w?: any) {
    if (w === undefined) throw new SyncError("INVALID_INPUT", "not constructible");
    this.conflictId = w.conflict_id;
    this.stateId = w.state_id;
    this.local = stateOfText(JSON.stringify(w.local));
    this.remote = stateOfText(JSON.stringify(w.remote));
    this.detectedAt = w.detected_at;
  }
  /** @internal */
  static _fromWire(w: object): SyncConflict {
    return new SyncConflict(w);
  }
  toJSON(): object {
    return {
      conflict_id: this.conflictId,
      state_id: this.stateId,
      local: this.local.toJSON(),
      remote: this.remote.toJSON(),
      detected_at: this.detectedAt,
    };
  }
}

/** A versioned image of a replica: every state (tombstones too), pending operation and conflict. */
export class Snapshot {
  readonly format: number;
  readonly nodeId: string;
  readonly states: SyncState[];
  readonly pending: SyncOperation[];
  readonly conflicts: SyncConflict[];
  readonly #text: string;
  private constructor(text?: string) {
    if (text === undefined) throw new SyncError("INVALID_INPUT", "use Snapshot.fromJSON");
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = JSON.parse(text) as any;
    this.#text = text;
    this.format = w.format;
    this.nodeId = w.node_id;
    this.states = (w.states as object[]).map((s) => stateOfText(JSON.stringify(s)));
    this.pending = (w.pending as object[]).map(SyncOperation._fromWire);
    this.conflicts = (w.conflicts as object[]).map(SyncConflict._fromWire);
  }
  /** @internal Snapshot JSON the core produced. */
  static _fromText(text: string): Snapshot {
    return new Snapshot(text);
  }
  /** CORRUPT, UNSUPPORTED_FORMAT or INVALID_STATE when the text is not a valid snapshot. */
  static fromJSON(json: string | object): Snapshot {
    const text = typeof json === "string" ? json : JSON.stringify(json);
    return new Snapshot(wasm.wireDecode("snapshot", new TextEncoder().encode(text), "json"));
  }
  /** @internal */
  _json(): string {
    return this.#text;
  }
  toJSON(): object {
    return JSON.parse(this.#text) as object;
  }
}

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

export function compareClocks(a: Clock, b: Clock): shape.ClockOrdering {
  return wasm.compareClocks(JSON.stringify(a), JSON.stringify(b)) as shape.ClockOrdering;
}
export function mergeClocks(a: Clock, b: Clock): Clock {
  return JSON.parse(wasm.mergeClocks(JSON.stringify(a), JSON.stringify(b))) as Clock;
}
/** `clock` after one more write of `node`: its entry is the new counter (a missing node was 0). */
export function incrementClock(clock: Clock, node: string): Clock {
  if (typeof node !== "string") throw new SyncError("INVALID_INPUT", "invalid input: incrementClock() takes a clock and a node id");
  return JSON.parse(wasm.incrementClock(JSON.stringify(clock), node)) as Clock;
}
export function dominates(a: Clock, b: Clock): boolean {
  return wasm.dominates(JSON.stringify(a), JSON.stringify(b));
}
