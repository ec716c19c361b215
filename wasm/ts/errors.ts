// The one error class of the package: `code` is the core's SyncError::code().
import type { ErrorCode } from "./statesync.js";

/** The one error type: `code` says which core variant it is. */
export class SyncError extends Error {
  declare readonly name: "SyncError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, "name", { value: "SyncError", enumerable: false, configurable: true });
    this.code = code;
  }
}

/** Any thrown value as a SyncError: SyncErrors pass, others become `code` with the original as cause. */
export function asSyncError(e: unknown, code: ErrorCode = "INTERNAL"): SyncError {
  if (e instanceof SyncError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SyncError(code, message, { cause: e });
}

/**
 * The error a call fails with when an application callback (a transport method) threw `e`:
 * `code`, or the code of a SyncError the callback threw itself, with `e` itself as the cause,
 * whatever it is. The same rule in every binding (js/tests/callback-cause.mjs checks it).
 */
export function callbackError(e: unknown, code: ErrorCode): SyncError {
  const message = e instanceof Error ? e.message : String(e);
  return new SyncError(e instanceof SyncError ? e.code : code, message, { cause: e });
}
