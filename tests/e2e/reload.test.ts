/**
 * SIGHUP hot reload (issue 8, "Done means"): reload under continuous load from several clients
 * (keep-alive and a new connection per request) loses nothing and every answer comes from a
 * config that was live at that moment; a streamed response and an open WebSocket tunnel survive
 * reloads; an invalid file keeps the old config serving; added / removed listen addresses;
 * upstream pools of the replaced runtime close; --workers 2 reloads every worker on one SIGHUP.
 *
 * The server runs with --config FILE; the test rewrites FILE and sends SIGHUP, and synchronises
 * on the "configuration reloaded" / "reload refused" lines on stderr (never on sleeps). Configs
 * answer distinguishably ("A" / "B"): a respond route, a static route from two roots and a proxy
 * route with a response_headers rule X-Config.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import path from "node:path";
import { command, tmpDir } from "./harness.ts";
import { tryConnect } from "./core-helpers.ts";
import { expectServerCloses } from "./lifetime.ts";
import { Client, deferred, type Deferred, okResponse, rawBackend, serveEach, within, type BackendConn, type Message, type RawBackend, closedPort } from "./proxy-backends.ts";

setDefaultTimeout(30_000);

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---- a server started with --config, with timestamped stderr lines --------------------------

interface Line {
  /** performance.now() in this process when the line arrived. */
  t: number;
  text: string;
}

class ConfigServer {
  readonly lines: Line[] = [];
  private partial = "";
  private waiters: (() => void)[] = [];
  private readDone: Promise<void>;
  private constructor(readonly proc: Subprocess<"ignore", "pipe", "pipe">) {
    const decoder = new TextDecoder();
    this.readDone = (async () => {
      for await (const chunk of proc.stderr) {
        const now = performance.now();
        const parts = (this.partial + decoder.decode(chunk)).split("\n");
        this.partial = parts.pop()!;
        for (const text of parts) this.lines.push({ t: now, text });
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    })().catch(() => {});
    // stdout is not used; drain it so the pipe never fills.
    void new Response(proc.stdout).text().catch(() => {});
  }

  static async start(configFile: string, args: string[] = []): Promise<ConfigServer> {
    const proc = spawn(command(["--config", configFile, ...args]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const s = new ConfigServer(proc);
    await s.waitLines(/listening on http:\/\//, 1, 15_000);
    return s;
  }

  get stderr(): string {
    return this.lines.map((l) => l.text).join("\n");
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l.text)).length;
  }

  /** Wait until `n` lines match `re`; returns the arrival time of the n-th. */
  async waitLines(re: RegExp, n: number, ms = 10_000): Promise<number> {
    const deadline = performance.now() + ms;
    for (;;) {
      const hits = this.lines.filter((l) => re.test(l.text));
      if (hits.length >= n) return hits[n - 1]!.t;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`server exited (${this.proc.exitCode ?? this.proc.signalCode}) while waiting for ${n}× ${re}; stderr:\n${this.stderr}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${n}× ${re} (have ${hits.length}); stderr:\n${this.stderr}`);
      await within(new Promise<void>((r) => this.waiters.push(r)), left, String(re)).catch(() => {});
    }
  }

  /** SIGTERM, wait for the exit (SIGKILL after 15 s) and for stderr to be read to its end. */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    const code = await this.proc.exited;
    clearTimeout(killer);
    await Promise.race([this.readDone, Bun.sleep(3000)]);
    return code;
  }
}

// ---- configs --------------------------------------------------------------------------------

interface Cfg {
  /** "A" or "B": what the respond route says, which root the static route serves, the proxy route's X-Config. */
  name: "A" | "B";
  ports: number[];
  backend: number;
  ws: number;
  roots: Record<"A" | "B", string>;
  /** Break the file: a TOML syntax error, or a static root that does not exist. */
  broken?: "syntax" | "missing-root";
}

function configText(c: Cfg): string {
  const root = c.broken === "missing-root" ? path.join(c.roots[c.name], "does-not-exist") : c.roots[c.name];
  let t = `# config ${c.name}
[[site]]
listen = [${c.ports.map((p) => `"127.0.0.1:${p}"`).join(", ")}]

  [[site.route]]
  path = "=/r"
  respond = { status = 200, body = "${c.name}", headers = { "X-Config" = "${c.name}", "Content-Type" = "text/plain" } }

  [[site.route]]
  path = "/s/"
  strip_prefix = "/s"
  static = { root = ${JSON.stringify(root)} }

  [[site.route]]
  path = "/ws"
  proxy = { to = ["http://127.0.0.1:${c.ws}"] }

  [[site.route]]
  path = "/p/"
  proxy = { to = ["http://127.0.0.1:${c.backend}"] }
  response_headers = { set = { "X-Config" = "${c.name}" } }
`;
  if (c.broken === "syntax") t += `\n[[site.route\npath = "/x"\n`;
  return t;
}

/** Which config answered: the respond body, the static file's content, or the proxy's X-Config. */
function answeredBy(target: string, res: Message): string {
  if (res.status !== 200) throw new Error(`${target}: status ${res.status} ${JSON.stringify(res.body.subarray(0, 200).toString())}`);
  const body = res.body.toString();
  if (target === "/r") {
    if (body !== res.header("x-config")) throw new Error(`/r: body ${body} but X-Config ${res.header("x-config")}`);
    return body;
  }
  if (target.startsWith("/s/")) return body;
  if (body !== `p:${target}`) throw new Error(`${target}: backend body ${JSON.stringify(body)}`);
  return res.header("x-config") ?? "(none)";
}

// ---- one reloadable server shared by the tests of the describe block --------------------------

interface Epoch {
  cfg: string;
  /** SIGHUP sent (the swap happens after this)… */
  sentAt: number;
  /** …and its "configuration reloaded" line seen (the swap happened before this). */
  seenAt: number;
}

class Reloadable {
  /** Config i is live at the earliest from epochs[i].sentAt and at the latest until epochs[i+1].seenAt. */
  readonly epochs: Epoch[] = [];
  private reloaded = 0;
  private refused = 0;
  constructor(
    readonly srv: ConfigServer,
    readonly file: string,
    first: Cfg,
    /** "configuration reloaded" lines per successful reload (one per worker). */
    private readonly perReload = 1,
  ) {
    this.epochs.push({ cfg: first.name, sentAt: -Infinity, seenAt: -Infinity });
  }

  /** The config live now. */
  get current(): "A" | "B" {
    return this.epochs.at(-1)!.cfg as "A" | "B";
  }

  /** Rewrite the file, SIGHUP, wait for the reload line(s). */
  async apply(c: Cfg): Promise<Epoch> {
    fs.writeFileSync(this.file + ".tmp", configText(c));
    fs.renameSync(this.file + ".tmp", this.file);
    const sentAt = performance.now();
    this.srv.proc.kill("SIGHUP");
    this.reloaded += this.perReload;
    const seenAt = await this.srv.waitLines(/configuration reloaded from /, this.reloaded);
    const e = { cfg: c.name, sentAt, seenAt };
    this.epochs.push(e);
    return e;
  }

  /** Write a broken file, SIGHUP, wait for "reload refused". */
  async refuse(c: Cfg): Promise<void> {
    fs.writeFileSync(this.file, configText(c));
    this.srv.proc.kill("SIGHUP");
    await this.srv.waitLines(/reload refused; still serving the previous configuration/, ++this.refused);
  }

  /** Was config `cfg` live at some moment between send and receive? */
  liveDuring(cfg: string, sentAt: number, recvAt: number): boolean {
    return this.epochs.some((e, i) => e.cfg === cfg && recvAt >= e.sentAt && sentAt <= (this.epochs[i + 1]?.seenAt ?? Infinity));
  }
}

// ---- backends -------------------------------------------------------------------------------

/** Responses the clients must collect after each reload before the next one (the load between reloads). */
const RESPONSES_PER_RELOAD = 80;
const STREAM_CHUNKS = 10;
const streamBody = Array.from({ length: STREAM_CHUNKS }, (_, i) => `chunk-${i}-${"x".repeat(100)}\n`).join("");

/**
 * The main backend: /p/stream streams its body over ~1 s (the second half only once
 * `streamGate` is open, so the reloads surely fall inside it), /p/hold answers when released,
 * anything else "p:TARGET".
 */
function mainBackend(hold: { arrived: Deferred; release: Deferred }, streamGate: Deferred): RawBackend {
  return rawBackend(async (c: BackendConn) => {
    for (;;) {
      let req: Message;
      try {
        req = await c.readRequest(60_000);
      } catch {
        return; // the proxy closed the connection
      }
      if (req.target === "/p/stream") {
        await c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (let i = 0; i < STREAM_CHUNKS; i++) {
          if (i === STREAM_CHUNKS / 2) await streamGate.promise;
          const chunk = `chunk-${i}-${"x".repeat(100)}\n`;
          await c.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          await Bun.sleep(100); // the scenario: a slow body, ~1 s in all
        }
        await c.write("0\r\n\r\n");
        continue;
      }
      if (req.target === "/p/hold") {
        hold.arrived.resolve();
        await hold.release.promise;
        await c.write(okResponse("held", [["Content-Type", "text/plain"]]));
        continue;
      }
      await c.write(okResponse(`p:${req.target}`, [["Content-Type", "text/plain"]]));
    }
  });
}

/** A WebSocket-ish backend: 101 to the upgrade request, then echo every byte back. */
function wsBackend(): RawBackend {
  return rawBackend(async (c: BackendConn) => {
    const req = await c.readRequest();
    if (req.header("upgrade") !== "websocket") throw new Error(`ws backend: not an upgrade: ${req.startLine}`);
    await c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    for (;;) {
      const b = await c.readSome(60_000).catch(() => null);
      if (b === null || b.length === 0) {
        c.end(); // the proxy half-closed the tunnel: close our side too, or it waits for us
        return;
      }
      await c.write(b);
    }
  });
}

const UPGRADE = "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

async function getOnce(port: number, target: string): Promise<Message> {
  const c = await Client.connect(port);
  try {
    c.send(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    return await c.readResponse("GET", 5000);
  } finally {
    c.close();
  }
}

/** `n` requests, each on a new connection: the config names that answered. */
async function namesOnNewConnections(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const target = ["/r", "/s/f.txt", "/p/x"][i % 3]!;
    out.push(answeredBy(target, await getOnce(port, target)));
  }
  return out;
}

// ---- the tests ------------------------------------------------------------------------------

describe("SIGHUP reload, one process", () => {
  let dir: string;
  let file: string;
  let port: number;
  let srv: ConfigServer;
  let rl: Reloadable;
  let backend: RawBackend;
  let ws: RawBackend;
  const hold = { arrived: deferred(), release: deferred() };
  const streamGate = deferred();
  let base: Omit<Cfg, "name">;
  const cfg = (name: "A" | "B", extra: Partial<Cfg> = {}): Cfg => ({ ...base, name, ...extra });

  beforeAll(async () => {
    dir = tmpDir("ds-reload-");
    const roots = { A: path.join(dir, "rootA"), B: path.join(dir, "rootB") };
    for (const n of ["A", "B"] as const) {
      fs.mkdirSync(roots[n]);
      fs.writeFileSync(path.join(roots[n], "f.txt"), n);
    }
    backend = mainBackend(hold, streamGate);
    ws = wsBackend();
    port = await closedPort();
    base = { ports: [port], backend: backend.port, ws: ws.port, roots };
    file = path.join(dir, "dreamserver.toml");
    fs.writeFileSync(file, configText(cfg("A")));
    srv = await ConfigServer.start(file, ["--workers", "1", "--access-log", path.join(dir, "access.log")]);
    rl = new Reloadable(srv, file, cfg("A"));
  });

  afterAll(async () => {
    hold.release.resolve();
    streamGate.resolve();
    const code = await srv?.stop();
    backend?.stop();
    ws?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  test("20 reloads under continuous load: nothing lost, every answer from a config live at that moment", async () => {
    interface Rec {
      client: string;
      target: string;
      sentAt: number;
      recvAt: number;
      cfg: string;
    }
    const recs: Rec[] = [];
    const errors: string[] = [];
    let stop = false;
    let progress: (() => void)[] = [];
    const record = (r: Rec) => {
      recs.push(r);
      const w = progress;
      progress = [];
      for (const f of w) f();
    };
    const untilResponses = async (n: number) => {
      while (recs.length < n && errors.length === 0) await within(new Promise<void>((r) => progress.push(r)), 10_000, `${n} responses (have ${recs.length})`);
    };
    const targets = ["/r", "/s/f.txt", "/p/x"];
    let keepAliveConnections = 0;

    const keepAliveClient = async (id: number) => {
      let c: Client | null = null;
      for (let i = id; !stop; i++) {
        const target = targets[i % targets.length]!;
        try {
          if (c === null) {
            c = await Client.connect(port);
            keepAliveConnections++;
          }
          const sentAt = performance.now();
          c.send(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
          const res = await c.readResponse("GET", 5000);
          record({ client: `ka${id}`, target, sentAt, recvAt: performance.now(), cfg: answeredBy(target, res) });
          // max_requests_per_connection: the server says so, and we open a new one.
          if (res.header("connection")?.toLowerCase() === "close") {
            c.close();
            c = null;
          }
        } catch (e) {
          errors.push(`keep-alive client ${id}, ${target}: ${(e as Error).message}`);
          c?.close();
          c = null;
        }
      }
      c?.close();
    };
    const newConnClient = async (id: number) => {
      for (let i = id; !stop; i++) {
        const target = targets[i % targets.length]!;
        const sentAt = performance.now();
        try {
          const res = await getOnce(port, target);
          record({ client: `nc${id}`, target, sentAt, recvAt: performance.now(), cfg: answeredBy(target, res) });
        } catch (e) {
          errors.push(`new-connection client ${id}, ${target}: ${(e as Error).message}`);
        }
      }
    };

    const clients = [0, 1, 2, 3].map(keepAliveClient).concat([0, 1, 2, 3].map(newConnClient));
    const perReload: number[] = [];
    try {
      await untilResponses(RESPONSES_PER_RELOAD);
      for (let i = 1; i <= 20 && errors.length === 0; i++) {
        const before = recs.length;
        await rl.apply(cfg(i % 2 === 1 ? "B" : "A"));
        // Load keeps running on the new config before the next reload.
        await untilResponses(recs.length + RESPONSES_PER_RELOAD);
        perReload.push(recs.length - before);
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }

    expect(errors).toEqual([]);
    expect(srv.count(/configuration reloaded from /)).toBe(20);
    expect(rl.epochs.map((e) => e.cfg).join("")).toBe("ABABABABABABABABABABA");
    const wrong = recs.filter((r) => !rl.liveDuring(r.cfg, r.sentAt, r.recvAt));
    expect(wrong.map((r) => `${r.client} ${r.target} answered by ${r.cfg} (sent ${r.sentAt.toFixed(1)}, received ${r.recvAt.toFixed(1)})`)).toEqual([]);
    // Both configs answered on every kind of route, from both kinds of client.
    for (const t of targets) for (const n of ["A", "B"]) expect(recs.some((r) => r.target === t && r.cfg === n)).toBe(true);
    expect(recs.filter((r) => r.client.startsWith("ka")).length).toBeGreaterThan(5 * RESPONSES_PER_RELOAD);
    expect(recs.filter((r) => r.client.startsWith("nc")).length).toBeGreaterThan(5 * RESPONSES_PER_RELOAD);
    // The last config (A) is what answers now.
    expect(answeredBy("/r", await getOnce(port, "/r"))).toBe("A");
    console.log(
      `[reload] ${recs.length} responses during 20 reloads (${recs.filter((r) => r.client.startsWith("ka")).length} keep-alive on ${keepAliveConnections} connections, ` +
        `${recs.filter((r) => r.client.startsWith("nc")).length} on new connections), ${errors.length} errors; per reload: ${perReload.join(",")}`,
    );
  });

  test("a response streaming across two reloads completes intact, from the config it started on", async () => {
    const c = await Client.connect(port);
    try {
      c.send("GET /p/stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
      await c.waitUntil((u) => (u.includes("chunk-0-") ? true : null), "the first streamed chunk", 5000);
      await rl.apply(cfg("B"));
      await rl.apply(cfg("A"));
      // Both reloads happened while the body was still arriving.
      expect(c.unread().includes(`chunk-${STREAM_CHUNKS / 2}-`)).toBe(false);
      streamGate.resolve();
      const res = await c.readResponse("GET", 5000);
      expect(res.status).toBe(200);
      expect(res.header("x-config")).toBe("A");
      expect(res.body.toString()).toBe(streamBody);
      // The keep-alive connection then takes the current config.
      c.send("GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n");
      expect(answeredBy("/r", await c.readResponse())).toBe("A");
    } finally {
      c.close();
    }
  });

  test("an open WebSocket tunnel survives 5 reloads", async () => {
    const c = await Client.connect(port);
    try {
      c.send(UPGRADE);
      expect((await c.readResponse()).status).toBe(101);
      for (let i = 0; i <= 5; i++) {
        const msg = `message ${i} ${"m".repeat(i * 10)}`;
        c.send(msg);
        expect((await c.readBytes(msg.length)).toString()).toBe(msg);
        if (i < 5) await rl.apply(cfg(i % 2 === 0 ? "B" : "A"));
      }
      expect(c.closed).toBe(false);
      // Meanwhile new connections see the last config (B after 5 alternations from A).
      expect(answeredBy("/r", await getOnce(port, "/r"))).toBe("B");
    } finally {
      c.close();
    }
    await rl.apply(cfg("A"));
  });

  test("an invalid file (syntax or semantic error) is refused with FILE:LINE and the old config keeps serving; a fixed file reloads", async () => {
    const f = escapeRe(file);
    await rl.refuse(cfg("B", { broken: "syntax" }));
    expect(srv.stderr).toMatch(new RegExp(`${f}:\\d+: TOML syntax error`));
    expect(await namesOnNewConnections(port, 6)).toEqual(["A", "A", "A", "A", "A", "A"]);

    await rl.refuse(cfg("B", { broken: "missing-root" }));
    expect(srv.stderr).toMatch(new RegExp(`${f}:\\d+: site\\[0\\]\\.route\\[1\\]\\.static\\.root: `));
    expect(await namesOnNewConnections(port, 6)).toEqual(["A", "A", "A", "A", "A", "A"]);
    expect(srv.proc.exitCode).toBe(null);

    await rl.apply(cfg("B"));
    expect(await namesOnNewConnections(port, 6)).toEqual(["B", "B", "B", "B", "B", "B"]);
    await rl.apply(cfg("A"));
  });

  test("a reload adds a listen address (it answers) and a later one removes it (refused; in-flight exchange still answered)", async () => {
    const port2 = await closedPort();
    await rl.apply(cfg("A", { ports: [port, port2] }));
    expect(answeredBy("/r", await getOnce(port2, "/r"))).toBe("A");

    // On the second address: one exchange in flight (the backend holds it), one idle keep-alive connection.
    const busy = await Client.connect(port2);
    const idle = await Client.connect(port2);
    try {
      busy.send("GET /p/hold HTTP/1.1\r\nHost: localhost\r\n\r\n");
      await within(hold.arrived.promise, 3000, "the held request at the backend");
      idle.send("GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n");
      expect(answeredBy("/r", await idle.readResponse())).toBe("A");

      await rl.apply(cfg("B", { ports: [port] }));
      expect(await tryConnect(port2)).toBe("ECONNREFUSED");
      expect(answeredBy("/r", await getOnce(port, "/r"))).toBe("B");

      hold.release.resolve();
      const res = await busy.readResponse("GET", 5000);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe("held");
      expect(res.header("x-config")).toBe("A"); // the chain it was dispatched to
      // The address is gone: its connections end after their in-flight response, like a graceful stop.
      expect(res.header("connection")?.toLowerCase()).toBe("close");
      await expectServerCloses(busy, 2000, { what: "connection on a removed address, after its in-flight response" });
      await expectServerCloses(idle, 2000, { what: "idle keep-alive connection on a removed address" });
    } finally {
      busy.close();
      idle.close();
    }
  });

  test("a reload that changes the proxy backend: new requests go to the new backend, the old backend's pooled connections close", async () => {
    // A pooled (idle, open) connection to the current backend.
    expect(answeredBy("/p/x", await getOnce(port, "/p/x"))).toBe(rl.current);
    expect(backend.conns.some((c) => !c.closed)).toBe(true);

    const backend2 = rawBackend(serveEach((req) => okResponse(`p:${req.target}`, [["X-Backend", "2"]])));
    try {
      const next = rl.current === "A" ? "B" : "A";
      await rl.apply(cfg(next, { backend: backend2.port }));
      for (let i = 0; i < 5; i++) {
        const res = await getOnce(port, "/p/x");
        expect(answeredBy("/p/x", res)).toBe(next);
        expect(res.header("x-backend")).toBe("2");
      }
      expect(backend2.conns.length).toBeGreaterThanOrEqual(1);
      const open = backend.conns.filter((c) => !c.closed);
      for (const c of open) expect(await c.waitClosed(3000)).toBe(true);
    } finally {
      await rl.apply(cfg("A"));
      backend2.stop();
    }
  });
});

describe("SIGHUP reload with --workers 2", () => {
  let dir: string;
  let file: string;
  let port: number;
  let srv: ConfigServer;
  let rl: Reloadable;
  let backend: RawBackend;
  let base: Omit<Cfg, "name">;
  const cfg = (name: "A" | "B", extra: Partial<Cfg> = {}): Cfg => ({ ...base, name, ...extra });

  beforeAll(async () => {
    dir = tmpDir("ds-reload-w-");
    const roots = { A: path.join(dir, "rootA"), B: path.join(dir, "rootB") };
    for (const n of ["A", "B"] as const) {
      fs.mkdirSync(roots[n]);
      fs.writeFileSync(path.join(roots[n], "f.txt"), n);
    }
    backend = rawBackend(serveEach((req) => okResponse(`p:${req.target}`)));
    port = await closedPort();
    base = { ports: [port], backend: backend.port, ws: backend.port, roots };
    file = path.join(dir, "dreamserver.toml");
    fs.writeFileSync(file, configText(cfg("A")));
    srv = await ConfigServer.start(file, ["--workers", "2", "--access-log", "off"]);
    rl = new Reloadable(srv, file, cfg("A"), 2);
  });

  afterAll(async () => {
    const code = await srv?.stop();
    backend?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  test("one SIGHUP to the supervisor reloads both workers; an invalid file is refused once", async () => {
    expect(new Set(await namesOnNewConnections(port, 12))).toEqual(new Set(["A"]));

    await rl.apply(cfg("B"));
    const reloaded = srv.lines.filter((l) => /configuration reloaded from /.test(l.text)).map((l) => l.text);
    expect(reloaded.length).toBe(2);
    expect(reloaded.map((l) => /^worker (\d+): /.exec(l)?.[1]).sort()).toEqual(["0", "1"]);
    // Many new connections: the kernel spreads them over both workers, and every one says B.
    expect(new Set(await namesOnNewConnections(port, 60))).toEqual(new Set(["B"]));

    await rl.refuse(cfg("A", { broken: "missing-root" }));
    expect(srv.count(/reload refused/)).toBe(1);
    expect(srv.count(new RegExp(`${escapeRe(file)}:\\d+: site\\[0\\]\\.route\\[1\\]\\.static\\.root: `))).toBe(1);
    expect(new Set(await namesOnNewConnections(port, 30))).toEqual(new Set(["B"]));

    await rl.apply(cfg("A"));
    expect(new Set(await namesOnNewConnections(port, 30))).toEqual(new Set(["A"]));
    // Still exactly one refusal: the workers never saw the broken file.
    expect(srv.count(/reload refused/)).toBe(1);
  });
});
