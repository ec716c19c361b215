// SyncManager in the browser: the one both packages share (js/src/manager.ts, over this
// package's engine, engine.ts), with what only the browser has (browser.d.ts).
import { SyncManager as SharedSyncManager, nativeReplicaOf } from "./shared/manager.js";
import type { BrowserReplica } from "./engine.js";
import type { OpenOptions } from "./statesync.js";

/** One replica. Cheap reads and local writes are synchronous; I/O that can block returns a Promise. */
export class SyncManager extends SharedSyncManager {
  /** Opens (creating if missing) a replica: the shared `open`, which makes one of this class. */
  static override async open(options?: OpenOptions): Promise<SyncManager> {
    return (await super.open(options)) as SyncManager;
  }

  /** Resolves when every write returned so far is in IndexedDB; STORAGE if one failed. */
  async persisted(): Promise<void> {
    await (nativeReplicaOf(this) as BrowserReplica).persisted();
  }

  /** The pool slot of this tab's replica: 0 for the first tab (database `path`, node id `nodeId`), k for `path~k` / `nodeId~k`. */
  get slot(): number {
    return (nativeReplicaOf(this) as BrowserReplica).slot;
  }
}
