// What the Swift binding adds on top of the core: typed errors with codes, Codable helpers,
// callbacks (listener, resolver, transport), async/await (cancellation), threads, closing.
import Foundation
import XCTest
@testable import Statesync

struct Settings: Codable, Equatable {
    var theme: String
    var fontSize: Int
}

func memory(_ node: String, _ strategy: ConflictStrategy? = nil) throws -> SyncManager {
    try SyncManager(config: ManagerConfig(nodeId: node, strategy: strategy))
}

final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func update(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
    var get: T { lock.lock(); defer { lock.unlock() }; return value }
}

final class ApiTests: XCTestCase {
    func testErrorsAreTypedWithCodeAndMessage() throws {
        let m = try memory("a")
        XCTAssertThrowsError(try m.updateState(id: "nope", data: "1")) { error in
            guard case SyncError.NotFound(let message) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(message, "not found: state \"nope\"")
            XCTAssertEqual((error as! SyncError).code, "NOT_FOUND")
        }
        XCTAssertThrowsError(try m.createState(data: "{oops")) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_INPUT") }
        XCTAssertThrowsError(try m.importJson(json: "{", replace: false)) { XCTAssertEqual(($0 as? SyncError)?.code, "CORRUPT") }
        try m.close()
        XCTAssertThrowsError(try m.nodeId()) { XCTAssertEqual(($0 as? SyncError)?.code, "CLOSED") }
        XCTAssertEqual(m.status(), .closed)
    }

    func testCodableHelpers() throws {
        let m = try memory("a")
        try m.createState(value: Settings(theme: "dark", fontSize: 12), id: "settings")
        try m.updateState(id: "settings", value: Settings(theme: "light", fontSize: 14))
        XCTAssertEqual(try m.getState(id: "settings")?.decode(Settings.self), Settings(theme: "light", fontSize: 14))
        XCTAssertEqual(try m.pendingOperations().count, 2)
    }

    func testListenerHearsEventsInOrderAndUnsubscribes() throws {
        let m = try memory("a")
        let seen = Box<[String]>([])
        let sub = try m.subscribe { event in seen.update { $0.append(event.name + ":" + (event.state?.id ?? "")) } }
        try m.createState(data: "1", id: "x")
        try m.updateState(id: "x", data: "2")
        try m.deleteState(id: "x")
        XCTAssertEqual(seen.get, ["stateCreated:x", "stateUpdated:x", "stateDeleted:x"])
        XCTAssertTrue(sub.unsubscribe())
        try m.createState(data: "3", id: "y")
        XCTAssertEqual(seen.get.count, 3)
    }

    func testEventsAsAsyncStream() async throws {
        let a = try memory("a"), b = try memory("b")
        let stream = a.events()
        try b.createState(data: "{\"v\":1}", id: "from-b")
        _ = try await a.syncWith(other: b)
        var names: [String] = []
        for await event in stream {
            names.append(event.name)
            if event.name == "syncCompleted" { break }
        }
        XCTAssertEqual(Array(names.prefix(3)), ["syncStarted", "statusChanged", "stateCreated"])
    }

    func testThrowingResolverIsResolverErrorAndChangesNothing() throws {
        struct Boom: Error {}
        let a = try memory("a", customStrategy { _, _ in throw Boom() })
        let b = try memory("b")
        try a.createState(data: "{\"v\":1}", id: "s")
        _ = try b.applyRemoteState(state: try a.getState(id: "s")!)
        try a.updateState(id: "s", data: "{\"v\":2}")
        let remote = try b.updateState(id: "s", data: "{\"v\":3}")
        let before = try a.exportState()
        XCTAssertThrowsError(try a.applyRemoteState(state: remote)) { XCTAssertEqual(($0 as? SyncError)?.code, "RESOLVER") }
        XCTAssertEqual(try a.exportState(), before)
    }

    final class Forwarding: SyncTransport, @unchecked Sendable {
        let peer: SyncTransport
        let failWith: CallbackError?
        let gate: DispatchSemaphore?
        init(_ peer: SyncTransport, failWith: CallbackError? = nil, gate: DispatchSemaphore? = nil) {
            self.peer = peer
            self.failWith = failWith
            self.gate = gate
        }
        func capabilities() throws -> SyncCapabilities {
            if let gate = gate { _ = gate.wait(timeout: .now() + 10) }
            if let e = failWith { throw e }
            return try peer.capabilities()
        }
        func pull(cursor: String?, context: SyncContext) throws -> ChangeSet { try peer.pull(cursor: cursor, context: context) }
        func push(changes: ChangeSet) throws -> ReconciliationResult { try peer.push(changes: changes) }
    }

    func testSwiftTransportSyncsAndKeepsErrorCodes() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        try phone.createState(data: "{\"theme\":\"dark\"}", id: "settings")
        let report = try await phone.sync(transport: Forwarding(hub.asTransport()))
        XCTAssertEqual(report.pushed.created, 1)
        XCTAssertEqual(try hub.getState(id: "settings"), try phone.getState(id: "settings"))
        do {
            _ = try await phone.sync(transport: Forwarding(hub.asTransport(), failWith: transportFailure("bad token", code: "UNAUTHORIZED")))
            XCTFail("the sync succeeded")
        } catch let e as SyncError {
            XCTAssertEqual(e.code, "UNAUTHORIZED")
        }
    }

    func testCancellingASuspendedSyncReturnsAtOnce() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        let gate = DispatchSemaphore(value: 0)
        let task = Task { try await phone.sync(transport: Forwarding(hub.asTransport(), gate: gate)) }
        try await Task.sleep(nanoseconds: 100_000_000)
        let started = Date()
        task.cancel()
        _ = await task.result
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        try phone.createState(data: "1", id: "still-usable")
        gate.signal()
    }

    func testOneReplicaFromManyTasks() async throws {
        let m = try memory("shared")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask { for i in 0..<100 { try m.createState(data: "{\"t\":\(t)}", id: "t\(t)-\(i)") } }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try m.listStates().count, 800)
        XCTAssertEqual(Set(try m.pendingOperations().map { $0.opId }).count, 800)
    }

    func testAsyncOpenAndMergeFields() async throws {
        let a = try await SyncManager.open(config: ManagerConfig(nodeId: "a", strategy: .mergeFields))
        let b = try await SyncManager.open(config: ManagerConfig(nodeId: "b", strategy: .mergeFields))
        try a.createState(data: "{\"theme\":\"dark\",\"font\":12}", id: "s")
        _ = try await a.syncWith(other: b)
        try a.updateState(id: "s", data: "{\"theme\":\"light\",\"font\":12}")
        try b.updateState(id: "s", data: "{\"theme\":\"dark\",\"font\":16}")
        _ = try await a.syncWith(other: b)
        XCTAssertEqual(try JSONValue.parse(try a.getState(id: "s")!.data), try JSONValue.parse("{\"theme\":\"light\",\"font\":16}"))
    }
}
