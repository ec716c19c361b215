// Loads the WebAssembly module, in the browser (fetch) and in Node (the file beside this one),
// registers the error factory (every error the core raises arrives as a SyncError), and guards
// every call into the module.
//
// Why the guard: the build aborts on a panic (WebAssembly has no unwinding), so a bug inside
// the core ends its call in a trap, a WebAssembly.RuntimeError ("unreachable"), and leaves the
// instance's Rust state half-changed (the replica's lock stays taken). Nothing more may run in
// that instance. Each call through `wasm` (functions, constructors and methods of the glue's
// classes) therefore turns a trap into SyncError INTERNAL and stops the instance: later calls
// into it throw INTERNAL at once, and the replicas opened on it let go of their IndexedDB
// database and tab lease. A fresh instance (a second copy of the glue over the same compiled
// module) starts at once, and `SyncManager.open` reopens a replica there from IndexedDB.
// wasm/README.md documents this recovery for applications.
import * as firstGlue from "./wasm/statesync_wasm.js";
import { SyncError } from "./errors.js";
import { useErrorCodes } from "./shared/errors.js";

type Glue = typeof firstGlue;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (this: unknown, ...args: any[]) => any;

/** On the prototype of each glue class: the instance its objects live in. */
const OWNER = Symbol("statesync.instance");

/**
 * Calls a stopped instance still answers: reading a version the application holds. A panic in
 * safe Rust leaves memory intact, and a version is immutable, so its text is still right; the
 * SyncStates an application kept stay readable until it has reopened its replicas.
 */
const STILL_READABLE = new Set(["State.json"]);

/** One instance of the module, with its own copy of the glue. */
export class Instance {
  /** The INTERNAL error the instance's trap became; null while it runs. */
  stopped: SyncError | null = null;
  /** The glue, every call guarded. */
  readonly glue: Glue;
  /** What the replicas opened on this instance do when it stops (let go of their database). */
  readonly #onStop = new Set<() => Promise<void>>();

  constructor(glue: Glue) {
    this.glue = wrap(this, glue);
  }

  /** Runs `letGo` if the instance stops; the returned function cancels (at close). */
  onStop(letGo: () => Promise<void>): () => void {
    this.#onStop.add(letGo);
    return () => this.#onStop.delete(letGo);
  }

  /** Throws INTERNAL when this instance, or an argument's, has stopped. */
  check(args: ArrayLike<unknown>): void {
    if (this.stopped) throw refusal(this.stopped);
    for (let i = 0; i < args.length; i++) {
      const owner = (args[i] as { [OWNER]?: Instance } | null | undefined)?.[OWNER];
      if (owner?.stopped) throw refusal(owner.stopped);
    }
  }

  /** What a call that threw `e` throws: a trap stops the instance and becomes INTERNAL. */
  failed(e: unknown): unknown {
    if (!(e instanceof WebAssembly.RuntimeError)) return e;
    if (!this.stopped) this.#stop(e);
    return this.stopped;
  }

  #stop(trap: WebAssembly.RuntimeError): void {
    this.stopped = new SyncError(
      "INTERNAL",
      `internal error: a bug in statesync stopped its WebAssembly module (${trap.message}); ` +
        "reopen the replica with SyncManager.open, which reads it back from IndexedDB",
      { cause: trap },
    );
    const letGo = [...this.#onStop].map((f) => f().catch(() => {}));
    this.#onStop.clear();
    released = Promise.all([released, ...letGo]).then(() => {});
    if (current === this && !replacing) {
      // At once, so that functions without a replica (clocks, wire) work again soon; a failure
      // is reported by the next `ready()`, which tries again.
      replacing = replace();
      replacing.catch(() => {});
    }
  }
}

/** The error of a call into a stopped instance. */
function refusal(stopped: SyncError): SyncError {
  return new SyncError(
    "INTERNAL",
    "internal error: the WebAssembly module stopped after a bug in statesync; reopen the replica with SyncManager.open",
    { cause: stopped },
  );
}

/**
 * `f` with the instance's checks around it: a trap stops the instance and throws INTERNAL; with
 * `refuse` (all but STILL_READABLE), so does a call into a stopped instance or with an argument
 * from one.
 */
function guarded<F extends AnyFunction>(inst: Instance, f: F, refuse = true): F {
  return function (this: unknown) {
    if (refuse) inst.check(arguments);
    let result;
    try {
      result = f.apply(this, arguments as unknown as unknown[]);
    } catch (e) {
      throw inst.failed(e);
    }
    // A trap inside a nested call (a resolver calling back in) stopped it under this call.
    if (refuse && inst.stopped) throw refusal(inst.stopped);
    return result;
  } as F;
}

/** The glue with every function, constructor and method guarded (classes patched in place). */
function wrap(inst: Instance, glue: Glue): Glue {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(glue)) {
    if (typeof value !== "function" || name === "default" || name === "initSync") continue;
    if (!Function.prototype.toString.call(value).startsWith("class")) {
      out[name] = guarded(inst, value as AnyFunction);
      continue;
    }
    const proto = value.prototype as Record<string | symbol, unknown>;
    Object.defineProperty(proto, OWNER, { value: inst });
    // `__wrap`, `__destroy_into_raw`, ...: the glue's own plumbing, called from inside calls.
    for (const key of Object.getOwnPropertyNames(proto)) {
      const method = proto[key];
      if (key === "constructor" || key.startsWith("__") || typeof method !== "function") continue;
      const f = method as AnyFunction;
      proto[key] = key === "free" ? freeing(inst, f) : guarded(inst, f, !STILL_READABLE.has(`${name}.${key}`));
    }
    const statics = value as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(value)) {
      const f = statics[key];
      if (!key.startsWith("__") && typeof f === "function") statics[key] = guarded(inst, f as AnyFunction);
    }
    out[name] = new Proxy(value, {
      construct(target, args, newTarget) {
        inst.check(args);
        let made;
        try {
          made = Reflect.construct(target, args, newTarget);
        } catch (e) {
          throw inst.failed(e);
        }
        if (inst.stopped) throw refusal(inst.stopped);
        return made;
      },
    });
  }
  return out as Glue;
}

/** `free`, except in a stopped instance: there the object is forgotten (its finaliser too), never freed. */
function freeing(inst: Instance, free: AnyFunction): AnyFunction {
  const guardedFree = guarded(inst, free);
  return function (this: unknown) {
    if (inst.stopped) forget(this as object);
    else guardedFree.call(this);
  };
}

/** Forgets a glue object without freeing it (its instance stopped: nothing more runs there). */
export function forget(handle: object): void {
  (handle as { __destroy_into_raw?: () => number }).__destroy_into_raw?.();
}

/** True when `handle` belongs to a stopped instance. */
export function isStopped(handle: object): boolean {
  return (handle as { [OWNER]?: Instance })[OWNER]?.stopped != null;
}

const wasmUrl = new URL("./wasm/statesync_wasm_bg.wasm", import.meta.url);

/** The module, compiled once: every instance is made from it. */
async function compile(): Promise<WebAssembly.Module> {
  if (wasmUrl.protocol === "file:") {
    const nodeFs = "node:fs/promises"; // a variable: browsers and bundlers never resolve it
    const { readFile } = await import(/* webpackIgnore: true */ nodeFs);
    return WebAssembly.compile((await readFile(wasmUrl)) as BufferSource);
  }
  const response = await fetch(wasmUrl);
  if (!response.ok) throw new Error(`failed to fetch ${wasmUrl}: HTTP ${response.status}`);
  // Streaming needs the right MIME type; else the bytes are compiled whole.
  if (response.headers.get("content-type")?.split(";")[0].trim() === "application/wasm") {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Instantiates the module with this copy of the glue. */
async function start(glue: Glue): Promise<Instance> {
  await glue.default({ module_or_path: compiled });
  // The codes SyncError knows come from the core (ErrorCode::ALL), as in the Node package.
  useErrorCodes(glue.errorCodes());
  glue.setErrorFactory((code: string, message: string) => new SyncError(code as never, message));
  return new Instance(glue);
}

let copies = 0;

/** Starts a fresh instance in place of the stopped one, with a fresh copy of the glue (its own state). */
async function replace(): Promise<void> {
  try {
    // A module URL with another query is another module: its `wasm`, its heap, its finalisers.
    const url = new URL(`./wasm/statesync_wasm.js?instance=${++copies}`, import.meta.url).href;
    const glue = (await import(/* webpackIgnore: true */ /* @vite-ignore */ url)) as Glue;
    const fresh = await start(glue);
    current = fresh;
    wasm = fresh.glue;
    replacing = null;
  } catch (e) {
    // Tried again by the next `ready()`.
    replacing = null;
    throw new SyncError("INTERNAL", `internal error: no fresh WebAssembly instance could be started after a bug (${String(e)}); reload the page`, {
      cause: e,
    });
  }
}

const compiled = await compile();
let current: Instance = await start(firstGlue);
/** The fresh instance being started, if one is. */
let replacing: Promise<void> | null = null;
/** Resolves when the replicas of every stopped instance have let go of their databases. */
let released: Promise<void> = Promise.resolve();

/** The wasm-bindgen exports of the running instance, every call guarded. */
export let wasm: Glue = current.glue;

/** The running instance. */
export function instance(): Instance {
  return current;
}

/**
 * Resolves when an instance runs and the replicas of stopped ones have let go of their
 * databases: `SyncManager.open` waits for it, so that it reopens what IndexedDB holds.
 */
export async function ready(): Promise<void> {
  while (current.stopped) await (replacing ??= replace());
  await released;
}
