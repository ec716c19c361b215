package io.statesync.examples

import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * The settings app against a real hub (`statesync-hub` on 127.0.0.1, a free port) together with
 * the Python settings client (examples/python/settings_client.py, from the venv that
 * scripts/test-python.sh builds): both edit offline, both sync, and both end with the same
 * settings.
 */
class SettingsAppTest {
    private val repo: Path = Paths.get(System.getProperty("statesync.repo") ?: "..").toAbsolutePath().normalize()
    private val hubBin = Paths.get(System.getProperty("statesync.hub") ?: "missing")
    private val python = Paths.get(System.getProperty("statesync.python") ?: "missing")

    private fun kotlinApp(vararg args: String): String {
        val out = ByteArrayOutputStream()
        val err = ByteArrayOutputStream()
        val code = run(arrayOf(*args), PrintStream(out, true), PrintStream(err, true))
        assertEquals(0, code, "settings ${args.joinToString(" ")}: $err")
        return out.toString()
    }

    private fun pythonApp(dir: Path, vararg args: String): String {
        val process = ProcessBuilder(python.toString(), repo.resolve("examples/python/settings_client.py").toString(), *args)
            .directory(dir.toFile()).redirectErrorStream(true).start()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the Python client did not finish in 60 s")
        val output = process.inputStream.bufferedReader().readText()
        assertEquals(0, process.exitValue(), "python settings_client.py ${args.joinToString(" ")}:\n$output")
        return output
    }

    /** `key = json` lines of `show`, as a map of JSON values. */
    private fun settings(show: String): Map<String, JsonElement> =
        show.lines().filter { " = " in it && !it.startsWith("(") }.associate { line ->
            val (key, value) = line.split(" = ", limit = 2)
            key to Json.parseToJsonElement(value)
        }

    @Test
    fun `the Kotlin and Python clients converge through the hub`() {
        check(Files.isExecutable(hubBin)) { "the hub binary $hubBin is missing: cargo build -p statesync-hub" }
        check(Files.isExecutable(python)) {
            "the Python venv $python is missing: run scripts/test-python.sh first (scripts/test.sh runs it before the Kotlin tests)"
        }
        val dir = Files.createTempDirectory("statesync-example-")
        val hub = ProcessBuilder(hubBin.toString(), "--db", dir.resolve("hub.db").toString(), "--listen", "127.0.0.1:0")
            .redirectErrorStream(true)
            // Its logs share the pipe read only for the start line: warnings and errors only, so
            // per-request lines can never fill it.
            .apply { environment()["STATESYNC_HUB_LOG_LEVEL"] = "warn" }
            .start()
        try {
            val line = hub.inputStream.bufferedReader().readLine() ?: error("the hub exited before listening")
            val url = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1) ?: error("unexpected hub output: $line")
            val laptop = dir.resolve("laptop.db").toString()
            val phone = dir.resolve("phone.db").toString()

            kotlinApp("--db", laptop, "set", "theme", "dark")
            kotlinApp("--db", laptop, "set", "fontSize", "14")
            pythonApp(dir, "--db", phone, "set", "volume", "3")
            pythonApp(dir, "--db", phone, "set", "theme", "light") // offline on both sides
            assertTrue(kotlinApp("--db", laptop, "sync", "--hub", url).startsWith("synced:"))
            assertTrue(pythonApp(dir, "--db", phone, "sync", "--hub", url).startsWith("synced:"))
            kotlinApp("--db", laptop, "sync", "--hub", url)

            val fromKotlin = settings(kotlinApp("--db", laptop, "show"))
            val fromPython = settings(pythonApp(dir, "--db", phone, "show"))
            assertEquals(setOf("theme", "fontSize", "volume"), fromKotlin.keys)
            assertEquals(fromKotlin, fromPython)
            // The later write wins: the Python client set the theme last.
            assertEquals(Json.parseToJsonElement("\"light\""), fromKotlin["theme"])
            assertTrue(kotlinApp("--db", laptop, "show").contains("(0 changes not synced yet"))

            kotlinApp("--db", laptop, "unset", "volume")
            kotlinApp("--db", laptop, "sync", "--hub", url)
            pythonApp(dir, "--db", phone, "sync", "--hub", url)
            assertEquals(setOf("theme", "fontSize"), settings(pythonApp(dir, "--db", phone, "show")).keys)
        } finally {
            hub.destroy()
            if (!hub.waitFor(10, TimeUnit.SECONDS)) hub.destroyForcibly()
            dir.toFile().deleteRecursively()
        }
    }
}
