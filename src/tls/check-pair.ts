/**
 * Checks a PEM certificate/key pair the way the TLS stack will use it, so `--check` and a
 * reload report a bad pair with its reason instead of a handshake failure at the first client:
 * not PEM, unparsable, a key that does not belong to the certificate. Expiry is reported
 * separately (a warning: an expired certificate is still better served than no site at all,
 * and the operator may be about to replace it).
 *
 * node:crypto (OpenSSL/BoringSSL in Bun) parses the certificate; no Bun-specific API.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

export type PairCheck =
  | { readonly ok: true; readonly notAfter: number; readonly subject: string; readonly names: readonly string[] }
  | { readonly ok: false; readonly field: "cert" | "key"; readonly error: string };

const PEM_CERT = "-----BEGIN CERTIFICATE-----";
const PEM_KEY = /-----BEGIN (?:EC |RSA |ENCRYPTED )?PRIVATE KEY-----/;

/** The DNS names a certificate covers (subjectAltName, RFC 6125 §6.4.4; CN only without SANs). */
function namesOf(c: X509Certificate): string[] {
  const san = c.subjectAltName;
  if (san) {
    return san
      .split(", ")
      .filter((x) => x.startsWith("DNS:"))
      .map((x) => x.slice(4));
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(c.subject);
  return cn ? [cn[1]!] : [];
}

export function checkPair(certPem: string, keyPem: string): PairCheck {
  if (!certPem.includes(PEM_CERT)) return { ok: false, field: "cert", error: `holds no PEM certificate ("${PEM_CERT}")` };
  if (!PEM_KEY.test(keyPem)) return { ok: false, field: "key", error: `holds no PEM private key ("-----BEGIN PRIVATE KEY-----")` };
  if (/ENCRYPTED/.test(keyPem)) return { ok: false, field: "key", error: "is encrypted with a passphrase, which the server cannot enter; store it decrypted with mode 0600" };
  let cert: X509Certificate;
  try {
    // The first certificate of the file is the leaf; the rest is the chain.
    cert = new X509Certificate(certPem.slice(certPem.indexOf(PEM_CERT)));
  } catch (e) {
    return { ok: false, field: "cert", error: `is not a valid PEM certificate (${(e as Error).message})` };
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (e) {
    return { ok: false, field: "key", error: `is not a valid PEM private key (${(e as Error).message})` };
  }
  if (!matches) return { ok: false, field: "key", error: `does not belong to the certificate (subject ${cert.subject.replace(/\n/g, ", ")}): the key and the first certificate of the cert file must be a pair` };
  return { ok: true, notAfter: cert.validToDate.getTime(), subject: cert.subject.replace(/\n/g, ", "), names: namesOf(cert) };
}

/**
 * Checks a `client_ca` bundle: at least one PEM certificate, every one parsable and a CA
 * (basicConstraints cA, RFC 5280 §4.2.1.9: a leaf given by mistake would trust nobody, or the
 * wrong party). The reason as text, or null when it is usable.
 */
export function checkCaBundle(pem: string): string | null {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (blocks === null) return `holds no PEM certificate ("${PEM_CERT}")`;
  for (const [i, b] of blocks.entries()) {
    let c: X509Certificate;
    try {
      c = new X509Certificate(b);
    } catch (e) {
      return `certificate #${i + 1} is not a valid PEM certificate (${(e as Error).message})`;
    }
    if (!c.ca) return `certificate #${i + 1} (subject ${c.subject.replace(/\n/g, ", ")}) is not a CA certificate (no basicConstraints cA)`;
  }
  return null;
}
