// Test vectors of the JS API that once differed between its two implementations and now have
// one (js/src): what a decoder reads when no encoding is named, and null options. Plain
// ECMAScript, run against each package's module like callback-cause.mjs (js/tests/checks.mjs).

/** A failed check. */
export class CheckFailure extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailure(message)
}

/** The checks: [name, async (module) => void]. */
export const checks = [
  [
    'decoding without an encoding reads what the first byte tells (binary or JSON)',
    async (S) => {
      const m = await S.SyncManager.open({ nodeId: 'wire' })
      try {
        const state = m.createState({ n: 1 }, { id: 's' })
        for (const encoding of ['binary', 'json']) {
          const back = S.decodeState(S.encode(state, encoding))
          check(back.equals(state), `a ${encoding} state decoded without an encoding is not the state`)
          const page = S.decodeChangeSet(S.encode(m.changesSince(), encoding))
          check(
            page.states.length === 1 && page.states[0].equals(state),
            `a ${encoding} change set decoded without an encoding`,
          )
        }
        let error
        try {
          S.decodeState(S.encode(state, 'binary'), 'json')
        } catch (e) {
          error = e
        }
        check(error instanceof S.SyncError, 'binary bytes read as JSON must fail with a SyncError')
      } finally {
        await m.close()
      }
    },
  ],
  [
    'null options of open are absent options; a non-number limit is INVALID_INPUT',
    async (S) => {
      const m = await S.SyncManager.open({ nodeId: null, maxClockSkewMs: null, maxStateBytes: null, clock: null })
      await m.close()
      for (const bad of [
        { maxStateBytes: '10' },
        { maxClockSkewMs: -1 },
        { maxStateBytes: 0 },
        { clock: {} },
        { nodeId: 7 },
      ]) {
        let error
        try {
          await S.SyncManager.open(bad)
        } catch (e) {
          error = e
        }
        check(
          error instanceof S.SyncError && error.code === 'INVALID_INPUT',
          `${JSON.stringify(bad)}: ${String(error)}`,
        )
      }
    },
  ],
]
