// Replays the wire-format golden files (conformance/wire/manifest.json): both forms decode to
// the same value and re-encode byte for byte, values carry the reference JSON, every invalid
// input fails with its code, and compression round-trips.
import Foundation
import XCTest
@testable import Statesync

final class WireTests: XCTestCase {
    let wireDir = repoRoot.appendingPathComponent("conformance/wire")

    func read(_ name: String) throws -> Data { try Data(contentsOf: wireDir.appendingPathComponent(name)) }

    func manifest() throws -> JSONValue { try JSONValue.parse(try read("manifest.json")) }

    func decode(_ kind: String, _ bytes: Data, _ encoding: Encoding) throws -> Any {
        switch kind {
        case "state": return try decodeState(bytes: bytes, encoding: encoding)
        case "changeset": return try decodeChangeSet(bytes: bytes, encoding: encoding)
        case "snapshot": return try decodeSnapshot(bytes: bytes, encoding: encoding)
        default: return try decodeOperations(bytes: bytes, encoding: encoding)
        }
    }

    func encode(_ value: Any, _ encoding: Encoding) throws -> Data {
        switch value {
        case let s as SyncState: return try encodeState(state: s, encoding: encoding)
        case let c as ChangeSet: return try encodeChangeSet(changes: c, encoding: encoding)
        case let s as Snapshot: return try encodeSnapshot(snapshot: s, encoding: encoding)
        default: return try encodeOperations(operations: value as! [SyncOperation], encoding: encoding)
        }
    }

    func encodingOf(_ name: String) -> Encoding { name == "json" ? .json : .binary }

    func testGoldenFilesDecodeAlikeAndReencodeByteForByte() throws {
        let cases = try manifest()["cases"]?.arrayValue ?? []
        XCTAssertGreaterThanOrEqual(cases.count, 8)
        XCTAssertEqual(try wireFormat(), 1)
        for c in cases {
            let name = c["name"]!.stringValue!, kind = c["kind"]!.stringValue!
            let fromJson = try decode(kind, try read(c["json"]!.stringValue!), .json)
            let fromBinary = try decode(kind, try read(c["binary"]!.stringValue!), .binary)
            XCTAssertEqual(try encode(fromJson, .json), try encode(fromBinary, .json), name)
            for source in ["json", "binary"] {
                let value = try decode(kind, try read(c[source]!.stringValue!), encodingOf(source))
                for target in ["json", "binary"] {
                    XCTAssertEqual(try encode(value, encodingOf(target)), try read(c[target]!.stringValue!), "\(name): \(source) -> \(target)")
                }
            }
            // The lone states carry exactly the reference JSON, literals included.
            if kind == "state" {
                let reference = try JSONValue.parse(try read(c["json"]!.stringValue!))["state"]!
                let state = fromBinary as! SyncState
                XCTAssertEqual(try JSONValue.parse(state.data), reference["data"], name)
                XCTAssertEqual(state.id, reference["id"]?.stringValue)
                XCTAssertEqual(state.hash, reference["hash"]?.stringValue)
                XCTAssertEqual(try JSONValue.parse(try stateToJson(state: state)), reference, name)
                XCTAssertEqual(try stateFromJson(json: reference.text), state, name)
            }
        }
    }

    func testInvalidInputsFailWithTheirCode() throws {
        let invalid = try manifest()["invalid"]?.arrayValue ?? []
        XCTAssertGreaterThanOrEqual(invalid.count, 35)
        for c in invalid {
            let name = c["name"]!.stringValue!
            do {
                _ = try decode(c["kind"]!.stringValue!, try read(c["file"]!.stringValue!), encodingOf(c["encoding"]!.stringValue!))
                XCTFail("\(name): decoded without error")
            } catch let e as SyncError {
                XCTAssertEqual(e.code, c["error"]?.stringValue, "\(name): \(e.message)")
            }
        }
    }

    func testCompressionRoundTrips() throws {
        for c in try manifest()["cases"]?.arrayValue ?? [] {
            for form in ["json", "binary"] {
                let raw = try read(c[form]!.stringValue!)
                let packed = try compress(bytes: raw)
                XCTAssertEqual(Array(packed.prefix(4)), [0x28, 0xB5, 0x2F, 0xFD])
                XCTAssertEqual(try decompress(bytes: packed), raw)
            }
        }
        XCTAssertThrowsError(try decompress(bytes: Data("not zstd".utf8))) { error in
            XCTAssertEqual((error as? SyncError)?.code, "CORRUPT")
        }
    }

    func testSnapshotJsonIsTheExportJson() throws {
        let text = String(decoding: try read("snapshot_small.json"), as: UTF8.self)
        let snapshot = try snapshotFromJson(json: text)
        XCTAssertEqual(try snapshotToJson(snapshot: snapshot), text)
        XCTAssertEqual(try decodeSnapshot(bytes: try read("snapshot_small.bin"), encoding: .binary), snapshot)
    }
}
