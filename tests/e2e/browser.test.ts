/**
 * A real browser (headless Chromium, issue 10): loads a page whose CSS and JS are served
 * compressed (Chromium sends Accept-Encoding: gzip, deflate, br, zstd) and the page renders:
 * the script ran and saw the stylesheet's colour. --dump-dom prints the DOM after scripts ran.
 *
 * Chromium comes from apt (.ci/run installs it). Outside CI a missing browser skips with a
 * printed reason; under CI=true it fails.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer, waitFor } from "./harness.ts";

const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].map((n) => Bun.which(n)).find((p) => p !== null) ?? null;
const CI = process.env.CI === "true";
if (CHROMIUM === null && !CI) console.warn("browser.test.ts: skipped: no chromium on PATH (apt-get install -y chromium); under CI=true this fails");

const CSS = "/* " + "padding so that the file is above min_size. ".repeat(60) + "*/\nh1 { color: rgb(1, 2, 3) }\n";
const JS =
  "// " + "padding so that the file is above min_size. ".repeat(60) + "\n" +
  "document.getElementById('out').textContent = 'js ran; h1 colour ' + getComputedStyle(document.querySelector('h1')).color;\n";
const HTML = `<!DOCTYPE html><html><head><link rel="stylesheet" href="/style.css"></head><body><h1>hello</h1><p id="out">js did not run</p><script src="/app.js"></script></body></html>`;

let root: string;
let cfgDir: string;
let s: RunningServer;

beforeAll(async () => {
  root = makeRoot({ "index.html": HTML, "style.css": CSS, "app.js": JS });
  cfgDir = makeRoot({
    "ds.toml": `[[site]]\nlisten = ["127.0.0.1:0"]\n\n[[site.route]]\npath = "/"\nstatic = { root = ${JSON.stringify(root)} }\ncompress = { codings = ["zstd", "br", "gzip"] }\n`,
  });
  s = await startServer(["--config", path.join(cfgDir, "ds.toml")]);
});

afterAll(async () => {
  await s?.stop();
  rmRoot(root);
  rmRoot(cfgDir);
});

test.skipIf(CHROMIUM === null && !CI)("headless Chromium renders a page with compressed CSS and JS", async () => {
  expect(CHROMIUM, "chromium is required under CI=true (apt-get install -y chromium)").not.toBeNull();
  // What Chromium asks for gets a compressed answer for both assets.
  for (const f of ["/style.css", "/app.js"]) {
    const r = await get(s.port, f, { "Accept-Encoding": "gzip, deflate, br, zstd" });
    expect(["zstd", "br", "gzip"]).toContain(r.header("content-encoding")!);
  }
  const profile = makeRoot({});
  try {
    const proc = Bun.spawn(
      [CHROMIUM!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", `--user-data-dir=${profile}`, "--virtual-time-budget=5000", "--dump-dom", `http://127.0.0.1:${s.port}/`],
      { stdout: "pipe", stderr: "pipe" },
    );
    const killer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const dom = await new Response(proc.stdout).text();
    await proc.exited;
    clearTimeout(killer);
    expect(dom).toContain("js ran; h1 colour rgb(1, 2, 3)");
  } finally {
    rmRoot(profile);
  }
  // The server saw the browser fetch both assets.
  const log = await waitFor(() => {
    const l = s.readLog();
    return l.includes("/style.css") && l.includes("/app.js") ? l : "";
  });
  expect(log).toContain("/style.css");
  expect(log).toContain("/app.js");
}, 90_000);
