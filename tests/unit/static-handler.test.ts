import { fastStatAvailable } from "../../src/static/fast-stat.ts";
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Config, defaultConfig, defaultStaticConfig, type StaticConfig } from "../../src/config/config.ts";
import type {
  BodySink,
  Exchange,
  ExchangeLogFields,
  Handler,
  HeaderPairs,
  ResponseHeaders,
  TunnelHandlers,
  TunnelSide,
} from "../../src/handler.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { RequestHead } from "../../src/http1/message-head.ts";
import { createStaticHandler, fsErrorStatus, STREAM_CHUNK } from "../../src/static/static-handler.ts";
import { drainFreshnessBatches } from "../../src/static/freshness-batch.ts";

// ---- a fake Exchange that records what the handler did ----------------------------------

function toPairs(h: ResponseHeaders): [string, string][] {
  if ("prepared" in h) {
    const text = Buffer.from(h.prepared).toString("latin1");
    expect(text.endsWith("\r\n")).toBe(true);
    return text
      .slice(0, -2)
      .split("\r\n")
      .map((line) => {
        const i = line.indexOf(": ");
        return [line.slice(0, i), line.slice(i + 2)] as [string, string];
      });
  }
  return h.map(([n, v]) => [n, v] as [string, string]);
}

class FakeExchange implements Exchange {
  head: RequestHead;
  readonly id = "test-id";
  readonly clientIp = "127.0.0.1";
  readonly localPort = 8080;
  readonly startedAt = 0;
  readonly scheme = "http" as const;
  readonly secure = false;
  readonly log: ExchangeLogFields = {};
  responseStarted = false;
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;

  calls: string[] = [];
  status = 0;
  headers: [string, string][] = [];
  /** Body as the engine would put on the wire (HEAD: none). */
  chunks: Uint8Array[] = [];
  declaredLength: number | null = null;
  ended = false;
  abortedWith: string | null = null;
  errorCode: string | undefined;
  /** Backpressure policy for write(): return value per call. */
  writeResult: (n: number) => boolean = () => true;
  writes = 0;
  /** What the engine reports as room in its queue (the streamer sizes reads by it). */
  writeRoom = 256 * 1024;

  /** The engine's config (limits, server name); the handler's own settings are a StaticConfig. */
  readonly config: Config = defaultConfig();

  constructor(
    _static: StaticConfig | Config,
    method: string,
    target: string,
    reqHeaders: [string, string][] = [],
  ) {
    const q = target.indexOf("?");
    const h = new HeaderList();
    for (const [n, v] of reqHeaders) h.add(n, v);
    this.head = {
      method,
      target,
      form: "origin",
      path: q < 0 ? target : target.slice(0, q),
      query: q < 0 ? "" : target.slice(q),
      minor: 1,
      headers: h,
      host: "localhost",
      bodyKind: "none",
      contentLength: -1,
      keepAlive: true,
      expectContinue: false,
      connection: [],
      upgrade: null,
      headBytes: 0,
    };
  }

  header(name: string): string | undefined {
    return this.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.body.toString("utf8");
  }

  cork(): void {}
  uncork(): void {}
  readBody(_sink: BodySink): void {
    throw new Error("static handler must not read bodies");
  }
  resumeBody(): void {}
  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    expect(this.responseStarted).toBe(false);
    this.calls.push("respond");
    this.responseStarted = true;
    this.status = status;
    this.headers = toPairs(headers);
    const bytes = body == null ? new Uint8Array(0) : typeof body === "string" ? Buffer.from(body) : body;
    this.declaredLength = bytes.length;
    if (this.head.method !== "HEAD" && status !== 304 && status !== 204) this.chunks.push(bytes);
    this.ended = true;
  }
  startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    expect(this.responseStarted).toBe(false);
    this.calls.push("startResponse");
    this.responseStarted = true;
    this.status = status;
    this.headers = toPairs(headers);
    this.declaredLength = length;
  }
  write(chunk: Uint8Array): boolean {
    expect(this.responseStarted).toBe(true);
    expect(this.ended).toBe(false);
    expect(this.head.method).not.toBe("HEAD");
    this.writes++;
    // Keep the reference, not a copy: a handler that reuses a queued buffer is caught.
    this.chunks.push(chunk);
    return this.writeResult(this.writes);
  }
  end(_trailers?: HeaderPairs): void {
    expect(this.ended).toBe(false);
    this.calls.push("end");
    this.ended = true;
  }
  informational(): void {}
  sendError(status: number, code?: string, headers?: HeaderPairs): void {
    expect(this.responseStarted).toBe(false);
    this.calls.push("sendError");
    this.responseStarted = true;
    this.ended = true;
    this.status = status;
    this.errorCode = code;
    this.headers = headers ? headers.map(([n, v]) => [n, v] as [string, string]) : [];
  }
  abort(code?: string): void {
    this.calls.push("abort");
    this.abortedWith = code ?? "ABORT";
  }
  upgrade(_h: HeaderPairs, _t: TunnelHandlers): TunnelSide {
    throw new Error("no upgrades");
  }
}

// ---- fixture tree --------------------------------------------------------------------------

let tmp: string;
let root: string;
let outside: string;
let config: StaticConfig;
let handler: Handler;

function write(rel: string, content: string | Uint8Array): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return p;
}

function run(
  method: string,
  target: string,
  reqHeaders: [string, string][] = [],
  h: Handler = handler,
  cfg: StaticConfig = config,
): FakeExchange {
  const ex = new FakeExchange(cfg, method, target, reqHeaders);
  h(ex);
  drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
  return ex;
}

/** Run a request and drive a streamed response to the end, triggering onDrain when asked. */
function runToEnd(ex: FakeExchange, h: Handler = handler): FakeExchange {
  h(ex);
  drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
  let guard = 0;
  while (!ex.ended && ex.abortedWith === null) {
    expect(ex.onDrain).not.toBeNull();
    ex.onDrain!();
    if (++guard > 100_000) throw new Error("stream never finished");
  }
  return ex;
}

const INDEX = "<!doctype html><h1>home</h1>\n";
const big = Buffer.alloc(1024 * 1024 + 12345);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "dream-static-")));
  root = path.join(tmp, "root");
  outside = path.join(tmp, "outside");
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "secret.txt"), "top secret\n");
  fs.writeFileSync(path.join(tmp, "sibling.txt"), "sibling\n");
  fs.mkdirSync(path.join(tmp, "root-evil")); // prefix trick: /tmp/x/root-evil is not inside /tmp/x/root
  fs.writeFileSync(path.join(tmp, "root-evil", "x.txt"), "evil\n");

  write("index.html", INDEX);
  write("hello.txt", "hello world\n");
  write("data.json", '{"a":1}');
  write("app.js", "console.log(1)");
  write("image.png", Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  write("pic.svg", "<svg/>");
  write("blob.unknownext", "???");
  write("noext", "plain");
  write("empty.txt", "");
  write("sub/index.html", "<p>sub index</p>");
  write("sub/page.html", "<p>page</p>");
  write("a b/index.html", "<p>space</p>");
  write("noindex/file.txt", "x");
  write("café.txt", "unicode name\n");
  write("%2e%2e/literal.txt", "literal percent dir\n");
  write(".env", "SECRET=1\n");
  write(".git/config", "[core]\n");
  write("digits.txt", "0123456789abcdefghij");
  write("big.bin", big);
  fs.symlinkSync(path.join(outside, "secret.txt"), path.join(root, "escape.txt"));
  fs.symlinkSync(outside, path.join(root, "escapedir"));
  fs.symlinkSync("../sibling.txt", path.join(root, "relescape.txt"));
  fs.symlinkSync("../root-evil", path.join(root, "prefixtrick"));
  fs.symlinkSync("hello.txt", path.join(root, "inside-link.txt"));
  fs.symlinkSync("sub", path.join(root, "sublink"));
  fs.symlinkSync("loop-b", path.join(root, "loop-a"));
  fs.symlinkSync("loop-a", path.join(root, "loop-b"));
  fs.symlinkSync("missing-target", path.join(root, "dangling"));

  config = defaultStaticConfig({ root, fileCacheMaxFileSize: 64 * 1024, fileCacheMaxBytes: 1024 * 1024 });
  handler = createStaticHandler(config);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- tests ---------------------------------------------------------------------------------

describe("path safety through the handler", () => {
  test.each([
    ["/../etc/passwd", 400, "PATH_TRAVERSAL"],
    ["/sub/../../outside/secret.txt", 400, "PATH_TRAVERSAL"],
    ["/%2e%2e/outside/secret.txt", 400, "PATH_TRAVERSAL"],
    ["/%2E%2E/%2E%2E/etc/passwd", 400, "PATH_TRAVERSAL"],
    ["/..%2foutside/secret.txt", 400, "PATH_ENCODED_SLASH"],
    ["/sub%2fpage.html", 400, "PATH_ENCODED_SLASH"],
    ["/..%5coutside", 400, "PATH_BACKSLASH"],
    ["/sub\\page.html", 400, "PATH_BACKSLASH"],
    ["/hello.txt%00.html", 400, "PATH_NUL"],
    ["/%c0%ae%c0%ae/etc/passwd", 400, "PATH_BAD_ENCODING"],
    ["/hello%zz", 400, "PATH_BAD_ENCODING"],
    ["/.env", 404, "PATH_DOTFILE"],
    ["/.git/config", 404, "PATH_DOTFILE"],
    ["/%2egit/config", 404, "PATH_DOTFILE"],
    ["/escape.txt", 404, "PATH_SYMLINK_ESCAPE"],
    ["/escapedir/secret.txt", 404, "PATH_SYMLINK_ESCAPE"],
    ["/escapedir", 404, "PATH_SYMLINK_ESCAPE"], // no redirect that would reveal the directory
    ["/relescape.txt", 404, "PATH_SYMLINK_ESCAPE"],
    ["/prefixtrick/x.txt", 404, "PATH_SYMLINK_ESCAPE"],
    ["/loop-a", 404, "FILE_SYMLINK_LOOP"],
    ["/dangling", 404, "FILE_NOT_FOUND"],
    ["/missing.txt", 404, "FILE_NOT_FOUND"],
    ["/hello.txt/", 404, "FILE_NOT_FOUND"], // ENOTDIR
    ["/hello.txt/x", 404, "FILE_NOT_FOUND"],
    ["/noindex/", 404, "FILE_NOT_FOUND"],
    ["/" + "a".repeat(300), 414, "FILE_NAME_TOO_LONG"],
  ])("GET %p → %p %p", (target, status, code) => {
    const ex = run("GET", target);
    expect(ex.calls).toEqual(["sendError"]);
    expect(ex.status).toBe(status);
    expect(ex.errorCode).toBe(code);
  });

  test.each([
    ["/%252e%252e/literal.txt", "literal percent dir\n"], // decoded once: "%2e%2e" is a name
    ["/inside-link.txt", "hello world\n"], // symlinks inside the root are fine
    ["/sublink/page.html", "<p>page</p>"],
    ["/sub/./page.html", "<p>page</p>"],
    ["//sub//page.html", "<p>page</p>"],
    ["/sub/../hello.txt", "hello world\n"],
    ["/caf%C3%A9.txt", "unicode name\n"],
    ["/", INDEX],
    ["/sub/", "<p>sub index</p>"],
    ["/a%20b/", "<p>space</p>"],
    ["/sub/.", "<p>sub index</p>"],
  ])("GET %p serves the file", (target, body) => {
    const ex = run("GET", target);
    expect(ex.status).toBe(200);
    expect(ex.text).toBe(body);
  });

  test("a symlink re-pointed outside the root after being cached is caught", () => {
    const link = path.join(root, "moving-link.txt");
    fs.symlinkSync("hello.txt", link);
    try {
      expect(run("GET", "/moving-link.txt").status).toBe(200);
      fs.unlinkSync(link);
      fs.symlinkSync(path.join(outside, "secret.txt"), link);
      const ex = run("GET", "/moving-link.txt");
      expect(ex.status).toBe(404);
      expect(ex.errorCode).toBe("PATH_SYMLINK_ESCAPE");
    } finally {
      fs.unlinkSync(link);
    }
  });

  test("dotfiles are served when serveDotfiles is on", () => {
    const cfg = defaultStaticConfig({ root, serveDotfiles: true });
    const h = createStaticHandler(cfg);
    const ex = run("GET", "/.env", [], h, cfg);
    expect(ex.status).toBe(200);
    expect(ex.text).toBe("SECRET=1\n");
    expect(run("GET", "/../x", [], h, cfg).status).toBe(400);
  });

  test("FIFOs and other non-regular files are 404", () => {
    const fifo = path.join(root, "pipe");
    if (Bun.spawnSync(["mkfifo", fifo]).exitCode !== 0) return;
    try {
      const ex = run("GET", "/pipe");
      expect(ex.status).toBe(404);
      expect(ex.errorCode).toBe("FILE_NOT_REGULAR");
    } finally {
      fs.unlinkSync(fifo);
    }
  });

  // The permission path without chmod: root (CI) can read a 0o000 file, so a chmod-based test
  // never ran there. The handler calls fs.openSync / fs.statSync through the module object, so
  // a spy makes the kernel's answer EACCES/EPERM for one path and the real code path runs.
  // (tests/e2e/static.test.ts checks the real chmod case with a server running as nobody.)
  function fsError(code: string, syscall: string, file: unknown): NodeJS.ErrnoException {
    return Object.assign(new Error(`${code}: permission denied, ${syscall} '${String(file)}'`), { code, errno: code === "EACCES" ? -13 : -1, syscall, path: String(file) });
  }

  for (const code of ["EACCES", "EPERM"]) {
    test(`unreadable file (open fails with ${code}) is 403 FILE_FORBIDDEN, and nothing leaks`, () => {
      const p = write(`locked-${code}.txt`, "no");
      const origOpen = fs.openSync;
      const openSpy = spyOn(fs, "openSync").mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
        if (String(args[0]) === p) throw fsError(code, "open", args[0]);
        return origOpen(...args);
      }) as typeof fs.openSync);
      try {
        const ex = run("GET", `/locked-${code}.txt`);
        expect(openSpy).toHaveBeenCalled();
        expect(ex.status).toBe(403);
        expect(ex.errorCode).toBe("FILE_FORBIDDEN");
        expect(ex.calls).toEqual(["sendError"]);
        expect(Buffer.concat(ex.chunks).toString()).not.toContain("no");
        // Readable again: served (the 403 was not cached).
        openSpy.mockRestore();
        const ok = run("GET", `/locked-${code}.txt`);
        expect(ok.status).toBe(200);
      } finally {
        openSpy.mockRestore();
      }
    });
  }

  test("a file in a directory we may not search (stat fails with EACCES) is 403", () => {
    const p = write("noexec/inner.txt", "x");
    const origStat = fs.statSync;
    const statSpy = spyOn(fs, "statSync").mockImplementation(((...args: Parameters<typeof fs.statSync>) => {
      if (String(args[0]) === p) throw fsError("EACCES", "stat", args[0]);
      return origStat(...args);
    }) as typeof fs.statSync);
    try {
      const ex = run("GET", "/noexec/inner.txt");
      // With fast stat (statx via FFI) the first check does not go through fs.statSync; the
      // spy still sees the full stat of a cache miss.
      expect(statSpy).toHaveBeenCalled();
      expect(ex.status).toBe(403);
      expect(ex.errorCode).toBe("FILE_FORBIDDEN");
    } finally {
      statSpy.mockRestore();
    }
  });
});

test.each([
  ["ENOENT", 404, "FILE_NOT_FOUND"],
  ["ENOTDIR", 404, "FILE_NOT_FOUND"],
  ["EACCES", 403, "FILE_FORBIDDEN"],
  ["EPERM", 403, "FILE_FORBIDDEN"],
  ["ENAMETOOLONG", 414, "FILE_NAME_TOO_LONG"],
  ["ELOOP", 404, "FILE_SYMLINK_LOOP"],
  ["EIO", 500, "FILE_ERROR"],
  [undefined, 500, "FILE_ERROR"],
])("fs error %p → %p %p", (code, status, stable) => {
  expect(fsErrorStatus(Object.assign(new Error("x"), { code }))).toEqual({ status, code: stable });
});

describe("directories", () => {
  test.each([
    ["/sub", "/sub/"],
    ["/sub?x=1&y=%20", "/sub/?x=1&y=%20"],
    ["//sub", "/sub/"], // never a protocol-relative "//sub/"
    ["/a%20b", "/a%20b/"],
    ["/sub/page.html/..", null], // trailing dot segment names a directory: served, no redirect
    ["/sublink", "/sublink/"],
    ["/hello.txt/../sub", "/sub/"],
  ])("GET %p → 301 %p", (target, location) => {
    const ex = run("GET", target);
    if (location === null) {
      expect(ex.status).toBe(200);
      return;
    }
    expect(ex.status).toBe(301);
    expect(ex.header("Location")).toBe(location);
    expect(ex.text).toContain(`href="${location.replace(/&/g, "&amp;")}"`);
  });

  test("behind strip_prefix the redirect keeps the client's prefix (head.mount)", () => {
    const ex = new FakeExchange(config, "GET", "/sub?q=1");
    ex.head = { ...ex.head, mount: "/docs" };
    handler(ex);
    drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
    expect(ex.status).toBe(301);
    expect(ex.header("Location")).toBe("/docs/sub/?q=1");
  });

  test("the query is re-encoded defensively", () => {
    const ex = run("GET", "/sub?a=\x7f\xe9");
    expect(ex.header("Location")).toBe("/sub/?a=%7F%E9");
  });
});

describe("response headers", () => {
  test.each([
    ["/index.html", "text/html; charset=utf-8"],
    ["/hello.txt", "text/plain; charset=utf-8"],
    ["/data.json", "application/json; charset=utf-8"],
    ["/app.js", "text/javascript; charset=utf-8"],
    ["/pic.svg", "image/svg+xml; charset=utf-8"],
    ["/image.png", "image/png"],
    ["/blob.unknownext", "application/octet-stream"],
    ["/noext", "application/octet-stream"],
    ["/big.bin", "application/octet-stream"],
  ])("%p has Content-Type %p", (target, type) => {
    const ex = runToEnd(new FakeExchange(config, "GET", target));
    expect(ex.status).toBe(200);
    expect(ex.header("Content-Type")).toBe(type);
  });

  test("validators and Accept-Ranges; no engine-owned headers", () => {
    const st = fs.statSync(path.join(root, "hello.txt"));
    const ex = run("GET", "/hello.txt");
    expect(ex.header("Last-Modified")).toBe(new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString());
    expect(ex.header("ETag")).toBe(`"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`);
    expect(ex.header("Accept-Ranges")).toBe("bytes");
    for (const h of ["Date", "Server", "Content-Length", "Connection", "X-Request-ID", "Transfer-Encoding"]) {
      expect(ex.header(h)).toBeUndefined();
    }
  });

  test("the hot path uses the prepared header block and one respond()", () => {
    run("GET", "/hello.txt");
    const statSpy = spyOn(fs, "statSync");
    const openSpy = spyOn(fs, "openSync");
    try {
      const ex = new FakeExchange(config, "GET", "/hello.txt");
      let prepared = false;
      const orig = ex.respond.bind(ex);
      ex.respond = (s, h, b) => {
        prepared = "prepared" in h;
        orig(s, h, b);
      };
      handler(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      expect(ex.calls).toEqual(["respond"]);
      expect(prepared).toBe(true);
      // One freshness check: statx through FFI when available, else one fs.statSync.
      expect(statSpy).toHaveBeenCalledTimes(fastStatAvailable() ? 0 : 1);
      expect(openSpy).not.toHaveBeenCalled();
    } finally {
      statSpy.mockRestore();
      openSpy.mockRestore();
    }
  });

  test("empty file", () => {
    const ex = run("GET", "/empty.txt");
    expect(ex.status).toBe(200);
    expect(ex.declaredLength).toBe(0);
    expect(ex.body.length).toBe(0);
  });
});

describe("methods", () => {
  test.each(["POST", "PUT", "DELETE", "PATCH", "TRACE", "get", "BREW"])("%p → 405 with Allow", (m) => {
    const ex = run(m, "/hello.txt");
    expect(ex.status).toBe(405);
    expect(ex.errorCode).toBe("METHOD_NOT_ALLOWED");
    expect(ex.header("Allow")).toBe("GET, HEAD, OPTIONS");
  });

  test("OPTIONS → 204 with Allow", () => {
    const ex = run("OPTIONS", "/hello.txt");
    expect(ex.status).toBe(204);
    expect(ex.header("Allow")).toBe("GET, HEAD, OPTIONS");
  });

  test("HEAD of a small file: same headers, no body", () => {
    const get = run("GET", "/hello.txt");
    const head = run("HEAD", "/hello.txt");
    expect(head.status).toBe(200);
    expect(head.headers).toEqual(get.headers);
    expect(head.declaredLength).toBe(get.body.length);
    expect(head.body.length).toBe(0);
  });

  test("HEAD of a large file: startResponse with the length, then end, no writes, fd closed", () => {
    const { ex, opened, closed } = withFdSpies(() => runToEnd(new FakeExchange(config, "HEAD", "/big.bin")));
    expect(ex.calls).toEqual(["startResponse", "end"]);
    expect(ex.declaredLength).toBe(big.length);
    expect(ex.writes).toBe(0);
    expect(closed).toEqual(opened);
  });

  test("HEAD ignores Range (defined for GET only)", () => {
    const ex = run("HEAD", "/digits.txt", [["Range", "bytes=0-1"]]);
    expect(ex.status).toBe(200);
    expect(ex.header("Content-Range")).toBeUndefined();
  });
});

describe("conditional requests", () => {
  const validators = () => {
    const ex = run("GET", "/hello.txt");
    return { etag: ex.header("ETag")!, lm: ex.header("Last-Modified")! };
  };

  test("304 carries ETag and Last-Modified and no body", () => {
    const { etag, lm } = validators();
    for (const h of [
      [["If-None-Match", etag]],
      [["If-None-Match", `"nope", W/${etag}`]],
      [["If-None-Match", "*"]],
      [["If-Modified-Since", lm]],
    ] as [string, string][][]) {
      for (const m of ["GET", "HEAD"]) {
        const ex = run(m, "/hello.txt", h);
        expect(ex.status).toBe(304);
        expect(ex.calls).toEqual(["respond"]);
        expect(ex.header("ETag")).toBe(etag);
        expect(ex.header("Last-Modified")).toBe(lm);
        expect(ex.header("Content-Type")).toBeUndefined();
        expect(ex.body.length).toBe(0);
      }
    }
  });

  test("304 for a large (streamed) file closes the fd", () => {
    const etag = runToEnd(new FakeExchange(config, "GET", "/big.bin")).header("ETag")!;
    const { ex, opened, closed } = withFdSpies(() => run("GET", "/big.bin", [["If-None-Match", etag]]));
    expect(ex.status).toBe(304);
    expect(closed).toEqual(opened);
  });

  test.each([
    [[["If-None-Match", '"other"']], 200],
    [[["If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"]], 200],
    [[["If-Modified-Since", "garbage"]], 200],
    [[["If-Match", '"other"']], 412],
    [[["If-Match", "*"]], 200],
    [[["If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"]], 412],
    [[["If-None-Match", '"other"'], ["If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"]], 200],
  ] as [[string, string][], number][])("%j → %p", (h, status) => {
    const ex = run("GET", "/hello.txt", h);
    expect(ex.status).toBe(status);
    if (status === 412) expect(ex.errorCode).toBe("PRECONDITION_FAILED");
  });

  test("If-Match with the current ETag passes; a 412 beats a Range", () => {
    const { etag } = validators();
    expect(run("GET", "/hello.txt", [["If-Match", etag]]).status).toBe(200);
    expect(run("GET", "/hello.txt", [["If-Match", '"x"'], ["Range", "bytes=0-1"]]).status).toBe(412);
  });

  test("If-Range: a match honours Range, a mismatch sends the whole file", () => {
    const v = run("GET", "/digits.txt");
    const etag = v.header("ETag")!;
    const lm = v.header("Last-Modified")!;
    for (const [ifRange, status] of [
      [etag, 206],
      [lm, 206],
      ['"stale"', 200],
      ["W/" + etag, 200],
      ["Thu, 01 Jan 1970 00:00:00 GMT", 200],
      ["nonsense", 200],
    ] as [string, number][]) {
      const ex = run("GET", "/digits.txt", [["Range", "bytes=0-3"], ["If-Range", ifRange]]);
      expect(ex.status).toBe(status);
      expect(ex.text).toBe(status === 206 ? "0123" : "0123456789abcdefghij");
    }
  });
});

describe("ranges", () => {
  test.each([
    ["bytes=0-3", 206, "0123", "bytes 0-3/20"],
    ["bytes=10-", 206, "abcdefghij", "bytes 10-19/20"],
    ["bytes=-5", 206, "fghij", "bytes 15-19/20"],
    ["bytes=5-1000", 206, "56789abcdefghij", "bytes 5-19/20"],
    ["bytes=0-4,5-9", 206, "0123456789", "bytes 0-9/20"], // coalesced into one part
    ["bytes=20-", 416, "", "bytes */20"],
    ["bytes=-0", 416, "", "bytes */20"],
    ["bytes=5-1", 200, "0123456789abcdefghij", undefined], // invalid → ignored
    ["items=0-1", 200, "0123456789abcdefghij", undefined],
    ["bytes=0-,0-", 200, "0123456789abcdefghij", undefined], // amplification guard
  ])("Range %p → %p", (range, status, body, cr) => {
    const ex = run("GET", "/digits.txt", [["Range", range]]);
    expect(ex.status).toBe(status);
    expect(ex.header("Content-Range")).toBe(cr);
    if (status === 416) expect(ex.errorCode).toBe("RANGE_NOT_SATISFIABLE");
    else expect(ex.text).toBe(body);
    if (status === 206) {
      expect(ex.header("Content-Type")).toBe("text/plain; charset=utf-8");
      expect(ex.header("ETag")).toBeDefined();
    }
  });

  test("two Range fields are ignored", () => {
    const ex = run("GET", "/digits.txt", [["Range", "bytes=0-1"], ["Range", "bytes=2-3"]]);
    expect(ex.status).toBe(200);
  });

  test("empty file: 0- is 416, a suffix is a plain 200", () => {
    expect(run("GET", "/empty.txt", [["Range", "bytes=0-"]]).status).toBe(416);
    expect(run("GET", "/empty.txt", [["Range", "bytes=0-"]]).header("Content-Range")).toBe("bytes */0");
    expect(run("GET", "/empty.txt", [["Range", "bytes=-5"]]).status).toBe(200);
  });

  test("multipart/byteranges from a cached file", () => {
    const ex = run("GET", "/digits.txt", [["Range", "bytes=0-1, 10-12"]]);
    expect(ex.status).toBe(206);
    checkMultipart(ex, Buffer.from("0123456789abcdefghij"), [
      [0, 1],
      [10, 12],
    ]);
  });

  test("large file: single range and multipart are streamed correctly", () => {
    const r1 = withFdSpies(() =>
      runToEnd(new FakeExchange(config, "GET", "/big.bin", [["Range", "bytes=100000-300000"]])),
    );
    expect(r1.ex.status).toBe(206);
    expect(r1.ex.header("Content-Range")).toBe(`bytes 100000-300000/${big.length}`);
    expect(r1.ex.declaredLength).toBe(200001);
    expect(r1.ex.body.equals(big.subarray(100000, 300001))).toBe(true);
    expect(r1.closed).toEqual(r1.opened);

    const r2 = withFdSpies(() =>
      runToEnd(new FakeExchange(config, "GET", "/big.bin", [["Range", "bytes=-10,0-70000,500000-600000"]])),
    );
    expect(r2.ex.status).toBe(206);
    checkMultipart(r2.ex, big, [
      [big.length - 10, big.length - 1],
      [0, 70000],
      [500000, 600000],
    ]);
    expect(r2.closed).toEqual(r2.opened);
  });
});

describe("freshness", () => {
  test("a file rewritten with the same size and a new mtime is served fresh", () => {
    const p = write("fresh.txt", "version-1");
    expect(run("GET", "/fresh.txt").text).toBe("version-1");
    expect(run("GET", "/fresh.txt").text).toBe("version-1"); // cached
    const etag1 = run("GET", "/fresh.txt").header("ETag");
    fs.writeFileSync(p, "version-2");
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(p, t, t);
    const ex = run("GET", "/fresh.txt");
    expect(ex.text).toBe("version-2");
    expect(ex.header("ETag")).not.toBe(etag1);
  });

  test("same size and mtime restored: ctime still changes, so the rewrite is seen", () => {
    const p = write("sneaky.txt", "aaaa");
    fs.utimesSync(p, 1_600_000_000, 1_600_000_000); // whole seconds: restorable exactly
    expect(run("GET", "/sneaky.txt").text).toBe("aaaa");
    const etag = run("GET", "/sneaky.txt").header("ETag");
    Bun.sleepSync(20);
    fs.writeFileSync(p, "bbbb");
    fs.utimesSync(p, 1_600_000_000, 1_600_000_000);
    expect(fs.statSync(p).mtimeMs).toBe(1_600_000_000_000);
    const ex = run("GET", "/sneaky.txt");
    expect(ex.text).toBe("bbbb");
    // The validator cannot tell (documented limit of stat-based ETags), but the bytes are fresh.
    expect(ex.header("ETag")).toBe(etag);
  });

  test("one batch: hits wait for the shared check, which follows every queued request (causal freshness)", () => {
    const p = write("batch.txt", "before");
    expect(run("GET", "/batch.txt").text).toBe("before"); // cached
    // Two requests read in one event-loop batch, the file changed between them: the second was
    // sent after the change, so it must see it. Nothing is answered before the batch's check.
    const a = new FakeExchange(config, "GET", "/batch.txt", []);
    handler(a);
    expect(a.status).toBe(0);
    fs.writeFileSync(p, "after!");
    const b = new FakeExchange(config, "GET", "/batch.txt", []);
    handler(b);
    expect(b.status).toBe(0);
    drainFreshnessBatches();
    expect(b.text).toBe("after!");
    expect(a.text).toBe("after!"); // concurrent with the change: either version would be right
  });

  test("a batch is answered by setImmediate without any help", async () => {
    write("later.txt", "x");
    run("GET", "/later.txt");
    const a = new FakeExchange(config, "GET", "/later.txt", []);
    handler(a);
    expect(a.status).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(a.status).toBe(200);
    expect(a.text).toBe("x");
  });

  test("a file rewritten with a different size is served fresh", () => {
    const p = write("grow.txt", "short");
    expect(run("GET", "/grow.txt").text).toBe("short");
    fs.writeFileSync(p, "a much longer content");
    const ex = run("GET", "/grow.txt");
    expect(ex.text).toBe("a much longer content");
    expect(ex.declaredLength).toBe(21);
  });

  test("a file replaced by rename is served fresh; a deleted one is 404", () => {
    write("swap.txt", "old");
    expect(run("GET", "/swap.txt").text).toBe("old");
    write("swap.tmp", "new");
    fs.renameSync(path.join(root, "swap.tmp"), path.join(root, "swap.txt"));
    expect(run("GET", "/swap.txt").text).toBe("new");
    fs.unlinkSync(path.join(root, "swap.txt"));
    expect(run("GET", "/swap.txt").status).toBe(404);
  });

  test("a small file that grows past the cache limit is streamed", () => {
    const p = write("grows-big.bin", "tiny");
    expect(run("GET", "/grows-big.bin").text).toBe("tiny");
    fs.writeFileSync(p, big);
    const ex = runToEnd(new FakeExchange(config, "GET", "/grows-big.bin"));
    expect(ex.calls[0]).toBe("startResponse");
    expect(ex.body.equals(big)).toBe(true);
  });

  test("with the cache disabled files are still served", () => {
    const cfg = defaultStaticConfig({ root, fileCacheMaxBytes: 0 });
    const h = createStaticHandler(cfg);
    expect(run("GET", "/hello.txt", [], h, cfg).text).toBe("hello world\n");
    expect(run("GET", "/hello.txt", [], h, cfg).text).toBe("hello world\n");
  });
});

describe("large file streaming", () => {
  test("backpressure: writes stop at false and resume on onDrain; bytes identical; fd closed", () => {
    const { ex, opened, closed } = withFdSpies(() => {
      const ex = new FakeExchange(config, "GET", "/big.bin");
      let drains = 0;
      ex.writeResult = (n) => n % 3 === 0; // every third write "fills the queue"
      handler(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      expect(ex.calls).toEqual(["startResponse"]);
      while (!ex.ended) {
        const before = ex.writes;
        expect(ex.onDrain).not.toBeNull();
        ex.onDrain!();
        drains++;
        // After a false, nothing more is written until the next onDrain.
        expect(ex.writes - before).toBeLessThanOrEqual(3);
      }
      expect(drains).toBeGreaterThan(3);
      return ex;
    });
    expect(ex.status).toBe(200);
    expect(ex.declaredLength).toBe(big.length);
    expect(ex.calls.at(-1)).toBe("end");
    for (const c of ex.chunks) expect(c.length).toBeLessThanOrEqual(STREAM_CHUNK);
    // Chunks were kept by reference: identical bytes prove no queued buffer was reused.
    expect(ex.body.equals(big)).toBe(true);
    expect(opened.length).toBe(1);
    expect(closed).toEqual(opened);
    expect(ex.onDrain).toBeNull();
    expect(ex.onAbort).toBeNull();
  });

  test("a write queue that never refuses streams everything in one go", () => {
    const ex = run("GET", "/big.bin");
    expect(ex.ended).toBe(true);
    expect(ex.body.equals(big)).toBe(true);
  });

  test("client abort mid-stream closes the fd and stops reading", () => {
    const { ex, opened, closed } = withFdSpies(() => {
      const ex = new FakeExchange(config, "GET", "/big.bin");
      ex.writeResult = () => false;
      handler(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      expect(ex.writes).toBe(1);
      ex.onDrain!();
      expect(ex.writes).toBe(2);
      ex.onAbort!();
      return ex;
    });
    expect(closed).toEqual(opened);
    expect(ex.ended).toBe(false);
    expect(ex.onDrain).toBeNull();
    expect(ex.onAbort).toBeNull();
  });

  test("a file truncated mid-stream aborts the connection and closes the fd", () => {
    const p = write("shrinks.bin", big);
    runToEnd(new FakeExchange(config, "GET", "/shrinks.bin"));
    const { ex, opened, closed } = withFdSpies(() => {
      const ex = new FakeExchange(config, "GET", "/shrinks.bin");
      ex.writeResult = () => false;
      handler(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      fs.truncateSync(p, STREAM_CHUNK + 100_000); // after the first chunk was read
      while (!ex.ended && ex.abortedWith === null) ex.onDrain!();
      return ex;
    });
    expect(ex.abortedWith).toBe("FILE_TRUNCATED");
    expect(ex.ended).toBe(false);
    expect(ex.body.equals(big.subarray(0, STREAM_CHUNK + 100_000))).toBe(true);
    expect(closed).toEqual(opened);
  });

  test("no fd leaks across many streamed requests", () => {
    const before = fs.readdirSync("/proc/self/fd").length;
    for (let i = 0; i < 50; i++) {
      const ex = new FakeExchange(config, "GET", "/big.bin", [["Range", "bytes=0-10"]]);
      runToEnd(ex);
    }
    for (let i = 0; i < 20; i++) {
      const ex = new FakeExchange(config, "GET", "/big.bin");
      ex.writeResult = () => false;
      handler(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      ex.onAbort!();
    }
    expect(fs.readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(before);
  });
});

// ---- helpers -------------------------------------------------------------------------------

function withFdSpies<T>(fn: () => T): { ex: T; opened: number[]; closed: number[] } {
  const opened: number[] = [];
  const closed: number[] = [];
  const origOpen = fs.openSync;
  const origClose = fs.closeSync;
  const openSpy = spyOn(fs, "openSync").mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
    const fd = origOpen(...args);
    opened.push(fd);
    return fd;
  }) as typeof fs.openSync);
  const closeSpy = spyOn(fs, "closeSync").mockImplementation((fd: number) => {
    closed.push(fd);
    origClose(fd);
  });
  try {
    return { ex: fn(), opened, closed };
  } finally {
    openSpy.mockRestore();
    closeSpy.mockRestore();
  }
}

function checkMultipart(ex: FakeExchange, file: Buffer, ranges: [number, number][]): void {
  const ct = ex.header("Content-Type")!;
  const m = /^multipart\/byteranges; boundary=([0-9a-f]+)$/.exec(ct);
  expect(m).not.toBeNull();
  const boundary = m![1]!;
  expect(ex.header("Content-Range")).toBeUndefined();
  const body = ex.body;
  expect(ex.declaredLength).toBe(body.length);
  let off = 0;
  const expectText = (s: string) => {
    expect(body.subarray(off, off + s.length).toString("latin1")).toBe(s);
    off += s.length;
  };
  for (const [a, b] of ranges) {
    expectText(`\r\n--${boundary}\r\n`);
    expectText(`Content-Type: application/octet-stream\r\n`.replace("application/octet-stream", partType(ex)));
    expectText(`Content-Range: bytes ${a}-${b}/${file.length}\r\n\r\n`);
    expect(body.subarray(off, off + b - a + 1).equals(file.subarray(a, b + 1))).toBe(true);
    off += b - a + 1;
  }
  expectText(`\r\n--${boundary}--\r\n`);
  expect(off).toBe(body.length);
}

function partType(ex: FakeExchange): string {
  return ex.head.path.endsWith(".txt") ? "text/plain; charset=utf-8" : "application/octet-stream";
}


describe("fast freshness check (statx via FFI)", () => {
  test("is active on Linux and agrees with fs.statSync", async () => {
    const { unchanged } = await import("../../src/static/fast-stat.ts");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-fast-stat-"));
    const p = path.join(dir, "f.txt");
    fs.writeFileSync(p, "one");
    const st = fs.statSync(p);
    const c = Buffer.from(p + "\0");
    if (process.platform === "linux") expect(fastStatAvailable()).toBe(true);
    expect(unchanged(c, p, st)).toBe(true);
    fs.writeFileSync(p, "two"); // same size, new mtime/ctime
    const st2 = fs.statSync(p);
    if (st2.mtimeMs !== st.mtimeMs || st2.ctimeMs !== st.ctimeMs) expect(unchanged(c, p, st)).toBe(false);
    expect(unchanged(c, p, st2)).toBe(true);
    fs.writeFileSync(p, "three"); // different size
    expect(unchanged(c, p, st2)).toBe(false);
    fs.rmSync(p);
    expect(unchanged(c, p, st2)).toBe(false);
    fs.mkdirSync(p);
    expect(unchanged(c, p, st2)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("--cache-validity", () => {
  test("0 (default) re-checks every request; a window serves the cached copy until it expires", async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ds-validity-")));
    const p = path.join(dir, "v.txt");
    fs.writeFileSync(p, "version-1");
    const strict = createStaticHandler(defaultStaticConfig({ root: dir }));
    const windowed = createStaticHandler(defaultStaticConfig({ root: dir, fileCacheValidityMs: 300 }));
    const body = (h: Handler) => {
      const ex = new FakeExchange(defaultConfig(), "GET", "/v.txt");
      h(ex);
      drainFreshnessBatches(); // cache hits are answered after the batch (freshness-batch.ts)
      return ex.text;
    };
    expect(body(strict)).toBe("version-1");
    expect(body(windowed)).toBe("version-1");
    fs.writeFileSync(p, "version-2-longer");
    expect(body(strict)).toBe("version-2-longer");
    expect(body(windowed)).toBe("version-1"); // inside the window: trusted, as documented
    await Bun.sleep(350);
    expect(body(windowed)).toBe("version-2-longer");
    fs.rmSync(dir, { recursive: true });
  });
});
