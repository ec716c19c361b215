// Replays the cross-language conformance suite (`conformance/*.json`) through the public JS API:
// one replayer for every JS engine of the package's API (index.d.ts). The Node package on its
// napi addon (node/test/conformance.test.mjs), the browser package's WebAssembly build in Node
// (wasm/tests/node/conformance.test.mjs) and in headless Chromium
// (wasm/tests/e2e/shared.test.mjs) each bind it to their module and run every case.
//
// The format is specified in `conformance/README.md`; this follows the Rust replayer
// (`core/tests/support/conformance_replay.rs`) rule for rule. Every case runs on in-memory
// replicas, and, where the engine has a durable store, on replicas stored there (SQLite files in
// Node, IndexedDB databases in the browser), which are then closed, reopened and checked again
// (the durability run). `manifest.json` pins the files and their case counts: a file or case a
// runner does not see fails the suite-shape check (`suiteProblems`).
//
// Plain ECMAScript, no Node or DOM API: the runners read the files and hand their text in.

/** The package under test (`bind`): its module namespace. */
let s
let SyncManager, SyncError, SyncState, Snapshot, ManualClock, DELETED

/**
 * Binds the replayer to one package's module (the Node package or the browser package): every
 * case then runs through that module's API. Once per process or page.
 */
export function bind(binding) {
  if (s !== undefined && s !== binding) throw new Error('the replayer is already bound to another module')
  s = binding
  ;({ SyncManager, SyncError, SyncState, Snapshot, ManualClock, DELETED } = binding)
}

/** The Rust replayer fails below this many cases (besides manifest.json's counts); so do we. */
const MIN_CASES = 250

/** Not a case file: the files of the suite and their case counts. */
export const MANIFEST = 'manifest.json'

// ---- failures -------------------------------------------------------------------------------------

/** The binding did not do what the case expects, or the case itself is malformed. */
export class CaseFailure extends Error {}

function fail(message) {
  throw new CaseFailure(message)
}

function short(value) {
  let text
  try {
    text = JSON.stringify(value)
  } catch {
    text = undefined
  }
  if (text === undefined) text = String(value)
  return text.length <= 300 ? text : text.slice(0, 300) + '...'
}

const repr = (v) => (typeof v === 'string' ? `'${v}'` : short(v))

function describe(e) {
  return `${e?.code ?? '?'} (${e?.name ?? typeof e}: ${e?.message ?? String(e)})`
}

// ---- the content hash (README "Hash"), used to check the suite's own expected hashes ---------------

/** A JSON number as ECMAScript's Number.prototype.toString prints it (RFC 8785). */
function esNumber(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`not a JSON number: ${x}`)
  return x === 0 ? '0' : String(x)
}

const SHORT_ESCAPES = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r' }

function jcsString(str) {
  let out = '"'
  for (const ch of str) {
    const o = ch.codePointAt(0)
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (o < 0x20) out += SHORT_ESCAPES[o] ?? `\\u${o.toString(16).padStart(4, '0')}`
    else out += ch
  }
  return out + '"'
}

/** RFC 8785 (JSON Canonicalization Scheme) text of a JSON value. */
function canonicalJson(value) {
  if (value === null) return 'null'
  if (value === true) return 'true'
  if (value === false) return 'false'
  if (typeof value === 'number') return esNumber(value)
  if (typeof value === 'string') return jcsString(value)
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']'
  if (typeof value === 'object') {
    // The default sort compares UTF-16 code units, which is what RFC 8785 asks for.
    const keys = Object.keys(value).sort()
    return '{' + keys.map((k) => jcsString(k) + ':' + canonicalJson(value[k])).join(',') + '}'
  }
  throw new TypeError(`not JSON: ${String(value)}`)
}

/** UTF-8 bytes of a JS string, lone surrogates encoded as themselves (Python's surrogatepass). */
function utf8(str) {
  const out = []
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
      const d = str.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return new Uint8Array(out)
}

// SHA-256 (FIPS 180-4), written here so that the replayer runs unchanged in a browser page, where
// the only digest API (crypto.subtle) is asynchronous.
const K256 = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

/** The SHA-256 digest of `bytes`, in lower-case hex. */
export function sha256Hex(bytes) {
  const bitLength = bytes.length * 8
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64)
  padded.set(bytes)
  padded[bytes.length] = 0x80
  const view = new DataView(padded.buffer)
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32))
  view.setUint32(padded.length - 4, bitLength >>> 0)
  const h = Uint32Array.from([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ])
  const w = new Uint32Array(64)
  const rotr = (x, n) => (x >>> n) | (x << (32 - n))
  for (let block = 0; block < padded.length; block += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + t * 4)
    for (let t = 16; t < 64; t++) {
      const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3)
      const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10)
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0
    }
    let [a, b, c, d, e, f, g, hh] = h
    for (let t = 0; t < 64; t++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t]) >>> 0
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0
      hh = g
      g = f
      f = e
      e = (d + t1) >>> 0
      d = c
      c = b
      b = a
      a = (t1 + t2) >>> 0
    }
    ;[a, b, c, d, e, f, g, hh].forEach((x, i) => (h[i] = (h[i] + x) >>> 0))
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('')
}

function stateHash(data, deleted) {
  const text = canonicalJson({ data, deleted })
  return sha256Hex(utf8(text)).slice(0, 16)
}

// ---- value equality, through the bound module's canonical binary wire form -------------------------

/**
 * The canonical binary wire bytes of a value: every value has exactly one binary form
 * (conformance/wire/README.md "Canonical form"), which keeps everything, the field history of
 * mergeFields states and the kind of every number included. Equal bytes = equal values.
 */
function binaryOf(value) {
  return s.encode(value, 'binary')
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Two SyncStates are the same value: same binary form. */
const sameState = (a, b) => sameBytes(binaryOf(a), binaryOf(b))

/** Two lists of SyncOperation are the same: same binary form. */
const sameOperations = (a, b) => sameBytes(binaryOf([...a]), binaryOf([...b]))

/** Two SyncConflicts are the same: same id, state, detection time and both versions. */
function sameConflict(a, b) {
  return (
    a.conflictId === b.conflictId &&
    a.stateId === b.stateId &&
    a.detectedAt === b.detectedAt &&
    sameState(a.local, b.local) &&
    sameState(a.remote, b.remote)
  )
}

/** Two Snapshots are the same: same binary form (format, node id, states, pending, conflicts). */
const sameSnapshot = (a, b) => sameBytes(binaryOf(a), binaryOf(b))

// ---- JSON helpers -----------------------------------------------------------------------------------

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

/** JSON equality, numbers compared by value; a boolean is never a number. */
function jsonEq(a, b) {
  if (a === undefined) a = null
  if (b === undefined) b = null
  if (typeof a === 'boolean' || typeof b === 'boolean') return typeof a === typeof b && a === b
  if (typeof a === 'number' && typeof b === 'number') return a === b
  if (a === null || b === null) return a === null && b === null
  if (typeof a === 'string' || typeof b === 'string') return typeof a === typeof b && a === b
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEq(x, b[i]))
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEq(a[k], b[k]))
  }
  return false
}

function obj(value, what) {
  if (!isObject(value)) fail(`${what} must be a JSON object, got ${short(value)}`)
  return value
}

function string(m, key, what) {
  const v = m[key]
  if (typeof v !== 'string') fail(`${what}: missing or non-string '${key}'`)
  return v
}

function allow(m, allowed, what) {
  for (const k of Object.keys(m)) {
    if (!allowed.includes(k)) fail(`${what}: unknown key '${k}' (allowed: ${JSON.stringify(allowed)})`)
  }
}

const has = (m, key) => Object.hasOwn(m, key)
const get = (m, key) => (has(m, key) ? m[key] : undefined)
const sortedIds = (ids) => JSON.stringify([...ids].sort())

// ---- matchers -----------------------------------------------------------------------------------------

const STATE_KEYS = [
  'id',
  'collection',
  'data',
  'clock',
  'timestamp',
  'modified_by',
  'deleted',
  'version',
  'hash',
  'fields',
]
const OP_KEYS = ['op_id', 'kind', 'state_id', 'collection', 'data', 'clock', 'timestamp', 'node_id']
const COUNT_KEYS = ['created', 'updated', 'unchanged', 'ignored', 'conflicts', 'resolved', 'rejected']

function matchFields(expected, actual, allowed, what) {
  expected = obj(expected, what)
  allow(expected, allowed, what)
  for (const [key, want] of Object.entries(expected)) {
    const got = has(actual, key) ? actual[key] : null
    if (!jsonEq(want, got)) fail(`${what}: ${key} is ${short(got)}, expected ${short(want)}`)
  }
}

/** True for a generated id or node id: a UUID v4 in its lower-case hyphenated form. */
const isUuidV4 = (text) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(text)

/** Checks an `id_form` / `node_id_form` expectation (`"uuid"`, or none) against `value`. */
function checkForm(form, value, what) {
  if (form === undefined) return
  if (form !== 'uuid') fail(`${what}: unknown form ${short(form)}`)
  if (!isUuidV4(value)) fail(`${what} ${repr(value)} is not a generated UUID v4`)
}

/** The complete form of a state, under the suite's (snake_case) keys. */
function stateDict(state, what) {
  if (!(state instanceof SyncState)) fail(`${what}: expected a SyncState, got ${short(state)}`)
  return {
    // The mergeFields history is part of the wire form only (`toJSON()`); absent: none.
    fields: state.toJSON().fields ?? null,
    id: state.id,
    collection: state.collection,
    data: state.data,
    clock: { ...state.clock },
    timestamp: { ...state.timestamp },
    modified_by: state.modifiedBy,
    deleted: state.deleted,
    version: state.version,
    hash: state.hash,
  }
}

function matchState(expected, actual, what) {
  const { id_form: idForm, ...m } = obj(expected, what)
  const dict = stateDict(actual, what)
  checkForm(idForm, dict.id, `${what}: id`)
  if (has(m, 'data') && has(m, 'hash')) {
    const deleted = get(m, 'deleted') ?? false
    const computed = stateHash(m.data, Boolean(deleted))
    if (m.hash !== computed) {
      fail(`${what}: the case expects hash ${m.hash} but state_hash(data, deleted=${deleted}) is ${computed}`)
    }
  }
  matchFields(m, dict, STATE_KEYS, what)
}

function matchCounts(expected, actual, what) {
  const { rejections, ...counts } = obj(expected, what)
  if (rejections !== undefined) {
    const got = Array.isArray(actual.rejections) ? actual.rejections : []
    matchList(rejections, got, ['id', 'code'], `${what}.rejections`)
  }
  matchFields(counts, actual, COUNT_KEYS, what)
}

/** Matches an expected array item by item (exactly as long), comparing the keys each item gives. */
function matchList(expected, actual, allowed, what) {
  if (!Array.isArray(expected)) fail(`${what} must be an array`)
  if (expected.length !== actual.length) {
    fail(`${what}: ${actual.length} items ${short(actual)}, expected ${expected.length}`)
  }
  expected.forEach((want, i) => matchFields(want, actual[i], allowed, `${what}[${i}]`))
}

/** A Rejection under the suite's (snake_case) keys. */
function rejectionDict(r) {
  return { state_id: r.stateId, code: r.code, message: r.message, rejected_at: r.rejectedAt }
}

/** A ReconciliationResult as a plain object. */
function countsOf(result, what) {
  if (!isObject(result)) fail(`${what}: expected a ReconciliationResult, got ${short(result)}`)
  return { ...result }
}

function opDict(op) {
  return {
    op_id: op.opId,
    kind: op.kind,
    state_id: op.stateId,
    collection: op.collection,
    data: op.data,
    clock: { ...op.clock },
    timestamp: { ...op.timestamp },
    node_id: op.nodeId,
  }
}

function matchConflict(expected, actual, what) {
  const m = obj(expected, what)
  allow(m, ['state_id', 'local', 'remote', 'detected_at'], what)
  if (has(m, 'state_id') && !jsonEq(m.state_id, actual.stateId)) {
    fail(`${what}: state_id is ${repr(actual.stateId)}, expected ${short(m.state_id)}`)
  }
  if (has(m, 'detected_at') && !jsonEq(m.detected_at, actual.detectedAt)) {
    fail(`${what}: detected_at is ${repr(actual.detectedAt)}, expected ${short(m.detected_at)}`)
  }
  if (has(m, 'local')) matchState(m.local, actual.local, `${what}.local`)
  if (has(m, 'remote')) matchState(m.remote, actual.remote, `${what}.remote`)
}

// ---- the named custom resolvers (README "Custom resolvers") ------------------------------------------

function nOf(state) {
  if (state.deleted || !isObject(state.data)) return null
  const n = state.data.n
  return typeof n === 'number' ? n : null
}

function stringsOf(state) {
  if (state.deleted || !Array.isArray(state.data)) return []
  return state.data.filter((item) => typeof item === 'string')
}

/** Orders strings by Unicode code point (not UTF-16 code units). */
function byCodePoint(a, b) {
  const x = [...a].map((c) => c.codePointAt(0))
  const y = [...b].map((c) => c.codePointAt(0))
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i]
  return x.length - y.length
}

const RESOLVERS = {
  max_n(local, remote) {
    const a = nOf(local)
    const b = nOf(remote)
    if (a === null && b === null) return DELETED
    let best
    if (a === null) best = b
    else if (b === null) best = a
    else best = b > a ? b : a
    return { n: best }
  },
  union(local, remote) {
    return [...new Set([...stringsOf(local), ...stringsOf(remote)])].sort(byCodePoint)
  },
  non_commutative(local, remote) {
    return local.data
  },
  failing(local, remote) {
    throw new Error('the conformance resolver "failing" always fails')
  },
}

const STRATEGY_NAMES = ['lastWriteWins', 'mergeFields', 'localWins', 'remoteWins', 'manual']

function parseStrategy(value) {
  if (typeof value === 'string') {
    if (!STRATEGY_NAMES.includes(value)) fail(`unknown strategy '${value}'`)
    return value
  }
  if (isObject(value) && Object.keys(value).length === 1 && typeof value.custom === 'string') {
    const name = value.custom
    if (!Object.hasOwn(RESOLVERS, name)) fail(`unknown custom resolver '${name}'`)
    return RESOLVERS[name]
  }
  fail(`bad strategy ${short(value)}`)
}

// ---- events (README: EVENT_MATCHER) -------------------------------------------------------------------------

const EVENT_KEYS = ['name', 'id', 'data', 'state_id', 'code', 'peer', 'previous', 'current']

/** An event as the suite matches it. */
function eventDict(event) {
  switch (event.name) {
    case 'stateCreated':
    case 'stateUpdated':
    case 'stateDeleted':
      return { name: event.name, id: event.state.id, data: event.state.data }
    case 'conflictDetected':
      return { name: event.name, state_id: event.conflict.stateId }
    case 'conflictResolved':
      return { name: event.name, state_id: event.stateId }
    case 'stateRejected':
      return { name: event.name, state_id: event.stateId, code: event.code }
    case 'syncStarted':
    case 'syncCompleted':
    case 'syncFailed':
      return { name: event.name, peer: event.peer }
    case 'statusChanged':
      return { name: event.name, previous: event.previous, current: event.current }
    default:
      fail(`an event the suite does not know: ${short(event)}`)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Takes the events recorded so far, once delivered: Node delivers them on the JS thread after the
 * call that committed them, so this waits until `expected` have arrived (at most 5 s) and then
 * lets the event loop turn again, so that an event too many is there to fail the comparison.
 */
async function settledEvents(recorded, expected) {
  const deadline = Date.now() + 5000
  while (recorded.length < expected && Date.now() < deadline) await sleep(2)
  await sleep(10)
  return recorded.splice(0)
}

// ---- the transport of `sync_via` and `auto_sync` (README: "sync_via") ----------------------------------------

/**
 * A peer replica reached through a transport written here, as an application writes one: its
 * capabilities as the step overrides them, and a failure on one call when the step asks for it.
 */
class ReplayTransport {
  constructor(peer, step) {
    this.peer = peer
    this.overrides = has(step, 'capabilities') ? obj(step.capabilities, 'capabilities') : {}
    allow(this.overrides, ['scoped_sync', 'max_batch', 'max_body_bytes', 'protocol', 'node_id'], 'capabilities')
    this.fail = null
    if (has(step, 'fail')) {
      const f = obj(step.fail, 'fail')
      allow(f, ['on', 'code'], 'fail')
      const on = string(f, 'on', 'fail')
      if (!['capabilities', 'pull', 'push'].includes(on)) fail(`fail.on '${on}' is not capabilities, pull or push`)
      this.fail = { on, code: string(f, 'code', 'fail') }
    }
  }

  failing(call) {
    if (this.fail?.on === call) {
      throw new SyncError(this.fail.code, `the conformance transport fails on ${call}`)
    }
  }

  capabilities() {
    this.failing('capabilities')
    const o = this.overrides
    return {
      protocol: o.protocol ?? s.PROTOCOL_VERSION,
      nodeId: o.node_id ?? this.peer.nodeId,
      scopedSync: o.scoped_sync ?? true,
      binary: false,
      zstd: false,
      maxBatch: o.max_batch ?? null,
      maxBodyBytes: o.max_body_bytes ?? null,
    }
  }

  pull(cursor, collections, limit) {
    this.failing('pull')
    return this.peer.changesSince({ cursor, collections, limit: limit ?? undefined })
  }

  push(changes) {
    this.failing('push')
    return this.peer.reconcile(changes.states)
  }
}

/**
 * Runs auto-sync with `transport` every 10 ms until `rounds` rounds completed (at most 10 s; a
 * failed round fails the step), then stops it.
 */
async function autoSync(m, transport, rounds) {
  let completed = 0
  let failed = null
  const onCompleted = () => completed++
  const onFailed = (event) => (failed ??= event.message)
  m.on('syncCompleted', onCompleted)
  m.on('syncFailed', onFailed)
  try {
    m.startAutoSync(10, transport)
    const deadline = Date.now() + 10_000
    while (completed < rounds && failed === null && Date.now() < deadline) await sleep(5)
    await m.stopAutoSync()
  } finally {
    m.off('syncCompleted', onCompleted)
    m.off('syncFailed', onFailed)
  }
  if (failed !== null) fail(`an auto-sync round failed: ${failed}`)
  if (completed < rounds) fail(`auto-sync completed ${completed} of ${rounds} rounds in 10 s`)
}

// ---- the vector clock helpers (README: "clock") -------------------------------------------------------------

/** The §2 helpers on the step's plain clocks (bad ones are the helpers' INVALID_INPUT). */
function clockCall(step) {
  const fn = string(step, 'fn', 'clock')
  const a = get(step, 'a')
  try {
    if (fn === 'increment') {
      const node = string(step, 'node', 'clock increment')
      const clock = s.incrementClock(a, node)
      return Ok({ clock: { ...clock }, value: clock[node] })
    }
    const b = get(step, 'b')
    switch (fn) {
      case 'compare':
        return Ok(s.compareClocks(a, b))
      case 'merge':
        return Ok({ ...s.mergeClocks(a, b) })
      case 'dominates':
        return Ok(s.dominates(a, b))
    }
  } catch (e) {
    if (e instanceof SyncError) return Err(e)
    throw e
  }
  fail(`unknown clock fn '${fn}'`)
}

// ---- replicas -------------------------------------------------------------------------------------------

const REPLICA_KEYS = [
  'node_id',
  'strategy',
  'collection_strategies',
  'clock',
  'check_resolver',
  'max_state_bytes',
  'max_clock_skew_ms',
]

/** The options of `SyncManager.open` for a replica's `spec`; `nodeId` undefined: generated. */
function openOptions(spec, nodeId, file, clock) {
  const options = { nodeId, clock }
  if (file !== null) options.path = file
  if (has(spec, 'strategy')) options.strategy = parseStrategy(spec.strategy)
  if (has(spec, 'collection_strategies')) {
    const per = obj(spec.collection_strategies, 'collection_strategies')
    options.collectionStrategies = Object.fromEntries(Object.entries(per).map(([c, st]) => [c, parseStrategy(st)]))
  }
  const check = has(spec, 'check_resolver') ? spec.check_resolver : true
  if (typeof check !== 'boolean') fail('check_resolver must be a boolean')
  options.checkResolver = check
  if (has(spec, 'max_state_bytes')) {
    if (!Number.isInteger(spec.max_state_bytes) || spec.max_state_bytes < 1) {
      fail('max_state_bytes must be a positive integer')
    }
    options.maxStateBytes = spec.max_state_bytes
  }
  if (has(spec, 'max_clock_skew_ms')) {
    if (!isMillis(spec.max_clock_skew_ms)) fail('max_clock_skew_ms must be a non-negative integer')
    options.maxClockSkewMs = spec.max_clock_skew_ms
  }
  return options
}

async function openManager(spec, nodeId, file, clock) {
  const options = openOptions(spec, nodeId, file, clock)
  try {
    return await SyncManager.open(options)
  } catch (e) {
    if (e instanceof SyncError) fail(`opening replica '${nodeId}': ${e.code} ${e.message}`)
    throw e
  }
}

/** The replica's full content for the "a failing step changes nothing" check. */
function content(manager) {
  try {
    return { ok: true, snapshot: manager.exportState() }
  } catch (e) {
    if (e instanceof SyncError) return { ok: false, code: e.code }
    throw e
  }
}

function sameContent(a, b) {
  if (a.ok !== b.ok) return false
  return a.ok ? sameSnapshot(a.snapshot, b.snapshot) : a.code === b.code
}

function sameList(a, b, same) {
  return a.length === b.length && a.every((x, i) => same(x, b[i]))
}

class Replica {
  constructor(spec, nodeId, clock, file, manager) {
    this.spec = spec
    /** The case's node id; undefined: generated by the replica (and kept by its store). */
    this.nodeId = nodeId
    this.clock = clock
    this.file = file
    this.manager = manager
    /** The export taken right before a `close` step. */
    this.closed = null
    /** The rejections held right before a `close` step. */
    this.closedRejections = []
    /** The events recorded since a `subscribe` step, as EVENT_MATCHER objects; null before. */
    this.events = null
  }

  view() {
    const status = this.manager.status()
    if (this.closed !== null) {
      const snap = this.closed
      const rejections = this.closedRejections
      return {
        nodeId: snap.nodeId,
        states: [...snap.states],
        pending: [...snap.pending],
        conflicts: [...snap.conflicts],
        rejections,
        status,
      }
    }
    const m = this.manager
    let view, exported
    try {
      view = {
        nodeId: m.nodeId,
        states: [...m.listStates({ includeDeleted: true })],
        pending: [...m.pendingOperations()],
        conflicts: [...m.conflicts()],
        rejections: m.rejections().map(rejectionDict),
        status,
      }
      exported = m.exportState()
    } catch (e) {
      if (e instanceof SyncError) fail(`reading the replica: ${e.code} ${e.message}`)
      throw e
    }
    // The export must tell the same story as the listing calls (list order is not part of the
    // contract; the export's is by id).
    const byId = (x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)
    if (
      !sameList([...exported.states].sort(byId), [...view.states].sort(byId), sameState) ||
      !sameOperations(exported.pending, view.pending) ||
      !sameList([...exported.conflicts], view.conflicts, sameConflict)
    ) {
      fail('exportState() disagrees with listStates/pendingOperations/conflicts')
    }
    return view
  }
}

function checkReplica(view, expected, requireAll, skipStatus, what) {
  expected = obj(expected, what)
  allow(expected, ['states', 'pending', 'conflicts', 'rejections', 'status', 'node_id_form'], what)
  checkForm(expected.node_id_form, view.nodeId, `${what}: node id`)
  if (requireAll) {
    for (const key of ['states', 'pending', 'conflicts']) {
      if (!has(expected, key)) fail(`${what}: the final expectation must give '${key}'`)
    }
  }
  if (has(expected, 'states')) {
    const states = obj(expected.states, `${what}.states`)
    const want = new Set(Object.keys(states))
    const got = view.states.map((st) => st.id)
    const gotSet = new Set(got)
    if (want.size !== gotSet.size || ![...want].every((id) => gotSet.has(id)) || got.length !== gotSet.size) {
      fail(`${what}: stored state ids are ${sortedIds(got)}, expected ${sortedIds(want)}`)
    }
    for (const state of view.states) matchState(states[state.id], state, `${what}.states['${state.id}']`)
  }
  if (has(expected, 'pending')) {
    const pending = expected.pending
    if (!Array.isArray(pending)) fail(`${what}.pending must be an array`)
    if (pending.length !== view.pending.length) {
      const ids = view.pending.map((o) => o.opId)
      fail(`${what}: ${ids.length} pending operations ${JSON.stringify(ids)}, expected ${pending.length}`)
    }
    pending.forEach((wantOp, i) => matchFields(wantOp, opDict(view.pending[i]), OP_KEYS, `${what}.pending[${i}]`))
  }
  if (has(expected, 'conflicts')) {
    const conflicts = expected.conflicts
    if (!Array.isArray(conflicts)) fail(`${what}.conflicts must be an array`)
    if (conflicts.length !== view.conflicts.length) {
      const ids = view.conflicts.map((c) => c.stateId)
      fail(`${what}: conflicts on ${JSON.stringify(ids)}, expected ${conflicts.length} conflicts`)
    }
    conflicts.forEach((wantC, i) => matchConflict(wantC, view.conflicts[i], `${what}.conflicts[${i}]`))
  }
  if (has(expected, 'rejections')) {
    matchList(expected.rejections, view.rejections, ['state_id', 'code'], `${what}.rejections`)
  }
  if (has(expected, 'status')) {
    const status = expected.status
    // Neither is stored: not checked after reopening.
    const skip = skipStatus && (status === 'closed' || status === 'error')
    if (!skip && status !== view.status) fail(`${what}: status is '${view.status}', expected '${status}'`)
  }
}

// ---- one run of one case -----------------------------------------------------------------------------------

const COMMON_KEYS = ['replica', 'op', 'expect', 'expect_error', 'comment']
const STEP_KEYS = {
  create: ['id', 'collection', 'data', 'as'],
  update: ['id', 'data'],
  delete: ['id'],
  get: ['id'],
  list: ['collection', 'include_deleted'],
  set_clock: ['millis'],
  capture: ['id', 'as'],
  capture_conflict: ['state_id', 'as'],
  apply: ['ref', 'state', 'json'],
  reconcile: ['items'],
  resolve_conflict: ['state_id', 'conflict_ref', 'conflict_id', 'resolution'],
  revert_rejected: ['id'],
  acknowledge: ['op_ids'],
  export: ['as'],
  import: ['ref', 'json', 'snapshot', 'replace'],
  close: [],
  check: [],
  changes_since: ['cursor', 'cursor_ref', 'collections', 'limit', 'as'],
  pull: ['from', 'collections', 'limit'],
  sync: ['with', 'collections', 'limit'],
  clock: ['fn', 'a', 'b', 'node'],
  subscribe: [],
  events: [],
  open_again: [],
  set_peer_cursor: ['peer', 'collections', 'cursor', 'cursor_ref'],
  peer_cursor: ['peer', 'collections'],
  sync_via: ['with', 'collections', 'limit', 'capabilities', 'fail'],
  auto_sync: ['with', 'rounds'],
}

function collectionsOf(step) {
  if (!has(step, 'collections')) return undefined
  const cols = step.collections
  if (!Array.isArray(cols) || !cols.every((c) => typeof c === 'string')) fail('collections must be an array of strings')
  return [...cols]
}

function limitOf(step) {
  if (!has(step, 'limit')) return undefined
  const limit = step.limit
  if (!Number.isInteger(limit) || limit < 0) fail('limit must be a non-negative integer')
  return limit
}

const isMillis = (v) => Number.isInteger(v) && v >= 0

const Ok = (value) => ({ ok: true, value })
const Err = (error) => ({ ok: false, error })

class Run {
  static async open(caseDef, store) {
    const run = new Run(store)
    const replicas = obj(caseDef.replicas, 'replicas')
    if (Object.keys(replicas).length === 0) fail('a case needs at least one replica')
    let i = 0
    for (const [key, rawSpec] of Object.entries(replicas)) {
      const spec = obj(rawSpec, `replica '${key}'`)
      allow(spec, REPLICA_KEYS, key)
      const nodeId = has(spec, 'node_id') ? string(spec, 'node_id', key) : undefined
      const millis = has(spec, 'clock') ? spec.clock : 1000
      if (!isMillis(millis)) fail(`replica '${key}': clock must be a non-negative integer`)
      const clock = new ManualClock(millis)
      const file = store.pathOf !== null ? store.pathOf(i) : null
      i++
      const manager = await openManager(spec, nodeId, file, clock)
      run.replicas.set(key, new Replica(spec, nodeId, clock, file, manager))
    }
    return run
  }

  constructor(store) {
    /** Where the replicas live (`runCase`). */
    this.store = store
    /** @type {Map<string, Replica>} */
    this.replicas = new Map()
    /** name → [kind, value] */
    this.names = new Map()
  }

  async closeAll() {
    for (const replica of this.replicas.values()) {
      try {
        await replica.manager.close()
      } catch {
        // cleanup only
      }
    }
  }

  replica(key) {
    if (!this.replicas.has(key)) fail(`unknown replica '${key}'`)
    return this.replicas.get(key)
  }

  named(name, kind, what) {
    const entry = typeof name === 'string' ? this.names.get(name) : undefined
    if (entry === undefined || entry[0] !== kind) fail(`${what}: ${repr(name)} names no remembered ${kind}`)
    return entry[1]
  }

  /** `raw`, or for `"$name"` the id of the state created or captured as `name`. */
  id(raw) {
    return raw.startsWith('$') ? this.named(raw.slice(1), 'state', raw).id : raw
  }

  /**
   * `expected` with every string (object keys included) of the form `"$name"` that names a
   * created or captured state replaced by that state's id.
   */
  resolve(expected) {
    const name = (text) => {
      const entry = text.startsWith('$') ? this.names.get(text.slice(1)) : undefined
      return entry !== undefined && entry[0] === 'state' ? entry[1].id : text
    }
    if (typeof expected === 'string') return name(expected)
    if (Array.isArray(expected)) return expected.map((v) => this.resolve(v))
    if (isObject(expected)) {
      return Object.fromEntries(Object.entries(expected).map(([k, v]) => [name(k), this.resolve(v)]))
    }
    return expected
  }

  /** A remote state given by `ref`, `state` or `json`: Ok(state) or Err(parse error). */
  source(src, what) {
    const given = ['ref', 'state', 'json'].filter((k) => has(src, k))
    if (given.length !== 1) fail(`${what}: give exactly one of ref, state, json`)
    const kind = given[0]
    if (kind === 'ref') return Ok(this.named(src.ref, 'state', what))
    try {
      if (kind === 'state') return Ok(SyncState.fromJSON(src.state))
      return Ok(SyncState.fromJSON(string(src, 'json', what)))
    } catch (e) {
      if (e instanceof SyncError) return Err(e)
      throw e
    }
  }

  conflictOf(key, stateId) {
    let conflicts
    try {
      conflicts = this.replica(key).manager.conflicts()
    } catch (e) {
      if (e instanceof SyncError) fail(`listing conflicts: ${describe(e)}`)
      throw e
    }
    const ids = conflicts.filter((c) => c.stateId === stateId).map((c) => c.conflictId)
    if (ids.length !== 1) fail(`${ids.length} conflicts on state '${stateId}', the step needs exactly one`)
    return ids[0]
  }

  async runStep(rawStep) {
    const step = obj(rawStep, 'step')
    const op = string(step, 'op', 'step')
    const key = string(step, 'replica', 'step')
    if (!Object.hasOwn(STEP_KEYS, op)) fail(`unknown op '${op}'`)
    allow(step, [...COMMON_KEYS, ...STEP_KEYS[op]], op)
    if (has(step, 'expect') && has(step, 'expect_error')) fail('a step has expect or expect_error, not both')
    const notACall = ['set_clock', 'check', 'capture', 'capture_conflict', 'subscribe', 'events'].includes(op)
    if (notACall && has(step, 'expect_error')) fail(`${op} is not a core call and takes no expect_error`)
    const noExpect = ['set_clock', 'capture', 'capture_conflict', 'close', 'subscribe', 'set_peer_cursor', 'auto_sync']
    if ((noExpect.includes(op) || op === 'open_again') && has(step, 'expect')) fail(`${op} takes no expect`)
    if (op === 'open_again') {
      if (get(step, 'expect_error') !== 'STORAGE') fail('open_again always expects STORAGE')
      // Nothing to open twice in memory; SQLite files refuse a second open (README: open_again).
      // In the browser a second open of an IndexedDB database is another tab's replica (its own
      // slot of the pool, docs/adr/0014), not an error: the step applies to exclusive stores only.
      if (!this.store.exclusive) return
    }
    const replica = this.replica(key)
    if (op === 'set_clock') {
      const millis = get(step, 'millis')
      if (!isMillis(millis)) fail('set_clock needs millis')
      replica.clock.set(millis)
      return
    }
    if (op === 'check') {
      if (!has(step, 'expect')) fail('check needs expect')
      checkReplica(replica.view(), this.resolve(step.expect), false, false, `check of '${key}'`)
      return
    }
    if (op === 'subscribe') {
      // The application's way: a listener for every event, kept in delivery order.
      const recorded = []
      replica.manager.on('event', (event) => recorded.push(eventDict(event)))
      replica.events = recorded
      return
    }
    if (op === 'events') {
      if (!has(step, 'expect')) fail('events needs expect')
      const expected = this.resolve(step.expect)
      if (!Array.isArray(expected)) fail('events expect must be an array')
      if (replica.events === null) fail('events before subscribe')
      const got = await settledEvents(replica.events, expected.length)
      matchList(expected, got, EVENT_KEYS, `events of '${key}'`)
      return
    }
    if (op === 'capture') {
      const sid = this.id(string(step, 'id', op))
      let states
      try {
        states = replica.manager.listStates({ includeDeleted: true })
      } catch (e) {
        if (e instanceof SyncError) fail(`capture: ${describe(e)}`)
        throw e
      }
      const found = states.filter((st) => st.id === sid)
      if (found.length === 0) fail(`capture: no state '${sid}'`)
      this.names.set(string(step, 'as', op), ['state', found[0]])
      return
    }
    if (op === 'capture_conflict') {
      const cid = this.conflictOf(key, string(step, 'state_id', op))
      this.names.set(string(step, 'as', op), ['conflict', cid])
      return
    }

    const expectError = get(step, 'expect_error') ?? null
    if (expectError !== null && typeof expectError !== 'string') fail('expect_error must be a string')
    const before = expectError !== null ? content(replica.manager) : null
    const result = await this.call(key, op, step)
    if (expectError !== null) {
      if (result.ok) fail(`expected error ${expectError}, but the call succeeded with ${short(result.value)}`)
      const e = result.error
      if (e.code !== expectError) fail(`expected error ${expectError}, got ${describe(e)}`)
      // Every code of README "Error steps" is raised as the package's SyncError.
      if (!(e instanceof SyncError)) {
        fail(`error code ${expectError} was raised as ${e?.constructor?.name}, not SyncError`)
      }
      // A failed round keeps what it finished before failing (README: "Error steps").
      if (op !== 'sync_via' && !sameContent(content(this.replica(key).manager), before)) {
        fail(`the failing step (${expectError}) changed the replica`)
      }
      return
    }
    if (!result.ok) fail(`unexpected error ${describe(result.error)}`)
    if (has(step, 'expect')) this.checkResult(op, this.resolve(step.expect), result.value)
  }

  /** Performs one core call: Ok(result) or Err(SyncError). Suite errors throw. */
  async call(key, op, step) {
    const replica = this.replica(key)
    const m = replica.manager

    const data = () => {
      if (!has(step, 'data')) fail(`${op} needs data`)
      return step.data
    }
    const optStr = (k) => {
      const v = get(step, k) ?? null
      if (v !== null && typeof v !== 'string') fail(`${k} must be a string`)
      return v
    }
    const opt = (v) => (v === null ? undefined : v)

    try {
      switch (op) {
        case 'create': {
          const id = optStr('id')
          const created = m.createState(data(), {
            id: id === null ? undefined : this.id(id),
            collection: opt(optStr('collection')),
          })
          if (has(step, 'as')) this.names.set(string(step, 'as', op), ['state', created])
          return Ok(created)
        }
        case 'update':
          return Ok(m.updateState(this.id(string(step, 'id', op)), data()))
        case 'delete':
          return Ok(m.deleteState(this.id(string(step, 'id', op))))
        case 'get':
          return Ok(m.getState(this.id(string(step, 'id', op))))
        case 'list': {
          const collection = optStr('collection')
          const deleted = get(step, 'include_deleted') ?? false
          if (typeof deleted !== 'boolean') fail('include_deleted must be a boolean')
          const states = m.listStates({ collection: opt(collection), includeDeleted: deleted })
          return Ok({ ids: states.map((st) => st.id) })
        }
        case 'apply': {
          const source = this.source(step, op)
          if (!source.ok) return source
          return Ok(m.applyRemoteState(source.value))
        }
        case 'reconcile': {
          const items = get(step, 'items')
          if (!Array.isArray(items)) fail('reconcile needs items')
          const states = []
          let parseError = null
          items.forEach((item, i) => {
            const source = this.source(obj(item, 'reconcile item'), `reconcile item ${i}`)
            if (!source.ok) parseError = parseError ?? source
            else states.push(source.value)
          })
          if (parseError !== null) return parseError
          return Ok(countsOf(m.reconcile(states), 'reconcile'))
        }
        case 'resolve_conflict': {
          const selectors = ['state_id', 'conflict_ref', 'conflict_id'].filter((k) => has(step, k))
          let conflictId
          if (selectors.length === 1 && selectors[0] === 'state_id') {
            conflictId = this.conflictOf(key, string(step, 'state_id', op))
          } else if (selectors.length === 1 && selectors[0] === 'conflict_ref') {
            conflictId = this.named(step.conflict_ref, 'conflict', 'conflict_ref')
          } else if (selectors.length === 1 && selectors[0] === 'conflict_id') {
            conflictId = string(step, 'conflict_id', op)
          } else {
            fail('resolve_conflict needs exactly one of state_id, conflict_ref, conflict_id')
          }
          const res = get(step, 'resolution')
          let resolution
          if (res === 'local') resolution = { pick: 'local' }
          else if (res === 'remote') resolution = { pick: 'remote' }
          else if (isObject(res) && Object.keys(res).length === 1 && has(res, 'data')) resolution = { data: res.data }
          else fail(`bad resolution ${short(res)}`)
          return Ok(m.resolveConflict(conflictId, resolution))
        }
        case 'revert_rejected':
          return Ok(m.revertRejected(this.id(string(step, 'id', op))))
        case 'acknowledge': {
          const ids = get(step, 'op_ids')
          if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) {
            fail('acknowledge needs op_ids, an array of strings')
          }
          return Ok({ dropped: m.acknowledge(ids) })
        }
        case 'export': {
          const snapshot = m.exportState()
          const counts = {
            states: snapshot.states.length,
            pending: snapshot.pending.length,
            conflicts: snapshot.conflicts.length,
          }
          if (has(step, 'as')) this.names.set(string(step, 'as', op), ['snapshot', snapshot])
          return Ok(counts)
        }
        case 'import': {
          const replace = get(step, 'replace') ?? false
          if (typeof replace !== 'boolean') fail('replace must be a boolean')
          const given = ['ref', 'json', 'snapshot'].filter((k) => has(step, k))
          if (given.length === 1 && given[0] === 'ref') {
            const snapshot = this.named(step.ref, 'snapshot', 'import ref')
            if (!(snapshot instanceof Snapshot)) fail('import ref: the remembered export is not a Snapshot')
            return Ok(countsOf(m.importState(snapshot, { replace }), 'import'))
          }
          if (given.length === 1 && given[0] === 'json') {
            const text = string(step, 'json', op)
            return Ok(countsOf(m.importState(text, { replace }), 'import'))
          }
          if (given.length === 1 && given[0] === 'snapshot') {
            const text = JSON.stringify(step.snapshot)
            return Ok(countsOf(m.importState(text, { replace }), 'import'))
          }
          fail('import needs exactly one of ref, json, snapshot')
          break
        }
        case 'changes_since': {
          const hasCursor = (get(step, 'cursor') ?? null) !== null
          const hasRef = has(step, 'cursor_ref')
          if (hasCursor && hasRef) fail('changes_since takes a string cursor or a cursor_ref, not both')
          const cursor = hasRef ? this.named(step.cursor_ref, 'cursor', 'cursor_ref') : optStr('cursor')
          const page = m.changesSince({ cursor, collections: collectionsOf(step), limit: limitOf(step) })
          if (has(step, 'as')) this.names.set(string(step, 'as', op), ['cursor', page.cursor])
          return Ok({ ids: page.states.map((st) => st.id), has_more: page.hasMore })
        }
        case 'pull': {
          const source = this.replica(string(step, 'from', op)).manager
          const collections = collectionsOf(step)
          const limit = limitOf(step)
          const peer = source.nodeId
          const cursor = m.peerCursor(peer, { collections })
          const page = source.changesSince({ cursor, collections, limit })
          const counts = m.applyChanges(peer, page, { collections })
          return Ok({
            ids: page.states.map((st) => st.id),
            has_more: page.hasMore,
            counts: countsOf(counts, 'pull'),
          })
        }
        case 'sync': {
          const other = this.replica(string(step, 'with', op)).manager
          const report = await m.syncWith(other, { collections: collectionsOf(step), limit: limitOf(step) })
          return Ok({
            pulled: countsOf(report.pulled, 'sync pulled'),
            pushed: countsOf(report.pushed, 'sync pushed'),
          })
        }
        case 'sync_via': {
          const transport = new ReplayTransport(this.replica(string(step, 'with', op)).manager, step)
          const report = await m.sync(transport, { collections: collectionsOf(step), limit: limitOf(step) })
          return Ok({
            pulled: countsOf(report.pulled, 'sync_via pulled'),
            pushed: countsOf(report.pushed, 'sync_via pushed'),
          })
        }
        case 'auto_sync': {
          const rounds = get(step, 'rounds')
          if (!Number.isInteger(rounds) || rounds < 1) fail('auto_sync needs rounds, a whole number >= 1')
          const peer = this.replica(string(step, 'with', op)).manager
          await autoSync(m, new ReplayTransport(peer, {}), rounds)
          return Ok(null)
        }
        case 'clock':
          return clockCall(step)
        case 'set_peer_cursor': {
          const peer = string(step, 'peer', op)
          const hasCursor = has(step, 'cursor')
          const hasRef = has(step, 'cursor_ref')
          let cursor
          if (hasCursor && !hasRef && (step.cursor === null || typeof step.cursor === 'string')) cursor = step.cursor
          else if (hasRef && !hasCursor) cursor = this.named(step.cursor_ref, 'cursor', 'cursor_ref')
          else fail('set_peer_cursor takes a cursor (string or null) or a cursor_ref')
          m.setPeerCursor(peer, cursor, { collections: collectionsOf(step) })
          return Ok(null)
        }
        case 'peer_cursor':
          return Ok({ cursor: m.peerCursor(string(step, 'peer', op), { collections: collectionsOf(step) }) })
        case 'open_again': {
          // The replica's own configuration, on its own file, while it is open.
          const clock = new ManualClock(replica.clock.now())
          const options = openOptions(replica.spec, replica.nodeId, replica.file, clock)
          const second = await SyncManager.open(options)
          await second.close()
          return Ok(null)
        }
        case 'close': {
          const last = content(m)
          let rejections = []
          try {
            rejections = m.rejections().map(rejectionDict)
          } catch (e) {
            if (!(e instanceof SyncError)) throw e
          }
          await m.close()
          if (replica.closed === null) {
            replica.closed = last.ok ? last.snapshot : null
            replica.closedRejections = rejections
          }
          return Ok(null)
        }
      }
    } catch (e) {
      if (e instanceof SyncError) return Err(e)
      throw e
    }
    fail(`op '${op}' is not a core call`)
  }

  checkResult(op, expected, actual) {
    switch (op) {
      case 'create':
      case 'update':
      case 'delete':
      case 'resolve_conflict':
      case 'revert_rejected':
        matchState(expected, actual, `${op} result`)
        return
      case 'get':
        if (expected === null && actual === null) return
        if (expected === null) fail(`get: expected no state, got ${short(actual)}`)
        if (actual === null) fail('get: expected a state, got none')
        matchState(expected, actual, 'get result')
        return
      case 'list': {
        const want = obj(expected, 'list expect')
        allow(want, ['ids'], 'list expect')
        if (!Array.isArray(want.ids)) fail('list expect: ids must be an array')
        const a = new Set(want.ids)
        const b = new Set(actual.ids)
        if (a.size !== b.size || ![...a].every((id) => b.has(id))) {
          fail(`list: ids are ${sortedIds(b)}, expected ${sortedIds(a)}`)
        }
        return
      }
      case 'apply': {
        const want = obj(expected, 'apply expect')
        allow(want, ['outcome', 'resolved', 'state'], 'apply expect')
        if (!isObject(actual) || typeof actual.outcome !== 'string') {
          fail(`apply: expected an ApplyResult, got ${short(actual)}`)
        }
        if (has(want, 'outcome') && actual.outcome !== want.outcome) {
          fail(`apply: outcome is '${actual.outcome}', expected '${want.outcome}'`)
        }
        if (has(want, 'resolved') && !jsonEq(want.resolved, actual.resolved)) {
          fail(`apply: resolved is ${short(actual.resolved)}, expected ${short(want.resolved)}`)
        }
        if (has(want, 'state')) matchState(want.state, actual.state, 'apply result state')
        return
      }
      case 'reconcile':
      case 'import':
        matchCounts(expected, actual, `${op} result`)
        return
      case 'acknowledge':
        matchFields(expected, actual, ['dropped'], 'acknowledge result')
        return
      case 'export':
        matchFields(expected, actual, ['states', 'pending', 'conflicts'], 'export result')
        return
      case 'changes_since':
      case 'pull': {
        const want = obj(expected, 'page expect')
        allow(want, ['ids', 'has_more', 'counts'], 'page expect')
        if (has(want, 'ids') && !jsonEq(want.ids, actual.ids)) {
          fail(`${op}: ids are ${JSON.stringify(actual.ids)}, expected ${JSON.stringify(want.ids)}`)
        }
        if (has(want, 'has_more') && !jsonEq(want.has_more, actual.has_more)) {
          fail(`${op}: has_more is ${short(actual.has_more)}, expected ${short(want.has_more)}`)
        }
        if (has(want, 'counts')) {
          if (op !== 'pull') fail('changes_since has no counts')
          matchCounts(want.counts, actual.counts, 'pull counts')
        }
        return
      }
      case 'clock':
        if (!jsonEq(expected, actual)) fail(`clock: got ${short(actual)}, expected ${short(expected)}`)
        return
      case 'peer_cursor': {
        const want = obj(expected, 'peer_cursor expect')
        allow(want, ['cursor', 'cursor_ref'], 'peer_cursor expect')
        let cursor
        if (has(want, 'cursor') && !has(want, 'cursor_ref') && want.cursor === null) cursor = null
        else if (has(want, 'cursor_ref') && !has(want, 'cursor'))
          cursor = this.named(want.cursor_ref, 'cursor', 'cursor_ref')
        else fail('peer_cursor expects {cursor: null} or {cursor_ref: name}')
        if (cursor !== actual.cursor) fail(`peer_cursor is ${short(actual.cursor)}, expected ${short(cursor)}`)
        return
      }
      case 'sync':
      case 'sync_via': {
        const want = obj(expected, 'sync expect')
        allow(want, ['pulled', 'pushed'], 'sync expect')
        for (const k of ['pulled', 'pushed']) if (has(want, k)) matchCounts(want[k], actual[k], `sync ${k}`)
        return
      }
      default:
        fail(`op '${op}' takes no expect`)
    }
  }

  checkFinal(expected, reopened) {
    const want = Object.keys(expected).sort()
    const have = [...this.replicas.keys()].sort()
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      fail(`the final expect must list every replica: ${JSON.stringify(have)}, got ${JSON.stringify(want)}`)
    }
    for (const [key, replica] of this.replicas) {
      const what = reopened ? `reopened '${key}'` : `final '${key}'`
      checkReplica(replica.view(), this.resolve(expected[key]), true, reopened, what)
    }
  }

  /**
   * SQLite only: closes every replica, reopens it from its file and compares the exports and the
   * rejection records (durable too).
   */
  async reopenAll() {
    for (const [key, replica] of this.replicas) {
      let before, rejectionsBefore
      if (replica.closed !== null) {
        before = replica.closed
        rejectionsBefore = replica.closedRejections
        replica.closed = null
      } else {
        try {
          before = replica.manager.exportState()
          rejectionsBefore = replica.manager.rejections().map(rejectionDict)
          await replica.manager.close()
        } catch (e) {
          if (e instanceof SyncError) fail(`closing '${key}': ${describe(e)}`)
          throw e
        }
      }
      const clock = new ManualClock(replica.clock.now())
      const manager = await openManager(replica.spec, replica.nodeId, replica.file, clock)
      replica.manager = manager
      replica.clock = clock
      let after, rejectionsAfter
      try {
        after = manager.exportState()
        rejectionsAfter = manager.rejections().map(rejectionDict)
      } catch (e) {
        if (e instanceof SyncError) fail(`exporting reopened '${key}': ${describe(e)}`)
        throw e
      }
      if (!sameSnapshot(after, before))
        fail(`replica '${key}' reopened from its ${this.store.mode} store differs from what it held`)
      if (!jsonEq(rejectionsAfter, rejectionsBefore)) {
        fail(`replica '${key}' reopened holds rejections ${short(rejectionsAfter)}, not ${short(rejectionsBefore)}`)
      }
    }
  }
}

const CASE_KEYS = ['name', 'description', 'replicas', 'steps', 'expect']

/**
 * Where a run keeps its replicas: `mode` names it ('memory', or the durable store: 'sqlite',
 * 'indexeddb'); `pathOf(i)` is the `path` option of the case's i-th replica (null: in memory);
 * `exclusive`: a second open of a path fails with STORAGE (SQLite files), which `open_again`
 * steps check.
 */
export const MEMORY = Object.freeze({ mode: 'memory', pathOf: null, exclusive: false })

/**
 * Runs one case on `store` (`MEMORY`, or a durable store: then every replica is closed, reopened
 * and checked again at the end). Throws `CaseFailure` when the binding does not do what the
 * case expects.
 */
export async function runCase(caseDef, store = MEMORY) {
  if (!isObject(caseDef)) fail('a case must be a JSON object')
  allow(caseDef, CASE_KEYS, String(caseDef.name))
  const run = await Run.open(caseDef, store)
  try {
    const steps = caseDef.steps
    if (!Array.isArray(steps)) fail('a case needs steps')
    for (const [i, step] of steps.entries()) {
      try {
        await run.runStep(step)
      } catch (e) {
        const op = isObject(step) ? step.op : null
        if (e instanceof CaseFailure) throw new CaseFailure(`step ${i} (${op}): ${e.message}`)
        // Not a suite failure (a TypeError from the binding, say): still say where it happened.
        throw new Error(`step ${i} (${op}) threw ${describe(e)}`, { cause: e })
      }
    }
    const expected = obj(caseDef.expect, 'expect')
    run.checkFinal(expected, false)
    if (store.pathOf !== null) {
      await run.reopenAll()
      run.checkFinal(expected, true)
    }
  } finally {
    await run.closeAll()
  }
}

// ---- collection -----------------------------------------------------------------------------------

/**
 * The suite from the text of its files (`{name: text}`, every `*.json` of conformance/ but
 * manifest.json): `files` [{file, suite | error}] and the case list `cases`
 * [{file, caseDef | null, id}], in file name order.
 */
export function loadSuite(texts) {
  const files = []
  const cases = []
  for (const file of Object.keys(texts).sort()) {
    let suite
    try {
      suite = JSON.parse(texts[file])
    } catch (error) {
      files.push({ file, error })
      cases.push({ file, caseDef: null, id: `${file}-unreadable` })
      continue
    }
    files.push({ file, suite })
    const list = isObject(suite) ? suite.cases : undefined
    if (!Array.isArray(list)) {
      cases.push({ file, caseDef: null, id: `${file}-no-cases` })
      continue
    }
    list.forEach((caseDef, i) => {
      const name = isObject(caseDef) ? caseDef.name : undefined
      const id = typeof name === 'string' && name ? name : `${file.replace(/\.json$/, '')}-case-${i}`
      cases.push({ file, caseDef, id })
    })
  }
  return { files, cases }
}

/** `{file: count}` of manifest.json's text, or the reason it cannot be read. */
function loadManifest(text) {
  try {
    if (text === undefined || text === null) fail('it is missing')
    const manifest = JSON.parse(text)
    allow(obj(manifest, MANIFEST), ['description', 'files'], MANIFEST)
    const counts = obj(manifest.files, `${MANIFEST} files`)
    for (const [file, n] of Object.entries(counts)) {
      if (!Number.isInteger(n) || n < 1) fail(`${MANIFEST}: ${file} has ${short(n)} cases`)
    }
    return { counts }
  } catch (error) {
    return { error: `${MANIFEST} cannot be read: ${error.message}` }
  }
}

/**
 * What is wrong with the suite's shape (none: `[]`): known keys, unique names, and exactly the
 * files and case counts of manifest.json (`manifestText`); at least MIN_CASES cases.
 */
export function suiteProblems(suiteFiles, manifestText) {
  const problems = []
  if (suiteFiles.length === 0) problems.push('no conformance files')
  const names = new Map()
  let total = 0
  const counts = {}
  for (const { file, suite, error } of suiteFiles) {
    if (error !== undefined) {
      problems.push(`${file} is not valid JSON: ${error.message}`)
      continue
    }
    if (!isObject(suite)) {
      problems.push(`${file} must hold a JSON object`)
      continue
    }
    const unknown = Object.keys(suite).filter((k) => !['description', 'cases'].includes(k))
    if (unknown.length) problems.push(`${file}: unknown keys ${JSON.stringify(unknown.sort())}`)
    const cases = suite.cases
    if (!Array.isArray(cases) || cases.length === 0) {
      problems.push(`${file} has no cases`)
      continue
    }
    counts[file] = cases.length
    for (const caseDef of cases) {
      total++
      if (!isObject(caseDef)) {
        problems.push(`${file}: a case is not an object`)
        continue
      }
      const name = caseDef.name
      if (typeof name !== 'string' || !name) {
        problems.push(`${file}: a case has no name`)
        continue
      }
      if (names.has(name)) problems.push(`${file} / ${name}: duplicate case name (also in ${names.get(name)})`)
      names.set(name, file)
      const unknownKeys = Object.keys(caseDef).filter((k) => !CASE_KEYS.includes(k))
      if (unknownKeys.length) problems.push(`${file} / ${name}: unknown keys ${JSON.stringify(unknownKeys.sort())}`)
    }
  }
  // The files and their case counts are exactly what manifest.json lists.
  const manifest = loadManifest(manifestText)
  if (manifest.error !== undefined) problems.push(manifest.error)
  else {
    const listed = Object.keys(manifest.counts).sort()
    const present = suiteFiles.map(({ file }) => file).sort()
    if (!jsonEq(listed, present)) {
      problems.push(`the suite's files ${JSON.stringify(present)} are not manifest.json's ${JSON.stringify(listed)}`)
    }
    for (const [file, n] of Object.entries(manifest.counts)) {
      if (counts[file] !== undefined && counts[file] !== n) {
        problems.push(`${file}: ${counts[file]} cases, manifest.json pins ${n}`)
      }
    }
  }
  if (total < MIN_CASES) problems.push(`only ${total} conformance cases, expected at least ${MIN_CASES}`)
  return problems
}

/** What is wrong with the replayer's own content hash and canonical JSON (none: `[]`). */
export function selfCheckProblems() {
  const checks = [
    [stateHash({ theme: 'dark' }, false), '730dbbcf9f17f860'],
    [stateHash(null, true), 'a2fd5e02fc0d43cd'],
    [sha256Hex(utf8('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    [sha256Hex(utf8('a'.repeat(200))), 'c2a908d98f5df987ade41b5fce213067efbcc21ef2240212a41e54b5e7c28ae5'],
    [esNumber(1e21), '1e+21'],
    [esNumber(1e-7), '1e-7'],
    [esNumber(0.1), '0.1'],
    [esNumber(-0), '0'],
    [esNumber(123456789012345680000), '123456789012345680000'],
    [esNumber(1.5e-6), '0.0000015'],
    [esNumber(2 ** 64 - 1), '18446744073709552000'],
    [
      canonicalJson({ b: [1, '\u0007\n'], a: null, '\ue000': 1, '\u{1f600}': 2 }),
      '{"a":null,"b":[1,"\\u0007\\n"],"\u{1f600}":2,"\ue000":1}',
    ],
  ]
  return checks.filter(([got, want]) => got !== want).map(([got, want]) => `${short(got)} is not ${short(want)}`)
}
