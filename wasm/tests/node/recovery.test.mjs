// A bug inside the core stops the WebAssembly instance (the build aborts on a panic): the
// recovery of wasm/README.md, under Node, on the test build of the module (wasm/build.sh
// --testing, target/wasm-testing/dist), whose `Manager.panicForTests` panics inside a
// transaction with the replica's lock held. The same in Chromium, with IndexedDB: tests/e2e/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const shipped = path.resolve(here, "../../dist");
const testing = path.resolve(here, "../../../target/wasm-testing/dist");
const S = await import(path.join(testing, "node.js"));
// The package's internals: the glue of the running instance (a fresh one after each recovery).
const runtime = await import(path.join(testing, "runtime.js"));

/** The next `createState` of any replica runs the test build's `panicForTests` instead. */
function panicOnNextCreate() {
  const proto = runtime.instance().glue.Manager.prototype;
  const original = proto.createState;
  proto.createState = function () {
    proto.createState = original;
    return this.panicForTests();
  };
}

const internal = (e) => e instanceof S.SyncError && e.code === "INTERNAL";

test("the shipped module lacks the test-only entry point; the test build has it", () => {
  const exports = (dir) =>
    WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(path.join(dir, "wasm/statesync_wasm_bg.wasm")))).map((e) => e.name);
  assert.ok(exports(testing).includes("manager_panicForTests"), "the test build exports manager_panicForTests");
  assert.deepEqual(exports(shipped).filter((n) => /panic/i.test(n)), [], "wasm/dist/wasm/statesync_wasm_bg.wasm");
  assert.doesNotMatch(readFileSync(path.join(shipped, "wasm/statesync_wasm.js"), "utf8"), /panicForTests/);
  assert.match(readFileSync(path.join(testing, "wasm/statesync_wasm.js"), "utf8"), /panicForTests/);
});

test("a panic: INTERNAL, the stopped module refuses, a replica opened again runs on a fresh one", async () => {
  const clock = new S.ManualClock(1000);
  const a = await S.SyncManager.open({ nodeId: "a", clock });
  const b = await S.SyncManager.open({ nodeId: "b" });
  a.createState({ v: 1 }, { id: "x" });
  const kept = a.getState("x"); // held by the application, its fields not read yet
  b.createState({ v: 2 }, { id: "y" });

  panicOnNextCreate();
  let error;
  assert.throws(() => a.createState({ v: 3 }, { id: "lost" }), (e) => (error = e) && internal(e));
  assert.ok(error.cause instanceof WebAssembly.RuntimeError, "the trap is the cause");
  assert.equal(error.cause.message, "unreachable");

  // Every replica of the instance refuses, the one that trapped and the others; so do clocks.
  for (const f of [() => a.getState("x"), () => a.status(), () => b.listStates(), () => b.updateState("y", 0), () => clock.set(5)]) {
    assert.throws(f, internal);
  }
  // A version the application holds stays readable.
  assert.deepEqual(kept.data, { v: 1 });
  await a.close();
  await b.close();

  // The recovery: open again (memory replicas start empty; tests/e2e/ reopens from IndexedDB).
  const c = await S.SyncManager.open({ nodeId: "a" });
  assert.equal(c.getState("x"), null);
  assert.equal(c.applyRemoteState(kept).outcome, "created", "a kept state goes into the fresh instance");
  c.updateState("x", { v: 4 });
  assert.deepEqual(c.getState("x").data, { v: 4 });
  assert.equal(S.compareClocks({ a: 1 }, { a: 2 }), "before");
  await assert.rejects(c.syncWith(b), internal, "a replica of the stopped module is refused as an argument too");
  await assert.rejects(S.SyncManager.open({ clock }), internal, "so is a clock of the stopped module");
});

test("a panic inside a sync round through a transport; and a second panic after a recovery", async () => {
  const server = await S.SyncManager.open({ nodeId: "server" });
  const client = await S.SyncManager.open({ nodeId: "client" });
  const transport = {
    capabilities: async () => ({ protocol: S.PROTOCOL_VERSION, nodeId: "server", scopedSync: true, binary: false, zstd: false, maxBatch: null }),
    pull: async (cursor, collections, limit) => server.changesSince({ cursor, collections, limit }),
    push: async (changes) => {
      panicOnNextCreate();
      server.createState(0, { id: "boom" });
      return server.reconcile(changes.states);
    },
  };
  client.createState(1, { id: "c" });
  await assert.rejects(client.sync(transport), internal);
  await assert.rejects(client.sync(transport), internal);
  assert.throws(() => client.startAutoSync(10, transport), internal);

  const again = await S.SyncManager.open({ nodeId: "again" });
  again.createState(1, { id: "z" });
  panicOnNextCreate();
  assert.throws(() => again.createState(2, { id: "w" }), internal);
  assert.throws(() => again.getState("z"), internal);
  const third = await S.SyncManager.open({ nodeId: "third" });
  assert.deepEqual(third.createState({ ok: true }, { id: "t" }).data, { ok: true });
});
