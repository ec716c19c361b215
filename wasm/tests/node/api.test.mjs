// The TypeScript layer under Node (node --test): errors, events, strategies and resolvers,
// transports and auto-sync, wire functions. The core's behaviour itself is covered by the
// conformance replay (tests/conformance.rs); these tests check the binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as S from "../../dist/node.js";

const open = (o = {}) => S.SyncManager.open({ clock: new S.ManualClock(1000), ...o });

test("CRUD with camelCase fields, and every error is a SyncError with a code", async () => {
  const m = await open({ nodeId: "phone" });
  const s = m.createState({ theme: "dark" }, { id: "settings", collection: "prefs" });
  assert.deepEqual([s.id, s.collection, s.modifiedBy, s.version, s.deleted], ["settings", "prefs", "phone", 1, false]);
  assert.deepEqual(s.clock, { phone: 1 });
  assert.deepEqual(s.timestamp, { millis: 1000, counter: 0, node: "phone" });
  assert.equal(s.hash.length, 16);
  assert.ok(S.SyncState.fromJSON(JSON.stringify(s)).equals(s));
  assert.deepEqual(m.updateState("settings", { theme: "light" }).data, { theme: "light" });
  for (const [f, code] of [
    [() => m.updateState("missing", 1), "NOT_FOUND"],
    [() => m.createState(1, { id: "settings" }), "ALREADY_EXISTS"],
    [() => m.createState(undefined), "INVALID_INPUT"],
    [() => S.SyncState.fromJSON("{"), "INVALID_STATE"],
    [() => S.Snapshot.fromJSON('{"format":99}'), "UNSUPPORTED_FORMAT"],
    [() => S.compress(new Uint8Array(1)), "UNSUPPORTED_FORMAT"],
    [() => m.changesSince({ cursor: "nonsense" }), "INVALID_INPUT"],
  ]) {
    assert.throws(f, (e) => e instanceof S.SyncError && e instanceof Error && e.name === "SyncError" && e.code === code);
  }
  assert.equal(m.deleteState("settings").deleted, true);
  assert.equal(m.getState("settings"), null);
  assert.deepEqual(m.pendingOperations().map((o) => [o.opId, o.kind]), [["phone:1", "create"], ["phone:2", "update"], ["phone:3", "delete"]]);
  assert.equal(m.acknowledge(["phone:1", "nope"]), 1);
  await m.close();
  assert.throws(() => m.getState("x"), (e) => e.code === "CLOSED");
  assert.equal(m.status(), "closed");
});

test("events arrive after commit, in order; once/off/events() work", async () => {
  const m = await open({ nodeId: "a" });
  const names = [];
  const all = (e) => names.push(e.name);
  m.on("event", all);
  let created = 0;
  m.once("stateCreated", () => created++);
  m.createState(1, { id: "x" });
  m.createState(2, { id: "y" });
  m.updateState("x", 3);
  assert.equal(created, 1);
  assert.deepEqual(names, ["stateCreated", "stateCreated", "stateUpdated"]);
  m.off("event", all);
  const ac = new AbortController();
  const it = m.events({ signal: ac.signal });
  m.deleteState("y");
  const first = await it.next();
  assert.equal(first.value.name, "stateDeleted");
  assert.equal(first.value.state.id, "y");
  ac.abort();
  assert.equal((await it.next()).done, true);
});

test("strategies: manual conflicts, a custom resolver with DELETED, a throwing resolver keeps its cause", async () => {
  const a = await open({ nodeId: "a", strategy: "manual" });
  const b = await open({ nodeId: "b" });
  a.createState({ v: 1 }, { id: "s" });
  const remote = b.createState({ v: 2 }, { id: "s" });
  const r = a.applyRemoteState(remote);
  assert.equal(r.outcome, "conflict");
  assert.equal(r.conflict.stateId, "s");
  assert.equal(a.status(), "conflict");
  const resolved = a.resolveConflict(a.conflicts()[0].conflictId, { data: { v: 3 } });
  assert.deepEqual(resolved.data, { v: 3 });
  assert.equal(a.status(), "idle");

  const c = await open({ nodeId: "c", strategy: (local, remote) => (remote.data.v > 5 ? S.DELETED : { v: local.data.v + remote.data.v }) });
  c.createState({ v: 1 }, { id: "s" });
  assert.deepEqual(c.applyRemoteState(remote).state.data, { v: 3 });
  const boom = new Error("boom");
  c.setCollectionStrategy("hot", () => {
    throw boom;
  });
  c.createState({ v: 1 }, { id: "h", collection: "hot" });
  const d = await open({ nodeId: "d" });
  const hot = d.createState({ v: 9 }, { id: "h", collection: "hot" });
  assert.throws(() => c.applyRemoteState(hot), (e) => e.code === "RESOLVER" && e.cause === boom);
});

test("sync through a JS transport with Promises, and syncWith", async () => {
  const server = await open({ nodeId: "server" });
  const client = await open({ nodeId: "client" });
  const transport = {
    capabilities: async () => ({ protocol: S.PROTOCOL_VERSION, nodeId: "server", scopedSync: true, binary: false, zstd: false, maxBatch: 2 }),
    pull: async (cursor, collections, limit) => server.changesSince({ cursor, collections, limit }),
    push: async (changes) => server.reconcile(changes.states),
  };
  server.createState(1, { id: "from-server" });
  for (let i = 0; i < 5; i++) client.createState(i, { id: `c${i}` });
  const report = await client.sync(transport);
  assert.equal(report.pulled.created, 1);
  assert.equal(report.pushed.created, 5);
  assert.equal(client.pendingOperations().length, 0, "pushed pages acknowledge their operations");
  assert.equal(server.listStates().length, 6);
  assert.ok(client.peerCursor("server"));
  const other = await open({ nodeId: "other" });
  const r2 = await other.syncWith(server);
  assert.equal(r2.pulled.created, 6);
});

test("auto-sync retries with backoff, reports the failure, recovers, and stops", async () => {
  const server = await open({ nodeId: "server" });
  const client = await open({ nodeId: "client" });
  let fail = 2;
  let calls = 0;
  const transport = {
    capabilities: async () => {
      calls++;
      if (fail-- > 0) throw new Error("offline");
      return { protocol: 1, nodeId: "server", scopedSync: true, binary: false, zstd: false, maxBatch: null };
    },
    pull: async (cursor, collections, limit) => server.changesSince({ cursor, collections, limit }),
    push: async (changes) => server.reconcile(changes.states),
  };
  const failures = [];
  client.on("syncFailed", (e) => failures.push(e.message));
  client.createState("x", { id: "x" });
  client.startAutoSync(20, transport, { backoffBaseMs: 10, backoffMaxMs: 40 });
  assert.ok(client.isAutoSyncing);
  assert.throws(() => client.startAutoSync(20, transport), (e) => e.code === "INVALID_INPUT");
  const end = Date.now() + 5000;
  while (server.getState("x") === null && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(server.getState("x").data, "x");
  assert.ok(failures.length >= 2 && /offline/.test(failures[0]), JSON.stringify(failures));
  assert.equal(await client.stopAutoSync(), true);
  assert.equal(client.syncNow(), false);
  assert.ok(calls >= 3);
});

test("the HTTP transport maps an unreachable hub to TRANSPORT; a persistent replica needs IndexedDB", async () => {
  const m = await open({ nodeId: "n" });
  await assert.rejects(m.sync(new S.HttpTransport("http://127.0.0.1:9", { timeoutMs: 2000 })), (e) => e.code === "TRANSPORT");
  assert.equal(m.status(), "error");
  assert.throws(() => new S.HttpTransport("ftp://x"), (e) => e.code === "INVALID_INPUT");
  await assert.rejects(S.SyncManager.open({ path: "db" }), (e) => e.code === "STORAGE");
});

test("wire: encode/decode every kind, both encodings; clocks", async () => {
  const m = await open({ nodeId: "w" });
  const s = m.createState({ a: [1, 2.5, "x"] }, { id: "s" });
  for (const enc of ["json", "binary"]) {
    assert.ok(S.decodeState(S.encode(s, enc)).equals(s));
    assert.deepEqual(S.decodeChangeSet(S.encode(m.changesSince(), enc)).states.map((x) => x.id), ["s"]);
    assert.equal(S.decodeSnapshot(S.encode(m.exportState(), enc)).nodeId, "w");
    assert.equal(S.decodeOperations(S.encode(m.pendingOperations(), enc))[0].opId, "w:1");
  }
  assert.throws(() => S.decodeState(new Uint8Array([0xf5, 1, 2])), (e) => e.code === "CORRUPT");
  assert.equal(S.compareClocks({ a: 1 }, { a: 2 }), "before");
  assert.deepEqual(S.mergeClocks({ a: 1 }, { b: 2 }), { a: 1, b: 2 });
  assert.equal(S.dominates({ a: 2, b: 1 }, { a: 1 }), true);
  assert.equal(S.MAX_COUNTER, 2 ** 53 - 1);
  const snap = m.exportState();
  const fresh = await open({ nodeId: "w2" });
  assert.equal(fresh.importState(snap).created, 1);
  assert.equal(fresh.importState(JSON.stringify(snap), { replace: true }).created, 1);
});
