// What the Node binding adds to the core: Promises, errors, events, JS callbacks on the right
// thread, JS and HTTP transports, auto-sync, worker threads and garbage collection. The
// behaviour itself is the conformance suite's (conformance.test.mjs, js/conformance/).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { writeFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import * as s from '../index.mjs'
import { tempDir, waitFor, startHub, throwsCode } from './support.mjs'

const { SyncManager, SyncError, SyncState, ChangeSet, DELETED, HttpTransport, ManualClock } = s

test('errors cross the native boundary typed: an Error with the core code as `code`, the message as is, sync and async', async (t) => {
  const native = createRequire(import.meta.url)('../native.cjs')
  const dir = tempDir(t)
  const rejected = await native.NativeManager.open(
    undefined,
    path.join(dir, 'no', 'such', 'dir.db'),
    [''],
    ['lastWriteWins'],
    undefined,
    false,
  ).then(
    () => null,
    (e) => e,
  )
  assert.ok(rejected instanceof Error, 'a task rejects with an Error')
  assert.equal(rejected.code, 'STORAGE')
  assert.doesNotMatch(rejected.message, /^\[/)
  const m = await native.NativeManager.open(undefined, undefined, [''], ['lastWriteWins'], undefined, false)
  const thrown = (() => {
    try {
      m.resolveConflict('none', 'local', undefined)
    } catch (e) {
      return e
    }
  })()
  assert.ok(thrown instanceof Error)
  assert.equal(thrown.code, 'NOT_FOUND')
  assert.doesNotMatch(thrown.message, /^\[/)
  await m.close()
})

/** A transport over another in-process replica, answering after a tick like a network would. */
function loopback(peer, { delayMs = 1 } = {}) {
  const later = () => new Promise((r) => setTimeout(r, delayMs))
  return {
    calls: [],
    async capabilities() {
      this.calls.push('capabilities')
      await later()
      return {
        protocol: s.PROTOCOL_VERSION,
        nodeId: peer.nodeId,
        scopedSync: true,
        binary: true,
        zstd: false,
        maxBatch: null,
      }
    },
    async pull(cursor, collections, limit) {
      this.calls.push('pull')
      await later()
      return peer.changesSince({ cursor, collections, limit })
    },
    async push(changes) {
      this.calls.push('push')
      await later()
      return peer.reconcile(changes.states)
    },
  }
}

test('open, close and reopen on SQLite keep every state and pending operation', async (t) => {
  const file = path.join(tempDir(t), 'app.db')
  const opening = SyncManager.open({ nodeId: 'phone', path: file })
  assert.ok(opening instanceof Promise)
  const m = await opening
  m.createState({ theme: 'dark' }, { id: 'settings', collection: 'prefs' })
  await m.close()
  await throwsCode(() => m.getState('settings'), 'CLOSED')
  const again = await SyncManager.open({ path: file })
  assert.equal(again.nodeId, 'phone')
  assert.deepEqual(again.getState('settings').data, { theme: 'dark' })
  assert.equal(again.pendingOperations().length, 1)
  await throwsCode(
    () => SyncManager.open({ nodeId: 'laptop', path: path.join(path.dirname(file), 'x', 'y.db') }),
    'STORAGE',
  )
  await again.close()
  await throwsCode(() => SyncManager.open({ nodeId: 'laptop', path: file }), 'INVALID_INPUT')
})

test('values are immutable classes with plain-JS data and a wire JSON form', async () => {
  const m = await SyncManager.open({ nodeId: 'a', clock: new ManualClock(1000) })
  const st = m.createState({ list: [1, 2.5, 'x', null, true], nested: { deep: {} } }, { id: 'k' })
  assert.ok(st instanceof SyncState)
  assert.deepEqual(st.data, { list: [1, 2.5, 'x', null, true], nested: { deep: {} } })
  st.data.list.push(3) // a copy: the state is unchanged
  assert.deepEqual(st.data.list, [1, 2.5, 'x', null, true])
  assert.deepEqual(st.clock, { a: 1 })
  assert.deepEqual(st.timestamp, { millis: 1000, counter: 0, node: 'a' })
  assert.equal(st.version, 1)
  assert.match(st.hash, /^[0-9a-f]{16}$/)
  const round = SyncState.fromJSON(JSON.stringify(st))
  assert.ok(round.equals(st))
  assert.ok(SyncState.fromJSON(st.toJSON()).equals(st))
  await throwsCode(() => SyncState.fromJSON({ id: '' }), 'INVALID_STATE')
  assert.throws(() => new SyncState()) // the constructor is private
  await m.close()
})

test('bad input is a typed INVALID_INPUT error and changes nothing', async () => {
  const m = await SyncManager.open({ nodeId: 'a' })
  m.createState({ v: 1 }, { id: 'k' })
  await throwsCode(() => m.createState(undefined), 'INVALID_INPUT')
  await throwsCode(() => m.createState({ big: 1n }), 'INVALID_INPUT')
  const cycle = {}
  cycle.self = cycle
  const e = await throwsCode(() => m.updateState('k', cycle), 'INVALID_INPUT')
  assert.ok(e.cause instanceof TypeError)
  let deep = 0
  for (let i = 0; i < s.MAX_DATA_DEPTH + 1; i++) deep = [deep]
  await throwsCode(() => m.updateState('k', deep), 'INVALID_INPUT')
  await throwsCode(() => m.getState(42), 'INVALID_INPUT')
  await throwsCode(() => m.changesSince({ cursor: 'nonsense' }), 'INVALID_INPUT')
  await throwsCode(() => m.changesSince({ limit: 0 }), 'INVALID_INPUT')
  await throwsCode(() => m.resolveConflict('c', { pick: 'mine' }), 'INVALID_INPUT')
  await throwsCode(() => m.setStrategy('newest'), 'INVALID_INPUT')
  await throwsCode(() => m.on('nothing', () => {}), 'INVALID_INPUT')
  await throwsCode(() => m.applyRemoteState({ id: 'k' }), 'INVALID_INPUT')
  await throwsCode(() => m.updateState('missing', {}), 'NOT_FOUND')
  await throwsCode(() => m.createState({}, { id: 'k' }), 'ALREADY_EXISTS')
  assert.deepEqual(m.getState('k').data, { v: 1 })
  assert.equal(m.pendingOperations().length, 1)
  await m.close()
})

test('events arrive in commit order, after the call, through on/once/off and events()', async () => {
  const m = await SyncManager.open({ nodeId: 'a' })
  const seen = []
  const all = (e) => seen.push(e.name === 'statusChanged' ? `${e.previous}->${e.current}` : `${e.name}:${e.state?.id}`)
  m.on('event', all)
  let onceCount = 0
  m.once('stateCreated', () => onceCount++)
  m.createState({ n: 1 }, { id: 'x' })
  assert.deepEqual(seen, [], 'delivered after the call returns')
  m.updateState('x', { n: 2 })
  m.createState({ n: 1 }, { id: 'y' })
  m.deleteState('x')
  await waitFor(() => seen.length === 4, 2000, 'four events')
  assert.deepEqual(seen, ['stateCreated:x', 'stateUpdated:x', 'stateCreated:y', 'stateDeleted:x'])
  assert.equal(onceCount, 1)
  m.off('event', all)
  m.updateState('y', { n: 2 })
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(seen.length, 4, 'no delivery after off')

  const controller = new AbortController()
  const got = []
  const loop = (async () => {
    for await (const e of m.events({ signal: controller.signal })) {
      got.push(e)
      if (got.length === 2) controller.abort()
    }
  })()
  m.updateState('y', { n: 3 })
  m.deleteState('y')
  await loop
  assert.deepEqual(
    got.map((e) => e.name),
    ['stateUpdated', 'stateDeleted'],
  )
  await m.close()
})

test('a resolver runs on the JS thread in synchronous calls; its exception is a RESOLVER error with the cause, store unchanged', async () => {
  const boom = new Error('boom')
  let fail = true
  const resolver = (local, remote) => {
    assert.ok(local instanceof SyncState && remote instanceof SyncState)
    if (fail) throw boom
    return { merged: [local.data.v, remote.data.v].sort() }
  }
  const a = await SyncManager.open({ nodeId: 'a', strategy: resolver })
  const b = await SyncManager.open({ nodeId: 'b' })
  const base = a.createState({ v: 0 }, { id: 'k' })
  b.applyRemoteState(base)
  const mine = a.updateState('k', { v: 1 })
  const theirs = b.updateState('k', { v: 2 })
  const e = await throwsCode(() => a.applyRemoteState(theirs), 'RESOLVER')
  assert.equal(e.cause, boom)
  assert.ok(a.getState('k').equals(mine), 'store unchanged')
  fail = false
  const result = a.applyRemoteState(theirs)
  assert.equal(result.outcome, 'conflict')
  assert.equal(result.resolved, true)
  assert.deepEqual(a.getState('k').data, { merged: [1, 2] })
  a.setStrategy(() => DELETED)
  const third = b.updateState('k', { v: 3 })
  a.applyRemoteState(third)
  assert.equal(a.getState('k'), null)
  a.setStrategy(() => Promise.resolve({}))
  b.updateState('k', { v: 4 })
  await throwsCode(() => a.reconcile(b.listStates()), 'RESOLVER')
  await a.close()
  await b.close()
})

test('a resolver called from a round off the JS thread: errors keep their cause; the JS thread may use the replica meanwhile', async () => {
  const boom = new TypeError('cannot merge')
  let fail = true
  const resolver = (local, remote) => {
    if (fail) throw boom
    return { v: Math.max(local.data.v, remote.data.v) }
  }
  const a = await SyncManager.open({ nodeId: 'a', strategy: resolver })
  const b = await SyncManager.open({ nodeId: 'b', strategy: resolver })
  for (let i = 0; i < 50; i++) a.createState({ v: 0 }, { id: `k${i}` })
  await a.syncWith(b)
  for (let i = 0; i < 50; i++) {
    a.updateState(`k${i}`, { v: i })
    b.updateState(`k${i}`, { v: 100 - i })
  }
  const e = await throwsCode(() => a.syncWith(b), 'RESOLVER')
  assert.equal(e.cause, boom)
  fail = false
  // The JS thread writes to `a` while the round runs and calls the resolver: no deadlock.
  const round = a.syncWith(b)
  for (let i = 0; i < 200; i++) a.createState({ local: i })
  const report = await round
  assert.ok(report.pulled.resolved + report.pushed.resolved > 0)
  await a.syncWith(b)
  for (let i = 0; i < 50; i++) assert.deepEqual(a.getState(`k${i}`).data, b.getState(`k${i}`).data)
  assert.deepEqual(a.getState('k10').data, { v: 90 })
  await a.close()
  await b.close()
})

test('a transport written in JS drives rounds: Promises, errors as TRANSPORT or their own code, with the cause', async () => {
  const a = await SyncManager.open({ nodeId: 'a' })
  const hub = await SyncManager.open({ nodeId: 'hub' })
  const t = loopback(hub)
  a.createState({ theme: 'dark' }, { id: 'settings' })
  const report = await a.sync(t)
  assert.equal(report.pushed.created, 1)
  assert.deepEqual(hub.getState('settings').data, { theme: 'dark' })
  assert.equal(a.pendingOperations().length, 0, 'an accepted push acknowledges the operations')
  assert.deepEqual(t.calls.slice(0, 2), ['capabilities', 'pull'])

  const offline = new Error('ECONNREFUSED')
  const broken = {
    ...loopback(hub),
    pull: async () => {
      throw offline
    },
  }
  const e = await throwsCode(() => a.sync(broken), 'TRANSPORT')
  assert.equal(e.cause, offline)
  assert.equal(a.status(), 'error')
  const denied = {
    ...loopback(hub),
    capabilities: () => {
      throw new SyncError('UNAUTHORIZED', 'token expired')
    },
  }
  await throwsCode(() => a.sync(denied), 'UNAUTHORIZED')
  const wrong = { ...loopback(hub), pull: async () => ({ states: [] }) }
  await throwsCode(() => a.sync(wrong), 'TRANSPORT')
  await throwsCode(() => a.sync({ pull() {} }), 'INVALID_INPUT')
  await a.sync(t)
  assert.equal(a.status(), 'idle', 'a successful round clears the error')
  await a.close()
  await hub.close()
})

test('auto-sync with a JS transport: rounds on a timer, syncNow, events, stop resolves when the round ended', async () => {
  const a = await SyncManager.open({ nodeId: 'a' })
  const hub = await SyncManager.open({ nodeId: 'hub' })
  const completed = []
  a.on('syncCompleted', (e) => completed.push(e.peer))
  a.startAutoSync(20, loopback(hub, { delayMs: 2 }))
  assert.equal(a.isAutoSyncing, true)
  await throwsCode(() => a.startAutoSync(20, loopback(hub)), 'INVALID_INPUT')
  a.createState({ n: 1 }, { id: 'one' })
  assert.equal(a.syncNow(), true)
  await waitFor(() => hub.getState('one') !== null, 5000, 'the hub to receive the write')
  hub.createState({ n: 2 }, { id: 'two' })
  await waitFor(() => a.getState('two') !== null, 5000, 'the write from the hub')
  await waitFor(() => completed.length >= 2, 5000, 'syncCompleted events')
  assert.equal(completed[0], 'hub')
  assert.equal(await a.stopAutoSync(), true)
  assert.equal(a.isAutoSyncing, false)
  assert.equal(await a.stopAutoSync(), false)
  assert.equal(a.syncNow(), false)
  await a.close()
  await hub.close()
})

test('HttpTransport against the Rust hub on 127.0.0.1: two replicas converge; bad token and no server are typed errors', async (t) => {
  const dir = tempDir(t)
  // The Rust hub refuses a token on its command line (`ps` would show it): a token file instead.
  const tokenFile = path.join(dir, 'token')
  writeFileSync(tokenFile, 'secret\n', { mode: 0o600 })
  const url = await startHub(t, dir, ['--token-file', tokenFile])
  const headers = { authorization: 'Bearer secret' }
  const phone = await SyncManager.open({ nodeId: 'phone', path: path.join(dir, 'phone.db') })
  const laptop = await SyncManager.open({ nodeId: 'laptop', path: path.join(dir, 'laptop.db') })
  phone.createState({ theme: 'dark' }, { id: 'settings' })
  laptop.createState({ size: 14 }, { id: 'font' })
  for (const encoding of ['binary', 'json']) {
    const transport = new HttpTransport(url, { headers, encoding, timeoutMs: 5000 })
    assert.equal(transport.baseUrl, url)
    await phone.sync(transport)
    await laptop.sync(transport)
    await phone.sync(transport)
  }
  assert.deepEqual(
    phone
      .listStates()
      .map((x) => x.id)
      .sort(),
    ['font', 'settings'],
  )
  assert.deepEqual(laptop.getState('settings').data, { theme: 'dark' })
  await throwsCode(
    () => phone.sync(new HttpTransport(url, { headers: { authorization: 'Bearer wrong' } })),
    'UNAUTHORIZED',
  )
  // A port nobody listens on: bind one, take its number, close it.
  const net = await import('node:net')
  const server = net.createServer()
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  await new Promise((r) => server.close(r))
  await throwsCode(() => phone.sync(new HttpTransport(`http://127.0.0.1:${port}`, { timeoutMs: 2000 })), 'TRANSPORT')
  await throwsCode(() => new HttpTransport('not a url'), 'INVALID_INPUT')
  await phone.close()
  await laptop.close()
})

test('HttpTransport space and token: every request goes to /v1/spaces/{space}/ with the bearer token (through a capturing proxy to the hub)', async (t) => {
  const dir = tempDir(t)
  const hubUrl = await startHub(t, dir, [])
  const http = await import('node:http')
  const seen = []
  // Records each request, then forwards it to the hub's Part I routes (its space `default`).
  const proxy = http.createServer((req, res) => {
    seen.push([req.method, req.url, req.headers.authorization ?? null, req.headers['x-app'] ?? null])
    const spaced = /^\/v1\/spaces\/[^/]+\/(capabilities|pull|push)$/.exec(req.url)
    const headers = { ...req.headers }
    delete headers.host
    const out = http.request(
      new URL(spaced ? `/v1/${spaced[1]}` : req.url, hubUrl),
      { method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers)
        answer.pipe(res)
      },
    )
    req.pipe(out)
  })
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
  t.after(() => {
    proxy.closeAllConnections()
    return new Promise((r) => proxy.close(r))
  })
  const url = `http://127.0.0.1:${proxy.address().port}`
  const phone = await SyncManager.open({ nodeId: 'phone' })
  const laptop = await SyncManager.open({ nodeId: 'laptop' })
  phone.createState({ theme: 'dark' }, { id: 'settings' })
  // The token wins over an Authorization header given beside it; other headers travel too.
  const spaced = new HttpTransport(url, {
    space: 'user:42',
    token: 'eyJ.tok.en',
    headers: { authorization: 'Bearer no', 'x-app': '1' },
  })
  assert.equal(spaced.space, 'user:42')
  const report = await phone.sync(spaced)
  assert.equal(report.pushed.created, 1)
  const endpoints = new Set(seen.map(([, u]) => u))
  assert.deepEqual([...endpoints].sort(), [
    '/v1/spaces/user:42/capabilities',
    '/v1/spaces/user:42/pull',
    '/v1/spaces/user:42/push',
  ])
  assert.ok(
    seen.every(([, , auth, app]) => auth === 'Bearer eyJ.tok.en' && app === '1'),
    JSON.stringify(seen),
  )
  seen.length = 0
  await laptop.sync(new HttpTransport(url))
  assert.deepEqual(laptop.getState('settings').data, { theme: 'dark' })
  assert.ok(
    seen.length > 0 && seen.every(([, u, auth]) => /^\/v1\/(capabilities|pull|push)$/.test(u) && auth === null),
    JSON.stringify(seen),
  )
  await phone.close()
  await laptop.close()
})

test('worker threads sharing a store path: one replica at a time, the next sees every write', async (t) => {
  const file = path.join(tempDir(t), 'shared.db')
  const m = await SyncManager.open({ nodeId: 'main', path: file })
  m.createState({ by: 'main' }, { id: 'main' })
  // While it is open here, a worker cannot open a second replica on the file.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { SyncManager } = require(workerData.pkg)
    ;(async () => {
      try {
        const m = await SyncManager.open({ path: workerData.file })
        m.createState({ by: workerData.name }, { id: workerData.name })
        const ids = m.listStates().map((s) => s.id).sort()
        await m.close()
        parentPort.postMessage({ ok: true, ids })
      } catch (e) {
        parentPort.postMessage({ ok: false, code: e.code, message: e.message })
      }
    })()`
  const pkg = new URL('../index.cjs', import.meta.url).pathname
  const runWorker = (name) =>
    new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { pkg, file, name } })
      w.once('message', resolve)
      w.once('error', reject)
    })
  const refused = await runWorker('w0')
  assert.deepEqual([refused.ok, refused.code], [false, 'STORAGE'])
  await m.close()
  const first = await runWorker('w1')
  assert.deepEqual(first, { ok: true, ids: ['main', 'w1'] })
  const second = await runWorker('w2')
  assert.deepEqual(second, { ok: true, ids: ['main', 'w1', 'w2'] })
  // Several workers at once: each either gets the replica or a STORAGE error; none loses a write.
  const results = await Promise.all(['a', 'b', 'c', 'd'].map(runWorker))
  for (const r of results) assert.ok(r.ok || r.code === 'STORAGE', JSON.stringify(r))
  const back = await SyncManager.open({ path: file })
  const written = ['main', 'w1', 'w2', ...results.flatMap((r, i) => (r.ok ? [['a', 'b', 'c', 'd'][i]] : []))]
  assert.deepEqual(
    back
      .listStates()
      .map((x) => x.id)
      .sort(),
    written.sort(),
  )
  await back.close()
})

test(
  'managers are garbage collected, releasing their store',
  { skip: typeof globalThis.gc !== 'function' && 'run with --expose-gc' },
  async (t) => {
    const file = path.join(tempDir(t), 'gc.db')
    const collected = []
    const registry = new FinalizationRegistry((name) => collected.push(name))
    await (async () => {
      for (let i = 0; i < 20; i++) {
        const m = await SyncManager.open({ nodeId: 'gc', path: i === 0 ? file : undefined })
        m.createState({ i }, { id: 'k' })
        m.on('stateCreated', () => {})
        m.off('stateCreated', () => {})
        registry.register(m, `m${i}`)
      }
    })()
    for (let i = 0; i < 50 && collected.length < 20; i++) {
      globalThis.gc()
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(collected.length, 20, `collected ${collected.length} of 20`)
    // The SQLite replica was released without close(): the file opens again with its write.
    let reopened
    await waitFor(
      async () => {
        globalThis.gc()
        try {
          reopened = await SyncManager.open({ path: file })
          return true
        } catch (e) {
          if (e.code !== 'STORAGE') throw e
          return false
        }
      },
      5000,
      'the store to be released',
    )
    assert.deepEqual(reopened.getState('k').data, { i: 0 })
    await reopened.close()
  },
)

test('wire helpers and clocks from JS', () => {
  assert.equal(s.compareClocks({ a: 1 }, { a: 2 }), 'before')
  assert.equal(s.compareClocks({ a: 1 }, { b: 1 }), 'concurrent')
  assert.deepEqual(s.mergeClocks({ a: 1, b: 3 }, { a: 2 }), { a: 2, b: 3 })
  assert.equal(s.dominates({ a: 2 }, { a: 1 }), true)
  assert.throws(
    () => s.compareClocks({ a: -1 }, {}),
    (e) => e.code === 'INVALID_INPUT',
  )
  const clock = { a: 2, b: 5 }
  assert.deepEqual(s.incrementClock(clock, 'b'), { a: 2, b: 6 })
  assert.deepEqual(s.incrementClock(clock, 'c'), { a: 2, b: 5, c: 1 })
  assert.deepEqual(clock, { a: 2, b: 5 }, 'the clock given is left as it was')
  assert.deepEqual(s.incrementClock({ a: 0 }, 'a'), { a: 1 })
  assert.equal(s.compareClocks(s.incrementClock(clock, 'a'), clock), 'after')
  for (const bad of [{ a: 1.5 }, { a: -1 }, { a: 'x' }, null, [1]]) {
    assert.throws(
      () => s.incrementClock(bad, 'a'),
      (e) => e instanceof SyncError && e.code === 'INVALID_INPUT',
      `incrementClock(${JSON.stringify(bad)})`,
    )
  }
  assert.throws(
    () => s.incrementClock({}, 7),
    (e) => e instanceof SyncError && e.code === 'INVALID_INPUT',
  )
  // The native clock class too throws SyncError, not the native module's plain Error.
  assert.throws(
    () => new ManualClock(-1),
    (e) => e instanceof SyncError && e.code === 'INVALID_INPUT',
  )
  assert.throws(
    () => new ManualClock(1).set(0.5),
    (e) => e instanceof SyncError && e.code === 'INVALID_INPUT',
  )
  assert.throws(
    () => s.decodeState(Buffer.from('{"format": 99}')),
    (e) => e instanceof SyncError,
  )
  assert.throws(
    () => s.encode({}),
    (e) => e.code === 'INVALID_INPUT',
  )
  const zipped = s.compress(Buffer.from('x'.repeat(1000)))
  assert.ok(zipped.length < 100)
  assert.equal(Buffer.from(s.decompress(zipped)).toString(), 'x'.repeat(1000))
  assert.throws(
    () => s.decompress(Buffer.from('nope')),
    (e) => e.code === 'CORRUPT',
  )
  const cs = new ChangeSet([], 'abc.0', false)
  assert.deepEqual(s.decodeChangeSet(s.encode(cs, 'binary'), 'binary').toJSON(), cs.toJSON())
})

test('a pull that refuses a state: counted in the result, recorded durably in rejections(), announced as stateRejected', async (t) => {
  const dir = tempDir(t)
  const clock = new ManualClock(5000)
  const a = await SyncManager.open({ nodeId: 'a', clock })
  const b = await SyncManager.open({ nodeId: 'b', clock, path: path.join(dir, 'b.db') })
  a.createState({ v: 1 }, { id: 'shared', collection: 'notes' })
  a.createState({ v: 1 }, { id: 'fine' })
  b.createState({ v: 2 }, { id: 'shared', collection: 'todos' })
  const events = []
  b.on('stateRejected', (e) => events.push(e))
  const all = []
  b.on('event', (e) => all.push(e.name))
  assert.deepEqual(b.rejections(), [])

  // b pulls a's page: `shared` belongs to another collection here and is refused alone.
  const counts = b.applyChanges('a', a.changesSince())
  assert.equal(counts.created, 1, 'the rest of the page applied')
  assert.equal(counts.rejected, 1)
  assert.equal(counts.rejections.length, 1)
  assert.deepEqual(Object.keys(counts.rejections[0]).sort(), ['code', 'current', 'id', 'message'])
  assert.ok(counts.rejections[0].current instanceof SyncState, 'the version kept here')
  assert.ok(counts.rejections[0].current.equals(b.getState('shared')))
  assert.equal(counts.rejections[0].id, 'shared')
  assert.equal(counts.rejections[0].code, 'INVALID_STATE')
  assert.match(counts.rejections[0].message, /collection/)
  assert.deepEqual(b.getState('fine').data, { v: 1 })
  assert.deepEqual(b.getState('shared').data, { v: 2 }, 'the local version stays')

  const [rejection] = b.rejections()
  assert.deepEqual(Object.keys(rejection).sort(), ['code', 'current', 'message', 'own', 'rejectedAt', 'stateId'])
  assert.equal(rejection.own, false, "a peer's version refused here")
  assert.equal(rejection.current, null)
  assert.equal(rejection.stateId, 'shared')
  assert.equal(rejection.code, 'INVALID_STATE')
  assert.match(rejection.message, /peer "a"/)
  assert.equal(rejection.rejectedAt, 5000, 'local wall-clock milliseconds')
  await waitFor(() => events.length === 1, 2000, 'the stateRejected event')
  assert.deepEqual(events[0], {
    name: 'stateRejected',
    stateId: 'shared',
    code: 'INVALID_STATE',
    message: rejection.message,
  })
  assert.ok(all.includes('stateRejected'), 'also delivered to "event" listeners')

  // Through events() too, and in a round: the same refusal again, one record per state.
  const controller = new AbortController()
  const seen = []
  const loop = (async () => {
    for await (const e of b.events({ signal: controller.signal })) {
      if (e.name === 'stateRejected') {
        seen.push(e)
        controller.abort()
      }
    }
  })()
  a.updateState('shared', { v: 3 })
  const report = await b.syncWith(a)
  assert.equal(report.pulled.rejected, 1)
  assert.equal(report.pulled.rejections[0].id, 'shared')
  assert.equal(report.pushed.rejected, 1, 'a refuses b`s version the same way')
  await loop
  assert.equal(seen[0].stateId, 'shared')
  assert.deepEqual(
    b.rejections().map((r) => r.stateId),
    ['shared'],
  )
  assert.deepEqual(
    a.rejections().map((r) => [r.stateId, r.code]),
    [['shared', 'INVALID_STATE']],
  )

  // Durable: the record survives a reopen.
  const before = b.rejections()
  await b.close()
  const again = await SyncManager.open({ path: path.join(dir, 'b.db'), clock })
  assert.deepEqual(again.rejections(), before)
  await again.close()
  await a.close()
})

test('reconcile refuses a state alone: rejected and rejections on the result, the rest applied', async () => {
  const clock = new ManualClock(1000)
  const writer = await SyncManager.open({ nodeId: 'w', clock })
  const reader = await SyncManager.open({ nodeId: 'r', clock, maxStateBytes: 16 })
  const small = writer.createState({ k: 1 }, { id: 'small' })
  const large = writer.createState({ text: 'x'.repeat(64) }, { id: 'large' })
  const result = reader.reconcile([large, small])
  assert.deepEqual(
    { ...result, rejections: result.rejections.map(({ id, code }) => ({ id, code })) },
    {
      created: 1,
      updated: 0,
      unchanged: 0,
      ignored: 0,
      conflicts: 0,
      resolved: 0,
      rejected: 1,
      rejections: [{ id: 'large', code: 'INVALID_STATE' }],
    },
  )
  assert.match(result.rejections[0].message, /bytes/)
  assert.equal(reader.getState('large'), null)
  assert.deepEqual(reader.getState('small').data, { k: 1 })
  assert.deepEqual(reader.rejections(), [], 'reconcile reports; only sync rounds record')
  const none = reader.reconcile([small])
  assert.equal(none.rejected, 0)
  assert.deepEqual(none.rejections, [])
  await writer.close()
  await reader.close()
})

test('maxStateBytes and maxClockSkewMs: accepted, bad values refused as INVALID_INPUT, their effect visible', async () => {
  for (const [option, bad] of [
    ['maxStateBytes', 0],
    ['maxStateBytes', -1],
    ['maxStateBytes', 1.5],
    ['maxStateBytes', '10'],
    ['maxStateBytes', NaN],
    ['maxStateBytes', Infinity],
    ['maxStateBytes', 2 ** 53],
    ['maxClockSkewMs', -1],
    ['maxClockSkewMs', 0.5],
    ['maxClockSkewMs', '60000'],
    ['maxClockSkewMs', true],
  ]) {
    const e = await throwsCode(() => SyncManager.open({ [option]: bad }), 'INVALID_INPUT')
    assert.match(e.message, new RegExp(option))
  }
  // Omitted or null: the core's defaults (1 MiB, one hour).
  await (await SyncManager.open({ maxStateBytes: null, maxClockSkewMs: undefined })).close()

  const small = await SyncManager.open({ nodeId: 's', maxStateBytes: 10, maxClockSkewMs: 0 })
  small.createState({ a: 1 }, { id: 'fits' }) // {"a":1} is 7 bytes
  const e = await throwsCode(() => small.createState({ long: 'more than ten' }, { id: 'big' }), 'INVALID_INPUT')
  assert.match(e.message, /max_state_bytes/)
  await throwsCode(() => small.updateState('fits', { a: 'more than ten' }), 'INVALID_INPUT')
  assert.equal(small.getState('big'), null)
  assert.deepEqual(small.getState('fits').data, { a: 1 })

  // A state stamped more than maxClockSkewMs ahead of the local clock is refused.
  const ahead = await SyncManager.open({ nodeId: 'ahead', clock: new ManualClock(10_000) })
  const behind = await SyncManager.open({ nodeId: 'behind', clock: new ManualClock(1000), maxClockSkewMs: 5000 })
  const tolerant = await SyncManager.open({ nodeId: 'tolerant', clock: new ManualClock(1000), maxClockSkewMs: 9000 })
  const future = ahead.createState({ v: 1 }, { id: 'future' })
  const refused = behind.reconcile([future])
  assert.deepEqual([refused.rejected, refused.rejections[0].code], [1, 'INVALID_STATE'])
  assert.match(refused.rejections[0].message, /ahead/)
  assert.equal(tolerant.reconcile([future]).created, 1)

  // Data integers beyond 2^53 - 1 are refused too, whatever the limits.
  await throwsCode(() => ahead.createState({ n: 2 ** 60 }), 'INVALID_INPUT')
  await throwsCode(() => ahead.createState([Number.MIN_SAFE_INTEGER - 2]), 'INVALID_INPUT')
  ahead.createState([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0.5, 1e300])
  for (const m of [small, ahead, behind, tolerant]) await m.close()
})

test('a JS transport: maxBodyBytes cuts pushed pages; rejections in a push answer become durable rejections', async () => {
  const clock = new ManualClock(1000)
  const a = await SyncManager.open({ nodeId: 'a', clock })
  const hub = await SyncManager.open({ nodeId: 'hub', clock })
  for (let i = 0; i < 6; i++) a.createState({ text: 'y'.repeat(100) }, { id: `k${i}` })
  const pages = []
  const refuse = new Set(['k2'])
  const t = {
    ...loopback(hub),
    capabilities: () => ({
      protocol: s.PROTOCOL_VERSION,
      nodeId: 'hub',
      scopedSync: true,
      binary: true,
      zstd: false,
      maxBatch: null,
      maxBodyBytes: 600,
    }),
    async push(changes) {
      pages.push(changes.states.length)
      const accepted = changes.states.filter((st) => !refuse.has(st.id))
      const counts = hub.reconcile(accepted)
      const rejections = changes.states
        .filter((st) => refuse.has(st.id))
        .map((st) => ({ id: st.id, code: 'INVALID_STATE', message: `the hub does not take ${st.id}` }))
      return { ...counts, rejected: rejections.length, rejections }
    },
  }
  const events = []
  a.on('stateRejected', (e) => events.push(e))
  const report = await a.sync(t)
  assert.ok(pages.length >= 2, `pages cut to maxBodyBytes: ${JSON.stringify(pages)}`)
  assert.equal(
    pages.reduce((x, y) => x + y, 0),
    6,
  )
  assert.equal(report.pushed.created, 5)
  assert.equal(report.pushed.rejected, 1)
  assert.deepEqual(report.pushed.rejections, [
    { id: 'k2', code: 'INVALID_STATE', message: 'the hub does not take k2', current: null },
  ])
  const [rejection] = a.rejections()
  assert.deepEqual([rejection.stateId, rejection.code, rejection.rejectedAt], ['k2', 'INVALID_STATE', 1000])
  assert.match(rejection.message, /peer "hub" refused this version: the hub does not take k2/)
  await waitFor(() => events.length === 1, 2000, 'the stateRejected event')
  assert.equal(events[0].stateId, 'k2')
  assert.equal(a.pendingOperations().length, 0, 'the refused version is not retried by itself')

  // A later version that goes through clears the record.
  refuse.clear()
  a.updateState('k2', { text: 'accepted now' })
  await a.sync(t)
  assert.deepEqual(a.rejections(), [])
  assert.deepEqual(hub.getState('k2').data, { text: 'accepted now' })

  // Without rejected, the listed rejections count; malformed ones are TRANSPORT errors.
  a.updateState('k3', { text: 'again' })
  const listed = {
    ...t,
    push: async (changes) => ({
      ...hub.reconcile([]),
      rejections: changes.states.map((st) => ({ id: st.id, code: 'INVALID_STATE', message: 'no' })),
    }),
  }
  assert.equal((await a.sync(listed)).pushed.rejected, 1)
  for (const rejections of [{ id: 'k3' }, [{ id: 'k3', code: 'INVALID_STATE' }], [{ id: 3, code: 'X', message: '' }]]) {
    a.updateState('k4', { text: String(Math.random()) })
    const malformed = { ...t, push: async () => ({ ...hub.reconcile([]), rejections }) }
    const e = await throwsCode(() => a.sync(malformed), 'TRANSPORT')
    assert.match(e.message, /rejections/)
  }
  const badBody = { ...t, capabilities: () => ({ nodeId: 'hub', maxBodyBytes: -1 }) }
  await throwsCode(() => a.sync(badBody), 'TRANSPORT')
  await a.close()
  await hub.close()
})

test('a resolver result holding an integer beyond 2^53 - 1 is a RESOLVER error', async () => {
  const a = await SyncManager.open({ nodeId: 'a', strategy: () => ({ n: 2 ** 60 }) })
  const b = await SyncManager.open({ nodeId: 'b' })
  const base = a.createState({ n: 0 }, { id: 'k' })
  b.applyRemoteState(base)
  a.updateState('k', { n: 1 })
  const theirs = b.updateState('k', { n: 2 })
  const e = await throwsCode(() => a.applyRemoteState(theirs), 'RESOLVER')
  assert.match(e.message, /2\^53/)
  await a.close()
  await b.close()
})

/** A JWT signed with HS256, made with node:crypto (test code only). */
function hs256Jwt(secret, claims) {
  const b64 = (text) => Buffer.from(text).toString('base64url')
  const signingInput = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
}

test('HttpTransport with JWTs through the hub: each user syncs their own user:<sub> space, sees only its states, and another space is 403', async (t) => {
  const dir = tempDir(t)
  const secret = 'a test secret of more than thirty-two bytes'
  const secretFile = path.join(dir, 'jwt-secret')
  writeFileSync(secretFile, secret, { mode: 0o600 })
  // With an issuer and an audience: the hub binary of this commit requires both claims of every
  // token even when neither flag is given (it passes the empty lists to its verifier).
  const issuer = ['--jwt-issuer', 'https://auth.test', '--jwt-audience', 'statesync-test']
  const url = await startHub(t, dir, ['--jwt-hs256-secret-file', secretFile, ...issuer])
  const claims = { exp: Math.floor(Date.now() / 1000) + 600, iss: 'https://auth.test', aud: 'statesync-test' }
  const alice = hs256Jwt(secret, { sub: 'alice', ...claims })
  const bob = hs256Jwt(secret, { sub: 'bob', ...claims })
  const transport = (space, token) => new HttpTransport(url, { space, token, timeoutMs: 10_000 })
  const alicePhone = await SyncManager.open({ nodeId: 'alice-phone' })
  const aliceLaptop = await SyncManager.open({ nodeId: 'alice-laptop' })
  const bobPhone = await SyncManager.open({ nodeId: 'bob-phone' })
  alicePhone.createState({ theme: 'dark' }, { id: 'settings', collection: 'prefs' })
  bobPhone.createState({ theme: 'light' }, { id: 'settings', collection: 'prefs' })
  bobPhone.createState({ n: 1 }, { id: 'bob-only' })
  assert.equal((await alicePhone.sync(transport('user:alice', alice))).pushed.created, 1)
  assert.equal((await bobPhone.sync(transport('user:bob', bob))).pushed.created, 2)
  // Each user sees their own states only.
  assert.equal((await aliceLaptop.sync(transport('user:alice', alice))).pulled.created, 1)
  assert.deepEqual(
    aliceLaptop.listStates().map((x) => [x.id, x.data]),
    [['settings', { theme: 'dark' }]],
  )
  const again = await bobPhone.sync(transport('user:bob', bob))
  assert.deepEqual([again.pulled.created, again.pulled.updated], [0, 0])
  assert.deepEqual(bobPhone.getState('settings').data, { theme: 'light' })
  // The other's space is 403 FORBIDDEN at the hub: the credentials are good, the space is not theirs.
  const refused = await throwsCode(() => alicePhone.sync(transport('user:bob', alice)), 'FORBIDDEN')
  assert.match(refused.message, /403/)
  const raw = await fetch(`${url}/v1/spaces/user:bob/capabilities`, { headers: { authorization: `Bearer ${alice}` } })
  assert.equal(raw.status, 403)
  assert.equal((await raw.json()).error.code, 'FORBIDDEN')
  // No token, or one signed with another secret: 401.
  await throwsCode(() => bobPhone.sync(new HttpTransport(url, { space: 'user:bob' })), 'UNAUTHORIZED')
  const forged = hs256Jwt('another secret of thirty-two bytes!!', { sub: 'bob', ...claims })
  const e = await throwsCode(() => bobPhone.sync(transport('user:bob', forged)), 'UNAUTHORIZED')
  assert.match(e.message, /401/)
  assert.deepEqual(
    alicePhone.listStates().map((x) => x.id),
    ['settings'],
  )
  for (const m of [alicePhone, aliceLaptop, bobPhone]) await m.close()
})
