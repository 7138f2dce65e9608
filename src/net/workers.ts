/**
 * --workers N: N listener processes share one port through SO_REUSEPORT (the kernel spreads
 * new connections across them, docs/runtime-notes.md), supervised by this process:
 *   - a worker that dies unexpectedly is restarted (with a back-off when it dies young);
 *   - SIGTERM/SIGINT are forwarded and we exit once every worker has drained and exited;
 *   - SIGUSR1 (reopen logs) is forwarded to every worker.
 * Each worker appends to the same access log with O_APPEND and writes whole lines per
 * write(2), so lines from different workers never interleave mid-line.
 */
import { spawn, type Subprocess } from "bun";
import type { Snapshot } from "../observe/metrics.ts";
import type { RecentError } from "../observe/recent-errors.ts";

/** What a worker answers to a scrape. */
export interface WorkerStats {
  snap: Snapshot;
  errors: RecentError[];
}

/** How long a scrape waits for a worker's metrics; a worker that does not answer is left out of that scrape. */
const SCRAPE_TIMEOUT_MS = 2000;

/** Set in a worker's environment; its value is the worker index. */
export const WORKER_ENV = "DREAMSERVER_WORKER";

export function isWorker(): boolean {
  return process.env[WORKER_ENV] !== undefined;
}

/** The command that starts this same program (compiled binary or `bun src/main.ts`). */
export function selfCommand(): string[] {
  const standalone = (Bun as unknown as { isStandaloneExecutable?: boolean }).isStandaloneExecutable === true || Bun.main.startsWith("/$bunfs/");
  return standalone ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, Bun.main, ...process.argv.slice(2)];
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly shutdownMs: number;
  readonly log: (msg: string) => void;
  /** A worker is listening (first start and every restart). */
  readonly onReady: (index: number) => void;
}

export class Supervisor {
  private readonly procs: (Subprocess | null)[] = [];
  private readonly startedAt: number[] = [];
  private stopping = false;
  private readonly ready = new Set<number>();
  private scrapeSeq = 0;
  private readonly scrapes = new Map<number, (stats: WorkerStats) => void>();
  private readonly replies = new Map<number, (data: unknown) => void>();

  constructor(private readonly opts: SupervisorOptions) {}

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.spawnWorker(i);
  }

  private spawnWorker(i: number): void {
    const proc = spawn(selfCommand(), {
      env: { ...process.env, [WORKER_ENV]: String(i) },
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      ipc: (message) => {
        if (message === "ready") {
          this.ready.add(i);
          this.opts.onReady(i);
        } else if (typeof message === "object" && message !== null && (message as { t?: string }).t === "metrics") {
          const m = message as { id: number } & WorkerStats;
          this.scrapes.get(m.id)?.({ snap: m.snap, errors: m.errors ?? [] });
        } else if (typeof message === "object" && message !== null && (message as { t?: string }).t === "reply") {
          const m = message as { id: number; data: unknown };
          this.replies.get(m.id)?.(m.data);
        }
      },
    });
    this.procs[i] = proc;
    this.startedAt[i] = performance.now();
    proc.exited.then((code) => {
      if (this.procs[i] !== proc) return;
      this.procs[i] = null;
      this.ready.delete(i);
      if (this.stopping) return;
      if (code === 2) {
        // Configuration or bind error: restarting cannot help. The worker printed why.
        this.opts.log(`worker ${i} could not start; stopping`);
        this.stop("SIGTERM").then(() => process.exit(2));
        return;
      }
      const young = performance.now() - this.startedAt[i]! < 1000;
      this.opts.log(`worker ${i} (pid ${proc.pid}) exited with ${proc.signalCode ?? code}; restarting${young ? " in 1 s" : ""}`);
      setTimeout(() => {
        if (!this.stopping) this.spawnWorker(i);
      }, young ? 1000 : 0);
    });
  }

  /** Every worker is up and listening, and no stop has begun (the supervisor's /readyz). */
  get allReady(): boolean {
    return !this.stopping && this.ready.size === this.opts.workers;
  }

  /**
   * Ask every live worker for its metrics over IPC and collect the answers (in any order). A
   * worker that does not answer within SCRAPE_TIMEOUT_MS (busy, or restarting) is left out.
   */
  scrape(): Promise<WorkerStats[]> {
    const live = this.procs.filter((p): p is Subprocess => p !== null && p.exitCode === null);
    return Promise.all(
      live.map(
        (p) =>
          new Promise<WorkerStats | null>((resolve) => {
            const id = ++this.scrapeSeq;
            const t = setTimeout(() => {
              this.scrapes.delete(id);
              resolve(null);
            }, SCRAPE_TIMEOUT_MS);
            this.scrapes.set(id, (snap) => {
              clearTimeout(t);
              this.scrapes.delete(id);
              resolve(snap);
            });
            try {
              p.send({ t: "scrape", id });
            } catch {
              clearTimeout(t);
              this.scrapes.delete(id);
              resolve(null);
            }
          }),
      ),
    ).then((all) => all.filter((s): s is WorkerStats => s !== null));
  }

  /**
   * Send a query ({t: "query", id, ...msg}) to every live worker and collect their replies
   * ({t: "reply", id, data}); a worker that does not answer within SCRAPE_TIMEOUT_MS is left out.
   */
  query(msg: Record<string, unknown>): Promise<unknown[]> {
    const live = this.procs.filter((p): p is Subprocess => p !== null && p.exitCode === null);
    const none = Symbol();
    return Promise.all(
      live.map(
        (p) =>
          new Promise<unknown>((resolve) => {
            const id = ++this.scrapeSeq;
            const t = setTimeout(() => {
              this.replies.delete(id);
              resolve(none);
            }, SCRAPE_TIMEOUT_MS);
            this.replies.set(id, (data) => {
              clearTimeout(t);
              this.replies.delete(id);
              resolve(data);
            });
            try {
              p.send({ ...msg, t: "query", id });
            } catch {
              clearTimeout(t);
              this.replies.delete(id);
              resolve(none);
            }
          }),
      ),
    ).then((all) => all.filter((d) => d !== none));
  }

  /** Forward a signal to every live worker. */
  signal(sig: NodeJS.Signals): void {
    for (const p of this.procs) if (p && p.exitCode === null) p.kill(sig);
  }

  /** Graceful stop: forward the signal, wait for the workers (bounded), then kill stragglers. */
  async stop(sig: NodeJS.Signals): Promise<void> {
    this.stopping = true;
    this.signal(sig);
    const live = this.procs.filter((p): p is Subprocess => p !== null);
    const all = Promise.all(live.map((p) => p.exited));
    const deadline = new Promise((r) => setTimeout(r, this.opts.shutdownMs + 2000));
    await Promise.race([all, deadline]);
    for (const p of live) if (p.exitCode === null) p.kill("SIGKILL");
  }
}
