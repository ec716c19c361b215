package io.statesync

import java.math.BigDecimal
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.io.path.name
import kotlin.io.path.readText
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.json.put
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import kotlin.test.assertTrue

/**
 * Replays the cross-language conformance suite (every `conformance/<file>.json`, format in
 * `conformance/README.md`, counts pinned by `conformance/manifest.json`) through the Kotlin API
 * as an application uses it: a port of the Rust replayer, rule for rule. Every case runs on
 * in-memory replicas, then on SQLite files that are closed, reopened and checked again (the
 * durability run). One dynamic test per case and mode.
 */
class ConformanceTest {
    @TestFactory
    fun `every conformance case, in memory and on SQLite`(): List<DynamicTest> =
        suiteFiles().flatMap { (file, suite) ->
            val cases = (suite as? JsonObject)?.get("cases") as? JsonArray
                ?: return@flatMap listOf(DynamicTest.dynamicTest("$file has no cases") { fail("$file has no cases array") })
            cases.flatMap { case ->
                val name = ((case as? JsonObject)?.get("name") as? JsonPrimitive)?.content ?: "?"
                listOf("memory", "sqlite").map { mode ->
                    DynamicTest.dynamicTest("$file / $name [$mode]") {
                        try {
                            withTempDir { dir -> runCase(obj(case, "case"), mode, dir) }
                        } catch (e: CaseFailure) {
                            throw AssertionError("$file / $name [$mode]: ${e.message}")
                        }
                    }
                }
            }
        }

    @Test
    fun `the suite reads, knows only documented keys and holds exactly what manifest json lists`() {
        val problems = mutableListOf<String>()
        val names = mutableMapOf<String, String>()
        var total = 0
        val counts = mutableMapOf<String, Int>()
        for ((file, suite) in suiteFiles()) {
            if (suite !is JsonObject) {
                problems += "$file must hold a JSON object"
                continue
            }
            (suite.keys - setOf("description", "cases")).takeIf { it.isNotEmpty() }?.let { problems += "$file: unknown keys $it" }
            val cases = suite["cases"] as? JsonArray
            if (cases.isNullOrEmpty()) {
                problems += "$file has no cases"
                continue
            }
            counts[file] = cases.size
            for (case in cases) {
                total++
                val c = case as? JsonObject ?: run { problems += "$file: a case is not an object"; null } ?: continue
                val name = (c["name"] as? JsonPrimitive)?.content
                if (name.isNullOrEmpty()) {
                    problems += "$file: a case has no name"
                    continue
                }
                names.put(name, file)?.let { problems += "$file / $name: duplicate case name (also in $it)" }
                (c.keys - CASE_KEYS).takeIf { it.isNotEmpty() }?.let { problems += "$file / $name: unknown keys $it" }
            }
        }
        // manifest.json pins the files and the number of cases in each: a file or a case this
        // replayer would not see fails here instead of passing unnoticed.
        val pinned = manifest()
        if (pinned.keys != counts.keys) problems += "the suite's files ${counts.keys.sorted()} are not manifest.json's ${pinned.keys.sorted()}"
        for ((file, count) in pinned) {
            if (counts[file] != null && counts[file] != count) problems += "$file: ${counts[file]} cases, manifest.json pins $count"
        }
        if (total < MIN_CASES) problems += "only $total conformance cases, expected at least $MIN_CASES"
        assertTrue(problems.isEmpty(), problems.joinToString("\n"))
    }

    companion object {
        /** The suite must not shrink silently (besides the per-file counts of `manifest.json`). */
        const val MIN_CASES = 250
        val CASE_KEYS = setOf("name", "description", "replicas", "steps", "expect")

        /** Every case file of the suite (`*.json` but `manifest.json`), parsed (a file that does not parse fails the shape test). */
        fun suiteFiles(): List<Pair<String, JsonElement?>> =
            Files.list(Repo.conformance).use { paths ->
                paths.filter { it.name.endsWith(".json") && it.name != "manifest.json" }.sorted().toList()
            }.map { path: Path ->
                path.name to runCatching { Json.parseToJsonElement(path.readText()) }.getOrNull()
            }.also { require(it.isNotEmpty()) { "no conformance files in ${Repo.conformance}" } }

        /** `manifest.json`: each case file and its number of cases. */
        fun manifest(): Map<String, Int> {
            val text = Repo.conformance.resolve("manifest.json").readText()
            val files = (Json.parseToJsonElement(text) as? JsonObject)?.get("files") as? JsonObject
                ?: throw AssertionError("manifest.json has no files object")
            return files.mapValues { (file, n) ->
                (n as? JsonPrimitive)?.takeUnless { it.isString }?.content?.toIntOrNull()
                    ?: throw AssertionError("manifest.json: the count of $file is not a whole number")
            }
        }
    }
}

// ---- failures and JSON access ---------------------------------------------------------------------

/** The binding did not do what the case expects, or the case itself is malformed. */
class CaseFailure(message: String) : Exception(message)

fun fail(message: String): Nothing = throw CaseFailure(message)

private fun short(value: Any?): String = value.toString().let { if (it.length <= 300) it else it.take(300) + "..." }

private fun obj(value: JsonElement?, what: String): JsonObject = value as? JsonObject ?: fail("$what must be a JSON object, got ${short(value)}")

private fun JsonObject.string(key: String, what: String): String =
    (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content ?: fail("$what: missing or non-string '$key'")

private fun JsonObject.optString(key: String): String? = when (val v = this[key]) {
    null, is JsonNull -> null
    is JsonPrimitive -> if (v.isString) v.content else fail("$key must be a string")
    else -> fail("$key must be a string")
}

private fun JsonObject.bool(key: String, default: Boolean): Boolean = when (val v = this[key]) {
    null -> default
    is JsonPrimitive -> v.takeUnless { it.isString }?.booleanOrNull ?: fail("$key must be a boolean")
    else -> fail("$key must be a boolean")
}

private fun JsonObject.nonNegative(key: String, what: String): Long =
    (this[key] as? JsonPrimitive)?.takeUnless { it.isString }?.longOrNull?.takeIf { it >= 0 }
        ?: fail("$what: $key must be a non-negative integer")

private fun allow(m: JsonObject, allowed: Collection<String>, what: String) {
    for (k in m.keys) if (k !in allowed) fail("$what: unknown key '$k' (allowed: $allowed)")
}

// ---- matchers -----------------------------------------------------------------------------------

private val STATE_KEYS =
    listOf("id", "collection", "data", "clock", "timestamp", "modified_by", "deleted", "version", "hash", "fields")
private val OP_KEYS = listOf("op_id", "kind", "state_id", "collection", "data", "clock", "timestamp", "node_id")
private val COUNT_KEYS = listOf("created", "updated", "unchanged", "ignored", "conflicts", "resolved", "rejected")
private val EVENT_KEYS = listOf("name", "id", "data", "state_id", "code", "peer", "previous", "current")

private fun matchFields(expected: JsonElement?, actual: JsonObject, allowed: List<String>, what: String) {
    val m = obj(expected, what)
    allow(m, allowed, what)
    for ((key, want) in m) {
        val got = actual[key] ?: JsonNull
        if (!jsonEq(want, got)) fail("$what: $key is ${short(got)}, expected ${short(want)}")
    }
}

/** Matches an expected array item by item (exactly as long), comparing the keys each item gives. */
private fun matchList(expected: JsonElement?, actual: List<JsonObject>, allowed: List<String>, what: String) {
    val want = expected as? JsonArray ?: fail("$what must be an array")
    if (want.size != actual.size) fail("$what: ${actual.size} items ${short(actual)}, expected ${want.size}")
    want.zip(actual).forEachIndexed { i, (w, got) -> matchFields(w, got, allowed, "$what[$i]") }
}

/** COUNTS: the counts given, and `rejections` as a list of `{id, code}` (never the message). */
private fun matchCounts(expected: JsonElement?, actual: ReconciliationResult, what: String) {
    val counts = obj(expected, what)
    counts["rejections"]?.let { want ->
        val got = actual.rejections.map { buildJsonObject { put("id", it.id); put("code", it.code) } }
        matchList(want, got, listOf("id", "code"), "$what.rejections")
    }
    matchFields(JsonObject(counts - "rejections"), actual.toJsonObject(), COUNT_KEYS, what)
}

/** True for a generated id or node id: a UUID v4 in its lower-case hyphenated form. */
private fun isUuidV4(text: String): Boolean =
    Regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").matches(text)

/** Checks an `id_form` / `node_id_form` expectation (`"uuid"`, or none) against [value]. */
private fun checkForm(form: JsonElement?, value: String, what: String) {
    when {
        form == null -> {}
        form is JsonPrimitive && form.isString && form.content == "uuid" ->
            if (!isUuidV4(value)) fail("$what \"$value\" is not a generated UUID v4")
        else -> fail("$what: unknown form ${short(form)}")
    }
}

private fun matchState(expected: JsonElement?, actual: SyncState, what: String) {
    val m = obj(expected, what)
    checkForm(m["id_form"], actual.id, "$what: id")
    matchFields(JsonObject(m - "id_form"), actual.toJsonObject(), STATE_KEYS, what)
}

private fun matchConflict(expected: JsonElement?, actual: SyncConflict, what: String) {
    val m = obj(expected, what)
    allow(m, listOf("state_id", "local", "remote", "detected_at"), what)
    m["state_id"]?.let { if (!jsonEq(it, JsonPrimitive(actual.stateId))) fail("$what: state_id is ${actual.stateId}, expected $it") }
    m["detected_at"]?.let {
        if (!jsonEq(it, JsonPrimitive(actual.detectedAt.toLong()))) fail("$what: detected_at is ${actual.detectedAt}, expected $it")
    }
    m["local"]?.let { matchState(it, actual.local, "$what.local") }
    m["remote"]?.let { matchState(it, actual.remote, "$what.remote") }
}

/** An event as the suite matches it (EVENT_MATCHER). */
private fun eventJson(event: SyncEvent): JsonObject = buildJsonObject {
    put("name", event.name)
    when (event) {
        is SyncEvent.StateCreated, is SyncEvent.StateUpdated, is SyncEvent.StateDeleted -> {
            val state = event.state!!
            put("id", state.id)
            put("data", state.json)
        }
        is SyncEvent.ConflictDetected -> put("state_id", event.conflict.stateId)
        is SyncEvent.ConflictResolved -> put("state_id", event.stateId)
        is SyncEvent.StateRejected -> {
            put("state_id", event.stateId)
            put("code", event.code)
        }
        is SyncEvent.SyncStarted -> put("peer", event.peer)
        is SyncEvent.SyncCompleted -> put("peer", event.peer)
        is SyncEvent.SyncFailed -> put("peer", event.peer)
        is SyncEvent.StatusChanged -> {
            put("previous", event.previous.name.lowercase())
            put("current", event.current.name.lowercase())
        }
    }
}

// ---- the named custom resolvers (README "Custom resolvers") ------------------------------------

private fun numberN(state: SyncState): JsonPrimitive? {
    if (state.deleted) return null
    val n = (state.json as? JsonObject)?.get("n") as? JsonPrimitive ?: return null
    return n.takeIf { !it.isString && it.booleanOrNull == null && it !is JsonNull }
}

private fun stringsOf(state: SyncState): List<String> {
    if (state.deleted) return emptyList()
    val items = state.json as? JsonArray ?: return emptyList()
    return items.mapNotNull { (it as? JsonPrimitive)?.takeIf { p -> p.isString }?.content }
}

private val RESOLVERS: Map<String, ConflictResolver> = mapOf(
    "max_n" to object : ConflictResolver {
        override fun resolve(local: SyncState, remote: SyncState): Resolved {
            val (a, b) = numberN(local) to numberN(remote)
            val best = when {
                a == null && b == null -> return Resolved.Deleted
                a == null -> b!!
                b == null -> a
                else -> if (BigDecimal(b.content) > BigDecimal(a.content)) b else a
            }
            return resolvedData(buildJsonObject { put("n", best) })
        }
    },
    "union" to object : ConflictResolver {
        override fun resolve(local: SyncState, remote: SyncState): Resolved =
            resolvedData(JsonArray((stringsOf(local) + stringsOf(remote)).toSortedSet().map(::JsonPrimitive)))
    },
    "non_commutative" to object : ConflictResolver {
        override fun resolve(local: SyncState, remote: SyncState): Resolved = Resolved.Data(local.data)
    },
    "failing" to object : ConflictResolver {
        override fun resolve(local: SyncState, remote: SyncState): Resolved =
            throw IllegalStateException("the conformance resolver \"failing\" always fails")
    },
)

private fun parseStrategy(value: JsonElement?): ConflictStrategy {
    if (value is JsonPrimitive && value.isString) {
        return try {
            strategyFromName(value.content)
        } catch (e: SyncException) {
            fail("unknown strategy ${value.content}")
        }
    }
    val custom = ((value as? JsonObject)?.takeIf { it.size == 1 }?.get("custom") as? JsonPrimitive)?.content
        ?: fail("bad strategy ${short(value)}")
    return ConflictStrategy.Custom(RESOLVERS[custom] ?: fail("unknown custom resolver $custom"))
}

// ---- replicas -------------------------------------------------------------------------------------

private val REPLICA_KEYS =
    listOf("node_id", "strategy", "collection_strategies", "clock", "check_resolver", "max_state_bytes", "max_clock_skew_ms")

/** The configuration a replica's `spec` gives (`nodeId` null: the replica generates one and its store keeps it). */
private fun configFor(spec: JsonObject, nodeId: String?, path: String?, clock: ManualClock): ManagerConfig {
    val what = "replica ${nodeId ?: "(generated node id)"}"
    val config = ManagerConfig(
        nodeId = nodeId,
        path = path,
        strategy = spec["strategy"]?.let(::parseStrategy),
        collectionStrategies = (spec["collection_strategies"]?.let { obj(it, "collection_strategies") } ?: JsonObject(emptyMap()))
            .mapValues { (_, s) -> parseStrategy(s) },
        clock = clock,
        checkResolver = spec.bool("check_resolver", true),
        maxClockSkew = if ("max_clock_skew_ms" in spec) Duration.ofMillis(spec.nonNegative("max_clock_skew_ms", what)) else null,
    )
    return if ("max_state_bytes" in spec) config.copy(maxStateBytes = spec.nonNegative("max_state_bytes", what).toULong()) else config
}

private fun openManager(spec: JsonObject, nodeId: String?, path: String?, clock: ManualClock): SyncManager =
    try {
        SyncManager(configFor(spec, nodeId, path, clock))
    } catch (e: SyncException) {
        fail("opening replica ${nodeId ?: "(generated node id)"}: ${e.code} ${e.message}")
    }

private class View(
    val nodeId: String,
    val states: List<SyncState>,
    val pending: List<SyncOperation>,
    val conflicts: List<SyncConflict>,
    val rejections: List<Rejection>,
    val status: Status,
)

/** One replica of a case; [nodeId] is the case's, `null` when the replica generated its own. */
private class Replica(val spec: JsonObject, val nodeId: String?, var clock: ManualClock, val path: String?, var manager: SyncManager) {
    /** The export taken right before a `close` step. */
    var closed: Snapshot? = null

    /** The rejections held right before a `close` step. */
    var closedRejections: List<Rejection> = emptyList()

    /** The events heard since a `subscribe` step (a listener appends them on the committing thread). */
    var events: MutableList<JsonObject>? = null

    fun view(): View {
        val status = try {
            manager.status()
        } catch (e: SyncException) {
            fail("reading the status: ${e.code} ${e.message}")
        }
        closed?.let { return View(it.nodeId, it.states, it.pending, it.conflicts, closedRejections, status) }
        val (view, export) = try {
            View(
                manager.nodeId(), manager.listStates(includeDeleted = true), manager.pendingOperations(), manager.conflicts(),
                manager.rejections(), status,
            ) to manager.exportState()
        } catch (e: SyncException) {
            fail("reading the replica: ${e.code} ${e.message}")
        }
        if (export.states.sortedBy { it.id } != view.states.sortedBy { it.id } || export.pending != view.pending ||
            export.conflicts != view.conflicts || export.nodeId != view.nodeId
        ) {
            fail("exportState() disagrees with nodeId/listStates/pendingOperations/conflicts")
        }
        return view
    }

    /** The replica's full content, for "a failing step changes nothing". */
    fun content(): Any = try {
        manager.exportState()
    } catch (e: SyncException) {
        "error ${e.code}"
    }
}

private fun checkReplica(view: View, expected: JsonElement?, requireAll: Boolean, reopened: Boolean, what: String) {
    val m = obj(expected, what)
    allow(m, listOf("states", "pending", "conflicts", "rejections", "status", "node_id_form"), what)
    checkForm(m["node_id_form"], view.nodeId, "$what: node id")
    if (requireAll) for (k in listOf("states", "pending", "conflicts")) if (k !in m) fail("$what: the final expectation must give $k")
    m["states"]?.let { statesEl ->
        val states = obj(statesEl, "$what.states")
        val got = view.states.map { it.id }
        if (states.keys != got.toSet() || got.size != got.toSet().size) fail("$what: stored state ids are ${got.sorted()}, expected ${states.keys.sorted()}")
        for (s in view.states) matchState(states[s.id], s, "$what.states[${s.id}]")
    }
    m["pending"]?.let { p ->
        val pending = p as? JsonArray ?: fail("$what.pending must be an array")
        if (pending.size != view.pending.size) fail("$what: ${view.pending.size} pending operations ${view.pending.map { it.opId }}, expected ${pending.size}")
        pending.zip(view.pending).forEachIndexed { i, (want, op) -> matchFields(want, op.toJsonObject(), OP_KEYS, "$what.pending[$i]") }
    }
    m["conflicts"]?.let { c ->
        val conflicts = c as? JsonArray ?: fail("$what.conflicts must be an array")
        if (conflicts.size != view.conflicts.size) fail("$what: conflicts on ${view.conflicts.map { it.stateId }}, expected ${conflicts.size}")
        conflicts.zip(view.conflicts).forEachIndexed { i, (want, got) -> matchConflict(want, got, "$what.conflicts[$i]") }
    }
    m["rejections"]?.let { r ->
        val got = view.rejections.map {
            buildJsonObject {
                put("state_id", it.stateId)
                put("code", it.code)
            }
        }
        matchList(r, got, listOf("state_id", "code"), "$what.rejections")
    }
    m["status"]?.let { s ->
        val want = (s as? JsonPrimitive)?.content ?: fail("$what.status must be a string")
        // Neither a closed replica nor a failed round is stored: a reopened replica is neither.
        if (!(reopened && (want == "closed" || want == "error"))) {
            val got = view.status.name.lowercase()
            if (got != want) fail("$what: status is $got, expected $want")
        }
    }
}

// ---- the transport of `sync_via` and `auto_sync` (README: "sync_via") -----------------------------

/**
 * A peer replica reached through a transport written here, as an application writes one: its
 * capabilities as the step overrides them, and a failure on one call when the step asks for it.
 */
private class ReplayTransport(val peer: SyncManager, step: JsonObject) : SyncTransport {
    private val overrides: JsonObject = step["capabilities"]?.let { obj(it, "capabilities") } ?: JsonObject(emptyMap())

    init {
        allow(overrides, listOf("scoped_sync", "max_batch", "max_body_bytes", "protocol", "node_id"), "capabilities")
    }

    // The overrides, read here so that a malformed one fails the case, not the round.
    private val protocol: ULong? = number("protocol")?.toULong()
    private val nodeId: String? = overrides.optString("node_id")
    private val scopedSync: Boolean = overrides.bool("scoped_sync", true)
    private val maxBatch: UInt? = number("max_batch")?.toUInt()
    private val maxBodyBytes: ULong? = number("max_body_bytes")?.toULong()

    /** `(call, code)`: that call fails with that code. */
    private val failure: Pair<String, String>? = step["fail"]?.let { f ->
        val m = obj(f, "fail")
        allow(m, listOf("on", "code"), "fail")
        val on = m.string("on", "fail")
        if (on !in listOf("capabilities", "pull", "push")) fail("fail.on $on is not capabilities, pull or push")
        on to m.string("code", "fail")
    }

    private fun number(key: String): Long? = overrides[key]?.let {
        (it as? JsonPrimitive)?.takeUnless { p -> p.isString }?.longOrNull?.takeIf { n -> n >= 0 } ?: fail("capabilities.$key must be a whole number")
    }

    private fun failing(call: String) {
        failure?.takeIf { it.first == call }?.let { throw transportFailure("the conformance transport fails on $call", code = it.second) }
    }

    /** A peer's error as the transport's failure, code kept (as any transport over a manager would). */
    private fun <T> peerCall(body: () -> T): T = try {
        body()
    } catch (e: SyncException) {
        throw e.toCallbackException()
    }

    override fun capabilities(): SyncCapabilities {
        failing("capabilities")
        return SyncCapabilities(
            protocol = protocol ?: protocolVersion(),
            nodeId = nodeId ?: peerCall { peer.nodeId() },
            scopedSync = scopedSync,
            binary = false,
            zstd = false,
            maxBatch = maxBatch,
            maxBodyBytes = maxBodyBytes,
        )
    }

    override fun pull(cursor: String?, context: SyncContext): ChangeSet {
        failing("pull")
        return peerCall { peer.changesSince(cursor, context) }
    }

    override fun push(changes: ChangeSet): ReconciliationResult {
        failing("push")
        return peerCall { peer.reconcile(changes.states) }
    }
}

/**
 * Runs auto-sync with [transport] every 10 ms until [rounds] rounds completed (at most 10 s;
 * a failed round fails the step), then stops it.
 */
private fun autoSync(m: SyncManager, transport: SyncTransport, rounds: Int) {
    val completed = AtomicInteger()
    val failed = AtomicReference<String?>()
    val subscription = try {
        m.subscribe { event ->
            when (event) {
                is SyncEvent.SyncCompleted -> completed.incrementAndGet()
                is SyncEvent.SyncFailed -> failed.compareAndSet(null, event.message)
                else -> {}
            }
        }
    } catch (e: SyncException) {
        fail("subscribe: ${e.code}")
    }
    try {
        try {
            m.startAutoSync(Duration.ofMillis(10), transport)
        } catch (e: SyncException) {
            fail("startAutoSync: ${e.code} ${e.message}")
        }
        val deadline = System.nanoTime() + 10_000_000_000L
        while (true) {
            failed.get()?.let { fail("an auto-sync round failed: $it") }
            if (completed.get() >= rounds) break
            if (System.nanoTime() > deadline) fail("auto-sync completed ${completed.get()} of $rounds rounds in 10 s")
            Thread.sleep(5)
        }
    } finally {
        runCatching { m.stopAutoSync() }
        runCatching { subscription.unsubscribe() }
        subscription.destroy()
    }
}

// ---- the vector clock helpers (README: "clock") ------------------------------------------------------

/**
 * A clock given by the suite. A typed binding cannot even hold a negative or fractional entry
 * (`ULong`): such a clock is the step's `INVALID_INPUT`, as the Rust replayer has it.
 */
private fun clockArg(value: JsonElement?, what: String): Map<String, ULong> {
    val bad = { why: String -> throw SyncException.InvalidInput("$what: $why") }
    val m = value as? JsonObject ?: bad("not a clock object")
    return m.mapValues { (node, v) ->
        (v as? JsonPrimitive)?.takeUnless { it.isString }?.content?.toULongOrNull() ?: bad("entry \"$node\" is $v")
    }
}

private fun clockCall(step: JsonObject): JsonElement {
    val fn = step.string("fn", "clock")
    if (fn !in listOf("compare", "merge", "dominates", "increment")) fail("unknown clock fn $fn")
    val a = clockArg(step["a"], "a")
    if (fn == "increment") {
        if ("b" in step) fail("increment takes no b")
        val incremented = incrementClock(a, step.string("node", "clock increment"))
        return buildJsonObject {
            put("clock", clockJson(incremented.clock))
            put("value", incremented.value.toLong())
        }
    }
    if ("node" in step) fail("$fn takes no node")
    val b = clockArg(step["b"], "b")
    return when (fn) {
        "compare" -> JsonPrimitive(compareClocks(a, b).name.lowercase())
        "merge" -> clockJson(mergeClocks(a, b))
        else -> JsonPrimitive(dominates(a, b))
    }
}

// ---- steps ----------------------------------------------------------------------------------------

private val COMMON_KEYS = listOf("replica", "op", "expect", "expect_error", "comment")
private val STEP_KEYS = mapOf(
    "create" to listOf("id", "collection", "data", "as"),
    "update" to listOf("id", "data"),
    "delete" to listOf("id"),
    "get" to listOf("id"),
    "list" to listOf("collection", "include_deleted"),
    "set_clock" to listOf("millis"),
    "capture" to listOf("id", "as"),
    "capture_conflict" to listOf("state_id", "as"),
    "apply" to listOf("ref", "state", "json"),
    "reconcile" to listOf("items"),
    "resolve_conflict" to listOf("state_id", "conflict_ref", "conflict_id", "resolution"),
    "revert_rejected" to listOf("id"),
    "acknowledge" to listOf("op_ids"),
    "export" to listOf("as"),
    "import" to listOf("ref", "json", "snapshot", "replace"),
    "close" to listOf(),
    "check" to listOf(),
    "changes_since" to listOf("cursor", "cursor_ref", "collections", "limit", "as"),
    "pull" to listOf("from", "collections", "limit"),
    "sync" to listOf("with", "collections", "limit"),
    "clock" to listOf("fn", "a", "b", "node"),
    "subscribe" to listOf(),
    "events" to listOf(),
    "set_peer_cursor" to listOf("peer", "collections", "cursor", "cursor_ref"),
    "peer_cursor" to listOf("peer", "collections"),
    "sync_via" to listOf("with", "collections", "limit", "capabilities", "fail"),
    "auto_sync" to listOf("with", "rounds"),
    "open_again" to listOf(),
)

/** Steps that read or arrange but call nothing: they never expect an error. */
private val NOT_A_CALL = listOf("set_clock", "check", "capture", "capture_conflict", "subscribe", "events")

/** Steps whose result nothing checks. */
private val NO_EXPECT = listOf("set_clock", "capture", "capture_conflict", "close", "subscribe", "set_peer_cursor", "auto_sync", "open_again")

/** The result of a core call: a value or the binding's error. */
private sealed class Outcome {
    class Ok(val value: Any?) : Outcome()
    class Err(val error: SyncException) : Outcome()
}

private class Run(case: JsonObject, val mode: String, dir: Path) {
    val replicas = linkedMapOf<String, Replica>()
    val names = mutableMapOf<String, Pair<String, Any>>()

    init {
        val specs = obj(case["replicas"], "replicas")
        if (specs.isEmpty()) fail("a case needs at least one replica")
        specs.entries.forEachIndexed { i, (key, specEl) ->
            val spec = obj(specEl, "replica $key")
            allow(spec, REPLICA_KEYS, key)
            val nodeId = if ("node_id" in spec) spec.string("node_id", key) else null
            val millis = if ("clock" in spec) spec.nonNegative("clock", "replica $key") else 1000L
            val clock = ManualClock(millis.toULong())
            val path = if (mode == "sqlite") dir.resolve("replica-$i.db").toString() else null
            replicas[key] = Replica(spec, nodeId, clock, path, openManager(spec, nodeId, path, clock))
        }
    }

    fun closeAll() {
        for (r in replicas.values) {
            runCatching { r.manager.close() }
        }
    }

    fun replica(key: String) = replicas[key] ?: fail("unknown replica $key")

    fun named(name: JsonElement?, kind: String, what: String): Any {
        val entry = (name as? JsonPrimitive)?.takeIf { it.isString }?.let { names[it.content] }
        if (entry == null || entry.first != kind) fail("$what: ${short(name)} names no remembered $kind")
        return entry.second
    }

    /** [raw], or for `"$name"` the id of the state created or captured as `name`. */
    fun id(raw: String): String =
        if (raw.startsWith("$")) (named(JsonPrimitive(raw.drop(1)), "state", "id $raw") as SyncState).id else raw

    /** [expected] with every string (object keys included) `"$name"` naming a created or captured state replaced by its id. */
    fun resolve(expected: JsonElement): JsonElement {
        fun name(text: String): String =
            names[text.removePrefix("$")]?.takeIf { text.startsWith("$") && it.first == "state" }?.let { (it.second as SyncState).id } ?: text
        return when (expected) {
            is JsonObject -> JsonObject(expected.entries.associate { (k, v) -> name(k) to resolve(v) })
            is JsonArray -> JsonArray(expected.map(::resolve))
            is JsonPrimitive -> if (expected.isString) JsonPrimitive(name(expected.content)) else expected
        }
    }

    /** A remote state given by `ref`, `state` or `json`. */
    fun source(src: JsonObject, what: String): Outcome {
        val given = listOf("ref", "state", "json").filter { it in src }
        if (given.size != 1) fail("$what: give exactly one of ref, state, json")
        return try {
            when (given[0]) {
                "ref" -> Outcome.Ok(named(src["ref"], "state", what))
                "state" -> Outcome.Ok(stateFromJson(obj(src["state"], what).toString()))
                else -> Outcome.Ok(stateFromJson(src.string("json", what)))
            }
        } catch (e: SyncException) {
            Outcome.Err(e)
        }
    }

    fun conflictOf(key: String, stateId: String): String {
        val conflicts = try {
            replica(key).manager.conflicts()
        } catch (e: SyncException) {
            fail("listing conflicts: ${e.code}")
        }
        val ids = conflicts.filter { it.stateId == stateId }.map { it.conflictId }
        if (ids.size != 1) fail("${ids.size} conflicts on state $stateId, the step needs exactly one")
        return ids[0]
    }

    fun runStep(stepEl: JsonElement) {
        val step = obj(stepEl, "step")
        val op = step.string("op", "step")
        val key = step.string("replica", "step")
        val allowed = STEP_KEYS[op] ?: fail("unknown op $op")
        allow(step, COMMON_KEYS + allowed, op)
        if ("expect" in step && "expect_error" in step) fail("a step has expect or expect_error, not both")
        if (op in NOT_A_CALL && "expect_error" in step) fail("$op is not a core call and takes no expect_error")
        if (op in NO_EXPECT && "expect" in step) fail("$op takes no expect")
        if (op == "open_again") {
            if ((step["expect_error"] as? JsonPrimitive)?.content != "STORAGE") fail("open_again always expects STORAGE")
            // Nothing to open twice in memory (SQLite files are the only store here, and they lock).
            if (mode == "memory") return
        }
        val replica = replica(key)
        when (op) {
            "set_clock" -> return replica.clock.set(step.nonNegative("millis", op).toULong())
            "check" -> return checkReplica(replica.view(), resolve(step["expect"] ?: fail("check needs expect")), false, false, "check of $key")
            "capture" -> {
                val id = id(step.string("id", op))
                val states = try {
                    replica.manager.listStates(includeDeleted = true)
                } catch (e: SyncException) {
                    fail("capture: ${e.code}")
                }
                names[step.string("as", op)] = "state" to (states.firstOrNull { it.id == id } ?: fail("capture: no state $id"))
                return
            }
            "capture_conflict" -> {
                names[step.string("as", op)] = "conflict" to conflictOf(key, step.string("state_id", op))
                return
            }
            "subscribe" -> {
                val events = Collections.synchronizedList(mutableListOf<JsonObject>())
                try {
                    replica.manager.subscribe { event -> events += eventJson(event) }
                } catch (e: SyncException) {
                    fail("subscribe: ${e.code}")
                }
                replica.events = events
                return
            }
            "events" -> {
                val expected = resolve(step["expect"] ?: fail("events needs expect"))
                val recorded = replica.events ?: fail("events before subscribe")
                val got = synchronized(recorded) { recorded.toList().also { recorded.clear() } }
                return matchList(expected, got, EVENT_KEYS, "events of $key")
            }
        }
        val expectError = step["expect_error"]?.let { (it as? JsonPrimitive)?.takeIf { p -> p.isString }?.content ?: fail("expect_error must be a string") }
        val before = if (expectError != null) replica.content() else null
        val result = call(key, op, step)
        if (expectError != null) {
            when (result) {
                is Outcome.Ok -> fail("expected error $expectError, but the call succeeded with ${short(result.value)}")
                is Outcome.Err -> {
                    val e = result.error
                    if (e.code != expectError) fail("expected error $expectError, got ${e.code} (${e.javaClass.simpleName}: ${e.message})")
                    // A failed round keeps what it finished before failing (README: "Error steps").
                    if (op != "sync_via" && replica(key).content() != before) fail("the failing step ($expectError) changed the replica")
                }
            }
            return
        }
        when (result) {
            is Outcome.Err -> fail("unexpected error ${result.error.code} (${result.error.message})")
            is Outcome.Ok -> step["expect"]?.let { checkResult(op, resolve(it), result.value) }
        }
    }

    fun context(step: JsonObject): SyncContext {
        val collections = step["collections"]?.let { c ->
            (c as? JsonArray)?.map { (it as? JsonPrimitive)?.takeIf { p -> p.isString }?.content ?: fail("collections must be strings") }
                ?: fail("collections must be an array of strings")
        }
        val limit = if ("limit" in step) step.nonNegative("limit", "step").toUInt() else null
        return SyncContext(collections = collections ?: emptyList(), limit = limit)
    }

    /** `cursor` (a string, or null to clear) or `cursor_ref` (a remembered cursor) of a `set_peer_cursor` step. */
    fun cursorArg(step: JsonObject): String? = when {
        "cursor" in step && "cursor_ref" !in step -> when (val c = step["cursor"]) {
            is JsonNull -> null
            is JsonPrimitive -> if (c.isString) c.content else fail("cursor must be a string or null")
            else -> fail("cursor must be a string or null")
        }
        "cursor_ref" in step && "cursor" !in step -> named(step["cursor_ref"], "cursor", "cursor_ref") as String
        else -> fail("set_peer_cursor takes a cursor (string or null) or a cursor_ref")
    }

    fun call(key: String, op: String, step: JsonObject): Outcome {
        val replica = replica(key)
        val m = replica.manager
        fun data(): String = (step["data"] ?: fail("$op needs data")).toString()
        return try {
            Outcome.Ok(
                when (op) {
                    "create" -> m.createState(data(), id = step.optString("id")?.let(::id), collection = step.optString("collection"))
                        .also { created -> step.optString("as")?.let { names[it] = "state" to created } }
                    "update" -> m.updateState(id(step.string("id", op)), data())
                    "delete" -> m.deleteState(id(step.string("id", op)))
                    "get" -> m.getState(id(step.string("id", op)))
                    "list" -> m.listStates(step.optString("collection"), step.bool("include_deleted", false)).map { it.id }
                    "apply" -> when (val src = source(step, op)) {
                        is Outcome.Err -> return src
                        is Outcome.Ok -> m.applyRemoteState(src.value as SyncState)
                    }
                    "reconcile" -> {
                        val items = step["items"] as? JsonArray ?: fail("reconcile needs items")
                        val sources = items.mapIndexed { i, item -> source(obj(item, "reconcile item"), "reconcile item $i") }
                        sources.firstOrNull { it is Outcome.Err }?.let { return it }
                        m.reconcile(sources.map { (it as Outcome.Ok).value as SyncState })
                    }
                    "resolve_conflict" -> {
                        val selectors = listOf("state_id", "conflict_ref", "conflict_id").filter { it in step }
                        val conflictId = when (selectors) {
                            listOf("state_id") -> conflictOf(key, step.string("state_id", op))
                            listOf("conflict_ref") -> named(step["conflict_ref"], "conflict", "conflict_ref") as String
                            listOf("conflict_id") -> step.string("conflict_id", op)
                            else -> fail("resolve_conflict needs exactly one of state_id, conflict_ref, conflict_id")
                        }
                        val res = step["resolution"]
                        val resolution = when {
                            res is JsonPrimitive && res.isString && res.content == "local" -> Resolution.Local
                            res is JsonPrimitive && res.isString && res.content == "remote" -> Resolution.Remote
                            res is JsonObject && res.keys == setOf("data") -> customResolution(res["data"]!!)
                            else -> fail("bad resolution ${short(res)}")
                        }
                        m.resolveConflict(conflictId, resolution)
                    }
                    "revert_rejected" -> m.revertRejected(id(step.string("id", op)))
                    "acknowledge" -> {
                        val ids = (step["op_ids"] as? JsonArray)?.map {
                            (it as? JsonPrimitive)?.takeIf { p -> p.isString }?.content ?: fail("op_ids must be strings")
                        } ?: fail("acknowledge needs op_ids, an array of strings")
                        buildJsonObject { put("dropped", m.acknowledge(ids).toLong()) }
                    }
                    "export" -> {
                        val snapshot = m.exportState()
                        step.optString("as")?.let { names[it] = "snapshot" to snapshot }
                        buildJsonObject {
                            put("states", snapshot.states.size)
                            put("pending", snapshot.pending.size)
                            put("conflicts", snapshot.conflicts.size)
                        }
                    }
                    "import" -> {
                        val replace = step.bool("replace", false)
                        when (listOf("ref", "json", "snapshot").filter { it in step }) {
                            listOf("ref") -> m.importState(named(step["ref"], "snapshot", "import ref") as Snapshot, replace)
                            listOf("json") -> m.importJson(step.string("json", op), replace)
                            listOf("snapshot") -> m.importJson(step["snapshot"].toString(), replace)
                            else -> fail("import needs exactly one of ref, json, snapshot")
                        }
                    }
                    "changes_since" -> {
                        val hasCursor = step["cursor"].let { it != null && it !is JsonNull }
                        if (hasCursor && "cursor_ref" in step) fail("changes_since takes a string cursor or a cursor_ref, not both")
                        val cursor = if ("cursor_ref" in step) named(step["cursor_ref"], "cursor", "cursor_ref") as String else step.optString("cursor")
                        val page = m.changesSince(cursor, context(step))
                        step.optString("as")?.let { names[it] = "cursor" to page.cursor }
                        page
                    }
                    "pull" -> {
                        val source = replica(step.string("from", op)).manager
                        val context = context(step)
                        val peer = source.nodeId()
                        val page = source.changesSince(m.peerCursor(peer, context.collections), context)
                        page to m.applyChanges(peer, page, context)
                    }
                    "sync" -> runBlocking { m.syncWith(replica(step.string("with", op)).manager, context(step)) }
                    "sync_via" -> {
                        val transport = ReplayTransport(replica(step.string("with", op)).manager, step)
                        runBlocking { m.sync(transport, context(step)) }
                    }
                    "auto_sync" -> {
                        val rounds = step.nonNegative("rounds", op).takeIf { it >= 1 } ?: fail("rounds must be at least 1")
                        autoSync(m, ReplayTransport(replica(step.string("with", op)).manager, JsonObject(emptyMap())), rounds.toInt())
                        null
                    }
                    "clock" -> clockCall(step)
                    "set_peer_cursor" -> m.setPeerCursor(step.string("peer", op), cursorArg(step), context(step).collections)
                    "peer_cursor" -> m.peerCursor(step.string("peer", op), context(step).collections)
                    "open_again" -> {
                        // The same file, while the replica has it open: its store is locked.
                        val second = SyncManager(configFor(replica.spec, replica.nodeId, replica.path, ManualClock(replica.clock.now())))
                        second.use { it.shutdown() }
                        null
                    }
                    "close" -> {
                        val last = replica.content()
                        val rejections = runCatching { m.rejections() }.getOrDefault(emptyList())
                        m.shutdown()
                        if (replica.closed == null) {
                            replica.closed = last as? Snapshot
                            replica.closedRejections = rejections
                        }
                        null
                    }
                    else -> fail("op $op is not a core call")
                },
            )
        } catch (e: SyncException) {
            Outcome.Err(e)
        }
    }

    fun checkResult(op: String, expected: JsonElement, actual: Any?) {
        when (op) {
            "create", "update", "delete", "resolve_conflict", "revert_rejected" -> matchState(expected, actual as SyncState, "$op result")
            "get" -> when {
                expected is JsonNull && actual == null -> {}
                expected is JsonNull -> fail("get: expected no state, got ${short(actual)}")
                actual == null -> fail("get: expected a state, got none")
                else -> matchState(expected, actual as SyncState, "get result")
            }
            "list" -> {
                val want = obj(expected, "list expect")
                allow(want, listOf("ids"), "list expect")
                val ids = (want["ids"] as? JsonArray)?.map { (it as JsonPrimitive).content } ?: fail("list expect: ids must be an array")
                @Suppress("UNCHECKED_CAST")
                val got = actual as List<String>
                if (ids.toSet() != got.toSet()) fail("list: ids are ${got.sorted()}, expected ${ids.sorted()}")
            }
            "apply" -> {
                val want = obj(expected, "apply expect")
                allow(want, listOf("outcome", "resolved", "state"), "apply expect")
                val result = actual as ApplyResult
                want["outcome"]?.let {
                    val got = result.outcome.name.lowercase()
                    if (!jsonEq(it, JsonPrimitive(got))) fail("apply: outcome is $got, expected $it")
                }
                want["resolved"]?.let { if (!jsonEq(it, JsonPrimitive(result.resolved))) fail("apply: resolved is ${result.resolved}, expected $it") }
                want["state"]?.let { matchState(it, result.state, "apply result state") }
            }
            "reconcile", "import" -> matchCounts(expected, actual as ReconciliationResult, "$op result")
            "acknowledge" -> matchFields(expected, actual as JsonObject, listOf("dropped"), "acknowledge result")
            "export" -> matchFields(expected, actual as JsonObject, listOf("states", "pending", "conflicts"), "export result")
            "changes_since", "pull" -> {
                val want = obj(expected, "page expect")
                allow(want, listOf("ids", "has_more", "counts"), "page expect")
                val (page, counts) = if (op == "pull") {
                    @Suppress("UNCHECKED_CAST")
                    val pair = actual as Pair<ChangeSet, ReconciliationResult>
                    pair.first to pair.second
                } else {
                    (actual as ChangeSet) to null
                }
                want["ids"]?.let { ids ->
                    val got = page.states.map { it.id }
                    if ((ids as JsonArray).map { (it as JsonPrimitive).content } != got) fail("$op: ids are $got, expected $ids")
                }
                want["has_more"]?.let { if (!jsonEq(it, JsonPrimitive(page.hasMore))) fail("$op: has_more is ${page.hasMore}, expected $it") }
                want["counts"]?.let {
                    if (counts == null) fail("changes_since has no counts")
                    matchCounts(it, counts, "pull counts")
                }
            }
            "sync", "sync_via" -> {
                val want = obj(expected, "sync expect")
                allow(want, listOf("pulled", "pushed"), "sync expect")
                val report = actual as SyncReport
                want["pulled"]?.let { matchCounts(it, report.pulled, "$op pulled") }
                want["pushed"]?.let { matchCounts(it, report.pushed, "$op pushed") }
            }
            "clock" -> if (!jsonEq(expected, actual as JsonElement)) fail("clock: got ${short(actual)}, expected ${short(expected)}")
            "peer_cursor" -> {
                val want = obj(expected, "peer_cursor expect")
                allow(want, listOf("cursor", "cursor_ref"), "peer_cursor expect")
                val expectedCursor = when {
                    want.keys == setOf("cursor") && want["cursor"] is JsonNull -> null
                    want.keys == setOf("cursor_ref") -> named(want["cursor_ref"], "cursor", "cursor_ref") as String
                    else -> fail("peer_cursor expects {cursor: null} or {cursor_ref: name}")
                }
                if (actual != expectedCursor) fail("peer_cursor is ${short(actual)}, expected ${short(expectedCursor)}")
            }
            else -> fail("op $op takes no expect")
        }
    }

    fun checkFinal(expected: JsonObject, reopened: Boolean) {
        if (expected.keys != replicas.keys) fail("the final expect must list every replica: ${replicas.keys}, got ${expected.keys}")
        for ((key, replica) in replicas) {
            checkReplica(replica.view(), resolve(expected[key] ?: JsonNull), true, reopened, if (reopened) "reopened $key" else "final $key")
        }
    }

    /** SQLite only: closes every replica, reopens it from its file and compares the exports. */
    fun reopenAll() {
        for ((key, replica) in replicas) {
            val before = replica.closed?.also { replica.closed = null } ?: try {
                replica.manager.exportState().also { replica.manager.shutdown() }
            } catch (e: SyncException) {
                fail("closing $key: ${e.code}")
            }
            replica.manager.close()
            val clock = ManualClock(replica.clock.now())
            // A replica whose node id was generated reopens without one and must find the same.
            replica.manager = openManager(replica.spec, replica.nodeId, replica.path, clock)
            replica.clock = clock
            val after = try {
                replica.manager.exportState()
            } catch (e: SyncException) {
                fail("exporting reopened $key: ${e.code}")
            }
            if (after != before) fail("replica $key reopened from its SQLite file differs from what it held")
        }
    }
}

private fun runCase(case: JsonObject, mode: String, dir: Path) {
    allow(case, ConformanceTest.CASE_KEYS, case["name"].toString())
    val run = Run(case, mode, dir)
    try {
        val steps = case["steps"] as? JsonArray ?: fail("a case needs steps")
        steps.forEachIndexed { i, step ->
            try {
                run.runStep(step)
            } catch (e: CaseFailure) {
                throw CaseFailure("step $i (${((step as? JsonObject)?.get("op") as? JsonPrimitive)?.content}): ${e.message}")
            }
        }
        val expected = obj(case["expect"], "expect")
        run.checkFinal(expected, false)
        if (mode == "sqlite") {
            run.reopenAll()
            run.checkFinal(expected, true)
        }
    } finally {
        run.closeAll()
    }
}
