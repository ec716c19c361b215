// Workload W1a (docs/performance.md) through Kotlin, next to the same workload in Rust in the
// same process: 100,000 updateState calls in memory, round-robin over 1,000 keys created first
// (not timed), data {"n": i, "name": "key-<k>"} built inside the loop.
//
//   mvn -q test-compile exec:exec@bench -Dbench.args=""         full run (release library)
//   mvn -q test-compile exec:exec@bench                         --quick smoke run
package io.statesync.bench

import io.statesync.ManagerConfig
import io.statesync.SyncManager
import io.statesync.benchRustW1
import io.statesync.updateState
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put

private const val KEYS = 1_000

/** One timed W1a run through Kotlin, `update` writing update number `i` to key `name`; seconds. */
private fun timedW1(updates: Int, update: (SyncManager, String, Int) -> Unit): Double {
    val names = List(KEYS) { "key-$it" }
    SyncManager(ManagerConfig(nodeId = "bench")).use { m ->
        for (name in names) m.createState("""{"n":0,"name":"$name"}""", id = name)
        val start = System.nanoTime()
        for (i in 0 until updates) update(m, names[i % KEYS], i)
        return (System.nanoTime() - start) / 1e9
    }
}

/** W1a with the data as JSON text built in Kotlin. */
private fun kotlinW1(updates: Int): Double =
    timedW1(updates) { m, name, i -> m.updateState(name, """{"n":$i,"name":"$name"}""") }

/** The same with the data built as a kotlinx.serialization JsonElement (the JSON helpers). */
private fun kotlinW1Json(updates: Int): Double =
    timedW1(updates) { m, name, i -> m.updateState(name, buildJsonObject { put("n", i); put("name", name) }) }

private fun median(runs: Int, f: () -> Double): Double = List(runs) { f() }.sorted()[runs / 2]

fun main(args: Array<String>) {
    val quick = "--quick" in args
    val updates = if (quick) 5_000 else 100_000
    val runs = if (quick) 1 else 5
    // Warm-up: JIT and allocator, not timed.
    kotlinW1(if (quick) 2_000 else 50_000)
    kotlinW1Json(if (quick) 2_000 else 50_000)
    benchRustW1(KEYS.toUInt(), if (quick) 2_000u else 50_000u)

    val rust = median(runs) { benchRustW1(KEYS.toUInt(), updates.toUInt()) }
    val kotlin = median(runs) { kotlinW1(updates) }
    val kotlinJson = median(runs) { kotlinW1Json(updates) }
    fun ops(seconds: Double) = updates / seconds
    println("W1a in memory, $updates updates over $KEYS keys, median of $runs${if (quick) " (quick smoke run)" else ""}")
    println("  rust core (same process):      %,12.0f updates/s".format(ops(rust)))
    println("  kotlin, JSON text:             %,12.0f updates/s  = %.2f of rust, %.2f µs overhead per call"
        .format(ops(kotlin), rust / kotlin, (kotlin - rust) / updates * 1e6))
    println("  kotlin, JsonElement helpers:   %,12.0f updates/s  = %.2f of rust, %.2f µs overhead per call"
        .format(ops(kotlinJson), rust / kotlinJson, (kotlinJson - rust) / updates * 1e6))
}
