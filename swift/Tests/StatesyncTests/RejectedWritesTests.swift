// Rejected writes (docs/design.md §10) through the Swift API: the refusing peer's kept version
// crossing a Swift transport's push answer into the core (`RejectedState.current`), the record
// (`Rejection.own`, `Rejection.current`) and `revertRejected(stateId:)`. The core's rules
// themselves are conformance/rejections.json's business.
import Foundation
import XCTest
@testable import Statesync

/// A hub as a Swift transport: it refuses writes to the collection `locked` with `FORBIDDEN`,
/// reporting the version it keeps (or none), as the hub's push answer does; a version that
/// changes nothing it holds (the same content, or a deletion of what it lacks) goes through.
final class LockingHub: SyncTransport, @unchecked Sendable {
    let hub: SyncManager
    let peer: SyncTransport
    init(_ hub: SyncManager) throws {
        self.hub = hub
        self.peer = try hub.asTransport()
    }
    func capabilities() throws -> SyncCapabilities { try peer.capabilities() }
    func pull(cursor: String?, context: SyncContext) throws -> ChangeSet { try peer.pull(cursor: cursor, context: context) }
    func push(changes: ChangeSet) throws -> ReconciliationResult {
        let held = try hub.listStates(collection: nil, includeDeleted: true)
        let refused = changes.states.filter { s in
            let kept = held.first { $0.id == s.id }
            return s.collection == "locked" && !(kept?.hash == s.hash || (kept == nil && s.deleted))
        }
        var accepted = changes
        accepted.states = changes.states.filter { s in !refused.contains { $0.id == s.id } }
        var answer = try peer.push(changes: accepted)
        answer.rejected += UInt64(refused.count)
        answer.rejections += try refused.map {
            RejectedState(id: $0.id, code: "FORBIDDEN", message: "the collection locked is read-only", current: try hub.getState(id: $0.id))
        }
        return answer
    }
}

/// A peer whose push answer reports a forged kept version (its hash no longer matches).
final class Forging: SyncTransport, @unchecked Sendable {
    let peer: SyncTransport
    init(_ peer: SyncTransport) { self.peer = peer }
    func capabilities() throws -> SyncCapabilities { try peer.capabilities() }
    func pull(cursor: String?, context: SyncContext) throws -> ChangeSet { try peer.pull(cursor: cursor, context: context) }
    func push(changes: ChangeSet) throws -> ReconciliationResult {
        var forged = changes.states[0]
        forged.data = "{\"forged\":true}"
        return ReconciliationResult(created: 0, updated: 0, unchanged: 0, ignored: 0, conflicts: 0, resolved: 0, rejected: 1,
                                    rejections: [RejectedState(id: forged.id, code: "FORBIDDEN", message: "no", current: forged)])
    }
}

final class RejectedWritesTests: XCTestCase {
    func testARefusedWriteRecordsTheHubsVersionAndRevertRejectedWritesItBack() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        let transport = try LockingHub(hub)
        _ = try hub.createState(data: "{\"admin\":false}", id: "role", collection: "locked")
        let heard = Box<[String]>([])
        let subscription = try phone.subscribe { event in
            if case .stateRejected(let stateId, _, _) = event { heard.update { $0.append(stateId) } }
        }
        _ = try await phone.sync(transport: transport)
        _ = try phone.updateState(id: "role", data: "{\"admin\":true}")

        let report = try await phone.sync(transport: transport)
        XCTAssertEqual(report.pushed.rejections.map { $0.id + ":" + $0.code }, ["role:FORBIDDEN"])
        let kept = try XCTUnwrap(try hub.getState(id: "role"))
        XCTAssertEqual(report.pushed.rejections.first?.current, kept, "the kept version crossed back out")
        let rejection = try XCTUnwrap(try phone.rejections().first)
        XCTAssertEqual(rejection.stateId, "role")
        XCTAssertTrue(rejection.own, "a write of this replica's, refused by the peer")
        XCTAssertEqual(rejection.current, kept, "the kept version crossed into the core and was recorded")
        XCTAssertEqual(heard.get, ["role"])
        XCTAssertEqual(try phone.getState(id: "role")?.data, "{\"admin\":true}", "nothing reverted by itself")
        XCTAssertEqual(try phone.pendingOperations().count, 0, "the refused write is not retried")

        let reverted = try phone.revertRejected(stateId: "role")
        XCTAssertEqual(reverted.data, "{\"admin\":false}")
        XCTAssertEqual(try phone.getState(id: "role"), reverted)
        XCTAssertEqual(try compareClocks(a: reverted.clock, b: kept.clock), .after, "it has seen the hub's version")
        XCTAssertEqual(try phone.rejections().count, 0, "the rejection goes with the revert")
        XCTAssertEqual(try phone.pendingOperations().map { $0.stateId }, ["role"], "a write that syncs like any other")

        let again = try await phone.sync(transport: transport)
        XCTAssertEqual(again.pushed.updated, 1)
        XCTAssertEqual(again.pushed.rejected, 0)
        XCTAssertEqual(try hub.getState(id: "role"), reverted, "both replicas hold the same version")
        XCTAssertTrue(try subscription.unsubscribe())
    }

    func testARefusedNewStateTheHubKeepsNoneOfIsRevertedToADeletion() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        let transport = try LockingHub(hub)
        _ = try phone.createState(data: "1", id: "mine", collection: "locked")
        _ = try phone.createState(data: "2", id: "open")
        let report = try await phone.sync(transport: transport)
        XCTAssertEqual(report.pushed.created, 1)
        XCTAssertEqual(report.pushed.rejected, 1)
        XCTAssertNil(try phone.rejections().first?.current, "the hub keeps none")

        let reverted = try phone.revertRejected(stateId: "mine")
        XCTAssertTrue(reverted.deleted)
        XCTAssertEqual(reverted.data, "null")
        XCTAssertNil(try phone.getState(id: "mine"))
        _ = try await phone.sync(transport: transport)
        XCTAssertEqual(try hub.listStates(collection: nil, includeDeleted: true).first { $0.id == "mine" }?.deleted, true)
        XCTAssertEqual(try phone.rejections().count, 0)
    }

    func testRevertRejectedWithoutARejectionOfAnOwnWriteIsNotFoundOrInvalidInput() async throws {
        // `small` refuses the peer's large version in its pull: a rejection, but not of its own.
        let small = try SyncManager(config: ManagerConfig(nodeId: "small", maxStateBytes: 10))
        let big = try memory("big")
        _ = try big.createState(data: "{\"text\":\"more than ten bytes\"}", id: "big")
        _ = try small.createState(data: "1", id: "mine")
        _ = try await small.syncWith(other: big)
        let rejection = try XCTUnwrap(try small.rejections().first)
        XCTAssertEqual(rejection.stateId, "big")
        XCTAssertFalse(rejection.own)
        XCTAssertNil(rejection.current)
        let before = try small.exportState()

        XCTAssertThrowsError(try small.revertRejected(stateId: "mine")) { XCTAssertEqual(($0 as? SyncError)?.code, "NOT_FOUND") }
        XCTAssertThrowsError(try small.revertRejected(stateId: "nothing")) { XCTAssertEqual(($0 as? SyncError)?.code, "NOT_FOUND") }
        XCTAssertThrowsError(try small.revertRejected(stateId: "big")) { error in
            guard case SyncError.InvalidInput(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("big"), message)
        }
        XCTAssertEqual(try small.exportState(), before, "the replica is unchanged")
        XCTAssertEqual(try small.rejections(), [rejection])
    }

    func testAKeptVersionASwiftTransportReportsInvalidFailsTheRoundAsCorrupt() async throws {
        let hub = try memory("hub"), phone = try memory("phone")
        _ = try phone.createState(data: "1", id: "s")
        do {
            _ = try await phone.sync(transport: Forging(try hub.asTransport()))
            XCTFail("the sync succeeded")
        } catch let e as SyncError {
            XCTAssertEqual(e.code, "CORRUPT")
            XCTAssertTrue(e.message.contains("kept version"), e.message)
        }
        XCTAssertEqual(try phone.rejections().count, 0, "nothing recorded from a damaged answer")
        XCTAssertEqual(try phone.pendingOperations().count, 1, "the write stays pending")
    }
}
