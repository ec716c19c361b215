'use strict'
// SyncManager: the public replica. It forwards every call to the native manager, turning
// options objects into arguments, data into JSON text, errors into SyncError (with what an
// application callback threw as the cause) and native events into the listeners' events.

const native = require('../native.cjs')
const { SyncError, toSyncError, callNative, invalidInput } = require('./errors.cjs')
const {
  SyncState,
  ChangeSet,
  Snapshot,
  dataJson,
  nativeStrategy,
  stateOf,
  stateOfText,
  stateHandle,
  stateHandles,
  changeSetParts,
  operationsOfText,
  conflictOfText,
  conflictsOfText,
  snapshotOfText,
  snapshotText,
} = require('./values.cjs')
const { nativeTransport } = require('./transport.cjs')
// Compiled from js/src/ by the package build (npm run build): the code both packages share.
const { eventsIterator } = require('./shared/events.js')
const { Listeners } = require('./shared/listeners.js')
const { resolutionParts } = require('./shared/convert.js')

/** The public form of a native event: only the fields its kind has. */
function publicEvent(e) {
  switch (e.name) {
    case 'stateCreated':
    case 'stateUpdated':
    case 'stateDeleted':
      return { name: e.name, state: stateOf(e.state) }
    case 'conflictDetected':
      return { name: e.name, conflict: conflictOfText(e.conflict) }
    case 'conflictResolved':
      return { name: e.name, conflictId: e.conflictId, stateId: e.stateId }
    case 'stateRejected':
      return { name: e.name, stateId: e.stateId, code: e.code, message: e.message }
    case 'syncFailed':
      return { name: e.name, peer: e.peer, message: e.message }
    case 'statusChanged':
      return { name: e.name, previous: e.previous, current: e.current }
    default:
      return { name: e.name, peer: e.peer }
  }
}

function collectionsOf(options) {
  const collections = options?.collections
  if (collections === undefined || collections === null) return undefined
  if (!Array.isArray(collections) || !collections.every((c) => typeof c === 'string')) {
    invalidInput('collections is an array of collection names')
  }
  return collections
}

/** The page limit of a feed read or a round, as given (null: none); the core checks it. */
function limitOf(options) {
  return options?.limit ?? undefined
}

const kCreate = Symbol('statesync.create')

/**
 * The native manager of a SyncManager, for the package's own tests (`test/panic.test.mjs` calls
 * the test build's entry point that panics on it); not part of the API (index.cjs does not
 * export it).
 */
let nativeOf

/** One replica. Cheap reads and local writes are synchronous; I/O that can block returns a Promise. */
class SyncManager {
  #n
  /** The handle of the hot calls (node/src/replica.rs): plain functions, cheaper than methods. */
  #r
  /** What the last application callback (resolver, transport) threw: the cause of the error it led to. */
  #slot
  /** The application's listeners (js/src/listeners.ts): the native subscription runs while there are any. */
  #listeners = new Listeners()
  #subscription = null

  constructor(key, nativeManager, slot) {
    if (key !== kCreate) throw new TypeError('use `await SyncManager.open({...})`')
    this.#n = nativeManager
    this.#r = callNative(() => nativeManager.replica())
    this.#slot = slot
  }

  static {
    nativeOf = (manager) => manager.#n
  }

  /** Opens (creating if missing) a replica. */
  static async open(options = {}) {
    if (options === null || typeof options !== 'object') invalidInput('open() takes an options object')
    const { nodeId, path, strategy, collectionStrategies, clock, checkResolver, durability } = options
    // The native open checks these (whole numbers, in range) and the durability name.
    const maxClockSkewMs = options.maxClockSkewMs ?? undefined
    const maxStateBytes = options.maxStateBytes ?? undefined
    const slot = { cause: undefined }
    const collections = ['']
    const strategies = [nativeStrategy(strategy ?? 'lastWriteWins', slot)]
    for (const [collection, s] of Object.entries(collectionStrategies ?? {})) {
      if (collection === '') invalidInput('a collection name is not empty')
      collections.push(collection)
      strategies.push(nativeStrategy(s, slot))
    }
    let nativeManager
    try {
      nativeManager = await native.NativeManager.open(
        nodeId,
        path,
        collections,
        strategies,
        clock,
        Boolean(checkResolver),
        durability,
        maxClockSkewMs,
        maxStateBytes,
      )
    } catch (error) {
      throw toSyncError(error)
    }
    return new SyncManager(kCreate, nativeManager, slot)
  }

  #fail(error) {
    const cause = this.#slot.cause
    this.#slot.cause = undefined
    const e = toSyncError(error, cause)
    return e
  }

  get nodeId() {
    try {
      return this.#n.nodeId
    } catch (error) {
      throw this.#fail(error)
    }
  }

  createState(data, options) {
    const json = dataJson(data)
    try {
      return stateOfText(native.replicaCreateState(this.#r, json, options?.id, options?.collection))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  getState(id) {
    try {
      return stateOf(native.replicaGetState(this.#r, id))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  updateState(id, data) {
    const json = dataJson(data)
    try {
      return stateOfText(native.replicaUpdateState(this.#r, id, json))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  deleteState(id) {
    try {
      return stateOfText(native.replicaDeleteState(this.#r, id))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  listStates(options) {
    try {
      return this.#n.listStates(options?.collection, Boolean(options?.includeDeleted)).map(stateOf)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  pendingOperations() {
    try {
      return operationsOfText(this.#n.pendingOperations())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  acknowledge(opIds) {
    if (!Array.isArray(opIds)) invalidInput('acknowledge() takes an array of operation ids')
    try {
      return this.#n.acknowledge(opIds)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  applyRemoteState(state) {
    if (!(state instanceof SyncState))
      invalidInput('applyRemoteState() takes a SyncState (SyncState.fromJSON() makes one)')
    try {
      const result = this.#n.applyRemoteState(stateHandle(state))
      result.state = stateOf(result.state)
      if (result.conflict != null) result.conflict = conflictOfText(result.conflict)
      return result
    } catch (error) {
      throw this.#fail(error)
    }
  }

  reconcile(states) {
    const handles = stateHandles(states, 'reconcile() takes an array of SyncState: it')
    try {
      return this.#n.reconcile(handles)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  conflicts() {
    try {
      return conflictsOfText(this.#n.conflicts())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** States refused in sync rounds and not gone through since, oldest first. */
  rejections() {
    try {
      return this.#n.rejections()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  resolveConflict(conflictId, resolution) {
    const { pick, data } = resolutionParts(resolution)
    try {
      return stateOf(this.#n.resolveConflict(conflictId, pick, data))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setStrategy(strategy) {
    const s = nativeStrategy(strategy, this.#slot)
    try {
      this.#n.setStrategy(s)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setCollectionStrategy(collection, strategy) {
    const s = strategy === null || strategy === undefined ? null : nativeStrategy(strategy, this.#slot)
    try {
      this.#n.setCollectionStrategy(collection, s)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  changesSince(options) {
    try {
      return changeSetParts(
        this.#n.changesSince(options?.cursor ?? undefined, collectionsOf(options), limitOf(options)),
      )
    } catch (error) {
      throw this.#fail(error)
    }
  }

  applyChanges(peer, changes, options) {
    if (!(changes instanceof ChangeSet)) invalidInput('applyChanges() takes a ChangeSet')
    try {
      return this.#n.applyChanges(
        peer,
        stateHandles(changes.states, 'states'),
        changes.cursor,
        changes.hasMore,
        collectionsOf(options),
      )
    } catch (error) {
      throw this.#fail(error)
    }
  }

  peerCursor(peer, options) {
    try {
      return this.#n.peerCursor(peer, collectionsOf(options))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  setPeerCursor(peer, cursor, options) {
    try {
      this.#n.setPeerCursor(peer, cursor ?? undefined, collectionsOf(options))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** A full round with another replica of this process. */
  async syncWith(other, options) {
    if (!(other instanceof SyncManager)) invalidInput('syncWith() takes another SyncManager')
    this.#slot.cause = undefined
    try {
      return await this.#n.syncWith(other.#n, collectionsOf(options), limitOf(options))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** A full round through a transport. */
  async sync(transport, options) {
    const t = nativeTransport(transport, this.#slot)
    this.#slot.cause = undefined
    try {
      return await this.#n.sync(t, collectionsOf(options), limitOf(options))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  startAutoSync(intervalMs, transport, options) {
    if (typeof intervalMs !== 'number') invalidInput('startAutoSync() takes an interval in milliseconds')
    const t = nativeTransport(transport, this.#slot)
    try {
      this.#n.startAutoSync(intervalMs, t, collectionsOf(options))
    } catch (error) {
      throw this.#fail(error)
    }
  }

  async stopAutoSync() {
    try {
      return await this.#n.stopAutoSync()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  syncNow() {
    try {
      return this.#n.syncNow()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  get isAutoSyncing() {
    try {
      return this.#n.isAutoSyncing
    } catch (error) {
      throw this.#fail(error)
    }
  }

  exportState() {
    try {
      return snapshotOfText(this.#n.exportState())
    } catch (error) {
      throw this.#fail(error)
    }
  }

  importState(snapshot, options) {
    const replace = Boolean(options?.replace)
    try {
      if (snapshot instanceof Snapshot) return this.#n.importJson(snapshotText(snapshot), replace)
      if (typeof snapshot === 'string') return this.#n.importJson(snapshot, replace)
    } catch (error) {
      throw this.#fail(error)
    }
    invalidInput('importState() takes a Snapshot or its JSON text')
  }

  status() {
    try {
      return this.#n.status()
    } catch (error) {
      throw this.#fail(error)
    }
  }

  on(event, listener) {
    this.#listeners.add(event, listener)
    // As before close(): every on/once (re)subscribes when needed, so a closed replica says CLOSED.
    this.#listen()
    return this
  }

  once(event, listener) {
    this.#listeners.add(event, listener, true)
    this.#listen()
    return this
  }

  off(event, listener) {
    if (this.#listeners.remove(event, listener)) this.#unsubscribe()
    return this
  }

  /**
   * Every event from the moment of the call, until the signal aborts or the loop stops. While it
   * runs it keeps the process alive, as a server does: events are delivered through an
   * unreferenced handle. The iterator is the one both packages share (js/src/events.ts).
   */
  events(options = {}) {
    const source = { on: (l) => this.on('event', l), off: (l) => this.off('event', l) }
    return eventsIterator(source, { signal: options.signal, keepAlive: true })
  }

  /** Stops auto-sync, flushes and releases the store; later calls throw CLOSED. */
  async close() {
    try {
      await this.#n.close()
    } catch (error) {
      throw this.#fail(error)
    } finally {
      // Only now: listeners still get what closing emits (statusChanged to "closed").
      if (this.#subscription !== null) this.#unsubscribe()
    }
  }

  #unsubscribe() {
    const id = this.#subscription
    if (id === null) return
    this.#subscription = null
    try {
      this.#n.unsubscribe(id)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  #listen() {
    if (this.#subscription !== null) return
    const listeners = this.#listeners
    try {
      this.#subscription = this.#n.subscribe((nativeEvent) => listeners.dispatch(publicEvent(nativeEvent)))
    } catch (error) {
      throw this.#fail(error)
    }
  }
}

if (typeof Symbol.asyncDispose === 'symbol') {
  SyncManager.prototype[Symbol.asyncDispose] = function () {
    return this.close()
  }
}

module.exports = { SyncManager, SyncError, nativeOf }
