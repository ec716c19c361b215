// The value classes of the API. A SyncState keeps its version inside WebAssembly (a handle)
// or as wire JSON text, and converts its fields to JS only when one is read.
import type * as shape from "./statesync.js";
import type { State } from "./wasm/statesync_wasm.js";
import { isStopped, wasm } from "./runtime.js";
import { SyncError } from "./errors.js";

type JSONValue = shape.JSONValue;
type Clock = shape.Clock;
type Timestamp = shape.Timestamp;

/** The wire JSON object of a state. */
interface WireState {
  id: string;
  collection?: string;
  data: JSONValue;
  clock: Clock;
  timestamp: Timestamp;
  modified_by?: string;
  deleted?: boolean;
  version: number;
  hash: string;
}

const INTERNAL = Symbol("internal");

/** One version of one state. Immutable; `toJSON()` gives its wire JSON form. */
export class SyncState {
  #handle: State | undefined;
  #text: string | undefined;
  #wire: WireState | undefined;

  /** @internal */
  private constructor(token?: typeof INTERNAL, handle?: State, text?: string) {
    if (token !== INTERNAL) throw new SyncError("INVALID_INPUT", "use SyncState.fromJSON");
    this.#handle = handle;
    this.#text = text;
  }

  /** @internal A version held in WebAssembly. */
  static _fromHandle(handle: State): SyncState {
    return new SyncState(INTERNAL, handle, undefined);
  }

  /** @internal A version from wire JSON text the core produced (already valid). */
  static _fromText(text: string): SyncState {
    return new SyncState(INTERNAL, undefined, text);
  }

  /** Parses the wire JSON form (text or parsed object); INVALID_STATE when malformed. */
  static fromJSON(json: string | object): SyncState {
    const text = typeof json === "string" ? json : JSON.stringify(json);
    return SyncState._fromHandle(wasm.State.fromJson(text));
  }

  /** @internal The wire JSON text. */
  _json(): string {
    if (this.#text === undefined) this.#text = this.#handle!.json();
    return this.#text;
  }

  /** @internal The version as a WebAssembly handle (of the running instance: a stopped one's is read again). */
  _state(): State {
    if (this.#handle === undefined || isStopped(this.#handle)) this.#handle = wasm.State.fromJson(this._json());
    return this.#handle;
  }

  #w(): WireState {
    if (this.#wire === undefined) this.#wire = JSON.parse(this._json()) as WireState;
    return this.#wire;
  }

  get id(): string {
    return this.#w().id;
  }
  get collection(): string {
    return this.#w().collection ?? "default";
  }
  get data(): JSONValue {
    return this.#w().data;
  }
  get clock(): Clock {
    return this.#w().clock;
  }
  get timestamp(): Timestamp {
    return this.#w().timestamp;
  }
  get modifiedBy(): string {
    const w = this.#w();
    return w.modified_by ?? w.timestamp.node;
  }
  get deleted(): boolean {
    return this.#w().deleted ?? false;
  }
  get version(): number {
    return this.#w().version;
  }
  get hash(): string {
    return this.#w().hash;
  }

  /** The wire JSON form, as an object (what JSON.stringify uses). */
  toJSON(): object {
    return JSON.parse(this._json()) as object;
  }

  /** True when both are the same version (same id, collection, clock, timestamp and content). */
  equals(other: shape.SyncState): boolean {
    return other instanceof SyncState && this._json() === other._json();
  }
}

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
    this.local = SyncState._fromText(JSON.stringify(w.local));
    this.remote = SyncState._fromText(JSON.stringify(w.remote));
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

/** A page of the changes feed. */
export class ChangeSet {
  readonly states: SyncState[];
  readonly cursor: string;
  readonly hasMore: boolean;
  constructor(states: shape.SyncState[], cursor: string, hasMore: boolean) {
    for (const s of states) {
      if (!(s instanceof SyncState)) throw new SyncError("INVALID_STATE", "invalid state: not a SyncState");
    }
    this.states = states as SyncState[];
    this.cursor = cursor;
    this.hasMore = hasMore;
  }
  /** @internal The change-set wire JSON text. */
  _json(): string {
    const states = this.states.map((s) => s._json()).join(",");
    return `{"format":1,"states":[${states}],"cursor":${JSON.stringify(this.cursor)},"has_more":${this.hasMore}}`;
  }
  toJSON(): object {
    return JSON.parse(this._json()) as object;
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
    this.states = (w.states as object[]).map((s) => SyncState._fromText(JSON.stringify(s)));
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
