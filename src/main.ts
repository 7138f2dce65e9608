/**
 * Entry point: flags (and a config file) → Config → Runtime → listeners → signal handling.
 *   SIGTERM / SIGINT: stop accepting, finish in-flight requests (bounded), flush the log, exit 0.
 *   SIGHUP: re-read the config file and swap in a new runtime; an invalid file changes nothing.
 *           Without a config file there is nothing to re-read: the access log is reopened.
 *   SIGUSR1: reopen the access log (rotation).
 * With workers > 1 this process only supervises the listener processes (src/net/workers.ts).
 * Configuration mistakes print one line each on stderr and exit 2, never a stack trace.
 */
import { acmeManager } from "./acme/manager.ts";
import pkg from "../package.json" with { type: "json" };
import { buildCommit, VERSION } from "./build-info.ts";
import { healthCheck } from "./health-client.ts";
import { createAdminHandler, type ReloadResult } from "./observe/admin.ts";
import { metrics, mergeSnapshots } from "./observe/metrics.ts";
import { configureTracing } from "./observe/tracer.ts";
import { recentErrors } from "./observe/recent-errors.ts";
import { answerUpstreamQuery, applyDrainedEnv, localUpstreamControl, SupervisorUpstreamControl } from "./observe/upstream-control.ts";
import { registerUpstreamSource } from "./observe/upstream-metrics.ts";
import { answerPurgeQuery, localCacheAccess, runtimeCache, workersCacheAccess } from "./observe/cache-access.ts";
import { reloadFailure, reloadSuccess, startLagProbe } from "./observe/server-metrics.ts";
import type { Config, ListenAddress } from "./config/config.ts";
import { ConfigError, parseFlags, problemLines, reloadConfig, type RunResult, USAGE } from "./config/flags.ts";
import { formatProblem } from "./config/load.ts";
import { openAccessLog } from "./log/access-log.ts";
import type { AccessLogger } from "./log/access-record.ts";
import { ListenError, Server } from "./net/server.ts";
import { isWorker, Supervisor, WORKER_ENV } from "./net/workers.ts";
import { reexecWithAllocatorTuning } from "./net/allocator-tuning.ts";
import { listenKey } from "./router/index.ts";
import { listenAddresses, Runtime } from "./runtime.ts";

/** Set by a supervisor for its workers: the ports it chose for port-0 addresses, as JSON {key: port}. */
const PORTS_ENV = "DREAMSERVER_PORTS";

function fail(lines: string | readonly string[]): never {
  for (const l of typeof lines === "string" ? [lines] : lines) process.stderr.write(`dreamserver: ${l}\n`);
  process.exit(2);
}

function main(): void {
  let cli;
  try {
    cli = parseFlags(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) fail(e.lines);
    fail(`could not read the command line: ${(e as Error)?.message ?? e}`);
  }
  switch (cli.kind) {
    case "help":
      process.stdout.write(USAGE);
      return;
    case "version":
      process.stdout.write(`dreamserver ${VERSION} (commit ${buildCommit()}, bun ${Bun.version})\n`);
      return;
    case "health":
      healthCheck(cli.url).then((r) => {
        process.stdout.write(`${r.ok ? "healthy" : "unhealthy"}: ${r.message}\n`);
        process.exit(r.ok ? 0 : 1);
      });
      return;
    case "hash-password":
      void hashPassword(cli.algorithm);
      return;
    case "check":
      for (const w of cli.warnings) process.stderr.write(`dreamserver: ${w}\n`);
      process.stdout.write(cli.summary + "\n");
      return;
    case "print-config":
      for (const w of cli.warnings) process.stderr.write(`dreamserver: ${w}\n`);
      process.stdout.write(cli.text);
      return;
  }
  if (!isWorker()) {
    // Before anything is printed or opened: the server process runs with the allocator setting
    // in its environment (src/net/allocator-tuning.ts); workers inherit it.
    reexecWithAllocatorTuning();
    // Warnings (e.g. a shadowed route) are printed once, by the process that reads the config first.
    for (const w of cli.warnings) process.stderr.write(`dreamserver: ${w}\n`);
  }
  if (cli.config.workers > 1 && !isWorker()) {
    supervise(cli);
    return;
  }
  serve(cli);
}

/**
 * `dreamserver hash-password`: the password is read from stdin (never argv, which other users
 * can see in ps), one trailing newline ("\n" or "\r\n") stripped, and its hash printed for a
 * basic_auth `users` table. argon2id with Bun's defaults (64 MiB, t=2), or bcrypt (cost 10).
 */
async function hashPassword(algorithm: "argon2id" | "bcrypt"): Promise<void> {
  let pw = await Bun.stdin.text();
  if (pw.endsWith("\r\n")) pw = pw.slice(0, -2);
  else if (pw.endsWith("\n")) pw = pw.slice(0, -1);
  if (pw === "") fail("hash-password: no password on stdin; e.g. printf '%s\\n' 'secret' | dreamserver hash-password");
  process.stdout.write((await Bun.password.hash(pw, { algorithm })) + "\n");
}

/** The user-facing reason a listen failed. */
function listenError(e: unknown): string {
  const err = e instanceof ListenError ? (e.reason as { code?: string; message?: string }) : (e as { code?: string; message?: string });
  const where = e instanceof ListenError ? showAddress(e.address) : "the address";
  const msg = err?.message ?? String(e);
  if (err?.code === "EADDRINUSE" || /in use/i.test(msg)) return `cannot listen on ${where}: the address is already in use; stop the other server or choose another port`;
  if (err?.code === "EACCES" || /permission/i.test(msg)) return `cannot listen on ${where}: permission denied; ports below 1024 need privileges, choose e.g. 8080`;
  if (err?.code === "EADDRNOTAVAIL") return `cannot listen on ${where}: that address is not on this machine; check the host part of the listen address`;
  return `cannot listen on ${where}: ${msg}`;
}

function showAddress(a: ListenAddress): string {
  return `${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`;
}

function urlHost(a: ListenAddress): string {
  return a.hostname === "0.0.0.0" || a.hostname === "::" ? "localhost" : a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
}

/** What a listener serves, for the start-up line: the one action of a flag-built config, or a count. */
function describe(config: Config): string {
  const routes = config.sites.flatMap((s) => s.routes);
  if (config.source === null && routes.length === 1) {
    const a = routes[0]!.action;
    if (a.kind === "proxy") return `proxying to ${a.proxy.url.href}`;
    if (a.kind === "static") return `serving ${a.static.root}`;
  }
  const n = config.sites.length;
  return `${n} site${n === 1 ? "" : "s"}, ${routes.length} route${routes.length === 1 ? "" : "s"} from ${config.source ?? "the command line"}`;
}

function announce(config: Config, addresses: readonly (ListenAddress & { tls?: boolean })[], extra = ""): void {
  for (const a of addresses) process.stderr.write(`DreamServer ${pkg.version} listening on ${a.tls ? "https" : "http"}://${urlHost(a)}:${a.port} — ${describe(config)}${extra}\n`);
}

/** The supervisor's admin listener logs nothing (workers log the traffic). */
const NO_LOG: AccessLogger = { log() {}, reopen() {}, flush() {}, close() {} };

function supervise(cli: RunResult): void {
  const config = cli.config;
  // Fail fast, with the usual one-line reason, if an address cannot be bound at all. For port 0
  // the probe also picks the port every worker then shares (SO_REUSEPORT).
  const ports: Record<string, number> = {};
  const bound: (ListenAddress & { tls?: boolean })[] = [];
  for (const a of listenAddresses(config)) {
    try {
      // Without reusePort on purpose: it then also fails when another DreamServer's worker group
      // holds the port with SO_REUSEPORT, instead of silently joining that group.
      const probe = Bun.listen({ hostname: a.hostname, port: a.port, socket: { data() {} } });
      if (a.port === 0) ports[listenKey(a)] = probe.port;
      const tls = config.sites.some((s) => s.tls !== undefined && s.listen.some((x) => listenKey(x) === listenKey(a)));
      bound.push({ hostname: a.hostname, port: probe.port, ...(tls ? { tls } : {}) });
      probe.stop(true);
    } catch (e) {
      fail(listenError(new ListenError(a, e)));
    }
  }
  process.env[PORTS_ENV] = JSON.stringify(ports);
  startLagProbe();
  let ready = 0;
  const sup = new Supervisor({
    workers: config.workers,
    shutdownMs: config.timeouts.shutdownMs,
    log: (msg) => process.stderr.write(`dreamserver: ${msg}\n`),
    onReady: () => {
      if (++ready === config.workers) announce(config, bound, ` (${config.workers} workers)`);
      // Declared below; the first worker is ready only after sup.start() at the end.
      upstreams.workerReady();
    },
  });
  // The admin listener belongs to the supervisor: one address for the whole instance. /readyz is
  // 200 once every worker listens; /metrics asks each worker for its registry over IPC and
  // answers with the sum (docs/observability.md, "Workers").
  let current = config;
  const upstreams = new SupervisorUpstreamControl(sup, config);
  if (config.admin !== null) {
    // No sites: the supervisor serves only the admin listener, so it must not build upstream
    // groups (their health checks and metric series belong to the workers).
    const admin = new Server({ runtime: new Runtime({ ...config, sites: [] }), logger: NO_LOG });
    try {
      admin.startAdmin(
        config.admin,
        createAdminHandler({
          get ready() {
            return sup.allReady;
          },
          get config() {
            return current;
          },
          stats: () =>
            sup.scrape().then((all) => ({
              snap: mergeSnapshots([metrics.snapshot(), ...all.map((w) => w.snap)]),
              errors: all.flatMap((w) => w.errors).sort((a, b) => b.t - a.t).slice(0, 20),
            })),
          reload: () => reloadAll(),
          upstreams,
          cache: workersCacheAccess(sup),
        }),
      );
    } catch (e) {
      process.stderr.write(`dreamserver: warning: ${listenError(e)}; running without the admin listener (/healthz, /readyz, /metrics)\n`);
    }
  }
  let stopping = false;
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) {
      sup.signal("SIGTERM"); // second signal: workers exit at once
      return;
    }
    stopping = true;
    process.stderr.write(`dreamserver: ${sig} received, stopping ${config.workers} workers…\n`);
    // Always forwarded as SIGTERM: workers ignore SIGINT (see serve()).
    sup.stop("SIGTERM").then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGUSR1", () => sup.signal("SIGUSR1"));
  // SIGHUP and POST /api/reload.
  function reloadAll(): ReloadResult {
    // Validate once here so problems are printed once; only a valid file reaches the workers.
    const r = reloadConfig(cli);
    if (r === null) {
      sup.signal("SIGUSR1");
      return { ok: false, messages: ["no config file to re-read (started with flags only); the access log was reopened"] };
    }
    if (!r.ok) {
      reloadFailure.inc();
      const lines = problemLines(r);
      for (const l of lines) process.stderr.write(`dreamserver: ${l}\n`);
      process.stderr.write(`dreamserver: reload refused; still serving the previous configuration\n`);
      return { ok: false, messages: [...lines, "reload refused; still serving the previous configuration"] };
    }
    reloadSuccess.inc();
    current = r.config;
    upstreams.reconfigured(r.config);
    for (const w of r.warnings) process.stderr.write(`dreamserver: ${formatProblem(w, r.file, "warning")}\n`);
    if (r.config.workers !== config.workers) process.stderr.write(`dreamserver: the number of workers changes only on restart (still ${config.workers})\n`);
    sup.signal("SIGHUP");
    return { ok: true, messages: [`configuration reloaded from ${r.file} by ${config.workers} workers: ${describe(r.config)}`] };
  }
  process.on("SIGHUP", () => reloadAll());
  sup.start();
}

function serve(cli: RunResult): void {
  const worker = isWorker();
  let config = cli.config;
  // Only the first worker reports an access-log fallback; the others would repeat it.
  const quiet = worker && process.env[WORKER_ENV] !== "0";
  const openLog = (c: Config): AccessLogger =>
    openAccessLog(c.accessLog, c.logFormat, (msg) => {
      if (!quiet) process.stderr.write(`dreamserver: warning: ${msg}\n`);
    });
  let logger = openLog(config);
  const ports = new Map<string, number>(Object.entries(JSON.parse(process.env[PORTS_ENV] ?? "{}") as Record<string, number>));

  let server: Server;
  // Stored ACME certificates are loaded before the listeners open (SNI serves them at once).
  acmeManager.configure(config);
  try {
    const runtime = new Runtime(config);
    // Servers the supervisor has drained stay drained in a worker it (re)starts.
    if (worker) applyDrainedEnv(runtime.upstreams);
    server = new Server({ runtime, logger, reusePort: worker, ports });
    server.start();
  } catch (e) {
    logger.close();
    fail(listenError(e));
  }
  startLagProbe();
  // [metrics] enabled = false: no upstream series either (the counters are off in the servers).
  registerUpstreamSource(() => (server.runtime.config.metricsEnabled ? server.runtime.upstreams.states() : []));
  configureTracing(config.tracingSample, config.otlpEndpoint);
  // A worker's metrics are scraped by its supervisor over IPC (the supervisor owns the admin listener).
  if (worker) {
    process.on("message", (m: unknown) => {
      if (typeof m !== "object" || m === null) return;
      const q = m as { t?: string; id: number };
      if (q.t === "scrape") process.send?.({ t: "metrics", id: q.id, snap: metrics.snapshot(), errors: recentErrors() });
      else if (q.t === "query") {
        const msg = m as Record<string, unknown>;
        const data = msg.kind === "purge" ? answerPurgeQuery(runtimeCache(server.runtime), msg) : answerUpstreamQuery(server.runtime.upstreams, msg);
        process.send?.({ t: "reply", id: q.id, data });
      }
    });
  }
  // Missing or due certificates are ordered now that the plain listeners can answer HTTP-01.
  if (config.acme !== undefined) acmeManager.start();
  if (config.admin !== null && !worker) {
    try {
      server.startAdmin(
        config.admin,
        createAdminHandler({
          get ready() {
            return server.ready;
          },
          get config() {
            return server.config;
          },
          reload: () => reload(),
          upstreams: localUpstreamControl(() => server.runtime.upstreams),
          cache: localCacheAccess(() => runtimeCache(server.runtime)),
        }),
      );
    } catch (e) {
      // Not fatal: the sites are what the server is for (e.g. a second instance on one machine).
      if (!quiet) process.stderr.write(`dreamserver: warning: ${listenError(e)}; running without the admin listener (/healthz, /readyz)\n`);
    }
  }

  // SIGHUP and POST /api/reload.
  const reload = (): ReloadResult => {
    const r = reloadConfig(cli);
    if (r === null) {
      // No config file: nothing to re-read. HUP reopens the log like USR1 instead of killing us.
      logger.reopen();
      return { ok: false, messages: ["no config file to re-read (started with flags only); the access log was reopened"] };
    }
    if (!r.ok) {
      if (!worker) reloadFailure.inc();
      const lines = problemLines(r);
      // The supervisor has printed these already.
      if (!worker) for (const l of lines) process.stderr.write(`dreamserver: ${l}\n`);
      if (!worker) process.stderr.write(`dreamserver: reload refused; still serving the previous configuration\n`);
      return { ok: false, messages: [...lines, "reload refused; still serving the previous configuration"] };
    }
    if (!worker) for (const w of r.warnings) process.stderr.write(`dreamserver: ${formatProblem(w, r.file, "warning")}\n`);
    const prev = server.runtime;
    const next = new Runtime(r.config, prev.upstreams);
    try {
      server.reload(next);
    } catch (e) {
      prev.restoreUpstreams();
      next.retire();
      if (!worker) reloadFailure.inc();
      process.stderr.write(`dreamserver: ${listenError(e)}; reload refused, still serving the previous configuration\n`);
      return { ok: false, messages: [`${listenError(e)}; reload refused, still serving the previous configuration`] };
    }
    if (!worker) reloadSuccess.inc();
    configureTracing(r.config.tracingSample, r.config.otlpEndpoint);
    if (r.config.accessLog !== config.accessLog || r.config.logFormat !== config.logFormat) {
      const old = logger;
      logger = openLog(r.config);
      server.logger = logger;
      old.close();
    }
    config = r.config;
    acmeManager.configure(config);
    if (config.acme !== undefined) acmeManager.start();
    const who = worker ? `worker ${process.env[WORKER_ENV]}` : "dreamserver";
    process.stderr.write(`${who}: configuration reloaded from ${r.file}: ${describe(r.config)}\n`);
    return { ok: true, messages: [`configuration reloaded from ${r.file}: ${describe(r.config)}`] };
  };

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: the operator wants out now. Cut the connections first so exchanges
      // still in flight get their log line, then keep the log.
      server.cutAll("SHUTDOWN_FORCED");
      logger.close();
      process.exit(0);
    }
    stopping = true;
    // Readiness turns 503 at once; the listeners keep accepting for shutdown_delay so that a
    // load balancer (a Kubernetes Service) stops sending new connections before the drain.
    server.ready = false;
    const delay = config.shutdownDelayMs;
    if (!worker) process.stderr.write(`dreamserver: ${signal} received, ${delay > 0 ? `not ready; draining in ${delay} ms, then ` : ""}finishing in-flight requests…\n`);
    const drain = delay > 0 ? new Promise<void>((r) => setTimeout(r, delay)).then(() => server.shutdown()) : server.shutdown();
    drain.then(
      () => {
        logger.close();
        process.exit(0);
      },
      () => {
        logger.close();
        process.exit(0);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  // Ctrl-C in a terminal sends SIGINT to the whole process group: a worker would get it from
  // the terminal and again forwarded by the supervisor, and take the second as "exit now".
  // Workers therefore leave SIGINT to the supervisor, which forwards SIGTERM.
  if (worker) process.on("SIGINT", () => {});
  else process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGUSR1", () => logger.reopen());
  process.on("SIGHUP", () => reload());
  process.on("uncaughtException", (e) => process.stderr.write(`dreamserver: internal error: ${(e as Error)?.stack ?? e}\n`));
  process.on("unhandledRejection", (e) => process.stderr.write(`dreamserver: internal error: ${(e as Error)?.stack ?? e}\n`));

  // Announce only after the signal handlers are installed: a supervisor (or test) that sends
  // SIGTERM as soon as it reads this line must get a graceful exit 0, not the default action.
  if (worker) process.send?.("ready");
  else announce(config, server.boundAddresses());
}

main();
