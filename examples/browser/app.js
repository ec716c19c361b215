// A small local-first settings page: the settings live in a statesync replica persisted in
// IndexedDB, shared with the page's other tabs, and synced with a hub (the same data model as
// examples/python/settings_client.py: collection "settings", id = key, data = {value}).
import { SyncManager, HttpTransport } from "../../wasm/dist/index.js";

const params = new URLSearchParams(location.search);
const hubUrl = params.get("hub") ?? new URL("/sync", location.href).href;
const replica = await SyncManager.open({ path: params.get("db") ?? "settings-demo", strategy: "manual" });
const hub = new HttpTransport(hubUrl);
const $ = (id) => document.getElementById(id);
const log = (text) => ($("log").textContent = `${new Date().toLocaleTimeString()} ${text}`);
const cell = (...items) => `<tr>${items.map((i) => `<td>${i}</td>`).join("")}</tr>`;
const esc = (v) => String(v).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
const show = (v) => esc(JSON.stringify(v));

function render() {
  $("node").textContent = replica.nodeId;
  $("hub").textContent = hubUrl;
  const status = replica.status();
  $("status").textContent = status;
  $("status").className = `status ${status}`;
  $("states").innerHTML = replica.listStates({ collection: "settings" }).map((s) =>
    cell(esc(s.id), show(s.data.value), s.version, esc(s.modifiedBy), `<button data-delete="${esc(s.id)}">delete</button>`)).join("");
  $("pending").innerHTML = replica.pendingOperations().map((op) =>
    cell(`<code>${esc(op.opId)}</code>`, op.kind, esc(op.stateId), show(op.data?.value ?? null))).join("") || cell("none");
  $("conflicts").innerHTML = replica.conflicts().map((c) =>
    cell(esc(c.stateId), `mine ${show(c.local.data?.value ?? null)}`, `theirs ${show(c.remote.data?.value ?? null)}`,
      `<button data-pick="local" data-id="${esc(c.conflictId)}">keep mine</button> <button data-pick="remote" data-id="${esc(c.conflictId)}">take theirs</button>`)).join("") || cell("none");
}

function parse(text) {
  try { return JSON.parse(text); } catch { return text; }
}

$("set").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("key").value.trim();
  const value = parse($("value").value);
  if (replica.getState(key)) replica.updateState(key, { value });
  else replica.createState({ value }, { id: key, collection: "settings" });
  replica.syncNow();
});
document.addEventListener("click", (e) => {
  const t = e.target;
  if (t.dataset.delete) replica.deleteState(t.dataset.delete);
  if (t.dataset.pick) replica.resolveConflict(t.dataset.id, { pick: t.dataset.pick });
});
$("sync").addEventListener("click", () => replica.sync(hub).catch(() => {}));
$("auto").addEventListener("change", (e) => (e.target.checked ? replica.startAutoSync(2000, hub) : replica.stopAutoSync()));
replica.on("event", render);
replica.on("syncCompleted", () => log("synced with the hub"));
replica.on("syncFailed", (e) => log(`sync failed: ${e.message}`));
replica.on("stateRejected", (e) => log(`${e.stateId} refused (${e.code}): ${e.message}`));
render();
window.replica = replica; // for the tests and the console
window.ready = true;
