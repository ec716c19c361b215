// Replays the cross-language conformance suite (every conformance/<file>.json, format in
// conformance/README.md, counts pinned by conformance/manifest.json) through the Swift API as an
// application uses it: a port of the Rust and Kotlin replayers. Every case runs on in-memory
// replicas, then on SQLite files that are closed, reopened and checked again (the durability run).
import Foundation
import XCTest
@testable import Statesync

let repoRoot: URL = {
    if let root = ProcessInfo.processInfo.environment["STATESYNC_REPO"] { return URL(fileURLWithPath: root) }
    // Tests/StatesyncTests/<this file> -> the repository root.
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}()

struct CaseFailure: Error, CustomStringConvertible {
    let description: String
}

func fail(_ message: String) -> CaseFailure { CaseFailure(description: message) }

// ---- matchers ---------------------------------------------------------------------------------

func clockJSON(_ clock: [String: UInt64]) -> JSONValue { .object(clock.mapValues { .number(String($0)) }) }

func timestampJSON(_ t: Timestamp) -> JSONValue {
    .object(["millis": .number(String(t.millis)), "counter": .number(String(t.counter)), "node": .string(t.node)])
}

func stateJSON(_ s: SyncState) throws -> [String: JSONValue] {
    [
        "id": .string(s.id), "collection": .string(s.collection), "data": try JSONValue.parse(s.data),
        "clock": clockJSON(s.clock), "timestamp": timestampJSON(s.timestamp), "modified_by": .string(s.modifiedBy),
        "deleted": .bool(s.deleted), "version": .number(String(s.version)), "hash": .string(s.hash),
        "fields": try s.fields.map { try JSONValue.parse($0) } ?? .null,
    ]
}

func kindName(_ k: OperationKind) -> String {
    switch k {
    case .create: return "create"
    case .update: return "update"
    case .delete: return "delete"
    }
}

func operationJSON(_ o: SyncOperation) throws -> [String: JSONValue] {
    [
        "op_id": .string(o.opId), "kind": .string(kindName(o.kind)), "state_id": .string(o.stateId),
        "collection": .string(o.collection), "data": try JSONValue.parse(o.data), "clock": clockJSON(o.clock),
        "timestamp": timestampJSON(o.timestamp), "node_id": .string(o.nodeId),
    ]
}

func countsJSON(_ r: ReconciliationResult) -> [String: JSONValue] {
    [
        "created": .number(String(r.created)), "updated": .number(String(r.updated)),
        "unchanged": .number(String(r.unchanged)), "ignored": .number(String(r.ignored)),
        "conflicts": .number(String(r.conflicts)), "resolved": .number(String(r.resolved)),
        "rejected": .number(String(r.rejected)),
    ]
}

func statusName(_ s: Status) -> String {
    switch s {
    case .idle: return "idle"
    case .syncing: return "syncing"
    case .conflict: return "conflict"
    case .error: return "error"
    case .closed: return "closed"
    }
}

func outcomeName(_ o: ApplyOutcome) -> String {
    switch o {
    case .created: return "created"
    case .updated: return "updated"
    case .unchanged: return "unchanged"
    case .ignored: return "ignored"
    case .conflict: return "conflict"
    }
}

func orderingName(_ o: ClockOrdering) -> String {
    switch o {
    case .equal: return "equal"
    case .before: return "before"
    case .after: return "after"
    case .concurrent: return "concurrent"
    }
}

func object(_ v: JSONValue?, _ what: String) throws -> [String: JSONValue] {
    guard let o = v?.objectValue else { throw fail("\(what) must be a JSON object") }
    return o
}

func allow(_ m: [String: JSONValue], _ allowed: [String], _ what: String) throws {
    for k in m.keys where !allowed.contains(k) { throw fail("\(what): unknown key \(k) (allowed: \(allowed))") }
}

func matchFields(_ expected: JSONValue?, _ actual: [String: JSONValue], _ allowed: [String], _ what: String) throws {
    let m = try object(expected, what)
    try allow(m, allowed, what)
    for (key, want) in m where !JSONValue.sameValue(want, actual[key] ?? .null) {
        throw fail("\(what): \(key) is \(actual[key]?.text ?? "missing"), expected \(want.text)")
    }
}

let stateKeys = ["id", "collection", "data", "clock", "timestamp", "modified_by", "deleted", "version", "hash", "fields"]
let opKeys = ["op_id", "kind", "state_id", "collection", "data", "clock", "timestamp", "node_id"]
let countKeys = ["created", "updated", "unchanged", "ignored", "conflicts", "resolved", "rejected"]
let eventKeys = ["name", "id", "data", "state_id", "code", "peer", "previous", "current"]

/// Matches an expected array item by item (exactly as long), comparing the keys each item gives.
func matchList(_ expected: JSONValue?, _ actual: [[String: JSONValue]], _ allowed: [String], _ what: String) throws {
    guard let want = expected?.arrayValue else { throw fail("\(what) must be an array") }
    if want.count != actual.count {
        throw fail("\(what): \(actual.count) items \(JSONValue.array(actual.map { JSONValue.object($0) }).text), expected \(want.count)")
    }
    for (i, (w, got)) in zip(want, actual).enumerated() { try matchFields(w, got, allowed, "\(what)[\(i)]") }
}

/// COUNTS: the counts given, and `rejections` as a list of `{id, code}` (never the message).
func matchCounts(_ expected: JSONValue?, _ actual: ReconciliationResult, _ what: String) throws {
    var counts = try object(expected, what)
    if let want = counts.removeValue(forKey: "rejections") {
        let got: [[String: JSONValue]] = actual.rejections.map { ["id": .string($0.id), "code": .string($0.code)] }
        try matchList(want, got, ["id", "code"], "\(what).rejections")
    }
    try matchFields(JSONValue.object(counts), countsJSON(actual), countKeys, what)
}

/// True for a generated id or node id: a UUID v4 in its lower-case hyphenated form.
func isUUIDv4(_ text: String) -> Bool {
    let b = Array(text.utf8)
    guard b.count == 36 else { return false }
    let hex = Set("0123456789abcdef".utf8)
    for (i, c) in b.enumerated() {
        if [8, 13, 18, 23].contains(i) {
            if c != UInt8(ascii: "-") { return false }
        } else if !hex.contains(c) {
            return false
        }
    }
    return b[14] == UInt8(ascii: "4") && Set("89ab".utf8).contains(b[19])
}

/// Checks an `id_form` / `node_id_form` expectation (`"uuid"`, or none) against `value`.
func checkForm(_ form: JSONValue?, _ value: String, _ what: String) throws {
    guard let form = form else { return }
    guard form == .string("uuid") else { throw fail("\(what): unknown form \(form.text)") }
    if !isUUIDv4(value) { throw fail("\(what) \"\(value)\" is not a generated UUID v4") }
}

func matchState(_ expected: JSONValue?, _ actual: SyncState, _ what: String) throws {
    var m = try object(expected, what)
    try checkForm(m.removeValue(forKey: "id_form"), actual.id, "\(what): id")
    try matchFields(.object(m), try stateJSON(actual), stateKeys, what)
}

func matchConflict(_ expected: JSONValue?, _ actual: SyncConflict, _ what: String) throws {
    let m = try object(expected, what)
    try allow(m, ["state_id", "local", "remote", "detected_at"], what)
    if let s = m["state_id"], !JSONValue.sameValue(s, .string(actual.stateId)) { throw fail("\(what): state_id is \(actual.stateId)") }
    if let d = m["detected_at"], !JSONValue.sameValue(d, .number(String(actual.detectedAt))) { throw fail("\(what): detected_at is \(actual.detectedAt)") }
    if let l = m["local"] { try matchState(l, actual.local, "\(what).local") }
    if let r = m["remote"] { try matchState(r, actual.remote, "\(what).remote") }
}

/// An event as the suite matches it (EVENT_MATCHER).
func eventJSON(_ event: SyncEvent) throws -> [String: JSONValue] {
    var out: [String: JSONValue] = ["name": .string(event.name)]
    switch event {
    case .stateCreated(let state), .stateUpdated(let state), .stateDeleted(let state):
        out["id"] = .string(state.id)
        out["data"] = try JSONValue.parse(state.data)
    case .conflictDetected(let conflict):
        out["state_id"] = .string(conflict.stateId)
    case .conflictResolved(_, let stateId):
        out["state_id"] = .string(stateId)
    case .stateRejected(let stateId, let code, _):
        out["state_id"] = .string(stateId)
        out["code"] = .string(code)
    case .syncStarted(let peer), .syncCompleted(let peer):
        out["peer"] = .string(peer)
    case .syncFailed(let peer, _):
        out["peer"] = .string(peer)
    case .statusChanged(let previous, let current):
        out["previous"] = .string(statusName(previous))
        out["current"] = .string(statusName(current))
    }
    return out
}

/// The events a listener heard (on the thread that committed them), in delivery order.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SyncEvent] = []

    func append(_ event: SyncEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    /// The events heard since the last call.
    func take() -> [SyncEvent] {
        lock.lock()
        defer { lock.unlock() }
        let taken = events
        events = []
        return taken
    }
}

// ---- the named custom resolvers (README "Custom resolvers") ---------------------------------

final class NamedResolver: ConflictResolver, @unchecked Sendable {
    let name: String
    init(_ name: String) { self.name = name }

    private func n(_ s: SyncState) -> JSONValue? {
        guard !s.deleted, let data = try? JSONValue.parse(s.data), case .number? = data["n"] else { return nil }
        return data["n"]
    }

    private func strings(_ s: SyncState) -> [String] {
        guard !s.deleted, let items = (try? JSONValue.parse(s.data))?.arrayValue else { return [] }
        return items.compactMap { $0.stringValue }
    }

    func resolve(local: SyncState, remote: SyncState) throws -> Resolved {
        switch name {
        case "max_n":
            let (a, b) = (n(local), n(remote))
            guard a != nil || b != nil else { return .deleted }
            var best = a ?? b!
            if let a = a, let b = b, (b.doubleValue ?? 0) > (a.doubleValue ?? 0) { best = b }
            return .data(data: JSONValue.object(["n": best]).text)
        case "union":
            let all = Set(strings(local) + strings(remote)).sorted()
            return .data(data: JSONValue.array(all.map { .string($0) }).text)
        case "non_commutative":
            return .data(data: local.data)
        default:
            throw transportFailure("the conformance resolver \"failing\" always fails", code: "RESOLVER")
        }
    }
}

func parseStrategy(_ value: JSONValue?) throws -> ConflictStrategy {
    if let name = value?.stringValue {
        do { return try strategyFromName(name: name) } catch { throw fail("unknown strategy \(name)") }
    }
    guard let o = value?.objectValue, o.count == 1, let name = o["custom"]?.stringValue,
          ["max_n", "union", "non_commutative", "failing"].contains(name) else {
        throw fail("bad strategy \(value?.text ?? "nil")")
    }
    return .custom(resolver: NamedResolver(name))
}

// ---- replicas ---------------------------------------------------------------------------------

let replicaKeys = ["node_id", "strategy", "collection_strategies", "clock", "check_resolver", "max_state_bytes", "max_clock_skew_ms"]

/// The configuration a replica's `spec` gives (`nodeId` nil: the replica generates one and its store keeps it).
func configFor(_ spec: [String: JSONValue], _ nodeId: String?, _ path: String?, _ clock: ManualClock) throws -> ManagerConfig {
    var per: [String: ConflictStrategy] = [:]
    for (collection, s) in try object(spec["collection_strategies"] ?? .object([:]), "collection_strategies") {
        per[collection] = try parseStrategy(s)
    }
    var config = ManagerConfig(
        nodeId: nodeId, path: path, strategy: try spec["strategy"].map(parseStrategy),
        collectionStrategies: per, clock: clock, checkResolver: spec["check_resolver"]?.boolValue ?? true
    )
    if let v = spec["max_state_bytes"] {
        guard let bytes = v.uint64Value else { throw fail("max_state_bytes must be a non-negative integer") }
        config.maxStateBytes = bytes
    }
    if let v = spec["max_clock_skew_ms"] {
        guard let ms = v.uint64Value else { throw fail("max_clock_skew_ms must be a non-negative integer") }
        // A TimeInterval in seconds; uniffi truncates it to whole nanoseconds (exact for 500 ms).
        config.maxClockSkew = TimeInterval(ms) / 1000
    }
    return config
}

func openManager(_ spec: [String: JSONValue], _ nodeId: String?, _ path: String?, _ clock: ManualClock) throws -> SyncManager {
    let config = try configFor(spec, nodeId, path, clock)
    do { return try SyncManager(config: config) } catch let e as SyncError {
        throw fail("opening \(nodeId ?? "(generated node id)"): \(e.code) \(e.message)")
    }
}

/// One replica of a case; `nodeId` is the case's, nil when the replica generated its own.
final class Replica {
    let spec: [String: JSONValue]
    let nodeId: String?
    var clock: ManualClock
    let path: String?
    var manager: SyncManager
    var closed: Snapshot?
    /// The rejections held right before a `close` step.
    var closedRejections: [Rejection] = []
    /// The events heard since a `subscribe` step.
    var events: EventLog?
    var subscription: Subscription?

    init(spec: [String: JSONValue], nodeId: String?, clock: ManualClock, path: String?, manager: SyncManager) {
        self.spec = spec
        self.nodeId = nodeId
        self.clock = clock
        self.path = path
        self.manager = manager
    }

    struct View {
        let nodeId: String
        let states: [SyncState]
        let pending: [SyncOperation]
        let conflicts: [SyncConflict]
        let rejections: [Rejection]
        let status: Status
    }

    func view() throws -> View {
        let status = try manager.status()
        if let s = closed {
            return View(nodeId: s.nodeId, states: s.states, pending: s.pending, conflicts: s.conflicts,
                        rejections: closedRejections, status: status)
        }
        let view = View(nodeId: try manager.nodeId(), states: try manager.listStates(includeDeleted: true),
                        pending: try manager.pendingOperations(), conflicts: try manager.conflicts(),
                        rejections: try manager.rejections(), status: status)
        let export = try manager.exportState()
        if export.states.sorted(by: { $0.id < $1.id }) != view.states.sorted(by: { $0.id < $1.id })
            || export.pending != view.pending || export.conflicts != view.conflicts || export.nodeId != view.nodeId {
            throw fail("exportState() disagrees with nodeId/listStates/pendingOperations/conflicts")
        }
        return view
    }

    /// The replica's content, for "a failing step changes nothing".
    enum Content: Equatable {
        case snapshot(Snapshot)
        case error(String)
    }

    func content() -> Content {
        do { return .snapshot(try manager.exportState()) } catch let e as SyncError { return .error(e.code) } catch { return .error("\(error)") }
    }
}

func checkReplica(_ view: Replica.View, _ expected: JSONValue?, requireAll: Bool, reopened: Bool, _ what: String) throws {
    let m = try object(expected, what)
    try allow(m, ["states", "pending", "conflicts", "rejections", "status", "node_id_form"], what)
    try checkForm(m["node_id_form"], view.nodeId, "\(what): node id")
    if requireAll { for k in ["states", "pending", "conflicts"] where m[k] == nil { throw fail("\(what): the final expectation must give \(k)") } }
    if let statesEl = m["states"] {
        let states = try object(statesEl, "\(what).states")
        let got = view.states.map { $0.id }
        if Set(states.keys) != Set(got) || got.count != Set(got).count { throw fail("\(what): stored ids are \(got.sorted()), expected \(states.keys.sorted())") }
        for s in view.states { try matchState(states[s.id], s, "\(what).states[\(s.id)]") }
    }
    if let p = m["pending"] {
        guard let pending = p.arrayValue else { throw fail("\(what).pending must be an array") }
        if pending.count != view.pending.count { throw fail("\(what): \(view.pending.count) pending operations \(view.pending.map { $0.opId }), expected \(pending.count)") }
        for (i, (want, op)) in zip(pending, view.pending).enumerated() { try matchFields(want, try operationJSON(op), opKeys, "\(what).pending[\(i)]") }
    }
    if let c = m["conflicts"] {
        guard let conflicts = c.arrayValue else { throw fail("\(what).conflicts must be an array") }
        if conflicts.count != view.conflicts.count { throw fail("\(what): \(view.conflicts.count) conflicts, expected \(conflicts.count)") }
        for (i, (want, got)) in zip(conflicts, view.conflicts).enumerated() { try matchConflict(want, got, "\(what).conflicts[\(i)]") }
    }
    if let r = m["rejections"] {
        let got: [[String: JSONValue]] = view.rejections.map { ["state_id": .string($0.stateId), "code": .string($0.code)] }
        try matchList(r, got, ["state_id", "code"], "\(what).rejections")
    }
    if let s = m["status"] {
        guard let want = s.stringValue else { throw fail("\(what).status must be a string") }
        // Neither a closed replica nor a failed round is stored: a reopened replica is neither.
        let skip = reopened && (want == "closed" || want == "error")
        if !skip && statusName(view.status) != want { throw fail("\(what): status is \(statusName(view.status)), expected \(want)") }
    }
}

// ---- the transport of `sync_via` and `auto_sync` (README: "sync_via") ------------------------

/// A peer replica reached through a transport written here, as an application writes one: its
/// capabilities as the step overrides them, and a failure on one call when the step asks for it.
final class ReplayTransport: SyncTransport, @unchecked Sendable {
    let peer: SyncManager
    let protocolVersionOverride: UInt64?
    let nodeIdOverride: String?
    let scopedSync: Bool
    let maxBatch: UInt32?
    let maxBodyBytes: UInt64?
    /// That call fails with that code.
    let failOn: String?
    let failCode: String?

    init(peer: SyncManager, step: [String: JSONValue]) throws {
        self.peer = peer
        let o = try object(step["capabilities"] ?? .object([:]), "capabilities")
        try allow(o, ["scoped_sync", "max_batch", "max_body_bytes", "protocol", "node_id"], "capabilities")
        func number(_ key: String) throws -> UInt64? {
            guard let v = o[key] else { return nil }
            guard let n = v.uint64Value else { throw fail("capabilities.\(key) must be a whole number") }
            return n
        }
        protocolVersionOverride = try number("protocol")
        if let v = o["node_id"] {
            guard let node = v.stringValue else { throw fail("capabilities.node_id must be a string") }
            nodeIdOverride = node
        } else {
            nodeIdOverride = nil
        }
        if let v = o["scoped_sync"] {
            guard let b = v.boolValue else { throw fail("capabilities.scoped_sync must be a boolean") }
            scopedSync = b
        } else {
            scopedSync = true
        }
        maxBatch = try number("max_batch").map { UInt32($0) }
        maxBodyBytes = try number("max_body_bytes")
        if let f = step["fail"] {
            let m = try object(f, "fail")
            try allow(m, ["on", "code"], "fail")
            guard let on = m["on"]?.stringValue, ["capabilities", "pull", "push"].contains(on), let code = m["code"]?.stringValue else {
                throw fail("fail needs on (capabilities, pull or push) and code")
            }
            failOn = on
            failCode = code
        } else {
            failOn = nil
            failCode = nil
        }
    }

    private func failing(_ call: String) throws {
        if failOn == call, let code = failCode { throw transportFailure("the conformance transport fails on \(call)", code: code) }
    }

    /// A peer's error as the transport's failure, code kept (as any transport over a manager would).
    private func peerCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SyncError { throw transportFailure(e.message, code: e.code) }
    }

    func capabilities() throws -> SyncCapabilities {
        try failing("capabilities")
        let version = try protocolVersionOverride ?? protocolVersion()
        let node = try nodeIdOverride ?? peerCall { try peer.nodeId() }
        return SyncCapabilities(protocol: version, nodeId: node, scopedSync: scopedSync, binary: false, zstd: false,
                                maxBatch: maxBatch, maxBodyBytes: maxBodyBytes)
    }

    func pull(cursor: String?, context: SyncContext) throws -> ChangeSet {
        try failing("pull")
        return try peerCall { try peer.changesSince(cursor: cursor, context: context) }
    }

    func push(changes: ChangeSet) throws -> ReconciliationResult {
        try failing("push")
        return try peerCall { try peer.reconcile(states: changes.states) }
    }
}

/// Counts the rounds auto-sync completes and the first that fails.
final class RoundLog: @unchecked Sendable {
    private let lock = NSLock()
    private var completed = 0
    private var failure: String?

    func heard(_ event: SyncEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .syncCompleted: completed += 1
        case .syncFailed(_, let message): if failure == nil { failure = message }
        default: break
        }
    }

    var state: (completed: Int, failure: String?) {
        lock.lock()
        defer { lock.unlock() }
        return (completed, failure)
    }
}

/// Runs auto-sync with `transport` every 10 ms until `rounds` rounds completed (at most 10 s; a
/// failed round fails the step), then stops it.
func autoSync(_ m: SyncManager, _ transport: SyncTransport, rounds: Int) throws {
    let log = RoundLog()
    let subscription = try m.subscribe { event in log.heard(event) }
    defer {
        _ = try? m.stopAutoSync()
        _ = try? subscription.unsubscribe()
    }
    try m.startAutoSync(interval: 0.010, transport: transport)
    let deadline = Date().addingTimeInterval(10)
    while true {
        let (completed, failure) = log.state
        if let failure = failure { throw fail("an auto-sync round failed: \(failure)") }
        if completed >= rounds { return }
        if Date() > deadline { throw fail("auto-sync completed \(completed) of \(rounds) rounds in 10 s") }
        Thread.sleep(forTimeInterval: 0.005)
    }
}

// ---- the vector clock helpers (README: "clock") ----------------------------------------------

/// A clock given by the suite. A typed binding cannot even hold a negative or fractional entry
/// (`UInt64`): such a clock is the step's `INVALID_INPUT`, as the Rust replayer has it.
func clockArg(_ value: JSONValue?, _ what: String) throws -> [String: UInt64] {
    guard let o = value?.objectValue else { throw SyncError.InvalidInput(message: "\(what): not a clock object") }
    var clock: [String: UInt64] = [:]
    for (node, v) in o {
        guard case .number(let text) = v, let n = UInt64(text) else {
            throw SyncError.InvalidInput(message: "\(what): entry \"\(node)\" is \(v.text)")
        }
        clock[node] = n
    }
    return clock
}

func clockCall(_ step: [String: JSONValue]) throws -> JSONValue {
    guard let fn = step["fn"]?.stringValue, ["compare", "merge", "dominates", "increment"].contains(fn) else {
        throw fail("clock needs fn: compare, merge, dominates or increment")
    }
    let a = try clockArg(step["a"], "a")
    if fn == "increment" {
        guard step["b"] == nil, let node = step["node"]?.stringValue else { throw fail("increment takes a node and no b") }
        let incremented = try incrementClock(clock: a, node: node)
        return .object(["clock": clockJSON(incremented.clock), "value": .number(String(incremented.value))])
    }
    if step["node"] != nil { throw fail("\(fn) takes no node") }
    let b = try clockArg(step["b"], "b")
    switch fn {
    case "compare": return .string(orderingName(try compareClocks(a: a, b: b)))
    case "merge": return clockJSON(try mergeClocks(a: a, b: b))
    default: return .bool(try dominates(a: a, b: b))
    }
}

// ---- steps ------------------------------------------------------------------------------------

let commonKeys = ["replica", "op", "expect", "expect_error", "comment"]
let stepKeys: [String: [String]] = [
    "create": ["id", "collection", "data", "as"], "update": ["id", "data"], "delete": ["id"], "get": ["id"],
    "list": ["collection", "include_deleted"], "set_clock": ["millis"], "capture": ["id", "as"],
    "capture_conflict": ["state_id", "as"], "apply": ["ref", "state", "json"], "reconcile": ["items"],
    "resolve_conflict": ["state_id", "conflict_ref", "conflict_id", "resolution"], "revert_rejected": ["id"], "acknowledge": ["op_ids"],
    "export": ["as"], "import": ["ref", "json", "snapshot", "replace"], "close": [], "check": [],
    "changes_since": ["cursor", "cursor_ref", "collections", "limit", "as"], "pull": ["from", "collections", "limit"],
    "sync": ["with", "collections", "limit"], "clock": ["fn", "a", "b", "node"], "subscribe": [], "events": [],
    "set_peer_cursor": ["peer", "collections", "cursor", "cursor_ref"], "peer_cursor": ["peer", "collections"],
    "sync_via": ["with", "collections", "limit", "capabilities", "fail"], "auto_sync": ["with", "rounds"],
    "open_again": [],
]
/// Steps that read or arrange but call nothing: they never expect an error.
let notACall = ["set_clock", "check", "capture", "capture_conflict", "subscribe", "events"]
/// Steps whose result nothing checks.
let noExpect = ["set_clock", "capture", "capture_conflict", "close", "subscribe", "set_peer_cursor", "auto_sync", "open_again"]

enum Named {
    case state(SyncState)
    case conflict(String)
    case snapshot(Snapshot)
    case cursor(String)
}

/// What a core call returned, reduced to what the expectations look at.
enum Outcome {
    case ok(Any?)
    case err(SyncError)
}

final class Run {
    var replicas: [String: Replica] = [:]
    var names: [String: Named] = [:]
    let sqlite: Bool

    init(_ c: [String: JSONValue], sqliteDir: URL?) throws {
        sqlite = sqliteDir != nil
        let specs = try object(c["replicas"], "replicas")
        if specs.isEmpty { throw fail("a case needs at least one replica") }
        for (i, key) in specs.keys.sorted().enumerated() {
            let spec = try object(specs[key], "replica \(key)")
            try allow(spec, replicaKeys, key)
            var nodeId: String?
            if let v = spec["node_id"] {
                guard let node = v.stringValue else { throw fail("replica \(key): node_id must be a string") }
                nodeId = node
            }
            let clock = try ManualClock(millis: spec["clock"]?.uint64Value ?? 1000)
            let path = sqliteDir?.appendingPathComponent("replica-\(i).db").path
            replicas[key] = Replica(spec: spec, nodeId: nodeId, clock: clock, path: path, manager: try openManager(spec, nodeId, path, clock))
        }
    }

    func closeAll() { for r in replicas.values { try? r.manager.close() } }

    func replica(_ key: String) throws -> Replica {
        guard let r = replicas[key] else { throw fail("unknown replica \(key)") }
        return r
    }

    /// `raw`, or for `"$name"` the id of the state created or captured as `name`.
    func id(_ raw: String) throws -> String {
        guard raw.hasPrefix("$") else { return raw }
        guard case .state(let s)? = names[String(raw.dropFirst())] else { throw fail("id \(raw) names no created or captured state") }
        return s.id
    }

    /// `expected` with every string (object keys included) `"$name"` naming a created or captured
    /// state replaced by that state's id.
    func resolve(_ expected: JSONValue) -> JSONValue {
        func name(_ text: String) -> String {
            if text.hasPrefix("$"), case .state(let s)? = names[String(text.dropFirst())] { return s.id }
            return text
        }
        switch expected {
        case .string(let text): return .string(name(text))
        case .array(let items): return .array(items.map { resolve($0) })
        case .object(let o):
            var out: [String: JSONValue] = [:]
            for (k, v) in o { out[name(k)] = resolve(v) }
            return .object(out)
        default: return expected
        }
    }

    func source(_ src: [String: JSONValue], _ what: String) throws -> Outcome {
        let given = ["ref", "state", "json"].filter { src[$0] != nil }
        guard given.count == 1 else { throw fail("\(what): give exactly one of ref, state, json") }
        if let name = src["ref"]?.stringValue {
            guard case .state(let s)? = names[name] else { throw fail("\(what): \(name) names no state") }
            return .ok(s)
        }
        do {
            if let literal = src["state"] { return .ok(try stateFromJson(json: literal.text)) }
            if let text = src["json"]?.stringValue { return .ok(try stateFromJson(json: text)) }
        } catch let e as SyncError {
            return .err(e)
        }
        throw fail("\(what): ref and json must be strings")
    }

    func conflictOf(_ key: String, _ stateId: String) throws -> String {
        let ids = try replica(key).manager.conflicts().filter { $0.stateId == stateId }.map { $0.conflictId }
        guard ids.count == 1 else { throw fail("\(ids.count) conflicts on \(stateId), the step needs exactly one") }
        return ids[0]
    }

    func context(_ step: [String: JSONValue]) throws -> SyncContext {
        var collections: [String] = []
        if let c = step["collections"] {
            guard let items = c.arrayValue else { throw fail("collections must be an array") }
            collections = try items.map { item -> String in
                guard let s = item.stringValue else { throw fail("collections must be strings") }
                return s
            }
        }
        var limit: UInt32?
        if let l = step["limit"] {
            guard let n = l.uint64Value, n <= UInt64(UInt32.max) else { throw fail("limit must be a whole number") }
            limit = UInt32(n)
        }
        return SyncContext(collections: collections, limit: limit)
    }

    /// `cursor` (a string, or null to clear) or `cursor_ref` (a remembered cursor) of a `set_peer_cursor` step.
    func cursorArg(_ step: [String: JSONValue]) throws -> String? {
        switch (step["cursor"], step["cursor_ref"]) {
        case (.null?, nil): return nil
        case (.string(let c)?, nil): return c
        case (nil, .string(let name)?):
            guard case .cursor(let c)? = names[name] else { throw fail("cursor_ref \(name) names no remembered cursor") }
            return c
        default: throw fail("set_peer_cursor takes a cursor (string or null) or a cursor_ref")
        }
    }

    func runStep(_ stepEl: JSONValue) throws {
        let step = try object(stepEl, "step")
        guard let op = step["op"]?.stringValue, let key = step["replica"]?.stringValue else {
            throw fail("a step needs an op and a replica")
        }
        guard let allowed = stepKeys[op] else { throw fail("unknown op \(op)") }
        try allow(step, commonKeys + allowed, op)
        if step["expect"] != nil && step["expect_error"] != nil { throw fail("a step has expect or expect_error, not both") }
        if notACall.contains(op) && step["expect_error"] != nil { throw fail("\(op) is not a core call and takes no expect_error") }
        if noExpect.contains(op) && step["expect"] != nil { throw fail("\(op) takes no expect") }
        if op == "open_again" {
            guard step["expect_error"] == .string("STORAGE") else { throw fail("open_again always expects STORAGE") }
            // Nothing to open twice in memory (SQLite files are the only store here, and they lock).
            if !sqlite { return }
        }
        let r = try replica(key)
        switch op {
        case "set_clock":
            guard let millis = step["millis"]?.uint64Value else { throw fail("set_clock needs millis") }
            try r.clock.set(millis: millis)
            return
        case "check":
            guard let expected = step["expect"] else { throw fail("check needs expect") }
            try checkReplica(try r.view(), resolve(expected), requireAll: false, reopened: false, "check of \(key)")
            return
        case "capture":
            guard let rawId = step["id"]?.stringValue, let name = step["as"]?.stringValue else { throw fail("capture needs id and as") }
            let stateId = try id(rawId)
            guard let s = try r.manager.listStates(includeDeleted: true).first(where: { $0.id == stateId }) else {
                throw fail("capture: no state \(stateId)")
            }
            names[name] = .state(s)
            return
        case "capture_conflict":
            guard let name = step["as"]?.stringValue, let sid = step["state_id"]?.stringValue else { throw fail("capture_conflict needs state_id and as") }
            names[name] = .conflict(try conflictOf(key, sid))
            return
        case "subscribe":
            let log = EventLog()
            r.subscription = try r.manager.subscribe { event in log.append(event) }
            r.events = log
            return
        case "events":
            guard let expected = step["expect"] else { throw fail("events needs expect") }
            guard let log = r.events else { throw fail("events before subscribe") }
            try matchList(resolve(expected), try log.take().map(eventJSON), eventKeys, "events of \(key)")
            return
        default: break
        }
        var expectError: String?
        if let e = step["expect_error"] {
            guard let code = e.stringValue else { throw fail("expect_error must be a string") }
            expectError = code
        }
        let before = expectError != nil ? r.content() : nil
        let result = try call(key, op, step)
        if let code = expectError {
            switch result {
            case .ok(let v): throw fail("expected error \(code), but the call succeeded with \(String(describing: v))")
            case .err(let e):
                if e.code != code { throw fail("expected error \(code), got \(e.code) (\(e.message))") }
                // A failed round keeps what it finished before failing (README: "Error steps").
                if op != "sync_via", try replica(key).content() != before { throw fail("the failing step (\(code)) changed the replica") }
            }
            return
        }
        switch result {
        case .err(let e): throw fail("unexpected error \(e.code) (\(e.message))")
        case .ok(let v): if let want = step["expect"] { try checkResult(op, resolve(want), v) }
        }
    }

    func call(_ key: String, _ op: String, _ step: [String: JSONValue]) throws -> Outcome {
        let r = try replica(key)
        let m = r.manager
        func data() throws -> String {
            guard let d = step["data"] else { throw fail("\(op) needs data") }
            return d.text
        }
        func str(_ k: String) throws -> String {
            guard let s = step[k]?.stringValue else { throw fail("\(op) needs \(k)") }
            return s
        }
        do {
            switch op {
            case "create":
                let created = try m.createState(data: try data(), id: try step["id"]?.stringValue.map { try id($0) },
                                                collection: step["collection"]?.stringValue)
                if let name = step["as"]?.stringValue { names[name] = .state(created) }
                return .ok(created)
            case "update": return .ok(try m.updateState(id: try id(try str("id")), data: try data()))
            case "delete": return .ok(try m.deleteState(id: try id(try str("id"))))
            case "get": return .ok(try m.getState(id: try id(try str("id"))))
            case "list":
                return .ok(try m.listStates(collection: step["collection"]?.stringValue, includeDeleted: step["include_deleted"]?.boolValue ?? false).map { $0.id })
            case "apply":
                switch try source(step, op) {
                case .err(let e): return .err(e)
                case .ok(let s): return .ok(try m.applyRemoteState(state: s as! SyncState))
                }
            case "reconcile":
                guard let items = step["items"]?.arrayValue else { throw fail("reconcile needs items") }
                var states: [SyncState] = []
                for (i, item) in items.enumerated() {
                    switch try source(try object(item, "reconcile item"), "reconcile item \(i)") {
                    case .err(let e): return .err(e)
                    case .ok(let s): states.append(s as! SyncState)
                    }
                }
                return .ok(try m.reconcile(states: states))
            case "resolve_conflict":
                let selectors = ["state_id", "conflict_ref", "conflict_id"].filter { step[$0] != nil }
                guard selectors.count == 1 else { throw fail("resolve_conflict needs exactly one of state_id, conflict_ref, conflict_id") }
                let conflictId: String
                if let sid = step["state_id"]?.stringValue {
                    conflictId = try conflictOf(key, sid)
                } else if let ref = step["conflict_ref"]?.stringValue, case .conflict(let id)? = names[ref] {
                    conflictId = id
                } else if let id = step["conflict_id"]?.stringValue {
                    conflictId = id
                } else {
                    throw fail("resolve_conflict: a bad selector")
                }
                let resolution: Resolution
                switch step["resolution"] {
                case .string("local")?: resolution = .local
                case .string("remote")?: resolution = .remote
                case .object(let o)? where o.keys.sorted() == ["data"]: resolution = .custom(data: o["data"]!.text)
                default: throw fail("bad resolution")
                }
                return .ok(try m.resolveConflict(conflictId: conflictId, resolution: resolution))
            case "revert_rejected": return .ok(try m.revertRejected(stateId: try id(try str("id"))))
            case "acknowledge":
                guard let items = step["op_ids"]?.arrayValue else { throw fail("acknowledge needs op_ids") }
                let ids = try items.map { item -> String in
                    guard let s = item.stringValue else { throw fail("op_ids must be strings") }
                    return s
                }
                return .ok(["dropped": JSONValue.number(String(try m.acknowledge(opIds: ids)))])
            case "export":
                let snapshot = try m.exportState()
                if let name = step["as"]?.stringValue { names[name] = .snapshot(snapshot) }
                return .ok([
                    "states": JSONValue.number(String(snapshot.states.count)),
                    "pending": JSONValue.number(String(snapshot.pending.count)),
                    "conflicts": JSONValue.number(String(snapshot.conflicts.count)),
                ])
            case "import":
                let replace = step["replace"]?.boolValue ?? false
                let given = ["ref", "json", "snapshot"].filter { step[$0] != nil }
                guard given.count == 1 else { throw fail("import needs exactly one of ref, json, snapshot") }
                if let ref = step["ref"]?.stringValue {
                    guard case .snapshot(let s)? = names[ref] else { throw fail("import ref \(ref) names no snapshot") }
                    return .ok(try m.importState(snapshot: s, replace: replace))
                }
                if let text = step["json"]?.stringValue { return .ok(try m.importJson(json: text, replace: replace)) }
                if let literal = step["snapshot"] { return .ok(try m.importJson(json: literal.text, replace: replace)) }
                throw fail("import: ref and json must be strings")
            case "changes_since":
                var cursor = step["cursor"]?.stringValue
                if let ref = step["cursor_ref"]?.stringValue {
                    if cursor != nil { throw fail("changes_since takes a string cursor or a cursor_ref, not both") }
                    guard case .cursor(let c)? = names[ref] else { throw fail("cursor_ref \(ref) names no cursor") }
                    cursor = c
                }
                let page = try m.changesSince(cursor: cursor, context: try context(step))
                if let name = step["as"]?.stringValue { names[name] = .cursor(page.cursor) }
                return .ok((page, nil as ReconciliationResult?))
            case "pull":
                let source = try replica(try str("from")).manager
                let ctx = try context(step)
                let peer = try source.nodeId()
                let page = try source.changesSince(cursor: try m.peerCursor(peer: peer, collections: ctx.collections), context: ctx)
                return .ok((page, try m.applyChanges(peer: peer, changes: page, context: ctx) as ReconciliationResult?))
            case "sync":
                let other = try replica(try str("with")).manager
                let ctx = try context(step)
                return .ok(try blockingSync { try await m.syncWith(other: other, context: ctx) })
            case "sync_via":
                let transport = try ReplayTransport(peer: try replica(try str("with")).manager, step: step)
                let ctx = try context(step)
                return .ok(try blockingSync { try await m.sync(transport: transport, context: ctx) })
            case "auto_sync":
                guard let rounds = step["rounds"]?.uint64Value, rounds >= 1 else { throw fail("rounds must be a whole number from 1") }
                let transport = try ReplayTransport(peer: try replica(try str("with")).manager, step: [:])
                try autoSync(m, transport, rounds: Int(rounds))
                return .ok(nil)
            case "clock":
                return .ok(try clockCall(step))
            case "set_peer_cursor":
                try m.setPeerCursor(peer: try str("peer"), cursor: try cursorArg(step), collections: try context(step).collections)
                return .ok(nil)
            case "peer_cursor":
                let cursor = try m.peerCursor(peer: try str("peer"), collections: try context(step).collections)
                return .ok(cursor.map { JSONValue.string($0) } ?? JSONValue.null)
            case "open_again":
                // The same file, while the replica has it open: its store is locked.
                let clock = try ManualClock(millis: try r.clock.now())
                let second = try SyncManager(config: try configFor(r.spec, r.nodeId, r.path, clock))
                try second.close()
                return .ok(nil)
            case "close":
                let last = try? m.exportState()
                let rejections = (try? m.rejections()) ?? []
                try m.close()
                if r.closed == nil {
                    r.closed = last
                    r.closedRejections = rejections
                }
                return .ok(nil)
            default: throw fail("op \(op) is not a core call")
            }
        } catch let e as SyncError {
            return .err(e)
        }
    }

    func checkResult(_ op: String, _ expected: JSONValue, _ actual: Any?) throws {
        switch op {
        case "create", "update", "delete", "resolve_conflict", "revert_rejected": try matchState(expected, actual as! SyncState, "\(op) result")
        case "get":
            let state = actual as? SyncState
            if expected == .null && state == nil { return }
            guard expected != .null else { throw fail("get: expected no state") }
            guard let s = state else { throw fail("get: expected a state, got none") }
            try matchState(expected, s, "get result")
        case "list":
            let want = try object(expected, "list expect")
            try allow(want, ["ids"], "list expect")
            guard let items = want["ids"]?.arrayValue else { throw fail("list expect: ids must be an array") }
            let ids = Set(items.compactMap { $0.stringValue })
            let got = actual as! [String]
            if ids != Set(got) { throw fail("list: ids are \(got.sorted()), expected \(ids.sorted())") }
        case "apply":
            let want = try object(expected, "apply expect")
            try allow(want, ["outcome", "resolved", "state"], "apply expect")
            let result = actual as! ApplyResult
            if let o = want["outcome"], o != .string(outcomeName(result.outcome)) { throw fail("apply: outcome is \(outcomeName(result.outcome)), expected \(o.text)") }
            if let res = want["resolved"], res != .bool(result.resolved) { throw fail("apply: resolved is \(result.resolved), expected \(res.text)") }
            if let s = want["state"] { try matchState(s, result.state, "apply result state") }
        case "reconcile", "import": try matchCounts(expected, actual as! ReconciliationResult, "\(op) result")
        case "acknowledge": try matchFields(expected, actual as! [String: JSONValue], ["dropped"], "acknowledge result")
        case "export": try matchFields(expected, actual as! [String: JSONValue], ["states", "pending", "conflicts"], "export result")
        case "changes_since", "pull":
            let want = try object(expected, "page expect")
            try allow(want, ["ids", "has_more", "counts"], "page expect")
            let (page, counts) = actual as! (ChangeSet, ReconciliationResult?)
            if let ids = want["ids"], ids != JSONValue.array(page.states.map { JSONValue.string($0.id) }) {
                throw fail("\(op): ids are \(page.states.map { $0.id }), expected \(ids.text)")
            }
            if let more = want["has_more"], more != .bool(page.hasMore) { throw fail("\(op): has_more is \(page.hasMore)") }
            if let c = want["counts"] {
                guard let counts = counts else { throw fail("changes_since has no counts") }
                try matchCounts(c, counts, "pull counts")
            }
        case "sync", "sync_via":
            let want = try object(expected, "sync expect")
            try allow(want, ["pulled", "pushed"], "sync expect")
            let report = actual as! SyncReport
            if let p = want["pulled"] { try matchCounts(p, report.pulled, "\(op) pulled") }
            if let p = want["pushed"] { try matchCounts(p, report.pushed, "\(op) pushed") }
        case "clock":
            let got = actual as! JSONValue
            if !JSONValue.sameValue(expected, got) { throw fail("clock: got \(got.text), expected \(expected.text)") }
        case "peer_cursor":
            let want = try object(expected, "peer_cursor expect")
            try allow(want, ["cursor", "cursor_ref"], "peer_cursor expect")
            let expectedCursor: JSONValue
            switch (want["cursor"], want["cursor_ref"]) {
            case (.null?, nil): expectedCursor = .null
            case (nil, .string(let name)?):
                guard case .cursor(let c)? = names[name] else { throw fail("cursor_ref \(name) names no remembered cursor") }
                expectedCursor = .string(c)
            default: throw fail("peer_cursor expects {cursor: null} or {cursor_ref: name}")
            }
            let got = actual as! JSONValue
            if got != expectedCursor { throw fail("peer_cursor is \(got.text), expected \(expectedCursor.text)") }
        default: throw fail("op \(op) takes no expect")
        }
    }

    func checkFinal(_ expected: [String: JSONValue], reopened: Bool) throws {
        if Set(expected.keys) != Set(replicas.keys) { throw fail("the final expect must list every replica") }
        for (key, r) in replicas {
            try checkReplica(try r.view(), resolve(expected[key] ?? .null), requireAll: true, reopened: reopened,
                             reopened ? "reopened \(key)" : "final \(key)")
        }
    }

    func reopenAll() throws {
        for (key, r) in replicas {
            let before: Snapshot
            if let closed = r.closed {
                before = closed
                r.closed = nil
            } else {
                before = try r.manager.exportState()
                try r.manager.close()
            }
            let clock = try ManualClock(millis: try r.clock.now())
            // A replica whose node id was generated reopens without one and must find the same.
            r.manager = try openManager(r.spec, r.nodeId, r.path, clock)
            r.clock = clock
            if try r.manager.exportState() != before { throw fail("replica \(key) reopened from its SQLite file differs") }
        }
    }
}

/// Runs an async call to completion from synchronous test code. (The outcome crosses from the
/// task in a locked box: a task may not assign a captured variable.)
func blockingSync<T>(_ body: @escaping () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let outcome = Box<Result<T, Error>?>(nil)
    Task {
        do {
            let value = try await body()
            outcome.update { $0 = .success(value) }
        } catch {
            outcome.update { $0 = .failure(error) }
        }
        semaphore.signal()
    }
    semaphore.wait()
    guard let result = outcome.get else { throw fail("the task ended without an outcome") }
    return try result.get()
}

final class ConformanceTests: XCTestCase {
    let conformanceDir = repoRoot.appendingPathComponent("conformance")

    /// Every case file of the suite (`*.json` but `manifest.json`), parsed.
    func suiteFiles() throws -> [(String, JSONValue)] {
        let files = try FileManager.default.contentsOfDirectory(atPath: conformanceDir.path)
            .filter { $0.hasSuffix(".json") && $0 != "manifest.json" }.sorted()
        XCTAssertFalse(files.isEmpty, "no conformance files in \(conformanceDir.path)")
        return try files.map { ($0, try JSONValue.parse(try Data(contentsOf: conformanceDir.appendingPathComponent($0)))) }
    }

    /// `manifest.json`: each case file and its number of cases.
    func manifest() throws -> [String: Int] {
        let text = try JSONValue.parse(try Data(contentsOf: conformanceDir.appendingPathComponent("manifest.json")))
        guard let files = text["files"]?.objectValue else { throw fail("manifest.json has no files object") }
        var counts: [String: Int] = [:]
        for (file, n) in files {
            guard let count = n.uint64Value else { throw fail("manifest.json: the count of \(file) is not a whole number") }
            counts[file] = Int(count)
        }
        return counts
    }

    func runCase(_ c: [String: JSONValue], sqlite: Bool) throws {
        try allow(c, ["name", "description", "replicas", "steps", "expect"], c["name"]?.stringValue ?? "?")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statesync-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Run(c, sqliteDir: sqlite ? dir : nil)
        defer { run.closeAll() }
        guard let steps = c["steps"]?.arrayValue else { throw fail("a case needs steps") }
        for (i, step) in steps.enumerated() {
            do { try run.runStep(step) } catch let f as CaseFailure {
                throw fail("step \(i) (\(step["op"]?.stringValue ?? "?")): \(f.description)")
            }
        }
        let expected = try object(c["expect"], "expect")
        try run.checkFinal(expected, reopened: false)
        if sqlite {
            try run.reopenAll()
            try run.checkFinal(expected, reopened: true)
        }
    }

    func testEveryCaseInMemoryAndOnSQLite() throws {
        var total = 0
        var failures: [String] = []
        var names = Set<String>()
        var counts: [String: Int] = [:]
        for (file, suite) in try suiteFiles() {
            guard let o = suite.objectValue, let cases = o["cases"]?.arrayValue else {
                failures.append("\(file) has no cases")
                continue
            }
            do { try allow(o, ["description", "cases"], file) } catch { failures.append("\(error)") }
            counts[file] = cases.count
            for c in cases {
                guard let o = c.objectValue, let name = o["name"]?.stringValue else { failures.append("\(file): a case has no name"); continue }
                if !names.insert(name).inserted { failures.append("\(file) / \(name): duplicate case name") }
                total += 1
                for sqlite in [false, true] {
                    do { try runCase(o, sqlite: sqlite) } catch {
                        failures.append("\(file) / \(name) [\(sqlite ? "sqlite" : "memory")]: \(error)")
                    }
                }
            }
        }
        // manifest.json pins the files and the number of cases in each: a file or a case this
        // replayer would not see fails here instead of passing unnoticed.
        let pinned = try manifest()
        XCTAssertEqual(Set(counts.keys), Set(pinned.keys), "the suite's files and manifest.json's differ")
        for (file, count) in pinned where counts[file] != nil {
            XCTAssertEqual(counts[file], count, "\(file): manifest.json pins \(count) cases")
        }
        XCTAssertGreaterThanOrEqual(total, 250, "the suite shrank")
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }
}
