// The idiomatic Kotlin layer over the generated bindings: object storage (backups and sync
// through a bucket). The generated API has the calls themselves: `EncryptionKey.fromBytes` /
// `fromPassphrase`, `encrypt` / `decrypt`, `SyncManager.backup` / `restoreBackup` /
// `startAutoBackup`, the package functions `listBackups`, `verifyBackup`, `pruneBackups`,
// `BackupInfo`, `AutoBackup` and `ObjectStoreTransport(url, key)` with `compact()`. The calls that
// touch storage suspend (they run on a background thread, like `sync`).
//
// A bucket is not a `SyncTransport` (it must learn which replica syncs through it, which that
// interface cannot carry), so the overloads below make it usable exactly where an
// `HttpTransport` goes: `sync(bucket)` and `startAutoSync(interval, bucket)`.
package io.statesync

import java.time.Duration

/**
 * A complete sync round through a bucket (see [SyncManager.sync] for a [SyncTransport]): pulls
 * the other replicas' segments after this replica's cursors, then appends this replica's changes
 * as a segment of its own. Every replica of the bucket must use the same key.
 */
suspend fun SyncManager.sync(transport: ObjectStoreTransport, context: SyncContext? = null): SyncReport =
    syncBucket(transport, context)

/**
 * Syncs through a bucket every [interval] on the manager's own background runtime until
 * [SyncManager.stopAutoSync] or close (see [SyncManager.startAutoSync] for a [SyncTransport]).
 */
fun SyncManager.startAutoSync(interval: Duration, transport: ObjectStoreTransport, context: SyncContext? = null) =
    startAutoSyncBucket(interval, transport, context)

/** A key derived from [passphrase] and a salt given as text (its UTF-8 bytes; 8 to 64 of them). */
fun EncryptionKey.Companion.fromPassphrase(passphrase: String, salt: String): EncryptionKey =
    EncryptionKey.fromPassphrase(passphrase, salt.toByteArray(Charsets.UTF_8))
