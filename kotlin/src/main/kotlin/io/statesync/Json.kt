// The idiomatic Kotlin layer over the generated bindings: JSON data as kotlinx.serialization
// values. Data crosses the boundary as JSON text (`SyncState.data`); these helpers parse and
// print it, so application code works with JsonElement or its own @Serializable classes.
package io.statesync

import kotlinx.serialization.decodeFromString
import kotlinx.serialization.encodeToString
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement

/** The JSON codec used by the helpers below (lenient about nothing, like the core). */
val StatesyncJson: Json = Json

/** The state's data as a [JsonElement] (`JsonNull` for a tombstone). */
val SyncState.json: JsonElement get() = StatesyncJson.parseToJsonElement(data)

/** The operation's data as a [JsonElement]. */
val SyncOperation.json: JsonElement get() = StatesyncJson.parseToJsonElement(data)

/** The state's data decoded into [T] (a `@Serializable` class, a map, a list, ...). */
inline fun <reified T> SyncState.decode(json: Json = StatesyncJson): T = json.decodeFromString(data)

/** Creates a state holding [data] (see [SyncManager.createState]). */
fun SyncManager.createState(data: JsonElement, id: String? = null, collection: String? = null): SyncState =
    createState(data.toString(), id, collection)

/** Replaces a live state's data with [data] (see [SyncManager.updateState]). */
fun SyncManager.updateState(id: String, data: JsonElement): SyncState = updateState(id, data.toString())

/** Creates a state holding [value] encoded as JSON (a `@Serializable` class, a map, ...). */
inline fun <reified T> SyncManager.createValue(
    value: T,
    id: String? = null,
    collection: String? = null,
    json: Json = StatesyncJson,
): SyncState = createState(json.encodeToString(value), id, collection)

/** Replaces a live state's data with [value] encoded as JSON. */
inline fun <reified T> SyncManager.updateValue(id: String, value: T, json: Json = StatesyncJson): SyncState =
    updateState(id, json.encodeToString(value))

/** A manual resolution writing [data]. */
fun customResolution(data: JsonElement): Resolution = Resolution.Custom(data.toString())

/** A resolver's decision to keep [data]. */
fun resolvedData(data: JsonElement): Resolved = Resolved.Data(data.toString())

/**
 * A custom conflict strategy from a Kotlin function. It must be deterministic and commutative
 * (see [ConflictResolver]); whatever it throws fails the call with `RESOLVER`.
 */
fun customStrategy(resolve: (local: SyncState, remote: SyncState) -> Resolved): ConflictStrategy =
    ConflictStrategy.Custom(object : ConflictResolver {
        override fun resolve(local: SyncState, remote: SyncState): Resolved = resolve(local, remote)
    })
