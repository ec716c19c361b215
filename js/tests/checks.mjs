// Every shared JS test vector (js/tests/*.mjs), as one list of [name, async (module) => void]:
// what each engine's runner registers (node-runner.mjs; the Chromium page of
// wasm/tests/e2e/shared.test.mjs).
import { checks as callbackCause } from './callback-cause.mjs'
import { checks as optionsAndWire } from './options-and-wire.mjs'
import { checks as rejectedWrites } from './rejected-writes.mjs'

export const checks = [...callbackCause, ...optionsAndWire, ...rejectedWrites]
