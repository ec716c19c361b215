// The shared JS test vectors (js/tests/checks.mjs: callback causes, options, wire) through the Node
// package; the browser package runs the same ones (wasm/tests/node/, wasm/tests/e2e/).
import * as statesync from '../index.mjs'
import { registerSharedTests } from '../../js/tests/node-runner.mjs'

registerSharedTests(statesync, 'node')
