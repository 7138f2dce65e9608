/**
 * PKCS#10 certificate signing request (RFC 2986) for an ACME finalize (RFC 8555 §7.4): subject
 * CN = the first name, the names in a subjectAltName extension request (RFC 5280 §4.2.1.6; CAs
 * read the SAN, the CN is informational), signed with ECDSA P-256 / SHA-256 through Web Crypto.
 * Our own DER (./der.ts): no dependency.
 */
import { bits, octets, oid, pem, seq, set, smallInteger, tlv, TAG, unsignedInteger, utf8 } from "./der.ts";

export const OID = {
  commonName: "2.5.4.3",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
} as const;

/**
 * Web Crypto's ECDSA signature is IEEE P1363 (r || s, 32 bytes each for P-256); X.509 and
 * PKCS#10 want the DER `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3).
 */
export function p1363ToDer(sig: Uint8Array): Uint8Array {
  if (sig.length % 2 !== 0) throw new Error("P1363 signature of odd length");
  const half = sig.length / 2;
  return seq(unsignedInteger(sig.subarray(0, half)), unsignedInteger(sig.subarray(half)));
}

/** The CertificationRequestInfo to be signed. `spki` is the DER SubjectPublicKeyInfo (exportKey "spki"). */
export function requestInfo(names: readonly string[], spki: Uint8Array): Uint8Array {
  if (names.length === 0) throw new Error("a CSR needs at least one name");
  const subject = seq(set(seq(oid(OID.commonName), utf8(names[0]!))));
  const san = seq(...names.map((n) => tlv(TAG.CONTEXT_2_PRIMITIVE, new TextEncoder().encode(n))));
  const extensions = seq(seq(oid(OID.subjectAltName), octets(san)));
  const attributes = tlv(TAG.CONTEXT_0, seq(oid(OID.extensionRequest), set(extensions)));
  return seq(smallInteger(0), subject, spki, attributes);
}

/** A DER CSR for `names`, signed by `key` (ECDSA P-256 key pair from Web Crypto). */
export async function buildCsr(names: readonly string[], key: CryptoKeyPair): Promise<Uint8Array> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
  const info = requestInfo(names, spki);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, info as Uint8Array<ArrayBuffer>));
  return seq(info, seq(oid(OID.ecdsaWithSHA256)), bits(p1363ToDer(sig)));
}

export const csrPem = (der: Uint8Array): string => pem("CERTIFICATE REQUEST", der);

