// Sync rounds. The core's sans-IO round (wasm `Round`) says what to send; this file does the
// I/O: `fetch` for the built-in HttpTransport (docs/protocol.md), or an application Transport
// whose methods may return Promises.
import type * as shape from "./statesync.js";
import type { NativeReport } from "./shared/native.js";
import type { Manager } from "./wasm/statesync_wasm.js";
import { wasm } from "./runtime.js";
import { SyncError, asSyncError, callbackError } from "./errors.js";
// What an application's transport must look like and return: shared with the Node package.
import { checkTransport, pushCounts } from "./shared/transport.js";
import { ChangeSet, changeSetText, stateOfHandle } from "./shared/values.js";

const BINARY = "application/vnd.statesync+binary";

/**
 * The built-in client of the HTTP sync protocol, over `fetch`. `space` names the hub space synced
 * with (`/v1/spaces/{space}/...`; the core checks the id and builds the paths, through the glue),
 * `token` is sent as `Authorization: Bearer <token>`.
 */
export class HttpTransport {
  readonly baseUrl: string;
  /** The hub space synced with, or null: the hub's `default` space. */
  readonly space: string | null;
  readonly #headers: Record<string, string>;
  /** The path of each endpoint, from the core (`endpoint_path`). */
  readonly #paths: Record<"capabilities" | "pull" | "push", string>;
  readonly #timeoutMs: number;
  readonly #binary: boolean;

  constructor(baseUrl: string, options: shape.HttpTransportOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl.trim().replace(/\/+$/, ""));
    } catch {
      throw new SyncError("INVALID_INPUT", `invalid input: not a sync peer URL (malformed): ${JSON.stringify(baseUrl)}`);
    }
    if (!["http:", "https:"].includes(url.protocol) || url.search || url.hash || !url.host) {
      throw new SyncError("INVALID_INPUT", `invalid input: not a sync peer URL: ${JSON.stringify(baseUrl)}`);
    }
    this.baseUrl = baseUrl.trim().replace(/\/+$/, "");
    const { space, token } = options;
    if (space !== undefined && typeof space !== "string") {
      throw new SyncError("INVALID_INPUT", `invalid input: space is ${typeof space}: a string`);
    }
    if (token !== undefined && typeof token !== "string") {
      throw new SyncError("INVALID_INPUT", `invalid input: token is ${typeof token}: a string`);
    }
    // The core's rule and routes (INVALID_INPUT for a bad space id), not a copy of them here.
    const path = (endpoint: string) => wasm.endpointPath(space, endpoint);
    this.#paths = { capabilities: path("capabilities"), pull: path("pull"), push: path("push") };
    this.space = space ?? null;
    this.#headers = { ...(options.headers ?? {}) };
    if (token !== undefined) {
      // The token wins over an Authorization header among `headers`, whatever its case.
      for (const name of Object.keys(this.#headers)) {
        if (name.toLowerCase() === "authorization") delete this.#headers[name];
      }
      this.#headers.authorization = `Bearer ${token}`;
    }
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#binary = (options.encoding ?? "binary") === "binary";
    // `compress`: the browser build has no zstd, so bodies are never compressed.
  }

  /** @internal One request; a non-2xx answer becomes the SyncError it stands for. */
  async _request(path: string, init: RequestInit & { accept: string }): Promise<{ body: Uint8Array; type: string | null }> {
    const url = this.baseUrl + path;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    try {
      const headers: Record<string, string> = { ...this.#headers, accept: init.accept };
      if (init.body !== undefined) headers["content-type"] = (init.headers as Record<string, string>)["content-type"];
      const response = await fetch(url, { method: init.method, body: init.body, headers, signal: controller.signal });
      const body = new Uint8Array(await response.arrayBuffer());
      if (!response.ok) throw wasm.httpError(url, response.status, body, response.headers.get("retry-after") ?? undefined);
      const encoding = response.headers.get("content-encoding");
      if (encoding && encoding.trim() !== "identity") {
        throw new SyncError("UNSUPPORTED_FORMAT", `unsupported format: ${url} answered in Content-Encoding ${encoding}`);
      }
      return { body, type: response.headers.get("content-type") };
    } catch (e) {
      if (e instanceof SyncError) throw e;
      const why = controller.signal.aborted ? `timed out after ${this.#timeoutMs} ms` : String((e as Error)?.message ?? e);
      throw new SyncError("TRANSPORT", `transport error: ${url}: ${why}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** @internal */
  _binary(): boolean {
    return this.#binary;
  }

  /** @internal The path of `endpoint` under `baseUrl`. */
  _path(endpoint: "capabilities" | "pull" | "push"): string {
    return this.#paths[endpoint];
  }
}

/** Calls a method of the application's transport: what it throws becomes `callbackError`. */
async function appCall<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw callbackError(e, "TRANSPORT");
  }
}

/**
 * Runs one round of `manager` with `transport`; `flush` delivers events and journal writes.
 * `glue` is that of the instance `manager` lives in (another instance refuses its handle).
 */
export async function runRound(
  glue: typeof wasm,
  manager: Manager,
  transport: shape.Transport | HttpTransport,
  options: shape.ScopeOptions,
  flush: () => void,
): Promise<NativeReport> {
  const collections = options.collections ?? [];
  const http = transport instanceof HttpTransport ? transport : null;
  if (!http) checkTransport(transport);
  let capabilities: string;
  let binary = false;
  try {
    if (http) {
      const reply = await http._request(http._path("capabilities"), { method: "GET", accept: "application/json" });
      capabilities = new TextDecoder().decode(reply.body);
      try {
        binary = http._binary() && JSON.parse(capabilities).binary === true;
      } catch {
        // The core reports malformed capabilities below.
      }
    } else {
      // The core reads the camelCase names as they are (SyncCapabilities::from_json).
      capabilities = JSON.stringify(await appCall(() => (transport as shape.Transport).capabilities()));
    }
  } catch (e) {
    const error = asSyncError(e, "TRANSPORT");
    glue.roundFailedToStart(manager, error.code, error.message);
    flush();
    throw error;
  }
  let round;
  try {
    round = new glue.Round(manager, capabilities, collections, options.limit);
  } finally {
    flush();
  }
  try {
    for (;;) {
      const step = JSON.parse(round.next());
      flush();
      if (step.step === "done") {
        return step.report as NativeReport;
      }
      try {
        if (step.step === "pull") {
          if (http) {
            const body = glue.pullRequestBody(step.cursor ?? undefined, step.collections, step.limit ?? undefined);
            const reply = await http._request(http._path("pull"), {
              method: "POST",
              body,
              headers: { "content-type": "application/json" },
              accept: binary ? BINARY : "application/json",
            });
            const isBinary = glue.replyIsBinary(http.baseUrl + http._path("pull"), reply.type ?? undefined);
            round.pulledBytes(reply.body, isBinary);
          } else {
            const page = await appCall(async () => {
              const p = await (transport as shape.Transport).pull(step.cursor, step.collections, step.limit);
              if (!(p instanceof ChangeSet)) {
                throw new TypeError("transport.pull() must return a ChangeSet (decodeChangeSet() makes one from bytes)");
              }
              return p;
            });
            round.pulledJson(changeSetText(page));
          }
        } else {
          let result: string;
          if (http) {
            const reply = await http._request(http._path("push"), {
              method: "POST",
              body: round.pushBody(binary) as BufferSource,
              headers: { "content-type": binary ? BINARY : "application/json" },
              accept: "application/json",
            });
            result = glue.pushResult(http.baseUrl + http._path("push"), reply.body);
          } else {
            const [cursor, hasMore] = JSON.parse(round.pushPosition()) as [string, boolean];
            const states = round.pushStates().map(stateOfHandle);
            result = await appCall(async () => pushCounts(await (transport as shape.Transport).push(new ChangeSet(states, cursor, hasMore))));
          }
          round.pushed(result);
        }
      } catch (e) {
        const error = asSyncError(e, "TRANSPORT");
        if (!round.isFinished()) round.fail(error.code, error.message.replace(/^[a-z ]+: /, ""));
        throw error;
      } finally {
        flush();
      }
    }
  } finally {
    round.free();
  }
}
