// The shared JS test vectors through the browser package's JS API in headless Chromium (the
// release build, wasm/dist), loaded into the page as they are, the same ones the Node package and
// the wasm build in Node run: the whole conformance suite (js/conformance/replay.mjs), every case
// in memory and on IndexedDB databases (closed, reopened and checked again: the durability run),
// and the other shared JS test vectors (js/tests/checks.mjs). This side reads
// conformance/ from disk, hands the files' text to the page and asks it for one check at a time.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";
import { readSuite } from "../../../js/conformance/node-runner.mjs";
import { loadSuite } from "../../../js/conformance/replay.mjs";
import { checks } from "../../../js/tests/checks.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

// The page: the package and the replayer, bound together; `run(i, mode)` replays case i of the
// suite handed in by `load`, and answers null (passed) or what went wrong.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="importmap">{"imports":{"statesync-wasm":"/wasm/dist/index.js"}}</script>
<script type="module">
const S = await import("statesync-wasm");
const R = await import("/js/conformance/replay.mjs");
const { checks } = await import("/js/tests/checks.mjs");
window.checkNames = checks.map(([name]) => name);
window.check = async (i) => {
  try {
    await checks[i][1](S);
    return null;
  } catch (e) {
    return String(e?.stack ?? e);
  }
};
R.bind(S);
let suite = null;
let runs = 0;
window.load = (texts, manifest) => {
  suite = R.loadSuite(texts);
  return { cases: suite.cases.length, problems: R.suiteProblems(suite.files, manifest), self: R.selfCheckProblems() };
};
window.run = async (i, mode) => {
  const { caseDef } = suite.cases[i];
  if (caseDef === null) return "the file cannot be read or has no cases array";
  // A fresh set of IndexedDB databases per run; a second open of one is another tab's replica.
  const n = runs++;
  const store = mode === "memory" ? R.MEMORY : { mode, pathOf: (k) => "conformance-" + n + "-" + k, exclusive: false };
  try {
    await R.runCase(caseDef, store);
    return null;
  } catch (e) {
    return (e instanceof R.CaseFailure ? "" : "(not a case failure) ") + String(e?.stack ?? e);
  }
};
window.ready = true;
</script>`;

const { texts, manifest } = readSuite();
// The case list as the page will see it (same files, same function), for one test per case.
const { cases } = loadSuite(texts);
let server, context, work, page, loaded;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), "statesync-conformance-chromium-"));
  server = await startServer(root, { pages: { "/conformance.html": PAGE } });
  context = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(server.origin + "/conformance.html");
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20_000 });
  loaded = await page.evaluate(([t, m]) => window.load(t, m), [texts, manifest]);
});

after(async () => {
  await context?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("conformance suite shape [wasm in Chromium]: the page sees every case of manifest.json", () => {
  assert.equal(loaded.cases, cases.length);
  assert.deepEqual(loaded.problems, [], loaded.problems.join("\n"));
  assert.deepEqual(loaded.self, [], "the replayer's own hash and canonical JSON, in the page");
});

for (const mode of ["memory", "indexeddb"]) {
  cases.forEach(({ file, id }, i) => {
    test(`conformance ${file} / ${id} [wasm in Chromium, ${mode}]`, async () => {
      const failure = await page.evaluate(([k, m]) => window.run(k, m), [i, mode]);
      assert.equal(failure, null, `${file} / ${id} [wasm in Chromium, ${mode}]: ${failure}`);
    });
  });
}

checks.forEach(([name], i) => {
  test(`${name} [wasm in Chromium]`, async () => {
    assert.equal(await page.evaluate((k) => window.checkNames[k], i), name);
    const failure = await page.evaluate((k) => window.check(k), i);
    assert.equal(failure, null, failure);
  });
});
