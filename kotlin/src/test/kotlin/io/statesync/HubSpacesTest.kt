package io.statesync

import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.Base64
import java.util.concurrent.TimeUnit
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * `HttpTransport(url, space = ..., token = ...)` against a real `statesync-hub` (127.0.0.1, a free
 * port) that identifies callers by HS256 JWTs (docs/design.md §10): the subject syncs its own
 * space `user:<sub>`, and another user's space is refused.
 */
class HubSpacesTest {
    private val hubBin: Path = Paths.get(System.getProperty("statesync.hub") ?: "../target/debug/statesync-hub")

    /** A JWT signed with HS256 (`javax.crypto`), for [claims] as JSON text. */
    private fun jwt(secret: String, claims: String): String {
        val b64 = Base64.getUrlEncoder().withoutPadding()
        val signed = b64.encodeToString("""{"alg":"HS256","typ":"JWT"}""".toByteArray()) + "." + b64.encodeToString(claims.toByteArray())
        val mac = Mac.getInstance("HmacSHA256").apply { init(SecretKeySpec(secret.toByteArray(), "HmacSHA256")) }
        return signed + "." + b64.encodeToString(mac.doFinal(signed.toByteArray()))
    }

    /**
     * Runs [block] with the URL of a hub whose HS256 secret is [secret], given in a file
     * (`--jwt-hs256-secret-file`: a secret is never a command-line value), accepting tokens of
     * [ISSUER] for [AUDIENCE], with the rules file [rules] if given, and its store in a temporary
     * folder; the hub is stopped afterwards.
     */
    private fun withHub(secret: String, rules: String? = null, block: (url: String) -> Unit) = withTempDir { dir ->
        check(Files.isExecutable(hubBin)) { "the hub binary $hubBin is missing: cargo build -p statesync-hub" }
        val secretFile = dir.resolve("jwt-secret")
        Files.writeString(secretFile, secret + "\n")
        val rulesArgs = rules?.let { listOf("--rules", Files.writeString(dir.resolve("rules.toml"), it).toString()) }.orEmpty()
        val hub = ProcessBuilder(
            listOf(
                hubBin.toString(), "--store", "sqlite:" + dir.resolve("hub.db"), "--listen", "127.0.0.1:0",
                "--jwt-hs256-secret-file", secretFile.toString(), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE,
            ) + rulesArgs,
        )
            .redirectErrorStream(true)
            // Its logs share the pipe read only for the start line: warnings and errors only.
            .apply { environment()["STATESYNC_HUB_LOG_LEVEL"] = "warn" }
            .start()
        try {
            val line = hub.inputStream.bufferedReader().readLine() ?: error("the hub exited before listening")
            val url = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1) ?: error("unexpected hub output: $line")
            block(url)
        } finally {
            hub.destroy()
            if (!hub.waitFor(10, TimeUnit.SECONDS)) hub.destroyForcibly().waitFor()
        }
    }

    companion object {
        /** The issuer and audience the hub accepts (`--jwt-issuer`, `--jwt-audience`). */
        const val ISSUER = "https://auth.example"
        const val AUDIENCE = "statesync-hub"
    }

    /** A token of [sub] for the hub of [withHub], valid for ten minutes. */
    private fun token(secret: String, sub: String): String {
        val exp = System.currentTimeMillis() / 1000 + 600
        return jwt(secret, """{"sub":"$sub","exp":$exp,"iss":"$ISSUER","aud":"$AUDIENCE"}""")
    }

    @Test
    fun `a JWT's subject syncs its own space, and another user's space is refused`() = runBlocking {
        val secret = "k".repeat(40)
        val token = token(secret, "42")
        withHub(secret) { url ->
            val laptop = memoryReplica("laptop")
            val phone = memoryReplica("phone")
            laptop.createState("""{"theme":"dark"}""", id = "settings")
            HttpTransport(url, space = "user:42", token = token).use { hub ->
                runBlocking {
                    assertEquals(1UL, laptop.sync(hub).pushed.created)
                    assertEquals(1UL, phone.sync(hub).pulled.created)
                }
            }
            assertEquals(laptop.getState("settings"), phone.getState("settings"))
            assertTrue(laptop.pendingOperations().isEmpty(), "acknowledged by the hub")

            // Space user:43 is not granted to subject 42: HTTP 403 FORBIDDEN; nothing is pulled or
            // pushed.
            phone.updateState("settings", """{"theme":"light"}""")
            HttpTransport(url, space = "user:43", token = token).use { other ->
                val e = assertThrows<SyncException.Forbidden> { runBlocking { phone.sync(other) } }
                assertEquals("FORBIDDEN", e.code)
                assertTrue(e.message!!.contains("HTTP 403"), e.message)
                assertTrue(e.message!!.contains("/v1/spaces/user:43/"), e.message)
            }
            assertEquals(1, phone.pendingOperations().size, "nothing was pushed")

            // A token signed with another secret, or none: 401 UNAUTHORIZED.
            val forged = token("x".repeat(40), "42")
            for (hub in listOf(HttpTransport(url, space = "user:42", token = forged), HttpTransport(url, space = "user:42"))) {
                hub.use {
                    val e = assertThrows<SyncException.Unauthorized> { runBlocking { phone.sync(it) } }
                    assertTrue(e.message!!.contains("HTTP 401"), e.message)
                }
            }

            // The write goes through to the own space, and from there to the laptop.
            HttpTransport(url, space = "user:42", token = token).use { hub ->
                runBlocking {
                    assertEquals(1UL, phone.sync(hub).pushed.updated)
                    laptop.sync(hub)
                }
            }
            assertEquals("""{"theme":"light"}""", laptop.getState("settings")!!.data)
            laptop.close()
            phone.close()
        }
    }

    @Test
    fun `a write the hub refuses is recorded with the hub's version, and revertRejected settles both sides`() = runBlocking {
        val secret = "s".repeat(40)
        // Each space may hold 32 bytes of data: the longer theme would pass it (QUOTA_EXCEEDED).
        withHub(secret, rules = "[limits]\nmax_bytes = 32\n") { url ->
            val phone = memoryReplica("phone")
            val laptop = memoryReplica("laptop")
            phone.createState("""{"theme":"dark"}""", id = "settings")
            HttpTransport(url, space = "user:7", token = token(secret, "7")).use { hub ->
                runBlocking {
                    laptop.sync(hub)
                    phone.sync(hub)
                    laptop.sync(hub)
                    phone.updateState("settings", """{"theme":"a name far longer than the space allows"}""")
                    val report = phone.sync(hub)
                    assertEquals(listOf("settings" to "QUOTA_EXCEEDED"), report.pushed.rejections.map { it.id to it.code })
                    val kept = laptop.getState("settings")!!
                    val rejection = phone.rejections().single()
                    assertEquals("settings", rejection.stateId)
                    assertTrue(rejection.own, "the hub refused a write of the phone's")
                    assertEquals(kept, rejection.current, "the hub reported the version it keeps")

                    val reverted = phone.revertRejected("settings")
                    assertEquals("""{"theme":"dark"}""", reverted.data)
                    assertEquals(0UL, phone.sync(hub).pushed.rejected)
                    assertTrue(phone.rejections().isEmpty())
                    laptop.sync(hub)
                }
            }
            assertEquals(phone.getState("settings"), laptop.getState("settings"), "both settle on the reverted version")
            phone.close()
            laptop.close()
        }
    }
}
