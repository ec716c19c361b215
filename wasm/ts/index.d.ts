// The package's types: the shared API shape (node/index.d.ts, copied at build time) and the
// browser-only additions.
export * from "./statesync.js";
import "./browser.js";
