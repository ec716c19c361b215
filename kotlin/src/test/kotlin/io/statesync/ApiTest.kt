package io.statesync

import java.time.Duration
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * What the Kotlin binding adds on top of the core: exceptions and codes, JSON helpers, callbacks
 * (listener, resolver, transport), coroutines (suspend, cancellation, Flow), threads, closing.
 * The core's behaviour itself is the conformance suite's business.
 */
class ApiTest {
    @Serializable
    data class Settings(val theme: String, val fontSize: Int = 12)

    @Test
    fun `errors are typed, carry the core code and a readable message`() {
        memoryReplica("a").use { m ->
            val missing = assertThrows<SyncException.NotFound> { m.updateState("nope", "1") }
            assertEquals("NOT_FOUND", missing.code)
            assertEquals("not found: state \"nope\"", missing.message)
            m.createState("1", id = "x")
            assertEquals("ALREADY_EXISTS", assertThrows<SyncException.AlreadyExists> { m.createState("2", id = "x") }.code)
            val badJson = assertThrows<SyncException.InvalidInput> { m.createState("{not json") }
            assertTrue(badJson.message!!.contains("is not JSON"), badJson.message)
            // Integers beyond ±(2^53 − 1) are not held alike by every language: refused as data.
            val tooBig = assertThrows<SyncException.InvalidInput> { m.createState("""{"n":9007199254740992}""") }
            assertTrue(tooBig.message!!.contains("9007199254740992"), tooBig.message)
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { m.createState("123456789012345678901234567890") }.code)
            assertEquals("INVALID_STATE", assertThrows<SyncException> { stateFromJson("""{"id":"x"}""") }.code)
            assertEquals("CORRUPT", assertThrows<SyncException> { m.importJson("{") }.code)
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { SyncManager(ManagerConfig(nodeId = "")) }.code)
            m.shutdown()
            val closed = assertThrows<SyncException.Closed> { m.getState("x") }
            assertEquals("CLOSED", closed.code)
            assertEquals(Status.CLOSED, m.status())
            m.shutdown() // closing twice is harmless
        }
    }

    @Test
    fun `use closes the replica and releases the object`() = withTempDir { dir ->
        val path = dir.resolve("a.db").toString()
        val m = SyncManager(ManagerConfig(nodeId = "a", path = path))
        m.use { it.createState("""{"v":1}""", id = "s") }
        assertThrows<IllegalStateException> { m.nodeId() }
        // The file was released: it opens again at once, with the write.
        SyncManager(ManagerConfig(path = path)).use { again ->
            assertEquals("a", again.nodeId())
            assertEquals("""{"v":1}""", again.getState("s")!!.data)
        }
    }

    @Test
    fun `JSON helpers work with JsonElement and serializable classes`() {
        memoryReplica("a").use { m ->
            val s = m.createState(buildJsonObject { put("theme", "dark") }, id = "settings", collection = "prefs")
            assertEquals("dark", s.json.jsonObject["theme"]!!.jsonPrimitive.content)
            m.updateValue("settings", Settings("light", 14))
            assertEquals(Settings("light", 14), m.getState("settings")!!.decode<Settings>())
            m.createValue(listOf("a", "b"), id = "list")
            assertEquals(listOf("a", "b"), m.getState("list")!!.decode<List<String>>())
            assertEquals(2, m.pendingOperations().count { it.stateId == "settings" })
            assertEquals(JsonPrimitive("dark"), m.pendingOperations().first().json.jsonObject["theme"])
        }
    }

    @Test
    fun `listeners hear every event in commit order and can unsubscribe`() {
        memoryReplica("a").use { m ->
            val seen = Collections.synchronizedList(mutableListOf<String>())
            val sub = m.subscribe { event -> seen += event.name + (event.state?.let { ":" + it.id } ?: "") }
            m.createState("1", id = "x")
            m.updateState("x", "2")
            m.deleteState("x")
            assertEquals(listOf("stateCreated:x", "stateUpdated:x", "stateDeleted:x"), seen.toList())
            assertTrue(sub.unsubscribe())
            assertFalse(sub.unsubscribe())
            m.createState("3", id = "y")
            assertEquals(3, seen.size)
        }
    }

    @Test
    fun `a throwing listener does not fail the write`() {
        memoryReplica("a").use { m ->
            m.subscribe { throw IllegalStateException("listener bug") }
            val heard = AtomicInteger()
            m.subscribe { heard.incrementAndGet() }
            m.createState("1", id = "x")
            assertEquals("1", m.getState("x")!!.data)
            assertEquals(1, heard.get())
        }
    }

    @Test
    fun `events arrive as a Flow, sync events included`() = runBlocking {
        val a = memoryReplica("a")
        val b = memoryReplica("b")
        val events = Channel<SyncEvent>(Channel.UNLIMITED)
        val collector = launch(Dispatchers.Default) { a.events().collect { events.send(it) } }
        // The Flow subscribes when collection starts: write probes until it hears one.
        a.createState("0", id = "probe")
        withTimeout(5_000) {
            var i = 0
            while (true) {
                a.updateState("probe", (++i).toString())
                if (withTimeoutOrNull(20) { events.receive() } != null) break
            }
        }
        while (events.tryReceive().isSuccess) continue
        b.createState("""{"v":1}""", id = "from-b")
        a.syncWith(b)
        val names = mutableListOf<String>()
        withTimeout(5_000) {
            while (names.lastOrNull() != "syncCompleted") names += events.receive().let { it.name + (it.state?.let { s -> ":" + s.id } ?: "") }
        }
        assertEquals(listOf("syncStarted", "statusChanged", "stateCreated:from-b"), names.take(3))
        collector.cancel()
        collector.join()
        a.createState("1", id = "after")
        delay(50)
        val late = generateSequence { events.tryReceive().getOrNull() }.toList()
        assertTrue(late.none { it.state?.id == "after" }, "the cancelled collector unsubscribed: $late")
        a.close()
        b.close()
    }

    @Test
    fun `a resolver that throws surfaces as RESOLVER and changes nothing`() {
        val failing = customStrategy { _, _ -> throw IllegalArgumentException("cannot merge") }
        SyncManager(ManagerConfig(nodeId = "a", strategy = failing)).use { a ->
            memoryReplica("b").use { b ->
                a.createState("""{"v":1}""", id = "s")
                b.applyRemoteState(a.getState("s")!!)
                a.updateState("s", """{"v":2}""")
                val remote = b.updateState("s", """{"v":3}""")
                val before = a.exportState()
                val e = assertThrows<SyncException.Resolver> { a.applyRemoteState(remote) }
                assertEquals("RESOLVER", e.code)
                assertTrue(e.message!!.contains("cannot merge"), e.message)
                assertEquals(before, a.exportState())
            }
        }
    }

    @Test
    fun `a Kotlin resolver merges concurrent versions, both ways round`() {
        val calls = AtomicInteger()
        val maxV = customStrategy { local, remote ->
            calls.incrementAndGet()
            val v = maxOf(local.json.jsonObject["v"]!!.jsonPrimitive.int, remote.json.jsonObject["v"]!!.jsonPrimitive.int)
            resolvedData(buildJsonObject { put("v", v) })
        }
        val a = SyncManager(ManagerConfig(nodeId = "a", strategy = maxV, checkResolver = true))
        val b = SyncManager(ManagerConfig(nodeId = "b", strategy = maxV, checkResolver = true))
        a.createState("""{"v":1}""", id = "s")
        runBlocking { a.syncWith(b) }
        a.updateState("s", """{"v":5}""")
        b.updateState("s", """{"v":3}""")
        val report = runBlocking { a.syncWith(b) }
        assertEquals(1UL, report.pulled.conflicts)
        assertEquals("""{"v":5}""", a.getState("s")!!.data)
        assertEquals(a.getState("s"), b.getState("s"))
        assertTrue(calls.get() >= 2)
        a.close()
        b.close()
    }

    @Test
    fun `a Kotlin transport syncs, and its failures keep their code`() = runBlocking {
        val hub = memoryReplica("hub")
        val peer = hub.asTransport()
        val pushes = AtomicInteger()
        var failWith: CallbackException? = null
        val transport = object : SyncTransport {
            override fun capabilities(): SyncCapabilities = failWith?.let { throw it } ?: peer.capabilities()
            override fun pull(cursor: String?, context: SyncContext): ChangeSet = peer.pull(cursor, context)
            override fun push(changes: ChangeSet): ReconciliationResult {
                pushes.incrementAndGet()
                return peer.push(changes)
            }
        }
        val phone = memoryReplica("phone")
        phone.createState("""{"theme":"dark"}""", id = "settings")
        val report = phone.sync(transport)
        assertEquals(1UL, report.pushed.created)
        assertTrue(pushes.get() >= 1)
        assertEquals(phone.getState("settings"), hub.getState("settings"))
        assertTrue(phone.pendingOperations().isEmpty(), "acknowledged when the hub accepted it")

        failWith = transportFailure("wrong token", code = "UNAUTHORIZED")
        assertEquals("UNAUTHORIZED", assertThrows<SyncException.Unauthorized> { runBlocking { phone.sync(transport) } }.code)
        assertEquals(Status.ERROR, phone.status())
        val crashing = object : SyncTransport by transport {
            override fun capabilities(): SyncCapabilities = throw java.io.IOException("network down")
        }
        val e = assertThrows<SyncException.Transport> { runBlocking { phone.sync(crashing) } }
        assertTrue(e.message!!.contains("network down"), e.message)
        hub.close()
        phone.close()
    }

    @Test
    fun `cancelling a suspended sync returns at once and leaves the replica usable`() = runBlocking {
        val hub = memoryReplica("hub")
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val slow = object : SyncTransport {
            override fun capabilities(): SyncCapabilities {
                entered.countDown()
                release.await(10, TimeUnit.SECONDS)
                return hub.asTransport().capabilities()
            }
            override fun pull(cursor: String?, context: SyncContext) = hub.asTransport().pull(cursor, context)
            override fun push(changes: ChangeSet) = hub.asTransport().push(changes)
        }
        val phone = memoryReplica("phone")
        phone.createState("1", id = "x")
        val job = launch(Dispatchers.Default) { phone.sync(slow) }
        assertTrue(entered.await(5, TimeUnit.SECONDS), "the round started")
        val started = System.nanoTime()
        job.cancel()
        job.join()
        assertTrue(job.isCancelled)
        assertTrue(System.nanoTime() - started < 2_000_000_000L, "cancellation did not wait for the round")
        phone.updateState("x", "2") // usable while the abandoned round still blocks
        release.countDown()
        // The abandoned round finishes in the background; a new one works.
        withTimeout(10_000) {
            while (phone.status() == Status.SYNCING) delay(10)
        }
        phone.sync(hub.asTransport())
        assertEquals("2", hub.getState("x")!!.data)
        phone.close()
        hub.close()
    }

    @Test
    fun `a cancelled sync is a CancellationException for the caller`() = runBlocking {
        val hub = memoryReplica("hub")
        val release = CountDownLatch(1)
        val slow = object : SyncTransport by hub.asTransport() {
            override fun capabilities(): SyncCapabilities {
                release.await(10, TimeUnit.SECONDS)
                return hub.asTransport().capabilities()
            }
        }
        val phone = memoryReplica("phone")
        val outcome = async(Dispatchers.Default) {
            try {
                withTimeout(200) { phone.sync(slow) }
                "finished"
            } catch (e: CancellationException) {
                "cancelled"
            }
        }
        assertEquals("cancelled", outcome.await())
        release.countDown()
        phone.close()
        hub.close()
    }

    @Test
    fun `one replica is shared by many threads and coroutines`() = runBlocking {
        val m = memoryReplica("shared")
        val threads = Executors.newFixedThreadPool(4)
        val futures = (0 until 4).map { t ->
            threads.submit {
                repeat(250) { i -> m.createState("""{"t":$t,"i":$i}""", id = "t$t-$i") }
            }
        }
        val coroutines = (0 until 8).map { c ->
            async(Dispatchers.Default) {
                repeat(100) { i -> m.createState("""{"c":$c,"i":$i}""", id = "c$c-$i") }
                m.listStates().size
            }
        }
        futures.forEach { it.get(30, TimeUnit.SECONDS) }
        coroutines.awaitAll()
        threads.shutdown()
        assertEquals(1_800, m.listStates().size)
        assertEquals(1_800, m.pendingOperations().size)
        assertEquals(1_800, m.pendingOperations().map { it.opId }.toSet().size)
        // Concurrent sync rounds with two peers converge.
        val peers = listOf(memoryReplica("p1"), memoryReplica("p2"))
        peers.map { p -> async(Dispatchers.Default) { m.syncWith(p) } }.awaitAll()
        for (p in peers) assertEquals(1_800, p.listStates().size)
        peers.forEach { it.close() }
        m.close()
    }

    @Test
    fun `the async open and the in-process sync round`() = runBlocking {
        val a = SyncManager.open(ManagerConfig(nodeId = "a", strategy = ConflictStrategy.MergeFields))
        val b = SyncManager.open(ManagerConfig(nodeId = "b", strategy = ConflictStrategy.MergeFields))
        a.createState("""{"theme":"dark","font":12}""", id = "settings")
        a.syncWith(b)
        a.updateState("settings", """{"theme":"light","font":12}""")
        b.updateState("settings", """{"theme":"dark","font":16}""")
        val report = a.syncWith(b, SyncContext(limit = 10u))
        assertEquals(1UL, report.pulled.conflicts)
        assertEquals(buildJsonObject { put("font", 16); put("theme", "light") }, a.getState("settings")!!.json)
        assertEquals(a.exportState().states, b.exportState().states)
        a.close()
        b.close()
    }

    @Test
    fun `manual conflicts are listed and resolved with custom data`() = runBlocking {
        val a = memoryReplica("a", ConflictStrategy.Manual)
        val b = memoryReplica("b")
        a.createState("1", id = "s")
        a.syncWith(b)
        a.updateState("s", "2")
        b.updateState("s", "3")
        a.syncWith(b)
        assertEquals(Status.CONFLICT, a.status())
        val conflict = a.conflicts().single()
        assertEquals("3", conflict.remote.data)
        val resolved = a.resolveConflict(conflict.conflictId, customResolution(JsonPrimitive(23)))
        assertEquals("23", resolved.data)
        assertEquals(Status.IDLE, a.status())
        assertEquals("NOT_FOUND", assertThrows<SyncException> { a.resolveConflict(conflict.conflictId, Resolution.Local) }.code)
        a.close()
        b.close()
    }

    @Test
    fun `auto-sync runs rounds in the background until stopped`() = runBlocking {
        val hub = memoryReplica("hub")
        val phone = memoryReplica("phone")
        val completed = AtomicInteger()
        phone.subscribe { if (it is SyncEvent.SyncCompleted) completed.incrementAndGet() }
        phone.createState("1", id = "x")
        phone.startAutoSync(Duration.ofMillis(50), hub.asTransport())
        assertTrue(phone.isAutoSyncing())
        assertEquals("INVALID_INPUT", assertThrows<SyncException> { phone.startAutoSync(Duration.ofMillis(50), hub.asTransport()) }.code)
        withTimeout(10_000) { while (hub.getState("x") == null) delay(10) }
        hub.createState("2", id = "from-hub")
        assertTrue(phone.syncNow())
        withTimeout(10_000) { while (phone.getState("from-hub") == null) delay(10) }
        assertTrue(phone.stopAutoSync())
        assertFalse(phone.isAutoSyncing())
        assertTrue(completed.get() >= 2)
        phone.close()
        hub.close()
    }

    /** Two replicas holding the same id in different collections: each refuses the other's. */
    private fun clashingReplicas(): Pair<SyncManager, SyncManager> {
        val a = memoryReplica("a", clock = ManualClock(5_000uL))
        val b = memoryReplica("b", clock = ManualClock(7_000uL))
        a.createState("""{"v":"a"}""", id = "s", collection = "one")
        b.createState("""{"v":"b"}""", id = "s", collection = "two")
        a.createState("""{"v":1}""", id = "fine")
        return a to b
    }

    @Test
    fun `a pull refuses a state alone, records it and announces it`() = runBlocking {
        val (a, b) = clashingReplicas()
        val heard = Collections.synchronizedList(mutableListOf<SyncEvent.StateRejected>())
        b.subscribe { if (it is SyncEvent.StateRejected) heard += it }
        val report = b.syncWith(a)
        // b pulled a's two states: "fine" applied, "s" (another collection here) refused alone.
        assertEquals(1UL, report.pulled.created)
        assertEquals(1UL, report.pulled.rejected)
        assertEquals(listOf("s" to "INVALID_STATE"), report.pulled.rejections.map { it.id to it.code })
        assertTrue(report.pulled.rejections[0].message.contains("collection"), report.pulled.rejections[0].message)
        assertEquals("""{"v":1}""", b.getState("fine")!!.data)
        assertEquals("""{"v":"b"}""", b.getState("s")!!.data)
        val rejection = b.rejections().single()
        assertEquals("s", rejection.stateId)
        assertEquals("INVALID_STATE", rejection.code)
        assertEquals(7_000UL, rejection.rejectedAt)
        assertTrue(rejection.message.contains("\"a\""), "the message names the peer: ${rejection.message}")
        val event = heard.single()
        assertEquals("stateRejected", event.name)
        assertEquals(Triple(rejection.stateId, rejection.code, rejection.message), Triple(event.stateId, event.code, event.message))
        // The other direction of the round: a refused b's "s" in its own pull.
        assertEquals(1UL, report.pushed.rejected)
        assertEquals(listOf("s"), a.rejections().map { it.stateId })
        a.close()
        b.close()
    }

    @Test
    fun `rejections survive a reopen`() = withTempDir { dir ->
        val path = dir.resolve("b.db").toString()
        val a = memoryReplica("a")
        a.createState("1", id = "s", collection = "one")
        SyncManager(ManagerConfig(nodeId = "b", path = path)).use { b ->
            b.createState("2", id = "s", collection = "two")
            b.applyChanges("a", a.changesSince())
            assertEquals(1, b.rejections().size)
        }
        SyncManager(ManagerConfig(path = path)).use { b -> assertEquals(listOf("s"), b.rejections().map { it.stateId }) }
        a.close()
    }

    @Test
    fun `reconcile reports what it refused, records nothing, and applies the rest`() {
        val (a, b) = clashingReplicas()
        val result = b.reconcile(a.listStates().sortedBy { it.id })
        assertEquals(1UL, result.created)
        assertEquals(1UL, result.rejected)
        assertEquals(1, result.rejections.size)
        assertEquals("s", result.rejections[0].id)
        assertEquals("INVALID_STATE", result.rejections[0].code)
        assertEquals("""{"v":1}""", b.getState("fine")!!.data)
        assertTrue(b.rejections().isEmpty(), "reconcile reports refusals; only sync rounds record them")
        // applyRemoteState refuses the same state with its error.
        assertEquals("INVALID_STATE", assertThrows<SyncException> { b.applyRemoteState(a.getState("s")!!) }.code)
        a.close()
        b.close()
    }

    @Test
    fun `maxStateBytes and maxClockSkew are options, checked and in effect`() {
        val defaults = ManagerConfig()
        assertEquals(1_048_576UL, defaults.maxStateBytes)
        assertNull(defaults.maxClockSkew)
        assertEquals("INVALID_INPUT", assertThrows<SyncException.InvalidInput> { SyncManager(ManagerConfig(maxStateBytes = 0UL)) }.code)
        // uniffi's Duration cannot be negative: refused before it reaches the library.
        assertThrows<IllegalArgumentException> { SyncManager(ManagerConfig(maxClockSkew = Duration.ofMillis(-1))) }

        SyncManager(ManagerConfig(nodeId = "small", maxStateBytes = 10UL)).use { m ->
            val e = assertThrows<SyncException.InvalidInput> { m.createState("\"0123456789\"") } // 12 bytes
            assertTrue(e.message!!.contains("max_state_bytes"), e.message)
            m.createState("\"01234567\"", id = "ten") // exactly 10 bytes
            assertEquals("INVALID_INPUT", assertThrows<SyncException> { m.updateState("ten", "\"012345678\"") }.code)
            // A larger state from a peer is refused alone.
            val big = memoryReplica("big").use { it.createState("\"0123456789\"", id = "big") }
            val result = m.reconcile(listOf(big))
            assertEquals(listOf("big" to "INVALID_STATE"), result.rejections.map { it.id to it.code })
        }

        // A state stamped 10 s ahead of a replica allowing 1 s of skew is refused; the default
        // (one hour) takes it.
        val future = memoryReplica("future", clock = ManualClock(11_000uL)).use { it.createState("1", id = "f") }
        val strict = ManagerConfig(nodeId = "strict", clock = ManualClock(1_000uL), maxClockSkew = Duration.ofSeconds(1))
        SyncManager(strict).use { m ->
            val e = assertThrows<SyncException.InvalidState> { m.applyRemoteState(future) }
            assertTrue(e.message!!.contains("ahead"), e.message)
            assertEquals(1UL, m.reconcile(listOf(future)).rejected)
        }
        SyncManager(ManagerConfig(nodeId = "lenient", clock = ManualClock(1_000uL))).use { m ->
            assertEquals(ApplyOutcome.CREATED, m.applyRemoteState(future).outcome)
        }
    }

    @Test
    fun `a Kotlin transport's push answer carries rejections, which the pushing replica records`() = runBlocking {
        val hub = memoryReplica("hub")
        val peer = hub.asTransport()
        // A peer that refuses every state whose id starts with "bad", as a hub answers.
        val transport = object : SyncTransport by peer {
            override fun push(changes: ChangeSet): ReconciliationResult {
                val (bad, good) = changes.states.partition { it.id.startsWith("bad") }
                val answer = peer.push(changes.copy(states = good))
                return answer.copy(
                    rejected = answer.rejected + bad.size.toULong(),
                    rejections = answer.rejections + bad.map { RejectedState(it.id, "INVALID_STATE", "the hub refuses ${it.id}") },
                )
            }
        }
        val phone = memoryReplica("phone")
        val heard = Collections.synchronizedList(mutableListOf<String>())
        phone.subscribe { if (it is SyncEvent.StateRejected) heard += it.stateId }
        phone.createState("1", id = "good")
        phone.createState("2", id = "bad-1")
        val report = phone.sync(transport)
        assertEquals(1UL, report.pushed.created)
        assertEquals(1UL, report.pushed.rejected)
        assertEquals(listOf("bad-1"), report.pushed.rejections.map { it.id })
        val rejection = phone.rejections().single()
        assertEquals("bad-1", rejection.stateId)
        assertEquals("INVALID_STATE", rejection.code)
        assertTrue(rejection.message.contains("the hub refuses bad-1"), rejection.message)
        assertEquals(listOf("bad-1"), heard.toList())
        assertTrue(phone.pendingOperations().isEmpty(), "the refused version is not retried by itself")
        assertNull(hub.getState("bad-1"))
        // A later version that goes through clears the record.
        phone.updateState("bad-1", "3")
        val plain = object : SyncTransport by peer {}
        phone.sync(plain)
        assertTrue(phone.rejections().isEmpty(), "cleared when a later version went through: ${phone.rejections()}")
        hub.close()
        phone.close()
    }

    @Test
    fun `a Kotlin transport's maxBodyBytes cuts the pushed pages`() = runBlocking {
        val hub = memoryReplica("hub")
        val peer = hub.asTransport()
        val pages = Collections.synchronizedList(mutableListOf<Int>())
        val transport = object : SyncTransport by peer {
            override fun capabilities(): SyncCapabilities = peer.capabilities().copy(maxBodyBytes = 1uL)
            override fun push(changes: ChangeSet): ReconciliationResult {
                pages += changes.states.size
                return peer.push(changes)
            }
        }
        assertNull(peer.capabilities().maxBodyBytes)
        val phone = memoryReplica("phone")
        repeat(3) { phone.createState("""{"i":$it}""", id = "s$it") }
        assertEquals(3UL, phone.sync(transport).pushed.created)
        // Every state is larger than 1 byte: each one goes alone.
        assertEquals(listOf(1, 1, 1), pages.filter { it > 0 })
        assertEquals(3, hub.listStates().size)
        hub.close()
        phone.close()
    }

    @Test
    fun `decodePage leaves an invalid state to the replica that applies it`() {
        val a = memoryReplica("a")
        a.createState("1", id = "ok")
        a.createState("2", id = "forged")
        val page = a.changesSince()
        val forged = page.copy(states = page.states.map { if (it.id == "forged") it.copy(data = "3") else it })
        for (encoding in listOf(Encoding.JSON, Encoding.BINARY)) {
            val bytes = encodeChangeSet(forged, encoding)
            assertEquals("INVALID_STATE", assertThrows<SyncException> { decodeChangeSet(bytes, encoding) }.code)
            assertEquals(forged, decodePage(bytes, encoding))
        }
        memoryReplica("b").use { b ->
            val result = b.applyChanges("a", decodePage(encodeChangeSet(forged, Encoding.BINARY), Encoding.BINARY))
            assertEquals(1UL, result.created)
            assertEquals(listOf("forged"), result.rejections.map { it.id })
            assertEquals(listOf("forged"), b.rejections().map { it.stateId })
        }
        a.close()
    }

    @Test
    fun `export, import and the wire helpers`() {
        val a = memoryReplica("a")
        a.createState("""{"v":1}""", id = "s")
        val snapshot = a.exportState()
        val b = memoryReplica("b")
        assertEquals(1UL, b.importState(snapshot).created)
        assertEquals(a.getState("s"), b.getState("s"))
        val c = memoryReplica("c")
        assertEquals(1UL, c.importJson(snapshotToJson(snapshot), replace = true).created)
        assertEquals(snapshot.pending, c.pendingOperations())
        val bytes = encodeSnapshot(snapshot, Encoding.BINARY)
        assertEquals(snapshot, decodeSnapshot(bytes, Encoding.BINARY))
        assertEquals(ClockOrdering.CONCURRENT, compareClocks(mapOf("a" to 1UL), mapOf("b" to 1UL)))
        assertEquals(mapOf("a" to 2UL, "b" to 1UL), mergeClocks(mapOf("a" to 2UL), mapOf("b" to 1UL, "a" to 1UL)))
        assertTrue(dominates(mapOf("a" to 2UL, "b" to 1UL), mapOf("a" to 2UL)))
        assertEquals(ClockIncrement(mapOf("a" to 2UL, "b" to 1UL), 1UL), incrementClock(mapOf("a" to 2UL), "b"))
        assertEquals(ClockIncrement(mapOf("a" to 3UL), 3UL), incrementClock(mapOf("a" to 2UL, "z" to 0UL), "a"))
        assertEquals("730dbbcf9f17f860", stateHash("""{"theme":"dark"}""", false))
        listOf(a, b, c).forEach { it.close() }
    }

    @Test
    fun `the HTTP transport validates its URL`() {
        assertEquals("INVALID_INPUT", assertThrows<SyncException> { HttpTransport("ftp://example.com") }.code)
        HttpTransport("http://127.0.0.1:9/", HttpOptions(headers = mapOf("Authorization" to "Bearer x"))).use { t ->
            assertEquals("http://127.0.0.1:9", t.baseUrl())
            memoryReplica("a").use { m ->
                // Nothing listens on port 9: the round fails with TRANSPORT, quickly.
                assertEquals("TRANSPORT", assertThrows<SyncException> { runBlocking { m.sync(t) } }.code)
            }
        }
        assertNull(memoryReplica("z").use { it.getState("none") })
        assertIs<ConflictStrategy.LastWriteWins>(strategyFromName("lastWriteWins"))
    }
}
