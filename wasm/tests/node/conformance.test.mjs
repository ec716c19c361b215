// The conformance suite through the browser package's JS API on its WebAssembly build, in Node
// (wasm/dist/node.js): every case, in memory (Node has no IndexedDB; the durable run is the
// Chromium one, tests/e2e/shared.test.mjs). The replayer is the one the Node package runs:
// js/conformance/replay.mjs.
import * as S from "../../dist/node.js";
import { registerConformance } from "../../../js/conformance/node-runner.mjs";

registerConformance(S, { label: "wasm in Node", stores: ["memory"] });
