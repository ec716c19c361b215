// The shared JS test vectors (js/tests/checks.mjs: callback causes, options, wire) through the browser
// package's build in Node; the Node package and Chromium run the same ones.
import * as S from "../../dist/node.js";
import { registerSharedTests } from "../../../js/tests/node-runner.mjs";

registerSharedTests(S, "wasm in Node");
