// Loads the WebAssembly module once, in the browser (fetch) and in Node (the file beside this
// one), and registers the error factory: every error the core raises arrives as a SyncError.
import init, * as glue from "./wasm/statesync_wasm.js";
import { SyncError } from "./errors.js";

const url = new URL("./wasm/statesync_wasm_bg.wasm", import.meta.url);
const nodeFs = "node:fs/promises"; // a variable: browsers and bundlers never resolve it
const source: BufferSource | URL =
  url.protocol === "file:" ? ((await (await import(/* webpackIgnore: true */ nodeFs)).readFile(url)) as BufferSource) : url;
await init({ module_or_path: source });
glue.setErrorFactory((code: string, message: string, cause: unknown) =>
  new SyncError(code as never, message, cause === undefined ? undefined : { cause }),
);

/** The wasm-bindgen exports. */
export const wasm = glue;

// `Symbol.asyncDispose` where the engine lacks it (the API shape names it).
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for("Symbol.asyncDispose");
