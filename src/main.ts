/**
 * Entry point: flags → config → access log → listener → signal handling.
 *   SIGTERM / SIGINT: stop accepting, finish in-flight requests (bounded), flush the log, exit 0.
 *   SIGUSR1 (and SIGHUP, until a config file exists to reload): reopen the access log.
 * With --workers N > 1 this process only supervises N listener processes (src/net/workers.ts).
 * Configuration mistakes print one line on stderr and exit 2 — never a stack trace.
 */
import pkg from "../package.json" with { type: "json" };
import { ConfigError, parseFlags, USAGE } from "./config/flags.ts";
import { openAccessLog } from "./log/access-log.ts";
import type { Config } from "./config/config.ts";
import { Server } from "./net/server.ts";
import { isWorker, Supervisor, WORKER_ENV } from "./net/workers.ts";

/** Set by a supervisor started with port 0 for its workers: the port they share. */
const PORT_ENV = "DREAMSERVER_PORT";
import { createRouter } from "./router/router.ts";

function fail(msg: string): never {
  process.stderr.write(`dreamserver: ${msg}\n`);
  process.exit(2);
}

function main(): void {
  let cli;
  try {
    cli = parseFlags(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    fail(`could not read the command line: ${(e as Error)?.message ?? e}`);
  }
  if (cli.kind === "help") {
    process.stdout.write(USAGE);
    return;
  }
  if (cli.kind === "version") {
    process.stdout.write(`dreamserver ${pkg.version} (bun ${Bun.version})\n`);
    return;
  }
  const config = cli.config;
  if (config.workers > 1 && !isWorker()) {
    supervise(config);
    return;
  }
  serve(config);
}

/** The user-facing reason a listen failed, or null for an unexpected error. */
function listenError(e: unknown, config: Config): string {
  const err = e as { code?: string; message?: string };
  const where = `${config.hostname}:${config.port}`;
  if (err.code === "EADDRINUSE" || /in use/i.test(err.message ?? "")) return `cannot listen on ${where}: the address is already in use; stop the other server or choose another --listen port`;
  if (err.code === "EACCES" || /permission/i.test(err.message ?? "")) return `cannot listen on ${where}: permission denied; ports below 1024 need privileges, choose e.g. --listen 8080`;
  if (err.code === "EADDRNOTAVAIL") return `cannot listen on ${where}: that address is not on this machine; check the host part of --listen`;
  if (e instanceof ConfigError) return e.message;
  return `cannot start: ${err.message ?? e}`;
}

function announce(config: Config, port: number, extra = ""): void {
  const shownHost = config.hostname === "0.0.0.0" ? "localhost" : config.hostname.includes(":") ? `[${config.hostname}]` : config.hostname;
  const what = config.proxy ? `proxying to ${config.proxy.url.href}` : `serving ${config.root}`;
  process.stderr.write(`DreamServer ${pkg.version} listening on http://${shownHost}:${port} — ${what}${extra}\n`);
}

function supervise(config: Config): void {
  // Fail fast, with the usual one-line reason, if the port cannot be bound at all. With port 0
  // the probe also picks the port every worker then shares (SO_REUSEPORT).
  let port = config.port;
  try {
    // Without reusePort on purpose: it then also fails when another DreamServer's worker group
    // holds the port with SO_REUSEPORT, instead of silently joining that group.
    const probe = Bun.listen({ hostname: config.hostname, port: config.port, socket: { data() {} } });
    port = probe.port;
    probe.stop(true);
  } catch (e) {
    fail(listenError(e, config));
  }
  if (port !== config.port) process.env[PORT_ENV] = String(port);
  let ready = 0;
  const sup = new Supervisor({
    workers: config.workers,
    shutdownMs: config.timeouts.shutdownMs,
    log: (msg) => process.stderr.write(`dreamserver: ${msg}\n`),
    onReady: () => {
      if (++ready === config.workers) announce(config, port, ` (${config.workers} workers)`);
    },
  });
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
  process.on("SIGHUP", () => sup.signal("SIGUSR1"));
  sup.start();
}

function serve(config: Config): void {
  const worker = isWorker();
  // A worker of a supervisor started with port 0 listens on the port the supervisor picked.
  if (worker && process.env[PORT_ENV]) config = { ...config, port: Number(process.env[PORT_ENV]) };
  // Only the first worker reports an access-log fallback; the others would repeat it.
  const quietWarnings = worker && process.env[WORKER_ENV] !== "0";
  const logger = openAccessLog(config.accessLog, config.logFormat, (msg) => {
    if (!quietWarnings) process.stderr.write(`dreamserver: warning: ${msg}\n`);
  });

  let server: Server;
  try {
    server = new Server({ config, handler: createRouter(config), logger, reusePort: worker });
    server.start();
  } catch (e) {
    logger.close();
    fail(listenError(e, config));
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: the operator wants out now. Still keep the log.
      // [e2e fix] Cut the connections first so exchanges still in flight get their log line.
      server.cutAll("SHUTDOWN_FORCED");
      logger.close();
      process.exit(0);
    }
    stopping = true;
    if (!worker) process.stderr.write(`dreamserver: ${signal} received, finishing in-flight requests…\n`);
    server.shutdown().then(
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
  // No config file to reload yet: HUP reopens the log like USR1 instead of killing the server.
  process.on("SIGHUP", () => logger.reopen());
  process.on("uncaughtException", (e) => process.stderr.write(`dreamserver: internal error: ${(e as Error)?.stack ?? e}\n`));
  process.on("unhandledRejection", (e) => process.stderr.write(`dreamserver: internal error: ${(e as Error)?.stack ?? e}\n`));

  // [e2e fix] Announce only after the signal handlers are installed: a supervisor (or test) that
  // sends SIGTERM as soon as it reads this line used to kill the process with the default
  // action (exit 143) instead of a graceful exit 0.
  if (worker) process.send?.("ready");
  else announce(config, server.port);
}

main();
