/**
 * Helpers for the access and traffic control e2e tests (issue 12): start `dreamserver --config`
 * from TOML text on an ephemeral port (the "listening on" line names it), with a temp access log.
 */
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import path from "node:path";
import { command, tmpDir } from "./harness.ts";

export interface TomlServer {
  port: number;
  proc: Subprocess;
  dir: string;
  stderr(): string;
  readLog(): string;
  stop(): Promise<number>;
}

/**
 * `sites` is the TOML after the global sections; every `listen` should be "127.0.0.1:0".
 * `head` goes first (e.g. a [limits] table). The access log is written to DIR/access.log.
 */
export async function startTomlServer(head: string, sites: string, env: Record<string, string> = {}): Promise<TomlServer> {
  const dir = tmpDir("ds-access-");
  const logPath = path.join(dir, "access.log");
  const file = path.join(dir, "server.toml");
  fs.writeFileSync(file, `[server]\nworkers = 1\n[log]\naccess = ${JSON.stringify(logPath)}\n${head}\n${sites}\n`);
  const proc = spawn(command(["--config", file]), { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, ...env } });
  let err = "";
  const decoder = new TextDecoder();
  const errDone = (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += decoder.decode(chunk);
  })().catch(() => {});
  const outDone = new Response(proc.stdout).text().catch(() => "");
  let port = 0;
  const ready = (async () => {
    for (;;) {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        port = Number(m[1]);
        return;
      }
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited (${proc.exitCode}): ${err}`);
      // Always a timer: a settled errDone alone would spin on microtasks and starve the exit event.
      await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 20))]);
    }
  })();
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000));
  try {
    await Promise.race([ready, timer]);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return {
    port,
    proc,
    dir,
    stderr: () => err,
    readLog: () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : ""),
    async stop() {
      const killer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const code = await proc.exited;
      clearTimeout(killer);
      await Promise.race([Promise.all([errDone, outDone]), new Promise((r) => setTimeout(r, 2000))]);
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
