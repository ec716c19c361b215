// What only the Node package has (the browser build has no object store: docs/adr): object
// storage, docs/backups.md and docs/encryption.md. Backups to and restores from storage URLs,
// auto-backup, serverless sync through a bucket, and the encryption key they take. Storage URLs:
// `file:///abs/dir`, `memory://name/prefix` (one store per name per process), `s3://bucket/prefix`,
// `gs://bucket/prefix`, `az://container/prefix`, with the store's options as query parameters;
// another scheme is INVALID_INPUT. Every call that touches storage returns a Promise and runs off
// the JS thread. The shared API is index.d.ts; node.d.ts, the package's types, is both.
import type { ReconciliationResult, ScopeOptions, SyncReport } from './index.js'

/**
 * A 256-bit XChaCha20-Poly1305 key. Opaque: its bytes are never shown (`toString()` says how it
 * was made). Wrong keys, other object names and changed bits are CRYPTO, never garbage.
 */
export declare class EncryptionKey {
  private constructor()
  /** A key of exactly 32 bytes (e.g. `crypto.randomBytes(32)`); INVALID_INPUT otherwise. */
  static fromBytes(bytes: Uint8Array): EncryptionKey
  /**
   * A key derived with Argon2id (19 MiB, 2 passes: the parameters are stored with the data) off
   * the JS thread. The salt (8 to 64 bytes, a string as its UTF-8) need not be secret; an empty
   * passphrase or a salt of another length is INVALID_INPUT.
   */
  static fromPassphrase(passphrase: string, salt: Uint8Array | string): Promise<EncryptionKey>
  /** `data` sealed as the object `name` under a fresh random nonce. */
  encrypt(name: string, data: Uint8Array): Uint8Array<ArrayBuffer>
  /** The plaintext of the object `name`; CRYPTO for a wrong key, another name or any changed bit. */
  decrypt(name: string, data: Uint8Array): Uint8Array<ArrayBuffer>
  /** How the key was made (`EncryptionKey(raw)` or its Argon2id costs), never its bytes. */
  toString(): string
}

/** A backup's manifest. */
export interface BackupInfo {
  /** `backup-<yyyymmddThhmmssZ>-<8 hex>`: ids sort by time. */
  readonly id: string
  /** When it was taken, in milliseconds since the Unix epoch. */
  readonly createdAt: number
  /** The label it was taken with (`"auto"` for auto-backups), or null. */
  readonly label: string | null
  /** How many states it holds. */
  readonly states: number
  /** Its size on the store, in bytes (every part). */
  readonly bytes: number
  /** How many parts (zstd-compressed, checked by SHA-256 each) it is split into. */
  readonly parts: number
  /** The SHA-256 of the snapshot it holds, lowercase hex. */
  readonly sha256: string
  /** Whether its parts are encrypted. */
  readonly encrypted: boolean
}

/** Options of `SyncManager.backup`. */
export interface BackupOptions {
  /** Seal the backup with this key (every part and the manifest). */
  key?: EncryptionKey | null
  /** A label kept in the manifest. */
  label?: string | null
}

/** Options of `SyncManager.restoreBackup`. */
export interface RestoreOptions {
  /** The key the backup was sealed with: CRYPTO when wrong or missing. */
  key?: EncryptionKey | null
  /** Put the backup in place of what the replica holds (default false: merge by the replica's strategies). */
  replace?: boolean
  /** Only these collections (default: all). */
  collections?: string[]
}

/** Options of `SyncManager.startAutoBackup`. */
export interface AutoBackupOptions {
  /** Keep the newest `keepLast` backups at the URL, pruning older ones after each run (default 0: keep all). */
  keepLast?: number
  /** Seal every backup with this key. */
  key?: EncryptionKey | null
}

/** A running auto-backup. Keep it: one garbage-collected stops. */
export declare class AutoBackup {
  private constructor()
  /** The newest backup it wrote, or null. */
  readonly lastBackup: BackupInfo | null
  /** The last run's failure (retried at the next interval), or null when the last run succeeded. */
  readonly lastError: { readonly code: string; readonly message: string } | null
  /** How many runs finished, well or not. */
  readonly runs: number
  /** Stops it, resolving when a backup in progress has finished. Idempotent. */
  stop(): Promise<void>
}

/**
 * Sync through a storage URL with no server: each replica appends encrypted segments under the
 * bucket's `log/<node id>/` and reads the others'. Usable wherever an HttpTransport is
 * (`sync`, `startAutoSync`); every replica of a bucket uses the same key (or none).
 */
export declare class ObjectStoreTransport {
  private constructor()
  /** Opens a storage URL (INVALID_INPUT for an unknown scheme); a `file://` folder is created. */
  static open(url: string, options?: { key?: EncryptionKey | null }): Promise<ObjectStoreTransport>
  /** The storage URL, as given. */
  readonly url: string
  /**
   * Compacts the segments pushed since the newest snapshot into a new one and deletes what the
   * previous snapshot covered; false when there was nothing to do or another replica compacted.
   */
  compact(): Promise<boolean>
}

/** The complete backups at a storage URL (those with a manifest), newest first. */
export declare function listBackups(url: string): Promise<BackupInfo[]>
/** Checks a backup whole (every part's SHA-256, decryption, decoding): its info, or CORRUPT naming the part, or CRYPTO. */
export declare function verifyBackup(
  url: string,
  id: string,
  options?: { key?: EncryptionKey | null },
): Promise<BackupInfo>
/**
 * Deletes the backups beyond the newest `keepLast` and older than `keepWithinMs` (a backup either
 * rule keeps stays); the ids deleted.
 */
export declare function pruneBackups(
  url: string,
  options?: { keepLast?: number; keepWithinMs?: number },
): Promise<string[]>

declare module './index.js' {
  interface SyncManager {
    /** Backs this replica up to a storage URL (states, pending queue, conflicts): the manifest is written last. */
    backup(url: string, options?: BackupOptions): Promise<BackupInfo>
    /**
     * Restores a backup, verified whole first: merged by the replica's strategies (a backup never
     * overwrites newer data), or with `replace` in place of what it holds; only some collections
     * with `collections`. A failed restore changes nothing.
     */
    restoreBackup(url: string, id: string, options?: RestoreOptions): Promise<ReconciliationResult>
    /**
     * Backs up every `intervalMs` (at least 1000; the first at once) until the handle is stopped
     * or the replica closed; a failed run is kept as `lastError` and retried. Resolves once the
     * URL is checked.
     */
    startAutoBackup(url: string, intervalMs: number, options?: AutoBackupOptions): Promise<AutoBackup>
    /** A full round through a bucket. */
    sync(transport: ObjectStoreTransport, options?: ScopeOptions): Promise<SyncReport>
    /** Rounds through a bucket every `intervalMs`, with backoff after failures. */
    startAutoSync(intervalMs: number, transport: ObjectStoreTransport, options?: { collections?: string[] }): void
  }
}
