/**
 * Headless Chromium over HTTP/2 (issue 17): a page with 50 assets (48 images, a stylesheet and
 * a script) served over TLS with ALPN h2. The page's script reads the Resource Timing API and
 * writes the protocol of the document and of every asset into the DOM; --dump-dom reads it
 * back. A screenshot of the page goes to docs/http2-chromium.png.
 *
 * Chromium comes from apt (.ci/run installs it). Outside CI a missing browser skips with a
 * printed reason; under CI=true it fails.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import { type RunningServer, REPO, startServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].map((n) => Bun.which(n)).find((p) => p !== null) ?? null;
const CI = process.env.CI === "true";
if (CHROMIUM === null && !CI) console.warn("http2-browser.test.ts: skipped: no chromium on PATH (apt-get install -y chromium); under CI=true this fails");

const FIX = path.resolve(import.meta.dir, "../fixtures/tls");
const IMAGES = 48;

function svg(i: number): string {
  const hue = (i * 360) / IMAGES;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="60" height="60"><rect width="60" height="60" rx="8" fill="hsl(${hue},70%,55%)"/><text x="30" y="37" font-size="18" text-anchor="middle" fill="white" font-family="sans-serif">${i}</text></svg>`;
}

const CSS = "body { font-family: sans-serif; margin: 20px; } .grid { display: grid; grid-template-columns: repeat(12, 64px); gap: 6px; } h1 { color: rgb(20, 90, 160) }\n";
const JS = `
window.addEventListener("load", () => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const h2 = res.filter((e) => e.nextHopProtocol === "h2").length;
  document.getElementById("out").textContent = "document " + nav.nextHopProtocol + "; assets " + res.length + "; over h2 " + h2;
});
`;
const HTML =
  `<!DOCTYPE html><html><head><title>DreamServer over HTTP/2</title><link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head><body>` +
  `<h1>DreamServer over HTTP/2</h1><p id="out">script did not run</p><div class="grid">` +
  Array.from({ length: IMAGES }, (_, i) => `<img src="/img/${i}.svg" width="60" height="60" alt="${i}">`).join("") +
  `</div></body></html>`;

let root: string;
let s: RunningServer;
let port: number;

beforeAll(async () => {
  const files: Record<string, string> = { "index.html": HTML, "style.css": CSS, "app.js": JS };
  for (let i = 0; i < IMAGES; i++) files[`img/${i}.svg`] = svg(i);
  root = makeRoot(files);
  for (const f of ["a.crt", "a.key"]) fs.copyFileSync(path.join(FIX, f), path.join(root, f));
  port = closedPort();
  fs.writeFileSync(
    path.join(root, "ds.toml"),
    `[admin]\nlisten = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\nhosts = ["a.example"]\ntls = { cert = "a.crt", key = "a.key" }\n[[site.route]]\npath = "/"\nstatic = { root = ${JSON.stringify(root)} }\n`,
  );
  s = await startServer(["--config", path.join(root, "ds.toml")], { cwd: root });
});

afterAll(async () => {
  await s?.stop();
  rmRoot(root);
});

async function chromium(args: string[], profile: string): Promise<string> {
  const proc = Bun.spawn(
    [
      CHROMIUM!,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      // The test certificate is self-signed for a.example: trust it for this run, resolve the name to us.
      "--ignore-certificate-errors",
      `--host-resolver-rules=MAP a.example 127.0.0.1`,
      "--virtual-time-budget=8000",
      ...args,
      `https://a.example:${port}/`,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const killer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(killer);
  return out;
}

test.skipIf(CHROMIUM === null && !CI)("headless Chromium loads a page with 50 assets over h2 (protocol confirmed, screenshot)", async () => {
  expect(CHROMIUM, "chromium is required under CI=true (apt-get install -y chromium)").not.toBeNull();
  const profile = makeRoot({});
  try {
    const dom = await chromium(["--dump-dom"], profile);
    expect(dom).toContain(`document h2; assets ${IMAGES + 2}; over h2 ${IMAGES + 2}`);
    const shot = path.join(REPO, "docs", "http2-chromium.png");
    await chromium(["--window-size=1000,420", `--screenshot=${shot}`], profile);
    expect(fs.statSync(shot).size).toBeGreaterThan(5000);
  } finally {
    rmRoot(profile);
  }
  // The server answered every asset.
  const log = s.readLog();
  for (let i = 0; i < IMAGES; i++) expect(log).toContain(`/img/${i}.svg`);
}, 120_000);
