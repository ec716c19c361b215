'use strict'
// SyncError, and the one conversion of every error the native module throws into it.

/** The codes of the core's error variants, plus INTERNAL for a bug (a Rust panic). */
const CODES = new Set([
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_STATE',
  'INVALID_INPUT',
  'CONFLICT',
  'RESOLVER',
  'STORAGE',
  'CORRUPT',
  'UNSUPPORTED_FORMAT',
  'TRANSPORT',
  'UNAUTHORIZED',
  'CLOSED',
  'INTERNAL',
])

/** The one error type of the package: `code` says which core variant it is. */
class SyncError extends Error {
  constructor(code, message, options) {
    super(message, options)
    this.code = CODES.has(code) ? code : 'INTERNAL'
  }

  get name() {
    return 'SyncError'
  }
}

// napi-rs's own argument conversion failures: the application passed a value of the wrong type.
const NAPI_ARGUMENT_CODES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
])

/**
 * The SyncError for anything a native call threw. The native module writes core errors as
 * "[CODE] message"; `cause` is what an application callback (resolver, transport) threw.
 */
function toSyncError(error, cause) {
  if (error instanceof SyncError) return error
  const text = error instanceof Error ? error.message : String(error)
  const match = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(text)
  const options = cause === undefined ? undefined : { cause }
  if (match) return new SyncError(match[1], match[2], options)
  if (error instanceof Error && NAPI_ARGUMENT_CODES.has(error.code)) {
    return new SyncError('INVALID_INPUT', text, { cause: error })
  }
  return new SyncError('INTERNAL', `statesync internal error: ${text}`, { cause: error })
}

/** Calls a native function, turning whatever it throws into a SyncError. */
function callNative(f, ...args) {
  try {
    return f(...args)
  } catch (error) {
    throw toSyncError(error)
  }
}

/** "[CODE] message" for an error an application callback threw: a SyncError keeps its code. */
function describeForNative(error, otherCode) {
  if (error instanceof SyncError) return `[${error.code}] ${error.message}`
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return `[${otherCode}] ${text}`
}

/** Throws INVALID_INPUT. */
function invalidInput(message, cause) {
  throw new SyncError('INVALID_INPUT', message, cause === undefined ? undefined : { cause })
}

module.exports = { SyncError, toSyncError, callNative, describeForNative, invalidInput }
