// The conformance suite through the Node package (napi addon): every case in memory and on SQLite
// files (closed, reopened, checked again). The replayer is shared with the browser package's
// engines: js/conformance/replay.mjs.
import * as statesync from '../index.mjs'
import { SQLITE, registerConformance } from '../../js/conformance/node-runner.mjs'

registerConformance(statesync, { label: 'node', stores: ['memory', SQLITE] })
