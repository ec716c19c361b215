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
        // Integers beyond ±(2^53 - 1) are not held alike by every language: refused as data.
        XCTAssertThrowsError(try m.createState(data: "{\"n\":9007199254740992}")) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_INPUT") }
        XCTAssertThrowsError(try m.importJson(json: "{", replace: false)) { XCTAssertEqual(($0 as? SyncError)?.code, "CORRUPT") }
        try m.close()
        XCTAssertThrowsError(try m.nodeId()) { XCTAssertEqual(($0 as? SyncError)?.code, "CLOSED") }
        XCTAssertEqual(try m.status(), .closed)
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
        XCTAssertTrue(try sub.unsubscribe())
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

    // ---- refused states, limits ----------------------------------------------------------------

    /// Two replicas holding the same id in different collections: each refuses the other's.
    func clashingReplicas() throws -> (SyncManager, SyncManager) {
        let a = try SyncManager(config: ManagerConfig(nodeId: "a", clock: ManualClock(millis: 5_000)))
        let b = try SyncManager(config: ManagerConfig(nodeId: "b", clock: ManualClock(millis: 7_000)))
        _ = try a.createState(data: "{\"v\":\"a\"}", id: "s", collection: "one")
        _ = try b.createState(data: "{\"v\":\"b\"}", id: "s", collection: "two")
        _ = try a.createState(data: "{\"v\":1}", id: "fine")
        return (a, b)
    }

    func testAPullRefusesAStateAloneRecordsAndAnnouncesIt() async throws {
        let (a, b) = try clashingReplicas()
        let heard = Box<[String]>([])
        let subscription = try b.subscribe { event in
            if case .stateRejected(let stateId, let code, _) = event { heard.update { $0.append(stateId + ":" + code) } }
        }
        let report = try await b.syncWith(other: a)
        XCTAssertEqual(report.pulled.created, 1)
        XCTAssertEqual(report.pulled.rejected, 1)
        XCTAssertEqual(report.pulled.rejections.map { $0.id }, ["s"])
        XCTAssertEqual(report.pulled.rejections.map { $0.code }, ["INVALID_STATE"])
        XCTAssertEqual(try b.getState(id: "s")?.data, "{\"v\":\"b\"}")
        let rejections = try b.rejections()
        XCTAssertEqual(rejections.count, 1)
        XCTAssertEqual(rejections.first?.stateId, "s")
        XCTAssertEqual(rejections.first?.code, "INVALID_STATE")
        XCTAssertEqual(rejections.first?.rejectedAt, 7_000)
        XCTAssertEqual(heard.get, ["s:INVALID_STATE"])
        // The other direction of the round: a refused b's "s" in its own pull.
        XCTAssertEqual(report.pushed.rejected, 1)
        XCTAssertEqual(try a.rejections().map { $0.stateId }, ["s"])
        XCTAssertTrue(try subscription.unsubscribe())
    }

    func testRejectionsSurviveAReopen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statesync-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.db").path
        let a = try memory("a")
        _ = try a.createState(data: "1", id: "s", collection: "one")
        let b = try SyncManager(config: ManagerConfig(nodeId: "b", path: path))
        _ = try b.createState(data: "2", id: "s", collection: "two")
        _ = try b.applyChanges(peer: "a", changes: try a.changesSince())
        XCTAssertEqual(try b.rejections().count, 1)
        try b.close()
        let reopened = try SyncManager(config: ManagerConfig(path: path))
        XCTAssertEqual(try reopened.rejections().map { $0.stateId }, ["s"])
        try reopened.close()
    }

    func testReconcileReportsWhatItRefusedAndRecordsNothing() throws {
        let (a, b) = try clashingReplicas()
        let result = try b.reconcile(states: try a.listStates().sorted { $0.id < $1.id })
        XCTAssertEqual(result.created, 1)
        XCTAssertEqual(result.rejected, 1)
        XCTAssertEqual(result.rejections.map { $0.id }, ["s"])
        XCTAssertEqual(result.rejections.map { $0.code }, ["INVALID_STATE"])
        XCTAssertEqual(try b.getState(id: "fine")?.data, "{\"v\":1}")
        XCTAssertEqual(try b.rejections().count, 0, "reconcile reports refusals; only sync rounds record them")
        XCTAssertThrowsError(try b.applyRemoteState(state: try a.getState(id: "s")!)) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_STATE") }
    }

    func testLimitsAreOptionsCheckedAndInEffect() throws {
        let defaults = ManagerConfig()
        XCTAssertEqual(defaults.maxStateBytes, 1_048_576)
        XCTAssertNil(defaults.maxClockSkew)
        XCTAssertThrowsError(try SyncManager(config: ManagerConfig(maxStateBytes: 0))) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_INPUT") }

        let small = try SyncManager(config: ManagerConfig(nodeId: "small", maxStateBytes: 10))
        XCTAssertThrowsError(try small.createState(data: "\"0123456789\"")) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_INPUT") }
        _ = try small.createState(data: "\"01234567\"", id: "ten") // exactly 10 bytes
        let big = try memory("big").createState(data: "\"0123456789\"", id: "big")
        let result = try small.reconcile(states: [big])
        XCTAssertEqual(result.rejections.map { $0.id }, ["big"])
        XCTAssertEqual(result.rejections.map { $0.code }, ["INVALID_STATE"])

        // A state stamped 10 s ahead of a replica allowing 1 s of skew is refused; the default
        // (one hour) takes it.
        let future = try SyncManager(config: ManagerConfig(nodeId: "future", clock: ManualClock(millis: 11_000)))
            .createState(data: "1", id: "f")
        let strict = try SyncManager(config: ManagerConfig(nodeId: "strict", clock: ManualClock(millis: 1_000), maxClockSkew: 1))
        XCTAssertThrowsError(try strict.applyRemoteState(state: future)) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_STATE") }
        XCTAssertEqual(try strict.reconcile(states: [future]).rejected, 1)
        let lenient = try SyncManager(config: ManagerConfig(nodeId: "lenient", clock: ManualClock(millis: 1_000)))
        XCTAssertEqual(try lenient.applyRemoteState(state: future).outcome, .created)
    }

    /// A peer that refuses every state whose id starts with "bad", as a hub answers.
    final class Refusing: SyncTransport, @unchecked Sendable {
        let peer: SyncTransport
        init(_ peer: SyncTransport) { self.peer = peer }
        func capabilities() throws -> SyncCapabilities { try peer.capabilities() }
        func pull(cursor: String?, context: SyncContext) throws -> ChangeSet { try peer.pull(cursor: cursor, context: context) }
        func push(changes: ChangeSet) throws -> ReconciliationResult {
            let bad = changes.states.filter { $0.id.hasPrefix("bad") }
            var good = changes
            good.states = changes.states.filter { !$0.id.hasPrefix("bad") }
            var answer = try peer.push(changes: good)
            answer.rejected += UInt64(bad.count)
            answer.rejections += bad.map { RejectedState(id: $0.id, code: "INVALID_STATE", message: "the hub refuses \($0.id)") }
            return answer
        }
    }

    func testATransportsPushAnswerCarriesRejectionsThatThePusherRecords() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        let heard = Box<[String]>([])
        let subscription = try phone.subscribe { event in
            if case .stateRejected(let stateId, _, _) = event { heard.update { $0.append(stateId) } }
        }
        _ = try phone.createState(data: "1", id: "good")
        _ = try phone.createState(data: "2", id: "bad-1")
        let report = try await phone.sync(transport: Refusing(hub.asTransport()))
        XCTAssertEqual(report.pushed.created, 1)
        XCTAssertEqual(report.pushed.rejected, 1)
        XCTAssertEqual(report.pushed.rejections.map { $0.id }, ["bad-1"])
        let rejections = try phone.rejections()
        XCTAssertEqual(rejections.map { $0.stateId }, ["bad-1"])
        XCTAssertEqual(rejections.map { $0.code }, ["INVALID_STATE"])
        XCTAssertTrue(rejections.first?.message.contains("the hub refuses bad-1") ?? false)
        XCTAssertEqual(heard.get, ["bad-1"])
        XCTAssertEqual(try phone.pendingOperations().count, 0, "the refused version is not retried by itself")
        XCTAssertNil(try hub.getState(id: "bad-1"))
        // A later version that goes through clears the record.
        _ = try phone.updateState(id: "bad-1", data: "3")
        _ = try await phone.sync(transport: Forwarding(hub.asTransport()))
        XCTAssertEqual(try phone.rejections().count, 0)
        XCTAssertTrue(try subscription.unsubscribe())
    }

    /// A peer with a body limit of one byte: every pushed page holds one state.
    final class Cutting: SyncTransport, @unchecked Sendable {
        let peer: SyncTransport
        let pages = Box<[Int]>([])
        init(_ peer: SyncTransport) { self.peer = peer }
        func capabilities() throws -> SyncCapabilities {
            var capabilities = try peer.capabilities()
            capabilities.maxBodyBytes = 1
            return capabilities
        }
        func pull(cursor: String?, context: SyncContext) throws -> ChangeSet { try peer.pull(cursor: cursor, context: context) }
        func push(changes: ChangeSet) throws -> ReconciliationResult {
            pages.update { $0.append(changes.states.count) }
            return try peer.push(changes: changes)
        }
    }

    func testATransportsMaxBodyBytesCutsThePushedPages() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        XCTAssertNil(try hub.asTransport().capabilities().maxBodyBytes)
        for i in 0..<3 { _ = try phone.createState(data: "{\"i\":\(i)}", id: "s\(i)") }
        let transport = Cutting(try hub.asTransport())
        let report = try await phone.sync(transport: transport)
        XCTAssertEqual(report.pushed.created, 3)
        XCTAssertEqual(transport.pages.get.filter { $0 > 0 }, [1, 1, 1])
        XCTAssertEqual(try hub.listStates().count, 3)
    }

    func testDecodePageLeavesAnInvalidStateToTheReplica() throws {
        let a = try memory("a")
        _ = try a.createState(data: "1", id: "ok")
        _ = try a.createState(data: "2", id: "forged")
        var forged = try a.changesSince()
        forged.states = forged.states.map { state -> SyncState in
            var copy = state
            if copy.id == "forged" { copy.data = "3" }
            return copy
        }
        for encoding in [Encoding.json, Encoding.binary] {
            let bytes = try encodeChangeSet(changes: forged, encoding: encoding)
            XCTAssertThrowsError(try decodeChangeSet(bytes: bytes, encoding: encoding)) { XCTAssertEqual(($0 as? SyncError)?.code, "INVALID_STATE") }
            XCTAssertEqual(try decodePage(bytes: bytes, encoding: encoding), forged)
        }
        let b = try memory("b")
        let page = try decodePage(bytes: try encodeChangeSet(changes: forged, encoding: .binary), encoding: .binary)
        let result = try b.applyChanges(peer: "a", changes: page)
        XCTAssertEqual(result.created, 1)
        XCTAssertEqual(result.rejections.map { $0.id }, ["forged"])
        XCTAssertEqual(try b.rejections().map { $0.stateId }, ["forged"])
    }

    func testVectorClockHelpers() throws {
        XCTAssertEqual(try compareClocks(a: ["a": 1], b: ["b": 1]), .concurrent)
        XCTAssertEqual(try mergeClocks(a: ["a": 2], b: ["b": 1, "a": 1]), ["a": 2, "b": 1])
        XCTAssertTrue(try dominates(a: ["a": 2, "b": 1], b: ["a": 2]))
        XCTAssertEqual(try incrementClock(clock: ["a": 2], node: "b"), ClockIncrement(clock: ["a": 2, "b": 1], value: 1))
        XCTAssertEqual(try incrementClock(clock: ["a": 2, "z": 0], node: "a"), ClockIncrement(clock: ["a": 3], value: 3))
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
