/**
 * Static file serving, end to end: the real server (harness.ts startServer, so DS_TARGET=binary
 * runs this against the compiled binary too) over raw TCP. Smoke coverage of what the unit tests
 * check in detail: ranges (single, multipart, 416), conditional requests (304 via If-None-Match
 * and If-Modified-Since), traversal rejection, directory redirect and index.html, MIME types,
 * HEAD, and hidden dotfiles. Small files are served from memory and files over 1 MiB are
 * streamed: ranges are checked on both paths.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Conn, expectErrorPage, makeRoot, rmRoot } from "./core-helpers.ts";
import { type ParsedResponse, type RunningServer, startServer } from "./harness.ts";
import { expectServerCloses } from "./lifetime.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
const BIG = randomBytes(2 * 1024 * 1024 + 123); // over the 1 MiB in-memory limit: streamed

let root: string;
let s: RunningServer;

beforeAll(async () => {
  root = makeRoot({
    "alpha.txt": ALPHABET,
    "big.bin": BIG,
    "sub/index.html": "<h1>sub index</h1>\n",
    "sub/page.html": "<p>page</p>\n",
    "noindex/file.txt": "x",
    "index.html": "<h1>root</h1>\n",
    ".env": "SECRET=1\n",
    ".git/config": "[core]\n",
    "style.css": "a{}",
    "app.js": "1",
    "mod.mjs": "1",
    "data.json": "{}",
    "pic.png": "png",
    "icon.svg": "<svg/>",
    "module.wasm": "wasm",
    "font.woff2": "w",
    "README": "no extension",
    "odd.zzqx": "?",
  });
  s = await startServer(["--root", root]);
});

afterAll(async () => {
  await s.stop();
  rmRoot(root);
});

/** Send one raw request on a fresh connection and read its response (keep-alive request). */
async function ask(req: string, method = "GET"): Promise<ParsedResponse> {
  const c = await Conn.open(s.port);
  try {
    c.write(req);
    return await c.response(method);
  } finally {
    c.destroy();
  }
}

const get = (path: string, extra: Record<string, string> = {}, method = "GET") =>
  ask(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`, method);

/** Split a multipart/byteranges body into its parts (headers + bytes). */
function multipartParts(res: ParsedResponse): { headers: Record<string, string>; body: Buffer }[] {
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(res.header("content-type") ?? "");
  expect(m).not.toBeNull();
  const delim = Buffer.from(`\r\n--${m![1]}`);
  const body = res.body;
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  expect(pos).toBe(0); // RFC 2046: the body starts with CRLF + delimiter
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === "--") {
      expect(body.subarray(pos).toString()).toBe("--\r\n");
      break;
    }
    const he = body.indexOf("\r\n\r\n", pos);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos + 2, he).toString("latin1").split("\r\n")) {
      const c = line.indexOf(":");
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
    }
    const next = body.indexOf(delim, he + 4);
    parts.push({ headers, body: body.subarray(he + 4, next) });
    pos = next;
  }
  return parts;
}

describe("ranges", () => {
  test("single range on an in-memory file: 206 with Content-Range", async () => {
    const r = await get("/alpha.txt", { Range: "bytes=2-5" });
    expect(r.status).toBe(206);
    expect(r.header("content-range")).toBe("bytes 2-5/26");
    expect(r.header("content-length")).toBe("4");
    expect(r.body.toString()).toBe("cdef");
  });

  test("suffix and open-ended ranges", async () => {
    const a = await get("/alpha.txt", { Range: "bytes=-3" });
    expect(a.status).toBe(206);
    expect(a.body.toString()).toBe("xyz");
    expect(a.header("content-range")).toBe("bytes 23-25/26");
    const b = await get("/alpha.txt", { Range: "bytes=20-" });
    expect(b.body.toString()).toBe("uvwxyz");
  });

  test("single range on a streamed (> 1 MiB) file", async () => {
    const start = 1024 * 1024 - 10;
    const end = 1024 * 1024 + 99_999;
    const r = await get("/big.bin", { Range: `bytes=${start}-${end}` });
    expect(r.status).toBe(206);
    expect(r.header("content-range")).toBe(`bytes ${start}-${end}/${BIG.length}`);
    expect(r.body.equals(BIG.subarray(start, end + 1))).toBe(true);
  });

  test("multipart ranges: 206 multipart/byteranges, each part with its Content-Range and bytes", async () => {
    const r = await get("/alpha.txt", { Range: "bytes=0-1,10-12,-2" });
    expect(r.status).toBe(206);
    expect(r.header("content-length")).toBe(String(r.body.length));
    const parts = multipartParts(r);
    expect(parts.map((p) => p.headers["content-range"])).toEqual(["bytes 0-1/26", "bytes 10-12/26", "bytes 24-25/26"]);
    expect(parts.map((p) => p.body.toString())).toEqual(["ab", "klm", "yz"]);
    for (const p of parts) expect(p.headers["content-type"]).toBe("text/plain; charset=utf-8");
  });

  test("multipart ranges on a streamed file", async () => {
    const r = await get("/big.bin", { Range: "bytes=0-9,1500000-1500099" });
    expect(r.status).toBe(206);
    const parts = multipartParts(r);
    expect(parts.map((p) => p.headers["content-range"])).toEqual([`bytes 0-9/${BIG.length}`, `bytes 1500000-1500099/${BIG.length}`]);
    expect(parts[0]!.body.equals(BIG.subarray(0, 10))).toBe(true);
    expect(parts[1]!.body.equals(BIG.subarray(1500000, 1500100))).toBe(true);
  });

  test("unsatisfiable range: 416 with Content-Range bytes */size, connection kept", async () => {
    const c = await Conn.open(s.port);
    try {
      c.write("GET /alpha.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=100-200\r\n\r\n");
      const r = await c.response();
      expectErrorPage(r, 416);
      expect(r.header("content-range")).toBe("bytes */26");
      c.write("GET /alpha.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
      expect((await c.response()).body.toString()).toBe(ALPHABET);
    } finally {
      c.destroy();
    }
  });

  test("a Range with a non-matching If-Range gets the whole file", async () => {
    const r = await get("/alpha.txt", { Range: "bytes=0-1", "If-Range": '"not-the-etag"' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(ALPHABET);
  });
});

describe("conditional requests", () => {
  test("If-None-Match with the current ETag → 304 without a body, validators repeated", async () => {
    const first = await get("/alpha.txt");
    const etag = first.header("etag")!;
    expect(etag).toMatch(/^"[^"]+"$/);
    const r = await get("/alpha.txt", { "If-None-Match": etag });
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
    expect(r.header("etag")).toBe(etag);
    expect(r.header("content-length")).toBeUndefined();
    // Weak comparison and lists (RFC 9110 §13.1.2).
    expect((await get("/alpha.txt", { "If-None-Match": `"zzz", W/${etag}` })).status).toBe(304);
    expect((await get("/alpha.txt", { "If-None-Match": "*" })).status).toBe(304);
    expect((await get("/alpha.txt", { "If-None-Match": '"other"' })).status).toBe(200);
  });

  test("If-Modified-Since at or after Last-Modified → 304; before → 200", async () => {
    const first = await get("/alpha.txt");
    const lm = first.header("last-modified")!;
    expect((await get("/alpha.txt", { "If-Modified-Since": lm })).status).toBe(304);
    const later = new Date(Date.parse(lm) + 3600_000).toUTCString();
    expect((await get("/alpha.txt", { "If-Modified-Since": later })).status).toBe(304);
    const earlier = new Date(Date.parse(lm) - 3600_000).toUTCString();
    const r = await get("/alpha.txt", { "If-Modified-Since": earlier });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(ALPHABET);
  });

  test("If-None-Match takes precedence over If-Modified-Since", async () => {
    const first = await get("/alpha.txt");
    const r = await get("/alpha.txt", { "If-None-Match": '"other"', "If-Modified-Since": first.header("last-modified")! });
    expect(r.status).toBe(200);
  });

  test("304 for a streamed file too", async () => {
    const first = await get("/big.bin", {}, "HEAD");
    const r = await get("/big.bin", { "If-None-Match": first.header("etag")! });
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
  });
});

describe("path safety", () => {
  // resolve-path.ts: above-root "..", encoded "/" and a backslash are 400 PATH_* (Connection: close is
  // not required for these: the request itself was well-framed).
  for (const target of ["/../alpha.txt", "/%2e%2e/alpha.txt", "/%2E%2E/alpha.txt", "/sub/%2e%2e/%2e%2e/alpha.txt", "/sub/../../alpha.txt", "/sub%2fpage.html", "/sub%2F..%2Falpha.txt", "/..%5calpha.txt", "/%252e%252e/alpha.txt"]) {
    test(`${target} is rejected, never served`, async () => {
      const c = await Conn.open(s.port);
      try {
        c.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        const r = await c.response();
        // "%252e" decodes once to the literal name "%2e": a missing file, not a traversal.
        expectErrorPage(r, target.includes("%25") ? 404 : 400);
        expect(r.body.toString()).not.toContain(ALPHABET);
        if (r.header("connection") === "close") await expectServerCloses(c, 2000, { what: `after rejecting ${target}` });
      } finally {
        c.destroy();
      }
    });
  }

  test("dot segments that stay inside the root are resolved and served", async () => {
    for (const target of ["/sub/../alpha.txt", "/sub/%2e%2e/alpha.txt", "/./alpha.txt", "//alpha.txt"]) {
      const r = await get(target);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(ALPHABET);
    }
  });
});

describe("directories", () => {
  test("/dir without slash → 301 to /dir/ keeping the query", async () => {
    const r = await get("/sub?x=1&y=a%20b");
    expect(r.status).toBe(301);
    expect(r.header("location")).toBe("/sub/?x=1&y=a%20b");
  });

  test("/dir without slash and without query → 301 to /dir/", async () => {
    const r = await get("/sub");
    expect(r.status).toBe(301);
    expect(r.header("location")).toBe("/sub/");
  });

  test("/dir/ serves its index.html as text/html", async () => {
    const r = await get("/sub/");
    expect(r.status).toBe(200);
    expect(r.header("content-type")).toBe("text/html; charset=utf-8");
    expect(r.body.toString()).toBe("<h1>sub index</h1>\n");
  });

  test("/ serves the root index.html", async () => {
    const r = await get("/");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("<h1>root</h1>\n");
  });

  test("a directory without index.html → 404 (no listing)", async () => {
    const r = await get("/noindex/");
    expectErrorPage(r, 404);
    expect(r.body.toString()).not.toContain("file.txt");
  });
});

describe("MIME types", () => {
  const cases: [string, string][] = [
    ["/alpha.txt", "text/plain; charset=utf-8"],
    ["/sub/page.html", "text/html; charset=utf-8"],
    ["/style.css", "text/css; charset=utf-8"],
    ["/app.js", "text/javascript; charset=utf-8"],
    ["/mod.mjs", "text/javascript; charset=utf-8"],
    ["/data.json", "application/json; charset=utf-8"],
    ["/pic.png", "image/png"],
    ["/icon.svg", "image/svg+xml; charset=utf-8"],
    ["/module.wasm", "application/wasm"],
    ["/font.woff2", "font/woff2"],
    ["/README", "application/octet-stream"],
    ["/odd.zzqx", "application/octet-stream"],
  ];
  for (const [path, type] of cases) {
    test(`${path} → ${type}`, async () => {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(r.header("content-type")).toBe(type);
    });
  }
});

describe("HEAD", () => {
  test("HEAD has the GET headers and no body; the connection carries on after it", async () => {
    const c = await Conn.open(s.port);
    try {
      c.write("HEAD /alpha.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /alpha.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const h = await c.response("HEAD");
      const g = await c.response("GET");
      expect(h.status).toBe(200);
      expect(h.body.length).toBe(0);
      expect(h.header("content-length")).toBe("26");
      for (const name of ["content-type", "etag", "last-modified", "accept-ranges"]) expect(h.header(name)).toBe(g.header(name));
      expect(g.body.toString()).toBe(ALPHABET);
    } finally {
      c.destroy();
    }
  });

  test("HEAD of a streamed file: its length, no body", async () => {
    const c = await Conn.open(s.port);
    try {
      c.write("HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\nGET /alpha.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const h = await c.response("HEAD");
      expect(h.header("content-length")).toBe(String(BIG.length));
      // The next response follows directly: no body bytes were sent for the HEAD.
      expect((await c.response()).body.toString()).toBe(ALPHABET);
    } finally {
      c.destroy();
    }
  });
});

describe("dotfiles", () => {
  for (const target of ["/.env", "/.git/config", "/sub/../.env", "/%2eenv"]) {
    test(`${target} → 404 (hidden, not confirmed to exist)`, async () => {
      const r = await get(target);
      expectErrorPage(r, 404);
      expect(r.body.toString()).not.toContain("SECRET");
    });
  }

  test("a hidden file answers exactly like a missing one", async () => {
    const hidden = await get("/.env");
    const missing = await get("/.nope");
    expect(hidden.status).toBe(missing.status);
    expect(hidden.header("content-length")).toBe(missing.header("content-length"));
  });
});

describe("permissions", () => {
  // The real kernel EACCES path. Root reads a 0o000 file anyway, and CI runs as root: then the
  // server runs as nobody (setpriv), which cannot. As any other user, chmod alone does it.
  test("a file the server may not read → 403; a readable neighbour is still served", async () => {
    const dir = makeRoot({ "ok.txt": "fine\n", "locked.txt": "private\n" });
    let srv: RunningServer | null = null;
    try {
      fs.chmodSync(dir, 0o755); // mkdtemp makes it 0700: nobody could not even enter it
      fs.chmodSync(path.join(dir, "ok.txt"), 0o644);
      fs.chmodSync(path.join(dir, "locked.txt"), 0o000);
      const asRoot = process.getuid?.() === 0;
      srv = await startServer(["--root", dir, "--access-log", "off"], asRoot ? { prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] } : {});
      const c = await Conn.open(srv.port);
      try {
        c.write("GET /locked.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /ok.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const denied = await c.response();
        expectErrorPage(denied, 403);
        expect(denied.body.toString()).not.toContain("private");
        const ok = await c.response();
        expect(ok.status).toBe(200);
        expect(ok.body.toString()).toBe("fine\n");
      } finally {
        c.destroy();
      }
    } finally {
      await srv?.stop();
      rmRoot(dir);
    }
  });
});
