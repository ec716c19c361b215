// Browser-only additions to the shared API shape (node/index.d.ts, shipped as statesync.d.ts).
export {};

declare module "./statesync.js" {
  interface OpenOptions {
    /** The IndexedDB factory (default: `globalThis.indexedDB`); in Node, e.g. fake-indexeddb's. */
    indexedDB?: IDBFactory;
    /**
     * Tabs (default true): lease this tab's replica from the pool of `path` with Web Locks and
     * exchange commits with the other tabs over a BroadcastChannel named `statesync:<path>`.
     */
    tabs?: boolean;
    /** Resume auto-sync at once on the window's `online` event (default true). */
    online?: boolean;
  }

  interface SyncManager {
    /** Resolves when every write returned so far is in IndexedDB; STORAGE if one failed. */
    persisted(): Promise<void>;
    /** The pool slot of this tab's replica: 0 for the first tab (database `path`, node id `nodeId`), k for `path~k` / `nodeId~k`. */
    readonly slot: number;
    startAutoSync(
      intervalMs: number,
      transport: Transport | HttpTransport,
      options?: { collections?: string[]; backoffBaseMs?: number; backoffMaxMs?: number },
    ): void;
  }
}
