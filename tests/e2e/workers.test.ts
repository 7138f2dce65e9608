/**
 * --workers N: several listener processes on one port (SO_REUSEPORT) under a supervisor that
 * restarts dead workers and forwards SIGTERM / SIGUSR1.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { get, startServer, waitFor, type RunningServer } from "./harness.ts";
import { makeRoot, rmRoot, runCliBounded } from "./core-helpers.ts";
import { closedPort } from "./proxy-backends.ts";

setDefaultTimeout(20_000);

function childPids(pid: number): number[] {
  const out = Bun.spawnSync(["pgrep", "-P", String(pid)]).stdout.toString().trim();
  return out ? out.split("\n").map(Number) : [];
}

let root: string;
let srv: RunningServer;

beforeAll(async () => {
  root = makeRoot({ "index.html": "<h1>workers</h1>" });
  const port = await closedPort();
  srv = await startServer(["--root", root, "--workers", "2", "--listen", `127.0.0.1:${port}`]);
});

afterAll(async () => {
  await srv?.stop();
  rmRoot(root);
});

test("the supervisor announces once, with the worker count, and two workers serve", async () => {
  expect(srv.stderr()).toContain("(2 workers)");
  expect(srv.stderr().match(/listening on/g)?.length).toBe(1);
  expect(childPids(srv.proc.pid).length).toBe(2);
  for (let i = 0; i < 20; i++) expect((await get(srv.port, "/")).status).toBe(200);
});

test("a killed worker is restarted and service continues", async () => {
  const [victim] = childPids(srv.proc.pid);
  process.kill(victim!, "SIGKILL");
  const replaced = await waitFor(() => {
    const now = childPids(srv.proc.pid);
    return now.length === 2 && !now.includes(victim!);
  }, 5000);
  expect(replaced).toBe(true);
  // The supervisor's line arrives through the stderr pipe, read asynchronously: wait for it
  // (the new worker can be visible in /proc before the line is read).
  await waitFor(() => srv.stderr().includes("restarting"), 5000);
  expect(srv.stderr()).toContain("restarting");
  for (let i = 0; i < 10; i++) expect((await get(srv.port, "/")).status).toBe(200);
});

test("SIGTERM stops every worker, exit 0, and every served request was logged", async () => {
  const before = srv.readLog().split("\n").filter(Boolean).length;
  for (let i = 0; i < 30; i++) await get(srv.port, "/");
  const workers = childPids(srv.proc.pid);
  expect(await srv.stop("SIGTERM")).toBe(0);
  for (const w of workers) expect(() => process.kill(w, 0)).toThrow();
  // Lines of the SIGKILLed worker may be lost (no chance to flush); everything after is there.
  expect(srv.readLog().split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(before + 30);
});

test("--workers with port 0: the supervisor picks one port and every worker shares it", async () => {
  const srv0 = await startServer(["--root", root, "--workers", "2", "--listen", "127.0.0.1:0"]);
  try {
    expect(srv0.port).toBeGreaterThan(0);
    expect(childPids(srv0.proc.pid).length).toBe(2);
    for (let i = 0; i < 10; i++) expect((await get(srv0.port, "/")).status).toBe(200);
  } finally {
    expect(await srv0.stop()).toBe(0);
  }
});

test("the default is one worker per CPU", async () => {
  const r = await runCliBounded(["--help"]);
  expect(r.stdout).toContain("default auto = one per CPU");
});

test("a second server on a port held by a worker group fails with one line instead of joining it", async () => {
  const port = await closedPort();
  const first = await startServer(["--root", root, "--workers", "2", "--listen", `127.0.0.1:${port}`]);
  try {
    const r = await runCliBounded(["--root", root, "--workers", "2", "--listen", `127.0.0.1:${port}`, "--access-log", "off"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("already in use");
  } finally {
    await first.stop();
  }
});
