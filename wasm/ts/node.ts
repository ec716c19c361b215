// The Node entry: the same module (the WebAssembly file is read from disk instead of fetched).
export * from "./index.js";
