// A settings-sync command-line app: your settings in a SQLite replica, edited offline, synced
// with a statesync hub (the same protocol and data layout as examples/python/settings_client.py,
// so the two clients share settings through one hub).
//
//   settings --db laptop.db set theme dark          values are JSON (14, true) or plain text
//   settings --db laptop.db show
//   settings --db laptop.db sync --hub http://127.0.0.1:7878 [--token T] [--watch SECONDS]
package io.statesync.examples

import io.statesync.HttpOptions
import io.statesync.HttpTransport
import io.statesync.ManagerConfig
import io.statesync.ReconciliationResult
import io.statesync.SyncContext
import io.statesync.SyncEvent
import io.statesync.SyncException
import io.statesync.SyncManager
import io.statesync.code
import io.statesync.createState
import io.statesync.events
import io.statesync.json
import io.statesync.updateState
import java.io.PrintStream
import java.time.Duration
import kotlin.system.exitProcess
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject

/** The collection every setting lives in. */
const val COLLECTION = "settings"

private const val USAGE = """usage: settings [--db FILE] COMMAND
  set KEY VALUE                  set a setting offline (VALUE is JSON, or else plain text)
  unset KEY                      delete a setting offline
  show                           print the settings
  sync --hub URL [--token T] [--watch SECONDS]
                                 sync with a hub (then keep syncing every SECONDS)"""

/** JSON if it parses (`42`, `true`, `{"a": 1}`), else the text itself. */
fun parseValue(text: String): JsonElement {
    val parsed = runCatching { Json.parseToJsonElement(text) }.getOrNull()
    // kotlinx reads a bare word as an unquoted literal: only numbers, booleans and null are JSON.
    val bareWord = parsed is JsonPrimitive && !parsed.isString && parsed !is JsonNull &&
        parsed.booleanOrNull == null && parsed.content.toBigDecimalOrNull() == null
    return if (parsed == null || bareWord) JsonPrimitive(text) else parsed
}

/** Runs one command; returns the process exit code. */
fun run(args: Array<String>, out: PrintStream = System.out, err: PrintStream = System.err): Int {
    var db = "settings.db"
    val rest = args.toMutableList()
    if (rest.size >= 2 && rest[0] == "--db") {
        db = rest[1]
        repeat(2) { rest.removeAt(0) }
    }
    val command = rest.removeFirstOrNull() ?: return usage(err)
    return try {
        SyncManager(ManagerConfig(path = db)).use { replica ->
            when (command) {
                "set" -> set(replica, rest.getOrNull(0) ?: return usage(err), parseValue(rest.getOrNull(1) ?: return usage(err)), out)
                "unset" -> {
                    val key = rest.getOrNull(0) ?: return usage(err)
                    replica.deleteState(key)
                    out.println("$key deleted (offline until the next sync)")
                }
                "show" -> show(replica, out)
                "sync" -> {
                    val hub = option(rest, "--hub") ?: return usage(err)
                    val token = option(rest, "--token")
                    val watch = option(rest, "--watch")?.toDouble()
                    val headers = token?.let { mapOf("Authorization" to "Bearer $it") } ?: emptyMap()
                    HttpTransport(hub, HttpOptions(headers = headers)).use { transport -> sync(replica, transport, watch, out) }
                }
                else -> return usage(err)
            }
            0
        }
    } catch (e: SyncException) {
        err.println("error: ${e.code}: ${e.message}")
        1
    }
}

private fun usage(err: PrintStream): Int {
    err.println(USAGE)
    return 2
}

private fun option(args: List<String>, name: String): String? = args.indexOf(name).takeIf { it >= 0 }?.let { args.getOrNull(it + 1) }

private fun set(replica: SyncManager, key: String, value: JsonElement, out: PrintStream) {
    val data = buildJsonObject { put("value", value) }
    if (replica.getState(key) == null) replica.createState(data, id = key, collection = COLLECTION) else replica.updateState(key, data)
    out.println("$key = $value (offline until the next sync)")
}

/** A setting's value: the `value` field of its data. */
fun valueOf(data: JsonElement): JsonElement = (data as? JsonObject)?.get("value") ?: data

private fun show(replica: SyncManager, out: PrintStream) {
    for (state in replica.listStates(COLLECTION)) out.println("${state.id} = ${valueOf(state.json)}")
    val pending = replica.pendingOperations().size
    out.println("($pending change${if (pending == 1) "" else "s"} not synced yet, node ${replica.nodeId()})")
}

private fun counts(r: ReconciliationResult): String =
    listOf(
        "created" to r.created, "updated" to r.updated, "unchanged" to r.unchanged, "ignored" to r.ignored,
        "conflicts" to r.conflicts, "resolved" to r.resolved, "rejected" to r.rejected,
    )
        .filter { it.second > 0UL }.joinToString(", ") { "${it.second} ${it.first}" }.ifEmpty { "nothing" }

private fun sync(replica: SyncManager, hub: HttpTransport, watch: Double?, out: PrintStream) = runBlocking {
    val scope = SyncContext(collections = listOf(COLLECTION))
    val report = replica.sync(hub, scope)
    out.println("synced: pulled ${counts(report.pulled)}; pushed ${counts(report.pushed)}")
    if (watch == null) return@runBlocking
    val me = replica.nodeId()
    val printer = launch(Dispatchers.Default) {
        replica.events().collect { event ->
            when (event) {
                is SyncEvent.StateCreated, is SyncEvent.StateUpdated -> {
                    val s = (event as? SyncEvent.StateCreated)?.state ?: (event as SyncEvent.StateUpdated).state
                    if (s.modifiedBy != me) out.println("${s.id} = ${valueOf(s.json)} (from ${s.modifiedBy})")
                }
                is SyncEvent.StateDeleted -> if (event.state.modifiedBy != me) out.println("${event.state.id} deleted (from ${event.state.modifiedBy})")
                is SyncEvent.StateRejected -> out.println("${event.stateId} refused: ${event.message}")
                is SyncEvent.SyncFailed -> out.println("sync failed, retrying: ${event.message}")
                else -> {}
            }
        }
    }
    replica.startAutoSync(Duration.ofMillis((watch * 1000).toLong()), hub, scope)
    out.println("watching every ${watch}s (ctrl-c to stop)")
    val stop = java.util.concurrent.CountDownLatch(1)
    Runtime.getRuntime().addShutdownHook(Thread { replica.stopAutoSync(); stop.countDown() })
    stop.await()
    printer.cancel()
}

/** The command-line entry point. */
fun main(args: Array<String>) {
    exitProcess(run(args))
}
