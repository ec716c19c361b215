// Tabs of one origin. Each open tab holds its own replica of the same data set, leased from a
// small pool with the Web Locks API (so a reload or a new tab reuses the replica of a closed
// one, pending operations included), and the replicas exchange their committed states over a
// BroadcastChannel: a new tab says hello with its states, the others answer with theirs, and
// every commit is broadcast. docs/adr/0014-browser-package.md says why.

/** Tries the pool's slots 0, 1, 2, ... and holds the first free one until `release`. */
export async function leaseSlot(path: string): Promise<{ slot: number; release: () => void }> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return { slot: 0, release: () => {} };
  for (let slot = 0; slot < 64; slot++) {
    const lease = await new Promise<null | { slot: number; release: () => void }>((resolve) => {
      void locks.request(`statesync:${path}:${slot}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        return new Promise<void>((release) => resolve({ slot, release: () => release() }));
      });
    });
    if (lease) return lease;
  }
  throw new Error("more than 64 tabs hold replicas of this data set");
}

/** The database name and node id of a pool slot. */
export function slotNames(path: string, nodeId: string | undefined, slot: number): { db: string; nodeId?: string } {
  if (slot === 0) return { db: path, nodeId };
  return { db: `${path}~${slot}`, nodeId: nodeId === undefined ? undefined : `${nodeId}~${slot}` };
}

/** A message between the tabs' replicas. */
export type TabMessage = { type: "hello" | "changes"; from: string; states: string[] };

/** The channel of one data set. */
export class TabChannel {
  readonly #channel: BroadcastChannel;
  readonly #from: string;
  constructor(path: string, from: string, onMessage: (m: TabMessage) => void) {
    this.#from = from;
    this.#channel = new BroadcastChannel(`statesync:${path}`);
    this.#channel.onmessage = (e: MessageEvent<TabMessage>) => {
      if (e.data && e.data.from !== from) onMessage(e.data);
    };
  }
  send(type: TabMessage["type"], states: string[]): void {
    this.#channel.postMessage({ type, from: this.#from, states } satisfies TabMessage);
  }
  close(): void {
    this.#channel.close();
  }
}
