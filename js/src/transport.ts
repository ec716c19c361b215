// A transport written by the application (an object with `capabilities`, `pull`, `push`), as
// both packages take it (js/README.md): what it must look like and what its push must return.
import { SyncError } from './errors.js'

/** The application's transport: INVALID_INPUT unless it has the three methods. */
export function checkTransport(transport: unknown): void {
  for (const method of ['capabilities', 'pull', 'push']) {
    const t = transport as Record<string, unknown> | null
    if (t === null || typeof t !== 'object' || typeof t[method] !== 'function') {
      throw new SyncError(
        'INVALID_INPUT',
        'a transport is an HttpTransport or an object with capabilities(), pull() and push()',
      )
    }
  }
}

/**
 * The JSON text of what `push` returned (the core reads its counts); a value that is no object
 * throws a TypeError, which the round reports as the transport's failure (TRANSPORT, the
 * TypeError as its cause). A refusal's kept version (`current`) given as its JSON text is
 * written as the JSON object it holds, as a SyncState writes itself: engines read objects.
 */
export function pushCounts(result: unknown): string {
  if (result === null || typeof result !== 'object') {
    throw new TypeError(`transport.push() returned ${typeof result}, expected a ReconciliationResult`)
  }
  const { rejections } = result as { rejections?: unknown }
  if (!Array.isArray(rejections) || !rejections.some((r) => typeof r?.current === 'string')) {
    return JSON.stringify(result)
  }
  const kept = rejections.map((r: { current?: unknown }) => {
    if (typeof r?.current !== 'string') return r
    try {
      return { ...r, current: JSON.parse(r.current) as unknown }
    } catch {
      throw new TypeError('transport.push() returned a rejection whose current is neither a state nor its JSON')
    }
  })
  return JSON.stringify({ ...result, rejections: kept })
}
