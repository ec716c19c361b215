package io.statesync

import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.util.Collections
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * `HttpTransport(url, space = ..., token = ...)` (docs/design.md §10): the space id is checked by
 * the core, the requests go to the space's routes and carry the token as a bearer credential.
 */
class HttpSpacesTest {
    /** One request as the capturing server saw it: its path and `Authorization` header. */
    data class Seen(val path: String, val authorization: String?)

    /**
     * Runs [block] with the URL of an HTTP server on 127.0.0.1 that records every request and
     * answers each `401 UNAUTHORIZED` with the protocol's typed error body.
     */
    private fun withCapturingServer(block: (url: String, seen: List<Seen>) -> Unit) {
        val seen = Collections.synchronizedList(mutableListOf<Seen>())
        val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.createContext("/") { exchange ->
            seen += Seen(exchange.requestURI.rawPath, exchange.requestHeaders.getFirst("Authorization"))
            val body = """{"error":{"code":"UNAUTHORIZED","message":"no such token"}}""".toByteArray()
            exchange.responseHeaders.add("Content-Type", "application/json")
            exchange.sendResponseHeaders(401, body.size.toLong())
            exchange.responseBody.use { it.write(body) }
        }
        server.start()
        try {
            block("http://127.0.0.1:${server.address.port}", seen)
        } finally {
            server.stop(0)
        }
    }

    @Test
    fun `the space id is checked by the core`() {
        HttpTransport("http://127.0.0.1:9", space = "user:42", token = "t").use { assertEquals("user:42", it.space()) }
        HttpTransport("http://127.0.0.1:9").use { assertNull(it.space(), "no space: the hub's default space") }
        val longest = "x".repeat(128)
        HttpTransport("http://127.0.0.1:9", space = longest).use { assertEquals(longest, it.space()) }
        for (bad in listOf("", "a/b", "a b", "é", "a?b", "a%2F", "x".repeat(129))) {
            val e = assertThrows<SyncException.InvalidInput>(bad) { HttpTransport("http://127.0.0.1:9", space = bad) }
            assertEquals("INVALID_INPUT", e.code)
            assertTrue(e.message!!.contains("space id"), e.message)
        }
    }

    @Test
    fun `requests go to the space's routes with the token as a bearer credential`() = withCapturingServer { url, seen ->
        memoryReplica("phone").use { phone ->
            HttpTransport(url, space = "user:42", token = "secret-token").use { hub ->
                val e = assertThrows<SyncException.Unauthorized> { runBlocking { phone.sync(hub) } }
                assertTrue(e.message!!.contains("no such token"), e.message)
            }
            assertEquals(Seen("/v1/spaces/user:42/capabilities", "Bearer secret-token"), seen.last())

            // Without a space: the Part I routes (the hub's space `default`); without a token: no credential.
            HttpTransport(url).use { hub -> assertThrows<SyncException.Unauthorized> { runBlocking { phone.sync(hub) } } }
            assertEquals(Seen("/v1/capabilities", null), seen.last())

            // The token wins over an Authorization header of the options.
            val options = HttpOptions(headers = mapOf("Authorization" to "Bearer from-options"))
            HttpTransport(url, options, token = "from-token").use { hub ->
                assertThrows<SyncException.Unauthorized> { runBlocking { phone.sync(hub) } }
            }
            assertEquals(Seen("/v1/capabilities", "Bearer from-token"), seen.last())
        }
    }

    @Test
    fun `a token that cannot be a header value fails the round with INVALID_INPUT before any request`() =
        withCapturingServer { url, seen ->
            memoryReplica("phone").use { phone ->
                HttpTransport(url, space = "user:42", token = "line\nbreak").use { hub ->
                    val e = assertThrows<SyncException.InvalidInput> { runBlocking { phone.sync(hub) } }
                    assertEquals("INVALID_INPUT", e.code)
                }
            }
            assertTrue(seen.isEmpty(), "nothing was sent: $seen")
        }
}
