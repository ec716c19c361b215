// Helpers of the wire replayer (wire.test.mjs; the conformance replayer is js/conformance/):
// where the shared vectors live, plain views of the binding's value classes, value equality
// through the canonical binary wire form, and a scanner that finds the exact source text of a
// JSON value (JSON.parse cannot keep 3.0, -0.0 as text or integers beyond 2^53).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as s from '../../index.mjs'

/** The repository root (this file is node/test/support/values.mjs). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const conformanceDir = path.join(repoRoot, 'conformance')
export const wireDir = path.join(conformanceDir, 'wire')

/** A copy of a binding object (null-prototype timestamps and clocks) as an ordinary object. */
function record(value) {
  return value === null || value === undefined ? value : { ...value }
}

/** Every public field of a SyncState, as plain JS values. */
export function stateView(st) {
  return {
    id: st.id,
    collection: st.collection,
    data: st.data,
    clock: record(st.clock),
    timestamp: record(st.timestamp),
    modifiedBy: st.modifiedBy,
    deleted: st.deleted,
    version: st.version,
    hash: st.hash,
  }
}

/** Every public field of a SyncOperation, as plain JS values. */
export function operationView(op) {
  return {
    opId: op.opId,
    kind: op.kind,
    stateId: op.stateId,
    collection: op.collection,
    data: op.data,
    clock: record(op.clock),
    timestamp: record(op.timestamp),
    nodeId: op.nodeId,
  }
}

/** Every public field of a SyncConflict, as plain JS values. */
export function conflictView(c) {
  return {
    conflictId: c.conflictId,
    stateId: c.stateId,
    local: stateView(c.local),
    remote: stateView(c.remote),
    detectedAt: c.detectedAt,
  }
}

/** Every public field of a wire value of `kind` (state, changeset, snapshot, pending). */
export function wireView(kind, value) {
  switch (kind) {
    case 'state':
      return stateView(value)
    case 'changeset':
      return { states: value.states.map(stateView), cursor: value.cursor, hasMore: value.hasMore }
    case 'snapshot':
      return {
        format: value.format,
        nodeId: value.nodeId,
        states: value.states.map(stateView),
        pending: value.pending.map(operationView),
        conflicts: value.conflicts.map(conflictView),
      }
    case 'pending':
      return value.map(operationView)
    default:
      throw new Error(`unknown wire kind ${kind}`)
  }
}

/**
 * The canonical binary wire bytes of a value: every value has exactly one binary form
 * (conformance/wire/README.md "Canonical form"), which keeps everything, the field history of
 * mergeFields states and the kind of every number included. Equal bytes = equal values.
 */
export function binaryOf(value) {
  return Buffer.from(s.encode(value, 'binary'))
}

/** Two SyncStates are the same value: same binary form. */
export function sameState(a, b) {
  return binaryOf(a).equals(binaryOf(b))
}

/** True when JS parsing loses nothing of this JSON text (no 3.0, -0.0 or integers past 2^53). */
export function jsParsesExactly(text) {
  try {
    return JSON.stringify(JSON.parse(text)) === text
  } catch {
    return false
  }
}

/**
 * A JSON syntax tree of `text` that keeps each value's source span: `{start, end}` plus `items`
 * (arrays) or `entries` (objects: `[key, node]` pairs in source order). `text.slice(start, end)`
 * is the exact text of the value. Throws on malformed JSON.
 */
export function jsonSpans(text) {
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++
  }
  const expect = (ch) => {
    if (text[i] !== ch) throw new SyntaxError(`expected ${ch} at ${i}`)
    i++
  }
  const string = () => {
    const start = i
    expect('"')
    while (text[i] !== '"') {
      if (i >= text.length) throw new SyntaxError('unterminated string')
      i += text[i] === '\\' ? 2 : 1
    }
    i++
    return JSON.parse(text.slice(start, i))
  }
  const value = () => {
    ws()
    const start = i
    if (text[i] === '{') {
      i++
      const entries = []
      ws()
      if (text[i] === '}') {
        i++
      } else {
        for (;;) {
          ws()
          const key = string()
          ws()
          expect(':')
          entries.push([key, value()])
          ws()
          if (text[i] === ',') {
            i++
            continue
          }
          expect('}')
          break
        }
      }
      return { start, end: i, entries }
    }
    if (text[i] === '[') {
      i++
      const items = []
      ws()
      if (text[i] === ']') {
        i++
      } else {
        for (;;) {
          items.push(value())
          ws()
          if (text[i] === ',') {
            i++
            continue
          }
          expect(']')
          break
        }
      }
      return { start, end: i, items }
    }
    if (text[i] === '"') {
      string()
      return { start, end: i }
    }
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400))
    if (!m) throw new SyntaxError(`unexpected ${JSON.stringify(text[i])} at ${i}`)
    i += m[0].length
    return { start, end: i }
  }
  const root = value()
  ws()
  if (i !== text.length) throw new SyntaxError(`trailing text at ${i}`)
  return root
}

/** The member `key` of an object node of `jsonSpans`. */
export function member(node, key) {
  const entry = node.entries?.find(([k]) => k === key)
  if (!entry) throw new Error(`no member ${key}`)
  return entry[1]
}
