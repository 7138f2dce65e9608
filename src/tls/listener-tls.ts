/**
 * The TLS side of one listen address: the certificate every handshake starts with (the
 * address's first TLS site, also what a client without SNI gets) and, per SNI name, the
 * secure context of the site that name routes to (exact host, then wildcard, then the
 * default: the same lookup as Host routing, so certificate choice and routing agree).
 *
 * Built by each Runtime, so a reload (SIGHUP) re-reads the pairs: new handshakes get the new
 * certificates, established connections keep theirs. The listener's own default pair (for
 * clients without SNI) is fixed when the address is bound (docs/https.md#reload).
 *
 * Protocol settings (docs/runtime-notes.md): TLS 1.2 minimum (Bun wants the OpenSSL version
 * number, 0x0303, not "TLSv1.2"), ALPN in wire format: "h2" first, then "http/1.1", unless a
 * TLS site of the address sets http2 = false (ALPN is settled before SNI routing can tell sites apart).
 */
import tls from "node:tls";
import type { SiteConfig, SiteTls } from "../config/config.ts";
import type { SiteTable } from "../router/host.ts";
import { acmeManager } from "../acme/manager.ts";
import { PLACEHOLDER_CERT, PLACEHOLDER_KEY } from "./placeholder.ts";

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
}

export class ListenerTls {
  /** The address's first TLS site: served to clients without SNI or with an unknown name. */
  readonly defaultSite: SiteConfig;
  private readonly contexts = new Map<SiteConfig, unknown>();
  private readonly alpn: Buffer;

  constructor(
    private readonly table: SiteTable,
    sites: readonly SiteConfig[],
  ) {
    this.defaultSite = sites[0]!;
    this.alpn = sites.every((s) => s.http2 !== false) ? ALPN_H2_HTTP11 : ALPN_HTTP11;
    for (const s of sites) this.contexts.set(s, s.tls!.auto ? null : contextFor(s.tls!));
  }

  get listenOptions(): ListenTlsOptions {
    const t = this.defaultSite.tls!;
    // An auto site's certificate arrives later, per SNI: bind with the placeholder (src/tls/placeholder.ts).
    const [cert, key] = t.auto ? [PLACEHOLDER_CERT, PLACEHOLDER_KEY] : [t.cert, t.key];
    return { cert, key, minVersion: TLS_MIN_VERSION, ALPNProtocols: this.alpn, ciphers: CIPHERS_TLS12 };
  }

  /** The site an SNI name selects: the Host routing rules, else the default TLS site. */
  siteFor(serverName: string): SiteConfig {
    const s = this.table.lookup(serverName);
    return s !== null && this.contexts.has(s) ? s : this.defaultSite;
  }

  /** The native context to hand back from Bun's `serverName` socket handler. */
  contextFor(serverName: string): unknown {
    const site = this.siteFor(serverName);
    // ACME certificates are looked up at each handshake, so a renewal swaps them in place.
    if (site.tls!.auto) return acmeManager.contextFor(serverName) ?? placeholderContext();
    return this.contexts.get(site);
  }
}

let placeholder: unknown = null;
function placeholderContext(): unknown {
  return (placeholder ??= (tls.createSecureContext({ cert: PLACEHOLDER_CERT, key: PLACEHOLDER_KEY }) as unknown as { context: unknown }).context);
}

function contextFor(t: SiteTls): unknown {
  const ctx = tls.createSecureContext({ cert: t.cert, key: t.key, minVersion: "TLSv1.2", ciphers: CIPHERS_TLS12 });
  // Bun's serverName handler wants the native handle (`.context`), not the wrapper (docs/runtime-notes.md).
  return (ctx as unknown as { context: unknown }).context;
}
