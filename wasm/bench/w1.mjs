// W1a in memory in the browser (headless Chromium, through the package's JS API) against the
// native Rust core, in one run: `npm run bench` (`-- --quick` for the smoke run of the tests).
// Prints both in updates/s and the ratio (target: the browser ≥ 40 % of native). The native and
// browser runs alternate, so that a noisy stretch on a small shared machine hits both alike.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../tests/e2e/server.mjs";

const quick = process.argv.includes("--quick");
const [keys, updates, runs] = quick ? [20, 2000, 1] : [1000, 100_000, 5];
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");

/** One native W1a run, in updates/s. */
const nativeRun = () =>
  Number(
    execFileSync("cargo", ["run", "--quiet", "--release", "--example", "w1_native", "--", String(keys), String(updates), "1"], {
      cwd: path.join(root, "wasm"),
      env: { ...process.env, CARGO_TARGET_DIR: path.join(root, "target/wasm-host") },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim(),
  );
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const PAGE = `<!doctype html><script type="module">
const S = await import("/wasm/dist/index.js");
async function w1(keys, updates) {
  const m = await S.SyncManager.open({ nodeId: "bench" });
  const names = [];
  for (let k = 0; k < keys; k++) { names.push("key-" + k); m.createState({ n: 0, name: names[k] }, { id: names[k] }); }
  const start = performance.now();
  for (let i = 0; i < updates; i++) { const name = names[i % keys]; m.updateState(name, { n: i, name }); }
  const rate = updates / ((performance.now() - start) / 1000);
  await m.close();
  return rate;
}
window.w1 = w1;
window.ready = true;
</script>`;
const server = await startServer(root, { pages: { "/bench.html": PAGE } });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(server.origin + "/bench.html");
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(([k, u]) => window.w1(k, u), [keys, Math.min(updates, 20000)]); // warm-up: the engine tiers the code up
  nativeRun(); // warm-up: builds the example when needed
  const runsOf = { api: [], native: [] };
  for (let r = 0; r < runs; r++) {
    runsOf.native.push(nativeRun());
    runsOf.api.push(await page.evaluate(([k, u]) => window.w1(k, u), [keys, updates]));
  }
  const [inBrowser, native] = [median(runsOf.api), median(runsOf.native)];
  const ratio = inBrowser / native;
  console.log(`W1a (${updates} updates over ${keys} keys, median of ${runs} alternating runs)`);
  console.log(`  browser (Chromium, WebAssembly, JS API): ${Math.round(inBrowser).toLocaleString("en")} updates/s`);
  console.log(`  native Rust core (same features):        ${Math.round(native).toLocaleString("en")} updates/s`);
  console.log(`  ratio: ${(100 * ratio).toFixed(1)} % (target ≥ 40 %: ${ratio >= 0.4 ? "met" : "MISSED"})`);
} finally {
  await browser.close();
  await server.close();
}
