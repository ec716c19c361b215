'use strict'
// SyncError, and the one conversion of every error the native module throws into it.

// SyncError and the callback rule are the JS code both packages share (js/src/errors.ts,
// compiled into lib/shared/ by the package build).
const { SyncError, useErrorCodes, callbackCode } = require('./shared/errors.js')

/** The core's error codes (`statesync::ErrorCode::ALL`, INTERNAL for a bug among them), read from the core. */
const CODES = new Set(require('../native.cjs').errorCodes())
useErrorCodes([...CODES])

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
 * The SyncError for anything a native call threw. The native module throws a core error as an
 * Error whose `code` is the core's code and whose message is the core's (node/src/errors.rs; a
 * panic inside the core is INTERNAL, "a bug in statesync: ..."); an error with another code, such
 * as a Rust panic napi caught outside the core, is INTERNAL. What an application callback threw
 * becomes the cause in the shared layer (js/src/manager.ts), not here.
 */
function toSyncError(error) {
  if (error instanceof SyncError) return error
  const text = error instanceof Error ? error.message : String(error)
  if (error instanceof Error && CODES.has(error.code)) return new SyncError(error.code, text)
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

/**
 * Makes every getter and method of a native class (and its static methods) throw a SyncError
 * instead of what the native module throws: those classes are handed to the application as they
 * are, so no call of theirs passes through a JS wrapper otherwise.
 */
function guardNativeClass(cls) {
  const guard = (f) =>
    function (...args) {
      try {
        return f.apply(this, args)
      } catch (error) {
        throw toSyncError(error)
      }
    }
  for (const target of [cls.prototype, cls]) {
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(target))) {
      if (name === 'constructor' || name === 'prototype' || !d.configurable) continue
      if (typeof d.get === 'function') d.get = guard(d.get)
      else if (typeof d.value === 'function') d.value = Object.defineProperty(guard(d.value), 'name', { value: name })
      else continue
      Object.defineProperty(target, name, d)
    }
  }
  return cls
}

/**
 * The code and message the native module gets for what an application callback threw: a
 * SyncError keeps its code, anything else is `otherCode` (the thrown value itself stays in JS,
 * as the cause of the error the call fails with).
 */
function describeForNative(error, otherCode) {
  if (error instanceof SyncError) return { code: error.code, message: error.message }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return { code: callbackCode(error, otherCode), message }
}

/** Throws INVALID_INPUT. */
function invalidInput(message, cause) {
  throw new SyncError('INVALID_INPUT', message, cause === undefined ? undefined : { cause })
}

module.exports = { SyncError, toSyncError, callNative, guardNativeClass, describeForNative, invalidInput }
