// Compiled by `tsc --noEmit` in `npm test` (never run): proves index.d.ts types everyday code,
// and that misuse is a compile error (each @ts-expect-error must stay an error).
import {
  SyncManager,
  SyncError,
  SyncState,
  HttpTransport,
  DELETED,
  ChangeSet,
  decodeChangeSet,
  encode,
  incrementClock,
  compareClocks,
  type Clock,
  type Transport,
  type SyncEvent,
  type ReconciliationResult,
  type Rejection,
  type RejectedState,
  type JSONValue,
  type Status,
  EncryptionKey,
  ObjectStoreTransport,
  AutoBackup,
  listBackups,
  verifyBackup,
  pruneBackups,
  type BackupInfo,
} from 'statesync'

async function everyday(): Promise<void> {
  const m = await SyncManager.open({ nodeId: 'phone', path: 'app.db', strategy: 'lastWriteWins' })
  const s: SyncState = m.createState({ theme: 'dark' }, { id: 'settings', collection: 'prefs' })
  const data: JSONValue = s.data
  const version: number = s.version
  const maybe: SyncState | null = m.getState('settings')
  m.updateState('settings', { theme: 'light', sizes: [1, 2, 3] })
  m.listStates({ collection: 'prefs' }).map((x) => x.id)
  m.acknowledge(m.pendingOperations().map((op) => op.opId))
  const outcome: 'created' | 'updated' | 'unchanged' | 'ignored' | 'conflict' = m.applyRemoteState(s).outcome
  const counts: ReconciliationResult = m.reconcile([s])
  const refused: number = counts.rejected
  const why: RejectedState[] = counts.rejections
  const records: Rejection[] = m.rejections()
  const since: number = records[0].rejectedAt
  m.on('stateRejected', (e) => console.log(e.stateId, e.code, e.message))
  const limited = await SyncManager.open({ maxClockSkewMs: 60_000, maxStateBytes: 64 * 1024 })
  for (const c of m.conflicts()) m.resolveConflict(c.conflictId, { pick: 'local' })
  m.resolveConflict('id', { data: { v: 'merged' } })
  const page = m.changesSince({ cursor: null, collections: ['prefs'], limit: 100 })
  const next: string = page.cursor
  const other = await SyncManager.open({
    strategy: (local, remote) => (local.version > remote.version ? local.data : DELETED),
  })
  const report = await m.syncWith(other)
  const pulled: number = report.pulled.created
  const snapshot = m.exportState()
  m.importState(snapshot, { replace: false })
  const status: Status = m.status()
  const counted: Clock = incrementClock(s.clock, m.nodeId)
  const newer: boolean = compareClocks(counted, s.clock) === 'after'
  m.on('stateUpdated', (e) => console.log(e.state.id))
  m.on('statusChanged', (e) => console.log(e.previous, e.current))
  m.on('event', (e: SyncEvent) => console.log(e.name))
  for await (const e of m.events({ signal: AbortSignal.timeout(10) })) console.log(e.name)
  m.startAutoSync(5000, new HttpTransport('http://127.0.0.1:7878', { headers: { authorization: 'Bearer t' } }))
  await m.stopAutoSync()
  try {
    m.updateState('missing', {})
  } catch (e) {
    if (e instanceof SyncError && e.code === 'NOT_FOUND') console.log(e.message)
  }
  await m.close()
  void [data, version, maybe, outcome, counts, next, pulled, status, refused, why, since, limited, newer]
}

// A peer of an older release answers a push without rejections: still a Transport.
const mine: Transport = {
  capabilities: () => ({ protocol: 1, nodeId: 'hub', scopedSync: true, binary: true, zstd: false, maxBatch: null }),
  async pull(cursor, collections, limit) {
    const body = await fetch(`http://127.0.0.1:7878/pull?cursor=${cursor ?? ''}&limit=${limit ?? ''}&c=${collections}`)
    return decodeChangeSet(new Uint8Array(await body.arrayBuffer()), 'binary')
  },
  async push(changes: ChangeSet) {
    await fetch('http://127.0.0.1:7878/push', { method: 'POST', body: encode(changes, 'binary') })
    return { created: 0, updated: 0, unchanged: 0, ignored: 0, conflicts: 0, resolved: 0 }
  },
}

// A peer that limits request bodies and lists the states it refused.
const strict: Transport = {
  ...mine,
  capabilities: () => ({
    protocol: 1,
    nodeId: 'hub',
    scopedSync: true,
    binary: true,
    zstd: false,
    maxBatch: 500,
    maxBodyBytes: 1 << 20,
  }),
  push: (changes: ChangeSet) => ({
    created: changes.states.length - 1,
    updated: 0,
    unchanged: 0,
    ignored: 0,
    conflicts: 0,
    resolved: 0,
    rejected: 1,
    rejections: [{ id: 'k', code: 'INVALID_STATE', message: 'too large' }],
  }),
}

async function cloud(m: SyncManager): Promise<void> {
  const key: EncryptionKey = await EncryptionKey.fromPassphrase('pass', new Uint8Array(16))
  const raw = EncryptionKey.fromBytes(new Uint8Array(32))
  const opened: Uint8Array = raw.decrypt('o', raw.encrypt('o', new Uint8Array([1])))
  const info: BackupInfo = await m.backup('memory://x/y', { key, label: 'l' })
  const when: number = info.createdAt
  const all: BackupInfo[] = await listBackups('memory://x/y')
  await verifyBackup('memory://x/y', info.id, { key })
  const removed: string[] = await pruneBackups('memory://x/y', { keepLast: 1, keepWithinMs: 1000 })
  const restored: ReconciliationResult = await m.restoreBackup('memory://x/y', info.id, {
    key,
    replace: true,
    collections: ['a'],
  })
  const auto: AutoBackup = await m.startAutoBackup('memory://x/y', 1000, { keepLast: 3 })
  const last: BackupInfo | null = auto.lastBackup
  const failure: string | undefined = auto.lastError?.code
  await auto.stop()
  const bucket = await ObjectStoreTransport.open('file:///tmp/b', { key })
  await m.sync(bucket)
  m.startAutoSync(1000, bucket)
  const compacted: boolean = await bucket.compact()
  // @ts-expect-error: a passphrase key is derived off the JS thread: a Promise
  const notYet: EncryptionKey = EncryptionKey.fromPassphrase('pass', 'saltsalt')
  // @ts-expect-error: backups are async
  const sync: BackupInfo = m.backup('memory://x/y')
  // @ts-expect-error: the key is an EncryptionKey, not its bytes
  await m.backup('memory://x/y', { key: new Uint8Array(32) })
  // @ts-expect-error: made by open
  new ObjectStoreTransport()
  void [opened, when, all, removed, restored, last, failure, compacted, notYet, sync]
}

async function misuse(m: SyncManager): Promise<void> {
  // @ts-expect-error: open is async
  const notYet: SyncManager = SyncManager.open({})
  // @ts-expect-error: undefined is not JSON
  m.createState(undefined)
  // @ts-expect-error: unknown strategy name
  await SyncManager.open({ strategy: 'newest' })
  // @ts-expect-error: unknown event
  m.on('stateChanged', () => {})
  // @ts-expect-error: a resolution picks local or remote, or gives data
  m.resolveConflict('id', { pick: 'mine' })
  // @ts-expect-error: states are made by the replica or parsed from JSON
  new SyncState()
  // @ts-expect-error: maxStateBytes is a number of bytes
  await SyncManager.open({ maxStateBytes: '1MB' })
  // @ts-expect-error: a rejection's state is stateId
  m.rejections()[0].id
  // @ts-expect-error: a node id is a string
  incrementClock({}, 1)
  void notYet
}

void everyday
void mine
void strict
void misuse
void cloud
