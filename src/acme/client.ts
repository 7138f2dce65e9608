/**
 * An ACME client (RFC 8555) for one job: obtain a certificate for some names with HTTP-01.
 * Account key and certificate key are ECDSA P-256 (Web Crypto); requests are JWS ES256
 * (./jws.ts) over our own HTTPS client (./https-client.ts); the CSR is our own DER (./csr.ts).
 *
 * The HTTP-01 answer is served by the caller (`present(token, keyAuthorization)`), on the
 * plain listener of the name: the validation server fetches
 * http://NAME/.well-known/acme-challenge/TOKEN (RFC 8555 §8.3). badNonce is retried (§6.5),
 * Retry-After is honoured while polling (§7.4; bounded), and every wait has a deadline.
 */
import { buildCsr } from "./csr.ts";
import { base64url, pem } from "./der.ts";
import { httpsRequest, type HttpsResponse } from "./https-client.ts";
import { generateP256, keyAuthorization, publicJwk, signJws } from "./jws.ts";

export interface AcmeOptions {
  /** The directory URL (RFC 8555 §7.1.1). */
  readonly directory: string;
  /** Extra trusted roots (PEM) for the ACME server's own HTTPS certificate (a private or test CA). */
  readonly ca: string | null;
  readonly email: string | null;
  /** Serve the key authorization for a token; the returned function removes it. */
  readonly present: (token: string, keyAuthorization: string) => () => void;
  /** Log one line (progress, retries). */
  readonly log?: (line: string) => void;
  /** Give up polling an authorization or order after this long. */
  readonly pollTimeoutMs?: number;
}

export interface Issued {
  /** PEM chain: the leaf first. */
  readonly certPem: string;
  /** PEM PKCS#8 private key of the leaf. */
  readonly keyPem: string;
}

interface Directory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
}

export class AcmeError extends Error {
  constructor(
    message: string,
    readonly problem: { type?: string; detail?: string } | null = null,
    /** The server's Retry-After on an error answer (rateLimited, 503), in ms: wait at least this long. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/**
 * Retry-After of an error answer (RFC 8555 §6.6: rateLimited comes with one), delta-seconds or
 * an HTTP-date, unclamped up to a week (Let's Encrypt's limits reset within days); null if absent.
 */
export function errorRetryAfterMs(v: string | null | undefined, now = Date.now()): number | null {
  if (v === null || v === undefined) return null;
  let ms: number | null = null;
  if (/^\d{1,9}$/.test(v)) ms = Number(v) * 1000;
  else {
    const t = Date.parse(v);
    if (/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v) && !Number.isNaN(t)) ms = Math.max(0, t - now);
  }
  return ms === null ? null : Math.min(ms, 7 * 24 * 3600_000);
}

const json = (r: HttpsResponse): any => {
  try {
    return JSON.parse(new TextDecoder().decode(r.body));
  } catch {
    return null;
  }
};

/** Retry-After (RFC 9110 §10.2.3) in ms: seconds only (dates are rare from ACME servers), clamped. */
export function retryAfterMs(v: string | undefined, fallback: number): number {
  if (v === undefined || !/^\d{1,6}$/.test(v)) return fallback;
  return Math.min(Number(v) * 1000, 60_000);
}

/** Network failures (not HTTP error answers) are retried this many times, after 0.5 s, 1 s, 1.5 s. */
const TRANSIENT_RETRIES = 3;
const TRANSIENT_DELAY_MS = 500;

/**
 * `request()` again after a network failure (a reset connection, a failed TLS handshake, a
 * timeout), up to TRANSIENT_RETRIES times: one lost connection to the ACME server must not cost
 * the name an hour of backoff. post() wraps signing and sending in it, so a retry signs with a
 * fresh nonce. Exported for the unit tests.
 */
export async function retryTransient<T>(request: () => Promise<T>, log?: (line: string) => void, delayMs = TRANSIENT_DELAY_MS): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (e) {
      if (attempt >= TRANSIENT_RETRIES) throw e;
      log?.(`${(e as Error).message}; retrying`);
      await Bun.sleep(delayMs * (attempt + 1));
    }
  }
}

export class AcmeClient {
  private dir: Directory | null = null;
  private nonce: string | null = null;
  private kid: string | null = null;

  constructor(
    private readonly o: AcmeOptions,
    private readonly accountKey: CryptoKeyPair,
  ) {}

  private async directory(): Promise<Directory> {
    if (this.dir) return this.dir;
    const r = await retryTransient(() => httpsRequest("GET", this.o.directory, { ca: this.o.ca }), this.o.log);
    const d = json(r);
    if (r.status !== 200 || !d?.newNonce || !d?.newAccount || !d?.newOrder) throw new AcmeError(`ACME directory ${this.o.directory} answered ${r.status} without newNonce/newAccount/newOrder`);
    return (this.dir = d as Directory);
  }

  private async freshNonce(): Promise<string> {
    const url = (await this.directory()).newNonce;
    const r = await retryTransient(() => httpsRequest("HEAD", url, { ca: this.o.ca }), this.o.log);
    const n = r.headers.get("replay-nonce");
    if (!n) throw new AcmeError(`ACME newNonce answered ${r.status} without Replay-Nonce`);
    return n;
  }

  /** A signed POST (payload null = POST-as-GET), retrying on badNonce (RFC 8555 §6.5). */
  async post(url: string, payload: unknown, useJwk = false): Promise<HttpsResponse> {
    for (let attempt = 0; ; attempt++) {
      // A failed connection spends its nonce (whether the server saw the request is unknown), so
      // each network retry signs again with a fresh one. Signed requests are safe to repeat: a
      // replayed one is refused by its nonce (RFC 8555 §6.5).
      const r = await retryTransient(async () => {
        const nonce = this.nonce ?? (await this.freshNonce());
        this.nonce = null;
        const jws = await signJws(this.accountKey, payload, { url, nonce, kid: useJwk ? null : this.kid });
        return httpsRequest("POST", url, { body: JSON.stringify(jws), contentType: "application/jose+json", ca: this.o.ca });
      }, this.o.log);
      this.nonce = r.headers.get("replay-nonce") ?? null;
      if (r.status < 400) return r;
      const problem = json(r);
      if (problem?.type === "urn:ietf:params:acme:error:badNonce" && attempt < 3) continue;
      const wait = r.headers.get("retry-after");
      throw new AcmeError(`ACME ${url} answered ${r.status}: ${problem?.detail ?? problem?.type ?? "no detail"}${wait ? ` (Retry-After ${wait})` : ""}`, problem, errorRetryAfterMs(wait));
    }
  }

  async account(): Promise<string> {
    if (this.kid) return this.kid;
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
    if (this.o.email) payload.contact = [`mailto:${this.o.email}`];
    const r = await this.post((await this.directory()).newAccount, payload, true);
    const kid = r.headers.get("location");
    if (!kid) throw new AcmeError("ACME newAccount answered without a Location (the account URL)");
    return (this.kid = kid);
  }

  /** Poll a resource (POST-as-GET) until its status leaves `pending`/`processing`. */
  private async poll(url: string, what: string): Promise<any> {
    const end = Date.now() + (this.o.pollTimeoutMs ?? 120_000);
    for (;;) {
      const r = await this.post(url, null);
      const body = json(r);
      if (body?.status !== "pending" && body?.status !== "processing") return body;
      if (Date.now() > end) throw new AcmeError(`${what} still ${body.status} after ${(this.o.pollTimeoutMs ?? 120_000) / 1000} s`);
      await Bun.sleep(retryAfterMs(r.headers.get("retry-after"), 500));
    }
  }

  async obtain(names: readonly string[]): Promise<Issued> {
    for (const n of names) if (n.startsWith("*.")) throw new AcmeError(`${n}: wildcard names need DNS-01, which is not supported (HTTP-01 only)`);
    await this.account();
    const dir = await this.directory();
    const orderRes = await this.post(dir.newOrder, { identifiers: names.map((value) => ({ type: "dns", value })) });
    const orderUrl = orderRes.headers.get("location");
    let order = json(orderRes);
    if (!orderUrl || !order?.finalize) throw new AcmeError("ACME newOrder answered without Location or finalize URL");
    const jwk = await publicJwk(this.accountKey.publicKey);
    for (const authzUrl of order.authorizations as string[]) {
      const authz = json(await this.post(authzUrl, null));
      if (authz?.status === "valid") continue;
      const ch = (authz?.challenges ?? []).find((c: any) => c.type === "http-01");
      if (!ch) throw new AcmeError(`no http-01 challenge offered for ${authz?.identifier?.value}`);
      const remove = this.o.present(ch.token, await keyAuthorization(ch.token, jwk));
      try {
        await this.post(ch.url, {});
        const done = await this.poll(authzUrl, `authorization for ${authz.identifier.value}`);
        if (done?.status !== "valid") {
          const err = (done?.challenges ?? []).find((c: any) => c.type === "http-01")?.error;
          throw new AcmeError(`authorization for ${authz.identifier.value} is ${done?.status}: ${err?.detail ?? "no detail"}`, err ?? null);
        }
      } finally {
        remove();
      }
    }
    const certKey = await generateP256();
    const csr = await buildCsr(names, certKey);
    await this.post(order.finalize, { csr: base64url(csr) });
    order = await this.poll(orderUrl, "order");
    if (order?.status !== "valid" || !order.certificate) throw new AcmeError(`order is ${order?.status} after finalize`);
    const certRes = await this.post(order.certificate, null);
    const certPem = new TextDecoder().decode(certRes.body);
    if (!certPem.includes("-----BEGIN CERTIFICATE-----")) throw new AcmeError("the certificate download holds no PEM certificate");
    const keyPem = pem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", certKey.privateKey)));
    this.o.log?.(`certificate issued for ${names.join(", ")}`);
    return { certPem, keyPem };
  }
}
