/**
 * The proxy's JavaScript cost per request, without the kernel: the real server (src/main.ts,
 * `--proxy`, access log on) runs in this process with Bun.listen and Bun.connect replaced by
 * in-memory sockets. N clients send wrk's request, a fake backend answers every upstream request
 * with the bench backend's 19-byte response, and each client sends its next request when its
 * answer is complete. Data is delivered in setImmediate batches, as the event loop would.
 *
 *   bun scripts/bench/proxy-inprocess.ts [--secs 8] [--conns 50] [--static] [--file-size 4096]
 *                                        [--config FILE] [--cacheable]
 *   bun --cpu-prof --cpu-prof-dir=DIR scripts/bench/proxy-inprocess.ts     (a JS-only profile)
 *
 * Prints requests per second of CPU and µs of CPU per request (user + system of this process:
 * only the JS, the GC and the access-log writes, no socket syscalls). A socket profile of the real
 * server attributes most samples to the native write() call; this one shows where the JS goes.
 * `--static` serves a 4 KiB file instead (GET /index.html from a temp root). `--config FILE` runs
 * a config file instead of the flags, with the placeholders of scripts/bench/realistic-*.toml
 * filled in (PORT, ADMIN, ROOT, LOG, BACKEND): e.g. the realistic config against the plain one.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const SECS = Number(opt("--secs", "8"));
const CONNS = Number(opt("--conns", "50"));
const STATIC = args.includes("--static");
const CONFIG = opt("--config", "");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ds-inproc-"));
fs.writeFileSync(path.join(tmp, "index.html"), "x".repeat(Number(opt("--file-size", "4096"))));
const REQUEST = Buffer.from(STATIC ? "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n\r\n" : "GET / HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n\r\n");
const BACKEND_RESPONSE = Buffer.from(
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\nDate: ${new Date().toUTCString()}\r\n` +
    (args.includes("--cacheable") ? "Cache-Control: max-age=3600\r\n" : "") +
    "Content-Length: 19\r\n\r\nhello from backend\n",
);

type Handlers = Record<string, ((s: FakeSocket, ...a: any[]) => unknown) | undefined>;
const pending: (() => void)[] = [];
let scheduled = false;
function later(f: () => void): void {
  pending.push(f);
  if (!scheduled) {
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = pending.splice(0);
      for (const g of batch) g();
    });
  }
}

class FakeSocket {
  data: unknown = undefined;
  remoteAddress = "127.0.0.1";
  remotePort = 40000;
  localPort = 18090;
  alpnProtocol: string | false = false;
  closed = false;
  /** Called once the socket has closed (a client reconnects: the server ends a connection after max_requests). */
  onClosed: (() => void) | null = null;
  constructor(
    readonly handlers: Handlers,
    readonly onWrite: (b: Uint8Array) => void,
  ) {}
  write(b: Uint8Array | string, byteOffset?: number, byteLength?: number): number {
    if (this.closed) return -1;
    const bytes = typeof b === "string" ? Buffer.from(b, "latin1") : byteOffset === undefined ? b : b.subarray(byteOffset, byteOffset + byteLength!);
    this.onWrite(bytes);
    return bytes.byteLength;
  }
  end(): void {
    this.close();
  }
  terminate(): void {
    this.close();
  }
  shutdown(): void {}
  close(): void {
    if (this.closed) return;
    this.closed = true;
    later(() => {
      this.handlers.close?.(this);
      this.onClosed?.();
    });
  }
  pause(): void {}
  resume(): void {}
  ref(): void {}
  unref(): void {}
  setNoDelay(): boolean {
    return true;
  }
  setKeepAlive(): boolean {
    return true;
  }
  timeout(): void {}
  flush(): void {}
  cork(f: () => void): void {
    f();
  }
  getServername(): undefined {
    return undefined;
  }
}

const listeners: { hostname: string; port: number; socket: Handlers }[] = [];
(Bun as any).listen = (o: { hostname: string; port: number; socket: Handlers }) => {
  listeners.push(o);
  return { hostname: o.hostname, port: o.port === 0 ? 19000 + listeners.length : o.port, stop() {}, ref() {}, unref() {}, reload() {} };
};
(Bun as any).connect = (o: { socket: Handlers }) => {
  // The fake backend: answers each complete request head (GET, no body) with BACKEND_RESPONSE.
  let seen = 0;
  const s: FakeSocket = new FakeSocket(o.socket, (b) => {
    for (let i = 0; i < b.length; i++) {
      // count "\r\n\r\n" ends
      if (b[i] === 10 && i >= 3 ? b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13 : false) seen++;
    }
    while (seen > 0) {
      seen--;
      later(() => o.socket.data?.(s, BACKEND_RESPONSE));
    }
  });
  s.localPort = 50000;
  s.remotePort = 18091;
  later(() => o.socket.open?.(s));
  return Promise.resolve(s);
};

if (CONFIG !== "") {
  const text = fs
    .readFileSync(CONFIG, "utf8")
    .replaceAll("PORT", "18090")
    .replaceAll("ADMIN", "18099")
    .replaceAll("ROOT", tmp)
    .replaceAll("LOG", path.join(tmp, "access.log"))
    .replaceAll("BACKEND", "http://127.0.0.1:18091")
    .replace(/workers = "auto"/, "workers = 1");
  fs.writeFileSync(path.join(tmp, "config.toml"), text);
}
// Set, so the server does not re-execute this harness (src/net/allocator-tuning.ts); it has no
// effect on this already-running allocator.
process.env.MIMALLOC_PURGE_DELAY ??= "-1";
process.argv =
  CONFIG !== ""
    ? [process.argv[0]!, "main.ts", "--config", path.join(tmp, "config.toml")]
    : [
        process.argv[0]!,
        "main.ts",
        "--listen",
        "127.0.0.1:18090",
        ...(STATIC ? ["--root", tmp] : ["--proxy", "http://127.0.0.1:18091"]),
        "--access-log",
        path.join(tmp, "access.log"),
        "--workers",
        "1",
      ];
await import("../../src/main.ts");
await Bun.sleep(200);
const site = listeners.find((l) => l.port === 18090);
if (!site) throw new Error("the server did not listen on 127.0.0.1:18090");

let done = 0;
/** Response sizes by their first bytes' length: every answer of one run has the same head, bar the first. */
function responseLength(b: Uint8Array, from: number): number {
  const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const h = view.indexOf(CRLFCRLF, from);
  if (h < 0) return -1;
  const m = /content-length: (\d+)/i.exec(view.toString("latin1", from, h));
  if (!m) throw new Error(`no Content-Length in ${view.toString("latin1", from, h)}`);
  return h + 4 - from + Number(m[1]);
}
const CRLFCRLF = Buffer.from("\r\n\r\n");
function client(n: number): void {
  let need = 0; // bytes still to come of the current response
  const s: FakeSocket = new FakeSocket(site!.socket, (b) => {
    if (process.env.DEBUG) console.log("client got", b.byteLength, JSON.stringify(Buffer.from(b).toString("latin1").slice(0, 80)));
    // The server writes whole responses (one corked write per batch), so a response starts at a write's start.
    let off = 0;
    while (off < b.byteLength) {
      if (need === 0) {
        need = responseLength(b, off);
        if (need < 0) throw new Error("a response head split across writes");
      }
      const take = Math.min(need, b.byteLength - off);
      need -= take;
      off += take;
      if (need === 0) {
        done++;
        later(() => site!.socket.data?.(s, REQUEST));
      }
    }
  });
  s.remotePort = 40000 + n;
  s.onClosed = () => client(n);
  later(() => {
    site!.socket.open?.(s);
    later(() => site!.socket.data?.(s, REQUEST));
  });
}
for (let i = 0; i < CONNS; i++) client(i);

const cpu0 = process.cpuUsage();
await Bun.sleep(1000); // warm-up
if (args.includes("--objects")) await objectsPerRequest();
const d0 = done;
const c0 = process.cpuUsage(cpu0);
const t0 = performance.now();
await Bun.sleep(SECS * 1000);
const c1 = process.cpuUsage(cpu0);
const n = done - d0;
const cpuUs = c1.user - c0.user + (c1.system - c0.system);
const wall = (performance.now() - t0) / 1000;
console.log(
  `${STATIC ? "static 4 KiB" : "proxy"}: ${n} requests in ${wall.toFixed(1)} s, ${(cpuUs / n).toFixed(2)} µs CPU per request ` +
    `(user ${((c1.user - c0.user) / n).toFixed(2)}, system ${((c1.system - c0.system) / n).toFixed(2)}), ${Math.round(n / wall)} req/s`,
);
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(0);

/**
 * `--objects`: JS heap cells allocated per request, by type. A full collection, then the live
 * cell counts, a short window of requests, and the counts again: cells allocated since the last
 * collection count as live until the next one, so the difference is what the window allocated,
 * provided no collection ran inside it. Run with BUN_JSC_largeHeapSize=1000000000 and
 * BUN_GC_TIMER_DISABLE=1 so none does (checked: the heap size must not shrink).
 */
async function objectsPerRequest(): Promise<void> {
  const jsc = await import("bun:jsc");
  jsc.fullGC();
  const before = jsc.heapStats();
  const d = done;
  await Bun.sleep(Number(opt("--window-ms", "40")));
  const after = jsc.heapStats();
  const reqs = done - d;
  if (after.heapSize < before.heapSize) console.log("a collection ran inside the window: the counts below are too low");
  const rows: [string, number][] = [];
  for (const [type, count] of Object.entries(after.objectTypeCounts)) {
    const diff = count - (before.objectTypeCounts[type] ?? 0);
    if (diff > 0) rows.push([type, diff / reqs]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, r) => s + r[1], 0);
  console.log(`${reqs} requests; ${total.toFixed(1)} cells per request, heap +${((after.heapSize - before.heapSize) / reqs).toFixed(0)} bytes per request`);
  for (const [type, per] of rows.slice(0, 30)) console.log(`  ${per.toFixed(2).padStart(7)}  ${type}`);
}
