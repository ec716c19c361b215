// The idiomatic Kotlin layer over the generated bindings: events as a Flow, listeners as lambdas.
package io.statesync

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * Every event of this replica, in commit order, as a cold [Flow]: collecting subscribes, and
 * cancelling the collector unsubscribes. The buffer is unbounded, so a slow collector never
 * loses an event and never blocks a writer.
 */
fun SyncManager.events(): Flow<SyncEvent> = callbackFlow {
    val subscription = subscribe { event -> trySend(event) }
    awaitClose {
        subscription.unsubscribe()
        subscription.destroy()
    }
}.buffer(Channel.UNLIMITED)

/**
 * Calls [listener] for every event, on the thread that committed it (after the commit, outside
 * every lock). Keep the returned [Subscription] and call `unsubscribe()` to stop.
 */
fun SyncManager.subscribe(listener: (SyncEvent) -> Unit): Subscription =
    subscribe(object : SyncListener {
        override fun onEvent(event: SyncEvent) = listener(event)
    })

/** The event's name in every binding (`stateCreated`, `syncCompleted`, ...). */
val SyncEvent.name: String
    get() = when (this) {
        is SyncEvent.StateCreated -> "stateCreated"
        is SyncEvent.StateUpdated -> "stateUpdated"
        is SyncEvent.StateDeleted -> "stateDeleted"
        is SyncEvent.ConflictDetected -> "conflictDetected"
        is SyncEvent.ConflictResolved -> "conflictResolved"
        is SyncEvent.StateRejected -> "stateRejected"
        is SyncEvent.SyncStarted -> "syncStarted"
        is SyncEvent.SyncCompleted -> "syncCompleted"
        is SyncEvent.SyncFailed -> "syncFailed"
        is SyncEvent.StatusChanged -> "statusChanged"
    }

/** The state a state event carries, `null` for the other events. */
val SyncEvent.state: SyncState?
    get() = when (this) {
        is SyncEvent.StateCreated -> state
        is SyncEvent.StateUpdated -> state
        is SyncEvent.StateDeleted -> state
        else -> null
    }
