// ES module entry of the `statesync` package: the same API as index.cjs.
import statesync from './index.cjs'

export const {
  VERSION,
  PROTOCOL_VERSION,
  WIRE_FORMAT,
  MAX_DATA_DEPTH,
  MAX_COUNTER,
  SyncError,
  SyncManager,
  SyncState,
  SyncOperation,
  SyncConflict,
  ChangeSet,
  Snapshot,
  DELETED,
  ManualClock,
  HttpTransport,
  encode,
  decodeState,
  decodeChangeSet,
  decodeSnapshot,
  decodeOperations,
  compress,
  decompress,
  compareClocks,
  mergeClocks,
  incrementClock,
  dominates,
} = statesync
export default statesync
