import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NOOP_ACCESS_LOGGER, openAccessLog } from "../../src/log/access-log.ts";
import type { AccessRecord } from "../../src/log/access-record.ts";

let dir = "";
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-access-log-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const REC: AccessRecord = {
  time: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
  id: "r1",
  ip: "10.0.0.1",
  method: "GET",
  path: "/",
  host: "localhost",
  status: 200,
  bytes: 10,
  latencyMs: 1,
};

function noWarn(msg: string): void {
  throw new Error("unexpected warning: " + msg);
}

describe("openAccessLog", () => {
  test('"off" is a no-op logger', () => {
    const l = openAccessLog("off", "text", noWarn);
    expect(l).toBe(NOOP_ACCESS_LOGGER);
    l.log(REC);
    l.reopen();
    l.flush();
    l.close();
  });

  test("creates missing parent directories and appends text lines", () => {
    const p = path.join(dir, "a", "b", "c", "access.log");
    const l = openAccessLog(p, "text", noWarn);
    l.log(REC);
    l.log({ ...REC, id: "r2", status: 404 });
    l.close();
    const lines = fs.readFileSync(p, "utf8").split("\n");
    expect(lines.length).toBe(3);
    expect(lines[0]).toStartWith("[INFO] DREAM_SERVER REQUEST | time=2025-01-02T03:04:05.006Z | id=r1 |");
    expect(lines[1]).toContain("| id=r2 |");
  });

  test("json format writes parseable JSON lines", () => {
    const p = path.join(dir, "json", "access.log");
    const l = openAccessLog(p, "json", noWarn);
    for (let i = 0; i < 10; i++) l.log({ ...REC, id: `j${i}`, path: `/p\n${i}` });
    l.flush();
    const lines = fs.readFileSync(p, "utf8").split("\n").slice(0, -1);
    expect(lines.length).toBe(10);
    lines.forEach((line, i) => {
      const o = JSON.parse(line);
      expect(o.id).toBe(`j${i}`);
      expect(o.path).toBe(`/p\n${i}`);
    });
    l.close();
  });

  test("reopen through the logger follows a rename", () => {
    const p = path.join(dir, "rot", "access.log");
    const l = openAccessLog(p, "text", noWarn);
    l.log(REC);
    fs.renameSync(p, p + ".1");
    l.reopen();
    l.log({ ...REC, id: "r2" });
    l.close();
    expect(fs.readFileSync(p + ".1", "utf8")).toContain("id=r1");
    expect(fs.readFileSync(p, "utf8")).toContain("id=r2");
    expect(fs.readFileSync(p, "utf8")).not.toContain("id=r1");
  });

  test("an unopenable path warns once (path + reason) and falls back to stdout", () => {
    const blocker = path.join(dir, "not-a-dir");
    fs.writeFileSync(blocker, "");
    const target = path.join(blocker, "logs", "access.log");
    const REPO = path.resolve(import.meta.dir, "../..");
    const script = path.join(dir, "fallback.ts");
    fs.writeFileSync(
      script,
      `import { openAccessLog } from ${JSON.stringify(path.join(REPO, "src/log/access-log.ts"))};\n` +
        `const l = openAccessLog(${JSON.stringify(target)}, "text", (m) => console.error("WARN: " + m));\n` +
        `l.log(${JSON.stringify(REC)});\n` +
        `l.close();\n`,
    );
    const r = Bun.spawnSync([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const warns = r.stderr.toString().split("\n").filter((l) => l.startsWith("WARN: "));
    expect(warns.length).toBe(1);
    expect(warns[0]).toContain(target);
    expect(warns[0]).toContain("ENOTDIR");
    expect(warns[0]).toContain("stdout");
    expect(r.stdout.toString()).toStartWith("[INFO] DREAM_SERVER REQUEST | time=2025-01-02T03:04:05.006Z | id=r1 |");
  });
});
