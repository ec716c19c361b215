'use strict'
// The napi addon (node/src) as the engine of the JS layer both packages share (js/src, compiled
// into lib/shared/ by the package build): values, clocks, the wire format and replicas, each
// registered over the addon's functions. Conversions only: every rule is in js/src or the core.

const native = require('../native.cjs')
const { toSyncError, callNative, guardNativeClass } = require('./errors.cjs')
const { nativeTransport } = require('./transport.cjs')
const values = require('./shared/values.js')
const { useNativeClocks } = require('./shared/clocks.js')
const { useNativeWire } = require('./shared/wire.js')
const { useNativeEngine } = require('./shared/manager.js')

const { stateHandle, stateHandles } = values

// A state's handle is the addon's opaque external of one version (node/src/values.rs), usable
// as long as it lives; operations, conflicts and snapshots come as the core's JSON text.
values.useNativeValues({
  stateFromJson: (text) => callNative(native.stateFromWireJson, text),
  stateJson: (handle) => callNative(native.stateWireJson, handle),
  stateEquals: (a, b) => callNative(native.stateEquals, a, b),
  usable: () => true,
  snapshotJson: (text) => callNative(native.snapshotWireJson, text),
})

/** The addon's ManualClock, its methods throwing SyncError. */
const NapiManualClock = guardNativeClass(native.ManualClock)

// The addon takes clocks as objects and checks their counters (node/src/clock.rs).
useNativeClocks({
  compare: (a, b) => callNative(native.compareClocks, a, b),
  merge: (a, b) => callNative(native.mergeClocks, a, b),
  dominates: (a, b) => callNative(native.dominates, a, b),
  increment: (clock, node) => callNative(native.incrementClock, clock, node),
  manualClock: (millis) => callNative(() => new NapiManualClock(millis)),
})

useNativeWire({
  encodeState: (state, encoding) => callNative(native.encodeState, stateHandle(state), encoding),
  encodeChangeSet: (changes, encoding) =>
    callNative(
      native.encodeChangeSet,
      stateHandles(changes.states, 'states'),
      changes.cursor,
      changes.hasMore,
      encoding,
    ),
  encodeSnapshot: (text, encoding) => callNative(native.encodeSnapshot, text, encoding),
  // The addon reads the operations' wire message with the core's own parser.
  encodeOperations: (text, encoding) =>
    callNative(native.encodeOperations, `{"format":1,"operations":${text}}`, encoding),
  decodeState: (bytes, encoding) => callNative(native.decodeState, bytes, encoding),
  decodeChangeSet: (bytes, encoding) => callNative(native.decodeChangeSet, bytes, encoding),
  decodeSnapshot: (bytes, encoding) => callNative(native.decodeSnapshot, bytes, encoding),
  decodeOperations: (bytes, encoding) => callNative(native.decodeOperations, bytes, encoding),
  compress: (bytes) => callNative(native.compress, bytes),
  decompress: (bytes) => callNative(native.decompress, bytes),
})

/**
 * One replica: the addon's NativeManager (node/src/manager.rs). The hot calls go through the
 * replica handle's plain functions (node/src/replica.rs), cheaper than methods; they return a
 * write's result as wire JSON text.
 */
class NapiReplica {
  /** The handle of the hot calls. */
  #r
  /** Where the transport adapters leave what an application transport threw. */
  #slot
  /** The id of the event subscription, while there is one. */
  #subscription = null

  constructor(manager, slot) {
    /** The addon's NativeManager (the package's tests reach it through `nativeReplicaOf`). */
    this.manager = manager
    this.#r = callNative(() => manager.replica())
    this.#slot = slot
  }

  get nodeId() {
    return this.manager.nodeId
  }
  createState(json, id, collection) {
    return native.replicaCreateState(this.#r, json, id, collection)
  }
  getState(id) {
    return native.replicaGetState(this.#r, id)
  }
  updateState(id, json) {
    return native.replicaUpdateState(this.#r, id, json)
  }
  deleteState(id) {
    return native.replicaDeleteState(this.#r, id)
  }
  listStates(collection, includeDeleted) {
    return this.manager.listStates(collection, includeDeleted)
  }
  pendingOperations() {
    return this.manager.pendingOperations()
  }
  acknowledge(opIds) {
    return this.manager.acknowledge(opIds)
  }
  applyRemoteState(state) {
    return this.manager.applyRemoteState(stateHandle(state))
  }
  reconcile(states) {
    return this.manager.reconcile(states.map(stateHandle))
  }
  conflicts() {
    return this.manager.conflicts()
  }
  rejections() {
    return this.manager.rejections()
  }
  resolveConflict(conflictId, pick, data) {
    return this.manager.resolveConflict(conflictId, pick, data)
  }
  revertRejected(stateId) {
    return this.manager.revertRejected(stateId)
  }
  setStrategy(strategy) {
    this.manager.setStrategy(strategy)
  }
  setCollectionStrategy(collection, strategy) {
    this.manager.setCollectionStrategy(collection, strategy)
  }
  changesSince(cursor, collections, limit) {
    return this.manager.changesSince(cursor, collections, limit)
  }
  applyChanges(peer, changes, collections) {
    return this.manager.applyChanges(
      peer,
      stateHandles(changes.states, 'states'),
      changes.cursor,
      changes.hasMore,
      collections,
    )
  }
  peerCursor(peer, collections) {
    return this.manager.peerCursor(peer, collections)
  }
  setPeerCursor(peer, cursor, collections) {
    this.manager.setPeerCursor(peer, cursor, collections)
  }
  syncWith(other, collections, limit) {
    return this.manager.syncWith(other.manager, collections, limit)
  }
  sync(transport, collections, limit) {
    return this.manager.sync(nativeTransport(transport, this.#slot), collections, limit)
  }
  startAutoSync(intervalMs, transport, options) {
    this.manager.startAutoSync(intervalMs, nativeTransport(transport, this.#slot), options.collections)
  }
  stopAutoSync() {
    return this.manager.stopAutoSync()
  }
  syncNow() {
    return this.manager.syncNow()
  }
  get isAutoSyncing() {
    return this.manager.isAutoSyncing
  }
  exportState() {
    return this.manager.exportState()
  }
  importState(text, replace) {
    return this.manager.importJson(text, replace)
  }
  status() {
    return this.manager.status()
  }
  listen(deliver) {
    this.#subscription = this.manager.subscribe(deliver)
  }
  unlisten() {
    const id = this.#subscription
    this.#subscription = null
    if (id !== null) this.manager.unsubscribe(id)
  }
  close() {
    return this.manager.close()
  }
}

useNativeEngine({
  async open(options, slot) {
    // The addon takes the strategies as two lists; "" is the default's collection.
    const collections = ['', ...options.collectionStrategies.map(([c]) => c)]
    const strategies = [options.strategy, ...options.collectionStrategies.map(([, s]) => s)]
    const manager = await native.NativeManager.open(
      options.nodeId,
      options.path,
      collections,
      strategies,
      options.clock,
      options.checkResolver,
      options.given.durability ?? undefined,
      options.maxClockSkewMs,
      options.maxStateBytes,
    )
    return new NapiReplica(manager, slot)
  },
  error: toSyncError,
  keepAliveEvents: true,
})
