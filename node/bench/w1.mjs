// W1a of docs/performance.md through Node, next to the same workload run by the Rust core in the
// same process: `updates` updateState calls in memory, round-robin over 1,000 keys, the data
// built inside the timed loop as a client would. Median of 5 runs each, interleaved; before each
// run the garbage of the previous one is collected (the 100,000 states a Node run leaves behind
// would otherwise slow the Rust run that follows, flattering the ratio).
// Usage: npm run bench [-- --quick]   (runs node --expose-gc)
import { createRequire } from 'node:module'
import { SyncManager } from '../index.mjs'

const native = createRequire(import.meta.url)('../native.cjs')
const quick = process.argv.includes('--quick')
const UPDATES = quick ? 2_000 : 100_000
const KEYS = 1_000
const RUNS = quick ? 1 : 5

async function nodeW1() {
  const m = await SyncManager.open()
  const ids = Array.from({ length: KEYS }, (_, k) => `key-${k}`)
  for (const id of ids) m.createState({ n: 0, name: id }, { id })
  const start = process.hrtime.bigint()
  for (let i = 0; i < UPDATES; i++) {
    const k = i % KEYS
    m.updateState(ids[k], { n: i, name: ids[k] })
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await m.close()
  return seconds
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const node = []
const rust = []
/** Collects the previous run's garbage and lets finalizers run. */
async function settle() {
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 200))
  globalThis.gc?.()
}
if (typeof globalThis.gc !== 'function') console.warn('run with node --expose-gc for comparable figures')
for (let r = 0; r < RUNS; r++) {
  // Interleaved, so both see the same machine.
  await settle()
  node.push(await nodeW1())
  await settle()
  rust.push(native.rustW1(UPDATES, KEYS))
}
const nodeRate = UPDATES / median(node)
const rustRate = UPDATES / median(rust)
const ratio = nodeRate / rustRate
const overheadUs = ((median(node) - median(rust)) / UPDATES) * 1e6
const fmt = (x) => Math.round(x).toLocaleString('en-US')
console.log(
  `W1a through Node: ${fmt(nodeRate)} updates/s (median of ${RUNS}, ${UPDATES.toLocaleString('en-US')} updates)`,
)
console.log(`W1a in the Rust core, same run: ${fmt(rustRate)} updates/s`)
const verdict = quick ? 'smoke run: too short to judge' : ratio >= 0.4 ? 'met' : 'MISSED'
console.log(`ratio: ${(ratio * 100).toFixed(0)}% of Rust (target >= 40%: ${verdict})`)
console.log(`per-call overhead of the binding: ${overheadUs.toFixed(2)} us`)
