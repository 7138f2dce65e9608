/**
 * ACME request signing (RFC 8555 §6.2): flattened JWS JSON (RFC 7515 §7.2.2) with ES256
 * (RFC 7518 §3.4: the P1363 r||s signature Web Crypto produces, base64url-encoded). The
 * protected header carries alg, nonce, url and either the account's jwk (newAccount) or its
 * kid (every later request). Also the JWK thumbprint (RFC 7638) for HTTP-01 key authorizations
 * (RFC 8555 §8.1). Pure Web Crypto: no Bun imports.
 */
import { base64url } from "./der.ts";

export interface EcJwk {
  readonly kty: "EC";
  readonly crv: "P-256";
  readonly x: string;
  readonly y: string;
}

export async function generateP256(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** The public JWK with exactly the members RFC 7638 §3.2 requires for EC keys. */
export async function publicJwk(key: CryptoKey): Promise<EcJwk> {
  const j = await crypto.subtle.exportKey("jwk", key);
  return { kty: "EC", crv: "P-256", x: j.x!, y: j.y! };
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace. */
export async function thumbprint(jwk: EcJwk): Promise<string> {
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical))));
}

/** RFC 8555 §8.1: token "." thumbprint — the body served at /.well-known/acme-challenge/{token}. */
export async function keyAuthorization(token: string, jwk: EcJwk): Promise<string> {
  return `${token}.${await thumbprint(jwk)}`;
}

export interface JwsFlattened {
  readonly protected: string;
  readonly payload: string;
  readonly signature: string;
}

/**
 * Sign `payload` (an object, or null for POST-as-GET whose payload is the empty string,
 * RFC 8555 §6.3) for `url` with `nonce`; `kid` is the account URL, or null to embed the jwk.
 */
export async function signJws(
  key: CryptoKeyPair,
  payload: unknown,
  opts: { readonly url: string; readonly nonce: string; readonly kid: string | null },
): Promise<JwsFlattened> {
  const header: Record<string, unknown> = { alg: "ES256", nonce: opts.nonce, url: opts.url };
  if (opts.kid === null) header.jwk = await publicJwk(key.publicKey);
  else header.kid = opts.kid;
  const protectedB64 = base64url(JSON.stringify(header));
  const payloadB64 = payload === null ? "" : base64url(JSON.stringify(payload));
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, new TextEncoder().encode(`${protectedB64}.${payloadB64}`));
  return { protected: protectedB64, payload: payloadB64, signature: base64url(new Uint8Array(sig)) };
}
