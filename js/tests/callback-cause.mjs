// One test vector for the design every binding follows when an application callback throws
// (docs: node/index.d.ts, SyncError): the call fails with a SyncError whose `code` is the
// callback's (RESOLVER for a resolver, whatever it threw; TRANSPORT for a transport method, or
// the code of a SyncError the method threw itself) and whose `cause` IS the thrown value, by identity,
// whatever was thrown (an Error, a SyncError, any other value), in a synchronous call as in a
// sync round. Plain ECMAScript: the Node package (node/test/callback-cause.test.mjs) and the
// browser package, in Node (wasm/tests/node/) and in Chromium (wasm/tests/e2e/), run these same
// checks against their module.

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

/** `e` is the package's SyncError with `code`, its cause exactly `cause`. */
function expectCause(S, e, code, cause) {
  check(e instanceof S.SyncError, `expected a SyncError, got ${String(e)}`)
  check(e.code === code, `code ${e.code} (${e.message}), expected ${code}`)
  check(e.cause === cause, `the cause is ${String(e.cause)}, not the thrown value ${String(cause)}`)
}

/** A transport over another replica of the same module, its methods replaceable. */
function loopback(S, peer, overrides = {}) {
  return {
    async capabilities() {
      return { protocol: S.PROTOCOL_VERSION, nodeId: peer.nodeId, scopedSync: true, binary: true, zstd: false }
    },
    async pull(cursor, collections, limit) {
      return peer.changesSince({ cursor, collections, limit })
    },
    async push(changes) {
      return peer.reconcile(changes.states)
    },
    ...overrides,
  }
}

/** Two replicas with a concurrent edit of state `k`: `a` (resolving with `resolver`) and `b`. */
async function conflicting(S, resolver) {
  const a = await S.SyncManager.open({ nodeId: 'a', strategy: resolver, clock: new S.ManualClock(1000) })
  const b = await S.SyncManager.open({ nodeId: 'b', clock: new S.ManualClock(1000) })
  b.applyRemoteState(a.createState({ v: 0 }, { id: 'k' }))
  a.updateState('k', { v: 1 })
  const theirs = b.updateState('k', { v: 2 })
  return { a, b, theirs, close: () => Promise.all([a.close(), b.close()]) }
}

/** What a callback may throw: an Error, a value that is no Error at all, and a SyncError (its code). */
const THROWN = [
  ['an Error', null],
  ['a value that is no Error', null],
  ['a SyncError of its own', 'UNAUTHORIZED'],
]

/** A fresh value of the kind `what` names. */
function make(S, what) {
  if (what === 'an Error') return new TypeError('cannot merge')
  if (what === 'a SyncError of its own') return new S.SyncError('UNAUTHORIZED', 'token expired')
  return { reason: 'not an Error object' }
}

/** The checks: `[name, async (S) => void]`, S being the package's module. */
export const checks = []

for (const [what, ownCode] of THROWN) {
  checks.push([
    `a resolver that throws ${what} in a synchronous call: RESOLVER, cause is the thrown value`,
    async (S) => {
      const value = make(S, what)
      const { a, theirs, close } = await conflicting(S, () => {
        throw value
      })
      try {
        expectCause(S, await thrown(() => a.applyRemoteState(theirs)), 'RESOLVER', value)
      } finally {
        await close()
      }
    },
  ])
  checks.push([
    `a resolver that throws ${what} in a sync round: RESOLVER, cause is the thrown value`,
    async (S) => {
      const value = make(S, what)
      const { a, b, close } = await conflicting(S, () => {
        throw value
      })
      try {
        expectCause(S, await thrown(() => a.syncWith(b)), 'RESOLVER', value)
      } finally {
        await close()
      }
    },
  ])
  for (const method of ['capabilities', 'pull', 'push']) {
    checks.push([
      `transport.${method}() that throws ${what}: ${ownCode ?? 'TRANSPORT'}, cause is the thrown value`,
      async (S) => {
        const value = make(S, what)
        const a = await S.SyncManager.open({ nodeId: 'a' })
        const hub = await S.SyncManager.open({ nodeId: 'hub' })
        a.createState({ n: 1 }, { id: 'one' })
        try {
          const transport = loopback(S, hub, {
            [method]: async () => {
              throw value
            },
          })
          expectCause(S, await thrown(() => a.sync(transport)), ownCode ?? 'TRANSPORT', value)
          // The failure is over: the next round, with a working transport, goes through.
          await a.sync(loopback(S, hub))
          check(hub.getState('one') !== null, 'the next round did not reach the hub')
        } finally {
          await Promise.all([a.close(), hub.close()])
        }
      },
    ])
  }
}

checks.push([
  'a later failure without a callback exception has no stale cause',
  async (S) => {
    const boom = new Error('boom')
    const { a, theirs, close } = await conflicting(S, () => {
      throw boom
    })
    try {
      expectCause(S, await thrown(() => a.applyRemoteState(theirs)), 'RESOLVER', boom)
      const e = await thrown(() => a.updateState('missing', {}))
      check(e instanceof S.SyncError && e.code === 'NOT_FOUND', `expected NOT_FOUND, got ${String(e)}`)
      check(e.cause === undefined, `a NOT_FOUND after a resolver failure has the cause ${String(e.cause)}`)
    } finally {
      await close()
    }
  },
])

checks.push([
  'a transport without capabilities(), pull() and push() is INVALID_INPUT, before any round',
  async (S) => {
    const a = await S.SyncManager.open({ nodeId: 'a' })
    try {
      const e = await thrown(() => a.sync({ pull() {} }))
      check(e instanceof S.SyncError && e.code === 'INVALID_INPUT', `expected INVALID_INPUT, got ${String(e)}`)
    } finally {
      await a.close()
    }
  },
])

for (const [method, answer, what] of [
  ['pull', { states: [] }, 'no ChangeSet'],
  ['push', 7, 'no counts object'],
]) {
  checks.push([
    `transport.${method}() that returns ${what}: TRANSPORT, its cause the TypeError that says so`,
    async (S) => {
      const a = await S.SyncManager.open({ nodeId: 'a' })
      const hub = await S.SyncManager.open({ nodeId: 'hub' })
      a.createState({ n: 1 }, { id: 'one' })
      try {
        const e = await thrown(() => a.sync(loopback(S, hub, { [method]: async () => answer })))
        check(e instanceof S.SyncError && e.code === 'TRANSPORT', `expected TRANSPORT, got ${String(e)}`)
        check(e.cause instanceof TypeError, `the cause is ${String(e.cause)}, not a TypeError`)
      } finally {
        await Promise.all([a.close(), hub.close()])
      }
    },
  ])
}
