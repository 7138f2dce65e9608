/**
 * Automatic certificates for `tls = "auto"` sites: one process-wide manager (it outlives
 * reloads), one certificate per host name.
 *
 * Storage (`acme.storage`, docs/https.md#storage-layout):
 *   account.json             the account key (private JWK, mode 0600) and its URL per directory
 *   certs/NAME/cert.pem      the chain, leaf first
 *   certs/NAME/key.pem       its key (mode 0600)
 *   challenges/TOKEN         HTTP-01 answers, served by every worker from disk
 *   locks/NAME.lock          held while NAME is being ordered (O_EXCL; stale after 10 min)
 *
 * At start (and on every reload) stored certificates are loaded synchronously, so SNI serves
 * them at once and a restart orders nothing. Names without a certificate, or past 2/3 of their
 * lifetime, are ordered in the background once the listeners are up; failures back off
 * exponentially (1 min … 1 h). A new certificate replaces the per-SNI context in place: new
 * handshakes get it, open connections keep theirs. An expired or missing certificate never
 * stops the server: the other sites keep serving, and the name gets the placeholder until then.
 */
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import type { AcmeConfig, Config } from "../config/config.ts";
import { checkPair } from "../tls/check-pair.ts";
import { AcmeClient, AcmeError } from "./client.ts";
import { generateP256 } from "./jws.ts";

const LOCK_STALE_MS = 10 * 60_000;
const CHECK_INTERVAL_MS = 60 * 60_000;
const BACKOFF_MIN_MS = 60_000;
const BACKOFF_MAX_MS = 60 * 60_000;
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

interface Held {
  readonly context: unknown;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly mtimeMs: number;
}

/** Renewal is due at 2/3 of the lifetime (Let's Encrypt's advice: 60 of 90 days). */
export function renewalDue(notBefore: number, notAfter: number, now: number): boolean {
  return now >= notBefore + ((notAfter - notBefore) * 2) / 3;
}

export class AcmeManager {
  private cfg: AcmeConfig | null = null;
  private names: string[] = [];
  private readonly held = new Map<string, Held>();
  private readonly backoff = new Map<string, { until: number; ms: number }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  log: (line: string) => void = (l) => process.stderr.write(`dreamserver: ${l}\n`);

  /** Sync: remember the names and load what storage holds (start and every reload). */
  configure(config: Config): void {
    this.cfg = config.acme ?? null;
    this.names = [...new Set(config.sites.filter((s) => s.tls?.auto).flatMap((s) => s.hosts))];
    if (this.cfg === null || this.names.length === 0) return;
    for (const n of this.names) this.loadStored(n);
  }

  /** The context for an SNI name, or undefined (no certificate yet). */
  contextFor(name: string): unknown {
    return this.held.get(name)?.context;
  }

  /** An HTTP-01 answer for a token, read from storage (shared by workers), or null. */
  challenge(token: string): string | null {
    if (this.cfg === null || !TOKEN.test(token)) return null;
    try {
      return fs.readFileSync(path.join(this.cfg.storage, "challenges", token), "utf8");
    } catch {
      return null;
    }
  }

  /** Order what is missing or due, now and then hourly. Call once the listeners are up. */
  start(): void {
    if (this.timer === null) {
      this.timer = setInterval(() => void this.runOnce(), CHECK_INTERVAL_MS);
      this.timer.unref?.();
    }
    void this.runOnce();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over every name (never two passes at once). Resolves when done. */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private certDir(name: string): string {
    return path.join(this.cfg!.storage, "certs", name);
  }

  private loadStored(name: string): boolean {
    const dir = this.certDir(name);
    try {
      const st = fs.statSync(path.join(dir, "cert.pem"));
      const prev = this.held.get(name);
      if (prev && prev.mtimeMs === st.mtimeMs) return true;
      const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
      const key = fs.readFileSync(path.join(dir, "key.pem"), "utf8");
      const c = checkPair(cert, key);
      if (!c.ok) {
        this.log(`[WARN] acme: stored certificate for ${name} is unusable (${c.field} ${c.error}); ordering a new one`);
        return false;
      }
      const notBefore = new X509Certificate(cert.slice(cert.indexOf("-----BEGIN CERTIFICATE-----"))).validFromDate.getTime();
      this.held.set(name, { context: contextOf(cert, key), notBefore, notAfter: c.notAfter, mtimeMs: st.mtimeMs });
      return true;
    } catch {
      return false;
    }
  }

  private async pass(): Promise<void> {
    const cfg = this.cfg;
    if (cfg === null) return;
    for (const name of this.names) {
      const now = Date.now();
      this.loadStored(name);
      const h = this.held.get(name);
      if (h && !renewalDue(h.notBefore, h.notAfter, now) && fs.existsSync(path.join(this.certDir(name), "cert.pem"))) continue;
      const b = this.backoff.get(name);
      if (b && now < b.until) continue;
      try {
        await this.order(cfg, name);
        this.backoff.delete(name);
      } catch (e) {
        // Exponential backoff, but never sooner than the server's Retry-After (rate limits, RFC 8555 §6.6).
        const ms = Math.max(Math.min(BACKOFF_MAX_MS, b ? b.ms * 2 : BACKOFF_MIN_MS), e instanceof AcmeError && e.retryAfterMs !== null ? e.retryAfterMs : 0);
        this.backoff.set(name, { until: Date.now() + ms, ms: Math.min(ms, BACKOFF_MAX_MS) });
        this.log(`[WARN] acme: could not obtain a certificate for ${name}: ${(e as Error).message}; retrying in ${Math.round(ms / 1000)} s`);
      }
    }
  }

  private async order(cfg: AcmeConfig, name: string): Promise<void> {
    for (const d of ["certs", "challenges", "locks"]) fs.mkdirSync(path.join(cfg.storage, d), { recursive: true, mode: 0o700 });
    const lock = path.join(cfg.storage, "locks", `${name}.lock`);
    if (!takeLock(lock)) {
      this.log(`acme: ${name} is being ordered by another process (${lock}); waiting for its result`);
      return;
    }
    try {
      const client = new AcmeClient(
        {
          directory: cfg.directory,
          ca: cfg.ca,
          email: cfg.email === "" ? null : cfg.email,
          present: (token, keyAuth) => {
            const f = path.join(cfg.storage, "challenges", token);
            fs.writeFileSync(f, keyAuth);
            return () => fs.rmSync(f, { force: true });
          },
          log: (l) => this.log(`acme: ${l}`),
        },
        await accountKey(cfg),
      );
      this.log(`acme: ordering a certificate for ${name} from ${cfg.directory}`);
      const issued = await client.obtain([name]);
      const dir = this.certDir(name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Key first, then the certificate by rename: a reader never sees a cert without its key.
      fs.writeFileSync(path.join(dir, "key.pem.tmp"), issued.keyPem, { mode: 0o600 });
      fs.writeFileSync(path.join(dir, "cert.pem.tmp"), issued.certPem, { mode: 0o644 });
      fs.renameSync(path.join(dir, "key.pem.tmp"), path.join(dir, "key.pem"));
      fs.renameSync(path.join(dir, "cert.pem.tmp"), path.join(dir, "cert.pem"));
      if (this.loadStored(name)) {
        const h = this.held.get(name)!;
        this.log(`acme: certificate for ${name} obtained, valid until ${new Date(h.notAfter).toISOString()}`);
      }
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }
}

function contextOf(cert: string, key: string): unknown {
  return (tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" }) as unknown as { context: unknown }).context;
}

/** O_EXCL lock file holding our pid and time; a lock older than LOCK_STALE_MS is taken over. */
function takeLock(file: string): boolean {
  try {
    fs.writeFileSync(file, `${process.pid} ${Date.now()}\n`, { flag: "wx" });
    return true;
  } catch {
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > LOCK_STALE_MS) {
        fs.rmSync(file, { force: true });
        fs.writeFileSync(file, `${process.pid} ${Date.now()}\n`, { flag: "wx" });
        return true;
      }
    } catch {}
    return false;
  }
}

/** The account key: stored as a private JWK (mode 0600), made on first use. */
async function accountKey(cfg: AcmeConfig): Promise<CryptoKeyPair> {
  const file = path.join(cfg.storage, "account.json");
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  try {
    const jwk = JSON.parse(fs.readFileSync(file, "utf8")) as { kty: "EC"; crv: "P-256"; x: string; y: string; d: string };
    const privateKey = await crypto.subtle.importKey("jwk", jwk, alg, true, ["sign"]);
    const publicKey = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, alg, true, ["verify"]);
    return { privateKey, publicKey };
  } catch {
    const pair = await generateP256();
    fs.writeFileSync(file, JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey)), { mode: 0o600 });
    return pair;
  }
}

/** The one manager of this process. */
export const acmeManager = new AcmeManager();
