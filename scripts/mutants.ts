/**
 * Mutation check: proves that named tests fail when a behaviour they guard is broken.
 *
 * Each mutant replaces one exact snippet of source (it must occur exactly once) and names the
 * test that must then fail. The script copies src/ and tests/ into a scratch folder, checks
 * that the killing test passes on the unmutated copy, applies each mutant in turn, runs only
 * that test, and requires a failure. docs/testing.md shows this table; keep them in step.
 *
 *   bun scripts/mutants.ts            # all mutants
 *   bun scripts/mutants.ts M3 M7      # some of them
 *
 * A maintainer tool (it runs the e2e killers against the source, a minute or two in all), not
 * part of `npm test`.
 */
import { spawnSync } from "bun";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Mutant {
  id: string;
  what: string;
  file: string;
  from: string;
  to: string;
  /** Test file and a name pattern (bun test -t) of the test that must fail. */
  killer: [string, string];
}

export const MUTANTS: Mutant[] = [
  {
    id: "M1",
    what: "keep-alive forced: never close after `Connection: close` or HTTP/1.0",
    file: "src/net/connection.ts",
    from: "if (!ex.keepAlive || this.peerEnded || this.ctx.shuttingDown) {\n      this.closeWhenFlushed();",
    to: "if (this.peerEnded || this.ctx.shuttingDown) {\n      this.closeWhenFlushed();",
    killer: ["tests/e2e/connection-lifetime.test.ts", "HTTP/1.0 without keep-alive: response, then the proxy's FIN"],
  },
  {
    id: "M2",
    what: "a client abort does not cancel the upstream request",
    file: "src/proxy/proxy-handler.ts",
    from: "ex.onAbort = () => this.cancel();",
    to: "ex.onAbort = null;",
    killer: ["tests/e2e/hardening.test.ts", "full close while the upstream thinks"],
  },
  {
    id: "M3",
    what: "WriteQueue.flush() ignores the partial-write count",
    file: "src/net/write-queue.ts",
    from: "      this.addQueued(-n);\n      if (n < c.byteLength) {",
    to: "      this.addQueued(-c.byteLength);\n      if (false) {",
    killer: ["tests/unit/write-queue.test.ts", "flush\\(\\): partial writes"],
  },
  {
    id: "M4",
    what: "WriteQueue.uncork() ignores the partial-write count",
    file: "src/net/write-queue.ts",
    from: "        if (n < used) {",
    to: "        if (false) {",
    killer: ["tests/unit/write-queue.test.ts", "uncork\\(\\) with the shared arena"],
  },
  {
    id: "M5",
    what: "closing waits for a `drain` that never comes (no notification when an uncork empties the queue)",
    file: "src/net/connection.ts",
    from: "    this.out.notifyWhenEmpty();\n  }",
    to: "  }",
    killer: ["tests/e2e/hardening.test.ts", "HTTP/1.0 through the proxy gets its FIN"],
  },
  {
    id: "M6",
    what: "no liveness probe when a client FINs while its request waits on the upstream",
    file: "src/net/connection.ts",
    from: "      ex.probed = true;\n      this.out.write(CONTINUE_100);",
    to: "      ex.probed = true;",
    killer: ["tests/e2e/hardening.test.ts", "full close while the upstream thinks"],
  },
  {
    id: "M7",
    what: "the discard budget for an unread body is ignored",
    file: "src/net/connection.ts",
    from: "if (cur.discarded > this.config.limits.discardBodyMax) {",
    to: "if (false) {",
    killer: ["tests/e2e/protocol.test.ts", "over the discard budget"],
  },
  {
    id: "M8",
    what: "no deadline while an upstream does not read our upload",
    file: "src/proxy/proxy-handler.ts",
    from: "if (!this.gotResponseBytes) this.armTimer(this.ctx.config.timeouts.sendIdleMs, \"send\");",
    to: "",
    killer: ["tests/e2e/hardening.test.ts", "an upstream that never reads the upload"],
  },
  {
    id: "M9",
    what: "a request with a body is re-sent after a dead pooled connection",
    file: "src/proxy/proxy-handler.ts",
    from: "if (!this.gotResponseBytes && this.reused && !this.retried && p.bodyKind === \"none\" && IDEMPOTENT.has(p.method)) {",
    to: "if (!this.gotResponseBytes && this.reused && !this.retried) {",
    killer: ["tests/e2e/proxy.test.ts", "POST with a body on a pooled connection that dies is NOT retried"],
  },
  {
    id: "M10",
    what: "the client body timeout blames the client while the engine itself stopped reading",
    file: "src/net/connection.ts",
    from: "if (ex && ex.bodyPaused) {",
    to: "if (false) {",
    killer: ["tests/e2e/hardening.test.ts", "reads slowly is not cut by the client body timeout"],
  },
  {
    id: "M11",
    what: "a FIN inside a request body waits for the body timeout instead of answering and closing",
    file: "src/net/connection.ts",
    from: "      this.onParseError(ev.error);\n      return;\n    }\n    if (!ex) {",
    to: "      return;\n    }\n    if (!ex) {",
    killer: ["tests/e2e/hardening.test.ts", "static: the answer \\(400\\) and a close at once"],
  },
];

const REPO = path.resolve(import.meta.dir, "..");

function runTest(dir: string, [file, pattern]: [string, string]): { failed: boolean; ran: boolean; out: string } {
  const r = spawnSync([process.execPath, "test", "--timeout", "30000", file, "-t", pattern], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  const out = r.stdout.toString() + r.stderr.toString();
  const pass = Number(/(\d+) pass/.exec(out)?.[1] ?? 0);
  const fail = Number(/(\d+) fail/.exec(out)?.[1] ?? 0);
  return { failed: r.exitCode !== 0 && fail > 0, ran: pass + fail > 0, out };
}

function main(): void {
  const wanted = new Set(process.argv.slice(2));
  const list = MUTANTS.filter((m) => wanted.size === 0 || wanted.has(m.id));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-mutants-"));
  try {
    for (const f of ["src", "tests", "package.json", "tsconfig.json", "bunfig.toml", "staticfiles"]) fs.cpSync(path.join(REPO, f), path.join(dir, f), { recursive: true });
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    let bad = 0;
    for (const m of list) {
      const target = path.join(dir, m.file);
      const original = fs.readFileSync(target, "utf8");
      const count = original.split(m.from).length - 1;
      if (count !== 1) {
        console.log(`${m.id}  ERROR   the snippet occurs ${count} times in ${m.file}: update the mutant`);
        bad++;
        continue;
      }
      const clean = runTest(dir, m.killer);
      if (!clean.ran || clean.failed) {
        console.log(`${m.id}  ERROR   the killer ${clean.ran ? "fails" : "matches no test"} without the mutation: ${m.killer.join(" -t ")}\n${clean.out.slice(-2000)}`);
        bad++;
        continue;
      }
      fs.writeFileSync(target, original.replace(m.from, m.to));
      try {
        const r = runTest(dir, m.killer);
        console.log(`${m.id}  ${r.failed ? "killed " : "SURVIVED"} ${m.what}  ←  ${m.killer[0]} :: ${m.killer[1]}`);
        if (!r.failed) bad++;
      } finally {
        fs.writeFileSync(target, original);
      }
    }
    console.log(bad === 0 ? `all ${list.length} mutants killed` : `${bad} of ${list.length} mutants not killed (or broken)`);
    process.exitCode = bad === 0 ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) main();
