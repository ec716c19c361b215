'use strict'
// Object storage, in Node only (cloud.d.ts; the browser build has no object store: see
// docs/adr): encryption keys, backups to and restores from storage URLs, auto-backup, and
// serverless sync through a bucket. Conversions only, over node/src/cloud.rs: every call that
// touches storage runs on libuv's thread pool and returns a Promise.

const native = require('../native.cjs')
const { toSyncError, callNative, invalidInput } = require('./errors.cjs')
const { kNative } = require('./transport.cjs')
const { SyncManager: SharedSyncManager, nativeReplicaOf } = require('./shared/manager.js')
const { stateOfRef } = require('./shared/values.js')

/** Awaits a native call, turning what it throws or rejects with into a SyncError. */
async function awaitNative(f, ...args) {
  try {
    return await f(...args)
  } catch (error) {
    throw toSyncError(error)
  }
}

/** Only the static constructors make keys and handles. */
const kCreate = Symbol('statesync.cloud.create')

const inspect = Symbol.for('nodejs.util.inspect.custom')

/** The native key of an optional `key` option (INVALID_INPUT for what is not an EncryptionKey). */
let keyOf

/**
 * A 256-bit XChaCha20-Poly1305 key (docs/encryption.md) for backups, bucket sync and
 * `encrypt`/`decrypt`. Opaque: its bytes stay in the native module and are never printed.
 */
class EncryptionKey {
  #native

  /** @internal Made by `fromBytes` and `fromPassphrase` only. */
  constructor(key, handle) {
    if (key !== kCreate) throw new TypeError('use EncryptionKey.fromBytes() or await EncryptionKey.fromPassphrase()')
    this.#native = handle
  }

  /** A key of exactly 32 bytes (from a key manager, or `crypto.randomBytes(32)`); INVALID_INPUT otherwise. */
  static fromBytes(bytes) {
    if (!(bytes instanceof Uint8Array)) invalidInput('EncryptionKey.fromBytes() takes a Uint8Array of 32 bytes')
    return new EncryptionKey(
      kCreate,
      callNative(() => native.NativeEncryptionKey.fromBytes(bytes)),
    )
  }

  /**
   * A key derived from a passphrase and a salt (8 to 64 bytes; a string is taken as its UTF-8)
   * with Argon2id, off the JS thread: the same passphrase and salt give the same key everywhere.
   */
  static async fromPassphrase(passphrase, salt) {
    if (typeof passphrase !== 'string') invalidInput('the passphrase is a string')
    if (typeof salt === 'string') salt = Buffer.from(salt, 'utf8')
    if (!(salt instanceof Uint8Array)) invalidInput('the salt is a Uint8Array or a string')
    const handle = await awaitNative(() => native.NativeEncryptionKey.fromPassphrase(passphrase, salt))
    return new EncryptionKey(kCreate, handle)
  }

  /** `data` sealed as the object `name` (its name is authenticated: a swapped object fails to decrypt). */
  encrypt(name, data) {
    return callNative(() => this.#native.encrypt(name, data))
  }

  /** The plaintext of the object `name`; CRYPTO for a wrong key, another name or any changed bit. */
  decrypt(name, data) {
    return callNative(() => this.#native.decrypt(name, data))
  }

  /** How the key was made, never its bytes. */
  toString() {
    return callNative(() => this.#native.describe())
  }

  [inspect]() {
    return this.toString()
  }

  static {
    keyOf = (key) => {
      if (key === undefined || key === null) return undefined
      if (!(key instanceof EncryptionKey)) invalidInput('key is an EncryptionKey')
      return key.#native
    }
  }
}

/** The options object of a call, checked to be an object. */
function optionsOf(options, call) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') invalidInput(`${call} takes an options object`)
  return options
}

/** A whole number from 0 to 2^32 - 1, or undefined. */
function countOption(name, value) {
  if (value === undefined || value === null) return undefined
  if (!(Number.isInteger(value) && value >= 0 && value < 2 ** 32))
    invalidInput(`${name} is ${value}: a whole number, 0 or more`)
  return value
}

/**
 * A transport syncing through a storage URL with no server (the core's ObjectStoreTransport):
 * usable wherever an HttpTransport is (`sync`, `startAutoSync`). Every replica of a bucket
 * uses the same key (or none).
 */
class ObjectStoreTransport {
  #native
  #url

  /** @internal Made by `open` only. */
  constructor(key, handle, url) {
    if (key !== kCreate) throw new TypeError('use `await ObjectStoreTransport.open(url, { key })`')
    this.#native = handle
    this.#url = url
    // What rounds and auto-sync take (lib/transport.cjs nativeTransport).
    Object.defineProperty(this, kNative, { value: callNative(() => handle.transport()) })
  }

  /** Opens a storage URL (INVALID_INPUT for an unknown scheme); a `file://` folder is created. */
  static async open(url, options) {
    const { key } = optionsOf(options, 'ObjectStoreTransport.open()')
    if (typeof url !== 'string') invalidInput('a storage URL is a string')
    const handle = await awaitNative(() => native.NativeObjectStoreTransport.open(url, keyOf(key)))
    return new ObjectStoreTransport(kCreate, handle, url)
  }

  /** The storage URL it syncs through. */
  get url() {
    return this.#url
  }

  /** Compacts the bucket's segments into a snapshot; false when there was nothing to do. */
  compact() {
    return awaitNative(() => this.#native.compact())
  }
}

/** A running auto-backup, from `SyncManager.startAutoBackup`. */
class AutoBackup {
  #native

  /** @internal Made by `startAutoBackup` only. */
  constructor(key, handle) {
    if (key !== kCreate) throw new TypeError('use `await manager.startAutoBackup(...)`')
    this.#native = handle
  }

  /** The newest backup it wrote, or null. */
  get lastBackup() {
    return callNative(() => this.#native.lastBackup) ?? null
  }

  /** The last run's failure as `{ code, message }`, or null when the last run succeeded. */
  get lastError() {
    return callNative(() => this.#native.lastError) ?? null
  }

  /** How many runs finished, well or not. */
  get runs() {
    return callNative(() => this.#native.runs)
  }

  /** Stops it, resolving when a backup in progress has finished. Idempotent. */
  stop() {
    return awaitNative(() => this.#native.stop())
  }
}

/** The API's counts of the native ones: each refusal's kept version made a SyncState. */
function countsOf(n) {
  if (n.rejections.length === 0) return n
  return { ...n, rejections: n.rejections.map((r) => ({ ...r, current: stateOfRef(r.current) })) }
}

/** The SyncManager of the Node package: the shared one (js/src/manager.ts) with backups. */
class SyncManager extends SharedSyncManager {
  /** Backs this replica up to `url` (states, pending queue, conflicts), sealed with `key` when given. */
  async backup(url, options) {
    const { key, label } = optionsOf(options, 'backup()')
    if (label !== undefined && label !== null && typeof label !== 'string') invalidInput('label is a string')
    const manager = nativeReplicaOf(this).manager
    return awaitNative(() => manager.backup(url, keyOf(key), label ?? undefined))
  }

  /**
   * Restores backup `id` from `url`, verified whole first: merged by the replica's strategies,
   * or in place of what it holds with `replace`; only `collections` when given. A failed restore
   * changes nothing.
   */
  async restoreBackup(url, id, options) {
    const { key, replace, collections } = optionsOf(options, 'restoreBackup()')
    const manager = nativeReplicaOf(this).manager
    const counts = await awaitNative(() =>
      manager.restoreBackup(url, id, keyOf(key), Boolean(replace), collections ?? undefined),
    )
    return countsOf(counts)
  }

  /**
   * Backs up to `url` every `intervalMs` (at least 1000; the first at once), keeping the newest
   * `keepLast` there (default 0: all). Resolves with the handle once the URL is checked.
   */
  async startAutoBackup(url, intervalMs, options) {
    const { key, keepLast } = optionsOf(options, 'startAutoBackup()')
    if (typeof intervalMs !== 'number') invalidInput('startAutoBackup() takes an interval in milliseconds')
    const manager = nativeReplicaOf(this).manager
    const keep = countOption('keepLast', keepLast) ?? 0
    const handle = await awaitNative(() => manager.startAutoBackup(url, intervalMs, keep, keyOf(key)))
    return new AutoBackup(kCreate, handle)
  }
}

/** The complete backups at a storage URL, newest first. */
function listBackups(url) {
  return awaitNative(() => native.listBackups(url))
}

/** Checks backup `id` whole (every part's SHA-256, decryption, decoding): its info, or CORRUPT / CRYPTO. */
function verifyBackup(url, id, options) {
  return awaitNative(() => native.verifyBackup(url, id, keyOf(optionsOf(options, 'verifyBackup()').key)))
}

/** Deletes the backups beyond the newest `keepLast` and older than `keepWithinMs`; the ids deleted. */
function pruneBackups(url, options) {
  return awaitNative(() => {
    const { keepLast, keepWithinMs } = optionsOf(options, 'pruneBackups()')
    if (keepWithinMs !== undefined && keepWithinMs !== null && typeof keepWithinMs !== 'number') {
      invalidInput('keepWithinMs is a number of milliseconds')
    }
    return native.pruneBackups(url, countOption('keepLast', keepLast), keepWithinMs ?? undefined)
  })
}

module.exports = {
  EncryptionKey,
  ObjectStoreTransport,
  AutoBackup,
  SyncManager,
  listBackups,
  verifyBackup,
  pruneBackups,
}
