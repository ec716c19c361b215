'use strict'
// Transports: the built-in HTTP client, and the adapter that lets a JS object with
// `capabilities`/`pull`/`push` drive the core's rounds (which run off the JS thread and await it).

const native = require('../native.cjs')
const { callNative, describeForNative, invalidInput } = require('./errors.cjs')
const { ChangeSet, stateHandles, changeSetOf } = require('./shared/values.js')

/** Where a transport of the core's (HTTP, bucket) keeps its native transport. */
const kNative = Symbol('statesync.nativeTransport')

/**
 * The built-in client of the HTTP sync protocol (docs/protocol.md). `space` names the hub space
 * synced with (`/v1/spaces/{space}/...`; the core checks the id: INVALID_INPUT), `token` is sent
 * as `Authorization: Bearer <token>`.
 */
class HttpTransport {
  #baseUrl
  #space
  constructor(baseUrl, options = {}) {
    const { headers, timeoutMs, encoding, compress, space, token } = options
    if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs < 2 ** 32)) {
      invalidInput(`timeoutMs is ${timeoutMs}: a whole number of milliseconds above 0`)
    }
    if (space !== undefined && typeof space !== 'string') invalidInput(`space is ${typeof space}: a string`)
    if (token !== undefined && typeof token !== 'string') invalidInput(`token is ${typeof token}: a string`)
    this[kNative] = callNative(() =>
      native.NativeTransport.http(baseUrl, headers, timeoutMs, encoding, compress, space, token),
    )
    this.#baseUrl = baseUrl
    this.#space = space ?? null
  }

  get baseUrl() {
    return this.#baseUrl
  }

  /** The hub space synced with, or null: the hub's `default` space (the `/v1/...` routes). */
  get space() {
    return this.#space
  }
}

// What an application's transport must look like and return: shared with the browser package.
const { checkTransport, pushCounts } = require('./shared/transport.js')

/**
 * The native transport for `transport`: the HTTP client as is, or an adapter for a JS object.
 * The adapter never rejects: a failure is answered as `{ error, errorCode }` (node/src/callbacks.rs
 * TransportReply), what was thrown kept in `slot`.
 */
function nativeTransport(transport, slot) {
  // The HTTP client, or a transport of the core's own (ObjectStoreTransport, lib/cloud.cjs).
  if (
    transport instanceof HttpTransport ||
    (typeof transport === 'object' && transport !== null && kNative in transport)
  ) {
    return transport[kNative]
  }
  checkTransport(transport)
  const adapter = async (op, arg) => {
    try {
      if (op === 'capabilities') return { text: JSON.stringify(await transport.capabilities()) }
      if (op === 'pull') {
        const { cursor, collections, limit } = JSON.parse(arg)
        const changes = await transport.pull(cursor, collections, limit)
        if (!(changes instanceof ChangeSet)) {
          throw new TypeError('transport.pull() must return a ChangeSet (decodeChangeSet() makes one from bytes)')
        }
        const states = stateHandles(changes.states, 'states')
        return { bytes: callNative(native.encodeChangeSet, states, changes.cursor, changes.hasMore, 'binary') }
      }
      const page = callNative(native.decodeChangeSet, arg, 'binary')
      const changes = changeSetOf(page.states, page.cursor, page.hasMore)
      return { text: pushCounts(await transport.push(changes)) }
    } catch (error) {
      slot.cause = error
      const { code, message } = describeForNative(error, 'TRANSPORT')
      return { error: message, errorCode: code }
    }
  }
  return callNative(() => native.NativeTransport.fromFunction(adapter))
}

module.exports = { HttpTransport, nativeTransport, kNative }
