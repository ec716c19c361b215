// `SyncManager.events()` of the JS API (node/index.d.ts), written once for both packages: the
// Node package compiles this folder to CommonJS (node/lib/shared/), the browser package to an
// ES module (wasm/dist/shared/); js/README.md says how. Engine-neutral: it only needs a way to
// add and remove a listener for every event.

/** Where events come from: the manager's own `on('event')` / `off('event')`. */
export interface EventSource<E> {
  /** Starts delivering every event to `listener`. */
  on(listener: (event: E) => void): void
  /** Stops delivering to `listener`. */
  off(listener: (event: E) => void): void
}

/** Options of `events()`, plus what the engine asks for. */
export interface EventsOptions {
  /** Ends the iteration when it aborts (already aborted: no event at all). */
  signal?: AbortSignal
  /**
   * Keeps the host alive while the iteration runs, as a server waiting for events expects (Node:
   * events arrive through unreferenced handles, so nothing else would keep the process alive).
   */
  keepAlive?: boolean
}

/**
 * Every event from the moment of the call, until the signal aborts or the loop stops (`break`,
 * `return()`): listening starts now, not at the first `next()`, so nothing committed after the
 * call is missed; once ended, events still queued are dropped.
 */
export function eventsIterator<E>(source: EventSource<E>, options: EventsOptions = {}): AsyncIterableIterator<E> {
  const { signal, keepAlive = false } = options
  const queue: E[] = []
  let wake: (() => void) | null = null
  let done = false
  const timer = keepAlive ? setInterval(() => {}, 2 ** 30) : undefined
  const listener = (event: E): void => {
    queue.push(event)
    wake?.()
  }
  const finish = (): void => {
    if (done) return
    done = true
    if (timer !== undefined) clearInterval(timer)
    signal?.removeEventListener('abort', finish)
    source.off(listener)
    wake?.()
  }
  source.on(listener)
  if (signal?.aborted) finish()
  signal?.addEventListener('abort', finish)
  const iterator: AsyncIterableIterator<E> = {
    [Symbol.asyncIterator]() {
      return iterator
    },
    async next(): Promise<IteratorResult<E>> {
      while (!done && queue.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        wake = null
      }
      if (!done && queue.length > 0) return { value: queue.shift() as E, done: false }
      return { value: undefined, done: true }
    },
    async return(): Promise<IteratorResult<E>> {
      finish()
      return { value: undefined, done: true }
    },
  }
  return iterator
}
