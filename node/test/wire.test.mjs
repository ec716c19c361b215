// Replays the wire-format golden files (`conformance/wire/manifest.json`, specified in
// `conformance/wire/README.md`) through the public `encode` / `decode*` / `compress` /
// `decompress` functions. A port of `python/tests/test_wire.py`.
//
// JS numbers cannot tell 3.0 from 3, nor -0.0 from 0 once printed: `data` follows JSON.parse
// (index.d.ts), so where Python compares native ints and floats this file compares the
// canonical binary encoding, which keeps every number exactly as the core holds it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import * as s from '../index.mjs'
import { wireDir, wireView, stateView, sameState, jsParsesExactly, jsonSpans, member } from './support/values.mjs'

const { SyncError, SyncState, SyncOperation, ChangeSet, Snapshot } = s

const MANIFEST = JSON.parse(fs.readFileSync(path.join(wireDir, 'manifest.json'), 'utf8'))

/** The golden cases the manifest held when these tests were written; it may only grow. */
const EXPECTED_CASES = [
  'state_plain',
  'state_tombstone',
  'state_unicode',
  'state_merge_fields',
  'changeset_more',
  'changeset_empty',
  'snapshot_small',
  'pending_ops',
]
const MIN_INVALID = 35

const DECODERS = {
  state: s.decodeState,
  changeset: s.decodeChangeSet,
  snapshot: s.decodeSnapshot,
  pending: s.decodeOperations,
}

const ERROR_CODES = ['CORRUPT', 'UNSUPPORTED_FORMAT', 'INVALID_STATE']

const CASES = MANIFEST.cases
const INVALID = MANIFEST.invalid

function read(name) {
  return fs.readFileSync(path.join(wireDir, name))
}

const sortedKeys = (o) => Object.keys(o).sort()

/** Asserts that `f` throws a SyncError with `code`; returns it. */
function throwsCode(f, code, what = '') {
  let error
  try {
    f()
  } catch (e) {
    error = e
  }
  assert.ok(error !== undefined, `${what}: expected a SyncError ${code}, but nothing was thrown`)
  assert.ok(error instanceof SyncError, `${what}: expected a SyncError ${code}, got ${error?.name}: ${error?.message}`)
  assert.equal(error.code, code, `${what}: ${error.name} ${error.code}: ${error.message}`)
  return error
}

/** Asserts the encoder's output: Uint8Array (index.d.ts), equal to `expected` byte for byte. */
function assertBytes(actual, expected, what) {
  assert.ok(actual instanceof Uint8Array, `${what}: encode() returned ${Object.prototype.toString.call(actual)}`)
  const got = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  if (!got.equals(expected)) {
    assert.fail(
      `${what}: ${got.length} bytes differ from the golden ${expected.length} bytes\n` +
        `  got:      ${got.toString('hex').slice(0, 400)}\n  expected: ${expected.toString('hex').slice(0, 400)}`,
    )
  }
}

/** Asserts two decoded values of `kind` are the same value: every public field and both encodings. */
function assertSameValue(kind, a, b, what) {
  assert.deepStrictEqual(wireView(kind, a), wireView(kind, b), `${what}: the public fields differ`)
  for (const form of ['json', 'binary']) {
    assertBytes(s.encode(a, form), Buffer.from(s.encode(b, form)), `${what}: the ${form} encodings differ`)
  }
  if (kind === 'state') assert.ok(a.equals(b), `${what}: SyncState.equals() is false`)
}

// ---- the manifest -----------------------------------------------------------------------------------------

test('wire: the manifest shape', () => {
  assert.equal(MANIFEST.wire_format, 1)
  assert.equal(s.WIRE_FORMAT, 1)
  assert.deepEqual(sortedKeys(MANIFEST), ['cases', 'description', 'invalid', 'wire_format'])
  const names = CASES.map((c) => c.name)
  assert.equal(new Set(names).size, names.length, 'golden case names are unique')
  for (const name of EXPECTED_CASES) assert.ok(names.includes(name), `the manifest lost golden case ${name}`)
  assert.ok(INVALID.length >= MIN_INVALID, `${INVALID.length} invalid inputs, expected at least ${MIN_INVALID}`)
  for (const c of CASES) {
    assert.deepEqual(sortedKeys(c), ['binary', 'description', 'json', 'kind', 'name'], JSON.stringify(c))
    assert.ok(Object.hasOwn(DECODERS, c.kind), `${c.name}: unknown kind ${c.kind}`)
  }
  for (const c of INVALID) {
    assert.deepEqual(sortedKeys(c), ['description', 'encoding', 'error', 'file', 'kind', 'name'], JSON.stringify(c))
    assert.ok(Object.hasOwn(DECODERS, c.kind), `${c.name}: unknown kind ${c.kind}`)
    assert.ok(['json', 'binary'].includes(c.encoding), `${c.name}: unknown encoding ${c.encoding}`)
    assert.ok(ERROR_CODES.includes(c.error), `${c.name}: unexpected error code ${c.error}`)
  }
})

// ---- golden cases ---------------------------------------------------------------------------------------------

for (const c of CASES) {
  test(`wire golden ${c.name}: decodes alike in both forms`, () => {
    const decode = DECODERS[c.kind]
    const fromJson = decode(read(c.json), 'json')
    const fromBinary = decode(read(c.binary), 'binary')
    assertSameValue(c.kind, fromJson, fromBinary, c.name)
    assertBytes(s.encode(fromJson, 'json'), Buffer.from(s.encode(fromBinary, 'json')), c.name)
  })
}

for (const c of CASES) {
  for (const source of ['json', 'binary']) {
    for (const target of ['json', 'binary']) {
      test(`wire golden ${c.name}: ${source} re-encodes to ${target} byte-identically`, () => {
        const value = DECODERS[c.kind](read(c[source]), source)
        const encoded = s.encode(value, target)
        assertBytes(encoded, read(c[target]), `${c.name} ${source} -> ${target}`)
      })
    }
  }
}

test('wire: decode takes the default encoding (json) and any Uint8Array', () => {
  const text = read('state_plain.json')
  assertSameValue('state', s.decodeState(text), s.decodeState(text, 'json'), 'default encoding')
  assertBytes(s.encode(s.decodeState(text)), text, 'encode with the default encoding')
  const bin = read('state_plain.bin')
  // a plain Uint8Array (not a Buffer), and a view into the middle of a larger buffer
  const plain = new Uint8Array(bin)
  assertSameValue('state', s.decodeState(plain, 'binary'), s.decodeState(text), 'plain Uint8Array')
  const big = new Uint8Array(bin.length + 16)
  big.set(bin, 7)
  const view = big.subarray(7, 7 + bin.length)
  assertSameValue('state', s.decodeState(view, 'binary'), s.decodeState(text), 'Uint8Array view with an offset')
})

/** The exact source text of the reference states and operations of a golden JSON file. */
function referenceTexts(kind, text) {
  const root = jsonSpans(text)
  const slice = (node) => text.slice(node.start, node.end)
  switch (kind) {
    case 'state':
      return { states: [slice(member(root, 'state'))], ops: [] }
    case 'changeset':
      return { states: member(root, 'states').items.map(slice), ops: [] }
    case 'snapshot':
      return { states: member(root, 'states').items.map(slice), ops: member(root, 'pending').items.map(slice) }
    case 'pending':
      return { states: [], ops: member(root, 'operations').items.map(slice) }
  }
}

for (const c of CASES) {
  test(`wire golden ${c.name}: the decoded value carries the reference JSON`, () => {
    const text = read(c.json).toString('utf8')
    const reference = JSON.parse(text)
    const raw = referenceTexts(c.kind, text)
    const value = DECODERS[c.kind](read(c.binary), 'binary')
    let refStates
    if (c.kind === 'state') {
      refStates = [reference.state]
    } else if (c.kind === 'changeset') {
      refStates = reference.states
      assert.ok(value instanceof ChangeSet)
      assert.equal(value.cursor, reference.cursor)
      assert.equal(value.hasMore, reference.has_more)
    } else if (c.kind === 'snapshot') {
      refStates = reference.states
      assert.ok(value instanceof Snapshot)
      assert.equal(value.format, reference.format)
      assert.equal(value.nodeId, reference.node_id)
      assert.equal(value.pending.length, reference.pending.length)
      assert.equal(value.conflicts.length, reference.conflicts.length)
      value.conflicts.forEach((conflict, i) => {
        const ref = reference.conflicts[i]
        assert.equal(conflict.conflictId, ref.conflict_id)
        assert.equal(conflict.stateId, ref.state_id)
        assert.equal(conflict.detectedAt, ref.detected_at)
        assert.ok(sameState(conflict.local, SyncState.fromJSON(ref.local)), `conflict ${i}: local`)
        assert.ok(sameState(conflict.remote, SyncState.fromJSON(ref.remote)), `conflict ${i}: remote`)
      })
      value.pending.forEach((op, i) => checkOperation(op, reference.pending[i], raw.ops[i]))
    } else {
      refStates = []
      assert.ok(Array.isArray(value))
      assert.equal(value.length, reference.operations.length)
      value.forEach((op, i) => checkOperation(op, reference.operations[i], raw.ops[i]))
    }
    const states = c.kind === 'state' ? [value] : c.kind === 'pending' ? [] : [...value.states]
    assert.equal(states.length, refStates.length)
    states.forEach((st, i) => checkState(st, refStates[i], raw.states[i]))
  })
}

/** `ref`: the reference state parsed by JSON.parse; `rawText`: its exact source text. */
function checkState(state, ref, rawText) {
  assert.ok(state instanceof SyncState)
  assert.equal(state.id, ref.id)
  assert.equal(state.collection, ref.collection ?? 'default')
  assert.deepStrictEqual(state.data, ref.data)
  assert.deepStrictEqual({ ...state.clock }, ref.clock)
  assert.deepStrictEqual({ ...state.timestamp }, ref.timestamp)
  assert.equal(state.modifiedBy, ref.modified_by ?? ref.timestamp.node)
  assert.equal(state.deleted, ref.deleted ?? false)
  assert.equal(state.version, ref.version)
  assert.equal(state.hash, ref.hash)
  // the parsers of a lone state agree with the wire decoder: the exact text always...
  assert.ok(sameState(SyncState.fromJSON(rawText), state), 'SyncState.fromJSON(text) differs from the decoded state')
  assert.ok(SyncState.fromJSON(rawText).equals(state))
  // ...and the parsed object whenever JS numbers hold it exactly (the object form goes through
  // JSON.stringify, index.d.ts: 3.0 becomes 3, u64::MAX rounds); otherwise it is the state of
  // that JSON.stringify text, with the same hash (RFC 8785 prints those numbers alike).
  const fromObject = SyncState.fromJSON(ref)
  if (jsParsesExactly(rawText)) {
    assert.ok(sameState(fromObject, state), 'SyncState.fromJSON(object) differs from the decoded state')
  } else {
    assert.ok(sameState(fromObject, SyncState.fromJSON(JSON.stringify(ref))))
    const { data: _a, ...meta } = stateView(fromObject)
    const { data: _b, ...want } = stateView(state)
    assert.deepStrictEqual(meta, want)
  }
  // toJSON() is the compact wire JSON of the state
  assert.deepStrictEqual(state.toJSON(), JSON.parse(rawText))
  if (jsParsesExactly(rawText)) assert.equal(JSON.stringify(state), rawText)
}

function checkOperation(op, ref, rawText) {
  assert.ok(op instanceof SyncOperation)
  assert.equal(op.opId, ref.op_id)
  assert.equal(op.kind, ref.kind)
  assert.ok(['create', 'update', 'delete'].includes(op.kind))
  assert.equal(op.stateId, ref.state_id)
  assert.equal(op.collection, ref.collection)
  assert.deepStrictEqual(op.data, ref.data)
  assert.deepStrictEqual({ ...op.clock }, ref.clock)
  assert.deepStrictEqual({ ...op.timestamp }, ref.timestamp)
  assert.equal(op.nodeId, ref.node_id)
  assert.deepStrictEqual(op.toJSON(), JSON.parse(rawText))
}

test('wire: state_unicode keeps its extreme numbers (as far as JS numbers can)', () => {
  const state = s.decodeState(read('state_unicode.bin'), 'binary')
  const data = state.data
  // the largest integers every language holds exactly, exact in JS numbers too
  assert.equal(data.max_safe, Number.MAX_SAFE_INTEGER)
  assert.equal(data.min_safe, Number.MIN_SAFE_INTEGER)
  assert.equal(data.negative, -42)
  const floats = data.floats
  assert.ok(floats.every((f) => typeof f === 'number'))
  assert.equal(floats[0], 0.1)
  assert.equal(floats[1], -2.5e-300)
  assert.equal(floats[2], 1.7976931348623157e308)
  assert.equal(floats[3], 3)
  assert.ok(Object.is(floats[4], -0), `-0.0 decoded as ${floats[4]}`)
  assert.equal(data.pinned, true)
  assert.deepStrictEqual(data.empty, {})
  // the exact values live on in the native state: both forms come back byte for byte, and the
  // text form keeps ±(2^53 - 1), 3.0 and -0.0
  assertBytes(s.encode(state, 'binary'), read('state_unicode.bin'), 'state_unicode binary')
  const json = Buffer.from(s.encode(state, 'json')).toString('utf8')
  for (const literal of ['9007199254740991', '-9007199254740991', '3.0', '-0.0', '1.7976931348623157e+308']) {
    assert.ok(json.includes(literal), `the JSON encoding lost ${literal}`)
  }
})

test('wire: the snapshot JSON form is the export JSON (Snapshot.fromJSON / toJSON)', () => {
  const bytes = read('snapshot_small.json')
  const text = bytes.toString('utf8')
  const snapshot = Snapshot.fromJSON(text)
  assert.ok(snapshot instanceof Snapshot)
  assertSameValue('snapshot', snapshot, s.decodeSnapshot(bytes, 'json'), 'Snapshot.fromJSON vs decodeSnapshot')
  assert.ok(jsParsesExactly(text), 'snapshot_small.json is exact in JS numbers')
  assert.equal(JSON.stringify(snapshot), text)
  assertSameValue('snapshot', Snapshot.fromJSON(JSON.parse(text)), snapshot, 'Snapshot.fromJSON(object)')
})

test('wire: a ChangeSet built by the constructor encodes like a decoded one', () => {
  const decoded = s.decodeChangeSet(read('changeset_more.bin'), 'binary')
  const built = new ChangeSet([...decoded.states], decoded.cursor, decoded.hasMore)
  assertSameValue('changeset', built, decoded, 'constructed ChangeSet')
  assertBytes(s.encode(built, 'binary'), read('changeset_more.bin'), 'constructed ChangeSet, binary')
  assertBytes(s.encode(built, 'json'), read('changeset_more.json'), 'constructed ChangeSet, json')
})

// ---- invalid inputs ---------------------------------------------------------------------------------------

for (const c of INVALID) {
  test(`wire invalid ${c.name}: ${c.kind} as ${c.encoding} fails with ${c.error}`, () => {
    throwsCode(() => DECODERS[c.kind](read(c.file), c.encoding), c.error, c.name)
  })
}

test('wire: an unknown encoding name is INVALID_INPUT', () => {
  throwsCode(() => s.decodeState(read('state_plain.json'), 'yaml'), 'INVALID_INPUT', 'decodeState(yaml)')
  const state = s.decodeState(read('state_plain.json'), 'json')
  throwsCode(() => s.encode(state, 'xml'), 'INVALID_INPUT', 'encode(xml)')
})

// ---- compression --------------------------------------------------------------------------------------------

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

for (const c of CASES) {
  for (const form of ['json', 'binary']) {
    test(`wire compress ${c.name} (${form}): round trip`, () => {
      const raw = read(c[form])
      const packed = s.compress(raw)
      assert.ok(packed instanceof Uint8Array)
      assert.ok(Buffer.from(packed.subarray(0, 4)).equals(ZSTD_MAGIC), 'a zstd frame')
      assertBytes(s.decompress(packed), raw, 'decompress(compress(x))')
      const decode = DECODERS[c.kind]
      assertSameValue(c.kind, decode(s.decompress(packed), form), decode(raw, form), 'decoded after the round trip')
    })
  }
}

test('wire: compress a large and an empty input', () => {
  const raw = Buffer.from('statesync '.repeat(200_000))
  const packed = s.compress(raw)
  assert.ok(packed.length < raw.length / 10, `${packed.length} bytes from ${raw.length}`)
  assertBytes(s.decompress(packed), raw, 'large')
  assertBytes(s.decompress(s.compress(Buffer.alloc(0))), Buffer.alloc(0), 'empty')
})

const GARBAGE = {
  empty: Buffer.alloc(0),
  text: Buffer.from('not zstd at all'),
  'magic-only': ZSTD_MAGIC,
  'truncated-frame': Buffer.concat([ZSTD_MAGIC, Buffer.from([0, 1, 2])]),
}

for (const [name, garbage] of Object.entries(GARBAGE)) {
  test(`wire decompress garbage (${name}) is CORRUPT`, () => {
    throwsCode(() => s.decompress(garbage), 'CORRUPT', name)
  })
}

test('wire: decompress a truncated frame is CORRUPT', () => {
  const packed = s.compress(read('snapshot_small.bin'))
  throwsCode(() => s.decompress(packed.subarray(0, Math.floor(packed.length / 2))), 'CORRUPT', 'half a frame')
})
