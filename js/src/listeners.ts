// The listeners of `SyncManager.on/once/off` (node/index.d.ts), written once for both packages
// (js/README.md): which names exist, in what order listeners run, what a listener's exception
// does. The engine starts receiving its core's events when `add` says the first listener came,
// and stops when `remove` says the last one went. The table holds nothing of the engine: a
// native subscription that delivers into it does not keep the replica alive.
import { SyncError } from './errors.js'

/** Every event name a listener may be added for; `event` receives all of them. */
export const EVENT_NAMES: readonly string[] = [
  'stateCreated',
  'stateUpdated',
  'stateDeleted',
  'conflictDetected',
  'conflictResolved',
  'stateRejected',
  'syncStarted',
  'syncCompleted',
  'syncFailed',
  'statusChanged',
  'event',
]

const NAMES = new Set(EVENT_NAMES)

/** A listener as added, and the function `once` wraps it in. */
interface Entry<E> {
  listener: (event: E) => void
  once: boolean
}

/** The listeners of one replica. */
export class Listeners<E extends { name: string }> {
  #byName = new Map<string, Entry<E>[]>()
  #count = 0

  /**
   * Adds `listener` for `name` (every time it is added, it runs once more per event); true when
   * it is the only listener now (the engine starts receiving events).
   */
  add(name: string, listener: (event: E) => void, once = false): boolean {
    if (!NAMES.has(name)) {
      throw new SyncError('INVALID_INPUT', `unknown event ${String(name)}: ${EVENT_NAMES.join(', ')}`)
    }
    if (typeof listener !== 'function') throw new SyncError('INVALID_INPUT', 'a listener is a function')
    const list = this.#byName.get(name) ?? []
    list.push({ listener, once })
    this.#byName.set(name, list)
    this.#count++
    return this.#count === 1
  }

  /**
   * Removes the last-added `listener` of `name` (a `once` one too; nothing if it is not there);
   * true when no listener is left (the engine stops receiving events).
   */
  remove(name: string, listener: (event: E) => void): boolean {
    const list = this.#byName.get(name) ?? []
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].listener === listener) {
        this.#drop(name, list[i])
        return this.#count === 0
      }
    }
    return false
  }

  #drop(name: string, entry: Entry<E>): void {
    const list = this.#byName.get(name)
    const at = list?.indexOf(entry) ?? -1
    if (list === undefined || at < 0) return
    list.splice(at, 1)
    if (list.length === 0) this.#byName.delete(name)
    this.#count--
  }

  /** How many listeners there are, over every name. */
  get count(): number {
    return this.#count
  }

  /**
   * Delivers `event` to the listeners of its name, then to those of `event`, in the order they
   * were added. A listener's exception is the application's: thrown again, uncaught, once the
   * delivery is over (as an EventEmitter's would be), never into the call that committed.
   */
  dispatch(event: E): void {
    for (const name of [event.name, 'event']) {
      const list = this.#byName.get(name)
      if (list === undefined) continue
      for (const entry of [...list]) {
        if (entry.once) this.#drop(name, entry)
        try {
          entry.listener(event)
        } catch (error) {
          queueMicrotask(() => {
            throw error
          })
        }
      }
    }
  }
}
