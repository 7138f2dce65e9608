/**
 * basic_auth (src/middleware/basic-auth): RFC 7617 parsing as a table, success / failure /
 * challenge, the attempt bucket (429 before any hash runs), the verification cache, the
 * Authorization field removed unless forward_authorization, and timing equality of unknown
 * users and wrong passwords (statistical: medians within a factor, both far above a cached hit).
 */
import { describe, expect, test } from "bun:test";
import type { BasicAuthConfig } from "../../src/config/config.ts";
import type { Exchange } from "../../src/handler.ts";
import { BasicAuth, CACHE_MAX, parseBasic } from "../../src/middleware/basic-auth/index.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import { FakeExchange } from "./fake-exchange.ts";

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

describe("parseBasic", () => {
  test.each([
    [undefined, "none"],
    ["Bearer abc", "none"],
    ["Basic", "none"],
    ["Digest x=y", "none"],
    [`Basic ${b64("alice:secret")}`, { user: "alice", password: "secret" }],
    [`basic ${b64("alice:secret")}`, { user: "alice", password: "secret" }], // scheme is case-insensitive
    [`BASIC   ${b64("alice:secret")}`, { user: "alice", password: "secret" }],
    [`Basic ${b64("alice:pa:ss")}`, { user: "alice", password: "pa:ss" }], // the first colon splits
    [`Basic ${b64("alice:")}`, { user: "alice", password: "" }],
    [`Basic ${b64("jürgen:päss")}`, { user: "jürgen", password: "päss" }], // charset="UTF-8"
    [`Basic ${b64("nocolon")}`, "bad"],
    ["Basic !!!!", "bad"],
    ["Basic YWxpY2U6c2VjcmV0=", "bad"], // length not a multiple of 4
    [`Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, "bad"], // not UTF-8
  ])("%p → %p", (value, want) => {
    expect(parseBasic(value)).toEqual(want as ReturnType<typeof parseBasic>);
  });
});

// Cheap hashes keep the suite fast; the production default is 64 MiB, t=2.
const ALICE = Bun.password.hashSync("secret", { algorithm: "argon2id", memoryCost: 4096, timeCost: 3 });
const BOB = Bun.password.hashSync("hunter2", { algorithm: "bcrypt", cost: 4 });
const cfg = (over: Partial<BasicAuthConfig> = {}): BasicAuthConfig => ({ realm: "admin", users: [["alice", ALICE], ["bob", BOB]], failCount: 100, failPeriodMs: 60_000, ...over });

/** Run the middleware; resolves with the exchange and what the next handler saw (null: refused). */
async function run(auth: BasicAuth, req: ConstructorParameters<typeof FakeExchange>[0]): Promise<{ ex: FakeExchange; passed: Exchange | null; ms: number }> {
  const ex = new FakeExchange(req);
  let passed: Exchange | null = null;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const origSend = ex.sendError.bind(ex);
    ex.sendError = (s, c, h) => {
      origSend(s, c, h);
      resolve();
    };
    auth.handle(ex, (e) => {
      passed = e;
      resolve();
    });
  });
  return { ex, passed, ms: performance.now() - t0 };
}
const withAuth = (v: string, ip = "192.0.2.1") => ({ clientIp: ip, headers: [["Authorization", v]] as [string, string][] });

describe("BasicAuth", () => {
  test("no credentials: 401 with the challenge (charset UTF-8)", async () => {
    const { ex, passed } = await run(new BasicAuth(cfg(), { forwardAuthorization: false, trusted: TrustedProxies.none }), {});
    expect(passed).toBeNull();
    expect([ex.status, ex.errorCode, ex.header("WWW-Authenticate")]).toEqual([401, "AUTH_REQUIRED", 'Basic realm="admin", charset="UTF-8"']);
  });

  test("argon2id and bcrypt users pass; the Authorization field is removed unless forward_authorization", async () => {
    const auth = new BasicAuth(cfg(), { forwardAuthorization: false, trusted: TrustedProxies.none });
    const a = await run(auth, withAuth(`Basic ${b64("alice:secret")}`));
    expect(a.passed).not.toBeNull();
    expect(a.passed!.head.headers.has("authorization")).toBe(false);
    const b = await run(auth, withAuth(`Basic ${b64("bob:hunter2")}`));
    expect(b.passed).not.toBeNull();
    const fwd = new BasicAuth(cfg(), { forwardAuthorization: true, trusted: TrustedProxies.none });
    const c = await run(fwd, withAuth(`Basic ${b64("alice:secret")}`));
    expect(c.passed!.head.headers.get("authorization")).toBe(`Basic ${b64("alice:secret")}`);
  });

  test.each([
    ["wrong password", `Basic ${b64("alice:wrong")}`, 401, "AUTH_FAILED"],
    ["unknown user", `Basic ${b64("mallory:secret")}`, 401, "AUTH_FAILED"],
    ["malformed", "Basic %%%%", 400, "AUTH_BAD_HEADER"],
  ])("%s → %d %s", async (_n, value, status, code) => {
    const { ex, passed } = await run(new BasicAuth(cfg(), { forwardAuthorization: false, trusted: TrustedProxies.none }), withAuth(value));
    expect(passed).toBeNull();
    expect([ex.status, ex.errorCode]).toEqual([status, code]);
    if (status === 401) expect(ex.header("WWW-Authenticate")).toContain('realm="admin"');
  });

  test("two Authorization fields are malformed", async () => {
    const { ex } = await run(new BasicAuth(cfg(), { forwardAuthorization: false, trusted: TrustedProxies.none }), {
      headers: [["Authorization", `Basic ${b64("alice:secret")}`], ["Authorization", `Basic ${b64("alice:secret")}`]],
    });
    expect(ex.status).toBe(400);
  });

  test("attempts that need a hash count per client: past fail_rate 429 before any hash runs", async () => {
    let now = 0;
    const auth = new BasicAuth(cfg({ failCount: 3, failPeriodMs: 60_000 }), { forwardAuthorization: false, trusted: TrustedProxies.none, now: () => now });
    for (let i = 0; i < 3; i++) expect((await run(auth, withAuth(`Basic ${b64("alice:guess" + i)}`))).ex.status).toBe(401);
    const blocked = await run(auth, withAuth(`Basic ${b64("alice:secret")}`));
    expect([blocked.ex.status, blocked.ex.errorCode, blocked.ex.header("Retry-After")]).toEqual([429, "AUTH_TOO_MANY_FAILURES", "20"]);
    // another client is not affected
    expect((await run(auth, withAuth(`Basic ${b64("alice:secret")}`, "192.0.2.2"))).passed).not.toBeNull();
    now = 20_000; // one attempt earned back
    expect((await run(auth, withAuth(`Basic ${b64("alice:secret")}`))).passed).not.toBeNull();
  });

  test("a verified credential is cached (no hash per request), with a bound", async () => {
    const auth = new BasicAuth(cfg({ failCount: 2 }), { forwardAuthorization: false, trusted: TrustedProxies.none });
    for (let i = 0; i < 50; i++) expect((await run(auth, withAuth(`Basic ${b64("alice:secret")}`))).passed).not.toBeNull();
    // 50 successes with an attempt bucket of 2: only the first ran a hash.
    expect(auth.cacheSize).toBe(1);
    expect(CACHE_MAX).toBe(1024);
  });

  test("concurrent requests with the same credential share one check (no extra hash, no extra token)", async () => {
    const auth = new BasicAuth(cfg({ failCount: 2 }), { forwardAuthorization: false, trusted: TrustedProxies.none });
    const all = await Promise.all(Array.from({ length: 20 }, () => run(auth, withAuth(`Basic ${b64("alice:secret")}`))));
    expect(all.every((r) => r.passed !== null)).toBe(true);
    expect(auth.attempts.peek("192.0.2.1", Math.floor(performance.now()))).toBe(0); // one token of two used
  });

  test("unknown users take the same time as wrong passwords (statistical)", async () => {
    const auth = new BasicAuth(cfg({ users: [["alice", ALICE]] }), { forwardAuthorization: false, trusted: TrustedProxies.none });
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 15; i++) {
      unknown.push((await run(auth, withAuth(`Basic ${b64(`nobody${i}:secret`)}`))).ms);
      wrong.push((await run(auth, withAuth(`Basic ${b64(`alice:wrong${i}`)}`))).ms);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const ratio = median(unknown) / median(wrong);
    // Without the dummy hash an unknown user answers in microseconds (ratio ≈ 0).
    expect(ratio).toBeGreaterThan(0.6);
    expect(ratio).toBeLessThan(1.6);
    const hit = await run(auth, withAuth(`Basic ${b64("alice:secret")}`));
    const cached = await run(auth, withAuth(`Basic ${b64("alice:secret")}`));
    expect(hit.passed && cached.passed).toBeTruthy();
    expect(cached.ms).toBeLessThan(median(wrong) / 3);
  });
});
