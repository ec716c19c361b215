// Test vectors of rejected writes (docs/design.md §10) through the JS API: the refusing peer's
// kept version (`current`) reaching the rejection through an application's transport in every
// form a push answer may give it, `revertRejected` and its errors, and HttpTransport's `space`
// checked by the core. Plain ECMAScript, run against each package's module like
// callback-cause.mjs (js/tests/checks.mjs).

/** A failed check. */
export class CheckFailure extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailure(message)
}

/** The error `f` (sync or async) throws or rejects with; fails when it succeeds. */
async function thrown(f) {
  try {
    await f()
  } catch (e) {
    return e
  }
  throw new CheckFailure('the call succeeded, expected it to fail')
}

function expectCode(S, e, code, what) {
  check(e instanceof S.SyncError && e.code === code, `${what}: expected ${code}, got ${String(e)}`)
}

/**
 * A transport over another replica of the same module whose push answers with the peer's
 * refusals, the kept version given as `form` says: the SyncState itself (the peer's reconcile
 * result as it is), its wire JSON object, its JSON text, or left out.
 */
function peerTransport(S, peer, form = 'state') {
  return {
    async capabilities() {
      return { protocol: S.PROTOCOL_VERSION, nodeId: peer.nodeId, scopedSync: true, binary: true, zstd: false }
    },
    async pull(cursor, collections, limit) {
      return peer.changesSince({ cursor, collections, limit: limit ?? undefined })
    },
    async push(changes) {
      const result = peer.reconcile(changes.states)
      if (form === 'state') return result
      const rejections = result.rejections.map(({ id, code, message, current }) => {
        const kept = { object: current?.toJSON(), text: JSON.stringify(current), none: undefined }[form]
        return form === 'none' ? { id, code, message } : { id, code, message, current: kept }
      })
      return { ...result, rejections }
    },
  }
}

/** A replica whose write of `s` the peer (at most 20 bytes of data) refused, and that peer. */
async function refusedUpdate(S, form) {
  const a = await S.SyncManager.open({ nodeId: 'A' })
  const b = await S.SyncManager.open({ nodeId: 'B', maxStateBytes: 20 })
  a.createState({ t: 1 }, { id: 's' })
  await a.sync(peerTransport(S, b))
  a.updateState('s', { t: 'far more than twenty bytes of text' })
  const report = await a.sync(peerTransport(S, b, form))
  return { a, b, report }
}

/** The checks: [name, async (module) => void]. */
export const checks = [
  [
    "revertRejected writes the peer's kept version back with a clock that has seen both, and it syncs",
    async (S) => {
      const { a, b, report } = await refusedUpdate(S, 'state')
      try {
        const [refused] = report.pushed.rejections
        check(refused.id === 's' && refused.code === 'INVALID_STATE', `refused: ${JSON.stringify(refused)}`)
        check(refused.current instanceof S.SyncState && refused.current.equals(b.getState('s')), 'the kept version')
        const [rejection] = a.rejections()
        check(rejection.own === true, 'own: this replica wrote the refused version')
        check(rejection.current instanceof S.SyncState && rejection.current.equals(b.getState('s')), 'current')
        const reverted = a.revertRejected('s')
        check(reverted instanceof S.SyncState, 'revertRejected returns the new SyncState')
        check(JSON.stringify(reverted.data) === '{"t":1}', `data ${JSON.stringify(reverted.data)}`)
        check(JSON.stringify(reverted.clock) === '{"A":3}', `clock ${JSON.stringify(reverted.clock)}`)
        check(reverted.version === 3 && reverted.deleted === false, `version ${reverted.version}`)
        check(a.rejections().length === 0, 'the rejection goes')
        check(a.getState('s').equals(reverted), 'the new local version')
        const again = await a.sync(peerTransport(S, b))
        check(again.pushed.updated === 1 && again.pushed.rejected === 0, `pushed ${JSON.stringify(again.pushed)}`)
        check(b.getState('s').equals(a.getState('s')), 'both replicas hold the same version')
      } finally {
        await a.close()
        await b.close()
      }
    },
  ],
  [
    "a push answer's kept version reaches the rejection as a SyncState, whether given as one, as its JSON object or as its text; without one, reverting deletes",
    async (S) => {
      for (const form of ['object', 'text', 'none']) {
        const { a, b } = await refusedUpdate(S, form)
        try {
          const [rejection] = a.rejections()
          if (form === 'none') {
            check(rejection.current === null && rejection.own === true, `${form}: current ${rejection.current}`)
            const reverted = a.revertRejected('s')
            check(reverted.deleted === true && reverted.data === null, `${form}: a deletion`)
            check(JSON.stringify(reverted.clock) === '{"A":3}', `${form}: clock ${JSON.stringify(reverted.clock)}`)
            check((await a.sync(peerTransport(S, b))).pushed.updated === 1, `${form}: the deletion syncs`)
            check(b.getState('s') === null, `${form}: deleted on the peer too`)
          } else {
            check(rejection.current instanceof S.SyncState, `${form}: current is a SyncState`)
            check(rejection.current.equals(b.getState('s')), `${form}: the peer's version`)
            check(JSON.stringify(a.revertRejected('s').data) === '{"t":1}', `${form}: reverted`)
          }
        } finally {
          await a.close()
          await b.close()
        }
      }
    },
  ],
  [
    "revertRejected needs a rejection of an own write: NOT_FOUND, INVALID_INPUT for a peer's version refused here; nothing changes",
    async (S) => {
      const a = await S.SyncManager.open({ nodeId: 'A', maxStateBytes: 10 })
      const b = await S.SyncManager.open({ nodeId: 'B' })
      try {
        b.createState({ text: 'more than ten bytes' }, { id: 'big' })
        a.createState(1, { id: 'mine' })
        const report = await a.sync(peerTransport(S, b))
        check(report.pulled.rejected === 1 && report.pushed.created === 1, `report ${JSON.stringify(report)}`)
        const [rejection] = a.rejections()
        check(rejection.stateId === 'big' && rejection.own === false && rejection.current === null, 'a refusal here')
        const before = JSON.stringify([a.listStates({ includeDeleted: true }), a.pendingOperations(), a.rejections()])
        expectCode(S, await thrown(() => a.revertRejected('mine')), 'NOT_FOUND', 'no rejection of mine')
        expectCode(S, await thrown(() => a.revertRejected('nothing')), 'NOT_FOUND', 'no state at all')
        const e = await thrown(() => a.revertRejected('big'))
        expectCode(S, e, 'INVALID_INPUT', "a peer's version")
        const after = JSON.stringify([a.listStates({ includeDeleted: true }), a.pendingOperations(), a.rejections()])
        check(after === before, 'the replica is unchanged')
      } finally {
        await a.close()
        await b.close()
      }
      expectCode(S, await thrown(() => a.revertRejected('big')), 'CLOSED', 'a closed replica')
    },
  ],
  [
    "HttpTransport's space is checked by the core (INVALID_INPUT), and read back",
    async (S) => {
      for (const bad of ['', 'a/b', 'a b', 'é', 'a?b', 'a%2F', 'x'.repeat(129), 7]) {
        const e = await thrown(() => new S.HttpTransport('http://127.0.0.1:9', { space: bad }))
        expectCode(S, e, 'INVALID_INPUT', `space ${JSON.stringify(bad)}`)
      }
      for (const good of ['user:42', 'team.alpha_1@example-org', 'x'.repeat(128)]) {
        check(new S.HttpTransport('http://127.0.0.1:9', { space: good, token: 't' }).space === good, good)
      }
      check(new S.HttpTransport('http://127.0.0.1:9').space === null, 'no space: null')
      const e = await thrown(() => new S.HttpTransport('http://127.0.0.1:9', { token: 42 }))
      expectCode(S, e, 'INVALID_INPUT', 'a token that is no string')
    },
  ],
]
