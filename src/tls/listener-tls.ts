/**
 * The TLS side of one listen address: the certificate every handshake starts with (the
 * address's first TLS site, also what a client without SNI gets) and, per SNI name, the
 * secure context of the site that name routes to (exact host, then wildcard, then the
 * default: the same lookup as Host routing, so certificate choice and routing agree).
 *
 * Built by each Runtime, so a reload (SIGHUP) re-reads the pairs: new handshakes get the new
 * certificates, established connections keep theirs; refresh() does the same for one site when
 * its files change on disk. The listener's own default pair (for clients without SNI) is fixed
 * when the address is bound (docs/https.md#reload).
 *
 * Protocol settings (docs/runtime-notes.md): TLS 1.2 minimum (Bun wants the OpenSSL version
 * number, 0x0303, not "TLSv1.2"), ALPN in wire format: "h2" first, then "http/1.1", unless a
 * TLS site of the address sets http2 = false (ALPN is settled before SNI routing can tell sites apart).
 */
import fs from "node:fs";
import tls from "node:tls";
import type { SiteConfig, SiteTls } from "../config/config.ts";
import type { SiteTable } from "../router/host.ts";
import { acmeManager } from "../acme/manager.ts";
import { PLACEHOLDER_CERT, PLACEHOLDER_KEY } from "./placeholder.ts";
import { checkCaBundle, checkPair } from "./check-pair.ts";

/** TLS1_2_VERSION: Bun.listen's `tls.minVersion` takes the number (a string throws). */
export const TLS_MIN_VERSION = 0x0303;
/** RFC 7301 §3.1 wire format: length-prefixed protocol names. */
export const ALPN_HTTP11 = Buffer.from([8, ...Buffer.from("http/1.1", "latin1")]);
export const ALPN_H2_HTTP11 = Buffer.from([2, ...Buffer.from("h2", "latin1"), 8, ...Buffer.from("http/1.1", "latin1")]);
/**
 * TLS 1.2 suites: ECDHE with AEAD only (forward secrecy; no CBC, no RSA key exchange), the
 * Mozilla "intermediate" list. TLS 1.3 suites are all AEAD and not configured here.
 */
export const CIPHERS_TLS12 = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** What Bun.listen takes as `tls` for an address (its default certificate). */
export interface ListenTlsOptions {
  readonly cert: string;
  readonly key: string;
  readonly minVersion: number;
  readonly ALPNProtocols: Buffer;
  readonly ciphers: string;
  /**
   * mTLS (docs/https.md#client-certificates-mtls): Bun requests client certificates for the
   * whole listener or not at all (a context's own requestCert is ignored, and setVerifyMode in
   * the serverName handler breaks the handshake: docs/runtime-notes.md). Verification failures
   * never fail the handshake; each site judges the result per request.
   */
  readonly requestCert?: boolean;
  readonly rejectUnauthorized?: boolean;
  /** The default site's client CAs: a client without SNI is verified against them. */
  readonly ca?: string;
}

/** A file as last seen: a change in any of these means "read it again". */
interface Stamp {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/** One manual-certificate site's current material (replaced in place when its files change). */
interface SiteCerts {
  context: unknown;
  /** PEM of the client CAs its context verifies against, or null without mTLS. */
  clientCa: string | null;
  stamps: (Stamp | null)[];
}

export class ListenerTls {
  /** The address's first TLS site: served to clients without SNI or with an unknown name. */
  readonly defaultSite: SiteConfig;
  /** Some site of the address has client_ca: the listener asks every client for a certificate. */
  readonly requestsClientCert: boolean;
  private readonly certs = new Map<SiteConfig, SiteCerts | null>();
  private readonly alpn: Buffer;

  constructor(
    private readonly table: SiteTable,
    sites: readonly SiteConfig[],
  ) {
    this.defaultSite = sites[0]!;
    this.alpn = sites.every((s) => s.http2 !== false) ? ALPN_H2_HTTP11 : ALPN_HTTP11;
    this.requestsClientCert = sites.some((s) => s.tls!.clientAuth !== undefined);
    for (const s of sites) {
      const t = s.tls!;
      const clientCa = t.clientAuth?.ca ?? null;
      this.certs.set(s, t.auto ? null : { context: contextFor(t.cert, t.key, clientCa), clientCa, stamps: filesOf(t).map(stampOf) });
    }
  }

  get listenOptions(): ListenTlsOptions {
    const t = this.defaultSite.tls!;
    // An auto site's certificate arrives later, per SNI: bind with the placeholder (src/tls/placeholder.ts).
    const [cert, key] = t.auto ? [PLACEHOLDER_CERT, PLACEHOLDER_KEY] : [t.cert, t.key];
    const base = { cert, key, minVersion: TLS_MIN_VERSION, ALPNProtocols: this.alpn, ciphers: CIPHERS_TLS12 };
    if (!this.requestsClientCert) return base;
    const ca = this.certs.get(this.defaultSite)?.clientCa;
    return { ...base, requestCert: true, rejectUnauthorized: false, ...(ca ? { ca } : {}) };
  }

  /** The site an SNI name selects: the Host routing rules, else the default TLS site. */
  siteFor(serverName: string): SiteConfig {
    const s = this.table.lookup(serverName);
    return s !== null && this.certs.has(s) ? s : this.defaultSite;
  }

  /** The native context to hand back from Bun's `serverName` socket handler. */
  contextFor(serverName: string): unknown {
    const site = this.siteFor(serverName);
    // ACME certificates are looked up at each handshake, so a renewal swaps them in place.
    if (site.tls!.auto) return acmeManager.contextFor(serverName) ?? placeholderContext();
    return this.certs.get(site)!.context;
  }

  /** The client CAs the context for `serverName` verifies against now (null: none). */
  clientCaFor(serverName: string): string | null {
    return this.certs.get(this.siteFor(serverName))?.clientCa ?? null;
  }

  /** The client CAs `site` trusts now (its file may have changed since the config was read). */
  clientCaOf(site: SiteConfig): string | null {
    return this.certs.get(site)?.clientCa ?? null;
  }

  /**
   * The periodic file check (server.cert_check_interval): a site whose cert, key or client_ca
   * file changed (mtime, size or inode: an editor's rename, certbot's symlink swap) is read
   * again; a valid pair replaces the site's context in place, so new handshakes get it and
   * open connections keep theirs. A broken pair (half-written, mismatched) keeps the old one
   * and says why, once per change.
   */
  refresh(log: (line: string) => void = (l) => console.error(l)): void {
    for (const [site, held] of this.certs) {
      if (held === null) continue;
      const t = site.tls!;
      const files = filesOf(t);
      const now = files.map(stampOf);
      if (now.every((st, i) => sameStamp(st, held.stamps[i]!))) continue;
      held.stamps = now;
      const next = readSite(t);
      if (typeof next === "string") {
        log(`[WARN] tls: site[${site.index}] ${next}; still serving the previous certificate`);
        continue;
      }
      held.context = next.context;
      held.clientCa = next.clientCa;
      // Bun cannot change the bound certificate that clients without SNI get (docs/https.md#reload).
      const noSni = site === this.defaultSite ? " (to clients with SNI; clients without SNI keep the certificate the address was started with until a restart)" : "";
      log(`tls: site[${site.index}] certificate files changed: now serving ${next.subject}, valid until ${new Date(next.notAfter).toISOString()}${noSni}`);
    }
  }
}

function filesOf(t: SiteTls): string[] {
  return t.clientAuth ? [t.certFile, t.keyFile, t.clientAuth.caFile] : [t.certFile, t.keyFile];
}

function stampOf(file: string): Stamp | null {
  try {
    const st = fs.statSync(file);
    return { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
  } catch {
    return null;
  }
}

const sameStamp = (a: Stamp | null, b: Stamp | null): boolean =>
  a === null || b === null ? a === b : a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

/** Read and check a site's files again: its new context, or why it cannot be used. */
function readSite(t: SiteTls): { context: unknown; clientCa: string | null; subject: string; notAfter: number } | string {
  let cert: string;
  let key: string;
  let clientCa: string | null = null;
  try {
    cert = fs.readFileSync(t.certFile, "latin1");
    key = fs.readFileSync(t.keyFile, "latin1");
    if (t.clientAuth) clientCa = fs.readFileSync(t.clientAuth.caFile, "latin1");
  } catch (e) {
    return `cannot read its certificate files (${(e as Error).message})`;
  }
  const c = checkPair(cert, key);
  if (!c.ok) return `${c.field === "cert" ? t.certFile : t.keyFile} ${c.error}`;
  if (clientCa !== null) {
    const bad = checkCaBundle(clientCa);
    if (bad !== null) return `${t.clientAuth!.caFile} ${bad}`;
  }
  try {
    return { context: contextFor(cert, key, clientCa), clientCa, subject: c.subject, notAfter: c.notAfter };
  } catch (e) {
    return `its new certificate was refused by the TLS stack (${(e as Error).message})`;
  }
}

let placeholder: unknown = null;
function placeholderContext(): unknown {
  return (placeholder ??= (tls.createSecureContext({ cert: PLACEHOLDER_CERT, key: PLACEHOLDER_KEY }) as unknown as { context: unknown }).context);
}

function contextFor(cert: string, key: string, clientCa: string | null): unknown {
  // With the listener's requestCert, a client certificate is verified against the CAs of the
  // context SNI chose (checked by experiment, docs/runtime-notes.md).
  const ctx = tls.createSecureContext({ cert, key, minVersion: "TLSv1.2", ciphers: CIPHERS_TLS12, ...(clientCa !== null ? { ca: clientCa } : {}) });
  // Bun's serverName handler wants the native handle (`.context`), not the wrapper (docs/runtime-notes.md).
  return (ctx as unknown as { context: unknown }).context;
}
