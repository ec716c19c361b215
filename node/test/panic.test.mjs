// No panic crosses into JS (issue 14, item 4). The test build (`npm run build:testing`, cargo
// feature `testing`) has `panicForTests`, which panics inside the core in the middle of a
// transaction with the replica's lock held: the call must fail with SyncError INTERNAL, and the
// same replica must then read and write as before, in memory and on SQLite (reopened too).
// The package that is packed and published is built without it (scripts/test-node.sh checks).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { SyncManager, SyncError } from '../index.mjs'
import { tempDir } from './support.mjs'

const require = createRequire(import.meta.url)
const native = require('../native.cjs')
const { nativeReplicaOf } = require('../lib/shared/manager.js')
const { callNative } = require('../lib/errors.cjs')
const srcDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src')

/** Calls the test-only entry point on `m` as every public call reaches the native module. */
function panicInside(m) {
  assert.equal(
    typeof native.panicForTests,
    'function',
    'this build lacks panicForTests: build the test build with `npm run build:testing`',
  )
  return callNative(native.panicForTests, nativeReplicaOf(m).manager)
}

function assertInternal(f) {
  let error
  try {
    f()
  } catch (e) {
    error = e
  }
  assert.ok(error instanceof SyncError, `expected SyncError INTERNAL, got ${error}`)
  assert.equal(error.code, 'INTERNAL')
  assert.match(error.message, /a bug in statesync: SyncManager::panic_for_tests was called/)
}

for (const mode of ['memory', 'sqlite']) {
  test(`a panic inside the core is SyncError INTERNAL and the replica works on [${mode}]`, async (t) => {
    const file = mode === 'sqlite' ? path.join(tempDir(t), 'replica.db') : undefined
    const m = await SyncManager.open({ nodeId: 'p', path: file })
    m.createState({ n: 1 }, { id: 'before' })

    assertInternal(() => panicInside(m))
    // The transaction the panic broke off changed nothing: its state was never created.
    assert.equal(m.getState('panic-for-tests'), null)
    assert.deepEqual(
      m.listStates({ includeDeleted: true }).map((s) => s.id),
      ['before'],
    )
    assert.equal(m.pendingOperations().length, 1)
    assert.equal(m.status(), 'idle')

    // The lock the panic held is usable again: writes, reads and a sync round.
    assert.equal(m.updateState('before', { n: 2 }).version, 2)
    m.createState({ n: 3 }, { id: 'after' })
    m.deleteState('after')
    assert.deepEqual(m.getState('before').data, { n: 2 })
    assertInternal(() => panicInside(m)) // and it panics (and recovers) again
    const peer = await SyncManager.open({ nodeId: 'q' })
    const report = await m.syncWith(peer)
    assert.equal(report.pushed.created, 2)
    assert.deepEqual(peer.getState('before').data, { n: 2 })
    await peer.close()
    const held = m.exportState().toJSON()
    await m.close()

    if (file !== undefined) {
      const reopened = await SyncManager.open({ nodeId: 'p', path: file })
      assert.deepEqual(reopened.exportState().toJSON(), held)
      assert.equal(reopened.getState('panic-for-tests'), null)
      await reopened.close()
    }
  })
}

test("a panic in the binding's own code, outside the core, is SyncError INTERNAL too", () => {
  assert.equal(typeof native.panicInBindingForTests, 'function', 'build the test build: `npm run build:testing`')
  let error
  try {
    callNative(native.panicInBindingForTests)
  } catch (e) {
    error = e
  }
  assert.ok(error instanceof SyncError, `expected SyncError INTERNAL, got ${error}`)
  assert.equal(error.code, 'INTERNAL')
  assert.match(error.message, /a panic in the Node binding, outside the core/)
})

test('every #[napi] function of node/src has catch_unwind, every thread-pool task catch_panic', () => {
  // napi catches a panic only where an export says `catch_unwind`; nothing catches one in a
  // task's `compute` on libuv's thread pool (it would abort the process), hence `guarded` there.
  const missing = []
  let exports = 0
  for (const name of fs.readdirSync(srcDir).filter((f) => f.endsWith('.rs'))) {
    const lines = fs.readFileSync(path.join(srcDir, name), 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (!/^\s*#\[napi(\(.*\))?\]\s*$/.test(line)) return
      let j = i + 1
      while (/^\s*(#\[|\/\/)/.test(lines[j])) j++
      if (!/^\s*pub fn /.test(lines[j])) return // a class, object, impl block or constant
      exports++
      if (!/\bcatch_unwind\b/.test(line)) missing.push(`${name}:${i + 1}: ${lines[j].trim()}`)
    })
    let compute = -1
    lines.forEach((line, i) => {
      if (/^\s*fn compute\(/.test(line)) compute = i
      else if (compute >= 0 && /^ {4}\}$/.test(line)) {
        const body = lines.slice(compute, i).join('\n')
        if (!/\b(guarded|catch_panic)\(/.test(body)) missing.push(`${name}:${compute + 1}: compute without catch_panic`)
        compute = -1
      }
    })
  }
  // The scan must have found the addon's functions (60 since the shared JS values read states,
  // operations, conflicts and snapshots through their JSON text instead of per-field getters).
  assert.ok(exports >= 55, `only ${exports} #[napi] functions found in ${srcDir}`)
  assert.deepEqual(missing, [])
})
