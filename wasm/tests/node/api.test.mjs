// The TypeScript layer under Node (node --test): errors, events, strategies and resolvers,
// transports and auto-sync, wire functions. The core's behaviour itself is covered by the
// conformance replay (tests/conformance.rs); these tests check the binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
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

test("SyncError keeps every code of the shipped ErrorCode union, CRYPTO included; an unknown code is INTERNAL", () => {
  // The union of the API shape this package ships (dist/statesync.d.ts, from node/index.d.ts),
  // between its markers: the module's core must know each code, or SyncError turns it into INTERNAL.
  // The marker is spelt in two parts: core/tests/error_codes.rs takes a line naming it for a list.
  const marker = ["statesync", "error-codes"].join(":");
  const shape = readFileSync(new URL("../../dist/statesync.d.ts", import.meta.url), "utf8");
  const union = shape.split(`${marker}\n`)[1].split(`${marker}-end`)[0];
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
  assert.ok(codes.includes("CRYPTO") && codes.includes("FORBIDDEN"), codes.join());
  for (const code of codes) assert.equal(new S.SyncError(code, "m").code, code);
  assert.equal(new S.SyncError("NO_SUCH_CODE", "m").code, "INTERNAL");
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

test("wire: encode/decode every kind, both encodings; clocks (compare, merge, dominates, increment)", async () => {
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
  const clock = { a: 2, b: 5 };
  assert.deepEqual(S.incrementClock(clock, "b"), { a: 2, b: 6 });
  assert.deepEqual(S.incrementClock(clock, "c"), { a: 2, b: 5, c: 1 });
  assert.deepEqual(clock, { a: 2, b: 5 }, "the clock given is left as it is");
  assert.deepEqual(S.incrementClock({ a: 0 }, "a"), { a: 1 });
  for (const [bad, node] of [[{ a: 1.5 }, "a"], [{ a: -1 }, "a"], [{ a: "x" }, "a"], [null, "a"], [[1], "a"], [{}, 7]]) {
    assert.throws(() => S.incrementClock(bad, node), (e) => e instanceof S.SyncError && e.code === "INVALID_INPUT", JSON.stringify([bad, node]));
  }
  assert.equal(S.MAX_COUNTER, 2 ** 53 - 1);
  const snap = m.exportState();
  const fresh = await open({ nodeId: "w2" });
  assert.equal(fresh.importState(snap).created, 1);
  assert.equal(fresh.importState(JSON.stringify(snap), { replace: true }).created, 1);
});

// A transport over an in-process replica, as an application writes one.
const over = (server, extra = {}) => ({
  capabilities: async () => ({ protocol: S.PROTOCOL_VERSION, nodeId: server.nodeId, scopedSync: true, binary: false, zstd: false, maxBatch: null, ...extra }),
  pull: async (cursor, collections, limit) => server.changesSince({ cursor, collections, limit }),
  push: async (changes) => server.reconcile(changes.states),
});

test("a state refused in a round: rejected counts, rejections() and the stateRejected event", async () => {
  const server = await open({ nodeId: "server" });
  const client = await open({ nodeId: "client" });
  server.createState({ v: "server's" }, { id: "s", collection: "x" });
  server.createState(1, { id: "fine" });
  client.createState({ v: "client's" }, { id: "s", collection: "y" });
  const refused = [];
  client.on("stateRejected", (e) => refused.push(e));
  const report = await client.sync(over(server));
  // Pulled: "s" in another collection here is refused alone, "fine" applies.
  assert.equal(report.pulled.created, 1);
  assert.equal(report.pulled.rejected, 1);
  assert.deepEqual(report.pulled.rejections.map((r) => [r.id, r.code]), [["s", "INVALID_STATE"]]);
  assert.equal(typeof report.pulled.rejections[0].message, "string");
  // Pushed: the server refuses the client's "s" the same way, and says so in its answer.
  assert.equal(report.pushed.rejected, 1);
  assert.deepEqual(report.pushed.rejections.map((r) => r.id), ["s"]);
  assert.deepEqual(refused.map((e) => [e.name, e.stateId, e.code]), [
    ["stateRejected", "s", "INVALID_STATE"],
    ["stateRejected", "s", "INVALID_STATE"],
  ]);
  assert.match(refused[0].message, /server/);
  // One record per state: the latest refusal (the server's answer to the push).
  const records = client.rejections();
  assert.equal(records.length, 1);
  assert.deepEqual(Object.keys(records[0]).sort(), ["code", "current", "message", "own", "rejectedAt", "stateId"]);
  // The client's own version, refused by the server, which reported the version it keeps.
  assert.equal(records[0].own, true);
  assert.ok(records[0].current instanceof S.SyncState && records[0].current.equals(server.getState("s")));
  assert.ok(report.pushed.rejections[0].current.equals(server.getState("s")));
  assert.ok(report.pulled.rejections[0].current.equals(client.getState("s")), "the version the client keeps");
  assert.deepEqual([records[0].stateId, records[0].code, records[0].rejectedAt], ["s", "INVALID_STATE", 1000]);
  assert.match(records[0].message, /server/);
  assert.equal(client.getState("s").collection, "y", "the refused version changed nothing");
  assert.equal(client.getState("fine").data, 1);
  // applyChanges records a refusal too; a later version that goes through clears it.
  const peer = await open({ nodeId: "peer" });
  peer.createState({ v: 1 }, { id: "s", collection: "z" });
  const applied = client.applyChanges("peer", peer.changesSince());
  assert.deepEqual([applied.created, applied.rejected], [0, 1]);
  assert.match(client.rejections()[0].message, /peer/);
});

test("reconcile reports refused states alone; nothing refused is rejected 0 and an empty list", async () => {
  const a = await open({ nodeId: "a" });
  const b = await open({ nodeId: "b" });
  const s = a.createState(1, { id: "s", collection: "x" });
  const t = a.createState(2, { id: "t" });
  b.createState(3, { id: "s", collection: "y" });
  const r = b.reconcile([s, t]);
  assert.deepEqual([r.created, r.updated, r.unchanged, r.ignored, r.conflicts, r.resolved, r.rejected], [1, 0, 0, 0, 0, 0, 1]);
  assert.equal(r.rejections.length, 1);
  assert.deepEqual([r.rejections[0].id, r.rejections[0].code], ["s", "INVALID_STATE"]);
  assert.match(r.rejections[0].message, /collection/);
  assert.deepEqual(b.rejections(), [], "reconcile reports; only rounds record");
  const again = b.reconcile([t]);
  assert.deepEqual([again.unchanged, again.rejected, again.rejections], [1, 0, []]);
  assert.deepEqual(b.importState(a.exportState()).rejections.map((x) => x.id), ["s"]);
});

test("maxStateBytes and maxClockSkewMs: accepted, bad values refused, their effect visible", async () => {
  for (const bad of [{ maxStateBytes: -1 }, { maxStateBytes: "10" }, { maxStateBytes: 1.5 }, { maxStateBytes: NaN }, { maxStateBytes: 0 },
    { maxClockSkewMs: -5 }, { maxClockSkewMs: "1h" }, { maxClockSkewMs: Infinity }]) {
    await assert.rejects(open(bad), (e) => e instanceof S.SyncError && e.code === "INVALID_INPUT", JSON.stringify(bad));
  }
  // null is an absent option, as everywhere in the JS API (one implementation: js/src/manager.ts).
  await (await open({ maxClockSkewMs: null, maxStateBytes: null })).close();
  const small = await open({ nodeId: "small", maxStateBytes: 10, maxClockSkewMs: 0 });
  assert.throws(() => small.createState({ text: "more than ten bytes" }), (e) => e.code === "INVALID_INPUT" && /max_state_bytes|10/.test(e.message));
  assert.equal(small.listStates().length, 0);
  assert.deepEqual(small.createState([1, 2]).data, [1, 2]);
  // Received states: larger than maxStateBytes, or stamped further ahead than maxClockSkewMs.
  const ahead = await S.SyncManager.open({ nodeId: "ahead", clock: new S.ManualClock(1000 + 5000) });
  const future = ahead.createState(1, { id: "future" });
  const big = ahead.createState("a string of more than ten bytes", { id: "big" });
  const strict = await open({ nodeId: "strict", maxClockSkewMs: 4000, maxStateBytes: 10 });
  const r = strict.reconcile([future, big]);
  assert.equal(r.rejected, 2);
  assert.deepEqual(r.rejections.map((x) => [x.id, x.code]), [["future", "INVALID_STATE"], ["big", "INVALID_STATE"]]);
  const lenient = await open({ nodeId: "lenient", maxClockSkewMs: 5000 });
  assert.equal(lenient.reconcile([future, big]).created, 2);
  const byDefault = await open({ nodeId: "default" });
  assert.equal(byDefault.reconcile([future]).created, 1, "one hour by default");
});

test("integers beyond 2^53 - 1 in data are INVALID_INPUT; safe ones and floats pass", async () => {
  const m = await open({ nodeId: "n" });
  assert.throws(() => m.createState({ n: 2 ** 53 }), (e) => e.code === "INVALID_INPUT" && /9007199254740992/.test(e.message));
  assert.throws(() => m.createState(-(2 ** 60)), (e) => e.code === "INVALID_INPUT");
  assert.deepEqual(m.createState({ n: 2 ** 53 - 1, f: 1.5e300 }, { id: "ok" }).data, { n: 2 ** 53 - 1, f: 1.5e300 });
  assert.throws(() => m.updateState("ok", [2 ** 64]), (e) => e.code === "INVALID_INPUT");
  assert.throws(() => m.createState(1, { id: "bad\u0007id" }), (e) => e.code === "INVALID_INPUT");
});

test("a transport's push answer with rejections: they become this replica's rejections; maxBodyBytes cuts pages", async () => {
  const server = await open({ nodeId: "server" });
  const client = await open({ nodeId: "client" });
  for (let i = 0; i < 3; i++) client.createState({ i }, { id: `c${i}` });
  const pages = [];
  const transport = {
    ...over(server, { maxBatch: null, maxBodyBytes: 1 }),
    push: async (changes) => {
      pages.push(changes.states.map((s) => s.id));
      const counts = server.reconcile(changes.states.filter((s) => s.id !== "c1"));
      // As a peer of this release answers: `rejected` may be left out, the list says it all.
      const { rejected, rejections, ...rest } = counts;
      void [rejected, rejections];
      return changes.states.some((s) => s.id === "c1")
        ? { ...rest, rejections: [{ id: "c1", code: "INVALID_STATE", message: "no c1 here" }] }
        : rest;
    },
  };
  const events = [];
  client.on("stateRejected", (e) => events.push([e.stateId, e.code, e.message]));
  const report = await client.sync(transport);
  assert.deepEqual(pages, [["c0"], ["c1"], ["c2"]], "one state a page under a 1-byte body limit");
  assert.deepEqual([report.pushed.created, report.pushed.rejected], [2, 1]);
  assert.deepEqual(report.pushed.rejections, [{ id: "c1", code: "INVALID_STATE", message: "no c1 here", current: null }]);
  assert.deepEqual(client.rejections().map((r) => [r.stateId, r.code]), [["c1", "INVALID_STATE"]]);
  assert.match(client.rejections()[0].message, /no c1 here/);
  assert.equal(events.length, 1);
  assert.equal(events[0][0], "c1");
  assert.deepEqual(client.pendingOperations(), [], "a refused version is not retried by itself");
  // An answer that lists no rejections (an older peer) is none refused.
  client.createState(4, { id: "c4" });
  const plain = { ...transport, push: async (changes) => { const { rejected, rejections, ...rest } = server.reconcile(changes.states); void [rejected, rejections]; return rest; } };
  const second = await client.sync(plain);
  assert.deepEqual([second.pushed.created, second.pushed.rejected, second.pushed.rejections], [1, 0, []]);
  // A malformed rejections list fails the round as CORRUPT.
  client.createState(5, { id: "c5" });
  const broken = { ...transport, push: async () => ({ created: 1, updated: 0, unchanged: 0, ignored: 0, conflicts: 0, resolved: 0, rejections: [{ id: 5 }] }) };
  await assert.rejects(client.sync(broken), (e) => e.code === "CORRUPT");
});

test("HttpTransport space and token: the core's /v1/spaces/{space}/ routes and the bearer token on every fetch; a push answer's kept version reaches revertRejected", async (t) => {
  const http = await import("node:http");
  const peer = await open({ nodeId: "hub" });
  const kept = peer.createState({ t: 1 }, { id: "s" });
  const seen = [];
  // A hub of one space: answers each endpoint as the protocol says, refusing every pushed "s"
  // and reporting the version it keeps.
  const hub = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push([req.method, req.url, req.headers.authorization ?? null]);
      const endpoint = req.url.split("/").pop();
      let body;
      if (endpoint === "capabilities") {
        body = JSON.stringify({ protocol: S.PROTOCOL_VERSION, node_id: "hub", scoped_sync: true, binary: false, zstd: false });
      } else if (endpoint === "pull") {
        body = Buffer.from(S.encode(peer.changesSince(), "json"));
      } else {
        const result = { created: 0, updated: 0, unchanged: 0, ignored: 0, conflicts: 0, resolved: 0, rejected: 1 };
        const rejected = [{ id: "s", code: "FORBIDDEN", message: "not yours", current: kept.toJSON() }];
        body = JSON.stringify({ format: S.PROTOCOL_VERSION, result, rejected });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    });
  });
  await new Promise((r) => hub.listen(0, "127.0.0.1", r));
  t.after(() => {
    hub.closeAllConnections();
    return new Promise((r) => hub.close(r));
  });
  const url = `http://127.0.0.1:${hub.address().port}`;
  const client = await open({ nodeId: "client" });
  const transport = new S.HttpTransport(url, {
    space: "user:42",
    token: "eyJ.tok.en",
    headers: { Authorization: "Bearer no" },
    encoding: "json",
  });
  assert.equal(transport.space, "user:42");
  assert.equal((await client.sync(transport)).pulled.created, 1);
  client.updateState("s", { t: 2 });
  const report = await client.sync(transport);
  assert.ok(report.pushed.rejections[0].current.equals(kept), "the hub's kept version");
  assert.deepEqual(new Set(seen.map(([m, u]) => `${m} ${u}`)), new Set([
    "GET /v1/spaces/user:42/capabilities",
    "POST /v1/spaces/user:42/pull",
    "POST /v1/spaces/user:42/push",
  ]));
  assert.ok(seen.every(([, , auth]) => auth === "Bearer eyJ.tok.en"), JSON.stringify(seen));
  const [rejection] = client.rejections();
  assert.deepEqual([rejection.stateId, rejection.code, rejection.own], ["s", "FORBIDDEN", true]);
  assert.ok(rejection.current.equals(kept));
  const reverted = client.revertRejected("s");
  assert.deepEqual([reverted.data, reverted.clock], [{ t: 1 }, { client: 2, hub: 1 }]);
  seen.length = 0;
  assert.throws(() => new S.HttpTransport(url, { space: "a/b" }), { code: "INVALID_INPUT" });
  await client.sync(new S.HttpTransport(url, { encoding: "json" }));
  assert.ok(seen.length > 0 && seen.every(([, u, auth]) => /^\/v1\/(capabilities|pull|push)$/.test(u) && auth === null), JSON.stringify(seen));
});
