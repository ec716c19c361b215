// No panic crosses the boundary (issue 14): a panic inside statesync reaches Swift as
// `SyncError.Internal` (code `INTERNAL`), the one error type the application handles, never as
// uniffi's own `UniffiInternalError` (or a trap); and the replica works on afterwards.
//
// The panic comes from the test-only entry point `SyncManager.panicForTests()`, which only the
// bindings of the tests have (`./generate.sh --testing`, from the library of the cargo feature
// `testing`); `STATESYNC_TESTING=1 swift test` builds them (see Package.swift).
import Foundation
import XCTest
@testable import Statesync

#if STATESYNC_TESTING
final class PanicTests: XCTestCase {
    func testAPanicInsideACallIsInternalAndTheReplicaReadsAndWritesOn() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statesync-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths: [String?] = [nil, dir.appendingPathComponent("a.db").path]
        for path in paths {
            let m = try SyncManager(config: ManagerConfig(nodeId: "a", path: path))
            _ = try m.createState(data: "1", id: "before")
            do {
                try m.panicForTests()
                XCTFail("panicForTests() returned")
            } catch let error as SyncError {
                XCTAssertEqual(error.code, "INTERNAL")
                guard case .Internal(let message) = error else {
                    XCTFail("not SyncError.Internal: \(error)")
                    continue
                }
                XCTAssertTrue(message.contains("panic_for_tests was called"), message)
            } catch {
                XCTFail("the panic arrived outside SyncError: \(error)")
            }
            // The panic struck inside a transaction with the replica's lock held: the
            // transaction left nothing, and the lock is usable again.
            XCTAssertNil(try m.getState(id: "panic-for-tests"), "the panicking transaction left nothing")
            XCTAssertEqual(try m.status(), .idle)
            _ = try m.updateState(id: "before", data: "2")
            _ = try m.createState(data: "3", id: "after")
            XCTAssertEqual(try m.listStates().map { $0.id }, ["after", "before"])
            XCTAssertEqual(try m.pendingOperations().map { $0.opId }, ["a:1", "a:2", "a:3"])
            // The async exports work as well: a round with another replica.
            let b = try SyncManager(config: ManagerConfig(nodeId: "b"))
            let report = try await b.syncWith(other: m)
            XCTAssertEqual(report.pulled.created, 2)
            try b.close()
            try m.close()
            if let path = path {
                // What the replica wrote after the panic is durable; the panic wrote nothing.
                let again = try SyncManager(config: ManagerConfig(path: path))
                XCTAssertEqual(try again.listStates(includeDeleted: true).map { $0.id }, ["after", "before"])
                try again.close()
            }
        }
    }
}
#else
final class PanicTests: XCTestCase {
    func testAPanicInsideACallIsInternalAndTheReplicaReadsAndWritesOn() {
        XCTFail("built without the test-only entry point: run `swift/generate.sh --testing`, then `STATESYNC_TESTING=1 swift test`")
    }
}
#endif
