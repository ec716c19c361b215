// A static server for the e2e tests on 127.0.0.1: serves the repository's wasm/dist,
// examples/browser, the shared JS test vectors (js/conformance/, js/tests/), the test build of
// the package (target/wasm-testing/dist, from `wasm/build.sh --testing`) and the test pages, and
// proxies /sync/* to a statesync-hub (same origin, so pages need no CORS).
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css" };

export async function startServer(root, { hubUrl, pages = {} } = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    try {
      if (url.pathname.startsWith("/sync/") && hubUrl) {
        const body = await new Promise((resolve) => {
          const chunks = [];
          req.on("data", (c) => chunks.push(c));
          req.on("end", () => resolve(Buffer.concat(chunks)));
        });
        const headers = { ...req.headers };
        delete headers.host;
        const answer = await fetch(hubUrl + url.pathname.slice("/sync".length), {
          method: req.method,
          headers,
          body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
        });
        const out = {};
        answer.headers.forEach((v, k) => (out[k] = v));
        delete out["content-length"];
        res.writeHead(answer.status, out);
        res.end(Buffer.from(await answer.arrayBuffer()));
        return;
      }
      if (pages[url.pathname]) {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(pages[url.pathname]);
        return;
      }
      const allowed = ["/wasm/dist/", "/examples/browser/", "/target/wasm-testing/dist/", "/js/conformance/", "/js/tests/"];
      if (!allowed.some((p) => url.pathname.startsWith(p))) throw Object.assign(new Error("not served"), { code: "ENOENT" });
      const file = path.join(root, path.normalize(url.pathname));
      const data = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
      res.end(data);
    } catch (e) {
      res.writeHead(e.code === "ENOENT" ? 404 : 500, { "content-type": "text/plain" });
      res.end(String(e.message));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
