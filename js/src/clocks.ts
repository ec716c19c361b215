// The vector-clock functions of the JS API (node/index.d.ts), written once for both packages
// over the engine's NativeClocks (js/src/native.ts): this only checks the arguments' shape; the
// core does the rest.
import type * as api from 'statesync-api'
import type { NativeClocks, NativeManualClock } from './native.js'
import { SyncError } from './errors.js'
import { engineSlot } from './registry.js'

/** The engine, registered by the package when it loads. */
const slot = engineSlot<NativeClocks>()

/** Registers the engine's clock functions; the package does it once, when it loads. */
export const useNativeClocks: (clocks: NativeClocks) => void = slot.use

const native = slot.get

/** `value` if it is a clock's shape (an object, not an array); INVALID_INPUT otherwise. */
function clock(value: unknown): api.Clock {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SyncError('INVALID_INPUT', 'a clock is an object of node ids to counters')
  }
  return value as api.Clock
}

/** How `a` relates to `b`: equal, before, after or concurrent. */
export const compareClocks = (a: api.Clock, b: api.Clock): api.ClockOrdering => native().compare(clock(a), clock(b))

/** The entry-wise maximum of two clocks. */
export const mergeClocks = (a: api.Clock, b: api.Clock): api.Clock => native().merge(clock(a), clock(b))

/** True when `a` has seen everything `b` has. */
export const dominates = (a: api.Clock, b: api.Clock): boolean => native().dominates(clock(a), clock(b))

/** `value` after one more write of `node`: its entry is the new counter (a missing node was 0). */
export function incrementClock(value: api.Clock, node: string): api.Clock {
  if (typeof node !== 'string') throw new SyncError('INVALID_INPUT', 'incrementClock() takes a clock and a node id')
  return native().increment(clock(value), node)
}

/** The engine's clock inside each ManualClock. */
const clocks = new WeakMap<ManualClock, NativeManualClock>()

/** A wall clock moved by hand (tests, simulations), in milliseconds since the epoch. */
export class ManualClock implements api.ManualClock {
  constructor(millis: number) {
    clocks.set(this, native().manualClock(millis))
  }

  /** Moves the clock to `millis`. */
  set(millis: number): void {
    clockOf(this).set(millis)
  }

  /** The clock's time. */
  now(): number {
    return clockOf(this).now()
  }
}

/** The engine's clock of a ManualClock. */
function clockOf(clock: ManualClock): NativeManualClock {
  const c = clocks.get(clock)
  if (c === undefined) throw new SyncError('INVALID_INPUT', 'not a ManualClock')
  return c
}

/** `open`'s `clock` option as the engine takes it: its handle (none when absent); INVALID_INPUT for what is no ManualClock. */
export function clockHandle(clock: unknown): NativeManualClock | undefined {
  if (clock === undefined || clock === null) return undefined
  if (!(clock instanceof ManualClock)) throw new SyncError('INVALID_INPUT', 'clock is a ManualClock')
  return clockOf(clock)
}
