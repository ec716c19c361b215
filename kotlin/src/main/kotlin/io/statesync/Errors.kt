// The idiomatic Kotlin layer over the generated bindings: error codes.
package io.statesync

/**
 * The stable, language-independent code of this error (`NOT_FOUND`, `INVALID_STATE`, ...):
 * the core's `SyncError::code`, the same in every binding. The subclass says the same thing
 * (`SyncException.NotFound`); `message` is the readable text. `INTERNAL`
 * (`SyncException.Internal`) is a bug in statesync, a panic caught at the boundary: any call
 * may throw it, nothing of the call was applied, and the replica stays usable.
 */
val SyncException.code: String
    // In the core's order; core/tests/error_codes.rs checks the list. statesync:error-codes
    get() = when (this) {
        is SyncException.NotFound -> "NOT_FOUND"
        is SyncException.AlreadyExists -> "ALREADY_EXISTS"
        is SyncException.InvalidState -> "INVALID_STATE"
        is SyncException.InvalidInput -> "INVALID_INPUT"
        is SyncException.Conflict -> "CONFLICT"
        is SyncException.Resolver -> "RESOLVER"
        is SyncException.Storage -> "STORAGE"
        is SyncException.Corrupt -> "CORRUPT"
        is SyncException.UnsupportedFormat -> "UNSUPPORTED_FORMAT"
        is SyncException.Unauthorized -> "UNAUTHORIZED"
        is SyncException.Forbidden -> "FORBIDDEN"
        is SyncException.Crypto -> "CRYPTO"
        is SyncException.Transport -> "TRANSPORT"
        is SyncException.Closed -> "CLOSED"
        is SyncException.Internal -> "INTERNAL"
    }
// statesync:error-codes-end

/**
 * The error a [SyncTransport] of your own throws: [code] is a statesync code (`TRANSPORT` for
 * "try again later", `UNAUTHORIZED`, ...). Any other exception a transport throws is `TRANSPORT`.
 */
fun transportFailure(reason: String, code: String = "TRANSPORT"): CallbackException =
    CallbackException.Failed(code, reason)

/** This error as a [CallbackException], to rethrow from a transport that called a manager. */
fun SyncException.toCallbackException(): CallbackException = CallbackException.Failed(code, message ?: "")
