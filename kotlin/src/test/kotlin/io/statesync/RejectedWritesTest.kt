package io.statesync

import java.util.Collections
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Rejected writes (docs/design.md §10) through the Kotlin API: the refusing peer's kept version
 * crossing a Kotlin transport's push answer into the core (`RejectedState.current`), the record
 * (`Rejection.own`, `Rejection.current`) and `revertRejected`. The core's rules themselves are
 * conformance/rejections.json's business.
 */
class RejectedWritesTest {
    /**
     * A hub as a Kotlin transport over [hub]: it refuses writes to the collection `locked` with
     * `FORBIDDEN`, reporting the version it keeps (or none), as the hub's push answer does; a
     * version that changes nothing it holds (the same content, or a deletion of what it lacks)
     * goes through whatever the grants.
     */
    private fun lockingHub(hub: SyncManager): SyncTransport {
        val peer = hub.asTransport()
        return object : SyncTransport by peer {
            override fun push(changes: ChangeSet): ReconciliationResult {
                val (refused, accepted) = changes.states.partition { s ->
                    val kept = hub.listStates(includeDeleted = true).firstOrNull { it.id == s.id }
                    s.collection == "locked" && !(kept?.hash == s.hash || (kept == null && s.deleted))
                }
                val answer = peer.push(changes.copy(states = accepted))
                return answer.copy(
                    rejected = answer.rejected + refused.size.toULong(),
                    rejections = answer.rejections + refused.map {
                        RejectedState(it.id, "FORBIDDEN", "the collection locked is read-only", current = hub.getState(it.id))
                    },
                )
            }
        }
    }

    @Test
    fun `a refused write records the hub's version, and revertRejected writes it back and syncs`() = runBlocking {
        val hub = memoryReplica("hub")
        val transport = lockingHub(hub)
        hub.createState("""{"admin":false}""", id = "role", collection = "locked")
        val phone = memoryReplica("phone")
        val heard = Collections.synchronizedList(mutableListOf<SyncEvent.StateRejected>())
        phone.subscribe { if (it is SyncEvent.StateRejected) heard += it }
        phone.sync(transport)
        phone.updateState("role", """{"admin":true}""")

        val report = phone.sync(transport)
        assertEquals(listOf("role" to "FORBIDDEN"), report.pushed.rejections.map { it.id to it.code })
        val kept = hub.getState("role")!!
        assertEquals(kept, report.pushed.rejections.single().current, "the kept version crossed back out")
        val rejection = phone.rejections().single()
        assertEquals("role", rejection.stateId)
        assertTrue(rejection.own, "a write of this replica's, refused by the peer")
        assertEquals(kept, rejection.current, "the kept version crossed into the core and was recorded")
        assertEquals(listOf("role"), heard.map { it.stateId })
        assertEquals("""{"admin":true}""", phone.getState("role")!!.data, "nothing reverted by itself")
        assertTrue(phone.pendingOperations().isEmpty(), "the refused write is not retried")

        val reverted = phone.revertRejected("role")
        assertEquals("""{"admin":false}""", reverted.data)
        assertEquals(reverted, phone.getState("role"))
        assertEquals(ClockOrdering.AFTER, compareClocks(reverted.clock, kept.clock), "it has seen the hub's version")
        assertTrue(phone.rejections().isEmpty(), "the rejection goes with the revert")
        assertEquals(listOf("role"), phone.pendingOperations().map { it.stateId }, "a write that syncs like any other")

        val again = phone.sync(transport)
        assertEquals(1UL to 0UL, again.pushed.updated to again.pushed.rejected)
        assertEquals(reverted, hub.getState("role"), "both replicas hold the same version")
        assertTrue(phone.pendingOperations().isEmpty())
        phone.close()
        hub.close()
    }

    @Test
    fun `a refused new state the hub keeps none of is reverted to a deletion`() = runBlocking {
        val hub = memoryReplica("hub")
        val transport = lockingHub(hub)
        val phone = memoryReplica("phone")
        phone.createState("1", id = "mine", collection = "locked")
        phone.createState("2", id = "open")
        val report = phone.sync(transport)
        assertEquals(1UL to 1UL, report.pushed.created to report.pushed.rejected)
        assertNull(phone.rejections().single().current, "the hub keeps none")

        val reverted = phone.revertRejected("mine")
        assertTrue(reverted.deleted)
        assertEquals("null", reverted.data)
        assertNull(phone.getState("mine"))
        phone.sync(transport)
        assertEquals(true, hub.listStates(includeDeleted = true).single { it.id == "mine" }.deleted)
        assertTrue(phone.rejections().isEmpty())
        phone.close()
        hub.close()
    }

    @Test
    fun `revertRejected without a rejection of an own write is NOT_FOUND or INVALID_INPUT and changes nothing`() = runBlocking {
        // `small` refuses the peer's large version in its pull: a rejection, but not of its own.
        SyncManager(ManagerConfig(nodeId = "small", maxStateBytes = 10UL)).use { small ->
            val big = memoryReplica("big")
            big.createState("""{"text":"more than ten bytes"}""", id = "big")
            small.createState("1", id = "mine")
            small.syncWith(big)
            val rejection = small.rejections().single()
            assertEquals("big" to false, rejection.stateId to rejection.own)
            assertNull(rejection.current)
            val before = small.exportState()

            val missing = assertThrows<SyncException.NotFound> { small.revertRejected("mine") }
            assertEquals("NOT_FOUND", missing.code)
            assertEquals("NOT_FOUND", assertThrows<SyncException> { small.revertRejected("nothing") }.code)
            val theirs = assertThrows<SyncException.InvalidInput> { small.revertRejected("big") }
            assertEquals("INVALID_INPUT", theirs.code)
            assertTrue(theirs.message!!.contains("big"), theirs.message)
            assertEquals(before, small.exportState(), "the replica is unchanged")
            assertEquals(listOf(rejection), small.rejections())
            big.close()
        }
    }

    @Test
    fun `a kept version a Kotlin transport reports invalid fails the round as CORRUPT`() = runBlocking {
        val hub = memoryReplica("hub")
        val peer = hub.asTransport()
        val forging = object : SyncTransport by peer {
            override fun push(changes: ChangeSet): ReconciliationResult {
                val forged = changes.states.first().copy(data = """{"forged":true}""") // the hash no longer matches
                return ReconciliationResult(0UL, 0UL, 0UL, 0UL, 0UL, 0UL, 1UL, listOf(RejectedState(forged.id, "FORBIDDEN", "no", forged)))
            }
        }
        val phone = memoryReplica("phone")
        phone.createState("1", id = "s")
        val e = assertThrows<SyncException.Corrupt> { phone.sync(forging) }
        assertTrue(e.message!!.contains("kept version"), e.message)
        assertTrue(phone.rejections().isEmpty(), "nothing recorded from a damaged answer")
        assertNotNull(phone.pendingOperations().singleOrNull(), "the write stays pending")
        phone.close()
        hub.close()
    }
}
