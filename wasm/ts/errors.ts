// The one error class of the package, `code` being the core's SyncError::code(): the class and
// the callback rule are shared with the Node package (js/src/errors.ts, built into dist/shared/).
import type { ErrorCode } from "./statesync.js";
import { SyncError, callbackCode } from "./shared/errors.js";

export { SyncError };

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
  return new SyncError(callbackCode(e, code), message, { cause: e });
}
