// Replays the cross-language conformance suite (every conformance/<file>.json, format in
// conformance/README.md) through the Swift API: a port of the Rust, Python and Kotlin replayers.
// Every case runs on in-memory replicas, then on SQLite files that are closed, reopened and
// checked again (the durability run).
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

let stateKeys = ["id", "collection", "data", "clock", "timestamp", "modified_by", "deleted", "version", "hash"]
let opKeys = ["op_id", "kind", "state_id", "collection", "data", "clock", "timestamp", "node_id"]
let countKeys = ["created", "updated", "unchanged", "ignored", "conflicts", "resolved", "rejected"]

/// Matches an expected array item by item (exactly as long), comparing the keys each item gives.
func matchList(_ expected: JSONValue?, _ actual: [[String: JSONValue]], _ allowed: [String], _ what: String) throws {
    guard let want = expected?.arrayValue else { throw fail("\(what) must be an array") }
    if want.count != actual.count { throw fail("\(what): \(actual.count) items, expected \(want.count)") }
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

func matchState(_ expected: JSONValue?, _ actual: SyncState, _ what: String) throws {
    try matchFields(expected, try stateJSON(actual), stateKeys, what)
}

func matchConflict(_ expected: JSONValue?, _ actual: SyncConflict, _ what: String) throws {
    let m = try object(expected, what)
    try allow(m, ["state_id", "local", "remote", "detected_at"], what)
    if let s = m["state_id"], !JSONValue.sameValue(s, .string(actual.stateId)) { throw fail("\(what): state_id is \(actual.stateId)") }
    if let d = m["detected_at"], !JSONValue.sameValue(d, .number(String(actual.detectedAt))) { throw fail("\(what): detected_at is \(actual.detectedAt)") }
    if let l = m["local"] { try matchState(l, actual.local, "\(what).local") }
    if let r = m["remote"] { try matchState(r, actual.remote, "\(what).remote") }
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

func openManager(_ spec: [String: JSONValue], _ nodeId: String, _ path: String?, _ clock: ManualClock) throws -> SyncManager {
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
    do { return try SyncManager(config: config) } catch let e as SyncError { throw fail("opening \(nodeId): \(e.code) \(e.message)") }
}

final class Replica {
    let spec: [String: JSONValue]
    let nodeId: String
    var clock: ManualClock
    let path: String?
    var manager: SyncManager
    var closed: Snapshot?
    /// The rejections held right before a `close` step.
    var closedRejections: [Rejection] = []

    init(spec: [String: JSONValue], nodeId: String, clock: ManualClock, path: String?, manager: SyncManager) {
        self.spec = spec
        self.nodeId = nodeId
        self.clock = clock
        self.path = path
        self.manager = manager
    }

    struct View {
        let states: [SyncState]
        let pending: [SyncOperation]
        let conflicts: [SyncConflict]
        let rejections: [Rejection]
        let status: Status
    }

    func view() throws -> View {
        let status = manager.status()
        if let s = closed {
            return View(states: s.states, pending: s.pending, conflicts: s.conflicts, rejections: closedRejections, status: status)
        }
        let view = View(states: try manager.listStates(includeDeleted: true), pending: try manager.pendingOperations(),
                        conflicts: try manager.conflicts(), rejections: try manager.rejections(), status: status)
        let export = try manager.exportState()
        if export.states.sorted(by: { $0.id < $1.id }) != view.states.sorted(by: { $0.id < $1.id })
            || export.pending != view.pending || export.conflicts != view.conflicts {
            throw fail("exportState() disagrees with listStates/pendingOperations/conflicts")
        }
        return view
    }

    /// The replica's content, for "a failing step changes nothing".
    func content() -> String {
        do { return String(describing: try manager.exportState()) } catch let e as SyncError { return "error \(e.code)" } catch { return "error" }
    }
}

func checkReplica(_ view: Replica.View, _ expected: JSONValue?, requireAll: Bool, skipStatus: Bool, _ what: String) throws {
    let m = try object(expected, what)
    try allow(m, ["states", "pending", "conflicts", "rejections", "status"], what)
    if requireAll { for k in ["states", "pending", "conflicts"] where m[k] == nil { throw fail("\(what): the final expectation must give \(k)") } }
    if let statesEl = m["states"] {
        let states = try object(statesEl, "\(what).states")
        let got = view.states.map { $0.id }
        if Set(states.keys) != Set(got) || got.count != Set(got).count { throw fail("\(what): stored ids are \(got.sorted()), expected \(states.keys.sorted())") }
        for s in view.states { try matchState(states[s.id], s, "\(what).states[\(s.id)]") }
    }
    if let p = m["pending"] {
        guard let pending = p.arrayValue else { throw fail("\(what).pending must be an array") }
        if pending.count != view.pending.count { throw fail("\(what): \(view.pending.count) pending operations, expected \(pending.count)") }
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
    if let s = m["status"]?.stringValue, !(skipStatus && s == "closed"), statusName(view.status) != s {
        throw fail("\(what): status is \(statusName(view.status)), expected \(s)")
    }
}

// ---- steps ------------------------------------------------------------------------------------

let commonKeys = ["replica", "op", "expect", "expect_error", "comment"]
let stepKeys: [String: [String]] = [
    "create": ["id", "collection", "data"], "update": ["id", "data"], "delete": ["id"], "get": ["id"],
    "list": ["collection", "include_deleted"], "set_clock": ["millis"], "capture": ["id", "as"],
    "capture_conflict": ["state_id", "as"], "apply": ["ref", "state", "json"], "reconcile": ["items"],
    "resolve_conflict": ["state_id", "conflict_ref", "conflict_id", "resolution"], "acknowledge": ["op_ids"],
    "export": ["as"], "import": ["ref", "json", "snapshot", "replace"], "close": [], "check": [],
    "changes_since": ["cursor", "cursor_ref", "collections", "limit", "as"], "pull": ["from", "collections", "limit"],
    "sync": ["with", "collections", "limit"],
]

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

    init(_ c: [String: JSONValue], sqliteDir: URL?) throws {
        let specs = try object(c["replicas"], "replicas")
        for (i, key) in specs.keys.sorted().enumerated() {
            let spec = try object(specs[key], "replica \(key)")
            try allow(spec, ["node_id", "strategy", "collection_strategies", "clock", "check_resolver", "max_state_bytes", "max_clock_skew_ms"], key)
            guard let nodeId = spec["node_id"]?.stringValue else { throw fail("replica \(key) needs node_id") }
            let clock = ManualClock(millis: spec["clock"]?.uint64Value ?? 1000)
            let path = sqliteDir?.appendingPathComponent("replica-\(i).db").path
            replicas[key] = Replica(spec: spec, nodeId: nodeId, clock: clock, path: path, manager: try openManager(spec, nodeId, path, clock))
        }
    }

    func closeAll() { for r in replicas.values { try? r.manager.close() } }

    func replica(_ key: String) throws -> Replica {
        guard let r = replicas[key] else { throw fail("unknown replica \(key)") }
        return r
    }

    func source(_ src: [String: JSONValue], _ what: String) throws -> Outcome {
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
        throw fail("\(what): give exactly one of ref, state, json")
    }

    func conflictOf(_ key: String, _ stateId: String) throws -> String {
        let ids = try replica(key).manager.conflicts().filter { $0.stateId == stateId }.map { $0.conflictId }
        guard ids.count == 1 else { throw fail("\(ids.count) conflicts on \(stateId), the step needs exactly one") }
        return ids[0]
    }

    func context(_ step: [String: JSONValue]) throws -> SyncContext {
        let collections = try step["collections"].map { c -> [String] in
            guard let items = c.arrayValue else { throw fail("collections must be an array") }
            return items.compactMap { $0.stringValue }
        } ?? []
        return SyncContext(collections: collections, limit: step["limit"]?.uint64Value.map { UInt32($0) })
    }

    func runStep(_ stepEl: JSONValue) throws {
        let step = try object(stepEl, "step")
        guard let op = step["op"]?.stringValue, let key = step["replica"]?.stringValue, let allowed = stepKeys[op] else {
            throw fail("a step needs a known op and a replica")
        }
        try allow(step, commonKeys + allowed, op)
        let r = try replica(key)
        switch op {
        case "set_clock":
            guard let millis = step["millis"]?.uint64Value else { throw fail("set_clock needs millis") }
            r.clock.set(millis: millis)
            return
        case "check":
            try checkReplica(try r.view(), step["expect"], requireAll: false, skipStatus: false, "check of \(key)")
            return
        case "capture":
            let id = step["id"]?.stringValue ?? ""
            guard let s = try r.manager.listStates(includeDeleted: true).first(where: { $0.id == id }), let name = step["as"]?.stringValue else {
                throw fail("capture: no state \(id)")
            }
            names[name] = .state(s)
            return
        case "capture_conflict":
            guard let name = step["as"]?.stringValue, let sid = step["state_id"]?.stringValue else { throw fail("capture_conflict needs state_id and as") }
            names[name] = .conflict(try conflictOf(key, sid))
            return
        default: break
        }
        let expectError = step["expect_error"]?.stringValue
        let before = expectError != nil ? r.content() : nil
        let result = try call(key, op, step)
        if let code = expectError {
            switch result {
            case .ok(let v): throw fail("expected error \(code), but the call succeeded with \(String(describing: v))")
            case .err(let e):
                if e.code != code { throw fail("expected error \(code), got \(e.code) (\(e.message))") }
                if try replica(key).content() != before { throw fail("the failing step (\(code)) changed the replica") }
            }
            return
        }
        switch result {
        case .err(let e): throw fail("unexpected error \(e.code) (\(e.message))")
        case .ok(let v): if let want = step["expect"] { try checkResult(op, want, v) }
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
            case "create": return .ok(try m.createState(data: try data(), id: step["id"]?.stringValue, collection: step["collection"]?.stringValue))
            case "update": return .ok(try m.updateState(id: try str("id"), data: try data()))
            case "delete": return .ok(try m.deleteState(id: try str("id")))
            case "get": return .ok(try m.getState(id: try str("id")))
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
                let conflictId: String
                if let sid = step["state_id"]?.stringValue {
                    conflictId = try conflictOf(key, sid)
                } else if let ref = step["conflict_ref"]?.stringValue, case .conflict(let id)? = names[ref] {
                    conflictId = id
                } else if let id = step["conflict_id"]?.stringValue {
                    conflictId = id
                } else {
                    throw fail("resolve_conflict needs one of state_id, conflict_ref, conflict_id")
                }
                let resolution: Resolution
                switch step["resolution"] {
                case .string("local")?: resolution = .local
                case .string("remote")?: resolution = .remote
                case .object(let o)? where o.keys.sorted() == ["data"]: resolution = .custom(data: o["data"]!.text)
                default: throw fail("bad resolution")
                }
                return .ok(try m.resolveConflict(conflictId: conflictId, resolution: resolution))
            case "acknowledge":
                let ids = step["op_ids"]?.arrayValue?.compactMap { $0.stringValue } ?? []
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
                if let ref = step["ref"]?.stringValue {
                    guard case .snapshot(let s)? = names[ref] else { throw fail("import ref \(ref) names no snapshot") }
                    return .ok(try m.importState(snapshot: s, replace: replace))
                }
                if let text = step["json"]?.stringValue { return .ok(try m.importJson(json: text, replace: replace)) }
                if let literal = step["snapshot"] { return .ok(try m.importJson(json: literal.text, replace: replace)) }
                throw fail("import needs one of ref, json, snapshot")
            case "changes_since":
                var cursor = step["cursor"]?.stringValue
                if let ref = step["cursor_ref"]?.stringValue {
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
        case "create", "update", "delete", "resolve_conflict": try matchState(expected, actual as! SyncState, "\(op) result")
        case "get":
            let state = actual as? SyncState
            if expected == .null && state == nil { return }
            guard expected != .null else { throw fail("get: expected no state") }
            guard let s = state else { throw fail("get: expected a state, got none") }
            try matchState(expected, s, "get result")
        case "list":
            let want = try object(expected, "list expect")
            let ids = Set(want["ids"]?.arrayValue?.compactMap { $0.stringValue } ?? [])
            if ids != Set(actual as! [String]) { throw fail("list: ids are \(actual!), expected \(ids)") }
        case "apply":
            let want = try object(expected, "apply expect")
            try allow(want, ["outcome", "resolved", "state"], "apply expect")
            let result = actual as! ApplyResult
            if let o = want["outcome"]?.stringValue, o != outcomeName(result.outcome) { throw fail("apply: outcome is \(outcomeName(result.outcome)), expected \(o)") }
            if let res = want["resolved"]?.boolValue, res != result.resolved { throw fail("apply: resolved is \(result.resolved)") }
            if let s = want["state"] { try matchState(s, result.state, "apply result state") }
        case "reconcile", "import": try matchCounts(expected, actual as! ReconciliationResult, "\(op) result")
        case "acknowledge": try matchFields(expected, actual as! [String: JSONValue], ["dropped"], "acknowledge result")
        case "export": try matchFields(expected, actual as! [String: JSONValue], ["states", "pending", "conflicts"], "export result")
        case "changes_since", "pull":
            let want = try object(expected, "page expect")
            try allow(want, ["ids", "has_more", "counts"], "page expect")
            let (page, counts) = actual as! (ChangeSet, ReconciliationResult?)
            if let ids = want["ids"]?.arrayValue?.compactMap({ $0.stringValue }), ids != page.states.map({ $0.id }) {
                throw fail("\(op): ids are \(page.states.map { $0.id }), expected \(ids)")
            }
            if let more = want["has_more"]?.boolValue, more != page.hasMore { throw fail("\(op): has_more is \(page.hasMore)") }
            if let c = want["counts"] {
                guard let counts = counts else { throw fail("changes_since has no counts") }
                try matchCounts(c, counts, "pull counts")
            }
        case "sync":
            let want = try object(expected, "sync expect")
            let report = actual as! SyncReport
            if let p = want["pulled"] { try matchCounts(p, report.pulled, "sync pulled") }
            if let p = want["pushed"] { try matchCounts(p, report.pushed, "sync pushed") }
        default: throw fail("op \(op) takes no expect")
        }
    }

    func checkFinal(_ expected: [String: JSONValue], reopened: Bool) throws {
        if Set(expected.keys) != Set(replicas.keys) { throw fail("the final expect must list every replica") }
        for (key, r) in replicas {
            try checkReplica(try r.view(), expected[key], requireAll: true, skipStatus: reopened, reopened ? "reopened \(key)" : "final \(key)")
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
            let clock = ManualClock(millis: r.clock.now())
            r.manager = try openManager(r.spec, r.nodeId, r.path, clock)
            r.clock = clock
            if try r.manager.exportState() != before { throw fail("replica \(key) reopened from its SQLite file differs") }
        }
    }
}

/// Runs an async call to completion from synchronous test code.
func blockingSync<T>(_ body: @escaping () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    var result: Result<T, Error>!
    Task {
        do { result = .success(try await body()) } catch { result = .failure(error) }
        semaphore.signal()
    }
    semaphore.wait()
    return try result.get()
}

final class ConformanceTests: XCTestCase {
    func suiteFiles() throws -> [(String, JSONValue)] {
        let dir = repoRoot.appendingPathComponent("conformance")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertFalse(files.isEmpty, "no conformance files in \(dir.path)")
        return try files.map { ($0, try JSONValue.parse(try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }

    func runCase(_ c: [String: JSONValue], sqlite: Bool) throws {
        try allow(c, ["name", "description", "replicas", "steps", "expect"], c["name"]?.stringValue ?? "?")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statesync-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Run(c, sqliteDir: sqlite ? dir : nil)
        defer { run.closeAll() }
        for (i, step) in (c["steps"]?.arrayValue ?? []).enumerated() {
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
        for (file, suite) in try suiteFiles() {
            for c in suite["cases"]?.arrayValue ?? [] {
                guard let o = c.objectValue, let name = o["name"]?.stringValue else { failures.append("\(file): a case has no name"); continue }
                XCTAssertTrue(names.insert(name).inserted, "duplicate case name \(name)")
                total += 1
                for sqlite in [false, true] {
                    do { try runCase(o, sqlite: sqlite) } catch {
                        failures.append("\(file) / \(name) [\(sqlite ? "sqlite" : "memory")]: \(error)")
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(total, 60, "the suite shrank")
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }
}
