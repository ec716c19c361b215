'use strict'
// The `statesync` package for Node.js. The API contract is index.d.ts (shared with the browser
// package), implemented once in js/src (compiled into lib/shared/) over this package's engine,
// the napi addon (lib/engine.cjs); docs/adr/0013-node-package.md explains the decisions.

const native = require('./native.cjs')
require('./lib/engine.cjs')
const { SyncError } = require('./lib/shared/errors.js')
const values = require('./lib/shared/values.js')
const { DELETED } = require('./lib/shared/convert.js')
const { ManualClock, compareClocks, mergeClocks, dominates, incrementClock } = require('./lib/shared/clocks.js')
const wire = require('./lib/shared/wire.js')
const { HttpTransport } = require('./lib/transport.cjs')
// Node's SyncManager: the shared one with backups (lib/cloud.cjs, typed in cloud.d.ts).
const cloud = require('./lib/cloud.cjs')
const { SyncManager } = cloud

module.exports = {
  VERSION: require('./package.json').version,
  PROTOCOL_VERSION: native.PROTOCOL_VERSION,
  WIRE_FORMAT: native.WIRE_FORMAT,
  MAX_DATA_DEPTH: native.MAX_DATA_DEPTH,
  MAX_COUNTER: Number.MAX_SAFE_INTEGER,
  SyncError,
  SyncManager,
  SyncState: values.SyncState,
  SyncOperation: values.SyncOperation,
  SyncConflict: values.SyncConflict,
  ChangeSet: values.ChangeSet,
  Snapshot: values.Snapshot,
  DELETED,
  ManualClock,
  HttpTransport,
  EncryptionKey: cloud.EncryptionKey,
  ObjectStoreTransport: cloud.ObjectStoreTransport,
  AutoBackup: cloud.AutoBackup,
  listBackups: cloud.listBackups,
  verifyBackup: cloud.verifyBackup,
  pruneBackups: cloud.pruneBackups,
  encode: wire.encode,
  decodeState: wire.decodeState,
  decodeChangeSet: wire.decodeChangeSet,
  decodeSnapshot: wire.decodeSnapshot,
  decodeOperations: wire.decodeOperations,
  compress: wire.compress,
  decompress: wire.decompress,
  compareClocks,
  mergeClocks,
  dominates,
  incrementClock,
}
