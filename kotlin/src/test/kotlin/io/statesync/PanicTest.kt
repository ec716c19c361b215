package io.statesync

import com.sun.jna.Native
import com.sun.jna.Structure
import java.nio.file.Files
import java.nio.file.Paths
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * No panic crosses the boundary (issue 14): a panic inside statesync reaches Kotlin as
 * `SyncException.Internal` (code `INTERNAL`), the one error type the application handles, never
 * as uniffi's own `InternalException`; and the replica works on afterwards.
 *
 * The panic comes from the test-only entry point `SyncManager::panic_for_tests` of the binding
 * crate, which only its `testing` feature compiles in: pom.xml builds that library apart (cargo
 * profile `ffi-testing`), and only this class runs on it, in a JVM of its own (surefire execution
 * `testing-library`, which points uniffi's library override at it). The jar's library and the
 * generated sources in the jar do not have the entry point, so it is called here through the few
 * lines uniffi generates for every method (see [panicForTests]).
 */
class PanicTest {
    @Test
    fun `a panic inside a call is SyncException Internal and the replica reads and writes on`() = withTempDir { dir ->
        for (path in listOf(null, dir.resolve("a.db").toString())) {
            SyncManager(ManagerConfig(nodeId = "a", path = path)).use { m ->
                m.createState("1", id = "before")
                val e = assertThrows<SyncException.Internal> { panicForTests(m) }
                assertEquals("INTERNAL", e.code)
                assertTrue(e.message!!.contains("panic_for_tests was called"), e.message)
                // The panic struck inside a transaction with the replica's lock held: the
                // transaction left nothing, and the lock is usable again.
                assertNull(m.getState("panic-for-tests"), "the panicking transaction left nothing")
                assertEquals(Status.IDLE, m.status())
                m.updateState("before", "2")
                m.createState("3", id = "after")
                assertEquals(listOf("after", "before"), m.listStates().map { it.id })
                assertEquals(listOf("a:1", "a:2", "a:3"), m.pendingOperations().map { it.opId })
                // The async exports work as well: a round with another replica.
                SyncManager(ManagerConfig(nodeId = "b")).use { b ->
                    assertEquals(2UL, runBlocking { b.syncWith(m) }.pulled.created)
                }
            }
            if (path != null) {
                // What the replica wrote after the panic is durable; the panic wrote nothing.
                SyncManager(ManagerConfig(path = path)).use { again ->
                    assertEquals(listOf("after", "before"), again.listStates(includeDeleted = true).map { it.id })
                }
            }
        }
    }

    @Test
    fun `only the testing library has the entry point, never what ships`() {
        val symbol = ENTRY_POINT.toByteArray()
        assertTrue(contains(Files.readAllBytes(Paths.get(testingLibrary())), symbol), "the testing library has $ENTRY_POINT")
        // What the jar packs: the library resource and the generated classes.
        val resource = System.getProperty("statesync.native.resource") ?: error("pom.xml passes statesync.native.resource")
        val shipped = assertNotNull(PanicTest::class.java.classLoader.getResourceAsStream(resource), "$resource on the classpath")
        assertTrue(!contains(shipped.use { it.readBytes() }, symbol), "the shipped library lacks $ENTRY_POINT")
        assertTrue(SyncManager::class.java.methods.none { it.name.contains("panic", ignoreCase = true) }, "no panic method is generated")
    }

    private companion object {
        const val ENTRY_POINT = "uniffi_statesync_ffi_fn_method_syncmanager_panic_for_tests"

        fun contains(bytes: ByteArray, part: ByteArray): Boolean =
            (0..bytes.size - part.size).any { i -> part.indices.all { bytes[i + it] == part[it] } }
    }
}

/** The testing library: the path pom.xml gives uniffi's library override in this test's JVM. */
private fun testingLibrary(): String {
    val path = System.getProperty("uniffi.component.statesync_ffi.libraryOverride")
        ?: error("PanicTest runs in pom.xml's surefire execution testing-library, on the testing library")
    require(Files.isRegularFile(Paths.get(path))) { "no testing library at $path (pom.xml builds it)" }
    return path
}

/** uniffi's call status: 0 success, 1 the declared error (lowered into `error_buf`), 2 a panic uniffi caught. */
@Structure.FieldOrder("code", "error_buf")
class CallStatus : Structure() {
    @JvmField var code: Byte = 0

    @JvmField var error_buf: RustBuffer.ByValue = RustBuffer.ByValue()
}

/** The testing library's one extra export, registered as the generated `UniffiLib` registers the others. */
private object TestingEntryPoint {
    init {
        Native.register(TestingEntryPoint::class.java, testingLibrary())
    }

    external fun uniffi_statesync_ffi_fn_method_syncmanager_panic_for_tests(handle: Long, status: CallStatus)
}

/**
 * `manager.panicForTests()` as uniffi 0.32 generates a throwing method: the object's handle is
 * cloned for the call, and the status decides what is thrown. A `CALL_ERROR` is the declared
 * error, lifted by the generated converter (a `SyncException`); a panic that reached uniffi
 * would be its `InternalException`, which the test above must never see.
 */
private fun panicForTests(manager: SyncManager) {
    val status = CallStatus()
    TestingEntryPoint.uniffi_statesync_ffi_fn_method_syncmanager_panic_for_tests(manager.uniffiCloneHandle(), status)
    when (status.code.toInt()) {
        0 -> return
        1 -> throw FfiConverterTypeSyncError.lift(status.error_buf)
        2 -> throw InternalException(if (status.error_buf.len > 0) FfiConverterString.lift(status.error_buf) else "Rust panic")
        else -> throw IllegalStateException("unknown call status ${status.code}")
    }
}
