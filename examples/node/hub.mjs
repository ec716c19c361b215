#!/usr/bin/env node
// A sync hub in Fastify: the HTTP sync protocol (docs/protocol.md) over one statesync replica.
//
//   npm install
//   node hub.mjs --db hub.db [--listen 127.0.0.1:7878] [--node-id hub] [--token SECRET]
//
// It answers like `statesync-hub` (the Rust hub) and examples/python/hub.py: the same endpoints,
// encodings, status codes and error codes, so any statesync client syncs with it. The token
// defaults to $STATESYNC_HUB_TOKEN; with one, every request needs `Authorization: Bearer TOKEN`.

import { createHash, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import {
  PROTOCOL_VERSION,
  SyncError,
  SyncManager,
  SyncState,
  compress,
  decodeChangeSet,
  decompress,
  encode,
} from 'statesync'

const MAX_BATCH = 1000 // largest page served, and the most states a push may carry
const MAX_BODY = 64 << 20 // bytes, as statesync's MAX_MESSAGE_BYTES (advertised as max_body_bytes)
const COMPRESS_FROM = 1024 // pull answers are zstd-compressed from this size, when the client accepts it
const TYPES = { 'application/json': 'json', 'application/vnd.statesync+binary': 'binary' }
const CONTENT_TYPE = { json: 'application/json', binary: 'application/vnd.statesync+binary' }
// HTTP status by SyncError code; any other code is a failure of the hub: 500.
const STATUS = {
  INVALID_INPUT: 400,
  INVALID_STATE: 400,
  CORRUPT: 400,
  ALREADY_EXISTS: 400,
  NOT_FOUND: 404,
  UNSUPPORTED_FORMAT: 415,
  CLOSED: 503,
}
const ENDPOINTS = { '/v1/capabilities': 'GET', '/v1/pull': 'POST', '/v1/push': 'POST' }

/** A protocol error with its own HTTP status (the SyncErrors of the replica get theirs from STATUS). */
class HubError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** The items of an Accept or Accept-Encoding header, in order, less those refused with q=0. */
function accepted(header) {
  return (header ?? '')
    .split(',')
    .map((item) => item.split(';').map((part) => part.trim()))
    .filter(([, ...params]) => !params.some((p) => /^q=0(\.0*)?$/.test(p.replace(/\s/g, ''))))
    .map(([value]) => value.toLowerCase())
}

/** The request body, zstd-decompressed if the client says so. */
function decoded(request) {
  const body = request.body ?? Buffer.alloc(0) // a POST without a body: no parser ran
  const coding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
  if (coding === 'zstd') return decompress(body) // refuses to expand past MAX_MESSAGE_BYTES (CORRUPT)
  if (coding !== '' && coding !== 'identity') {
    throw new HubError(415, 'UNSUPPORTED_FORMAT', `unsupported Content-Encoding "${coding}"`)
  }
  return body
}

/**
 * The states of a pushed page, and those refused while reading it. A state is refused alone, never
 * its page (docs/protocol.md): `reconcile` refuses one that cannot apply here, but
 * `decodeChangeSet` refuses a page holding an invalid state as a whole, so a JSON page refused so
 * is read again state by state. (A binary page cannot be split: it stays refused, 400.)
 */
function pushedPage(body, encoding) {
  try {
    return { states: decodeChangeSet(body, encoding).states, refused: [] }
  } catch (error) {
    if (!(error instanceof SyncError && error.code === 'INVALID_STATE' && encoding === 'json')) throw error
  }
  const { states, ...envelope } = JSON.parse(new TextDecoder().decode(body))
  if (!Array.isArray(states)) throw new HubError(400, 'CORRUPT', 'malformed change set: states is not an array')
  decodeChangeSet(Buffer.from(JSON.stringify({ ...envelope, states: [] })), 'json') // the rest, as it checks it
  const page = { states: [], refused: [] }
  for (const state of states) {
    try {
      page.states.push(SyncState.fromJSON(state))
    } catch (error) {
      if (!(error instanceof SyncError) || typeof state?.id !== 'string') throw error
      page.refused.push({ id: state.id, code: error.code, message: error.message })
    }
  }
  return page
}

/** A Buffer view of the package's Uint8Array, without a copy (what Fastify sends as bytes). */
const asBuffer = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The bearer-token check, in constant time (hashing first makes the lengths equal). */
function bearerToken(token) {
  const digest = (text) => createHash('sha256').update(text).digest()
  const expected = digest(`Bearer ${token}`)
  return (header) => header !== undefined && timingSafeEqual(digest(header), expected)
}

/** The Fastify app serving `manager`; `isClosing()` turns requests away while shutting down. */
export function buildHub(manager, { token, isClosing = () => false } = {}) {
  // Errors are answered by the handlers below; Fastify's own 503-on-close would not be typed.
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY, return503OnClosing: false })
  const authorized = token ? bearerToken(token) : () => true

  // Bodies are bytes in one of two encodings, maybe compressed: take every body raw, whatever its
  // Content-Type, and let the endpoints decide (an unknown type is then our typed 415).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  // Before routing and body parsing: nothing is read or done for a refused request.
  app.addHook('onRequest', async (request) => {
    if (isClosing()) throw new HubError(503, 'CLOSED', 'the hub is shutting down')
    if (!authorized(request.headers.authorization)) {
      throw new HubError(401, 'UNAUTHORIZED', 'a valid bearer token is required')
    }
  })

  app.setErrorHandler((error, _request, reply) => {
    let status, code
    if (error instanceof HubError) [status, code] = [error.status, error.code]
    else if (error instanceof SyncError) [status, code] = [STATUS[error.code] ?? 500, error.code]
    else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') [status, code] = [413, 'INVALID_INPUT']
    else if (error.statusCode >= 400 && error.statusCode < 500) [status, code] = [error.statusCode, 'INVALID_INPUT']
    else [status, code] = [500, 'INTERNAL']
    if (status === 503) reply.header('retry-after', '1')
    reply.code(status).send({ error: { code, message: error.message } })
  })

  // Fastify answers 404 for a known path with the wrong method too; the protocol says 405.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]
    const method = ENDPOINTS[path]
    if (method) reply.header('allow', method)
    const [status, code, what] = method
      ? [405, 'INVALID_INPUT', 'method not allowed']
      : [404, 'NOT_FOUND', 'no such endpoint']
    reply.code(status).send({ error: { code, message: `${what}: ${request.method} ${path}` } })
  })

  app.get('/v1/capabilities', async () => ({
    protocol: PROTOCOL_VERSION,
    node_id: manager.nodeId,
    scoped_sync: true,
    binary: true,
    zstd: true,
    max_batch: MAX_BATCH,
    max_body_bytes: MAX_BODY,
  }))

  // The manager's calls are synchronous (SQLite on this thread): fine for a hub of this size, and
  // it makes every request atomic with respect to the others.
  app.post('/v1/pull', async (request, reply) => {
    let body
    try {
      body = JSON.parse(new TextDecoder().decode(decoded(request))) // decompress() gives a Uint8Array
    } catch (error) {
      if (error instanceof HubError || error instanceof SyncError) throw error
      throw new HubError(400, 'CORRUPT', `the pull request is not valid JSON: ${error.message}`)
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !('format' in body)) {
      throw new HubError(400, 'CORRUPT', 'the pull request has no format field')
    }
    if (body.format !== PROTOCOL_VERSION) {
      throw new HubError(
        415,
        'UNSUPPORTED_FORMAT',
        `pull request format ${JSON.stringify(body.format)}; this hub speaks ${PROTOCOL_VERSION}`,
      )
    }
    const { cursor = null, limit = null } = body
    const collections = body.collections ?? [] // empty or absent: all
    const names = Array.isArray(collections) && collections.every((c) => typeof c === 'string')
    if (!(cursor === null || typeof cursor === 'string') || !names) {
      throw new HubError(400, 'INVALID_INPUT', 'malformed pull request: cursor must be a string, collections strings')
    }
    if (!(limit === null || (Number.isInteger(limit) && limit >= 1))) {
      throw new HubError(400, 'INVALID_INPUT', 'limit must be at least 1')
    }
    // A cursor this replica never handed out is INVALID_INPUT (400), from the core.
    const page = manager.changesSince({ cursor, collections, limit: Math.min(limit ?? MAX_BATCH, MAX_BATCH) })

    const encoding =
      accepted(request.headers.accept)
        .map((t) => TYPES[t])
        .find(Boolean) ?? 'json'
    let answer = encode(page, encoding)
    reply.header('vary', 'accept, accept-encoding').type(CONTENT_TYPE[encoding])
    if (accepted(request.headers['accept-encoding']).includes('zstd') && answer.byteLength >= COMPRESS_FROM) {
      answer = compress(answer)
      reply.header('content-encoding', 'zstd')
    }
    return asBuffer(answer)
  })

  app.post('/v1/push', async (request) => {
    const contentType = request.headers['content-type'] ?? 'application/json'
    const encoding = TYPES[contentType.split(';')[0].trim().toLowerCase()]
    if (!encoding) throw new HubError(415, 'UNSUPPORTED_FORMAT', `unsupported Content-Type "${contentType}"`)
    // Garbled bytes are CORRUPT, another format UNSUPPORTED_FORMAT: nothing is applied. A state
    // that is invalid, or cannot apply here, is refused alone and listed beside the counts.
    const page = pushedPage(decoded(request), encoding)
    if (page.states.length + page.refused.length > MAX_BATCH) {
      throw new HubError(413, 'INVALID_INPUT', `a push carries at most ${MAX_BATCH} states: send smaller pages`)
    }
    const { rejections, ...result } = manager.reconcile(page.states)
    const rejected = [...page.refused, ...rejections]
    return { format: PROTOCOL_VERSION, result: { ...result, rejected: rejected.length }, rejected }
  })

  return app
}

const USAGE = `usage: node hub.mjs --db PATH [--listen ADDR] [--node-id ID] [--token TOKEN]

  --db PATH        SQLite database of the hub's replica (created if missing)
  --listen ADDR    address to listen on (default 127.0.0.1:7878; port 0 picks a free one)
  --node-id ID     the hub's node id (default: the stored one, or "hub" for a new database)
  --token TOKEN    require \`Authorization: Bearer TOKEN\` (default: $STATESYNC_HUB_TOKEN, if set)`

async function main() {
  let args
  try {
    ;({ values: args } = parseArgs({
      options: {
        db: { type: 'string' },
        listen: { type: 'string', default: '127.0.0.1:7878' },
        'node-id': { type: 'string' },
        token: { type: 'string', default: process.env.STATESYNC_HUB_TOKEN },
        help: { type: 'boolean', short: 'h' },
      },
    }))
    if (args.help) throw new Error('')
    if (!args.db) throw new Error('--db is required')
  } catch (error) {
    if (error.message) console.error(`hub: ${error.message}`)
    console.error(USAGE)
    return 2
  }
  const listen = /^\[?([^\]]*)\]?:(\d+)$/.exec(args.listen)
  if (!listen) {
    console.error(`hub: --listen takes HOST:PORT, not ${JSON.stringify(args.listen)}`)
    return 2
  }

  // A new database gets a readable node id; an existing one keeps its own (as statesync-hub does).
  const nodeId = args['node-id'] ?? (fs.existsSync(args.db) ? undefined : 'hub')
  let manager
  try {
    manager = await SyncManager.open({ path: args.db, nodeId })
  } catch (error) {
    console.error(`hub: cannot open ${args.db}: ${error.message}`)
    return 1
  }
  let closing = false
  const app = buildHub(manager, { token: args.token || undefined, isClosing: () => closing })

  // Ctrl-c or SIGTERM: stop taking requests, let those in flight finish, then close the replica.
  // The listeners are `once`: a second ctrl-c gets the default behaviour, and kills.
  const stopped = new Promise((resolve, reject) => {
    const stop = () => {
      if (closing) return
      closing = true
      app
        .close()
        .finally(() => manager.close())
        .then(resolve, reject)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

  try {
    await app.listen({ host: listen[1], port: Number(listen[2]) })
  } catch (error) {
    await manager.close()
    console.error(`hub: cannot listen on ${args.listen}: ${error.message}`)
    return 1
  }
  const { address, port, family } = app.server.address() // the real port when asked for 0
  const host = family === 'IPv6' ? `[${address}]` : address
  console.log(
    `hub listening on http://${host}:${port} (node ${manager.nodeId}, db ${args.db}, auth ${args.token ? 'bearer token' : 'none'})`,
  )
  await stopped
  console.log('hub stopped')
  return 0
}

// Run as a program, not when imported for `buildHub`.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main()
}
