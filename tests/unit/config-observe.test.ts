/** [metrics], [tracing] and [admin] token validation, as table rows (field path + message fragment). */
import { describe, expect, test } from "bun:test";
import { validate, type FsCheck } from "../../src/config/validate.ts";

const fakeFs: FsCheck = { dir: (abs) => ({ real: abs }), readFile: () => ({ error: "no such file" }) };
const OPTS = { baseDir: "/srv", fs: fakeFs, cpus: 4, source: "/srv/dreamserver.toml" };
const base = (extra: Record<string, unknown>) => ({ ...extra, site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", respond: { status: 200 } }] }] });

describe("observability config: valid", () => {
  const rows: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["defaults", {}, { metricsEnabled: true, tracingSample: 0.1, otlpEndpoint: null }],
    ["metrics off", { metrics: { enabled: false } }, { metricsEnabled: false }],
    ["sample 0 and 1", { tracing: { sample: 1 } }, { tracingSample: 1 }],
    ["sample 0", { tracing: { sample: 0 } }, { tracingSample: 0 }],
  ];
  for (const [name, raw, want] of rows) {
    test(name, () => {
      const r = validate(base(raw), OPTS);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.config).toMatchObject(want);
    });
  }
  test("otlp_endpoint is a URL", () => {
    const r = validate(base({ tracing: { otlp_endpoint: "http://127.0.0.1:4318/v1/traces" } }), OPTS);
    expect(r.ok && r.config.otlpEndpoint?.href).toBe("http://127.0.0.1:4318/v1/traces");
  });
});

describe("observability config: mistakes", () => {
  const rows: [string, Record<string, unknown>, string, string][] = [
    ["metrics.enabled not a bool", { metrics: { enabled: "no" } }, "metrics.enabled", "true or false"],
    ["sample above 1", { tracing: { sample: 1.5 } }, "tracing.sample", "from 0 to 1"],
    ["sample negative", { tracing: { sample: -0.1 } }, "tracing.sample", "from 0 to 1"],
    ["sample as a string", { tracing: { sample: "10%" } }, "tracing.sample", "from 0 to 1"],
    ["otlp_endpoint not a URL", { tracing: { otlp_endpoint: "collector:4318" } }, "tracing.otlp_endpoint", "http:// or https://"],
    ["otlp_endpoint with credentials", { tracing: { otlp_endpoint: "http://u:p@c:4318/v1/traces" } }, "tracing.otlp_endpoint", "without credentials"],
    ["unknown key in [tracing]", { tracing: { rate: 1 } }, "tracing.rate", ""],
  ];
  for (const [name, raw, at, fragment] of rows) {
    test(name, () => {
      const r = validate(base(raw), OPTS);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        const p = r.problems.find((x) => x.path === at);
        expect(p).toBeDefined();
        expect(p!.message).toContain(fragment);
      }
    });
  }
});

describe("[admin] token", () => {
  const site = { site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", respond: { status: 200 } }] }] };
  const rows: [string, Record<string, unknown>, string | null][] = [
    ["loopback without a token", { listen: "127.0.0.1:9180" }, null],
    ["::1 without a token", { listen: "[::1]:9180" }, null],
    ["0.0.0.0 with a token", { listen: "0.0.0.0:9180", token: "0123456789abcdef" }, null],
    ["0.0.0.0 without a token", { listen: "0.0.0.0:9180" }, "is required when admin.listen"],
    ["a pod address without a token", { listen: "10.1.2.3:9180" }, "is required when admin.listen"],
    ["a short token", { listen: "127.0.0.1:9180", token: "short" }, "at least 16"],
    ["a token with a space", { listen: "127.0.0.1:9180", token: "0123456789 abcdef" }, "without spaces"],
  ];
  for (const [name, adminRaw, fragment] of rows) {
    test(name, () => {
      const r = validate({ admin: adminRaw, ...site }, OPTS);
      if (fragment === null) expect(r.ok).toBe(true);
      else {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.problems.find((p) => p.path === "admin.token")?.message).toContain(fragment);
      }
    });
  }
});

describe("[admin] token_file", () => {
  const site = { site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", respond: { status: 200 } }] }] };
  const TOKEN = "0123456789abcdef-from-file";
  const files: Record<string, string> = {
    "/srv/secrets/token": TOKEN,
    "/srv/secrets/token-lf": TOKEN + "\n",
    "/srv/secrets/token-crlf": TOKEN + "\r\n",
    "/run/secrets/abs": TOKEN + "\n",
    "/srv/secrets/empty": "",
    "/srv/secrets/only-newline": "\n",
    "/srv/secrets/two-newlines": TOKEN + "\n\n",
    "/srv/secrets/short": "short\n",
  };
  const fs: FsCheck = { dir: (abs) => ({ real: abs }), readFile: (abs) => (abs in files ? { text: files[abs]! } : { error: "ENOENT: no such file" }) };
  const opts = { ...OPTS, fs };
  const ok: [string, Record<string, unknown>, string, string][] = [
    ["relative to the config file, no newline", { listen: "0.0.0.0:9180", token_file: "secrets/token" }, TOKEN, "/srv/secrets/token"],
    ["one trailing LF stripped", { listen: "0.0.0.0:9180", token_file: "secrets/token-lf" }, TOKEN, "/srv/secrets/token-lf"],
    ["one trailing CRLF stripped", { listen: "0.0.0.0:9180", token_file: "secrets/token-crlf" }, TOKEN, "/srv/secrets/token-crlf"],
    ["absolute path", { listen: "10.0.0.1:9180", token_file: "/run/secrets/abs" }, TOKEN, "/run/secrets/abs"],
  ];
  for (const [name, adminRaw, token, file] of ok) {
    test(name, () => {
      const r = validate({ admin: adminRaw, ...site }, opts);
      expect(r.ok).toBe(true);
      if (r.ok) expect([r.config.adminToken, r.config.adminTokenFile]).toEqual([token, file]);
    });
  }
  const bad: [string, Record<string, unknown>, string, string][] = [
    ["unreadable", { listen: "0.0.0.0:9180", token_file: "secrets/missing" }, "admin.token_file", '"secrets/missing" cannot be read (ENOENT: no such file; resolved to /srv/secrets/missing)'],
    ["empty", { listen: "0.0.0.0:9180", token_file: "secrets/empty" }, "admin.token_file", "is empty"],
    ["only a newline", { listen: "0.0.0.0:9180", token_file: "secrets/only-newline" }, "admin.token_file", "is empty"],
    ["a second newline is part of the token: rejected", { listen: "0.0.0.0:9180", token_file: "secrets/two-newlines" }, "admin.token_file", "visible ASCII"],
    ["too short", { listen: "127.0.0.1:9180", token_file: "secrets/short" }, "admin.token_file", "must hold at least 16"],
    ["both token and token_file", { listen: "0.0.0.0:9180", token: TOKEN, token_file: "secrets/token" }, "admin.token_file", "either token or token_file"],
    ["not a string", { listen: "0.0.0.0:9180", token_file: 5 }, "admin.token_file", ""],
  ];
  for (const [name, adminRaw, at, fragment] of bad) {
    test(name, () => {
      const r = validate({ admin: adminRaw, ...site }, opts);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        const p = r.problems.find((x) => x.path === at);
        expect(p?.message).toContain(fragment);
        // The secret never appears in a message.
        for (const q of r.problems) expect(q.message).not.toContain(TOKEN);
      }
    });
  }
});
