// The Node examples, run for real: hub.mjs (Fastify) on 127.0.0.1, and the settings clients of
// both languages — settings_client.mjs and examples/python/settings_client.py — as a user runs
// them. Every hub (this one, the Rust `statesync-hub` and the FastAPI examples/python/hub.py) is
// checked against the same expectations, so the Node hub answers as the Rust one does and the
// Node client works with all three.
//
//   cd examples/node && npm ci && node --test test/
//
// Needs the Python venv (scripts/test-python.sh builds target/python-venv) and the Rust hub
// (cargo build -p statesync-hub); a clear error says which is missing.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { request as httpRequest } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ChangeSet, SyncManager, compress, decodeChangeSet, decompress, encode } from 'statesync'

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ROOT = path.resolve(HERE, '../..')
const TIMEOUT = 30_000 // ms: a bound on every wait, never a timing assertion

const PYTHON = path.join(ROOT, 'target/python-venv/bin/python')
const PYTHON_CLIENT = path.join(ROOT, 'examples/python/settings_client.py')
const RUST_HUB = path.join(path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug/statesync-hub')

/** What the tests need besides this folder; a missing one fails every test, saying how to get it. */
function checkPrerequisites() {
  const missing = []
  if (!fs.existsSync(path.join(HERE, 'node_modules/fastify'))) {
    missing.push('fastify: run `npm ci` in examples/node')
  }
  if (!fs.existsSync(PYTHON)) {
    missing.push(`${PYTHON}: run scripts/test-python.sh (it builds the venv with the statesync package)`)
  }
  if (!fs.existsSync(RUST_HUB)) missing.push(`${RUST_HUB}: run \`cargo build -p statesync-hub\``)
  if (missing.length > 0) throw new Error(`missing prerequisites:\n  ${missing.join('\n  ')}`)
}

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statesync-node-examples-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Spawns a long-running child whose output is collected; it is killed when the test ends. */
function startChild(t, command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (text) => (output += text))
  child.stderr.setEncoding('utf8').on('data', (text) => (output += text))
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const running = () => child.exitCode === null && child.signalCode === null
  const stop = async (signal = 'SIGTERM') => {
    if (running()) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }
  t.after(() => stop())
  /** Resolves with the first match of `pattern` in the output; fails if the child exits first. */
  const waitFor = async (pattern) => {
    for (let i = 0; i < TIMEOUT / 20; i++) {
      const match = pattern.exec(output)
      if (match) return match
      if (!running())
        throw new Error(`${path.basename(command)} exited (${child.exitCode ?? child.signalCode}):\n${output}`)
      await sleep(20)
    }
    throw new Error(`${path.basename(command)} never printed ${pattern}:\n${output}`)
  }
  return { child, output: () => output, exited, stop, waitFor }
}

/** Runs a command to its end (killed after TIMEOUT): its exit code and output. */
function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text))
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** The two settings clients, as a user runs them: `node(db, 'set', 'k', 'v')`. */
const clients = {
  node: (db, ...args) => run(process.execPath, [path.join(HERE, 'settings_client.mjs'), '--db', db, ...args]),
  python: (db, ...args) => run(PYTHON, [PYTHON_CLIENT, '--db', db, ...args]),
}

/** Runs a client command that must succeed; its stdout. */
async function ok(client, db, ...args) {
  const done = await clients[client](db, ...args)
  assert.equal(done.code, 0, `${client} client ${args.join(' ')} failed:\n${done.stdout}${done.stderr}`)
  return done.stdout
}

/** How each hub is started on 127.0.0.1, port 0 (each prints the address it got). */
const HUBS = {
  node: (db, token) => [
    process.execPath,
    [path.join(HERE, 'hub.mjs'), '--db', db, '--listen', '127.0.0.1:0', ...(token ? ['--token', token] : [])],
  ],
  // The Rust hub takes its token from the environment, never from its command line.
  rust: (db, token) => [
    RUST_HUB,
    ['--db', db, '--listen', '127.0.0.1:0'],
    { env: { ...process.env, ...(token ? { STATESYNC_HUB_TOKEN: token } : {}) } },
  ],
  // uvicorn's port 0 works too; hub.py reads its settings from the environment.
  python: (db, token) => [
    PYTHON,
    ['-m', 'uvicorn', 'hub:app', '--host', '127.0.0.1', '--port', '0'],
    {
      cwd: path.join(ROOT, 'examples/python'),
      env: { ...process.env, STATESYNC_HUB_DB: db, ...(token ? { STATESYNC_HUB_TOKEN: token } : {}) },
    },
  ],
}

/** Starts a hub of that kind on a database in `dir`; stopped when the test ends. */
async function startHub(t, kind, dir, { token, db = path.join(dir, `${kind}-hub.db`) } = {}) {
  const [command, args, options] = HUBS[kind](db, token)
  const hub = startChild(t, command, args, options)
  const [, url] = await hub.waitFor(/(?:running|listening) on (http:\/\/127\.0\.0\.1:\d+)/)
  return { ...hub, url, db }
}

/**
 * One HTTP request: the status, headers and body bytes, errors included. node:http rather than
 * fetch, which would decompress zstd answers itself where Node's zlib has zstd.
 */
function http(url, { body, headers = {}, method = body === undefined ? 'GET' : 'POST' } = {}) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers, timeout: TIMEOUT }, (answer) => {
      const chunks = []
      answer.on('data', (chunk) => chunks.push(chunk))
      answer.on('error', reject)
      answer.on('end', () =>
        resolve({ status: answer.statusCode, headers: answer.headers, body: Buffer.concat(chunks) }),
      )
    })
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} in ${TIMEOUT} ms`)))
    request.on('error', reject)
    request.end(body)
  })
}

/** The status and error code of a typed error answer. */
async function error(url, options) {
  const { status, body } = await http(url, options)
  return [status, JSON.parse(body.toString()).error.code]
}

/** The settings a client shows, without the line naming its node. */
async function settings(client, db) {
  const lines = (await ok(client, db, 'show')).trimEnd().split('\n')
  assert.match(lines.at(-1), /^\(0 changes not synced yet, node /, `${client} has unsynced changes`)
  return lines.slice(0, -1)
}

before(checkPrerequisites)

for (const kind of Object.keys(HUBS)) {
  describe(`the ${kind} hub`, () => {
    it('advertises what it supports', async (t) => {
      const hub = await startHub(t, kind, tempDir(t))
      const { status, body } = await http(`${hub.url}/v1/capabilities`)
      assert.equal(status, 200)
      const capabilities = JSON.parse(body.toString())
      assert.deepEqual(capabilities, {
        protocol: 1,
        // The examples' hubs are "hub"; the Rust hub's store names itself "hub-<random hex>".
        node_id: kind === 'rust' ? capabilities.node_id : 'hub',
        scoped_sync: true,
        binary: true,
        zstd: true,
        max_batch: 1000,
        max_body_bytes: capabilities.max_body_bytes, // each hub's own limit, at least 1 MiB
      })
      assert.ok(Number.isInteger(capabilities.max_body_bytes) && capabilities.max_body_bytes >= 1 << 20)
      assert.match(capabilities.node_id, /^hub(-[0-9a-f]{16})?$/)
    })

    it('makes a Node client and a Python client converge', async (t) => {
      const dir = tempDir(t)
      const hub = await startHub(t, kind, dir)
      const [laptop, phone] = [path.join(dir, 'laptop.db'), path.join(dir, 'phone.db')]

      // Offline edits: different keys on each, and the same key on both (the phone's edit is the
      // later one, so last-write-wins picks it).
      await ok('node', laptop, 'set', 'theme', 'dark')
      await ok('node', laptop, 'set', 'font-size', '14')
      await ok('node', laptop, 'set', 'volume', '3')
      await ok('python', phone, 'set', 'lang', 'fr')
      await ok('python', phone, 'set', 'volume', '7')

      assert.match(await ok('node', laptop, 'sync', '--hub', hub.url), /pushed 3 created/)
      // The phone pulls the laptop's 3 settings, one of them concurrent with its own edit.
      assert.match(await ok('python', phone, 'sync', '--hub', hub.url), /pulled 2 created, 1 conflicts, 1 resolved/)
      assert.match(await ok('node', laptop, 'sync', '--hub', hub.url), /pulled .*created/)
      await ok('python', phone, 'sync', '--hub', hub.url)
      const expected = ['font-size = 14', 'lang = "fr"', 'theme = "dark"', 'volume = 7']
      assert.deepEqual(await settings('node', laptop), expected)
      assert.deepEqual(await settings('python', phone), expected)

      // A deletion on one side reaches the other.
      await ok('python', phone, 'unset', 'font-size')
      await ok('python', phone, 'sync', '--hub', hub.url)
      await ok('node', laptop, 'sync', '--hub', hub.url)
      assert.deepEqual(await settings('node', laptop), expected.slice(1))
      assert.deepEqual(await settings('python', phone), expected.slice(1))
    })

    it('answers malformed requests with typed errors', async (t) => {
      const { url } = await startHub(t, kind, tempDir(t))
      const json = { 'Content-Type': 'application/json' }
      const pull = (body, headers = json) => error(`${url}/v1/pull`, { body, headers })
      const push = (body, headers = json) => error(`${url}/v1/push`, { body, headers })
      // As examples/python/test_examples.py checks them.
      assert.deepEqual(await pull('{"format":2}'), [415, 'UNSUPPORTED_FORMAT'])
      assert.deepEqual(await pull('{"cursor":null}'), [400, 'CORRUPT'])
      assert.deepEqual(await pull('{not json'), [400, 'CORRUPT'])
      assert.deepEqual(await pull('{"format":1,"limit":0}'), [400, 'INVALID_INPUT'])
      assert.deepEqual(await pull('{"format":1,"cursor":"nope"}'), [400, 'INVALID_INPUT'])
      assert.deepEqual(await push('garbage'), [400, 'CORRUPT'])
      assert.deepEqual(await push('{}', { 'Content-Type': 'text/plain' }), [415, 'UNSUPPORTED_FORMAT'])
      assert.deepEqual(await push('{}', { ...json, 'Content-Encoding': 'br' }), [415, 'UNSUPPORTED_FORMAT'])
      assert.deepEqual(await error(`${url}/v1/nope`), [404, 'NOT_FOUND'])
      assert.deepEqual(await error(`${url}/v1/pull`), [405, 'INVALID_INPUT'])
      // And a few more: another wire format, bytes that are not zstd.
      assert.deepEqual(await push('{"format":9,"states":[],"cursor":"","has_more":false}'), [415, 'UNSUPPORTED_FORMAT'])
      assert.deepEqual(await push('{}', { ...json, 'Content-Encoding': 'zstd' }), [400, 'CORRUPT'])
      // A state that fails validation is refused alone (listed beside the counts); the rest applies.
      const writer = await SyncManager.open({ nodeId: 'writer' })
      const good = writer.createState({ ok: true }, { id: 'good' }).toJSON()
      await writer.close()
      const bad = {
        id: 'k',
        collection: 'c',
        data: 1,
        clock: {},
        timestamp: { millis: 1, counter: 0, node: 'n' },
        version: 1,
        hash: '0',
      }
      const page = JSON.stringify({ format: 1, states: [bad, good], cursor: '', has_more: false })
      const answer = await http(`${url}/v1/push`, { body: page, headers: json })
      assert.equal(answer.status, 200, answer.body.toString())
      const { result, rejected } = JSON.parse(answer.body.toString())
      assert.deepEqual([result.created, result.rejected], [1, 1])
      assert.deepEqual(
        rejected.map(({ id, code }) => ({ id, code })),
        [{ id: 'k', code: 'INVALID_STATE' }],
      )
    })

    it('needs the bearer token when it has one', async (t) => {
      const dir = tempDir(t)
      const { url } = await startHub(t, kind, dir, { token: 's3cret' })
      assert.deepEqual(await error(`${url}/v1/capabilities`), [401, 'UNAUTHORIZED'])
      assert.deepEqual(await error(`${url}/v1/capabilities`, { headers: { Authorization: 'Bearer wrong' } }), [
        401,
        'UNAUTHORIZED',
      ])
      const pull = { body: '{"format":1}', headers: { 'Content-Type': 'application/json' } }
      assert.deepEqual(await error(`${url}/v1/pull`, pull), [401, 'UNAUTHORIZED'])
      pull.headers.Authorization = 'Bearer s3cret'
      assert.equal((await http(`${url}/v1/pull`, pull)).status, 200)

      // The Node client turns the answer back into a SyncError.
      const db = path.join(dir, 'client.db')
      await ok('node', db, 'set', 'theme', 'dark')
      const refused = await clients.node(db, 'sync', '--hub', url)
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /^error: UNAUTHORIZED: /)
      assert.match(await ok('node', db, 'sync', '--hub', url, '--token', 's3cret'), /pushed 1 created/)
    })

    it('speaks JSON and binary, compressed or not', async (t) => {
      const { url } = await startHub(t, kind, tempDir(t))
      const writer = await SyncManager.open({ nodeId: 'writer' })
      t.after(() => writer.close())
      for (let n = 0; n < 30; n++)
        writer.createState({ n, text: 'lorem ipsum '.repeat(10) }, { id: `note-${n}`, collection: 'notes' })
      const page = writer.changesSince()

      // A zstd-compressed binary push, then a JSON push of the same page: applied once.
      const binary = { 'Content-Type': 'application/vnd.statesync+binary', 'Content-Encoding': 'zstd' }
      let answer = await http(`${url}/v1/push`, { body: compress(encode(page, 'binary')), headers: binary })
      assert.equal(answer.status, 200)
      assert.equal(JSON.parse(answer.body.toString()).result.created, 30)
      answer = await http(`${url}/v1/push`, {
        body: encode(page, 'json'),
        headers: { 'Content-Type': 'application/json' },
      })
      assert.equal(JSON.parse(answer.body.toString()).result.unchanged, 30)

      // A compressed pull request, and a binary pull answer, compressed as asked since it is large.
      const request = JSON.stringify({ format: 1, cursor: null, collections: ['notes'], limit: 100 })
      answer = await http(`${url}/v1/pull`, {
        body: compress(new TextEncoder().encode(request)),
        headers: {
          'Content-Type': 'application/json',
          'Content-Encoding': 'zstd',
          Accept: 'application/vnd.statesync+binary',
          'Accept-Encoding': 'zstd',
        },
      })
      assert.equal(answer.status, 200)
      assert.equal(answer.headers['content-type'], 'application/vnd.statesync+binary')
      assert.equal(answer.headers['content-encoding'], 'zstd')
      assert.equal(decodeChangeSet(decompress(answer.body), 'binary').states.length, 30)

      // JSON pages of 7, read to the end of the feed.
      let states = []
      let cursor = null
      for (let i = 0; i < 100; i++) {
        const body = JSON.stringify({ format: 1, cursor, limit: 7 })
        answer = await http(`${url}/v1/pull`, { body, headers: { 'Content-Type': 'application/json' } })
        assert.equal(answer.headers['content-type'], 'application/json')
        const next = decodeChangeSet(answer.body, 'json')
        assert.ok(next instanceof ChangeSet && next.states.length <= 7)
        states = states.concat(next.states)
        cursor = next.cursor
        if (!next.hasMore) break
      }
      assert.deepEqual(states.map((s) => s.id).sort(), page.states.map((s) => s.id).sort())
    })
  })
}

describe('the Node examples', () => {
  let dir
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statesync-node-examples-'))
  })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('the Node client watches a hub and stops on ctrl-c', async (t) => {
    const hub = await startHub(t, 'node', tempDir(t))
    const watcher = startChild(t, process.execPath, [
      path.join(HERE, 'settings_client.mjs'),
      '--db',
      path.join(dir, 'watcher.db'),
      'sync',
      '--hub',
      hub.url,
      '--watch',
      '0.2',
    ])
    await watcher.waitFor(/watching every 0.2 s/)
    const phone = path.join(dir, 'phone.db')
    await ok('python', phone, 'set', 'theme', 'light')
    await ok('python', phone, 'sync', '--hub', hub.url)
    await watcher.waitFor(/theme = "light" \(from [\w-]+\)/)
    assert.deepEqual(await watcher.stop('SIGINT'), { code: 0, signal: null })
    assert.match(watcher.output(), /\nstopped\n$/)
  })

  it('the hub stops cleanly on SIGTERM and keeps its data', async (t) => {
    const hubDir = tempDir(t)
    const first = await startHub(t, 'node', hubDir)
    const laptop = path.join(dir, 'laptop.db')
    await ok('node', laptop, 'set', 'theme', 'dark')
    await ok('node', laptop, 'sync', '--hub', first.url)
    assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null })
    assert.match(first.output(), /\nhub stopped\n$/)

    // Restarted on the same database: the same node id (the clients' cursors are stored under
    // it) and the same data.
    const second = await startHub(t, 'node', hubDir, { db: first.db })
    const { body } = await http(`${second.url}/v1/capabilities`)
    assert.equal(JSON.parse(body.toString()).node_id, 'hub')
    const tablet = path.join(dir, 'tablet.db')
    assert.match(await ok('python', tablet, 'sync', '--hub', second.url), /pulled 1 created/)
    assert.deepEqual(await settings('python', tablet), ['theme = "dark"'])
  })

  it('the Node client reports an unreachable hub', async (t) => {
    const hub = await startHub(t, 'node', tempDir(t))
    await hub.stop()
    const down = await clients.node(path.join(dir, 'offline.db'), 'sync', '--hub', hub.url)
    assert.equal(down.code, 1)
    assert.match(down.stderr, /^error: TRANSPORT: /)
  })
})
