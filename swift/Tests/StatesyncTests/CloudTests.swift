// Object storage through the Swift binding (docs/backups.md, docs/encryption.md): backups on a
// real `file://` directory and on `memory://`, encryption with the golden vectors of
// conformance/crypto/vectors.json, and sync through a bucket. No mocks: every call reaches the core.
// The same cases as the Kotlin CloudTest.
import Foundation
import XCTest
@testable import Statesync

/// Runs `body`, which must fail with a `SyncError` of `code`; returns that error's message.
@discardableResult
func expectCode(_ code: String, _ what: String = "", _ body: () async throws -> Void) async -> String {
    do {
        try await body()
        XCTFail("\(what): succeeded, expected \(code)")
    } catch let e as SyncError {
        XCTAssertEqual(e.code, code, "\(what): \(e.message)")
        return e.message
    } catch {
        XCTFail("\(what): \(error)")
    }
    return ""
}

/// The bytes of a lowercase hex string.
func hexData(_ hex: String) -> Data {
    var out = Data()
    var i = hex.startIndex
    while i < hex.endIndex {
        let next = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i..<next], radix: 16)!)
        i = next
    }
    return out
}

final class CloudTests: XCTestCase {
    var tempDirs: [URL] = []

    override func tearDown() {
        for dir in tempDirs { try? FileManager.default.removeItem(at: dir) }
        tempDirs = []
        super.tearDown()
    }

    /// A fresh temporary directory, removed after the test.
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statesync-swift-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        tempDirs.append(dir)
        return dir
    }

    /// A `memory://` URL of a store no other test uses.
    func memoryUrl() -> String { "memory://swift-\(UUID().uuidString)/backups" }

    /// A raw key of 32 bytes all equal to `b`.
    func rawKey(_ b: UInt8) throws -> EncryptionKey { try EncryptionKey.fromBytes(bytes: Data(repeating: b, count: 32)) }

    /// Every live state as "id/collection=data", ordered by id.
    func contents(_ m: SyncManager) throws -> [String] {
        try m.listStates().map { "\($0.id)/\($0.collection)=\($0.data)" }
    }

    /// Backup → list → verify → restore (merge, replace, some collections) on one storage URL.
    func backupRoundTrip(_ url: String) async throws {
        let laptop = try memory("laptop")
        _ = try laptop.createState(data: "{\"theme\":\"dark\"}", id: "settings", collection: "prefs")
        _ = try laptop.createState(data: "{\"title\":\"a\"}", id: "note-1", collection: "notes")
        _ = try laptop.createState(data: "{\"title\":\"b\"}", id: "note-2", collection: "notes")
        let info = try await laptop.backup(url: url, label: "before")
        XCTAssertNotNil(info.id.range(of: "^backup-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$", options: .regularExpression), info.id)
        XCTAssertEqual(info.label, "before")
        XCTAssertEqual(info.states, 3)
        XCTAssertFalse(info.encrypted)
        XCTAssertTrue(info.parts >= 1 && info.bytes > 0 && info.sha256.count == 64, "\(info)")
        XCTAssertGreaterThan(info.createdAt, 1_700_000_000_000, "milliseconds since the epoch")

        let listed = try await listBackups(url: url)
        XCTAssertEqual(listed, [info])
        let verified = try await verifyBackup(url: url, id: info.id)
        XCTAssertEqual(verified, info)

        // Merge into a fresh replica: everything arrives.
        let phone = try memory("phone")
        let merged = try await phone.restoreBackup(url: url, id: info.id)
        XCTAssertEqual(merged.created, 3)
        XCTAssertEqual(try contents(phone), try contents(laptop))

        // Merge never overwrites newer local data; replace puts the backup in place.
        _ = try laptop.updateState(id: "settings", data: "{\"theme\":\"light\"}")
        _ = try laptop.createState(data: "{\"title\":\"c\"}", id: "note-3", collection: "notes")
        _ = try await laptop.restoreBackup(url: url, id: info.id)
        XCTAssertEqual(try laptop.getState(id: "settings")?.data, "{\"theme\":\"light\"}")
        XCTAssertNotNil(try laptop.getState(id: "note-3"))
        _ = try await laptop.restoreBackup(url: url, id: info.id, replace: true)
        XCTAssertEqual(try laptop.getState(id: "settings")?.data, "{\"theme\":\"dark\"}")
        XCTAssertNil(try laptop.getState(id: "note-3"), "replace drops what the backup lacks")

        // Only some collections.
        let tablet = try memory("tablet")
        _ = try await tablet.restoreBackup(url: url, id: info.id, collections: ["notes"])
        XCTAssertEqual(try tablet.listStates().map { $0.id }, ["note-1", "note-2"])
        XCTAssertNil(try tablet.getState(id: "settings"))

        await expectCode("NOT_FOUND", "no such backup") { _ = try await verifyBackup(url: url, id: "backup-20000101T000000Z-00000000") }
    }

    func testBackupListVerifyAndRestoreOnAFileDirectory() async throws {
        try await backupRoundTrip(try tempDir().absoluteString)
    }

    func testBackupListVerifyAndRestoreOnMemory() async throws {
        try await backupRoundTrip(memoryUrl())
    }

    func testAnEncryptedBackupNeedsItsKeyAWrongOrMissingOneIsCrypto() async throws {
        let dir = try tempDir()
        let url = dir.absoluteString
        let key = try rawKey(7)
        let laptop = try memory("laptop")
        _ = try laptop.createState(data: "{\"secret\":\"plans\"}", id: "s")
        let info = try await laptop.backup(url: url, key: key)
        XCTAssertTrue(info.encrypted)
        let verified = try await verifyBackup(url: url, id: info.id, key: key)
        XCTAssertEqual(verified, info)

        let phone = try memory("phone")
        let wrong = try rawKey(8), other = try rawKey(9)
        await expectCode("CRYPTO", "wrong key") { _ = try await phone.restoreBackup(url: url, id: info.id, key: wrong) }
        await expectCode("CRYPTO", "missing key") { _ = try await phone.restoreBackup(url: url, id: info.id) }
        await expectCode("CRYPTO", "verify, wrong key") { _ = try await verifyBackup(url: url, id: info.id, key: other) }
        XCTAssertTrue(try phone.listStates().isEmpty, "a failed restore changes nothing")
        _ = try await phone.restoreBackup(url: url, id: info.id, key: key)
        XCTAssertEqual(try phone.getState(id: "s")?.data, "{\"secret\":\"plans\"}")
    }

    func testATamperedPartIsCorruptNamingThePartAndTheReplicaIsUnchanged() async throws {
        let dir = try tempDir()
        let url = dir.absoluteString
        let laptop = try memory("laptop")
        _ = try laptop.createState(data: "{\"v\":1}", id: "s")
        let info = try await laptop.backup(url: url)
        let part = dir.appendingPathComponent("backups").appendingPathComponent(info.id).appendingPathComponent("part-00000")
        var bytes = try Data(contentsOf: part)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: part)

        let phone = try memory("phone")
        _ = try phone.createState(data: "{\"mine\":true}", id: "local")
        let before = try phone.exportState().states
        let message = await expectCode("CORRUPT", "restore") { _ = try await phone.restoreBackup(url: url, id: info.id, replace: true) }
        XCTAssertTrue(message.contains("part-00000"), message)
        XCTAssertEqual(try phone.exportState().states, before, "the replica is unchanged")
        let verify = await expectCode("CORRUPT", "verify") { _ = try await verifyBackup(url: url, id: info.id) }
        XCTAssertTrue(verify.contains("part-00000"), verify)
    }

    func testPruneKeepsTheNewestBackups() async throws {
        let url = memoryUrl()
        let laptop = try memory("laptop")
        _ = try laptop.createState(data: "1", id: "s")
        var ids: [String] = []
        for n in 1...3 {
            // A few milliseconds apart: backups sort by their creation time.
            try await Task.sleep(nanoseconds: 5_000_000)
            ids.append(try await laptop.backup(url: url, label: "n\(n)").id)
        }
        let listed = try await listBackups(url: url).map { $0.id }
        XCTAssertEqual(listed, Array(ids.reversed()), "newest first")
        await expectCode("INVALID_INPUT", "neither limit") { _ = try await pruneBackups(url: url) }
        let removed = try await pruneBackups(url: url, keepLast: 1)
        XCTAssertEqual(removed, Array(ids.prefix(2).reversed()))
        let kept = try await listBackups(url: url).map { $0.id }
        XCTAssertEqual(kept, [ids[2]])
        let none = try await pruneBackups(url: url, keepWithin: 3600)
        XCTAssertEqual(none, [])
    }

    func testAutoBackupWritesABackupEveryIntervalUntilStopped() async throws {
        let url = try tempDir().absoluteString
        let laptop = try memory("laptop")
        _ = try laptop.createState(data: "{\"v\":1}", id: "s")
        let key = try rawKey(3)
        await expectCode("INVALID_INPUT", "shorter than a second") { _ = try laptop.startAutoBackup(url: url, interval: 0.010) }
        await expectCode("INVALID_INPUT", "unknown scheme") { _ = try laptop.startAutoBackup(url: "ftp://x/y", interval: 1) }
        let auto = try laptop.startAutoBackup(url: url, interval: 1, keepLast: 2, key: key)
        let deadline = Date().addingTimeInterval(10)
        while try auto.lastBackup() == nil && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        let last = try XCTUnwrap(try auto.lastBackup(), "a backup within 10 s")
        XCTAssertEqual(last.label, "auto")
        XCTAssertTrue(last.encrypted)
        XCTAssertNil(try auto.lastError())
        XCTAssertGreaterThanOrEqual(try auto.runs(), 1)
        try await auto.stop()
        let runs = try auto.runs()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        XCTAssertEqual(try auto.runs(), runs, "no run after stop")
        try await auto.stop() // stopping twice is harmless
        let verified = try await verifyBackup(url: url, id: last.id, key: key)
        XCTAssertEqual(verified, last)
    }

    func testTwoReplicasConvergeThroughAnEncryptedBucketAWrongKeyIsCrypto() async throws {
        let url = try tempDir().appendingPathComponent("bucket", isDirectory: true).absoluteString
        let key = try EncryptionKey.fromPassphrase("correct horse battery staple", salt: "swift-bucket-salt")
        let laptop = try memory("laptop"), phone = try memory("phone")
        let laptopBucket = try ObjectStoreTransport(url: url, key: key)
        let phoneBucket = try ObjectStoreTransport(url: url, key: key)
        _ = try laptop.createState(data: "{\"theme\":\"dark\"}", id: "settings")
        _ = try phone.createState(data: "{\"title\":\"hello\"}", id: "note")
        // One round each, then again: both hold everything.
        try await laptop.sync(transport: laptopBucket)
        try await phone.sync(transport: phoneBucket)
        try await laptop.sync(transport: laptopBucket)
        try await phone.sync(transport: phoneBucket)
        XCTAssertEqual(try contents(laptop), try contents(phone))
        XCTAssertEqual(try laptop.listStates().count, 2)
        XCTAssertTrue(try laptop.pendingOperations().isEmpty)
        XCTAssertTrue(try phone.pendingOperations().isEmpty)

        _ = try phone.updateState(id: "note", data: "{\"title\":\"edited\"}")
        try await phone.sync(transport: phoneBucket)
        try await laptop.sync(transport: laptopBucket)
        XCTAssertEqual(try laptop.getState(id: "note")?.data, "{\"title\":\"edited\"}")
        _ = try await laptopBucket.compact()

        let intruder = try memory("intruder")
        let wrong = try ObjectStoreTransport(url: url, key: try rawKey(1))
        await expectCode("CRYPTO", "wrong key") { _ = try await intruder.sync(transport: wrong) }
        XCTAssertTrue(try intruder.listStates().isEmpty)
    }

    func testAutoSyncRunsThroughABucket() async throws {
        let url = "memory://swift-\(UUID().uuidString)/sync"
        let laptop = try memory("laptop"), phone = try memory("phone")
        let laptopBucket = try ObjectStoreTransport(url: url)
        let phoneBucket = try ObjectStoreTransport(url: url)
        _ = try phone.createState(data: "{\"from\":\"phone\"}", id: "p")
        try await phone.sync(transport: phoneBucket)
        try laptop.startAutoSync(interval: 0.1, transport: laptopBucket)
        XCTAssertTrue(try laptop.isAutoSyncing())
        let deadline = Date().addingTimeInterval(10)
        while try laptop.getState(id: "p") == nil && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        XCTAssertNotNil(try laptop.getState(id: "p"), "auto-sync pulled it within 10 s")
        XCTAssertTrue(try laptop.stopAutoSync())
    }

    func testAnUnknownStorageSchemeIsInvalidInput() async throws {
        let m = try memory("a")
        await expectCode("INVALID_INPUT", "backup") { _ = try await m.backup(url: "ftp://host/dir") }
        await expectCode("INVALID_INPUT", "list") { _ = try await listBackups(url: "nope://x") }
        await expectCode("INVALID_INPUT", "bucket") { _ = try ObjectStoreTransport(url: "ftp://host/dir") }
    }

    func testKeysAreCheckedAndSealUnderTheObjectName() async throws {
        await expectCode("INVALID_INPUT", "31 bytes") { _ = try EncryptionKey.fromBytes(bytes: Data(count: 31)) }
        await expectCode("INVALID_INPUT", "empty passphrase") { _ = try EncryptionKey.fromPassphrase("", salt: "long enough salt") }
        await expectCode("INVALID_INPUT", "short salt") { _ = try EncryptionKey.fromPassphrase("p", salt: "short") }
        let key = try rawKey(5)
        let sealed = try key.encrypt(name: "a", data: Data("hello".utf8))
        XCTAssertEqual(try key.decrypt(name: "a", data: sealed), Data("hello".utf8))
        await expectCode("CRYPTO", "another name") { _ = try key.decrypt(name: "b", data: sealed) }
    }

    /// The key a vector names: raw bytes (hex) or a passphrase and a UTF-8 salt.
    func vectorKey(_ spec: JSONValue) throws -> EncryptionKey {
        if let bytes = spec["bytes"]?.stringValue { return try EncryptionKey.fromBytes(bytes: hexData(bytes)) }
        return try EncryptionKey.fromPassphrase(spec["passphrase"]!.stringValue!, salt: spec["salt"]!.stringValue!)
    }

    func testTheGoldenVectorsOfConformanceCryptoJson() async throws {
        let vectors = try JSONValue.parse(try Data(contentsOf: repoRoot.appendingPathComponent("conformance/crypto/vectors.json")))
        let cases = try XCTUnwrap(vectors["cases"]?.arrayValue)
        let failures = try XCTUnwrap(vectors["failures"]?.arrayValue)
        XCTAssertTrue(cases.count >= 3 && failures.count >= 9)
        for c in cases {
            let name = c["name"]!.stringValue!, object = c["object"]!.stringValue!
            let plaintext = hexData(c["plaintext"]!.stringValue!)
            let key = try vectorKey(c["key"]!)
            XCTAssertEqual(try key.decrypt(name: object, data: hexData(c["sealed"]!.stringValue!)), plaintext, name)
            XCTAssertEqual(try key.decrypt(name: object, data: try key.encrypt(name: object, data: plaintext)), plaintext, name)
        }
        for f in failures {
            let name = f["name"]!.stringValue!
            let key = try vectorKey(f["key"]!)
            await expectCode("CRYPTO", name) { _ = try key.decrypt(name: f["object"]!.stringValue!, data: hexData(f["sealed"]!.stringValue!)) }
        }
    }
}
