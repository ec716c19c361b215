package io.statesync

import kotlin.io.path.readBytes
import kotlin.io.path.readText
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * Replays the wire-format golden files (`conformance/wire/manifest.json`, specified in
 * `conformance/wire/README.md`) through `encode*` / `decode*`: both forms decode to the same
 * value, re-encode byte for byte, carry exactly the reference JSON's content, and every
 * invalid input fails with its code.
 */
class WireTest {
    private val manifest = Json.parseToJsonElement(Repo.wire.resolve("manifest.json").readText()).jsonObject
    private val cases = manifest["cases"]!!.jsonArray.map { it.jsonObject }
    private val invalid = manifest["invalid"]!!.jsonArray.map { it.jsonObject }

    private fun read(name: String) = Repo.wire.resolve(name).readBytes()
    private fun JsonObject.str(key: String) = this[key]!!.jsonPrimitive.content

    private fun decode(kind: String, bytes: ByteArray, encoding: Encoding): Any = when (kind) {
        "state" -> decodeState(bytes, encoding)
        "changeset" -> decodeChangeSet(bytes, encoding)
        "snapshot" -> decodeSnapshot(bytes, encoding)
        "pending" -> decodeOperations(bytes, encoding)
        else -> error("unknown kind $kind")
    }

    @Suppress("UNCHECKED_CAST")
    private fun encode(value: Any, encoding: Encoding): ByteArray = when (value) {
        is SyncState -> encodeState(value, encoding)
        is ChangeSet -> encodeChangeSet(value, encoding)
        is Snapshot -> encodeSnapshot(value, encoding)
        is List<*> -> encodeOperations(value as List<SyncOperation>, encoding)
        else -> error("cannot encode $value")
    }

    private fun encodingOf(name: String) = if (name == "json") Encoding.JSON else Encoding.BINARY

    @Test
    fun `the manifest has the expected shape`() {
        assertEquals(1L, manifest["wire_format"]!!.jsonPrimitive.long)
        assertEquals(wireFormat(), 1UL)
        assertEquals(setOf("description", "wire_format", "cases", "invalid"), manifest.keys)
        val names = cases.map { it.str("name") }
        assertEquals(names.size, names.toSet().size)
        assertTrue(
            names.containsAll(
                listOf("state_plain", "state_tombstone", "state_unicode", "state_merge_fields", "changeset_more", "changeset_empty", "snapshot_small", "pending_ops"),
            ),
        )
        assertTrue(invalid.size >= 35, "only ${invalid.size} invalid inputs")
    }

    @TestFactory
    fun `golden files decode alike in both forms and re-encode byte for byte`() = cases.map { case ->
        DynamicTest.dynamicTest(case.str("name")) {
            val kind = case.str("kind")
            val fromJson = decode(kind, read(case.str("json")), Encoding.JSON)
            val fromBinary = decode(kind, read(case.str("binary")), Encoding.BINARY)
            assertEquals(fromJson, fromBinary)
            for (source in listOf("json", "binary")) {
                val value = decode(kind, read(case.str(source)), encodingOf(source))
                for (target in listOf("json", "binary")) {
                    assertContentEquals(read(case.str(target)), encode(value, encodingOf(target)), "${case.str("name")}: $source -> $target")
                }
            }
        }
    }

    @TestFactory
    fun `golden values carry exactly the reference JSON`() = cases.map { case ->
        DynamicTest.dynamicTest(case.str("name")) {
            val reference = Json.parseToJsonElement(read(case.str("json")).decodeToString()).jsonObject
            val value = decode(case.str("kind"), read(case.str("binary")), Encoding.BINARY)
            when (value) {
                is SyncState -> checkState(value, reference["state"]!!.jsonObject)
                is ChangeSet -> {
                    assertEquals(reference.str("cursor"), value.cursor)
                    assertEquals(reference["has_more"]!!.jsonPrimitive.content.toBoolean(), value.hasMore)
                    checkStates(value.states, reference["states"]!!.jsonArray)
                }
                is Snapshot -> {
                    assertEquals(reference["format"]!!.jsonPrimitive.long.toULong(), value.format)
                    assertEquals(reference.str("node_id"), value.nodeId)
                    checkStates(value.states, reference["states"]!!.jsonArray)
                    val refOps = reference["pending"]!!.jsonArray
                    assertEquals(refOps.size, value.pending.size)
                    value.pending.zip(refOps).forEach { (op, ref) -> checkOperation(op, ref.jsonObject) }
                    val refConflicts = reference["conflicts"]!!.jsonArray
                    assertEquals(refConflicts.size, value.conflicts.size)
                    value.conflicts.zip(refConflicts).forEach { (c, r) ->
                        val ref = r.jsonObject
                        assertEquals(ref.str("conflict_id"), c.conflictId)
                        assertEquals(ref.str("state_id"), c.stateId)
                        assertEquals(ref["detected_at"]!!.jsonPrimitive.long.toULong(), c.detectedAt)
                        assertEquals(stateFromJson(ref["local"].toString()), c.local)
                        assertEquals(stateFromJson(ref["remote"].toString()), c.remote)
                    }
                }
                is List<*> -> {
                    val refOps = reference["operations"]!!.jsonArray
                    assertEquals(refOps.size, value.size)
                    value.zip(refOps).forEach { (op, ref) -> checkOperation(op as SyncOperation, ref.jsonObject) }
                }
            }
        }
    }

    private fun checkStates(states: List<SyncState>, refs: JsonArray) {
        assertEquals(refs.size, states.size)
        states.zip(refs).forEach { (s, r) -> checkState(s, r.jsonObject) }
    }

    private fun checkState(state: SyncState, ref: JsonObject) {
        assertEquals(ref.str("id"), state.id)
        assertEquals(ref["collection"]?.jsonPrimitive?.content ?: "default", state.collection)
        // Strict: the same literals (3.0 stays 3.0, -0.0 keeps its sign, 2^53 - 1 is exact).
        assertEquals(ref["data"], state.json)
        assertEquals(ref["clock"]!!.jsonObject.mapValues { it.value.jsonPrimitive.long.toULong() }, state.clock)
        val ts = ref["timestamp"]!!.jsonObject
        assertEquals(Timestamp(ts["millis"]!!.jsonPrimitive.long.toULong(), ts["counter"]!!.jsonPrimitive.long.toUInt(), ts.str("node")), state.timestamp)
        assertEquals(ref["modified_by"]?.jsonPrimitive?.content ?: ts.str("node"), state.modifiedBy)
        assertEquals(ref["deleted"]?.jsonPrimitive?.content?.toBoolean() ?: false, state.deleted)
        assertEquals(ref["version"]!!.jsonPrimitive.long.toULong(), state.version)
        assertEquals(ref.str("hash"), state.hash)
        assertEquals("fields" in ref, state.fields != null)
        // The state parser agrees with the wire decoder, and the compact JSON is the reference.
        assertEquals(state, stateFromJson(ref.toString()))
        assertEquals(ref, Json.parseToJsonElement(stateToJson(state)))
    }

    private fun checkOperation(op: SyncOperation, ref: JsonObject) {
        assertEquals(ref.str("op_id"), op.opId)
        assertEquals(ref.str("kind"), op.kind.name.lowercase())
        assertEquals(ref.str("state_id"), op.stateId)
        assertEquals(ref.str("collection"), op.collection)
        assertEquals(ref["data"], op.json)
        assertEquals(ref["clock"]!!.jsonObject.mapValues { it.value.jsonPrimitive.long.toULong() }, op.clock)
        assertEquals(ref.str("node_id"), op.nodeId)
    }

    @Test
    fun `the unicode state keeps extreme numbers as literals`() {
        val data = decodeState(read("state_unicode.bin"), Encoding.BINARY).json.jsonObject
        assertEquals("9007199254740991", data["max_safe"]!!.jsonPrimitive.content)
        assertEquals("-9007199254740991", data["min_safe"]!!.jsonPrimitive.content)
        val floats = data["floats"]!!.jsonArray.map { it.jsonPrimitive.content }
        assertEquals(listOf("0.1", "-2.5e-300", "1.7976931348623157e+308", "3.0", "-0.0"), floats)
    }

    @Test
    fun `the snapshot's JSON form is the export JSON`() {
        val text = read("snapshot_small.json").decodeToString()
        val snapshot = snapshotFromJson(text)
        assertEquals(snapshot, decodeSnapshot(read("snapshot_small.json"), Encoding.JSON))
        assertEquals(text, snapshotToJson(snapshot))
    }

    @TestFactory
    fun `invalid inputs fail with their code`() = invalid.map { case ->
        DynamicTest.dynamicTest(case.str("name")) {
            val e = assertThrows<SyncException> {
                decode(case.str("kind"), read(case.str("file")), encodingOf(case.str("encoding")))
            }
            assertEquals(case.str("error"), e.code, "${case.str("name")}: ${e.message}")
        }
    }

    @TestFactory
    fun `compression round-trips every golden file`() = cases.flatMap { case ->
        listOf("json", "binary").map { form ->
            DynamicTest.dynamicTest("${case.str("name")} [$form]") {
                val raw = read(case.str(form))
                val packed = compress(raw)
                assertContentEquals(byteArrayOf(0x28, 0xb5.toByte(), 0x2f, 0xfd.toByte()), packed.copyOf(4))
                assertContentEquals(raw, decompress(packed))
            }
        }
    }

    @Test
    fun `decompressing garbage is CORRUPT`() {
        for (garbage in listOf(byteArrayOf(), "not zstd".encodeToByteArray(), byteArrayOf(0x28, 0xb5.toByte(), 0x2f, 0xfd.toByte(), 0))) {
            assertEquals("CORRUPT", assertThrows<SyncException> { decompress(garbage) }.code)
        }
    }

    @Suppress("unused")
    private fun unusedImports(e: JsonElement) = e is JsonPrimitive
}
