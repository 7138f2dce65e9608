/**
 * The client certificate of a TLS connection (mTLS), read once when the handshake completes.
 *
 * Bun verifies the chain against the CAs of the context SNI chose (or the listener's, without
 * SNI) and reports the result as `socket.authorized` / `getAuthorizationError()`; the handshake
 * never fails on it (rejectUnauthorized is off, because only some sites of an address may want
 * certificates). The site a request reaches decides what the result means (Runtime.dispatch):
 * it accepts only a verification done against its own client_ca (`verifiedWith`), so a client
 * cannot get a certificate checked by one site's CAs and present it to another.
 */
import { X509Certificate } from "node:crypto";

export interface ClientCert {
  /** Subject as an RFC 4514 string, most specific RDN last reversed: "O=Example,CN=alice". */
  readonly subject: string;
  /** SHA-256 of the DER certificate, lowercase hex without colons (pinning, logs). */
  readonly fingerprint: string;
  /** The chain verified against `verifiedWith`. */
  readonly verified: boolean;
  /** Why it did not verify (the TLS stack's code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE), or null. */
  readonly error: string | null;
  /** PEM of the CAs it was verified against (the context's client_ca), or null. */
  readonly verifiedWith: string | null;
}

/** What the handshake of a TLS socket needs to expose (Bun's TLS socket). */
export interface PeerCertSource {
  readonly authorized: boolean;
  getAuthorizationError(): Error | null;
  getPeerCertificate(): { raw?: Uint8Array } | null | undefined;
}

/** The client's certificate, or null when it sent none. */
export function readClientCert(socket: PeerCertSource, verifiedWith: string | null): ClientCert | null {
  const raw = socket.getPeerCertificate()?.raw;
  if (!raw || raw.byteLength === 0) return null;
  let c: X509Certificate;
  try {
    c = new X509Certificate(raw);
  } catch {
    return { subject: "", fingerprint: "", verified: false, error: "unparsable certificate", verifiedWith };
  }
  const verified = socket.authorized && verifiedWith !== null;
  const err = verified ? null : ((socket.getAuthorizationError() as { code?: string } | null)?.code ?? "not verified");
  return { subject: rfc4514(c.subject), fingerprint: c.fingerprint256.replace(/:/g, "").toLowerCase(), verified, error: err, verifiedWith };
}

/**
 * node:crypto prints the subject one RDN per line, in certificate order, values already escaped
 * for RFC 2253 (`\\,`); RFC 4514 §2.1 writes them last-first, comma-separated (what nginx's
 * $ssl_client_s_dn and Go's pkix.Name.String() give).
 */
export function rfc4514(subject: string): string {
  return subject.split("\n").filter((x) => x !== "").reverse().join(",");
}
