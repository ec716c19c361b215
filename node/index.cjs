'use strict'
// The `statesync` package for Node.js. The API contract is index.d.ts (shared with the browser
// package); docs/adr/0013-node-package.md explains the decisions.

const native = require('./native.cjs')
const { SyncError } = require('./lib/errors.cjs')
const values = require('./lib/values.cjs')
const { HttpTransport } = require('./lib/transport.cjs')
const { SyncManager } = require('./lib/manager.cjs')
const wire = require('./lib/wire.cjs')

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
  DELETED: values.DELETED,
  ManualClock: values.ManualClock,
  HttpTransport,
  ...wire,
}
