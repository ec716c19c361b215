// The idiomatic Swift layer over the generated bindings (module StatesyncUniffi, re-exported):
// error codes, Codable helpers for JSON data, events as an AsyncStream, closures as listeners
// and resolvers. Everything here is a thin convenience: the behaviour is the Rust core's.
@_exported import StatesyncUniffi
import Foundation

extension SyncError {
    /// The stable, language-independent code (`NOT_FOUND`, `INVALID_STATE`, ...): the core's
    /// `SyncError::code`, the same in every binding. `INTERNAL` (`.Internal`) is a bug in
    /// statesync, a panic caught at the boundary: any call may throw it, nothing of the call was
    /// applied, and the replica stays usable.
    public var code: String {
        // In the core's order; core/tests/error_codes.rs checks the list. statesync:error-codes
        switch self {
        case .NotFound: return "NOT_FOUND"
        case .AlreadyExists: return "ALREADY_EXISTS"
        case .InvalidState: return "INVALID_STATE"
        case .InvalidInput: return "INVALID_INPUT"
        case .Conflict: return "CONFLICT"
        case .Resolver: return "RESOLVER"
        case .Storage: return "STORAGE"
        case .Corrupt: return "CORRUPT"
        case .UnsupportedFormat: return "UNSUPPORTED_FORMAT"
        case .Unauthorized: return "UNAUTHORIZED"
        case .Forbidden: return "FORBIDDEN"
        case .Crypto: return "CRYPTO"
        case .Transport: return "TRANSPORT"
        case .Closed: return "CLOSED"
        case .Internal: return "INTERNAL"
        // statesync:error-codes-end
        }
    }

    /// The readable message (the core's text, e.g. `not found: state "x"`).
    public var message: String {
        switch self {
        case .NotFound(let m), .AlreadyExists(let m), .InvalidState(let m), .InvalidInput(let m),
             .Conflict(let m), .Resolver(let m), .Storage(let m), .Corrupt(let m),
             .UnsupportedFormat(let m), .Unauthorized(let m), .Forbidden(let m), .Crypto(let m),
             .Transport(let m), .Closed(let m), .Internal(let m):
            return m
        }
    }
}

/// The error a `SyncTransport` of your own throws: `code` is a statesync code (`TRANSPORT` for
/// "try again later", `UNAUTHORIZED`, ...). Any other error a transport throws is `TRANSPORT`.
public func transportFailure(_ reason: String, code: String = "TRANSPORT") -> CallbackError {
    .Failed(code: code, reason: reason)
}

// ---- JSON data with Codable ------------------------------------------------------------------

extension SyncState {
    /// The state's data decoded into `T` (any `Decodable`).
    public func decode<T: Decodable>(_ type: T.Type, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(data.utf8))
    }
}

extension SyncOperation {
    /// The operation's data decoded into `T`.
    public func decode<T: Decodable>(_ type: T.Type, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(data.utf8))
    }
}

/// JSON text of an `Encodable` value.
public func jsonText<T: Encodable>(_ value: T, using encoder: JSONEncoder = JSONEncoder()) throws -> String {
    String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension SyncManager {
    /// Creates a state holding `value` encoded as JSON.
    @discardableResult
    public func createState<T: Encodable>(value: T, id: String? = nil, collection: String? = nil) throws -> SyncState {
        try createState(data: jsonText(value), id: id, collection: collection)
    }

    /// Replaces a live state's data with `value` encoded as JSON.
    @discardableResult
    public func updateState<T: Encodable>(id: String, value: T) throws -> SyncState {
        try updateState(id: id, data: jsonText(value))
    }

    /// Calls `handler` for every event, on the thread that committed it (after the commit,
    /// outside every lock). Keep the `Subscription` and call `unsubscribe()` to stop.
    public func subscribe(_ handler: @escaping @Sendable (SyncEvent) -> Void) throws -> Subscription {
        try subscribe(listener: ClosureListener(handler))
    }

    /// Every event of this replica from now on, in commit order. Subscribes at once; ending
    /// the iteration (or cancelling its task) unsubscribes. The buffer is unbounded.
    public func events() -> AsyncStream<SyncEvent> {
        AsyncStream { continuation in
            do {
                let subscription = try self.subscribe { event in continuation.yield(event) }
                continuation.onTermination = { _ in _ = try? subscription.unsubscribe() }
            } catch {
                continuation.finish()
            }
        }
    }
}

/// A manual resolution writing `value`.
public func customResolution<T: Encodable>(_ value: T) throws -> Resolution {
    .custom(data: try jsonText(value))
}

/// A custom conflict strategy from a closure. It must be deterministic and commutative;
/// whatever it throws fails the call with `RESOLVER`.
public func customStrategy(_ resolve: @escaping @Sendable (SyncState, SyncState) throws -> Resolved) -> ConflictStrategy {
    .custom(resolver: ClosureResolver(resolve))
}

final class ClosureListener: SyncListener, @unchecked Sendable {
    private let handler: @Sendable (SyncEvent) -> Void
    init(_ handler: @escaping @Sendable (SyncEvent) -> Void) { self.handler = handler }
    func onEvent(event: SyncEvent) throws { handler(event) }
}

final class ClosureResolver: ConflictResolver, @unchecked Sendable {
    private let body: @Sendable (SyncState, SyncState) throws -> Resolved
    init(_ body: @escaping @Sendable (SyncState, SyncState) throws -> Resolved) { self.body = body }
    func resolve(local: SyncState, remote: SyncState) throws -> Resolved {
        do {
            return try body(local, remote)
        } catch let error as CallbackError {
            throw error
        } catch {
            throw CallbackError.Failed(code: "RESOLVER", reason: String(describing: error))
        }
    }
}

// ---- object storage: backups and sync through a bucket ----------------------------------------
//
// The generated API has the calls themselves: `EncryptionKey.fromBytes(bytes:)` /
// `fromPassphrase(passphrase:salt:)`, `encrypt` / `decrypt`, `SyncManager.backup` /
// `restoreBackup` / `startAutoBackup`, the functions `listBackups`, `verifyBackup`,
// `pruneBackups`, `BackupInfo`, `AutoBackup` and `ObjectStoreTransport(url:key:)` with
// `compact()`; the calls that touch storage are `async`. A bucket is not a `SyncTransport` (it
// must learn which replica syncs through it, which that protocol cannot carry), so the overloads
// below make it usable exactly where an `HttpTransport` goes.

extension SyncManager {
    /// A complete sync round through a bucket (see `sync(transport:context:)` for a
    /// `SyncTransport`): pulls the other replicas' segments after this replica's cursors, then
    /// appends this replica's changes as a segment of its own. Every replica of the bucket must
    /// use the same key.
    @discardableResult
    public func sync(transport: ObjectStoreTransport, context: SyncContext? = nil) async throws -> SyncReport {
        try await syncBucket(bucket: transport, context: context)
    }

    /// Syncs through a bucket every `interval` seconds on the manager's own background runtime
    /// until `stopAutoSync()` or close (see `startAutoSync(interval:transport:context:)`).
    public func startAutoSync(interval: TimeInterval, transport: ObjectStoreTransport, context: SyncContext? = nil) throws {
        try startAutoSyncBucket(interval: interval, bucket: transport, context: context)
    }
}

extension EncryptionKey {
    /// A key derived from `passphrase` and a salt given as text (its UTF-8 bytes; 8 to 64 of
    /// them) with Argon2id at the core's default costs.
    public static func fromPassphrase(_ passphrase: String, salt: String) throws -> EncryptionKey {
        try fromPassphrase(passphrase: passphrase, salt: Data(salt.utf8))
    }
}

// ---- events ------------------------------------------------------------------------------------

extension SyncEvent {
    /// The event's name in every binding (`stateCreated`, `syncCompleted`, ...).
    public var name: String {
        switch self {
        case .stateCreated: return "stateCreated"
        case .stateUpdated: return "stateUpdated"
        case .stateDeleted: return "stateDeleted"
        case .conflictDetected: return "conflictDetected"
        case .conflictResolved: return "conflictResolved"
        case .stateRejected: return "stateRejected"
        case .syncStarted: return "syncStarted"
        case .syncCompleted: return "syncCompleted"
        case .syncFailed: return "syncFailed"
        case .statusChanged: return "statusChanged"
        }
    }

    /// The state a state event carries, `nil` for the other events.
    public var state: SyncState? {
        switch self {
        case .stateCreated(let s), .stateUpdated(let s), .stateDeleted(let s): return s
        default: return nil
        }
    }
}
