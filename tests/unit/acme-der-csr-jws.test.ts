/**
 * The pure ACME building blocks (src/acme): DER encoding as tables (X.690 examples), a CSR
 * checked by a real parser (`openssl req -verify`, and node:crypto for the SAN), and JWS ES256
 * signatures verified with Web Crypto; the JWK thumbprint against RFC 7638's rules.
 */
import { describe, expect, test } from "bun:test";
import { base64url, encodeLength, oid, pem, unsignedInteger } from "../../src/acme/der.ts";
import { buildCsr, csrPem, p1363ToDer } from "../../src/acme/csr.ts";
import { generateP256, keyAuthorization, publicJwk, signJws, thumbprint } from "../../src/acme/jws.ts";
import { IN_CI } from "../e2e/real-clients-helpers.ts";
import { parseResponse } from "../../src/acme/https-client.ts";
import { errorRetryAfterMs, retryAfterMs } from "../../src/acme/client.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("DER", () => {
  const lengths: [number, string][] = [
    [0, "00"],
    [127, "7f"],
    [128, "8180"],
    [255, "81ff"],
    [256, "820100"],
    [65535, "82ffff"],
    [65536, "83010000"],
  ];
  for (const [n, want] of lengths) test(`length ${n} → ${want}`, () => expect(hex(encodeLength(n))).toBe(want));

  const oids: [string, string][] = [
    ["2.5.4.3", "0603550403"],
    ["1.2.840.10045.4.3.2", "06082a8648ce3d040302"],
    ["1.2.840.113549.1.9.14", "06092a864886f70d01090e"],
    ["2.5.29.17", "0603551d11"],
  ];
  for (const [o, want] of oids) test(`OID ${o}`, () => expect(hex(oid(o))).toBe(want));

  const ints: [string, string][] = [
    ["00", "020100"],
    ["7f", "02017f"],
    ["80", "02020080"],
    ["000080", "02020080"],
    ["0001", "020101"],
  ];
  for (const [m, want] of ints) test(`INTEGER magnitude ${m}`, () => expect(hex(unsignedInteger(Buffer.from(m, "hex")))).toBe(want));

  test("base64url has no padding and the URL alphabet", () => {
    expect(base64url(Uint8Array.of(0xfb, 0xff))).toBe("-_8");
    expect(base64url("{}")).toBe("e30");
  });
  test("PEM lines are 64 characters", () => {
    const p = pem("X", new Uint8Array(100));
    expect(p.split("\n")[1]!.length).toBe(64);
    expect(p).toStartWith("-----BEGIN X-----\n");
  });
  test("P1363 → DER ECDSA signature", () => {
    const sig = new Uint8Array(64);
    sig[0] = 0x80;
    sig[63] = 1;
    const der = p1363ToDer(sig);
    expect(hex(der).slice(0, 10)).toBe("3026022100"); // SEQUENCE, INTEGER with a 0x00 pad for r
    expect(hex(der).endsWith("020101")).toBe(true); // s = 1, leading zeros stripped
  });
});

describe("CSR", () => {
  test("openssl parses and verifies it; the SAN holds every name", async () => {
    const key = await generateP256();
    const der = await buildCsr(["a.example", "www.a.example"], key);
    const text = csrPem(der);
    if (!Bun.which("openssl")) {
      if (IN_CI) throw new Error("openssl missing (apt-get install openssl)");
      console.warn("[acme] skipping the openssl CSR check: openssl not found");
      return;
    }
    const p = Bun.spawnSync(["openssl", "req", "-noout", "-verify", "-text"], { stdin: Buffer.from(text) });
    const out = p.stdout.toString() + p.stderr.toString();
    expect(p.exitCode, out).toBe(0);
    expect(out).toMatch(/verify OK|Certificate request self-signature verify OK/);
    expect(out).toContain("Subject: CN = a.example");
    expect(out).toContain("DNS:a.example, DNS:www.a.example");
    expect(out).toContain("ecdsa-with-SHA256");
  });
});

describe("JWS", () => {
  test("ES256 flattened JWS verifies; jwk for a new account, kid afterwards; empty payload for POST-as-GET", async () => {
    const key = await generateP256();
    const first = await signJws(key, { termsOfServiceAgreed: true }, { url: "https://ca/new-acct", nonce: "n1", kid: null });
    const header = JSON.parse(Buffer.from(first.protected, "base64url").toString());
    expect(header).toEqual({ alg: "ES256", nonce: "n1", url: "https://ca/new-acct", jwk: await publicJwk(key.publicKey) });
    const ok = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key.publicKey,
      Buffer.from(first.signature, "base64url"),
      new TextEncoder().encode(`${first.protected}.${first.payload}`),
    );
    expect(ok).toBe(true);
    expect(Buffer.from(first.signature, "base64url").length).toBe(64);
    const later = await signJws(key, null, { url: "https://ca/order/1", nonce: "n2", kid: "https://ca/acct/1" });
    expect(later.payload).toBe("");
    expect(JSON.parse(Buffer.from(later.protected, "base64url").toString()).kid).toBe("https://ca/acct/1");
  });

  test("thumbprint is SHA-256 over the canonical members (RFC 7638 §3)", async () => {
    const jwk = { kty: "EC" as const, crv: "P-256" as const, x: "AAAA", y: "BBBB" };
    const want = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode('{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}'))));
    expect(await thumbprint(jwk)).toBe(want);
    expect(await keyAuthorization("tok", jwk)).toBe(`tok.${want}`);
  });
});

describe("ACME HTTPS response reading", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const rows: [string, string, number, string][] = [
    ["content-length", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: https://ca/acct/1\r\n\r\n{}", 201, "{}"],
    ["chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 200, "abcde"],
    ["read to close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", 200, "all of it"],
  ];
  for (const [what, raw, status, body] of rows) {
    test(what, () => {
      const r = parseResponse(enc(raw));
      expect(r.status).toBe(status);
      expect(new TextDecoder().decode(r.body)).toBe(body);
    });
  }
  test("header names are lowercased, values trimmed", () => {
    expect(parseResponse(enc("HTTP/1.1 200 OK\r\nReplay-Nonce:  abc \r\n\r\n")).headers.get("replay-nonce")).toBe("abc");
  });
  test("no status line is an error", () => expect(() => parseResponse(enc("garbage\r\n\r\n"))).toThrow(/no HTTP status line/));
  const waits: [string | undefined, number][] = [
    [undefined, 500],
    ["3", 3000],
    ["999", 60_000],
    ["Wed, 21 Oct 2015 07:28:00 GMT", 500],
    ["-1", 500],
  ];
  for (const [v, ms] of waits) test(`Retry-After ${v} → ${ms} ms`, () => expect(retryAfterMs(v, 500)).toBe(ms));
  // An error answer's Retry-After (rateLimited): the order backoff waits at least this long.
  const now = Date.parse("Sun, 06 Dec 2026 10:00:00 GMT");
  const errWaits: [string | null, number | null][] = [
    [null, null],
    ["3600", 3_600_000],
    ["0", 0],
    ["Sun, 06 Dec 2026 13:00:00 GMT", 3 * 3_600_000],
    ["Sun, 06 Dec 2026 09:00:00 GMT", 0],
    ["99999999", 7 * 24 * 3_600_000],
    ["soon", null],
    ["-5", null],
    ["1.5", null],
  ];
  for (const [v, ms] of errWaits) test(`error Retry-After ${v} → ${ms}`, () => expect(errorRetryAfterMs(v, now)).toBe(ms));
});
