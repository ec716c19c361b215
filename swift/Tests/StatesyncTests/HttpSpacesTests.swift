// `HttpTransport(baseUrl:space:token:)` (docs/design.md §10): the space id is checked by the
// core, and the requests go to the space's routes. (The Kotlin tests also check the requests'
// paths and bearer token on a capturing HTTP server: Foundation has none on Linux.)
import Foundation
import XCTest
@testable import Statesync

final class HttpSpacesTests: XCTestCase {
    func testTheSpaceIdIsCheckedByTheCore() throws {
        XCTAssertEqual(try HttpTransport(baseUrl: "http://127.0.0.1:9", space: "user:42", token: "t").space(), "user:42")
        XCTAssertNil(try HttpTransport(baseUrl: "http://127.0.0.1:9").space(), "no space: the hub's default space")
        let longest = String(repeating: "x", count: 128)
        XCTAssertEqual(try HttpTransport(baseUrl: "http://127.0.0.1:9", space: longest).space(), longest)
        for bad in ["", "a/b", "a b", "é", "a?b", "a%2F", String(repeating: "x", count: 129)] {
            XCTAssertThrowsError(try HttpTransport(baseUrl: "http://127.0.0.1:9", space: bad), bad) { error in
                guard case SyncError.InvalidInput(let message) = error else { return XCTFail("\(bad): \(error)") }
                XCTAssertTrue(message.contains("space id"), message)
            }
        }
    }

    func testRequestsGoToTheSpacesRoutes() async throws {
        let phone = try memory("phone")
        // Nothing listens on port 9: the round fails with TRANSPORT, naming the URL it asked.
        do {
            _ = try await phone.sync(transport: try HttpTransport(baseUrl: "http://127.0.0.1:9", space: "user:42", token: "t"))
            XCTFail("the sync succeeded")
        } catch let e as SyncError {
            XCTAssertEqual(e.code, "TRANSPORT")
            XCTAssertTrue(e.message.contains("http://127.0.0.1:9/v1/spaces/user:42/capabilities"), e.message)
        }
    }

    func testATokenThatCannotBeAHeaderValueFailsTheRoundWithInvalidInput() async throws {
        let phone = try memory("phone")
        do {
            _ = try await phone.sync(transport: try HttpTransport(baseUrl: "http://127.0.0.1:9", space: "user:42", token: "line\nbreak"))
            XCTFail("the sync succeeded")
        } catch let e as SyncError {
            XCTAssertEqual(e.code, "INVALID_INPUT")
        }
    }
}
