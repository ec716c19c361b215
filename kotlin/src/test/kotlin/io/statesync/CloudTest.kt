package io.statesync

import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.UUID
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Object storage through the Kotlin binding (docs/backups.md, docs/encryption.md): backups on a
 * real `file://` directory and on `memory://`, encryption with the golden vectors of
 * conformance/crypto/vectors.json, and sync through a bucket. No mocks: every call reaches the core.
 */
class CloudTest {
    /** The `file://` URL of a directory. */
    private fun fileUrl(dir: Path): String = dir.toUri().toString()

    /** A `memory://` URL of a store no other test uses. */
    private fun memoryUrl(): String = "memory://kotlin-${UUID.randomUUID()}/backups"

    /** A raw key of 32 bytes all equal to [b]. */
    private fun rawKey(b: Int): EncryptionKey = EncryptionKey.fromBytes(ByteArray(32) { b.toByte() })

    /** Every live state as (id, collection, data), ordered by id. */
    private fun contents(m: SyncManager): List<Triple<String, String, String>> =
        m.listStates().map { Triple(it.id, it.collection, it.data) }

    /** Backup → list → verify → restore (merge, replace, some collections) on one storage URL. */
    private fun backupRoundTrip(url: String): Unit = runBlocking<Unit> {
        memoryReplica("laptop").use { laptop ->
            laptop.createState("""{"theme":"dark"}""", id = "settings", collection = "prefs")
            laptop.createState("""{"title":"a"}""", id = "note-1", collection = "notes")
            laptop.createState("""{"title":"b"}""", id = "note-2", collection = "notes")
            val info = laptop.backup(url, label = "before")
            assertTrue(info.id.matches(Regex("backup-\\d{8}T\\d{6}Z-[0-9a-f]{8}")), info.id)
            assertEquals("before", info.label)
            assertEquals(3uL, info.states)
            assertFalse(info.encrypted)
            assertTrue(info.parts >= 1u && info.bytes > 0uL && info.sha256.length == 64, info.toString())
            assertTrue(info.createdAt > 1_700_000_000_000L, "milliseconds since the epoch")

            assertEquals(listOf(info), listBackups(url))
            assertEquals(info, verifyBackup(url, info.id))

            // Merge into a fresh replica: everything arrives.
            memoryReplica("phone").use { phone ->
                val merged = phone.restoreBackup(url, info.id)
                assertEquals(3uL, merged.created)
                assertEquals(contents(laptop), contents(phone))
            }

            // Merge never overwrites newer local data; replace puts the backup in place.
            laptop.updateState("settings", """{"theme":"light"}""")
            laptop.createState("""{"title":"c"}""", id = "note-3", collection = "notes")
            laptop.restoreBackup(url, info.id)
            assertEquals("""{"theme":"light"}""", laptop.getState("settings")!!.data)
            assertNotNull(laptop.getState("note-3"))
            laptop.restoreBackup(url, info.id, replace = true)
            assertEquals("""{"theme":"dark"}""", laptop.getState("settings")!!.data)
            assertNull(laptop.getState("note-3"), "replace drops what the backup lacks")

            // Only some collections.
            memoryReplica("tablet").use { tablet ->
                tablet.restoreBackup(url, info.id, collections = listOf("notes"))
                assertEquals(listOf("note-1", "note-2"), tablet.listStates().map { it.id })
                assertNull(tablet.getState("settings"))
            }

            assertThrows<SyncException.NotFound> { runBlocking { verifyBackup(url, "backup-20000101T000000Z-00000000") } }
        }
    }

    @Test
    fun `backup, list, verify and restore on a file directory`(): Unit = withTempDir { dir -> backupRoundTrip(fileUrl(dir)) }

    @Test
    fun `backup, list, verify and restore on memory`(): Unit = backupRoundTrip(memoryUrl())

    @Test
    fun `an encrypted backup needs its key, a wrong or missing one is CRYPTO`(): Unit = withTempDir { dir ->
        runBlocking<Unit> {
            val url = fileUrl(dir)
            val key = rawKey(7)
            memoryReplica("laptop").use { laptop ->
                laptop.createState("""{"secret":"plans"}""", id = "s")
                val info = laptop.backup(url, key = key)
                assertTrue(info.encrypted)
                assertEquals(info, verifyBackup(url, info.id, key))
                val parts = Files.list(dir.resolve("backups").resolve(info.id)).use { it.toList() }
                assertTrue(parts.none { p -> Files.readAllBytes(p).decodeToString().contains("plans") }, "sealed on disk")

                memoryReplica("phone").use { phone ->
                    val wrong = assertThrows<SyncException.Crypto> { runBlocking { phone.restoreBackup(url, info.id, key = rawKey(8)) } }
                    assertEquals("CRYPTO", wrong.code)
                    val missing = assertThrows<SyncException.Crypto> { runBlocking { phone.restoreBackup(url, info.id) } }
                    assertEquals("CRYPTO", missing.code)
                    assertEquals("CRYPTO", assertThrows<SyncException> { runBlocking { verifyBackup(url, info.id, rawKey(9)) } }.code)
                    assertTrue(phone.listStates().isEmpty(), "a failed restore changes nothing")
                    phone.restoreBackup(url, info.id, key = key)
                    assertEquals("""{"secret":"plans"}""", phone.getState("s")!!.data)
                }
            }
        }
    }

    @Test
    fun `a tampered part is CORRUPT naming the part and the replica is unchanged`(): Unit = withTempDir { dir ->
        runBlocking<Unit> {
            val url = fileUrl(dir)
            memoryReplica("laptop").use { laptop ->
                laptop.createState("""{"v":1}""", id = "s")
                val info = laptop.backup(url)
                val part = dir.resolve("backups").resolve(info.id).resolve("part-00000")
                val bytes = Files.readAllBytes(part)
                bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 0x01).toByte()
                Files.write(part, bytes)

                memoryReplica("phone").use { phone ->
                    phone.createState("""{"mine":true}""", id = "local")
                    val before = phone.exportState().states
                    val e = assertThrows<SyncException.Corrupt> { runBlocking { phone.restoreBackup(url, info.id, replace = true) } }
                    assertEquals("CORRUPT", e.code)
                    assertTrue(e.message!!.contains("part-00000"), e.message)
                    assertEquals(before, phone.exportState().states, "the replica is unchanged")
                }
                val verify = assertThrows<SyncException.Corrupt> { runBlocking { verifyBackup(url, info.id) } }
                assertTrue(verify.message!!.contains("part-00000"), verify.message)
            }
        }
    }

    @Test
    fun `prune keeps the newest backups`(): Unit = runBlocking<Unit> {
        val url = memoryUrl()
        memoryReplica("laptop").use { laptop ->
            laptop.createState("1", id = "s")
            // A few milliseconds apart: backups sort by their creation time.
            val ids = (1..3).map { delay(5); laptop.backup(url, label = "n$it").id }
            assertEquals(ids.reversed(), listBackups(url).map { it.id }, "newest first")
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { runBlocking { pruneBackups(url) } }.code)
            val removed = pruneBackups(url, keepLast = 1u)
            assertEquals(ids.take(2).reversed(), removed)
            assertEquals(listOf(ids.last()), listBackups(url).map { it.id })
            assertTrue(pruneBackups(url, keepWithin = Duration.ofHours(1)).isEmpty())
        }
    }

    @Test
    fun `auto-backup writes a backup every interval until stopped`(): Unit = withTempDir { dir ->
        runBlocking<Unit> {
            val url = fileUrl(dir)
            memoryReplica("laptop").use { laptop ->
                laptop.createState("""{"v":1}""", id = "s")
                val key = rawKey(3)
                assertEquals(
                    "INVALID_INPUT",
                    assertThrows<SyncException> { laptop.startAutoBackup(url, Duration.ofMillis(10)) }.code,
                    "shorter than a second",
                )
                assertEquals("INVALID_INPUT", assertThrows<SyncException> { laptop.startAutoBackup("ftp://x/y", Duration.ofSeconds(1)) }.code)
                laptop.startAutoBackup(url, Duration.ofSeconds(1), keepLast = 2u, key = key).use { auto ->
                    withTimeout(10_000) { while (auto.lastBackup() == null) delay(20) }
                    val last = auto.lastBackup()!!
                    assertEquals("auto", last.label)
                    assertTrue(last.encrypted)
                    assertNull(auto.lastError())
                    assertTrue(auto.runs() >= 1uL)
                    auto.stop()
                    val runs = auto.runs()
                    delay(1_500)
                    assertEquals(runs, auto.runs(), "no run after stop")
                    auto.stop() // stopping twice is harmless
                    assertEquals(last, verifyBackup(url, last.id, key))
                }
            }
        }
    }

    @Test
    fun `two replicas converge through an encrypted bucket, a wrong key is CRYPTO`(): Unit = withTempDir { dir ->
        runBlocking<Unit> {
            val url = fileUrl(dir.resolve("bucket"))
            val key = EncryptionKey.fromPassphrase("correct horse battery staple", "kotlin-bucket-salt")
            memoryReplica("laptop").use { laptop ->
                memoryReplica("phone").use { phone ->
                    ObjectStoreTransport(url, key).use { laptopBucket ->
                        ObjectStoreTransport(url, key).use { phoneBucket ->
                            laptop.createState("""{"theme":"dark"}""", id = "settings")
                            phone.createState("""{"title":"hello"}""", id = "note")
                            // One round each, then again: both hold everything.
                            laptop.sync(laptopBucket)
                            phone.sync(phoneBucket)
                            laptop.sync(laptopBucket)
                            phone.sync(phoneBucket)
                            assertEquals(contents(laptop), contents(phone))
                            assertEquals(2, laptop.listStates().size)
                            assertTrue(laptop.pendingOperations().isEmpty() && phone.pendingOperations().isEmpty())

                            phone.updateState("note", """{"title":"edited"}""")
                            phone.sync(phoneBucket)
                            laptop.sync(laptopBucket)
                            assertEquals("""{"title":"edited"}""", laptop.getState("note")!!.data)
                            laptopBucket.compact()
                        }
                    }
                }
            }
            memoryReplica("intruder").use { intruder ->
                ObjectStoreTransport(url, rawKey(1)).use { wrong ->
                    val e = assertThrows<SyncException.Crypto> { runBlocking { intruder.sync(wrong) } }
                    assertEquals("CRYPTO", e.code)
                }
                assertTrue(intruder.listStates().isEmpty())
            }
        }
    }

    @Test
    fun `auto-sync runs through a bucket`(): Unit = runBlocking<Unit> {
        val url = "memory://kotlin-${UUID.randomUUID()}/sync"
        memoryReplica("laptop").use { laptop ->
            memoryReplica("phone").use { phone ->
                ObjectStoreTransport(url).use { laptopBucket ->
                    ObjectStoreTransport(url).use { phoneBucket ->
                        phone.createState("""{"from":"phone"}""", id = "p")
                        phone.sync(phoneBucket)
                        laptop.startAutoSync(Duration.ofMillis(100), laptopBucket)
                        assertTrue(laptop.isAutoSyncing())
                        withTimeout(10_000) { while (laptop.getState("p") == null) delay(20) }
                        assertTrue(laptop.stopAutoSync())
                    }
                }
            }
        }
    }

    @Test
    fun `an unknown storage scheme is INVALID_INPUT`(): Unit = runBlocking<Unit> {
        memoryReplica("a").use { m ->
            assertEquals("INVALID_INPUT", assertThrows<SyncException.InvalidInput> { runBlocking { m.backup("ftp://host/dir") } }.code)
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { runBlocking { listBackups("nope://x") } }.code)
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { ObjectStoreTransport("ftp://host/dir") }.code)
        }
    }

    @Test
    fun `keys are checked and seal under the object name`() {
        assertEquals("INVALID_INPUT", assertThrows<SyncException> { EncryptionKey.fromBytes(ByteArray(31)) }.code)
        assertEquals("INVALID_INPUT", assertThrows<SyncException> { EncryptionKey.fromPassphrase("", "long enough salt") }.code)
        assertEquals("INVALID_INPUT", assertThrows<SyncException> { EncryptionKey.fromPassphrase("p", "short") }.code)
        rawKey(5).use { key ->
            val sealed = key.encrypt("a", "hello".toByteArray())
            assertContentEquals("hello".toByteArray(), key.decrypt("a", sealed))
            assertEquals("CRYPTO", assertThrows<SyncException.Crypto> { key.decrypt("b", sealed) }.code, "another name")
            assertFalse(key.toString().contains("0505"), "the key's bytes are never printed")
        }
    }

    @OptIn(ExperimentalStdlibApi::class)
    private fun vectorKey(spec: JsonObject): EncryptionKey =
        spec["bytes"]?.let { EncryptionKey.fromBytes(it.jsonPrimitive.content.hexToByteArray()) }
            ?: EncryptionKey.fromPassphrase(spec["passphrase"]!!.jsonPrimitive.content, spec["salt"]!!.jsonPrimitive.content)

    @OptIn(ExperimentalStdlibApi::class)
    @Test
    fun `the golden vectors of conformance crypto vectors json`() {
        val vectors = Json.parseToJsonElement(Files.readString(Repo.conformance.resolve("crypto").resolve("vectors.json"))).jsonObject
        val cases = vectors["cases"]!!.jsonArray
        val failures = vectors["failures"]!!.jsonArray
        assertTrue(cases.size >= 3 && failures.size >= 9)
        for (c in cases.map { it.jsonObject }) {
            val name = c["name"]!!.jsonPrimitive.content
            val objectName = c["object"]!!.jsonPrimitive.content
            val plaintext = c["plaintext"]!!.jsonPrimitive.content.hexToByteArray()
            vectorKey(c["key"]!!.jsonObject).use { key ->
                assertContentEquals(plaintext, key.decrypt(objectName, c["sealed"]!!.jsonPrimitive.content.hexToByteArray()), name)
                assertContentEquals(plaintext, key.decrypt(objectName, key.encrypt(objectName, plaintext)), name)
            }
        }
        for (f in failures.map { it.jsonObject }) {
            val name = f["name"]!!.jsonPrimitive.content
            vectorKey(f["key"]!!.jsonObject).use { key ->
                val sealed = f["sealed"]!!.jsonPrimitive.content.hexToByteArray()
                val e = assertThrows<SyncException.Crypto>(name) { key.decrypt(f["object"]!!.jsonPrimitive.content, sealed) }
                assertEquals("CRYPTO", e.code, name)
            }
        }
    }
}
