// Object storage from Node (cloud.d.ts): encryption keys against the golden vectors, backups
// (list, verify, restore, prune, auto-backup) and bucket sync, on real storage: a `file://`
// folder and the process's `memory://` stores. The behaviour is the core's (core/tests/cloud.rs);
// these prove the binding's types, Promises and error codes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import * as s from '../index.mjs'
import { repoRoot, tempDir, waitFor, throwsCode } from './support.mjs'

const { SyncManager, EncryptionKey, ObjectStoreTransport, AutoBackup, listBackups, verifyBackup, pruneBackups } = s

const hex = (text) => Buffer.from(text, 'hex')

/** The key of a golden vector's `key` entry. */
async function vectorKey(spec) {
  if (spec.bytes !== undefined) return EncryptionKey.fromBytes(hex(spec.bytes))
  return EncryptionKey.fromPassphrase(spec.passphrase, Buffer.from(spec.salt, 'utf8'))
}

/** The replica's live states as `id -> data`, for comparisons. */
function dataOf(m) {
  return Object.fromEntries(
    m
      .listStates()
      .map((st) => [st.id, st.data])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  )
}

/** A replica in memory, closed when the test ends. */
async function replica(t, nodeId) {
  const m = await SyncManager.open({ nodeId })
  t.after(() => m.close())
  return m
}

/** A replica with two notes and one task. */
async function filled(t, nodeId) {
  const m = await replica(t, nodeId)
  m.createState({ text: 'one' }, { id: 'n1', collection: 'notes' })
  m.createState({ text: 'two' }, { id: 'n2', collection: 'notes' })
  m.createState({ done: false }, { id: 't1', collection: 'tasks' })
  return m
}

/** The two storages every backup test runs on: a temp folder, and a fresh in-memory store. */
function places(t) {
  const dir = tempDir(t)
  return [
    { name: 'file', url: `file://${path.join(dir, 'bucket')}`, dir: path.join(dir, 'bucket') },
    { name: 'memory', url: `memory://node-${randomUUID()}/backups`, dir: null },
  ]
}

test('golden vectors (conformance/crypto/vectors.json): every case decrypts to its plaintext and round-trips; every failure is CRYPTO', async () => {
  const vectors = JSON.parse(fs.readFileSync(path.join(repoRoot, 'conformance/crypto/vectors.json'), 'utf8'))
  assert.ok(vectors.cases.length >= 3 && vectors.failures.length >= 5)
  for (const c of vectors.cases) {
    const key = await vectorKey(c.key)
    const plain = key.decrypt(c.object, hex(c.sealed))
    assert.ok(plain instanceof Uint8Array, c.name)
    assert.equal(Buffer.from(plain).toString('hex'), c.plaintext, c.name)
    const sealed = key.encrypt(c.object, hex(c.plaintext))
    assert.notEqual(Buffer.from(sealed).toString('hex'), c.sealed, `${c.name}: a fresh nonce each time`)
    assert.equal(Buffer.from(key.decrypt(c.object, sealed)).toString('hex'), c.plaintext, c.name)
  }
  for (const f of vectors.failures) {
    const key = await vectorKey(f.key)
    await throwsCode(() => key.decrypt(f.object, hex(f.sealed)), 'CRYPTO')
  }
})

test('keys: a wrong length, a short salt or an empty passphrase is INVALID_INPUT; a key never shows its bytes', async () => {
  await throwsCode(() => EncryptionKey.fromBytes(new Uint8Array(31)), 'INVALID_INPUT')
  await throwsCode(() => EncryptionKey.fromBytes('not bytes'), 'INVALID_INPUT')
  await throwsCode(() => EncryptionKey.fromPassphrase('secret', new Uint8Array(4)), 'INVALID_INPUT')
  await throwsCode(() => EncryptionKey.fromPassphrase('', 'statesync-salt-1'), 'INVALID_INPUT')
  assert.throws(() => new EncryptionKey(), TypeError)
  const bytes = Buffer.alloc(32, 0xab)
  const raw = EncryptionKey.fromBytes(bytes)
  for (const shown of [String(raw), inspect(raw), JSON.stringify(raw)]) {
    assert.ok(!shown.includes('ab'.repeat(4)) && !shown.includes('171'), shown)
  }
  assert.equal(String(raw), 'EncryptionKey(raw)')
  // A passphrase key is derived off the JS thread: a Promise, and the same key from a string salt.
  const pending = EncryptionKey.fromPassphrase('correct horse battery staple', 'statesync-salt-1')
  assert.ok(pending instanceof Promise)
  const fromString = await pending
  const fromBytes = await EncryptionKey.fromPassphrase('correct horse battery staple', Buffer.from('statesync-salt-1'))
  assert.match(String(fromString), /argon2id/i)
  const sealed = fromString.encrypt('o', Buffer.from('hi'))
  assert.equal(Buffer.from(fromBytes.decrypt('o', sealed)).toString(), 'hi')
  // The object name is authenticated: a swapped object does not open.
  await throwsCode(() => fromBytes.decrypt('other', sealed), 'CRYPTO')
})

test('backup, list, verify, then restore merged, replacing, or only some collections (file:// and memory://)', async (t) => {
  for (const place of places(t)) {
    const source = await filled(t, `source-${place.name}`)
    const pending = source.backup(place.url, { label: 'first' })
    assert.ok(pending instanceof Promise, 'storage I/O returns a Promise')
    const info = await pending
    assert.match(info.id, /^backup-\d{8}T\d{6}Z-[0-9a-f]{8}$/)
    assert.equal(info.label, 'first')
    assert.equal(info.states, 3)
    assert.equal(info.encrypted, false)
    assert.ok(info.parts >= 1 && info.bytes > 0 && /^[0-9a-f]{64}$/.test(info.sha256), JSON.stringify(info))
    assert.ok(Math.abs(info.createdAt - Date.now()) < 60_000)

    const listed = await listBackups(place.url)
    assert.deepEqual(listed, [info])
    assert.deepEqual(await verifyBackup(place.url, info.id), info)
    await throwsCode(() => verifyBackup(place.url, 'backup-20200101T000000Z-00000000'), 'NOT_FOUND')

    // Merge: the target keeps its own state and gains the backup's.
    const merged = await replica(t, `merged-${place.name}`)
    merged.createState({ mine: true }, { id: 'own', collection: 'notes' })
    const counts = await merged.restoreBackup(place.url, info.id)
    assert.equal(counts.created, 3)
    assert.deepEqual(Object.keys(dataOf(merged)), ['n1', 'n2', 'own', 't1'])

    // Replace: what the target held is gone.
    const replaced = await replica(t, `replaced-${place.name}`)
    replaced.createState({ mine: true }, { id: 'own' })
    await replaced.restoreBackup(place.url, info.id, { replace: true })
    assert.deepEqual(dataOf(replaced), dataOf(source))

    // Only some collections.
    const some = await replica(t, `some-${place.name}`)
    await some.restoreBackup(place.url, info.id, { collections: ['notes'] })
    assert.deepEqual(Object.keys(dataOf(some)), ['n1', 'n2'])
    assert.equal(some.getState('t1'), null)
  }
})

test('an encrypted backup: a wrong key or none is CRYPTO and restores nothing; the right key (raw or passphrase) restores', async (t) => {
  for (const place of places(t)) {
    const source = await filled(t, `enc-${place.name}`)
    const key = EncryptionKey.fromBytes(randomBytes(32))
    const info = await source.backup(place.url, { key })
    assert.equal(info.encrypted, true)
    const wrong = EncryptionKey.fromBytes(randomBytes(32))
    await throwsCode(() => verifyBackup(place.url, info.id, { key: wrong }), 'CRYPTO')
    await throwsCode(() => verifyBackup(place.url, info.id), 'CRYPTO')
    const target = await replica(t, `enc-target-${place.name}`)
    target.createState({ kept: 1 }, { id: 'kept' })
    await throwsCode(() => target.restoreBackup(place.url, info.id, { key: wrong, replace: true }), 'CRYPTO')
    await throwsCode(() => target.restoreBackup(place.url, info.id, { replace: true }), 'CRYPTO')
    assert.deepEqual(dataOf(target), { kept: { kept: 1 } }, 'a failed restore changes nothing')
    assert.deepEqual(await verifyBackup(place.url, info.id, { key }), info)
    await target.restoreBackup(place.url, info.id, { key, replace: true })
    assert.deepEqual(dataOf(target), dataOf(source))

    const pass = await EncryptionKey.fromPassphrase('open sesame', 'node-test-salt')
    const second = await source.backup(place.url, { key: pass })
    const again = await EncryptionKey.fromPassphrase('open sesame', 'node-test-salt')
    assert.equal((await verifyBackup(place.url, second.id, { key: again })).states, 3)
    await throwsCode(() => source.backup(place.url, { key: 'not a key' }), 'INVALID_INPUT')
  }
})

test('a tampered part is CORRUPT naming the part, and the failed restore leaves the replica unchanged', async (t) => {
  const [place] = places(t)
  const source = await filled(t, 'tamper-source')
  const info = await source.backup(place.url)
  const part = path.join(place.dir, 'backups', info.id, 'part-00000')
  const bytes = fs.readFileSync(part)
  bytes[Math.floor(bytes.length / 2)] ^= 0x01
  fs.writeFileSync(part, bytes)

  const e = await throwsCode(() => verifyBackup(place.url, info.id), 'CORRUPT')
  assert.match(e.message, /part-00000/)
  const target = await replica(t, 'tamper-target')
  target.createState({ before: true }, { id: 'before' })
  const before = target.exportState().toJSON()
  const r = await throwsCode(() => target.restoreBackup(place.url, info.id, { replace: true }), 'CORRUPT')
  assert.match(r.message, /part-00000/)
  assert.deepEqual(target.exportState().toJSON(), before)
})

test('pruneBackups keeps the newest keepLast and returns the ids it removed', async (t) => {
  for (const place of places(t)) {
    const source = await filled(t, `prune-${place.name}`)
    const ids = []
    for (let i = 0; i < 3; i++) ids.push((await source.backup(place.url, { label: `b${i}` })).id)
    const listed = await listBackups(place.url)
    assert.deepEqual(listed.map((b) => b.id).sort(), [...ids].sort())
    // Newest first: by creation time, then by id.
    for (let i = 1; i < listed.length; i++) assert.ok(listed[i - 1].createdAt >= listed[i].createdAt)
    const newest = listed[0].id
    const removed = await pruneBackups(place.url, { keepLast: 1 })
    assert.deepEqual([...removed].sort(), ids.filter((id) => id !== newest).sort())
    assert.deepEqual(
      (await listBackups(place.url)).map((b) => b.id),
      [newest],
    )
    await throwsCode(() => pruneBackups(place.url), 'INVALID_INPUT')
    // Everything is within a day: keepWithinMs keeps it all.
    assert.deepEqual(await pruneBackups(place.url, { keepLast: 0, keepWithinMs: 86_400_000 }), [])
    await throwsCode(() => pruneBackups(place.url, { keepLast: -1 }), 'INVALID_INPUT')
    await throwsCode(() => pruneBackups(place.url, { keepWithinMs: -5 }), 'INVALID_INPUT')
  }
})

test('auto-backup every second writes a backup (seen within 10 s), then stops', async (t) => {
  const [place] = places(t)
  const source = await filled(t, 'auto')
  await throwsCode(() => source.startAutoBackup(place.url, 10), 'INVALID_INPUT')
  const auto = await source.startAutoBackup(place.url, 1000, { keepLast: 2 })
  assert.ok(auto instanceof AutoBackup)
  await waitFor(() => auto.lastBackup !== null, 10_000, 'an auto-backup')
  assert.ok(auto.runs >= 1)
  assert.equal(auto.lastError, null)
  assert.equal(auto.lastBackup.label, 'auto')
  assert.equal(auto.lastBackup.states, 3)
  await auto.stop()
  await auto.stop()
  const runs = auto.runs
  const listed = await listBackups(place.url)
  assert.ok(listed.length >= 1 && listed.length <= 2, JSON.stringify(listed))
  assert.ok(listed.some((b) => b.id === auto.lastBackup.id))
  await new Promise((r) => setTimeout(r, 1200))
  assert.equal(auto.runs, runs, 'no run after stop')
})

test('two replicas converge through an encrypted file:// bucket; the wrong key or none is CRYPTO', async (t) => {
  const dir = tempDir(t)
  const url = `file://${path.join(dir, 'bucket')}`
  const key = await EncryptionKey.fromPassphrase('bucket passphrase', 'bucket-salt-1')
  const a = await replica(t, 'a')
  const b = await replica(t, 'b')
  const ta = await ObjectStoreTransport.open(url, { key })
  const tb = await ObjectStoreTransport.open(url, { key })
  assert.equal(ta.url, url)
  a.createState({ from: 'a' }, { id: 'x' })
  b.createState({ from: 'b' }, { id: 'y' })
  for (let i = 0; i < 2; i++) {
    await a.sync(ta)
    await b.sync(tb)
  }
  await a.sync(ta)
  assert.deepEqual(dataOf(a), { x: { from: 'a' }, y: { from: 'b' } })
  assert.deepEqual(dataOf(b), dataOf(a))
  b.updateState('x', { from: 'b', again: true })
  await b.sync(tb)
  await a.sync(ta)
  assert.deepEqual(dataOf(a), dataOf(b))
  assert.equal(typeof (await ta.compact()), 'boolean')

  const wrong = EncryptionKey.fromBytes(randomBytes(32))
  const c = await replica(t, 'c')
  await throwsCode(async () => c.sync(await ObjectStoreTransport.open(url, { key: wrong })), 'CRYPTO')
  await throwsCode(async () => c.sync(await ObjectStoreTransport.open(url)), 'CRYPTO')
  assert.deepEqual(dataOf(c), {})
  await c.sync(await ObjectStoreTransport.open(url, { key }))
  assert.deepEqual(dataOf(c), dataOf(a))
})

test('auto-sync through a bucket', async (t) => {
  const url = `memory://node-${randomUUID()}/sync`
  const a = await replica(t, 'auto-a')
  const b = await replica(t, 'auto-b')
  const ta = await ObjectStoreTransport.open(url)
  const tb = await ObjectStoreTransport.open(url)
  a.startAutoSync(50, ta)
  t.after(() => a.stopAutoSync())
  assert.equal(a.isAutoSyncing, true)
  b.createState({ hello: 'from b' }, { id: 'hello' })
  await b.sync(tb)
  await waitFor(() => a.getState('hello') !== null, 10_000, 'auto-sync to pull through the bucket')
  assert.deepEqual(a.getState('hello').data, { hello: 'from b' })
  a.createState({ back: true }, { id: 'back' })
  await waitFor(
    async () => {
      await b.sync(tb)
      return b.getState('back') !== null
    },
    10_000,
    'auto-sync to push through the bucket',
  )
  assert.equal(await a.stopAutoSync(), true)
})

test('an unknown URL scheme or a malformed URL is INVALID_INPUT everywhere', async (t) => {
  const m = await filled(t, 'bad-urls')
  for (const url of ['ftp://host/x', 'not a url']) {
    await throwsCode(() => listBackups(url), 'INVALID_INPUT')
    await throwsCode(() => verifyBackup(url, 'backup-20200101T000000Z-00000000'), 'INVALID_INPUT')
    await throwsCode(() => pruneBackups(url, { keepLast: 1 }), 'INVALID_INPUT')
    await throwsCode(() => m.backup(url), 'INVALID_INPUT')
    await throwsCode(() => m.restoreBackup(url, 'backup-20200101T000000Z-00000000'), 'INVALID_INPUT')
    await throwsCode(() => m.startAutoBackup(url, 1000), 'INVALID_INPUT')
    await throwsCode(() => ObjectStoreTransport.open(url), 'INVALID_INPUT')
  }
  await throwsCode(() => listBackups(42), 'INVALID_INPUT')
  assert.throws(() => new ObjectStoreTransport(), TypeError)
})

test('storage calls leave the event loop free: timers fire while a large backup and its restore run', async (t) => {
  const url = `memory://node-${randomUUID()}/big`
  const m = await replica(t, 'big')
  const text = 'x'.repeat(2000)
  for (let i = 0; i < 3000; i++) m.createState({ i, text }, { id: `s${i}` })
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  try {
    // A call that blocked the JS thread would settle before any timer could fire.
    const info = await m.backup(url)
    assert.ok(ticks > 0, 'timers ran while the backup ran')
    const target = await replica(t, 'big-target')
    ticks = 0
    await target.restoreBackup(url, info.id)
    assert.ok(ticks > 0, 'timers ran while the restore ran')
    assert.equal(target.listStates().length, 3000)
  } finally {
    clearInterval(timer)
  }
})
