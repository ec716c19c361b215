// Where each part of the shared JS layer finds its engine's side (js/src/native.ts): registered
// once by the package when it loads, before anything of the API runs.
import { SyncError } from './errors.js'

/** One part of an engine, registered once: `use` sets it, `get` reads it (INTERNAL if never set). */
export interface EngineSlot<T> {
  use(part: T): void
  get(): T
}

/** A slot for one part of the engine. */
export function engineSlot<T>(): EngineSlot<T> {
  let part: T | undefined
  return {
    use(p: T): void {
      part = p
    },
    get(): T {
      if (part === undefined) throw new SyncError('INTERNAL', 'statesync internal error: no engine registered')
      return part
    },
  }
}
