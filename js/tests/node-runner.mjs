// Registers the shared JS test vectors (js/tests/*.mjs) as node:test tests for one package's
// module: the Node package (node/test/) and the browser package's build in Node (wasm/tests/node/).
import { test } from 'node:test'
import { checks } from './checks.mjs'

/** One test per check, named with `label` (the engine). */
export function registerSharedTests(binding, label) {
  for (const [name, check] of checks) test(`${name} [${label}]`, () => check(binding))
}
