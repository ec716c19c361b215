package io.statesync

import java.math.BigDecimal
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put

/** Paths the build passes in (pom.xml, surefire systemPropertyVariables). */
object Repo {
    val root: Path = Paths.get(System.getProperty("statesync.repo") ?: "..").toAbsolutePath().normalize()
    val conformance: Path = root.resolve("conformance")
    val wire: Path = conformance.resolve("wire")
}

/** A fresh in-memory replica. */
fun memoryReplica(node: String, strategy: ConflictStrategy? = null, clock: ManualClock? = null): SyncManager =
    SyncManager(ManagerConfig(nodeId = node, strategy = strategy, clock = clock))

/** A temporary directory removed after [block]. */
inline fun <T> withTempDir(block: (Path) -> T): T {
    val dir = Files.createTempDirectory("statesync-kotlin-")
    try {
        return block(dir)
    } finally {
        dir.toFile().deleteRecursively()
    }
}

/** JSON equality with numbers compared by value; a boolean is never a number. */
fun jsonEq(a: JsonElement?, b: JsonElement?): Boolean {
    if (a == null || b == null) return a == null && b == null
    if (a is JsonNull || b is JsonNull) return a is JsonNull && b is JsonNull
    if (a is JsonPrimitive && b is JsonPrimitive) {
        if (a.isString || b.isString) return a.isString && b.isString && a.content == b.content
        val (ba, bb) = a.booleanOrNull to b.booleanOrNull
        if (ba != null || bb != null) return ba != null && ba == bb
        return BigDecimal(a.content).compareTo(BigDecimal(b.content)) == 0
    }
    if (a is JsonArray && b is JsonArray) return a.size == b.size && a.indices.all { jsonEq(a[it], b[it]) }
    if (a is JsonObject && b is JsonObject) return a.size == b.size && a.all { (k, v) -> k in b && jsonEq(v, b[k]) }
    return false
}

/** A clock as JSON. */
fun clockJson(clock: Map<String, ULong>): JsonObject = buildJsonObject {
    for ((node, n) in clock) put(node, n.toLong())
}

/** A timestamp as JSON. */
fun Timestamp.toJson(): JsonObject = buildJsonObject {
    put("millis", millis.toLong())
    put("counter", counter.toLong())
    put("node", node)
}

/** The complete JSON form of a state record, built from its fields (not by the library). */
fun SyncState.toJsonObject(): JsonObject = buildJsonObject {
    put("id", id)
    put("collection", collection)
    put("data", json)
    put("clock", clockJson(clock))
    put("timestamp", timestamp.toJson())
    put("modified_by", modifiedBy)
    put("deleted", deleted)
    put("version", version.toLong())
    put("hash", hash)
    put("fields", fields?.let { Json.parseToJsonElement(it) } ?: JsonNull)
}

/** An operation record as JSON, built from its fields. */
fun SyncOperation.toJsonObject(): JsonObject = buildJsonObject {
    put("op_id", opId)
    put("kind", kind.name.lowercase())
    put("state_id", stateId)
    put("collection", collection)
    put("data", json)
    put("clock", clockJson(clock))
    put("timestamp", timestamp.toJson())
    put("node_id", nodeId)
}

/** Counts as JSON. */
fun ReconciliationResult.toJsonObject(): JsonObject = buildJsonObject {
    put("created", created.toLong())
    put("updated", updated.toLong())
    put("unchanged", unchanged.toLong())
    put("ignored", ignored.toLong())
    put("conflicts", conflicts.toLong())
    put("resolved", resolved.toLong())
    put("rejected", rejected.toLong())
    put(
        "rejections",
        JsonArray(
            rejections.map {
                buildJsonObject {
                    put("id", it.id)
                    put("code", it.code)
                    put("message", it.message)
                }
            },
        ),
    )
}
