// Arguments of the JS API converted for the engine, written once for both packages
// (js/README.md): data to JSON text, a conflict's resolution to its parts. What the values mean
// (limits, names, sizes) the core checks; this only refuses what has no JSON or no shape.
import type * as api from 'statesync-api'
import { SyncError } from './errors.js'

/** `data` as JSON text; INVALID_INPUT (`what` naming it) for a value JSON cannot hold. */
export function dataJson(data: unknown, what = 'data'): string {
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new SyncError('INVALID_INPUT', `${what} cannot be written as JSON: ${reason}`, { cause: error })
  }
  if (json === undefined) throw new SyncError('INVALID_INPUT', `${what} is ${typeof data}, which JSON cannot represent`)
  return json
}

/** A resolution of `resolveConflict` as the engines take it: a side, or the data's JSON text. */
export interface ResolutionParts {
  pick?: 'local' | 'remote'
  data?: string
}

/** `{ pick: 'local' | 'remote' }` or `{ data }`, exactly one; INVALID_INPUT for anything else. */
export function resolutionParts(resolution: unknown): ResolutionParts {
  const r = resolution as { pick?: unknown; data?: unknown } | null | undefined
  if (r && typeof r === 'object' && (r.pick === 'local' || r.pick === 'remote') && !('data' in r)) {
    return { pick: r.pick }
  }
  if (r && typeof r === 'object' && 'data' in r && !('pick' in r)) {
    return { data: dataJson(r.data, 'the resolution data') }
  }
  throw new SyncError(
    'INVALID_INPUT',
    'a resolution is { pick: "local" }, { pick: "remote" } or { data: <JSON value> }',
  )
}

/** Returned by a resolver: the merged result is a deletion (one symbol for every package of a process). */
export const DELETED: typeof api.DELETED = Symbol.for('statesync.DELETED') as typeof api.DELETED
