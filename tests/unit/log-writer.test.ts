import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AppendWriter } from "../../src/log/file-writer.ts";

let dir = "";
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-log-writer-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function tmp(name = "access.log"): string {
  return path.join(dir, `${++seq}-${name}`);
}
const read = (p: string) => fs.readFileSync(p, "utf8");
const lineN = (i: number) => `[INFO] DREAM_SERVER REQUEST | id=${i} | path=/item/${i} | status=200\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collectWarn(): { warn: (m: string) => void; msgs: string[] } {
  const msgs: string[] = [];
  return { warn: (m) => msgs.push(m), msgs };
}

const REPO = path.resolve(import.meta.dir, "../..");
function runScript(body: string): { stdout: string; stderr: string; code: number | null } {
  const file = path.join(dir, `script-${++seq}.ts`);
  fs.writeFileSync(
    file,
    `import { AppendWriter } from ${JSON.stringify(path.join(REPO, "src/log/file-writer.ts"))};\n` +
      `import { openAccessLog } from ${JSON.stringify(path.join(REPO, "src/log/access-log.ts"))};\n` +
      body,
  );
  const r = Bun.spawnSync([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.exitCode };
}

describe("AppendWriter on a file", () => {
  test("appends to an existing file, keeping its content", () => {
    const p = tmp();
    fs.writeFileSync(p, "old line 1\nold line 2\n");
    const w = new AppendWriter(p);
    w.write("new line\n");
    w.close();
    expect(read(p)).toBe("old line 1\nold line 2\nnew line\n");
  });

  test("creates a missing file", () => {
    const p = tmp();
    const w = new AppendWriter(p);
    w.write("a\n");
    w.close();
    expect(read(p)).toBe("a\n");
  });

  test("buffers until flush / close", () => {
    const p = tmp();
    const w = new AppendWriter(p);
    w.write("one\n");
    w.write("two\n");
    expect(read(p)).toBe(""); // still in memory
    w.flush();
    expect(read(p)).toBe("one\ntwo\n");
    w.write("three\n");
    w.close();
    expect(read(p)).toBe("one\ntwo\nthree\n");
  });

  test("the timer writes within ~100 ms of the first buffered line", async () => {
    const p = tmp();
    const w = new AppendWriter(p);
    w.write("tick\n");
    expect(read(p)).toBe("");
    await sleep(250);
    expect(read(p)).toBe("tick\n");
    w.close();
  });

  test("writes as soon as 64 KiB are buffered, without waiting for the timer", () => {
    const p = tmp();
    const w = new AppendWriter(p, { flushDelayMs: 60_000 });
    const line = "x".repeat(1023) + "\n";
    for (let i = 0; i < 63; i++) w.write(line);
    expect(fs.statSync(p).size).toBe(0);
    w.write(line); // 64th KiB
    expect(fs.statSync(p).size).toBe(64 * 1024);
    w.close();
  });

  test("100k lines, all present in order", () => {
    const p = tmp();
    const w = new AppendWriter(p);
    const N = 100_000;
    for (let i = 0; i < N; i++) w.write(lineN(i));
    w.close();
    const lines = read(p).split("\n");
    expect(lines.length).toBe(N + 1);
    expect(lines[N]).toBe("");
    for (let i = 0; i < N; i++) if (lines[i] + "\n" !== lineN(i)) throw new Error(`line ${i}: ${lines[i]}`);
  });

  test("reopen after rename: old file gets the lines before, new file the lines after", () => {
    const p = tmp();
    const w = new AppendWriter(p);
    const N = 1234;
    const M = 777;
    for (let i = 0; i < N; i++) w.write(lineN(i)); // partly flushed by size, partly still buffered
    fs.renameSync(p, p + ".1");
    w.reopen();
    for (let i = N; i < N + M; i++) w.write(lineN(i));
    w.close();
    const old = read(p + ".1").split("\n").slice(0, -1);
    const cur = read(p).split("\n").slice(0, -1);
    expect(old.length).toBe(N);
    expect(cur.length).toBe(M);
    expect(old[0] + "\n").toBe(lineN(0));
    expect(old[N - 1] + "\n").toBe(lineN(N - 1));
    expect(cur[0] + "\n").toBe(lineN(N));
    expect(cur[M - 1] + "\n").toBe(lineN(N + M - 1));
  });

  test("reopen that cannot open the path warns and keeps writing to the old file", () => {
    const d = tmp("dir");
    fs.mkdirSync(d);
    const p = path.join(d, "access.log");
    const { warn, msgs } = collectWarn();
    const w = new AppendWriter(p, { warn });
    w.write("before\n");
    fs.renameSync(d, d + ".moved");
    w.reopen();
    expect(msgs.length).toBe(1);
    expect(msgs[0]).toContain(p);
    expect(msgs[0]).toContain("ENOENT");
    w.write("after\n");
    w.close();
    expect(read(path.join(d + ".moved", "access.log"))).toBe("before\nafter\n");
  });

  test("a relative path is resolved once, so reopen finds the same file", () => {
    const w = new AppendWriter(path.relative(process.cwd(), tmp()));
    expect(path.isAbsolute(w.path!)).toBe(true);
    w.close();
  });

  test("hard write errors (ENOSPC on /dev/full) are counted and reported, never thrown", () => {
    if (!fs.existsSync("/dev/full")) return;
    const { warn, msgs } = collectWarn();
    const w = new AppendWriter("/dev/full", { warn });
    w.write("a\n");
    w.write("b\n");
    w.write("c\n");
    expect(() => w.flush()).not.toThrow();
    expect(msgs.length).toBe(1);
    expect(msgs[0]).toContain("ENOSPC");
    w.write("d\n");
    w.flush(); // same episode: no new message
    expect(msgs.length).toBe(1);
    w.close();
    expect(msgs.length).toBe(2);
    expect(msgs[1]).toContain("4 line(s) dropped");
  });

  test("write after close is reported once", () => {
    const p = tmp();
    const { warn, msgs } = collectWarn();
    const w = new AppendWriter(p, { warn });
    w.close();
    w.write("late\n");
    w.write("later\n");
    expect(msgs.length).toBe(1);
    expect(read(p)).toBe("");
  });

  test("buffered lines are written on process.exit() without close()", () => {
    const p = tmp();
    const r = runScript(
      `const w = new AppendWriter(${JSON.stringify(p)});\n` +
        `for (let i = 0; i < 1000; i++) w.write("line " + i + "\\n");\n` +
        `process.exit(0);\n`,
    );
    expect(r.code).toBe(0);
    const lines = read(p).split("\n");
    expect(lines.length).toBe(1001);
    expect(lines[999]).toBe("line 999");
  });
});

describe("AppendWriter on stdout", () => {
  test('"-" writes to stdout, reopen is a no-op, exit flushes', () => {
    const r = runScript(
      `const w = new AppendWriter("-");\n` +
        `w.write("first\\n");\n` +
        `w.reopen();\n` +
        `for (let i = 0; i < 5000; i++) w.write("line " + i + "\\n");\n` +
        `process.exit(0);\n`,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("first");
    expect(lines.length).toBe(5002);
    expect(lines[5000]).toBe("line 4999");
  });
});

describe("AppendWriter on a blocked non-blocking pipe", () => {
  function fifo(): { writeFd: number; readFd: number; path: string } {
    const p = tmp("fifo");
    const r = Bun.spawnSync(["mkfifo", p]);
    if (r.exitCode !== 0) throw new Error("mkfifo failed");
    // Reader first (non-blocking open of a FIFO for reading succeeds without a writer).
    const readFd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writeFd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    return { writeFd, readFd, path: p };
  }
  function readAvailable(fd: number, sink: Buffer[]): number {
    let total = 0;
    const buf = Buffer.alloc(256 * 1024);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return total;
        throw e;
      }
      if (n === 0) return total;
      sink.push(Buffer.from(buf.subarray(0, n)));
      total += n;
    }
  }

  test("partial writes and EAGAIN: every line arrives, in order, once the reader catches up", async () => {
    const { writeFd, readFd } = fifo();
    const { warn, msgs } = collectWarn();
    const w = new AppendWriter(writeFd, { warn, flushDelayMs: 5 });
    const N = 20_000; // ~1.3 MB, far above the 64 KiB pipe capacity
    let expected = "";
    for (let i = 0; i < N; i++) {
      w.write(lineN(i));
      expected += lineN(i);
    }
    const got: Buffer[] = [];
    let have = 0;
    const deadline = Date.now() + 15_000;
    while (have < expected.length && Date.now() < deadline) {
      have += readAvailable(readFd, got);
      await sleep(2);
    }
    w.close();
    have += readAvailable(readFd, got);
    expect(Buffer.concat(got).toString()).toBe(expected);
    expect(msgs).toEqual([]); // nothing dropped
    fs.closeSync(writeFd);
    fs.closeSync(readFd);
  });

  test("a stalled reader bounds memory: excess lines are dropped, counted, reported once", async () => {
    const { writeFd, readFd } = fifo();
    const { warn, msgs } = collectWarn();
    const w = new AppendWriter(writeFd, { warn, flushDelayMs: 5, flushBytes: 4096, maxBufferBytes: 16 * 1024 });
    const N = 5000; // ~330 KB: pipe (64 KiB) + 16 KiB buffer cannot hold it
    for (let i = 0; i < N; i++) w.write(lineN(i));
    expect(msgs.length).toBe(1);
    expect(msgs[0]).toContain("dropping");
    const got: Buffer[] = [];
    // Drain the pipe until the writer caught up and reported the count.
    const deadline = Date.now() + 15_000;
    while (msgs.length < 2 && Date.now() < deadline) {
      readAvailable(readFd, got);
      await sleep(2);
    }
    expect(msgs.length).toBe(2);
    readAvailable(readFd, got); // the tail the kernel accepted after our last read
    const received = Buffer.concat(got).toString().split("\n").slice(0, -1);
    const dropped = Number(/(\d+) line\(s\) dropped/.exec(msgs[1])![1]);
    expect(received.length + dropped).toBe(N);
    // Kept: what the pipe took (tens of KiB on Linux) plus up to the 16 KiB buffer bound.
    expect(received.length * lineN(0).length).toBeGreaterThan(32 * 1024);
    // What arrived is the first lines, whole and in order.
    for (let i = 0; i < received.length; i++) expect(received[i] + "\n").toBe(lineN(i));
    // And the writer works normally again.
    w.write("after\n");
    w.flush();
    readAvailable(readFd, got);
    expect(Buffer.concat(got).toString().endsWith("after\n")).toBe(true);
    w.close();
    expect(msgs.length).toBe(2);
    fs.closeSync(writeFd);
    fs.closeSync(readFd);
  });
});

describe("openAccessLog: records encoded straight into the staging buffer", () => {
  const { openAccessLog } = require("../../src/log/access-log.ts") as typeof import("../../src/log/access-log.ts");
  const { formatText } = require("../../src/log/format-text.ts") as typeof import("../../src/log/format-text.ts");
  const { formatJson } = require("../../src/log/format-json.ts") as typeof import("../../src/log/format-json.ts");
  const record = (i: number) => ({
    time: Date.UTC(2026, 0, 1) + i * 7,
    id: `id${i}`,
    ip: "10.0.0." + (i % 256),
    method: "GET",
    path: i % 50 === 0 ? "/" + "é|\r\n".repeat(3000) : `/p/${i}?q=${i}`, // some lines larger than the 4 KiB buffer
    host: "example.com",
    status: 200 + (i % 3),
    bytes: i * 13,
    latencyMs: i / 7,
    userAgent: i % 2 ? "curl/8" : undefined,
  });
  for (const [format, fmt] of [["text", formatText], ["json", formatJson]] as const) {
    for (const flushBytes of [4096, 64 * 1024]) {
      test(`${format}, flush at ${flushBytes} bytes: the file holds exactly the formatted lines, in order`, () => {
        const p = tmp(`${format}.log`);
        const log = openAccessLog(p, format, () => {}, { flushBytes });
        let want = "";
        for (let i = 0; i < 600; i++) {
          const r = record(i);
          log.log(r);
          want += fmt(r);
        }
        log.close();
        expect(fs.readFileSync(p, "latin1")).toBe(want);
      });
    }
  }
});
