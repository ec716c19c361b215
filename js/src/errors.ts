// SyncError, the one error class of the JS API (node/index.d.ts), and the rule for what an
// application callback's exception becomes: written once for both packages (js/README.md).
import type { ErrorCode } from 'statesync-api'

/** The core's codes (`statesync::ErrorCode::ALL`), registered by the package from its engine. */
let known: ReadonlySet<string> = new Set()

/**
 * Registers the core's error codes, read from the engine when the package loads (the napi addon's
 * `errorCodes()`, the wasm module's): no literal list of them in JS.
 */
export function useErrorCodes(codes: readonly string[]): void {
  known = new Set(codes)
}

/** The one error type: `code` says which core variant it is (a code the core lacks: INTERNAL). */
export class SyncError extends Error {
  declare readonly name: 'SyncError'
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = known.has(code) ? code : 'INTERNAL'
  }
}
Object.defineProperty(SyncError.prototype, 'name', { value: 'SyncError', configurable: true, writable: true })

/**
 * The code of the error a call fails with when an application callback threw `thrown`: the code
 * of a SyncError it threw itself, else `code` (RESOLVER for a resolver, TRANSPORT for a transport
 * method). Whatever was thrown becomes that error's `cause` (js/tests/callback-cause.mjs).
 */
export function callbackCode(thrown: unknown, code: ErrorCode): ErrorCode {
  return thrown instanceof SyncError ? thrown.code : code
}
